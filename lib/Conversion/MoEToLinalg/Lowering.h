//===- Lowering.h - Reference lowering of moe ops ---------------*- C++ -*-===//
//
// The math of the reference lowering, shared by the patterns of
// MoEToLinalg.cpp: routing to dense [T, E] tensors and dense expert FFNs.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOLINALG_LOWERING_H
#define MOE_LIB_CONVERSION_MOETOLINALG_LOWERING_H

#include "moe/Conversion/Utils/TensorBuilder.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

namespace mlir::moe::lowering {

/// Routing of every token over every expert, as dense [T, E] tensors.
struct DenseRouting {
  /// Gate weight of each (token, expert); 0 where the expert is not chosen.
  Value weights;
  /// i64 rank of each expert's choice score in its row (0 = best); the
  /// expert is chosen when its rank is below k (token-choice routing).
  Value rank;
  /// i1: whether the (token, expert) pair contributes, after capacity
  /// limits (or the experts' picks, for expert-choice routing).
  Value selected;
};

/// Applies `routing` to `logits` [T, E]. `correctionBias` [E] may be null.
/// logits [T, E] = x [T, d] . routerWeight [d, E] (+ routerBias [E]).
Value buildRouterLogits(TensorBuilder &tb, Value x, Value routerWeight,
                        Value routerBias);

DenseRouting buildDenseRouting(TensorBuilder &tb, Value logits,
                               Value correctionBias, RoutingAttr routing);

/// Applies `activation` to one element: `gate` is the (only) projection,
/// `up` the up projection of gated kinds (null otherwise).
Value buildActivation(ImplicitLocOpBuilder &b, ActivationAttr activation,
                      Value gate, Value up);

/// Elementwise activation of the tensor `gate` (and `up`, same shape, when
/// gated).
Value activateTensor(TensorBuilder &tb, ActivationAttr activation, Value gate,
                     Value up);

/// Lowers a whole layer densely: every expert runs on every token and the
/// gate weights (0 for unchosen experts) mix the results.
Value buildDenseLayer(TensorBuilder &tb, LayerOp op);

} // namespace mlir::moe::lowering

#endif // MOE_LIB_CONVERSION_MOETOLINALG_LOWERING_H
