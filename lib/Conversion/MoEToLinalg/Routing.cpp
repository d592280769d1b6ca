//===- Routing.cpp - Reference routing as dense [T, E] tensors ------------===//
//
// Every routing rule is computed as plain tensor math: scores, a rank per
// score (the ONNX TopK order) and the weights of the experts ranked below k.
// Quadratic in E, which is fine for an oracle.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

using utils::IteratorType;

/// Masks the choice scores of experts outside the `topk_group` best groups
/// with -inf (or 0, `group_mask = zero`). A group's score is the sum of its best two choice scores
/// (DeepSeek-V3).
static Value maskToBestGroups(TensorBuilder &tb, Value choice,
                              RoutingAttr routing) {
  ImplicitLocOpBuilder &b = tb.builder();
  Type elementType = getElementTypeOrSelf(choice.getType());
  int64_t numExperts = cast<RankedTensorType>(choice.getType()).getDimSize(1);
  int64_t nGroup = routing.getNGroup();
  int64_t groupSize = numExperts / nGroup;
  int64_t bestPerGroup = std::min<int64_t>(2, groupSize);

  Value rankInGroup = tb.rankRows(choice, groupSize);
  // groupScore[t, g] = sum of choice[t, e] over the best experts of group g.
  Value groupInit = tb.filled({tb.dim(choice, 0), b.getIndexAttr(nGroup)},
                              elementType, 0.0);
  Value groupScore = tb.generic(
      {choice, rankInGroup}, groupInit, {{0, 2}, {0, 2}, {0, 1}},
      {IteratorType::parallel, IteratorType::parallel,
       IteratorType::reduction},
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value group = arith::DivUIOp::create(
            nb, loopIndex(nb, 2), constI(nb, nb.getIndexType(), groupSize));
        Value inGroup = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq,
                                              group, loopIndex(nb, 1));
        Value best = arith::CmpIOp::create(
            nb, arith::CmpIPredicate::slt, args[1],
            constI(nb, nb.getI64Type(), bestPerGroup));
        Value take = arith::AndIOp::create(nb, inGroup, best);
        Value term = arith::SelectOp::create(
            nb, take, args[0], constF(nb, elementType, 0.0));
        return arith::AddFOp::create(nb, args[2], term);
      });
  Value groupRank = tb.rankRows(groupScore);

  Value init = tb.empty({tb.dim(choice, 0), tb.dim(choice, 1)}, elementType);
  return tb.map(
      {choice}, {{0, 1}}, init,
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value group = arith::DivUIOp::create(
            nb, loopIndex(nb, 1), constI(nb, nb.getIndexType(), groupSize));
        Value rank = tensor::ExtractOp::create(
            nb, groupRank, ValueRange{loopIndex(nb, 0), group});
        Value allowed = arith::CmpIOp::create(
            nb, arith::CmpIPredicate::slt, rank,
            constI(nb, nb.getI64Type(), routing.getTopkGroup()));
        double masked = routing.getGroupMask() == GroupMask::Zero
                            ? 0.0
                            : -std::numeric_limits<double>::infinity();
        return arith::SelectOp::create(nb, allowed, args[0],
                                       constF(nb, elementType, masked));
      });
}

/// `values` where `selected` holds, 0 elsewhere.
static Value maskBy(TensorBuilder &tb, Value values, Value selected) {
  Type elementType = getElementTypeOrSelf(values.getType());
  return tb.map({values, selected}, {{0, 1}, {0, 1}},
                tb.empty({tb.dim(values, 0), tb.dim(values, 1)}, elementType),
                [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                  return arith::SelectOp::create(
                      nb, args[1], args[0], constF(nb, elementType, 0.0));
                });
}

/// i1: whether each i64 rank is below `limit` (an i64 value).
static Value rankBelow(TensorBuilder &tb, Value rank, Value limit) {
  return tb.map({rank}, {{0, 1}},
                tb.empty({tb.dim(rank, 0), tb.dim(rank, 1)},
                         tb.builder().getI1Type()),
                [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                  return arith::CmpIOp::create(nb, arith::CmpIPredicate::slt,
                                               args[0], limit);
                });
}

/// `weights` times the routing's scale (unchanged when it is 1).
static Value scaled(TensorBuilder &tb, Value weights, RoutingAttr routing) {
  double scale = routing.getScaleValue();
  if (scale == 1.0)
    return weights;
  Type elementType = getElementTypeOrSelf(weights.getType());
  return tb.map({weights}, {{0, 1}},
                tb.empty({tb.dim(weights, 0), tb.dim(weights, 1)}, elementType),
                [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                  return arith::MulFOp::create(
                      nb, args[0], constF(nb, elementType, scale));
                });
}

/// C = ceil(capacity_factor * T * k / E) as an index, for T rows.
static Value capacityOf(TensorBuilder &tb, RoutingAttr routing, Value scores) {
  ImplicitLocOpBuilder &b = tb.builder();
  int64_t numExperts = cast<RankedTensorType>(scores.getType()).getDimSize(1);
  Value tokens = getValueOrCreateConstantIndexOp(b, b.getLoc(),
                                                 tb.dim(scores, 0));
  Value tokensF = arith::SIToFPOp::create(
      b, b.getF64Type(), arith::IndexCastOp::create(b, b.getI64Type(), tokens));
  // ((cf * T) * k) / E, in the order the definition reads, so that the
  // rounding matches a reference computing the same formula in doubles.
  auto constF64 = [&](double v) {
    return arith::ConstantOp::create(b, b.getF64FloatAttr(v));
  };
  Value product = arith::MulFOp::create(
      b, constF64(routing.getCapacityFactorValue()), tokensF);
  product = arith::MulFOp::create(
      b, product, constF64(static_cast<double>(routing.getK())));
  product = arith::DivFOp::create(
      b, product, constF64(static_cast<double>(numExperts)));
  Value capacity = math::CeilOp::create(b, product);
  return arith::IndexCastOp::create(
      b, b.getIndexType(),
      arith::FPToSIOp::create(b, b.getI64Type(), capacity));
}

/// Token choice with a capacity: an expert keeps the first C tokens (in
/// token order) that chose it; the others' weights become 0.
static void applyCapacity(TensorBuilder &tb, RoutingAttr routing,
                          Value &weights, Value &selected) {
  ImplicitLocOpBuilder &b = tb.builder();
  Value capacity = capacityOf(tb, routing, weights);
  Type i64 = b.getI64Type();
  // position[t, e] = tokens before t that chose e. Loops (t, e, t2).
  Value position = tb.generic(
      {selected}, tb.filledInt({tb.dim(weights, 0), tb.dim(weights, 1)}, i64, 0),
      {{2, 1}, {0, 1}},
      {utils::IteratorType::parallel, utils::IteratorType::parallel,
       utils::IteratorType::reduction},
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value before = arith::CmpIOp::create(nb, arith::CmpIPredicate::ult,
                                             loopIndex(nb, 2), loopIndex(nb, 0));
        Value counts = arith::AndIOp::create(nb, before, args[0]);
        return arith::AddIOp::create(nb, args[1],
                                     arith::ExtUIOp::create(nb, i64, counts));
      });
  Value capacity64 = castInt(b, capacity, i64);
  selected = tb.map({selected, position}, {{0, 1}, {0, 1}},
                    tb.empty({tb.dim(weights, 0), tb.dim(weights, 1)},
                             b.getI1Type()),
                    [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                      Value fits = arith::CmpIOp::create(
                          nb, arith::CmpIPredicate::slt, args[1], capacity64);
                      return arith::AndIOp::create(nb, args[0], fits);
                    });
  weights = maskBy(tb, weights, selected);
}

/// Expert choice: each expert takes the C tokens with the highest
/// probability for it (lower token index on ties), C = min(T,
/// ceil(capacity_factor * T * k / E)); the weight is that probability.
static DenseRouting buildExpertChoice(TensorBuilder &tb, Value probs,
                                      RoutingAttr routing) {
  ImplicitLocOpBuilder &b = tb.builder();
  Value capacity = capacityOf(tb, routing, probs);
  Value tokens = getValueOrCreateConstantIndexOp(b, b.getLoc(), tb.dim(probs, 0));
  capacity = arith::MinUIOp::create(b, capacity, tokens);
  Value capacity64 = castInt(b, capacity, b.getI64Type());
  Value rank = tb.rankColumns(probs);
  Value selected = rankBelow(tb, rank, capacity64);
  return {scaled(tb, maskBy(tb, probs, selected), routing), rank, selected};
}

DenseRouting lowering::buildDenseRouting(TensorBuilder &tb, Value logits,
                                       Value correctionBias,
                                       RoutingAttr routing) {
  Type elementType = getElementTypeOrSelf(logits.getType());
  Value init = tb.empty({tb.dim(logits, 0), tb.dim(logits, 1)}, elementType);
  RoutingKind kind = routing.getKind();

  // Scores that become the weights, and scores that decide the choice.
  Value scores;
  switch (kind) {
  case RoutingKind::SoftmaxTopK:
  case RoutingKind::Dense:
  case RoutingKind::ExpertChoice:
    scores = tb.softmaxRows(logits);
    break;
  case RoutingKind::TopKSoftmax:
    scores = logits;
    break;
  case RoutingKind::SigmoidTopK:
    scores = tb.map({logits}, {{0, 1}}, init,
                    [](ImplicitLocOpBuilder &nb, ValueRange args) {
                      return sigmoid(nb, args[0]);
                    });
    break;
  }
  Value choice = scores;
  if (correctionBias)
    choice = tb.map({scores, correctionBias}, {{0, 1}, {1}}, init,
                    [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                      return arith::AddFOp::create(nb, args[0], args[1]);
                    });
  if (routing.getNGroup() > 1)
    choice = maskToBestGroups(tb, choice, routing);

  int64_t k = routing.getK();
  if (kind == RoutingKind::ExpertChoice)
    return buildExpertChoice(tb, scores, routing);
  Value rank = tb.rankRows(choice);
  Value selected = rankBelow(
      tb, rank, constI(tb.builder(), tb.builder().getI64Type(), k));

  Value weights;
  bool renormalize = routing.getRenormalize();
  double epsilon = 0.0;
  if (kind == RoutingKind::TopKSoftmax) {
    // softmax over the chosen logits: exp(l - max) of the chosen, then
    // normalized. The row max is always chosen, so it is the chosen max.
    Value rowMax = tb.reduceRows(
        logits, -std::numeric_limits<double>::infinity(),
        [](ImplicitLocOpBuilder &nb, Value acc, Value v) -> Value {
          return arith::MaximumFOp::create(nb, acc, v);
        });
    Value exps = tb.map({logits, rowMax}, {{0, 1}, {0}}, init,
                        [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                          return math::ExpOp::create(
                              nb, arith::SubFOp::create(nb, args[0], args[1]));
                        });
    weights = maskBy(tb, exps, selected);
    renormalize = true;
  } else {
    weights = maskBy(tb, scores, selected);
    if (kind == RoutingKind::SigmoidTopK)
      epsilon = 1e-20;
  }

  if (renormalize) {
    Value sums = tb.reduceRows(
        weights, epsilon,
        [](ImplicitLocOpBuilder &nb, Value acc, Value v) -> Value {
          return arith::AddFOp::create(nb, acc, v);
        });
    weights = tb.map({weights, sums}, {{0, 1}, {0}}, init,
                     [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                       return arith::DivFOp::create(nb, args[0], args[1]);
                     });
  }
  weights = scaled(tb, weights, routing);
  if (routing.getCapacityFactorValue() != 0.0)
    applyCapacity(tb, routing, weights, selected);
  return {weights, rank, selected};
}
