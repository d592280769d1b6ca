//===- MoEOps.cpp - moe dialect operations --------------------------------===//
//
// Verifiers and canonicalizations of the moe ops. The verifiers name the
// operand and the dimension that disagree, since users meet them through
// models they did not write.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::moe;

static constexpr int64_t kDyn = ShapedType::kDynamic;

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

static std::string formatDims(ArrayRef<int64_t> dims) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "[";
  llvm::interleaveComma(dims, os, [&](int64_t dim) {
    if (ShapedType::isDynamic(dim))
      os << "?";
    else
      os << dim;
  });
  os << "]";
  return text;
}

/// Checks that `value` is a tensor of the expected rank whose static dims
/// agree with `expected` (kDyn stands for "not known here"). `dimNames`
/// spells the symbolic shape, e.g. "[E, d, f]".
static LogicalResult verifyShape(Operation *op, StringRef name, Value value,
                                 StringRef dimNames,
                                 ArrayRef<int64_t> expected) {
  auto type = cast<RankedTensorType>(value.getType());
  bool ok = type.getRank() == static_cast<int64_t>(expected.size());
  for (auto [actual, want] : llvm::zip(type.getShape(), expected))
    ok &= ShapedType::isDynamic(actual) || ShapedType::isDynamic(want) ||
          actual == want;
  if (ok)
    return success();
  return op->emitOpError() << "'" << name << "' must be " << dimNames << " = "
                           << formatDims(expected) << ", but is " << type;
}

static LogicalResult verifyElementType(Operation *op, StringRef name,
                                       Value value, Type expected,
                                       StringRef expectedFrom) {
  Type actual = getElementTypeOrSelf(value.getType());
  if (actual == expected)
    return success();
  return op->emitOpError() << "'" << name << "' has element type " << actual
                           << ", but '" << expectedFrom << "' has "
                           << expected;
}

static int64_t dimOf(Value value, unsigned dim) {
  auto type = cast<RankedTensorType>(value.getType());
  return static_cast<int64_t>(dim) < type.getRank() ? type.getDimSize(dim)
                                                    : kDyn;
}

/// Product of two dims, unknown when either is.
static int64_t mulDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) ? kDyn : a * b;
}

//===----------------------------------------------------------------------===//
// LayerOp
//===----------------------------------------------------------------------===//

int64_t LayerOp::getNumExperts() {
  return dimOf(getRouterWeight() ? getRouterWeight() : getRouterLogits(), 1);
}

LogicalResult LayerOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyShape(op, "input", getInput(), "[T, d]", {kDyn, kDyn})))
    return failure();
  int64_t d = dimOf(getInput(), 1);
  Type elementType = getElementTypeOrSelf(getInput().getType());

  if ((getRouterWeight() != nullptr) == (getRouterLogits() != nullptr))
    return emitOpError("exactly one of 'router_weight' and 'router_logits' "
                       "must be given");
  StringRef routerName = getRouterWeight() ? "router_weight" : "router_logits";
  if (getRouterWeight() &&
      failed(verifyShape(op, routerName, getRouterWeight(), "[d, E]",
                         {d, kDyn})))
    return failure();
  if (getRouterLogits() &&
      failed(verifyShape(op, routerName, getRouterLogits(), "[T, E]",
                         {dimOf(getInput(), 0), kDyn})))
    return failure();
  int64_t numExperts = getNumExperts();
  if (ShapedType::isDynamic(numExperts))
    return emitOpError() << "the number of experts (dim 1 of '" << routerName
                         << "') must be static";
  if (failed(verifyShape(op, "w1", getW1(), "[E, d, f]",
                         {numExperts, d, kDyn})))
    return failure();
  int64_t f = dimOf(getW1(), 2);

  ActivationAttr activation = getActivation();
  if (activation.isGated() && !getW3())
    return emitOpError() << "the " << stringifyActivationKind(
                                          activation.getKind())
                         << " activation is gated and needs 'w3' (the up "
                            "projection)";
  if (!activation.isGated() && getW3())
    return emitOpError() << "'w3' is only valid with a gated activation, not "
                         << stringifyActivationKind(activation.getKind());
  if (getB3() && !getW3())
    return emitOpError("'b3' needs 'w3'");

  RoutingAttr routing = getRouting();
  if (getCorrectionBias() && routing.getKind() != RoutingKind::SigmoidTopK)
    return emitOpError("'correction_bias' is only valid with sigmoid_topk "
                       "routing");

  // Every shape an operand must have, given d, E and f.
  struct Expected {
    StringRef name;
    Value value;
    StringRef dimNames;
    SmallVector<int64_t> dims;
  };
  int64_t fs = getSharedW1() ? dimOf(getSharedW1(), 1) : kDyn;
  SmallVector<Expected> expected = {
      {"router_bias", getRouterBias(), "[E]", {numExperts}},
      {"correction_bias", getCorrectionBias(), "[E]", {numExperts}},
      {"w3", getW3(), "[E, d, f]", {numExperts, d, f}},
      {"w2", getW2(), "[E, f, d]", {numExperts, f, d}},
      {"b1", getB1(), "[E, f]", {numExperts, f}},
      {"b3", getB3(), "[E, f]", {numExperts, f}},
      {"b2", getB2(), "[E, d]", {numExperts, d}},
      {"shared_w1", getSharedW1(), "[d, fs]", {d, kDyn}},
      {"shared_w3", getSharedW3(), "[d, fs]", {d, fs}},
      {"shared_w2", getSharedW2(), "[fs, d]", {fs, d}},
      {"shared_gate", getSharedGate(), "[d, 1]", {d, 1}},
  };
  for (const Expected &e : expected) {
    if (!e.value)
      continue;
    if (failed(verifyShape(op, e.name, e.value, e.dimNames, e.dims)) ||
        failed(verifyElementType(op, e.name, e.value, elementType, "input")))
      return failure();
  }
  if (failed(verifyElementType(op, routerName,
                               getRouterWeight() ? getRouterWeight()
                                                 : getRouterLogits(),
                               elementType, "input")) ||
      failed(verifyElementType(op, "w1", getW1(), elementType, "input")))
    return failure();

  bool hasShared = getSharedW1() || getSharedW2() || getSharedW3() ||
                   getSharedGate();
  if (hasShared && (!getSharedW1() || !getSharedW2()))
    return emitOpError("a shared expert needs both 'shared_w1' and "
                       "'shared_w2'");
  if (getSharedW1() && activation.isGated() != (getSharedW3() != nullptr))
    return emitOpError("'shared_w3' must be given exactly when the "
                       "activation is gated");

  if (failed(routing.verifyForExperts([&] { return emitOpError(); },
                                      numExperts)))
    return failure();

  if (getOutput().getType() != getInput().getType())
    return emitOpError() << "result type " << getOutput().getType()
                         << " must equal the input type "
                         << getInput().getType();
  return success();
}

namespace {
/// Softmax routing that selects every expert is the dense mixture; stating
/// it as such lets later passes skip selection and permutation.
template <typename OpTy>
struct CanonicalizeDenseRouting : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    RoutingAttr routing = op.getRouting();
    int64_t numExperts = getNumExperts(op);
    if (routing.getKind() == RoutingKind::Dense ||
        !routing.isDenseEquivalent(numExperts))
      return rewriter.notifyMatchFailure(op, "not a dense mixture in disguise");
    auto dense = RoutingAttr::get(op.getContext(), RoutingKind::Dense,
                                  numExperts, /*renormalize=*/false,
                                  routing.getScaleValue());
    rewriter.modifyOpInPlace(op, [&] { op.setRoutingAttr(dense); });
    return success();
  }

  static int64_t getNumExperts(LayerOp op) { return op.getNumExperts(); }
  static int64_t getNumExperts(RouteOp op) { return op.getNumExperts(); }
};
} // namespace

void LayerOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<CanonicalizeDenseRouting<LayerOp>>(context);
}

//===----------------------------------------------------------------------===//
// RouteOp
//===----------------------------------------------------------------------===//

int64_t RouteOp::getNumExperts() {
  int64_t columns = dimOf(getRouter() ? getRouter() : getInput(), 1);
  return ShapedType::isDynamic(columns) ? columns
                                        : columns - (getSharedGate() ? 1 : 0);
}

LogicalResult RouteOp::verify() {
  Operation *op = getOperation();
  int64_t shared = getSharedExperts();
  bool gated = getSharedGate();
  if (shared < 0)
    return emitOpError() << "'shared_experts' must be non-negative, but is "
                         << shared;
  if (gated && shared == 0)
    return emitOpError("'gated' needs shared experts (shared(m), m >= 1)");
  // Logit columns: E, or E + 1 with the shared experts' gate last.
  StringRef columnsLabel = gated ? "E + 1" : "E";
  int64_t columns;
  if (Value router = getRouter()) {
    // Fused gating: input [T, d] . router [d, E] (+ router_bias [E]).
    if (failed(verifyShape(op, "input", getInput(), "[T, d]", {kDyn, kDyn})) ||
        failed(verifyShape(op, "router", router,
                           ("[d, " + columnsLabel + "]").str(),
                           {dimOf(getInput(), 1), kDyn})))
      return failure();
    columns = dimOf(router, 1);
    if (ShapedType::isDynamic(columns))
      return emitOpError("the number of experts (dim 1 of 'router') must be "
                         "static");
    if (getRouterBias() &&
        failed(verifyShape(op, "router_bias", getRouterBias(),
                           ("[" + columnsLabel + "]").str(), {columns})))
      return failure();
  } else {
    if (getRouterBias())
      return emitOpError("'router_bias' needs 'router' (add a bias to given "
                         "logits before routing)");
    if (failed(verifyShape(op, "input", getInput(),
                           ("[T, " + columnsLabel + "]").str(), {kDyn, kDyn})))
      return failure();
    columns = dimOf(getInput(), 1);
    if (ShapedType::isDynamic(columns))
      return emitOpError("the number of experts (dim 1 of the logits) must "
                         "be static");
  }
  if (gated && columns < 2)
    return emitOpError() << "with a shared gate the logits need E + 1 >= 2 "
                            "columns, but have "
                         << columns;
  int64_t numExperts = getNumExperts();
  int64_t numTokens = dimOf(getInput(), 0);
  RoutingAttr routing = getRouting();
  if (routing.getKind() == RoutingKind::ExpertChoice)
    return emitOpError("expert_choice routing picks tokens per expert, not "
                       "experts per token; it is only valid on moe.layer");
  if (routing.getCapacityFactorValue() != 0.0)
    return emitOpError("capacity limits drop assignments across tokens; they "
                       "are only valid on moe.layer");
  if (failed(routing.verifyForExperts([&] { return emitOpError(); },
                                      numExperts)))
    return failure();
  if (getCorrectionBias()) {
    if (routing.getKind() != RoutingKind::SigmoidTopK)
      return emitOpError("'correction_bias' is only valid with sigmoid_topk "
                         "routing");
    if (failed(verifyShape(op, "correction_bias", getCorrectionBias(), "[E]",
                           {numExperts})))
      return failure();
  }
  StringRef slotsLabel = shared ? "[T, k + m]" : "[T, k]";
  if (failed(verifyShape(op, "expert_ids", getExpertIds(), slotsLabel,
                         {numTokens, getNumSlots()})) ||
      failed(verifyShape(op, "weights", getWeights(), slotsLabel,
                         {numTokens, getNumSlots()})))
    return failure();
  Type elementType = getElementTypeOrSelf(getInput().getType());
  if (failed(verifyElementType(op, "weights", getWeights(), elementType,
                               "input")))
    return failure();
  for (auto [name, value] :
       {std::pair<StringRef, Value>{"correction_bias", getCorrectionBias()},
        {"router", getRouter()},
        {"router_bias", getRouterBias()}})
    if (value &&
        failed(verifyElementType(op, name, value, elementType, "input")))
      return failure();
  return success();
}

void RouteOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<CanonicalizeDenseRouting<RouteOp>>(context);
}

//===----------------------------------------------------------------------===//
// PermuteOp
//===----------------------------------------------------------------------===//

LogicalResult PermuteOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyShape(op, "input", getInput(), "[T, d]", {kDyn, kDyn})))
    return failure();
  int64_t numTokens = dimOf(getInput(), 0);
  int64_t d = dimOf(getInput(), 1);
  if (failed(verifyShape(op, "expert_ids", getExpertIds(), "[T, k]",
                         {numTokens, kDyn})))
    return failure();
  int64_t k = dimOf(getExpertIds(), 1);
  int64_t n = mulDims(numTokens, k);
  if (failed(verifyShape(op, "offsets", getOffsets(), "[E + 1]", {kDyn})))
    return failure();
  int64_t numOffsets = dimOf(getOffsets(), 0);
  if (ShapedType::isDynamic(numOffsets) || numOffsets < 2)
    return emitOpError() << "'offsets' must have a static size E + 1 >= 2, "
                            "but is "
                         << getOffsets().getType();
  if (failed(verifyShape(op, "rows", getRows(), "[T * k, d]", {n, d})) ||
      failed(verifyShape(op, "assignments", getAssignments(), "[T * k]",
                         {n})) ||
      failed(verifyShape(op, "inverse", getInverse(), "[T, k]",
                         {numTokens, k})))
    return failure();
  if (failed(verifyElementType(op, "rows", getRows(),
                               getElementTypeOrSelf(getInput().getType()),
                               "input")))
    return failure();
  Type indexType = getElementTypeOrSelf(getExpertIds().getType());
  for (auto [name, value] :
       {std::pair<StringRef, Value>{"assignments", getAssignments()},
        {"offsets", getOffsets()},
        {"inverse", getInverse()}})
    if (failed(verifyElementType(op, name, value, indexType, "expert_ids")))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// GroupedMatmulOp
//===----------------------------------------------------------------------===//

LogicalResult GroupedMatmulOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyShape(op, "rows", getRows(), "[N, K]", {kDyn, kDyn})))
    return failure();
  int64_t n = dimOf(getRows(), 0);
  int64_t kDim = dimOf(getRows(), 1);
  if (failed(verifyShape(op, "weights", getWeights(), "[E, K, M]",
                         {kDyn, kDim, kDyn})))
    return failure();
  int64_t numExperts = dimOf(getWeights(), 0);
  int64_t m = dimOf(getWeights(), 2);
  if (ShapedType::isDynamic(numExperts))
    return emitOpError("the number of experts (dim 0 of 'weights') must be "
                       "static");
  if (failed(verifyShape(op, "offsets", getOffsets(), "[E + 1]",
                         {numExperts + 1})))
    return failure();
  if (getBias() &&
      failed(verifyShape(op, "bias", getBias(), "[E, M]", {numExperts, m})))
    return failure();

  // A fused combine: result rows are the [T, k] combine's tokens.
  int64_t resultRows = n;
  if (bool(getCombineWeights()) != bool(getCombineInverse()))
    return emitOpError("a combine needs both its weights and its inverse");
  if (getCombineWeights()) {
    if (failed(verifyShape(op, "combine weights", getCombineWeights(),
                           "[T, k]", {kDyn, kDyn})))
      return failure();
    int64_t numTokens = dimOf(getCombineWeights(), 0);
    int64_t k = dimOf(getCombineWeights(), 1);
    if (failed(verifyShape(op, "combine inverse", getCombineInverse(),
                           "[T, k]", {numTokens, k})) ||
        failed(verifyShape(op, "rows", getRows(), "[T * k, K]",
                           {mulDims(numTokens, k), kDim})))
      return failure();
    resultRows = numTokens;
  }

  int64_t resultCols = m;
  ActivationAttr activation = getActivationAttr();
  if (activation && activation.isGated()) {
    if (ShapedType::isDynamic(m) || m % 2 != 0)
      return emitOpError() << "a gated activation needs a static, even number "
                              "of weight columns (gate then up), got "
                           << formatDims({m});
    resultCols = m / 2;
  }
  bool gated = activation && activation.isGated();
  const char *resultShape = getCombineWeights()
                                ? (gated ? "[T, M / 2]" : "[T, M]")
                                : (gated ? "[N, M / 2]" : "[N, M]");
  if (failed(verifyShape(op, "result", getResult(), resultShape,
                         {resultRows, resultCols})))
    return failure();
  Type elementType = getElementTypeOrSelf(getRows().getType());
  if (failed(verifyElementType(op, "weights", getWeights(), elementType,
                               "rows")) ||
      (getBias() && failed(verifyElementType(op, "bias", getBias(),
                                             elementType, "rows"))) ||
      failed(verifyElementType(op, "result", getResult(), elementType,
                               "rows")) ||
      (getCombineWeights() &&
       failed(verifyElementType(op, "combine weights", getCombineWeights(),
                                elementType, "rows"))))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// CombineOp
//===----------------------------------------------------------------------===//

LogicalResult CombineOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyShape(op, "weights", getWeights(), "[T, k]",
                         {kDyn, kDyn})))
    return failure();
  int64_t numTokens = dimOf(getWeights(), 0);
  int64_t k = dimOf(getWeights(), 1);
  if (failed(verifyShape(op, "rows", getRows(), "[T * k, d]",
                         {mulDims(numTokens, k), kDyn})))
    return failure();
  int64_t d = dimOf(getRows(), 1);
  if (failed(verifyShape(op, "inverse", getInverse(), "[T, k]",
                         {numTokens, k})) ||
      failed(verifyShape(op, "output", getOutput(), "[T, d]",
                         {numTokens, d})))
    return failure();
  Type elementType = getElementTypeOrSelf(getRows().getType());
  if (failed(verifyElementType(op, "weights", getWeights(), elementType,
                               "rows")) ||
      failed(verifyElementType(op, "output", getOutput(), elementType,
                               "rows")))
    return failure();
  return success();
}

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/IR/MoEOps.cpp.inc"
