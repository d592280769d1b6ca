//===- RaiseRouting.cpp - Matchers of an MoE layer's routing --------------===//
//
// From the routing weights and expert ids the experts read, back to the
// router:
//   softmax -> top-k (-> v / sum(v))                 Mixtral, Qwen, OLMoE
//   sigmoid (+ correction bias) (-> group limit) -> top-k ids;
//     weights = sigmoid gathered at the ids (-> v / (sum(v) + 1e-20))
//     (-> * routed scale)                            DeepSeek-V3
//   softmax over every expert                        dense mixtures
// Each check is about the math (which scores are ranked, which are
// gathered, what the other groups' experts are masked with), so that only
// graphs computing exactly the layer's routing are raised.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatchers.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::raise;

namespace onnx = mlir::moe::onnx;

/// The router: logits = hidden @ W (+ a constant bias of E elements).
static LogicalResult matchRouter(Value logits, Routing &routing,
                                 MatchError &error) {
  if (auto add = logits.getDefiningOp<onnx::AddOp>()) {
    if (std::optional<ElementsAttr> bias = constantOf(add.getRhs())) {
      routing.routerBias = *bias;
      logits = add.getLhs();
    }
  }
  if (!matchProjection(logits, routing.hidden, routing.routerWeight))
    return error.fail("the router is not a MatMul with a constant weight");
  // A 16-bit model's router may run in f32 (DeepSeek-V3's does).
  routing.hidden = skipFloatCasts(routing.hidden);
  int64_t numExperts =
      cast<ShapedType>(routing.routerWeight.getType()).getDimSize(1);
  if (routing.routerBias &&
      routing.routerBias.getNumElements() != numExperts)
    return error.fail("the router bias does not hold one value per expert");
  return success();
}

/// Whether `value` has the type [?, E] or [T, E] with a static E.
static bool isTokenByExpert(Value value, int64_t numExperts) {
  auto type = cast<ShapedType>(value.getType());
  return type.getRank() == 2 && type.getDimSize(1) == numExperts;
}

//===----------------------------------------------------------------------===//
// Sigmoid routing (DeepSeek-V3)
//===----------------------------------------------------------------------===//

/// The group limit in front of the final TopK (Hugging Face's DeepseekV3):
///   grouped = reshape(scores, [-1, G, E/G])
///   group_scores = reduce_sum(topk(grouped, 2).values, axis 2)
///   chosen = scatter_elements(zeros, topk(group_scores, topk_group).ids, 1)
///   mask = reshape(expand(unsqueeze(chosen, 2), [1, G, E/G]), [-1, E])
///   choice = where(not(bool(mask)), fill, scores)
/// Sets the group fields of `routing` and returns `scores`.
static FailureOr<Value> matchGroupLimit(onnx::WhereOp where, Routing &routing,
                                        int64_t numExperts,
                                        MatchError &error) {
  Value condition = where.getCondition(), kept = where.getX(),
        fill = where.getY();
  if (auto negated = condition.getDefiningOp<onnx::NotOp>()) {
    condition = negated.getInput();
    std::swap(kept, fill);
  }
  std::optional<double> fillValue = scalarOf(fill);
  if (!fillValue ||
      !(*fillValue == 0.0 || (std::isinf(*fillValue) && *fillValue < 0.0)))
    return error.fail("the experts of the other groups are masked with "
                      "something other than 0 or -inf");
  routing.groupMask = *fillValue == 0.0 ? GroupMask::Zero : GroupMask::NegInf;

  auto toBool = condition.getDefiningOp<onnx::CastOp>();
  auto flat = toBool ? toBool.getInput().getDefiningOp<onnx::ReshapeOp>()
                     : onnx::ReshapeOp();
  if (!flat || !flat.getShape() ||
      *flat.getShape() != ArrayRef<int64_t>{-1, numExperts})
    return error.fail("the group mask is not a [T, E] reshape of the chosen "
                      "groups");
  auto expand = flat.getInput().getDefiningOp<onnx::ExpandOp>();
  auto unsqueeze = expand ? expand.getInput().getDefiningOp<onnx::UnsqueezeOp>()
                          : onnx::UnsqueezeOp();
  std::optional<SmallVector<int64_t>> expandShape =
      expand ? constantInts(expand.getShape()) : std::nullopt;
  if (!unsqueeze || unsqueeze.getAxes() != ArrayRef<int64_t>{2} ||
      !expandShape || expandShape->size() != 3 || (*expandShape)[0] != 1)
    return error.fail("the group mask does not repeat each group's choice "
                      "over its experts");
  int64_t nGroup = (*expandShape)[1], groupSize = (*expandShape)[2];
  if (nGroup < 2 || groupSize < 1 || nGroup * groupSize != numExperts)
    return error.fail("the group mask does not split the experts into equal "
                      "groups");

  // chosen[t, g] != 0 exactly for the topk_group best groups.
  auto chosen = unsqueeze.getInput().getDefiningOp<onnx::ScatterElementsOp>();
  std::optional<ElementsAttr> ones;
  if (chosen) {
    Value updates = chosen.getUpdates();
    if (auto expand = updates.getDefiningOp<onnx::ExpandOp>())
      updates = expand.getInput();
    ones = constantOf(updates);
  }
  if (!chosen || chosen.getAxis() != 1 || chosen.getReduction() != "none" ||
      !isZeros(chosen.getInput()) || !ones || ones->getNumElements() != 1 ||
      !isa<FloatType>(ones->getElementType()) ||
      (*ones->value_begin<APFloat>()).isZero())
    return error.fail("the chosen groups are not marked in a zero mask");
  auto groupTopk = chosen.getIndices().getDefiningOp<onnx::TopKOp>();
  if (!groupTopk || cast<OpResult>(chosen.getIndices()).getResultNumber() != 1 ||
      groupTopk.getAxis() != 1 || !groupTopk.getLargest())
    return error.fail("the chosen groups are not the top groups by score");
  Value groupScores = groupTopk.getInput();
  // The zeros have the group scores' shape.
  if (auto fillOp = chosen.getInput().getDefiningOp<onnx::ConstantOfShapeOp>())
    if (!isShapeOf(fillOp.getShape(), groupScores))
      return error.fail("the group mask does not have the group scores' "
                        "shape");

  // group_scores = sum of each group's best two choice scores.
  auto sum = groupScores.getDefiningOp<onnx::ReduceSumOp>();
  auto bestTwo = sum ? sum.getInput().getDefiningOp<onnx::TopKOp>()
                     : onnx::TopKOp();
  int64_t best = std::min<int64_t>(2, groupSize);
  if (!sum || sum.getAxes() != ArrayRef<int64_t>{2} || sum.getKeepdims() ||
      !bestTwo || sum.getInput() != bestTwo.getValues() ||
      bestTwo.getAxis() != 2 || !bestTwo.getLargest() ||
      static_cast<int64_t>(bestTwo.getK()) != best)
    return error.fail("a group's score is not the sum of its best two choice "
                      "scores");
  auto grouped = bestTwo.getInput().getDefiningOp<onnx::ReshapeOp>();
  if (!grouped || !grouped.getShape() ||
      *grouped.getShape() != ArrayRef<int64_t>{-1, nGroup, groupSize} ||
      grouped.getInput() != kept)
    return error.fail("the groups are not scored from the choice scores they "
                      "mask");
  routing.nGroup = nGroup;
  routing.topkGroup = groupTopk.getK();
  if (routing.topkGroup > nGroup)
    return error.fail("more groups are chosen than there are");
  return kept;
}

/// weights = [scale *] [renormalized] gather_elements(sigmoid(logits), ids),
/// ids = topk(choice).indices, choice = [group-limited] sigmoid [+ bias].
static FailureOr<Routing> matchSigmoidRouting(Value weights, onnx::TopKOp topk,
                                              MatchError &error) {
  Routing routing;
  routing.kind = RoutingKind::SigmoidTopK;
  routing.k = topk.getK();
  routing.renormalize = false;
  // routed_scaling_factor: a positive constant factor.
  if (auto mul = weights.getDefiningOp<onnx::MulOp>()) {
    for (auto [v, c] : {std::pair(mul.getLhs(), mul.getRhs()),
                        std::pair(mul.getRhs(), mul.getLhs())}) {
      std::optional<double> scale = scalarOf(c);
      if (scale && std::isfinite(*scale) && *scale > 0.0) {
        routing.scale = *scale;
        weights = v;
        break;
      }
    }
    if (weights == mul.getResult())
      return error.fail("the routing weights are scaled by something other "
                        "than a positive constant");
  }
  // Renormalization: v / (sum(v) + 1e-20), DeepSeek-V3's epsilon.
  if (auto div = weights.getDefiningOp<onnx::DivOp>()) {
    Value v = div.getLhs();
    onnx::ReduceSumOp sum;
    if (auto add = div.getRhs().getDefiningOp<onnx::AddOp>())
      for (auto [a, b] : {std::pair(add.getLhs(), add.getRhs()),
                          std::pair(add.getRhs(), add.getLhs())}) {
        std::optional<double> eps = scalarOf(b);
        if (eps && static_cast<float>(*eps) == 1e-20f)
          sum = a.getDefiningOp<onnx::ReduceSumOp>();
      }
    if (!sum || sum.getInput() != v || sum.getAxes() != ArrayRef<int64_t>{1} ||
        !sum.getKeepdims())
      return error.fail("the sigmoid weights are not renormalized as "
                        "v / (sum(v) + 1e-20)");
    routing.renormalize = true;
    weights = v;
  }
  auto gather = weights.getDefiningOp<onnx::GatherElementsOp>();
  auto sigmoid = gather ? skipReshapes(gather.getInput())
                              .getDefiningOp<onnx::SigmoidOp>()
                        : onnx::SigmoidOp();
  if (!gather || gather.getAxis() != 1 ||
      gather.getIndices() != topk.getIndices() || !sigmoid)
    return error.fail("the routing weights are not the sigmoid scores at the "
                      "chosen experts");
  if (failed(matchRouter(sigmoid.getInput(), routing, error)))
    return failure();
  int64_t numExperts =
      cast<ShapedType>(routing.routerWeight.getType()).getDimSize(1);
  if (!isTokenByExpert(sigmoid, numExperts) ||
      !isTokenByExpert(topk.getInput(), numExperts))
    return error.fail("the sigmoid scores are not [T, E]");

  Value choice = topk.getInput();
  if (auto where = choice.getDefiningOp<onnx::WhereOp>()) {
    FailureOr<Value> scores =
        matchGroupLimit(where, routing, numExperts, error);
    if (failed(scores))
      return failure();
    choice = *scores;
  }
  // The correction bias steers the choice only.
  if (auto add = choice.getDefiningOp<onnx::AddOp>()) {
    for (auto [v, c] : {std::pair(add.getLhs(), add.getRhs()),
                        std::pair(add.getRhs(), add.getLhs())}) {
      std::optional<ElementsAttr> bias = constantOf(c);
      if (bias && bias->getNumElements() == numExperts &&
          cast<ShapedType>(bias->getType()).getRank() <= 2 &&
          bias->getElementType() == getElementTypeOrSelf(v.getType())) {
        routing.correctionBias = *bias;
        choice = v;
        break;
      }
    }
  }
  if (!isTokenByExpert(choice, numExperts) ||
      skipReshapes(choice) != sigmoid.getResult())
    return error.fail("the experts are not chosen by their sigmoid scores "
                      "(plus a constant correction bias)");
  return routing;
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

FailureOr<Routing> raise::matchRouting(Value weights, Value ids,
                                       MatchError &error) {
  weights = skipFloatCasts(weights);
  auto topk = ids.getDefiningOp<onnx::TopKOp>();
  if (!topk || cast<OpResult>(ids).getResultNumber() != 1)
    return error.fail("the expert ids are not TopK indices");
  int64_t rank = cast<ShapedType>(topk.getInput().getType()).getRank();
  if (rank != 2 || topk.getAxis() != 1 || !topk.getLargest())
    return error.fail("TopK does not pick the largest scores per token");
  auto softmax =
      skipFloatCasts(topk.getInput()).getDefiningOp<onnx::SoftmaxOp>();
  if (!softmax)
    return matchSigmoidRouting(weights, topk, error);
  if (softmax.getAxis() != 1)
    return error.fail("the scores are not a softmax over the experts");

  Routing routing;
  routing.k = topk.getK();
  routing.renormalize = false;
  if (weights != topk.getValues()) {
    auto div = weights.getDefiningOp<onnx::DivOp>();
    auto sum = div ? div.getRhs().getDefiningOp<onnx::ReduceSumOp>()
                   : onnx::ReduceSumOp();
    if (!div || div.getLhs() != topk.getValues() || !sum ||
        sum.getInput() != topk.getValues() ||
        sum.getAxes() != ArrayRef<int64_t>{1} || !sum.getKeepdims())
      return error.fail("the routing weights are neither the top-k scores "
                        "nor their renormalization");
    routing.renormalize = true;
  }
  if (failed(matchRouter(softmax.getInput(), routing, error)))
    return failure();
  return routing;
}

FailureOr<Routing> raise::matchArgmaxRouting(Value weights, Value ids,
                                             MatchError &error) {
  auto argmax = ids.getDefiningOp<onnx::ArgMaxOp>();
  if (!argmax || argmax.getAxis() != 1 || argmax.getKeepdims() ||
      argmax.getSelectLastIndex())
    return error.fail("the expert ids are not the first argmax per token");
  // weights = max(probs) [T, 1]: reduce_max keeping the dim, or unsqueezed.
  bool unsqueezed = false;
  if (auto unsqueeze = weights.getDefiningOp<onnx::UnsqueezeOp>()) {
    if (unsqueeze.getAxes() != ArrayRef<int64_t>{1})
      return error.fail("the gate weight is not one value per token");
    weights = unsqueeze.getInput();
    unsqueezed = true;
  }
  auto max = skipFloatCasts(weights).getDefiningOp<onnx::ReduceMaxOp>();
  if (!max || max.getAxes() != ArrayRef<int64_t>{1} ||
      max.getInput() != argmax.getInput() || max.getKeepdims() == unsqueezed)
    return error.fail("the gate weight is not the largest score of the "
                      "argmax");
  auto softmax =
      skipFloatCasts(argmax.getInput()).getDefiningOp<onnx::SoftmaxOp>();
  if (!softmax || softmax.getAxis() != 1 ||
      cast<ShapedType>(softmax.getType()).getRank() != 2)
    return error.fail("the scores are not a softmax over the experts");
  Routing routing;
  routing.k = 1;
  routing.renormalize = false;
  if (failed(matchRouter(softmax.getInput(), routing, error)))
    return failure();
  return routing;
}

FailureOr<Routing> raise::matchDenseRouting(Value probs, MatchError &error) {
  probs = skipFloatCasts(probs);
  auto softmax = probs.getDefiningOp<onnx::SoftmaxOp>();
  int64_t rank = cast<ShapedType>(probs.getType()).getRank();
  if (!softmax || rank != 2 || softmax.getAxis() != 1)
    return error.fail("the mixture weights are not a softmax over experts");
  Routing routing;
  if (failed(matchRouter(softmax.getInput(), routing, error)))
    return failure();
  routing.k = cast<ShapedType>(routing.routerWeight.getType()).getDimSize(1);
  routing.renormalize = false;
  routing.kind = RoutingKind::Dense;
  return routing;
}
