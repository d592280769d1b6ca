//===- RaiseMatchers.cpp - Dataflow matchers of the raising pass ----------===//
//
// The shapes of the exporter's graph are matched op by op, but each check
// is about the math: which value is gathered at which index, which
// constants multiply what, which activation is applied. Reshapes that only
// add or drop unit dims are looked through where they cannot change the
// values.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatchers.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::raise;

namespace onnx = mlir::moe::onnx;

std::optional<ElementsAttr> raise::constantOf(Value value) {
  ElementsAttr attr;
  if (value && matchPattern(value, m_Constant(&attr)))
    return attr;
  return std::nullopt;
}

static std::optional<int64_t> constantInt(Value value) {
  std::optional<ElementsAttr> attr = constantOf(value);
  if (!attr || attr->getNumElements() != 1 ||
      !attr->getElementType().isInteger())
    return std::nullopt;
  return (*attr->value_begin<APInt>()).getSExtValue();
}

/// Looks through reshapes of any kind: only for values whose element order
/// is what matters (a row of weights, a flat index list).
static Value skipReshapes(Value value) {
  while (Operation *op = value.getDefiningOp()) {
    if (isa<onnx::ReshapeOp, onnx::UnsqueezeOp, onnx::SqueezeOp,
            onnx::FlattenOp>(op))
      value = op->getOperand(0);
    else
      break;
  }
  return value;
}

bool raise::isZeros(Value value) {
  if (auto fill = value.getDefiningOp<onnx::ConstantOfShapeOp>()) {
    auto f = dyn_cast<FloatAttr>(fill.getValue());
    return f && f.getValue().isZero();
  }
  std::optional<ElementsAttr> attr = constantOf(value);
  if (!attr || !isa<DenseElementsAttr>(*attr))
    return false;
  auto dense = cast<DenseElementsAttr>(*attr);
  return dense.isSplat() && isa<FloatType>(dense.getElementType()) &&
         dense.getSplatValue<APFloat>().isZero();
}

//===----------------------------------------------------------------------===//
// Combine
//===----------------------------------------------------------------------===//

FailureOr<CombineStep> raise::matchCombineStep(Value acc, MatchError &error) {
  Value previous;
  onnx::ScatterElementsOp scatter;
  if (auto add = acc.getDefiningOp<onnx::AddOp>()) {
    // index_add_ as exported: acc + scatter(zeros, rows, update).
    for (auto [a, b] : {std::pair(add.getLhs(), add.getRhs()),
                        std::pair(add.getRhs(), add.getLhs())}) {
      auto s = b.getDefiningOp<onnx::ScatterElementsOp>();
      if (s && s.getReduction() == "none" && isZeros(s.getInput())) {
        scatter = s;
        previous = a;
        break;
      }
    }
  } else if (auto s = acc.getDefiningOp<onnx::ScatterElementsOp>()) {
    if (s.getReduction() == "add") {
      scatter = s;
      previous = s.getInput();
    }
  }
  if (!scatter)
    return error.fail("not an accumulation of scattered expert rows");
  if (scatter.getAxis() != 0)
    return error.fail("the scatter does not write whole token rows (axis 0)");
  // Indices: the token ids repeated across the row.
  Value indices = scatter.getIndices();
  if (auto expand = indices.getDefiningOp<onnx::ExpandOp>())
    indices = expand.getInput();
  auto unsqueeze = indices.getDefiningOp<onnx::UnsqueezeOp>();
  if (!unsqueeze || unsqueeze.getAxes() != ArrayRef<int64_t>{1})
    return error.fail("the scatter indices are not token ids broadcast along "
                      "each row");
  Value update = scatter.getUpdates();
  if (auto expand = update.getDefiningOp<onnx::ExpandOp>())
    update = expand.getInput();
  return CombineStep{previous, unsqueeze.getInput(), update};
}

//===----------------------------------------------------------------------===//
// Tokens of one expert
//===----------------------------------------------------------------------===//

/// token = squeeze(split(transpose(nonzero(mask[e])))#1).
static FailureOr<onnx::SplitOp> splitOfNonZero(Value value, unsigned result,
                                               MatchError &error) {
  auto squeeze = value.getDefiningOp<onnx::SqueezeOp>();
  Value split = squeeze ? squeeze.getInput() : value;
  auto op = split.getDefiningOp<onnx::SplitOp>();
  if (!op || op.getAxis() != 1 || op.getSizes() != ArrayRef<int64_t>{1, 1} ||
      cast<OpResult>(split).getResultNumber() != result)
    return error.fail("token ids are not a column of NonZero's coordinates");
  return op;
}

FailureOr<Value> raise::slotOf(Value token, MatchError &error) {
  FailureOr<onnx::SplitOp> split = splitOfNonZero(token, 1, error);
  if (failed(split))
    return failure();
  for (Operation *user : split->getResult(0).getUsers())
    if (isa<onnx::SqueezeOp>(user))
      return user->getResult(0);
  return error.fail("the top-k slot of each token is not used");
}

FailureOr<ExpertTokens> raise::matchExpertTokens(Value token, Value slot,
                                                 MatchError &error) {
  FailureOr<onnx::SplitOp> split = splitOfNonZero(token, 1, error);
  if (failed(split))
    return failure();
  FailureOr<onnx::SplitOp> slotSplit = splitOfNonZero(slot, 0, error);
  if (failed(slotSplit) || *slotSplit != *split)
    return error.fail("token ids and slots come from different NonZero ops");
  auto transpose = split->getInput().getDefiningOp<onnx::TransposeOp>();
  if (!transpose || transpose.getPerm() != ArrayRef<int64_t>{1, 0})
    return error.fail("NonZero's coordinates are not read as rows");
  auto nonzero = transpose.getInput().getDefiningOp<onnx::NonZeroOp>();
  if (!nonzero)
    return error.fail("token ids do not come from NonZero");
  Value row = nonzero.getInput();
  if (auto cast = row.getDefiningOp<onnx::CastOp>())
    row = cast.getInput();
  auto gather = row.getDefiningOp<onnx::GatherOp>();
  std::optional<int64_t> expert =
      gather ? constantInt(gather.getIndices()) : std::nullopt;
  if (!gather || gather.getAxis() != 0 || !expert)
    return error.fail("NonZero does not read one expert's row of the mask");
  // mask = transpose(one_hot(ids, E), [2, 1, 0]): [E, k, T].
  auto maskT = gather.getInput().getDefiningOp<onnx::TransposeOp>();
  auto oneHot = maskT ? maskT.getInput().getDefiningOp<onnx::OneHotOp>()
                      : onnx::OneHotOp();
  if (!maskT || maskT.getPerm() != ArrayRef<int64_t>{2, 1, 0} || !oneHot ||
      oneHot.getAxis() != 2)
    return error.fail("the expert mask is not the one-hot of the top-k ids "
                      "permuted to [E, k, T]");
  auto off = dyn_cast<IntegerAttr>(oneHot.getOffValue());
  auto on = dyn_cast<IntegerAttr>(oneHot.getOnValue());
  if (!off || !on || off.getInt() != 0 || on.getInt() == 0)
    return error.fail("the one-hot mask does not mark choices with non-zero");
  int64_t numExperts = oneHot.getDepth();
  if (*expert < 0 || *expert >= numExperts)
    return error.fail("the expert index is outside the one-hot depth");
  return ExpertTokens{*expert, oneHot.getIndices(), numExperts};
}

//===----------------------------------------------------------------------===//
// Expert FFN
//===----------------------------------------------------------------------===//

/// matmul(rows, constant [in, out]).
static bool matchProjection(Value value, Value &rows, ElementsAttr &weight) {
  auto matmul = value.getDefiningOp<onnx::MatMulOp>();
  if (!matmul)
    return false;
  std::optional<ElementsAttr> attr = constantOf(matmul.getRhs());
  if (!attr || cast<ShapedType>(attr->getType()).getRank() != 2)
    return false;
  rows = matmul.getLhs();
  weight = *attr;
  return true;
}

/// x * sigmoid(x), either operand order.
static Value matchSilu(Value value) {
  auto mul = value.getDefiningOp<onnx::MulOp>();
  if (!mul)
    return {};
  for (auto [x, s] : {std::pair(mul.getLhs(), mul.getRhs()),
                      std::pair(mul.getRhs(), mul.getLhs())}) {
    auto sigmoid = s.getDefiningOp<onnx::SigmoidOp>();
    if (sigmoid && sigmoid.getInput() == x)
      return x;
  }
  return {};
}

/// The activation applied to a projection: (kind, projection input value).
std::optional<std::pair<ActivationKind, Value>>
raise::matchActivation(Value value) {
  if (Value x = matchSilu(value))
    return std::pair(ActivationKind::Silu, x);
  if (auto relu = value.getDefiningOp<onnx::ReluOp>())
    return std::pair(ActivationKind::Relu, relu.getInput());
  if (auto gelu = value.getDefiningOp<onnx::GeluOp>())
    return std::pair(gelu.getApproximate() == "tanh" ? ActivationKind::GeluTanh
                                                     : ActivationKind::Gelu,
                     gelu.getInput());
  return std::nullopt;
}

FailureOr<ExpertFFN> raise::matchExpertFFN(Value out, MatchError &error) {
  ExpertFFN ffn;
  Value hidden;
  if (!matchProjection(out, hidden, ffn.w2))
    return error.fail("the expert output is not a MatMul with a constant "
                      "weight");
  // Plain FFN: act(rows @ w1).
  if (auto act = matchActivation(hidden)) {
    if (matchProjection(act->second, ffn.rows, ffn.w1)) {
      ffn.activation = act->first;
      return ffn;
    }
  }
  // Gated: act(rows @ w1) * (rows @ w3), either operand order.
  auto mul = hidden.getDefiningOp<onnx::MulOp>();
  if (!mul)
    return error.fail("the expert's hidden layer is neither an activation "
                      "of a projection nor a gated product");
  for (auto [a, u] : {std::pair(mul.getLhs(), mul.getRhs()),
                      std::pair(mul.getRhs(), mul.getLhs())}) {
    auto act = matchActivation(a);
    Value rowsGate, rowsUp;
    ElementsAttr w1, w3;
    if (!act || act->first != ActivationKind::Silu ||
        !matchProjection(act->second, rowsGate, w1) ||
        !matchProjection(u, rowsUp, w3))
      continue;
    if (rowsGate != rowsUp)
      return error.fail("the gate and up projections read different rows");
    ffn.rows = rowsGate;
    ffn.w1 = w1;
    ffn.w3 = w3;
    ffn.activation = ActivationKind::SwiGLU;
    return ffn;
  }
  return error.fail("the expert's gated product is not silu(x @ w1) * "
                    "(x @ w3)");
}

FailureOr<Value> raise::matchGatheredRows(Value rows, Value token,
                                          MatchError &error) {
  // hidden_states[None, token].reshape(-1, d), or hidden.gather(token).
  Value source = rows;
  if (auto reshape = source.getDefiningOp<onnx::ReshapeOp>())
    source = reshape.getInput();
  auto gather = source.getDefiningOp<onnx::GatherOp>();
  if (!gather || gather.getIndices() != token)
    return error.fail("the expert's input rows are not gathered at its "
                      "token ids");
  if (gather.getAxis() == 0)
    return gather.getInput();
  auto unsqueeze = gather.getInput().getDefiningOp<onnx::UnsqueezeOp>();
  if (gather.getAxis() == 1 && unsqueeze &&
      unsqueeze.getAxes() == ArrayRef<int64_t>{0})
    return unsqueeze.getInput();
  return error.fail("the expert's input rows are not token rows");
}

//===----------------------------------------------------------------------===//
// Gate weight and routing
//===----------------------------------------------------------------------===//

FailureOr<Value> raise::matchGateWeight(Value gate, Value token, Value slot,
                                        MatchError &error) {
  // routing_weights[token, slot, None]: a flat gather at token * k + slot.
  auto gather = skipReshapes(gate).getDefiningOp<onnx::GatherOp>();
  if (!gather || gather.getAxis() != 0)
    return error.fail("the gate weight is not gathered from the routing "
                      "weights");
  auto add = gather.getIndices().getDefiningOp<onnx::AddOp>();
  bool indexed = false;
  if (add) {
    for (auto [s, m] : {std::pair(add.getLhs(), add.getRhs()),
                        std::pair(add.getRhs(), add.getLhs())}) {
      auto mul = m.getDefiningOp<onnx::MulOp>();
      if (s == slot && mul &&
          (mul.getLhs() == token || mul.getRhs() == token))
        indexed = true;
    }
  }
  if (!indexed)
    return error.fail("the gate weight is not read at (token, slot)");
  return skipReshapes(gather.getInput());
}

FailureOr<Routing> raise::matchRouting(Value weights, Value ids,
                                       MatchError &error) {
  auto topk = ids.getDefiningOp<onnx::TopKOp>();
  if (!topk || cast<OpResult>(ids).getResultNumber() != 1)
    return error.fail("the expert ids are not TopK indices");
  int64_t rank = cast<ShapedType>(topk.getInput().getType()).getRank();
  if (rank != 2 || topk.getAxis() != 1 || !topk.getLargest())
    return error.fail("TopK does not pick the largest scores per token");
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
  auto softmax = topk.getInput().getDefiningOp<onnx::SoftmaxOp>();
  if (!softmax || softmax.getAxis() != 1)
    return error.fail("the scores are not a softmax over the experts");
  Value logits = softmax.getInput();
  if (auto add = logits.getDefiningOp<onnx::AddOp>()) {
    if (std::optional<ElementsAttr> bias = constantOf(add.getRhs())) {
      routing.routerBias = *bias;
      logits = add.getLhs();
    }
  }
  Value hidden;
  if (!matchProjection(logits, hidden, routing.routerWeight))
    return error.fail("the router is not a MatMul with a constant weight");
  routing.hidden = hidden;
  return routing;
}

FailureOr<SharedExpert> raise::matchSharedExpert(Value routed, Value hidden,
                                                 MatchError &error) {
  if (!routed.hasOneUse())
    return error.fail("the routed sum has other uses");
  auto add = dyn_cast<onnx::AddOp>(*routed.getUsers().begin());
  if (!add)
    return error.fail("nothing is added to the routed sum");
  Value other = add.getLhs() == routed ? add.getRhs() : add.getLhs();
  SharedExpert shared;
  shared.sum = add;
  // sigmoid(hidden @ gate) * FFN(hidden), either operand order.
  if (auto mul = other.getDefiningOp<onnx::MulOp>()) {
    for (auto [s, f] : {std::pair(mul.getLhs(), mul.getRhs()),
                        std::pair(mul.getRhs(), mul.getLhs())}) {
      auto sigmoid = s.getDefiningOp<onnx::SigmoidOp>();
      Value rows;
      ElementsAttr gate;
      if (!sigmoid || !matchProjection(sigmoid.getInput(), rows, gate) ||
          rows != hidden ||
          cast<ShapedType>(gate.getType()).getDimSize(1) != 1)
        continue;
      MatchError ignored;
      FailureOr<ExpertFFN> ffn = matchExpertFFN(f, ignored);
      if (succeeded(ffn) && ffn->rows == hidden) {
        shared.ffn = *ffn;
        shared.gate = gate;
        return shared;
      }
    }
  }
  FailureOr<ExpertFFN> ffn = matchExpertFFN(other, error);
  if (failed(ffn))
    return failure();
  if (ffn->rows != hidden)
    return error.fail("the added FFN does not read the layer's hidden states");
  shared.ffn = *ffn;
  return shared;
}

FailureOr<DenseStep> raise::matchDenseStep(Value acc, MatchError &error) {
  auto add = acc.getDefiningOp<onnx::AddOp>();
  if (!add)
    return error.fail("not a sum of weighted expert outputs");
  for (auto [prev, term] : {std::pair(add.getLhs(), add.getRhs()),
                            std::pair(add.getRhs(), add.getLhs())}) {
    auto mul = term.getDefiningOp<onnx::MulOp>();
    if (!mul)
      continue;
    for (auto [p, y] : {std::pair(mul.getLhs(), mul.getRhs()),
                        std::pair(mul.getRhs(), mul.getLhs())}) {
      // probs[:, e:e+1]
      auto slice = p.getDefiningOp<onnx::SliceOp>();
      if (!slice || slice.getAxes() != ArrayRef<int64_t>{1} ||
          slice.getSteps() != ArrayRef<int64_t>{1} ||
          !slice.getStarts() || !slice.getEnds() ||
          (*slice.getEnds())[0] != (*slice.getStarts())[0] + 1 ||
          (*slice.getStarts())[0] < 0 ||
          !slice.getInput().getDefiningOp<onnx::SoftmaxOp>())
        continue;
      return DenseStep{prev, (*slice.getStarts())[0], slice.getInput(), y};
    }
  }
  return error.fail("not a sum of expert outputs times their probability");
}

FailureOr<Routing> raise::matchDenseRouting(Value probs, MatchError &error) {
  auto softmax = probs.getDefiningOp<onnx::SoftmaxOp>();
  int64_t rank = cast<ShapedType>(probs.getType()).getRank();
  if (!softmax || rank != 2 || softmax.getAxis() != 1)
    return error.fail("the mixture weights are not a softmax over experts");
  Routing routing;
  Value logits = softmax.getInput();
  if (auto add = logits.getDefiningOp<onnx::AddOp>()) {
    if (std::optional<ElementsAttr> bias = constantOf(add.getRhs())) {
      routing.routerBias = *bias;
      logits = add.getLhs();
    }
  }
  if (!matchProjection(logits, routing.hidden, routing.routerWeight))
    return error.fail("the router is not a MatMul with a constant weight");
  int64_t numExperts = cast<ShapedType>(routing.routerWeight.getType()).getDimSize(1);
  routing.k = numExperts;
  routing.renormalize = false;
  routing.kind = RoutingKind::Dense;
  return routing;
}
