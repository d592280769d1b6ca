//===- RaiseMoE.cpp - Raise MoE layers from onnx-dialect IR ---------------===//
//
// The moe-raise pass: from each combine (an accumulation of scattered expert
// rows), walk back through every expert's FFN, token selection and gate
// weight to the routing, check that the pieces agree (one hidden state, one
// routing, every expert once, one FFN shape and activation), and replace the
// accumulation with one moe.layer whose weights stack the experts'
// constants.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "moe/Dialect/MoE/Transforms/ConstantData.h"
#include "RaiseMatchers.h"
#include "RaiseStacked.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOERAISEPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::raise;

namespace onnx = mlir::moe::onnx;

namespace {

/// One constant [E, ...] stacking the experts' constants in expert order.
Value stack(OpBuilder &builder, Location loc, ArrayRef<ElementsAttr> parts,
            StringRef name) {
  auto partType = cast<ShapedType>(parts.front().getType());
  SmallVector<int64_t> shape = {static_cast<int64_t>(parts.size())};
  llvm::append_range(shape, partType.getShape());
  std::vector<char> bytes;
  for (ElementsAttr part : parts) {
    std::optional<std::vector<char>> partBytes = elementBytes(part);
    if (!partBytes)
      return Value();
    bytes.insert(bytes.end(), partBytes->begin(), partBytes->end());
  }
  auto type = RankedTensorType::get(shape, partType.getElementType());
  return makeConstant(builder, loc, type, bytes, name);
}

/// Whether `value` is [N, 1]: by its type, or as a reshape whose target's
/// second dim is provably 1 (the exporter reads it from a unit dim of
/// another tensor's shape).
bool isColumn(Value value) {
  auto type = cast<ShapedType>(value.getType());
  if (type.getRank() != 2)
    return false;
  if (type.getDimSize(1) == 1)
    return true;
  auto reshape = value.getDefiningOp<onnx::ReshapeOp>();
  if (!reshape)
    return false;
  if (reshape.getShape())
    return reshape.getShape()->back() == 1;
  auto concat = reshape.getShapeTensor().getDefiningOp<onnx::ConcatOp>();
  if (!concat || concat.getInputs().size() != 2)
    return false;
  Value last = concat.getInputs()[1];
  if (std::optional<SmallVector<int64_t>> v = constantInts(last))
    return *v == SmallVector<int64_t>{1};
  std::optional<std::pair<Value, int64_t>> read = shapeDimRead(last);
  return read &&
         cast<ShapedType>(read->first.getType()).getDimSize(read->second) == 1;
}

/// An expert's contribution: FFN(rows) * gate, or the gate applied to the
/// hidden layer before the down projection, (h * gate) @ w2, which is the
/// same for a per-row gate [N, 1].
FailureOr<ExpertFFN> matchScaledFFN(Value update, Value &gate,
                                    MatchError &error) {
  auto isRowScale = [](Value v) { return isColumn(v); };
  MatchError ignored;
  if (auto mul = update.getDefiningOp<onnx::MulOp>()) {
    for (auto [y, g] : {std::pair(mul.getLhs(), mul.getRhs()),
                        std::pair(mul.getRhs(), mul.getLhs())}) {
      FailureOr<ExpertFFN> ffn = matchExpertFFN(y, ignored);
      if (failed(ffn))
        continue;
      if (!isRowScale(g))
        return error.fail("the gate weight is not one value per row");
      gate = g;
      return ffn;
    }
    // Neither side is an FFN: say why the second is not.
    return matchExpertFFN(mul.getRhs(), error);
  }
  Value scaled;
  ElementsAttr w2;
  if (matchProjection(update, scaled, w2))
    if (auto mul = scaled.getDefiningOp<onnx::MulOp>())
      for (auto [h, g] : {std::pair(mul.getLhs(), mul.getRhs()),
                          std::pair(mul.getRhs(), mul.getLhs())}) {
        FailureOr<ExpertFFN> ffn = matchExpertHidden(h, w2, ignored);
        if (succeeded(ffn) && isRowScale(g)) {
          gate = g;
          return ffn;
        }
      }
  return error.fail("an expert's contribution is not its output times "
                    "a gate weight");
}

/// A rank-1 constant holding the elements of `attr` ([E] or [1, E]); null
/// for a null attribute.
Value vectorConstant(OpBuilder &builder, Location loc, ElementsAttr attr) {
  if (!attr)
    return Value();
  auto type = RankedTensorType::get({attr.getNumElements()},
                                    attr.getElementType());
  if (auto dense = dyn_cast<DenseElementsAttr>(attr))
    return arith::ConstantOp::create(builder, loc, dense.reshape(type));
  std::optional<std::vector<char>> bytes = elementBytes(attr);
  return bytes ? makeConstant(builder, loc, type, *bytes, "moe_bias")
               : Value();
}

struct Expert {
  ExpertFFN ffn;
  ExpertTokens tokens;
  Value hidden;
  Value gateWeights;
};

class LayerRaiser {
public:
  explicit LayerRaiser(Value terminal) : terminal(terminal) {}

  /// Checks the whole layer behind `terminal`; on failure `error` says why.
  LogicalResult match();
  /// The same for a dense mixture (every expert, softmax weights).
  LogicalResult matchDense();
  /// The same for Switch's top-1 overwrite: p_max * (each expert's rows
  /// written over a copy of the hidden states).
  LogicalResult matchOverwrite();
  /// Checks shared by every form: one FFN shape and activation, weights
  /// that fit the router; folds in a shared expert.
  LogicalResult checkExperts();
  /// Orders `experts` by id after checking that each expert of the mask
  /// appears once and that all read the same hidden states and routing;
  /// `form` names the combine in messages ("the combine sums").
  LogicalResult orderExperts(StringRef form);
  /// Takes the matched routing if it reads the experts' hidden states, then
  /// runs checkExperts.
  LogicalResult useRouting(FailureOr<Routing> matched);
  /// Replaces the accumulation with moe.layer.
  void rewrite(OpBuilder &builder);

  MatchError error;

private:
  Value terminal;
  bool wide = false;           // raised in f32 (see checkExperts)
  SmallVector<Expert> experts; // indexed by expert id after match()
  Routing routing;
  std::optional<SharedExpert> shared;
};

LogicalResult LayerRaiser::matchDense() {
  SmallVector<DenseStep> steps;
  Value acc = terminal;
  while (!isZeros(acc)) {
    FailureOr<DenseStep> step = matchDenseStep(acc, error);
    if (failed(step))
      return steps.empty() ? failure()
                           : error.fail("the weighted sum of expert outputs "
                                        "does not start from zeros");
    steps.push_back(*step);
    acc = step->previous;
  }
  FailureOr<Routing> matched = matchDenseRouting(steps.front().probs, error);
  if (failed(matched))
    return failure();
  routing = *matched;
  int64_t numExperts = routing.k;
  if (static_cast<int64_t>(steps.size()) != numExperts)
    return error.fail("the sum has " + llvm::Twine(steps.size()) +
                      " expert outputs, but the router scores " +
                      llvm::Twine(numExperts) + " experts");
  experts.assign(numExperts, Expert());
  SmallVector<bool> seen(numExperts, false);
  for (const DenseStep &step : steps) {
    if (step.probs != steps.front().probs || step.expert >= numExperts ||
        seen[step.expert])
      return error.fail("the mixture does not weight each expert once by "
                        "one softmax");
    seen[step.expert] = true;
    FailureOr<ExpertFFN> ffn = matchExpertFFN(step.expertOut, error);
    if (failed(ffn))
      return failure();
    if (ffn->rows != routing.hidden)
      return error.fail("an expert reads other hidden states than the router");
    Expert &expert = experts[step.expert];
    expert.ffn = *ffn;
    expert.hidden = ffn->rows;
    expert.tokens.expert = step.expert;
  }
  return checkExperts();
}

LogicalResult LayerRaiser::match() {
  SmallVector<CombineStep> steps;
  Value acc = terminal;
  while (!isZeros(acc)) {
    FailureOr<CombineStep> step = matchCombineStep(acc, error);
    if (failed(step))
      return steps.empty() ? failure()
                           : error.fail("the accumulation of expert outputs "
                                        "does not start from zeros: " +
                                        error.reason);
    steps.push_back(*step);
    acc = step->previous;
  }

  for (const CombineStep &step : steps) {
    Value gate;
    FailureOr<ExpertFFN> ffn = matchScaledFFN(step.update, gate, error);
    if (failed(ffn))
      return failure();
    FailureOr<Value> slot = slotOf(step.token, error);
    if (failed(slot))
      return failure();
    FailureOr<ExpertTokens> tokens =
        matchExpertTokens(step.token, *slot, error);
    FailureOr<Value> hidden =
        failed(tokens) ? FailureOr<Value>(failure())
                       : matchGatheredRows(ffn->rows, step.token, error);
    FailureOr<Value> weights =
        failed(hidden) ? FailureOr<Value>(failure())
                       : matchGateWeight(gate, step.token, *slot, error);
    if (failed(weights))
      return failure();
    experts.push_back(Expert{*ffn, *tokens, *hidden, *weights});
  }

  if (failed(orderExperts("the combine sums")))
    return failure();
  const Expert first = experts.front();
  return useRouting(matchRouting(first.gateWeights, first.tokens.ids, error));
}

LogicalResult LayerRaiser::matchOverwrite() {
  auto mul = terminal.getDefiningOp<onnx::MulOp>();
  if (!mul)
    return error.fail("not a scaled overwrite of token rows");
  SmallVector<CombineStep> steps;
  Value gate, start;
  for (auto [g, rows] : {std::pair(mul.getLhs(), mul.getRhs()),
                         std::pair(mul.getRhs(), mul.getLhs())}) {
    Value acc = rows;
    MatchError ignored;
    for (FailureOr<CombineStep> step = matchOverwriteStep(acc, ignored);
         succeeded(step); step = matchOverwriteStep(acc, ignored)) {
      steps.push_back(*step);
      acc = step->previous;
    }
    if (!steps.empty()) {
      gate = g;
      start = acc;
      break;
    }
  }
  if (steps.empty())
    return error.fail("not a scaled overwrite of token rows");

  for (const CombineStep &step : steps) {
    FailureOr<ExpertFFN> ffn = matchExpertFFN(step.update, error);
    if (failed(ffn))
      return failure();
    FailureOr<ExpertTokens> tokens = matchArgmaxTokens(step.token, error);
    if (failed(tokens))
      return failure();
    FailureOr<Value> hidden = matchGatheredRows(ffn->rows, step.token, error);
    if (failed(hidden))
      return failure();
    experts.push_back(Expert{*ffn, *tokens, *hidden, /*gateWeights=*/{}});
  }
  // Every token's row is overwritten exactly once only if every expert
  // writes its tokens once over a copy of the same hidden states.
  if (failed(orderExperts("the overwrite writes")))
    return failure();
  const Expert first = experts.front();
  if (start != first.hidden)
    return error.fail("the experts do not overwrite a copy of the hidden "
                      "states they read");
  return useRouting(matchArgmaxRouting(gate, first.tokens.ids, error));
}

LogicalResult LayerRaiser::orderExperts(StringRef form) {
  const Expert first = experts.front();
  int64_t numExperts = first.tokens.numExperts;
  if (static_cast<int64_t>(experts.size()) != numExperts)
    return error.fail(form + " " + llvm::Twine(experts.size()) +
                      " expert outputs, but the mask has " +
                      llvm::Twine(numExperts) + " experts");
  SmallVector<Expert> byId(numExperts);
  SmallVector<bool> seen(numExperts, false);
  for (const Expert &expert : experts) {
    int64_t id = expert.tokens.expert;
    if (seen[id])
      return error.fail("expert " + llvm::Twine(id) + " appears twice");
    seen[id] = true;
    byId[id] = expert;
    if (expert.hidden != first.hidden || expert.tokens.ids != first.tokens.ids ||
        expert.gateWeights != first.gateWeights)
      return error.fail("the experts do not all read the same hidden states "
                        "and routing");
  }
  experts = std::move(byId);
  return success();
}

LogicalResult LayerRaiser::useRouting(FailureOr<Routing> matched) {
  if (failed(matched))
    return failure();
  routing = *matched;
  if (routing.hidden != experts.front().hidden)
    return error.fail("the router reads other hidden states than the experts");
  return checkExperts();
}

LogicalResult LayerRaiser::checkExperts() {
  const Expert first = experts.front();
  auto shapeOf = [](ElementsAttr attr) {
    return attr ? cast<ShapedType>(attr.getType()) : ShapedType();
  };
  for (const Expert &expert : experts)
    if (expert.ffn.activation != first.ffn.activation ||
        shapeOf(expert.ffn.w1) != shapeOf(first.ffn.w1) ||
        shapeOf(expert.ffn.w2) != shapeOf(first.ffn.w2) ||
        shapeOf(expert.ffn.w3) != shapeOf(first.ffn.w3))
      return error.fail("the experts differ in activation or weight shapes");
  int64_t numExperts = experts.size();
  auto routerType = cast<ShapedType>(routing.routerWeight.getType());
  auto w1Type = shapeOf(first.ffn.w1), w2Type = shapeOf(first.ffn.w2);
  int64_t d = routerType.getDimSize(0), f = w1Type.getDimSize(1);
  if (routerType.getDimSize(1) != numExperts)
    return error.fail("the router scores a different number of experts than "
                      "the mask holds");
  if (w1Type.getDimSize(0) != d || w2Type.getShape() != ArrayRef<int64_t>{f, d})
    return error.fail("the expert weights do not fit the hidden size");
  for (ElementsAttr bias : {routing.routerBias, routing.correctionBias})
    if (bias && !isa<DenseElementsAttr>(bias) && !hasElementBytes(bias))
      return error.fail("a routing bias is not a readable constant");
  for (const Expert &expert : experts)
    for (ElementsAttr weight : {expert.ffn.w1, expert.ffn.w2, expert.ffn.w3})
      if (weight && !hasElementBytes(weight))
        return error.fail("expert weights are not readable constants "
                          "(elided resource or sub-byte elements)");

  // A shared expert with the routed experts' activation joins the layer.
  MatchError ignored;
  FailureOr<SharedExpert> sharedMatch =
      matchSharedExpert(terminal, first.hidden, ignored);
  if (succeeded(sharedMatch) &&
      sharedMatch->ffn.activation == first.ffn.activation &&
      cast<ShapedType>(sharedMatch->ffn.w1.getType()).getDimSize(0) == d) {
    shared = *sharedMatch;
    // With an unflatten in between, the layer replaces the routed sum and
    // the unflattened layer the shared sum (see rewrite).
    if (!shared->unflatten)
      terminal = sharedMatch->sum;
  }

  // One element type throughout, or a 16-bit layer whose router or
  // combine runs in f32 (DeepSeek-V3's do): that one is raised in f32.
  Type elementType = getElementTypeOrSelf(first.hidden.getType());
  SmallVector<Type> types = {getElementTypeOrSelf(terminal.getType())};
  for (ElementsAttr attr :
       {routing.routerWeight, routing.routerBias, routing.correctionBias,
        first.ffn.w1, first.ffn.w2, first.ffn.w3})
    if (attr)
      types.push_back(attr.getElementType());
  if (shared)
    for (ElementsAttr attr :
         {shared->ffn.w1, shared->ffn.w2, shared->ffn.w3, shared->gate})
      if (attr)
        types.push_back(attr.getElementType());
  wide = llvm::any_of(types, [&](Type type) { return type != elementType; });
  types.push_back(elementType);
  if (wide && !llvm::all_of(types, [](Type type) {
        return type.isF32() || isHalfFloat(type);
      }))
    return error.fail("weights and hidden states differ in element type");
  return success();
}

void LayerRaiser::rewrite(OpBuilder &builder) {
  Operation *anchor = terminal.getDefiningOp();
  Location loc = anchor->getLoc();
  builder.setInsertionPoint(anchor);
  auto collect = [&](ElementsAttr ExpertFFN::*member) {
    SmallVector<ElementsAttr> parts;
    for (const Expert &expert : experts)
      parts.push_back(expert.ffn.*member);
    return parts;
  };
  Value w1 = stack(builder, loc, collect(&ExpertFFN::w1), "moe_w1");
  Value w2 = stack(builder, loc, collect(&ExpertFFN::w2), "moe_w2");
  Value w3 = experts.front().ffn.w3
                 ? stack(builder, loc, collect(&ExpertFFN::w3), "moe_w3")
                 : Value();
  Value router = arith::ConstantOp::create(
      builder, loc, cast<TypedAttr>(routing.routerWeight));
  Value routerBias = vectorConstant(builder, loc, routing.routerBias);
  Value correctionBias = vectorConstant(builder, loc, routing.correctionBias);
  MLIRContext *context = builder.getContext();
  auto routingAttr = RoutingAttr::get(
      context, routing.kind, routing.k, routing.renormalize, routing.scale,
      routing.nGroup, routing.topkGroup, /*capacityFactor=*/0.0,
      DropPolicy::Zero, routing.groupMask);
  auto activation =
      ActivationAttr::get(context, experts.front().ffn.activation,
                          APFloat(1.702), APFloat(1.0), APFloat(7.0));
  Value hidden = experts.front().hidden;
  auto constant = [&](ElementsAttr attr) {
    return constantValue(builder, loc, attr);
  };
  Value sharedW1, sharedW3, sharedW2, sharedGate;
  if (shared) {
    sharedW1 = constant(shared->ffn.w1);
    sharedW3 = constant(shared->ffn.w3);
    sharedW2 = constant(shared->ffn.w2);
    sharedGate = constant(shared->gate);
  }
  if (wide)
    for (Value *value :
         {&hidden, &router, &routerBias, &correctionBias, &w1, &w3, &w2,
          &sharedW1, &sharedW3, &sharedW2, &sharedGate})
      if (*value && isHalfFloat(value->getType()))
        *value = widenToF32(builder, loc, *value);
  auto layer = LayerOp::create(
      builder, loc, hidden.getType(), hidden, router, /*router_logits=*/Value(),
      routerBias, correctionBias, w1, w3, w2, Value(), Value(),
      Value(), sharedW1, sharedW3, sharedW2, sharedGate, routingAttr,
      activation, /*gate_on_input=*/false);
  // A layer raised in f32 from 16-bit experts remembers their type: the
  // weights keep it by default (--weights=auto).
  if (Type expertType = experts.front().ffn.w1.getElementType();
      wide && isHalfFloat(expertType))
    layer->setAttr(kSourceWeightTypeAttr, TypeAttr::get(expertType));
  Value result = layer;
  Type terminalElement = getElementTypeOrSelf(terminal.getType());
  if (getElementTypeOrSelf(result.getType()) != terminalElement)
    result = onnx::CastOp::create(
        builder, loc, layer.getType().clone(terminalElement), result);
  if (result.getType() != terminal.getType())
    result = tensor::CastOp::create(builder, loc, terminal.getType(), result);
  terminal.replaceAllUsesWith(result);
  if (shared && shared->unflatten) {
    // reshape(routed, shape(x)) + shared(x) == reshape(layer, shape(x)).
    Value back = shared->unflatten.getResult();
    builder.setInsertionPointAfter(shared->unflatten);
    if (back.getType() != shared->sum.getType())
      back = tensor::CastOp::create(builder, loc, shared->sum.getType(), back);
    shared->sum.replaceAllUsesWith(back);
  }
}

/// Values that end a combine: an accumulation step not continued by another.
SmallVector<Value> findTerminals(func::FuncOp func) {
  SmallVector<Value> terminals;
  MatchError ignored;
  func.walk([&](Operation *op) {
    if (!isa<onnx::AddOp, onnx::ScatterElementsOp>(op))
      return;
    Value value = op->getResult(0);
    // A loop-form combine step or a dense-mixture step.
    auto previousOf = [&](Value v) -> Value {
      if (FailureOr<CombineStep> step = matchCombineStep(v, ignored);
          succeeded(step))
        return step->previous;
      if (FailureOr<DenseStep> step = matchDenseStep(v, ignored);
          succeeded(step))
        return step->previous;
      return {};
    };
    if (!previousOf(value))
      return;
    bool continued = llvm::any_of(value.getUsers(), [&](Operation *user) {
      return isa<onnx::AddOp, onnx::ScatterElementsOp>(user) &&
             previousOf(user->getResult(0)) == value;
    });
    if (!continued)
      terminals.push_back(value);
  });
  return terminals;
}

struct MoERaisePass : moe::impl::MoERaisePassBase<MoERaisePass> {
  using MoERaisePassBase::MoERaisePassBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    OpBuilder builder(&getContext());
    bool changed = false;
    // Counts a raised layer, or remarks why a candidate (`remark`: one
    // worth a remark) was not raised.
    auto settle = [&](LogicalResult raised, Operation *candidate,
                      const MatchError &error, bool remark) {
      if (succeeded(raised)) {
        ++numRaised;
        changed = true;
      } else if (reportFailures && remark) {
        candidate->emitRemark() << "MoE layer not raised: " << error.reason;
      }
    };
    for (Value terminal : findTerminals(func)) {
      LayerRaiser raiser(terminal);
      bool dense = succeeded(matchDenseStep(terminal, raiser.error));
      LogicalResult raised = dense ? raiser.matchDense() : raiser.match();
      if (succeeded(raised))
        raiser.rewrite(builder);
      settle(raised, terminal.getDefiningOp(), raiser.error, true);
    }
    // Switch's overwrite form ends in the scaling by the top probability.
    SmallVector<Value> overwrites;
    func.walk([&](onnx::MulOp mul) {
      MatchError ignored;
      if (llvm::any_of(mul->getOperands(), [&](Value v) {
            return succeeded(matchOverwriteStep(v, ignored));
          }))
        overwrites.push_back(mul);
    });
    for (Value terminal : overwrites) {
      LayerRaiser raiser(terminal);
      LogicalResult raised = raiser.matchOverwrite();
      if (succeeded(raised))
        raiser.rewrite(builder);
      settle(raised, terminal.getDefiningOp(), raiser.error, true);
    }
    // The stacked-weight form ends in one Einsum that mixes the experts.
    SmallVector<onnx::EinsumOp> einsums;
    func.walk([&](onnx::EinsumOp op) { einsums.push_back(op); });
    for (onnx::EinsumOp einsum : einsums) {
      MatchError error;
      if (einsum.getInputs().size() != 2)
        continue;
      // Only the mixing Einsum is a candidate worth a remark (read before
      // the raise replaces it).
      bool candidate = einsum.getEquation().contains("->") &&
                       cast<ShapedType>(einsum.getType()).getRank() == 2;
      settle(raiseStacked(einsum, builder, error), einsum, error, candidate);
    }
    // ... or in the ReduceSum of the weighted outputs of batched MatMuls.
    SmallVector<onnx::ReduceSumOp> sums;
    func.walk([&](onnx::ReduceSumOp op) { sums.push_back(op); });
    for (onnx::ReduceSumOp sum : sums) {
      MatchError error;
      if (!sum.getInput().getDefiningOp<onnx::MulOp>())
        continue;
      bool candidate =
          sum.getAxes() == ArrayRef<int64_t>{1} && !sum.getKeepdims();
      settle(raiseStackedMatMul(sum, builder, error), sum, error, candidate);
    }
    if (!changed)
      return;
    // The per-expert subgraphs are dead now; erase them (and fold what
    // folds) without touching anything else.
    RewritePatternSet none(&getContext());
    (void)applyPatternsGreedily(func, std::move(none));
  }
};

} // namespace
