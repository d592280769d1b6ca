//===- RaiseStacked.cpp - Raise MoE layers with stacked expert weights ----===//
//
// The stacked-weight form (gpt-oss's reference MLPBlock and similar):
// expert weights live in [E, out, in] tensors gathered by the chosen ids and
// applied with Einsum, then the k expert outputs are mixed by the routing
// weights with one more Einsum:
//
//   w   = softmax(topk(x @ Wr^T + br).values)      ids = topk(...).indices
//   h   = einsum("beck,bk->bec", W1[ids], x) + b1[ids]        [T, k, 2f]
//   a   = clamped_swiglu(h[..., ::2], h[..., 1::2])          interleaved
//   y   = einsum("beck,bek->bec", W2[ids], a) + b2[ids]       [T, k, d]
//   out = einsum("bec,be->bc", y, w)
//
// Every piece is checked (equations, gathered constants, the activation's
// constants) before the einsum is replaced by moe.layer; the weights are
// split into gate/up and transposed to [E, in, out] by ops on constants.
//
//===----------------------------------------------------------------------===//

#include "RaiseStacked.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::raise;

namespace onnx = mlir::moe::onnx;

namespace {

/// The equation of `op` with its letters renamed in order of appearance
/// ("bec,be->bc" -> "abc,ab->ac"), so forms compare independently of the
/// letters the exporter chose.
std::string canonicalEquation(onnx::EinsumOp op) {
  std::string result, seen;
  for (char c : op.getEquation().str()) {
    if (!llvm::isAlpha(c)) {
      result += c;
      continue;
    }
    size_t pos = seen.find(c);
    if (pos == std::string::npos) {
      pos = seen.size();
      seen += c;
    }
    result += static_cast<char>('a' + pos);
  }
  return result;
}

/// constant[ids] along axis 0: the stacked constant.
std::optional<ElementsAttr> gatheredConstant(Value value, Value ids) {
  auto gather = value.getDefiningOp<onnx::GatherOp>();
  if (!gather || gather.getAxis() != 0 || gather.getIndices() != ids)
    return std::nullopt;
  return constantOf(gather.getInput());
}

/// einsum(W[ids], rhs) (+ b[ids]) with the given canonical equation.
struct StackedProjection {
  ElementsAttr weight, bias; // bias may be null
  Value input;
};
std::optional<StackedProjection> matchStackedProjection(Value value, Value ids,
                                                        StringRef equation) {
  StackedProjection projection;
  if (auto add = value.getDefiningOp<onnx::AddOp>()) {
    for (auto [e, b] : {std::pair(add.getLhs(), add.getRhs()),
                        std::pair(add.getRhs(), add.getLhs())}) {
      std::optional<ElementsAttr> bias = gatheredConstant(b, ids);
      if (bias && e.getDefiningOp<onnx::EinsumOp>()) {
        projection.bias = *bias;
        value = e;
        break;
      }
    }
  }
  auto einsum = value.getDefiningOp<onnx::EinsumOp>();
  if (!einsum || einsum.getInputs().size() != 2 ||
      canonicalEquation(einsum) != equation)
    return std::nullopt;
  std::optional<ElementsAttr> weight =
      gatheredConstant(einsum.getInputs()[0], ids);
  if (!weight)
    return std::nullopt;
  projection.weight = *weight;
  projection.input = einsum.getInputs()[1];
  return projection;
}

/// h[..., start::2] over the last axis.
Value interleavedHalf(Value value, int64_t start) {
  auto slice = value.getDefiningOp<onnx::SliceOp>();
  int64_t rank = cast<ShapedType>(slice ? slice.getInput().getType()
                                        : value.getType())
                     .getRank();
  if (!slice || slice.getAxes() != ArrayRef<int64_t>{rank - 1} ||
      !slice.getStarts() || !slice.getEnds() ||
      (*slice.getStarts())[0] != start || slice.getSteps()[0] != 2 ||
      (*slice.getEnds())[0] < std::numeric_limits<int32_t>::max())
    return {};
  return slice.getInput();
}

/// gpt-oss's clamped SwiGLU on interleaved columns of `h`:
/// g = min(h[::2], L); u = clamp(h[1::2], -L, L);
/// (g * sigmoid(alpha * g)) * (u + beta).
struct ClampedSwiGLU {
  Value input;
  double alpha, beta, limit;
};
std::optional<ClampedSwiGLU> matchClampedSwiGLU(Value value) {
  auto mul = value.getDefiningOp<onnx::MulOp>();
  if (!mul)
    return std::nullopt;
  for (auto [glu, lin] : {std::pair(mul.getLhs(), mul.getRhs()),
                          std::pair(mul.getRhs(), mul.getLhs())}) {
    // glu = g * sigmoid(g * alpha)
    auto gluMul = glu.getDefiningOp<onnx::MulOp>();
    auto linAdd = lin.getDefiningOp<onnx::AddOp>();
    if (!gluMul || !linAdd)
      continue;
    std::optional<double> beta = scalarOf(linAdd.getRhs());
    auto upClip = linAdd.getLhs().getDefiningOp<onnx::ClipOp>();
    for (auto [g, s] : {std::pair(gluMul.getLhs(), gluMul.getRhs()),
                        std::pair(gluMul.getRhs(), gluMul.getLhs())}) {
      auto sigmoid = s.getDefiningOp<onnx::SigmoidOp>();
      auto scaled = sigmoid ? sigmoid.getInput().getDefiningOp<onnx::MulOp>()
                            : onnx::MulOp();
      auto gateClip = g.getDefiningOp<onnx::ClipOp>();
      if (!scaled || !gateClip || !upClip || !beta)
        continue;
      std::optional<double> alpha =
          scaled.getLhs() == g ? scalarOf(scaled.getRhs())
                               : (scaled.getRhs() == g ? scalarOf(scaled.getLhs())
                                                       : std::nullopt);
      std::optional<double> limit = scalarOf(gateClip.getMax());
      std::optional<double> upMin = scalarOf(upClip.getMin());
      std::optional<double> upMax = scalarOf(upClip.getMax());
      if (!alpha || !limit || gateClip.getMin() || !upMin || !upMax ||
          *upMax != *limit || *upMin != -*limit)
        continue;
      Value gate = interleavedHalf(gateClip.getInput(), 0);
      Value up = interleavedHalf(upClip.getInput(), 1);
      if (!gate || gate != up)
        continue;
      return ClampedSwiGLU{gate, *alpha, *beta, *limit};
    }
  }
  return std::nullopt;
}

/// x @ Wr (+ br) as MatMul [+ Add] or Gemm(x, Wr^T, br): the router weight
/// is returned as [d, E] (transposed by an op on the constant if needed).
struct Router {
  Value hidden;
  ElementsAttr weight, bias;
  bool transposed = false;
};
std::optional<Router> matchRouter(Value logits) {
  Router router;
  if (auto gemm = logits.getDefiningOp<onnx::GemmOp>()) {
    std::optional<ElementsAttr> weight = constantOf(gemm.getB());
    std::optional<ElementsAttr> bias = constantOf(gemm.getC());
    if (!weight || gemm.getTransA() || gemm.getAlpha().convertToDouble() != 1.0 ||
        (gemm.getC() && (!bias || gemm.getBeta().convertToDouble() != 1.0 ||
                         cast<ShapedType>(bias->getType()).getRank() != 1)))
      return std::nullopt;
    router.hidden = gemm.getA();
    router.weight = *weight;
    router.bias = bias ? *bias : ElementsAttr();
    router.transposed = gemm.getTransB();
    return router;
  }
  if (auto add = logits.getDefiningOp<onnx::AddOp>()) {
    if (std::optional<ElementsAttr> bias = constantOf(add.getRhs())) {
      router.bias = *bias;
      logits = add.getLhs();
    }
  }
  auto matmul = logits.getDefiningOp<onnx::MatMulOp>();
  std::optional<ElementsAttr> weight =
      matmul ? constantOf(matmul.getRhs()) : std::nullopt;
  if (!weight)
    return std::nullopt;
  router.hidden = matmul.getLhs();
  router.weight = *weight;
  return router;
}

} // namespace

LogicalResult raise::raiseStacked(onnx::EinsumOp combine, OpBuilder &builder,
                                  MatchError &error) {
  if (canonicalEquation(combine) != "abc,ab->ac")
    return error.fail("not a mix of k expert outputs by the routing weights");
  Value expertOut = combine.getInputs()[0];
  Value weights = combine.getInputs()[1];
  auto softmax = weights.getDefiningOp<onnx::SoftmaxOp>();
  auto topk = softmax ? softmax.getInput().getDefiningOp<onnx::TopKOp>()
                      : onnx::TopKOp();
  if (!softmax || !topk || softmax.getInput() != topk.getValues() ||
      softmax.getAxis() != 1 || topk.getAxis() != 1 || !topk.getLargest())
    return error.fail("the routing weights are not a softmax over the top-k "
                      "logits");
  Value ids = topk.getIndices();
  std::optional<StackedProjection> down =
      matchStackedProjection(expertOut, ids, "abcd,abd->abc");
  if (!down)
    return error.fail("the expert outputs are not stacked down projections "
                      "of the chosen experts");
  std::optional<ClampedSwiGLU> act = matchClampedSwiGLU(down->input);
  if (!act)
    return error.fail("the experts' activation is not gpt-oss's clamped "
                      "SwiGLU");
  std::optional<StackedProjection> up =
      matchStackedProjection(act->input, ids, "abcd,ad->abc");
  if (!up)
    return error.fail("the experts' input is not a stacked projection of "
                      "the tokens");
  std::optional<Router> router = matchRouter(topk.getInput());
  if (!router || router->hidden != up->input)
    return error.fail("the router is not a projection of the experts' input");

  // Shapes: W1 [E, 2f, d], W2 [E, d, f], router [E, d] or [d, E].
  auto w1Type = cast<ShapedType>(up->weight.getType());
  auto w2Type = cast<ShapedType>(down->weight.getType());
  auto rType = cast<ShapedType>(router->weight.getType());
  int64_t numExperts = w1Type.getDimSize(0), d = w1Type.getDimSize(2);
  int64_t f = w1Type.getDimSize(1) / 2;
  int64_t routerExperts = rType.getDimSize(router->transposed ? 0 : 1);
  if (w1Type.getDimSize(1) % 2 != 0 ||
      w2Type.getShape() != ArrayRef<int64_t>{numExperts, d, f} ||
      routerExperts != numExperts)
    return error.fail("the stacked weights and the router disagree in shape");
  if (static_cast<int64_t>(topk.getK()) > numExperts)
    return error.fail("top-k picks more experts than there are");

  // Build: split interleaved gate/up, transpose to [E, in, out].
  Location loc = combine.getLoc();
  builder.setInsertionPoint(combine);
  auto constant = [&](ElementsAttr attr) {
    return constantValue(builder, loc, attr);
  };
  auto rows = [&](Value value, int64_t start) -> Value {
    auto type = cast<RankedTensorType>(value.getType());
    SmallVector<OpFoldResult> offsets(type.getRank(), builder.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(type.getRank(), builder.getIndexAttr(1));
    SmallVector<OpFoldResult> sizes;
    for (int64_t dim : type.getShape())
      sizes.push_back(builder.getIndexAttr(dim));
    offsets[1] = builder.getIndexAttr(start);
    sizes[1] = builder.getIndexAttr(type.getDimSize(1) / 2);
    strides[1] = builder.getIndexAttr(2);
    return tensor::ExtractSliceOp::create(builder, loc, value, offsets, sizes,
                                          strides);
  };
  auto transposeLast = [&](Value value) -> Value {
    auto type = cast<RankedTensorType>(value.getType());
    SmallVector<int64_t> perm =
        type.getRank() == 3 ? SmallVector<int64_t>{0, 2, 1}
                            : SmallVector<int64_t>{1, 0};
    SmallVector<int64_t> shape;
    for (int64_t p : perm)
      shape.push_back(type.getDimSize(p));
    return onnx::TransposeOp::create(builder, loc, type.clone(shape), value,
                                     builder.getDenseI64ArrayAttr(perm));
  };
  Value w13 = constant(up->weight);
  Value w1 = transposeLast(rows(w13, 0));
  Value w3 = transposeLast(rows(w13, 1));
  Value w2 = transposeLast(constant(down->weight));
  Value b1, b3;
  if (Value b13 = constant(up->bias)) {
    b1 = rows(b13, 0);
    b3 = rows(b13, 1);
  }
  Value b2 = constant(down->bias);
  Value routerWeight = constant(router->weight);
  if (router->transposed)
    routerWeight = transposeLast(routerWeight);
  MLIRContext *context = builder.getContext();
  auto routing = RoutingAttr::get(context, RoutingKind::TopKSoftmax,
                                  topk.getK(), /*renormalize=*/false);
  auto activation =
      ActivationAttr::get(context, ActivationKind::ClampedSwiGLU,
                          APFloat(act->alpha), APFloat(act->beta),
                          APFloat(act->limit));
  Value hidden = router->hidden;
  auto layer = LayerOp::create(
      builder, loc, hidden.getType(), hidden, routerWeight, Value(),
      constant(router->bias), Value(), w1, w3, w2, b1, b3, b2, Value(),
      Value(), Value(), Value(), routing, activation, /*gate_on_input=*/false);
  Value result = layer;
  if (result.getType() != combine.getType())
    result = tensor::CastOp::create(builder, loc, combine.getType(), result);
  combine.getResult().replaceAllUsesWith(result);
  return success();
}

//===----------------------------------------------------------------------===//
// Stacked weights applied with batched MatMul
//===----------------------------------------------------------------------===//
//
//   xs  = t[:, None, None, :]                                  [T, 1, 1, d]
//   h   = silu(xs @ W1[ids]) * (xs @ W3[ids])                  [T, k, 1, f]
//   y   = (h @ W2[ids]).squeeze(2)                             [T, k, d]
//   out = (y * w[..., None]).sum(1)
//

namespace {

/// lhs @ constant[ids] with a batched MatMul.
std::optional<std::pair<Value, ElementsAttr>> matchGatheredMatMul(Value value,
                                                                  Value ids) {
  auto matmul = value.getDefiningOp<onnx::MatMulOp>();
  if (!matmul)
    return std::nullopt;
  std::optional<ElementsAttr> weight = gatheredConstant(matmul.getRhs(), ids);
  if (!weight || cast<ShapedType>(weight->getType()).getRank() != 3)
    return std::nullopt;
  return std::pair(matmul.getLhs(), *weight);
}

/// t[:, None, None, :] -> t.
Value tokensOf(Value xs) {
  SmallVector<int64_t> axes;
  while (auto unsqueeze = xs.getDefiningOp<onnx::UnsqueezeOp>()) {
    llvm::append_range(axes, unsqueeze.getAxes());
    xs = unsqueeze.getInput();
  }
  llvm::sort(axes);
  return axes == SmallVector<int64_t>{1, 2} ? xs : Value();
}

} // namespace

LogicalResult raise::raiseStackedMatMul(onnx::ReduceSumOp combine,
                                        OpBuilder &builder, MatchError &error) {
  if (combine.getAxes() != ArrayRef<int64_t>{1} || combine.getKeepdims())
    return error.fail("not a sum over the k chosen experts");
  auto mul = combine.getInput().getDefiningOp<onnx::MulOp>();
  if (!mul)
    return error.fail("the summed expert outputs are not weighted");
  Value y, weights;
  for (auto [a, b] : {std::pair(mul.getLhs(), mul.getRhs()),
                      std::pair(mul.getRhs(), mul.getLhs())}) {
    auto unsqueeze = b.getDefiningOp<onnx::UnsqueezeOp>();
    if (unsqueeze && unsqueeze.getAxes() == ArrayRef<int64_t>{2}) {
      y = a;
      weights = unsqueeze.getInput();
    }
  }
  auto squeeze = y ? y.getDefiningOp<onnx::SqueezeOp>() : onnx::SqueezeOp();
  if (!squeeze || squeeze.getAxes() != ArrayRef<int64_t>{2})
    return error.fail("the weights do not scale [T, k, d] expert outputs");
  // The routing gives the ids every gather must use.
  auto div = weights.getDefiningOp<onnx::DivOp>();
  Value values = div ? div.getLhs() : weights;
  auto topk = values.getDefiningOp<onnx::TopKOp>();
  if (!topk)
    return error.fail("the weights are not top-k routing weights");
  FailureOr<Routing> routing = matchRouting(weights, topk.getIndices(), error);
  if (failed(routing))
    return failure();
  Value ids = topk.getIndices();
  auto down = matchGatheredMatMul(squeeze.getInput(), ids);
  if (!down)
    return error.fail("the expert outputs are not a batched MatMul by the "
                      "chosen experts' stacked weights");
  Value hidden = down->first;
  ElementsAttr w1, w3;
  ActivationKind kind;
  Value rowsGate, rowsUp;
  if (auto act = matchActivation(hidden)) {
    auto gate = matchGatheredMatMul(act->second, ids);
    if (!gate)
      return error.fail("the activation does not read a stacked projection");
    kind = act->first;
    rowsGate = gate->first;
    w1 = gate->second;
  } else if (auto product = hidden.getDefiningOp<onnx::MulOp>()) {
    bool matched = false;
    for (auto [a, u] : {std::pair(product.getLhs(), product.getRhs()),
                        std::pair(product.getRhs(), product.getLhs())}) {
      auto act = matchActivation(a);
      auto gate = act ? matchGatheredMatMul(act->second, ids) : std::nullopt;
      auto upProj = matchGatheredMatMul(u, ids);
      if (!act || act->first != ActivationKind::Silu || !gate || !upProj)
        continue;
      kind = ActivationKind::SwiGLU;
      rowsGate = gate->first;
      rowsUp = upProj->first;
      w1 = gate->second;
      w3 = upProj->second;
      matched = true;
      break;
    }
    if (!matched)
      return error.fail("the experts' hidden layer is not silu(x W1) * x W3");
  } else {
    return error.fail("the experts' hidden layer is not an activation");
  }
  if (rowsUp && rowsUp != rowsGate)
    return error.fail("the gate and up projections read different inputs");
  Value tokens = tokensOf(rowsGate);
  if (!tokens || tokens != routing->hidden)
    return error.fail("the experts do not read the router's tokens");
  auto w1Type = cast<ShapedType>(w1.getType());
  auto w2Type = cast<ShapedType>(down->second.getType());
  auto rType = cast<ShapedType>(routing->routerWeight.getType());
  int64_t numExperts = w1Type.getDimSize(0), d = w1Type.getDimSize(1),
          f = w1Type.getDimSize(2);
  if (w2Type.getShape() != ArrayRef<int64_t>{numExperts, f, d} ||
      (w3 && w3.getType() != w1.getType()) ||
      rType.getShape() != ArrayRef<int64_t>{d, numExperts})
    return error.fail("the stacked weights and the router disagree in shape");

  Location loc = combine.getLoc();
  builder.setInsertionPoint(combine);
  auto constant = [&](ElementsAttr attr) {
    return constantValue(builder, loc, attr);
  };
  MLIRContext *context = builder.getContext();
  auto routingAttr = RoutingAttr::get(context, RoutingKind::SoftmaxTopK,
                                      routing->k, routing->renormalize);
  auto activation = ActivationAttr::get(context, kind, APFloat(1.702),
                                        APFloat(1.0), APFloat(7.0));
  auto layer = LayerOp::create(
      builder, loc, tokens.getType(), tokens, constant(routing->routerWeight),
      Value(), constant(routing->routerBias), Value(), constant(w1),
      constant(w3), constant(down->second), Value(), Value(), Value(), Value(),
      Value(), Value(), Value(), routingAttr, activation,
      /*gate_on_input=*/false);
  Value result = layer;
  if (result.getType() != combine.getType())
    result = tensor::CastOp::create(builder, loc, combine.getType(), result);
  combine.getResult().replaceAllUsesWith(result);
  return success();
}
