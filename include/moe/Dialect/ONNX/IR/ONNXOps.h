//===- ONNXOps.h - The onnx mirror dialect ----------------------*- C++ -*-===//
//
// The dialect and ops the ONNX importer produces, and the shape rules
// (broadcasting, matmul, reshape) shared by the importer and the verifiers.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_ONNX_IR_ONNXOPS_H
#define MOE_DIALECT_ONNX_IR_ONNXOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "moe/Dialect/ONNX/IR/ONNXOpsDialect.h.inc"

#define GET_OP_CLASSES
#include "moe/Dialect/ONNX/IR/ONNXOps.h.inc"

namespace mlir::moe::onnx {

/// The numpy broadcast of two shapes, or failure when a pair of static
/// dims differs and neither is 1. A dynamic dim against 1 stays dynamic;
/// against a static dim other than 1 it takes that dim.
FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> lhs,
                                                ArrayRef<int64_t> rhs);

/// The result shape of numpy matmul of two rank >= 2 shapes, or failure.
FailureOr<SmallVector<int64_t>> matmulShape(ArrayRef<int64_t> lhs,
                                            ArrayRef<int64_t> rhs);

/// The result shape of ONNX Reshape with `target` (0 copies, -1 infers),
/// or failure with a reason in `error`.
FailureOr<SmallVector<int64_t>> reshapeShape(ArrayRef<int64_t> input,
                                             ArrayRef<int64_t> target,
                                             std::string &error);

/// The result shape of ONNX Flatten at `axis` (0 <= axis <= rank): the
/// products of the dims before and from `axis`, dynamic if any factor is;
/// failure when a product overflows int64.
FailureOr<SmallVector<int64_t>> flattenShape(ArrayRef<int64_t> input,
                                             int64_t axis);

} // namespace mlir::moe::onnx

#endif // MOE_DIALECT_ONNX_IR_ONNXOPS_H
