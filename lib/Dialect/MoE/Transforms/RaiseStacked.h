//===- RaiseStacked.h - Raise the stacked-weight MoE form -------*- C++ -*-===//

#ifndef MOE_LIB_DIALECT_MOE_TRANSFORMS_RAISESTACKED_H
#define MOE_LIB_DIALECT_MOE_TRANSFORMS_RAISESTACKED_H

#include "RaiseMatchers.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/IR/Builders.h"

namespace mlir::moe::raise {

/// Replaces `combine` (the Einsum that mixes the k expert outputs) and the
/// layer behind it with moe.layer, or fails with the reason in `error`
/// without changing anything.
LogicalResult raiseStacked(onnx::EinsumOp combine, OpBuilder &builder,
                           MatchError &error);

/// The same for the batched-MatMul stacked form, anchored on the ReduceSum
/// that adds the k weighted expert outputs.
LogicalResult raiseStackedMatMul(onnx::ReduceSumOp combine, OpBuilder &builder,
                                 MatchError &error);

} // namespace mlir::moe::raise

#endif // MOE_LIB_DIALECT_MOE_TRANSFORMS_RAISESTACKED_H
