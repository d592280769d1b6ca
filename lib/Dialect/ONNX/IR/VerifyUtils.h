//===- VerifyUtils.h - Helpers shared by the onnx op verifiers --*- C++ -*-===//

#ifndef MOE_LIB_DIALECT_ONNX_IR_VERIFYUTILS_H
#define MOE_LIB_DIALECT_ONNX_IR_VERIFYUTILS_H

#include "mlir/IR/BuiltinTypeInterfaces.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir {
class Operation;
namespace moe::onnx {

/// Whether `type`'s static dims agree with `expected` (dynamic matches any).
bool isCompatible(ShapedType type, ArrayRef<int64_t> expected);
/// "[4, ?, 8]".
std::string formatShape(ArrayRef<int64_t> shape);
/// Checks result #0 against the shape the op's rule gives.
LogicalResult verifyResultShape(Operation *op, ArrayRef<int64_t> want);
/// Checks that every operand and result shares operand #0's element type.
LogicalResult verifySameElementTypes(Operation *op);

} // namespace moe::onnx
} // namespace mlir

#endif // MOE_LIB_DIALECT_ONNX_IR_VERIFYUTILS_H
