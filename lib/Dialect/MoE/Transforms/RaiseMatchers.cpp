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

std::optional<int64_t> raise::constantInt(Value value) {
  std::optional<ElementsAttr> attr = constantOf(value);
  if (!attr || attr->getNumElements() != 1 ||
      !attr->getElementType().isInteger())
    return std::nullopt;
  return (*attr->value_begin<APInt>()).getSExtValue();
}

Value raise::skipReshapes(Value value) {
  while (Operation *op = value.getDefiningOp()) {
    if (isa<onnx::ReshapeOp, onnx::UnsqueezeOp, onnx::SqueezeOp,
            onnx::FlattenOp>(op))
      value = op->getOperand(0);
    else
      break;
  }
  return value;
}

Value raise::skipFloatCasts(Value value) {
  while (auto cast = value.getDefiningOp<onnx::CastOp>()) {
    if (!isa<FloatType>(getElementTypeOrSelf(cast.getInput().getType())) ||
        !isa<FloatType>(getElementTypeOrSelf(cast.getType())))
      break;
    value = cast.getInput();
  }
  return value;
}

Value raise::constantValue(OpBuilder &builder, Location loc,
                           ElementsAttr attr) {
  return attr ? arith::ConstantOp::create(builder, loc, cast<TypedAttr>(attr))
                    .getResult()
              : Value();
}

std::optional<double> raise::scalarOf(Value value) {
  std::optional<ElementsAttr> attr = constantOf(value);
  if (!attr || attr->getNumElements() != 1 ||
      !isa<FloatType>(attr->getElementType()))
    return std::nullopt;
  APFloat scalar = *attr->value_begin<APFloat>();
  if (attr->getElementType().isF32())
    return floatParameter(scalar.convertToFloat());
  return scalar.convertToDouble();
}

/// Element-wise `fn` over two vectors with numpy broadcasting of length 1.
static std::optional<SmallVector<int64_t>>
broadcastInts(std::optional<SmallVector<int64_t>> a,
              std::optional<SmallVector<int64_t>> b,
              function_ref<int64_t(int64_t, int64_t)> fn) {
  if (!a || !b || (a->size() != b->size() && a->size() != 1 && b->size() != 1))
    return std::nullopt;
  size_t n = std::max(a->size(), b->size());
  SmallVector<int64_t> result;
  for (size_t i = 0; i < n; ++i)
    result.push_back(fn((*a)[a->size() == 1 ? 0 : i], (*b)[b->size() == 1 ? 0 : i]));
  return result;
}

std::optional<SmallVector<int64_t>> raise::constantInts(Value value) {
  // Shape vectors are short; anything longer is not shape arithmetic.
  constexpr int64_t kMaxLength = 16;
  Operation *op = value.getDefiningOp();
  if (!op || !getElementTypeOrSelf(value.getType()).isInteger())
    return std::nullopt;
  if (std::optional<ElementsAttr> attr = constantOf(value)) {
    if (attr->getNumElements() > kMaxLength)
      return std::nullopt;
    SmallVector<int64_t> result;
    for (APInt v : attr->getValues<APInt>())
      result.push_back(v.getBitWidth() == 1 ? v.getZExtValue()
                                            : v.getSExtValue());
    return result;
  }
  if (auto fill = dyn_cast<onnx::ConstantOfShapeOp>(op)) {
    std::optional<SmallVector<int64_t>> shape = constantInts(fill.getShape());
    auto v = dyn_cast<IntegerAttr>(fill.getValue());
    if (!shape || shape->size() != 1 || !v || (*shape)[0] < 0 ||
        (*shape)[0] > kMaxLength)
      return std::nullopt;
    return SmallVector<int64_t>((*shape)[0], v.getInt());
  }
  if (auto mul = dyn_cast<onnx::MulOp>(op))
    return broadcastInts(constantInts(mul.getLhs()), constantInts(mul.getRhs()),
                         [](int64_t a, int64_t b) { return a * b; });
  if (auto eq = dyn_cast<onnx::EqualOp>(op))
    return broadcastInts(constantInts(eq.getLhs()), constantInts(eq.getRhs()),
                         [](int64_t a, int64_t b) -> int64_t { return a == b; });
  if (auto where = dyn_cast<onnx::WhereOp>(op)) {
    std::optional<SmallVector<int64_t>> c = constantInts(where.getCondition());
    std::optional<SmallVector<int64_t>> x = constantInts(where.getX());
    std::optional<SmallVector<int64_t>> y = constantInts(where.getY());
    if (!c || !x || !y)
      return std::nullopt;
    std::optional<SmallVector<int64_t>> picked = broadcastInts(
        c, x, [](int64_t c, int64_t x) { return c ? x : INT64_MIN; });
    return broadcastInts(picked, y, [](int64_t p, int64_t y) {
      return p == INT64_MIN ? y : p;
    });
  }
  if (auto concat = dyn_cast<onnx::ConcatOp>(op)) {
    SmallVector<int64_t> result;
    for (Value input : concat.getInputs()) {
      std::optional<SmallVector<int64_t>> part = constantInts(input);
      if (!part)
        return std::nullopt;
      result.append(*part);
    }
    return result;
  }
  if (isa<onnx::UnsqueezeOp, onnx::SqueezeOp, onnx::ReshapeOp>(op))
    return constantInts(op->getOperand(0));
  return std::nullopt;
}

std::optional<std::pair<Value, int64_t>> raise::shapeDimRead(Value value) {
  if (auto unsqueeze = value.getDefiningOp<onnx::UnsqueezeOp>())
    value = unsqueeze.getInput();
  auto gather = value.getDefiningOp<onnx::GatherOp>();
  auto shape = gather ? gather.getInput().getDefiningOp<onnx::ShapeOp>()
                      : onnx::ShapeOp();
  std::optional<int64_t> index =
      gather ? constantInt(gather.getIndices()) : std::nullopt;
  if (!shape || !index || *index < 0)
    return std::nullopt;
  int64_t dim = static_cast<int64_t>(shape.getStart()) + *index;
  if (dim >= cast<ShapedType>(shape.getInput().getType()).getRank())
    return std::nullopt;
  return std::pair(shape.getInput(), dim);
}

bool raise::isShapeOf(Value shape, Value x) {
  auto type = cast<ShapedType>(x.getType());
  int64_t rank = type.getRank();
  if (auto whole = shape.getDefiningOp<onnx::ShapeOp>())
    return whole.getInput() == x && whole.getStart() == 0 &&
           static_cast<int64_t>(whole.getEnd()) == rank;
  auto concat = shape.getDefiningOp<onnx::ConcatOp>();
  if (!concat || static_cast<int64_t>(concat.getInputs().size()) != rank)
    return false;
  for (auto [i, part] : llvm::enumerate(concat.getInputs())) {
    std::optional<std::pair<Value, int64_t>> read = shapeDimRead(part);
    std::optional<SmallVector<int64_t>> value = constantInts(part);
    bool staticDim = value && value->size() == 1 && !type.isDynamicDim(i) &&
                     (*value)[0] == type.getDimSize(i);
    if (read != std::pair(x, static_cast<int64_t>(i)) && !staticDim)
      return false;
  }
  return true;
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

/// The token ids and rows a scatter writes: whole rows (axis 0) at the ids
/// broadcast along each row. (ScatterElements needs indices and updates of
/// one shape, so the broadcast covers the update's rows.)
static FailureOr<std::pair<Value, Value>>
scatteredRows(onnx::ScatterElementsOp scatter, MatchError &error) {
  if (scatter.getAxis() != 0)
    return error.fail("the scatter does not write whole token rows (axis 0)");
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
  return std::pair<Value, Value>(unsqueeze.getInput(), update);
}

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
  FailureOr<std::pair<Value, Value>> rows = scatteredRows(scatter, error);
  if (failed(rows))
    return failure();
  return CombineStep{previous, rows->first, rows->second};
}

FailureOr<CombineStep> raise::matchOverwriteStep(Value acc,
                                                 MatchError &error) {
  auto scatter = acc.getDefiningOp<onnx::ScatterElementsOp>();
  if (!scatter || scatter.getReduction() != "none")
    return error.fail("not an overwrite of token rows");
  FailureOr<std::pair<Value, Value>> rows = scatteredRows(scatter, error);
  if (failed(rows))
    return failure();
  return CombineStep{scatter.getInput(), rows->first, rows->second};
}

//===----------------------------------------------------------------------===//
// Tokens of one expert
//===----------------------------------------------------------------------===//

/// Expert `expert`'s part of the one-hot mask of the chosen ids.
static FailureOr<ExpertTokens> tokensOfExpert(onnx::OneHotOp oneHot,
                                              int64_t expert,
                                              MatchError &error) {
  auto off = dyn_cast<IntegerAttr>(oneHot.getOffValue());
  auto on = dyn_cast<IntegerAttr>(oneHot.getOnValue());
  if (!off || !on || off.getInt() != 0 || on.getInt() == 0)
    return error.fail("the one-hot mask does not mark choices with non-zero");
  int64_t numExperts = oneHot.getDepth();
  if (expert < 0 || expert >= numExperts)
    return error.fail("the expert index is outside the one-hot depth");
  return ExpertTokens{expert, oneHot.getIndices(), numExperts};
}

/// A column of NonZero's coordinates: squeeze(split(transpose(nonzero))#r);
/// the split and r.
static FailureOr<std::pair<onnx::SplitOp, unsigned>>
splitOfNonZero(Value value, MatchError &error) {
  auto squeeze = value.getDefiningOp<onnx::SqueezeOp>();
  Value split = squeeze ? squeeze.getInput() : value;
  auto op = split.getDefiningOp<onnx::SplitOp>();
  if (!op || op.getAxis() != 1 || op.getSizes() != ArrayRef<int64_t>{1, 1})
    return error.fail("token ids are not a column of NonZero's coordinates");
  return std::pair(op, cast<OpResult>(split).getResultNumber());
}

FailureOr<Value> raise::slotOf(Value token, MatchError &error) {
  FailureOr<std::pair<onnx::SplitOp, unsigned>> split =
      splitOfNonZero(token, error);
  if (failed(split))
    return failure();
  for (Operation *user : split->first.getResult(1 - split->second).getUsers())
    if (isa<onnx::SqueezeOp>(user))
      return user->getResult(0);
  return error.fail("the top-k slot of each token is not used");
}

FailureOr<ExpertTokens> raise::matchExpertTokens(Value token, Value slot,
                                                 MatchError &error) {
  FailureOr<std::pair<onnx::SplitOp, unsigned>> tokenSplit =
      splitOfNonZero(token, error);
  if (failed(tokenSplit))
    return failure();
  FailureOr<std::pair<onnx::SplitOp, unsigned>> slotSplit =
      splitOfNonZero(slot, error);
  if (failed(slotSplit) || slotSplit->first != tokenSplit->first ||
      slotSplit->second == tokenSplit->second)
    return error.fail("token ids and slots come from different NonZero ops");
  onnx::SplitOp split = tokenSplit->first;
  auto transpose = split.getInput().getDefiningOp<onnx::TransposeOp>();
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
  // mask = transpose(one_hot(ids, E), [2, 1, 0]): [E, k, T], whose
  // coordinates are (slot, token); or [2, 0, 1]: [E, T, k], (token, slot).
  auto maskT = gather.getInput().getDefiningOp<onnx::TransposeOp>();
  auto oneHot = maskT ? maskT.getInput().getDefiningOp<onnx::OneHotOp>()
                      : onnx::OneHotOp();
  if (!maskT || !oneHot || oneHot.getAxis() != 2 ||
      (maskT.getPerm() != ArrayRef<int64_t>{2, 1, 0} &&
       maskT.getPerm() != ArrayRef<int64_t>{2, 0, 1}))
    return error.fail("the expert mask is not the one-hot of the top-k ids "
                      "permuted to [E, k, T] or [E, T, k]");
  unsigned tokenColumn = maskT.getPerm()[1] == 1 ? 1 : 0;
  if (tokenSplit->second != tokenColumn)
    return error.fail("the token ids are the mask's slot coordinates");
  return tokensOfExpert(oneHot, *expert, error);
}

FailureOr<ExpertTokens> raise::matchArgmaxTokens(Value token,
                                                 MatchError &error) {
  // token = squeeze(transpose(nonzero(bool(one_hot(argmax)[:, e]))))
  Value value = token;
  if (auto squeeze = value.getDefiningOp<onnx::SqueezeOp>())
    value = squeeze.getInput();
  if (auto split = value.getDefiningOp<onnx::SplitOp>())
    if (split.getNumResults() == 1)
      value = split.getInput();
  auto transpose = value.getDefiningOp<onnx::TransposeOp>();
  auto nonzero = transpose ? transpose.getInput().getDefiningOp<onnx::NonZeroOp>()
                           : onnx::NonZeroOp();
  if (!nonzero || cast<ShapedType>(nonzero.getInput().getType()).getRank() != 1)
    return error.fail("token ids are not NonZero of one expert's column of "
                      "the mask");
  Value column = nonzero.getInput();
  if (auto cast = column.getDefiningOp<onnx::CastOp>())
    column = cast.getInput();
  auto gather = column.getDefiningOp<onnx::GatherOp>();
  std::optional<int64_t> expert =
      gather ? constantInt(gather.getIndices()) : std::nullopt;
  auto oneHot = gather ? gather.getInput().getDefiningOp<onnx::OneHotOp>()
                       : onnx::OneHotOp();
  if (!gather || gather.getAxis() != 1 || !expert || !oneHot ||
      oneHot.getAxis() != 1)
    return error.fail("NonZero does not read one expert's column of the "
                      "one-hot mask");
  return tokensOfExpert(oneHot, *expert, error);
}

//===----------------------------------------------------------------------===//
// Expert FFN
//===----------------------------------------------------------------------===//

bool raise::matchProjection(Value value, Value &rows, ElementsAttr &weight) {
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
/// SiLU is x * sigmoid(x) or one Swish op with alpha 1 (opset 24).
std::optional<std::pair<ActivationKind, Value>>
raise::matchActivation(Value value) {
  if (Value x = matchSilu(value))
    return std::pair(ActivationKind::Silu, x);
  if (auto swish = value.getDefiningOp<onnx::SwishOp>();
      swish && swish.getAlpha().convertToDouble() == 1.0)
    return std::pair(ActivationKind::Silu, swish.getInput());
  if (auto relu = value.getDefiningOp<onnx::ReluOp>())
    return std::pair(ActivationKind::Relu, relu.getInput());
  if (auto gelu = value.getDefiningOp<onnx::GeluOp>())
    return std::pair(gelu.getApproximate() == "tanh" ? ActivationKind::GeluTanh
                                                     : ActivationKind::Gelu,
                     gelu.getInput());
  return std::nullopt;
}

FailureOr<ExpertFFN> raise::matchExpertFFN(Value out, MatchError &error) {
  // A 16-bit expert's output may be widened for an f32 combine.
  out = skipFloatCasts(out);
  Value hidden;
  ElementsAttr w2;
  if (!matchProjection(out, hidden, w2))
    return error.fail("the expert output is not a MatMul with a constant "
                      "weight");
  return matchExpertHidden(hidden, w2, error);
}

FailureOr<ExpertFFN> raise::matchExpertHidden(Value hidden, ElementsAttr w2,
                                              MatchError &error) {
  ExpertFFN ffn;
  ffn.w2 = w2;
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

/// Whether `value` is k, the row length of the routing weights [T, k]:
/// a constant, or dim 1 read from their shape (possibly with unit dims
/// appended).
static bool isRowLength(Value value, Value weights) {
  auto type = cast<ShapedType>(weights.getType());
  if (type.getRank() != 2)
    return false;
  if (std::optional<int64_t> k = constantInt(value))
    return !type.isDynamicDim(1) && *k == type.getDimSize(1);
  std::optional<std::pair<Value, int64_t>> read = shapeDimRead(value);
  if (!read || read->second != 1)
    return false;
  Value source = read->first;
  if (auto unsqueeze = source.getDefiningOp<onnx::UnsqueezeOp>())
    if (llvm::all_of(unsqueeze.getAxes(), [](int64_t a) { return a >= 2; }))
      source = unsqueeze.getInput();
  return source == weights;
}

FailureOr<Value> raise::matchGateWeight(Value gate, Value token, Value slot,
                                        MatchError &error) {
  // routing_weights[token, slot, None]: a flat gather at token * k + slot.
  auto gather = skipReshapes(gate).getDefiningOp<onnx::GatherOp>();
  if (!gather || gather.getAxis() != 0)
    return error.fail("the gate weight is not gathered from the routing "
                      "weights");
  Value weights = skipReshapes(gather.getInput());
  auto add = gather.getIndices().getDefiningOp<onnx::AddOp>();
  bool indexed = false;
  if (add) {
    for (auto [s, m] : {std::pair(add.getLhs(), add.getRhs()),
                        std::pair(add.getRhs(), add.getLhs())}) {
      auto mul = m.getDefiningOp<onnx::MulOp>();
      if (s != slot || !mul)
        continue;
      for (auto [t, k] : {std::pair(mul.getLhs(), mul.getRhs()),
                          std::pair(mul.getRhs(), mul.getLhs())})
        indexed |= t == token && isRowLength(k, weights);
    }
  }
  if (!indexed)
    return error.fail("the gate weight is not read at (token, slot)");
  return weights;
}

FailureOr<SharedExpert> raise::matchSharedExpert(Value routed, Value hidden,
                                                 MatchError &error) {
  if (!routed.hasOneUse())
    return error.fail("the routed sum has other uses");
  SharedExpert shared;
  Operation *user = *routed.getUsers().begin();
  // An f32 combine in a 16-bit model goes back to the model's type first.
  if (auto narrow = dyn_cast<onnx::CastOp>(user);
      narrow && skipFloatCasts(narrow.getResult()) == routed) {
    if (!narrow->hasOneUse())
      return error.fail("the routed sum has other uses");
    routed = narrow.getResult();
    user = *routed.getUsers().begin();
  }
  if (auto unflatten = dyn_cast<onnx::ReshapeOp>(user)) {
    // hidden = x's rows ([.., d] -> [T, d]); the routed sum goes back to
    // x's shape and the shared expert reads x. Row-wise FFNs commute with
    // the reshapes, so the shared expert joins the layer on `hidden`.
    auto flatten = hidden.getDefiningOp<onnx::ReshapeOp>();
    if (!flatten || !unflatten.getShapeTensor() ||
        !isShapeOf(unflatten.getShapeTensor(), flatten.getInput()) ||
        !unflatten->hasOneUse())
      return error.fail("the routed sum is reshaped to something other than "
                        "the layer input's shape");
    auto inputType = cast<ShapedType>(flatten.getInput().getType());
    auto hiddenType = cast<ShapedType>(hidden.getType());
    if (hiddenType.getRank() != 2 || inputType.getRank() < 2 ||
        inputType.isDynamicDim(inputType.getRank() - 1))
      return error.fail("the layer input's rows are not flattened to "
                        "[T, d]");
    shared.unflatten = unflatten;
    routed = unflatten;
    hidden = flatten.getInput();
    user = *unflatten->getUsers().begin();
  }
  auto add = dyn_cast<onnx::AddOp>(user);
  if (!add)
    return error.fail("nothing is added to the routed sum");
  Value other = add.getLhs() == routed ? add.getRhs() : add.getLhs();
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
