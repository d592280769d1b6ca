//===- Decompose.cpp - moe.layer into route/permute/matmuls/combine -------===//
//
// The moe-decompose pass: each layer the decomposed ops can state becomes
// the kernels' sequence. The router matmul stays an upstream linalg.matmul
// (moe-fuse-gating will fold it into the route); gate and up weights are
// concatenated at compile time so one grouped matmul computes both. A
// shared expert becomes always-selected experts that moe.route appends to
// each token's choice (its gate one more router column), so the gating
// stays one op and one kernel.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir::moe {
#define GEN_PASS_DEF_MOEDECOMPOSEPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// [a | b] along `axis` (static shapes: weights and biases).
Value concatAlong(PatternRewriter &rewriter, Location loc, Value a, Value b,
                  int64_t axis) {
  auto aType = cast<RankedTensorType>(a.getType());
  auto bType = cast<RankedTensorType>(b.getType());
  SmallVector<int64_t> shape(aType.getShape());
  shape[axis] += bType.getDimSize(axis);
  Value result = tensor::EmptyOp::create(rewriter, loc, shape,
                                         aType.getElementType());
  SmallVector<OpFoldResult> offsets(aType.getRank(), rewriter.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(aType.getRank(), rewriter.getIndexAttr(1));
  auto sizes = [&](RankedTensorType type) {
    SmallVector<OpFoldResult> result;
    for (int64_t dim : type.getShape())
      result.push_back(rewriter.getIndexAttr(dim));
    return result;
  };
  result = tensor::InsertSliceOp::create(rewriter, loc, a, result, offsets,
                                         sizes(aType), strides);
  offsets[axis] = rewriter.getIndexAttr(aType.getDimSize(axis));
  return tensor::InsertSliceOp::create(rewriter, loc, b, result, offsets,
                                       sizes(bType), strides);
}

Value concatLast(PatternRewriter &rewriter, Location loc, Value a, Value b) {
  return concatAlong(rewriter, loc, a, b,
                     cast<RankedTensorType>(a.getType()).getRank() - 1);
}

/// Zeros of a static shape.
Value zeros(PatternRewriter &rewriter, Location loc, ArrayRef<int64_t> shape,
            Type elementType) {
  auto type = RankedTensorType::get(shape, elementType);
  return arith::ConstantOp::create(
      rewriter, loc,
      DenseElementsAttr::get(type, rewriter.getZeroAttr(elementType)));
}

/// `value` grown to `shape` with zeros after its elements.
Value padWithZeros(PatternRewriter &rewriter, Location loc, Value value,
                   ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == shape)
    return value;
  Value result = zeros(rewriter, loc, shape, type.getElementType());
  SmallVector<OpFoldResult> offsets(type.getRank(), rewriter.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), rewriter.getIndexAttr(1));
  SmallVector<OpFoldResult> sizes;
  for (int64_t dim : type.getShape())
    sizes.push_back(rewriter.getIndexAttr(dim));
  return tensor::InsertSliceOp::create(rewriter, loc, value, result, offsets,
                                       sizes, strides);
}

Value zerosLike(PatternRewriter &rewriter, Location loc, Value like) {
  auto type = cast<RankedTensorType>(like.getType());
  return arith::ConstantOp::create(
      rewriter, loc,
      DenseElementsAttr::get(type, rewriter.getFloatAttr(type.getElementType(),
                                                          0.0)));
}

/// A shared expert of width fs, stated as m = ceil(fs / f) more experts of
/// the routed width f that every token selects. SwiGLU and the other
/// activations act elementwise over f, so the shared FFN is the sum of its
/// column chunks' FFNs; zero columns pad the last chunk and, meeting zero
/// rows of the down projection, add nothing.
struct SharedChunks {
  int64_t count = 0;
  Value w1, w3, w2; // [m, d, f], [m, d, f], [m, f, d]
};

SharedChunks chunkSharedExpert(PatternRewriter &rewriter, Location loc,
                               LayerOp op, int64_t f) {
  SharedChunks chunks;
  auto w1Type = cast<RankedTensorType>(op.getSharedW1().getType());
  int64_t d = w1Type.getDimSize(0), fs = w1Type.getDimSize(1);
  int64_t m = (fs + f - 1) / f;
  chunks.count = m;
  Type elementType = w1Type.getElementType();
  auto inChunks = [&](Value w) -> Value {
    if (!w)
      return Value();
    Value padded = padWithZeros(rewriter, loc, w, {d, m * f});
    Value split = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({d, m, f}, elementType), padded,
        ArrayRef<ReassociationIndices>{{0}, {1, 2}});
    Value init = tensor::EmptyOp::create(rewriter, loc,
                                         ArrayRef<int64_t>{m, d, f},
                                         elementType);
    return linalg::TransposeOp::create(rewriter, loc, split, init,
                                       ArrayRef<int64_t>{1, 0, 2})
        .getResult()[0];
  };
  chunks.w1 = inChunks(op.getSharedW1());
  chunks.w3 = inChunks(op.getSharedW3());
  Value w2 = padWithZeros(rewriter, loc, op.getSharedW2(), {m * f, d});
  chunks.w2 = tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get({m, f, d}, elementType), w2,
      ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  return chunks;
}

/// [T, k] ++ [T, m] along dim 1, where column k + j of the right part is
/// `right(b, t, j)`.
Value appendColumns(PatternRewriter &rewriter, Location loc, Value left,
                    Value tokens, int64_t m,
                    function_ref<Value(OpBuilder &, Location, Value, Value)>
                        right) {
  auto type = cast<RankedTensorType>(left.getType());
  int64_t k = type.getDimSize(1);
  Type elementType = type.getElementType();
  auto wideType = RankedTensorType::get({ShapedType::kDynamic, k + m},
                                        elementType);
  auto partType = RankedTensorType::get({ShapedType::kDynamic, m}, elementType);
  MLIRContext *context = rewriter.getContext();
  Value partInit = tensor::EmptyOp::create(rewriter, loc, partType, tokens);
  Value part =
      linalg::GenericOp::create(
          rewriter, loc, TypeRange{partType}, ValueRange{},
          ValueRange{partInit},
          ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(2, context)},
          ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                        utils::IteratorType::parallel},
          [&](OpBuilder &b, Location l, ValueRange) {
            Value t = linalg::IndexOp::create(b, l, 0);
            Value j = linalg::IndexOp::create(b, l, 1);
            linalg::YieldOp::create(b, l, right(b, l, t, j));
          })
          .getResult(0);
  Value wide = tensor::EmptyOp::create(rewriter, loc, wideType, tokens);
  OpFoldResult zero = rewriter.getIndexAttr(0), one = rewriter.getIndexAttr(1);
  wide = tensor::InsertSliceOp::create(
      rewriter, loc, left, wide, {zero, zero}, {tokens, rewriter.getIndexAttr(k)},
      {one, one});
  return tensor::InsertSliceOp::create(
      rewriter, loc, part, wide, {zero, rewriter.getIndexAttr(k)},
      {tokens, rewriter.getIndexAttr(m)}, {one, one});
}

struct DecomposeLayer : OpRewritePattern<LayerOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LayerOp op,
                                PatternRewriter &rewriter) const override {
    RoutingAttr routing = op.getRouting();
    if (routing.getKind() == RoutingKind::ExpertChoice ||
        routing.getCapacityFactorValue() != 0.0)
      return rewriter.notifyMatchFailure(op, "routing couples tokens");
    if (op.getGateOnInput())
      return rewriter.notifyMatchFailure(op, "gate applied to the input");
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    Type elementType = xType.getElementType();
    int64_t numExperts = op.getNumExperts(), k = routing.getK();
    Value tokens = tensor::DimOp::create(rewriter, loc, x, 0);

    // The experts' weights; a shared expert joins as always-selected
    // experts E, E + 1, ... of the routed width, which moe.route appends to
    // every token's choice.
    ActivationAttr activation = op.getActivation();
    Value w1 = op.getW1(), w3 = op.getW3(), w2 = op.getW2();
    Value b1 = op.getB1(), b3 = op.getB3(), b2 = op.getB2();
    int64_t d = xType.getDimSize(1);
    int64_t f = cast<RankedTensorType>(w2.getType()).getDimSize(1);
    int64_t numShared = 0;
    if (op.hasSharedExpert()) {
      SharedChunks shared = chunkSharedExpert(rewriter, loc, op, f);
      numShared = shared.count;
      auto withZeros = [&](Value bias, int64_t width) -> Value {
        return bias ? concatAlong(rewriter, loc, bias,
                                  zeros(rewriter, loc, {numShared, width},
                                        elementType),
                                  0)
                    : Value();
      };
      w1 = concatAlong(rewriter, loc, w1, shared.w1, 0);
      if (w3)
        w3 = concatAlong(rewriter, loc, w3, shared.w3, 0);
      w2 = concatAlong(rewriter, loc, w2, shared.w2, 0);
      b1 = withZeros(b1, f);
      b3 = withZeros(b3, f);
      b2 = withZeros(b2, d);
    }
    // Qwen2-MoE's shared-expert gate [d, 1] is one more router column: its
    // logit sits last, and moe.route turns it into the shared weight.
    Value sharedGate = numShared ? op.getSharedGate() : Value();
    int64_t columns = numExperts + (sharedGate ? 1 : 0);

    // Router logits [T, E] (+ the shared gate's column).
    auto logitsType =
        RankedTensorType::get({ShapedType::kDynamic, columns}, elementType);
    auto matmulFromZero = [&](Value lhs, Value rhs,
                              RankedTensorType type) -> Value {
      Value init = tensor::EmptyOp::create(rewriter, loc, type, tokens);
      Value zero = arith::ConstantOp::create(
          rewriter, loc, rewriter.getFloatAttr(elementType, 0.0));
      init = linalg::FillOp::create(rewriter, loc, zero, init).getResult(0);
      return linalg::MatmulOp::create(rewriter, loc, TypeRange{type},
                                      ValueRange{lhs, rhs}, ValueRange{init})
          .getResult(0);
    };
    Value logits = op.getRouterLogits();
    if (Value wr = op.getRouterWeight()) {
      if (sharedGate)
        wr = concatLast(rewriter, loc, wr, sharedGate);
      logits = matmulFromZero(x, wr, logitsType);
    } else if (sharedGate) {
      // Given logits: the gate's logit x . gate appended to them.
      Value gateLogits = matmulFromZero(
          x, sharedGate,
          RankedTensorType::get({ShapedType::kDynamic, 1}, elementType));
      logits = appendColumns(
          rewriter, loc, logits, tokens, 1,
          [&](OpBuilder &b, Location l, Value t, Value j) -> Value {
            return tensor::ExtractOp::create(b, l, gateLogits, ValueRange{t, j});
          });
    }
    if (Value bias = op.getRouterBias()) {
      if (sharedGate)
        bias = concatAlong(rewriter, loc, bias,
                           zeros(rewriter, loc, {1}, elementType), 0);
      auto type = cast<RankedTensorType>(logits.getType());
      Value init = tensor::EmptyOp::create(
          rewriter, loc, type,
          type.isDynamicDim(0) ? ValueRange{tokens} : ValueRange{});
      MLIRContext *context = rewriter.getContext();
      auto id = AffineMap::getMultiDimIdentityMap(2, context);
      auto row = AffineMap::get(2, 0, {getAffineDimExpr(1, context)}, context);
      logits = linalg::GenericOp::create(
                   rewriter, loc, TypeRange{type}, ValueRange{logits, bias},
                   ValueRange{init}, ArrayRef<AffineMap>{id, row, id},
                   ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                                 utils::IteratorType::parallel},
                   [](OpBuilder &b, Location l, ValueRange args) {
                     linalg::YieldOp::create(
                         b, l, arith::AddFOp::create(b, l, args[0], args[1])
                                   .getResult());
                   })
                   .getResult(0);
    }

    Type i32 = rewriter.getI32Type();
    int64_t slots = k + numShared;
    auto slotsType = [&](Type t) {
      return RankedTensorType::get({ShapedType::kDynamic, slots}, t);
    };
    auto route = RouteOp::create(
        rewriter, loc, slotsType(i32), slotsType(elementType), logits,
        /*router=*/Value(), /*router_bias=*/Value(), op.getCorrectionBias(),
        routing, numShared, /*shared_gate=*/sharedGate != nullptr);
    Value ids = route.getExpertIds(), weights = route.getWeights();
    // The compiler driver's layer number and profiled loads (Profile.cpp)
    // follow the layer onto its kernels.
    if (Attribute index = op->getAttr("moe.layer_index"))
      route->setAttr("moe.layer_index", index);
    auto loads = op->getAttrOfType<DenseI64ArrayAttr>("moe.expert_loads");
    // Shared chunks take every token: the busiest experts of all.
    if (loads && numShared) {
      SmallVector<int64_t> extended(loads.asArrayRef());
      extended.append(numShared, std::numeric_limits<int64_t>::max());
      loads = rewriter.getDenseI64ArrayAttr(extended);
    }
    numExperts += numShared;
    k = slots;

    auto dyn = ShapedType::kDynamic;
    auto permute = PermuteOp::create(
        rewriter, loc, RankedTensorType::get({dyn, d}, elementType),
        RankedTensorType::get({dyn}, i32),
        RankedTensorType::get({numExperts + 1}, i32),
        RankedTensorType::get({dyn, k}, i32), x, ids);

    // Gate and up weights side by side: one grouped matmul computes both,
    // the activation in its epilogue.
    if (activation.isGated()) {
      w1 = concatLast(rewriter, loc, w1, w3);
      if (b1 || b3)
        b1 = concatLast(rewriter, loc, b1 ? b1 : zerosLike(rewriter, loc, b3),
                        b3 ? b3 : zerosLike(rewriter, loc, b1));
    }
    auto hidden = GroupedMatmulOp::create(
        rewriter, loc, RankedTensorType::get({dyn, f}, elementType),
        permute.getRows(), w1, permute.getOffsets(), b1,
        activation.getKind() == ActivationKind::Identity ? ActivationAttr()
                                                         : activation);
    auto down = GroupedMatmulOp::create(
        rewriter, loc, RankedTensorType::get({dyn, d}, elementType), hidden,
        w2, permute.getOffsets(), b2, ActivationAttr());
    if (loads) {
      hidden->setAttr("moe.expert_loads", loads);
      down->setAttr("moe.expert_loads", loads);
    }
    Value out = CombineOp::create(rewriter, loc,
                                  RankedTensorType::get({dyn, d}, elementType),
                                  down, weights, permute.getInverse());
    if (out.getType() != op.getType())
      out = tensor::CastOp::create(rewriter, loc, op.getType(), out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct MoEDecomposePass
    : moe::impl::MoEDecomposePassBase<MoEDecomposePass> {
  void runOnOperation() override {
    int64_t before = 0;
    getOperation().walk([&](LayerOp) { ++before; });
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeLayer>(&getContext());
    // Only the layers change; nothing else is folded along the way.
    GreedyRewriteConfig config;
    config.enableFolding(false);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config)))
      return signalPassFailure();
    int64_t after = 0;
    getOperation().walk([&](LayerOp) { ++after; });
    numDecomposed += before - after;
  }
};

} // namespace
