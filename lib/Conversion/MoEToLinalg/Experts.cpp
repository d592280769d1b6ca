//===- Experts.cpp - Reference lowering of a whole MoE layer --------------===//
//
// moe.layer lowered densely: every expert runs on every token as a batched
// contraction over [E, T, ...], and the dense gate weights (0 for experts a
// token did not choose) mix the results. E/k times the work of a sparse
// execution, and obviously correct: this is the oracle.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

using utils::IteratorType;

Value lowering::buildActivation(ImplicitLocOpBuilder &b,
                              ActivationAttr activation, Value gate,
                              Value up) {
  Type type = gate.getType();
  auto silu = [&](Value x) -> Value {
    return arith::MulFOp::create(b, x, sigmoid(b, x));
  };
  switch (activation.getKind()) {
  case ActivationKind::Identity:
    return gate;
  case ActivationKind::Relu:
    return arith::MaximumFOp::create(b, gate, constF(b, type, 0.0));
  case ActivationKind::Gelu: {
    // 0.5 * x * (1 + erf(x / sqrt(2)))
    Value scaled =
        arith::MulFOp::create(b, gate, constF(b, type, 1.0 / std::sqrt(2.0)));
    Value onePlusErf = arith::AddFOp::create(b, constF(b, type, 1.0),
                                             math::ErfOp::create(b, scaled));
    Value half = arith::MulFOp::create(b, gate, constF(b, type, 0.5));
    return arith::MulFOp::create(b, half, onePlusErf);
  }
  case ActivationKind::GeluTanh: {
    // 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
    Value cube = arith::MulFOp::create(
        b, gate, arith::MulFOp::create(b, gate, gate));
    Value inner = arith::AddFOp::create(
        b, gate, arith::MulFOp::create(b, cube, constF(b, type, 0.044715)));
    Value scaled = arith::MulFOp::create(
        b, inner, constF(b, type, std::sqrt(2.0 / M_PI)));
    Value onePlusTanh = arith::AddFOp::create(b, constF(b, type, 1.0),
                                              math::TanhOp::create(b, scaled));
    Value half = arith::MulFOp::create(b, gate, constF(b, type, 0.5));
    return arith::MulFOp::create(b, half, onePlusTanh);
  }
  case ActivationKind::Silu:
    return silu(gate);
  case ActivationKind::SwiGLU:
    return arith::MulFOp::create(b, silu(gate), up);
  case ActivationKind::ClampedSwiGLU: {
    Value limit = constF(b, type, activation.getLimitValue());
    Value negLimit = constF(b, type, -activation.getLimitValue());
    Value g = arith::MinimumFOp::create(b, gate, limit);
    Value u = arith::MaximumFOp::create(
        b, arith::MinimumFOp::create(b, up, limit), negLimit);
    Value glu = arith::MulFOp::create(
        b, g,
        sigmoid(b, arith::MulFOp::create(
                       b, g, constF(b, type, activation.getAlphaValue()))));
    Value upPlus =
        arith::AddFOp::create(b, u, constF(b, type, activation.getBetaValue()));
    return arith::MulFOp::create(b, upPlus, glu);
  }
  }
  llvm_unreachable("unknown activation kind");
}

namespace {
/// Contraction `out[outDims] += lhs[lhsDims] * rhs[rhsDims]` whose last
/// loop is the reduction.
Value contract(TensorBuilder &tb, Value lhs, SmallVector<unsigned> lhsDims,
               Value rhs, SmallVector<unsigned> rhsDims, Value init,
               SmallVector<unsigned> outDims, unsigned numLoops) {
  SmallVector<IteratorType> iterators(numLoops, IteratorType::parallel);
  iterators.back() = IteratorType::reduction;
  return tb.generic({lhs, rhs}, init, {lhsDims, rhsDims, outDims}, iterators,
                    [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                      Value prod = arith::MulFOp::create(nb, args[0], args[1]);
                      return arith::AddFOp::create(nb, args[2], prod);
                    });
}

/// A tensor of `sizes` holding `bias` broadcast along the loops not in
/// `biasDims`, or zeros without a bias.
Value initWithBias(TensorBuilder &tb, ArrayRef<OpFoldResult> sizes,
                   Type elementType, Value bias,
                   SmallVector<unsigned> biasDims) {
  if (!bias)
    return tb.filled(sizes, elementType, 0.0);
  return tb.map({bias}, {biasDims}, tb.empty(sizes, elementType),
                [](ImplicitLocOpBuilder &, ValueRange args) {
                  return args[0];
                });
}

} // namespace

Value lowering::activateTensor(TensorBuilder &tb, ActivationAttr activation, Value gate,
               Value up) {
  unsigned rank = cast<RankedTensorType>(gate.getType()).getRank();
  SmallVector<unsigned> identity = llvm::to_vector(llvm::seq(0u, rank));
  SmallVector<Value> inputs = {gate};
  SmallVector<SmallVector<unsigned>> maps = {identity};
  if (up) {
    inputs.push_back(up);
    maps.push_back(identity);
  }
  SmallVector<OpFoldResult> sizes;
  for (unsigned d = 0; d < rank; ++d)
    sizes.push_back(tb.dim(gate, d));
  Value init = tb.empty(sizes, getElementTypeOrSelf(gate.getType()));
  return tb.map(inputs, maps, init,
                [&](ImplicitLocOpBuilder &nb, ValueRange args) {
                  return buildActivation(nb, activation, args[0],
                                         up ? args[1] : Value());
                });
}

/// The shared expert on every token: [T, d].
static Value buildSharedExpert(TensorBuilder &tb, LayerOp op) {
  Value x = op.getInput();
  Type elementType = getElementTypeOrSelf(x.getType());
  OpFoldResult numTokens = tb.dim(x, 0), d = tb.dim(x, 1);
  OpFoldResult fs = tb.dim(op.getSharedW1(), 1);
  // Loops (t, n, reduction).
  auto project = [&](Value w, OpFoldResult n) {
    Value init = tb.filled({numTokens, n}, elementType, 0.0);
    return contract(tb, x, {0, 2}, w, {2, 1}, init, {0, 1}, 3);
  };
  Value gate = project(op.getSharedW1(), fs);
  Value up = op.getSharedW3() ? project(op.getSharedW3(), fs) : Value();
  Value hidden = activateTensor(tb, op.getActivation(), gate, up);
  Value out = contract(tb, hidden, {0, 2}, op.getSharedW2(), {2, 1},
                       tb.filled({numTokens, d}, elementType, 0.0), {0, 1},
                       3);
  if (!op.getSharedGate())
    return out;
  // gate [T] = x @ shared_gate[:, 0]; the output is scaled by its sigmoid.
  Value gateVector = tensor::CollapseShapeOp::create(
      tb.builder(), op.getSharedGate(), ArrayRef<ReassociationIndices>{{0, 1}});
  Value gateLogit = contract(tb, x, {0, 1}, gateVector, {1},
                             tb.filled({numTokens}, elementType, 0.0), {0}, 2);
  return tb.map({out, gateLogit}, {{0, 1}, {0}},
                tb.empty({numTokens, d}, elementType),
                [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                  return arith::MulFOp::create(nb, args[0],
                                               sigmoid(nb, args[1]));
                });
}

Value lowering::buildRouterLogits(TensorBuilder &tb, Value x,
                                  Value routerWeight, Value routerBias) {
  Type elementType = getElementTypeOrSelf(x.getType());
  Value init = initWithBias(tb, {tb.dim(x, 0), tb.dim(routerWeight, 1)},
                            elementType, routerBias, {1});
  return contract(tb, x, {0, 2}, routerWeight, {2, 1}, init, {0, 1}, 3);
}

Value lowering::buildDenseLayer(TensorBuilder &tb, LayerOp op) {
  Value x = op.getInput();
  Type elementType = getElementTypeOrSelf(x.getType());
  OpFoldResult numTokens = tb.dim(x, 0), d = tb.dim(x, 1);
  OpFoldResult numExperts = tb.dim(op.getW1(), 0), f = tb.dim(op.getW1(), 2);

  // logits [T, E] = x @ router_weight (+ router_bias), or the given logits
  // (+ router_bias).
  Value logits;
  if (Value routerWeight = op.getRouterWeight()) {
    logits = buildRouterLogits(tb, x, routerWeight, op.getRouterBias());
  } else if (Value bias = op.getRouterBias()) {
    logits = tb.map({op.getRouterLogits(), bias}, {{0, 1}, {1}},
                    tb.empty({numTokens, numExperts}, elementType),
                    [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                      return arith::AddFOp::create(nb, args[0], args[1]);
                    });
  } else {
    logits = op.getRouterLogits();
  }
  DenseRouting routing = buildDenseRouting(tb, logits, op.getCorrectionBias(),
                                           op.getRouting());

  // Expert inputs: x for every expert, or x scaled by the gate [E, T, d].
  Value expertInput = x;
  SmallVector<unsigned> inputDims = {1, 3}; // loops (e, t, n, reduction)
  Value mix = routing.weights;
  if (op.getGateOnInput()) {
    expertInput = tb.map({x, routing.weights}, {{1, 2}, {1, 0}},
                         tb.empty({numExperts, numTokens, d}, elementType),
                         [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                           return arith::MulFOp::create(nb, args[0], args[1]);
                         });
    inputDims = {0, 1, 3};
    // The gate is already applied; chosen experts are mixed with weight 1.
    mix = tb.filled({numTokens, numExperts}, elementType, 1.0);
  }

  // hidden [E, T, f] = act(x @ w1[e] + b1[e], x @ w3[e] + b3[e]).
  auto project = [&](Value w, Value bias) {
    Value init = initWithBias(tb, {numExperts, numTokens, f}, elementType,
                              bias, {0, 2});
    return contract(tb, expertInput, inputDims, w, {0, 3, 2}, init,
                    {0, 1, 2}, 4);
  };
  Value gate = project(op.getW1(), op.getB1());
  Value up = op.getW3() ? project(op.getW3(), op.getB3()) : Value();
  Value hidden = activateTensor(tb, op.getActivation(), gate, up);

  // expertOut [E, T, d] = hidden @ w2[e] + b2[e].
  Value outInit = initWithBias(tb, {numExperts, numTokens, d}, elementType,
                               op.getB2(), {0, 2});
  Value expertOut = contract(tb, hidden, {0, 1, 3}, op.getW2(), {0, 3, 2},
                             outInit, {0, 1, 2}, 4);

  // out [T, d] = sum over chosen e of mix[t, e] * expertOut[e, t, :]
  // (+ the shared expert). Unchosen experts are skipped, not multiplied by
  // 0, so that their values cannot leak in as NaN.
  Value outAcc = op.hasSharedExpert()
                     ? buildSharedExpert(tb, op)
                     : tb.filled({numTokens, d}, elementType, 0.0);
  Value out = tb.generic(
      {mix, routing.selected, expertOut}, outAcc,
      {{0, 2}, {0, 2}, {2, 0, 1}, {0, 1}},
      {IteratorType::parallel, IteratorType::parallel,
       IteratorType::reduction},
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value sum = arith::AddFOp::create(
            nb, args[3], arith::MulFOp::create(nb, args[0], args[2]));
        return arith::SelectOp::create(nb, args[1], sum, args[3]);
      });
  RoutingAttr routingAttr = op.getRouting();
  if (routingAttr.getDropPolicy() != DropPolicy::Passthrough)
    return out;
  // Tokens whose every assignment was dropped pass their input through.
  Type i1 = tb.builder().getI1Type();
  Value anyKept = tb.generic(
      {routing.selected}, tb.filledInt({numTokens}, i1, 0), {{0, 1}, {0}},
      {IteratorType::parallel, IteratorType::reduction},
      [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        return arith::OrIOp::create(nb, args[1], args[0]);
      });
  return tb.map({out, anyKept, x}, {{0, 1}, {0}, {0, 1}},
                tb.empty({numTokens, d}, elementType),
                [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                  return arith::SelectOp::create(
                      nb, args[1], args[0],
                      arith::AddFOp::create(nb, args[0], args[2]));
                });
}
