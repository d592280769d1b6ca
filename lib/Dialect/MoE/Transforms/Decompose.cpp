//===- Decompose.cpp - moe.layer into route/permute/matmuls/combine -------===//
//
// The moe-decompose pass: each layer the decomposed ops can state becomes
// the kernels' sequence. The router matmul stays an upstream linalg.matmul
// (moe-fuse-gating will fold it into the route); gate and up weights are
// concatenated at compile time so one grouped matmul computes both.
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

namespace mlir::moe {
#define GEN_PASS_DEF_MOEDECOMPOSEPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// [a | b] along the last dim (static shapes: weights and biases).
Value concatLast(PatternRewriter &rewriter, Location loc, Value a, Value b) {
  auto aType = cast<RankedTensorType>(a.getType());
  auto bType = cast<RankedTensorType>(b.getType());
  SmallVector<int64_t> shape(aType.getShape());
  int64_t last = aType.getRank() - 1;
  shape[last] += bType.getDimSize(last);
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
  offsets[last] = rewriter.getIndexAttr(aType.getDimSize(last));
  return tensor::InsertSliceOp::create(rewriter, loc, b, result, offsets,
                                       sizes(bType), strides);
}

Value zerosLike(PatternRewriter &rewriter, Location loc, Value like) {
  auto type = cast<RankedTensorType>(like.getType());
  return arith::ConstantOp::create(
      rewriter, loc,
      DenseElementsAttr::get(type, rewriter.getFloatAttr(type.getElementType(),
                                                          0.0)));
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
    if (op.hasSharedExpert())
      return rewriter.notifyMatchFailure(op, "shared expert");
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    Type elementType = xType.getElementType();
    int64_t numExperts = op.getNumExperts(), k = routing.getK();
    Value tokens = tensor::DimOp::create(rewriter, loc, x, 0);

    // Router logits [T, E].
    Value logits = op.getRouterLogits();
    if (Value wr = op.getRouterWeight()) {
      auto logitsType =
          RankedTensorType::get({ShapedType::kDynamic, numExperts}, elementType);
      Value init = tensor::EmptyOp::create(rewriter, loc, logitsType, tokens);
      Value zero = arith::ConstantOp::create(
          rewriter, loc, rewriter.getFloatAttr(elementType, 0.0));
      init = linalg::FillOp::create(rewriter, loc, zero, init).getResult(0);
      logits = linalg::MatmulOp::create(rewriter, loc, TypeRange{logitsType},
                                        ValueRange{x, wr}, ValueRange{init})
                   .getResult(0);
    }
    if (Value bias = op.getRouterBias()) {
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
    auto tk = [&](Type t) {
      return RankedTensorType::get({ShapedType::kDynamic, k}, t);
    };
    auto route = RouteOp::create(rewriter, loc, tk(i32), tk(elementType),
                                 logits, op.getCorrectionBias(), routing);
    int64_t d = xType.getDimSize(1);
    auto dyn = ShapedType::kDynamic;
    auto permute = PermuteOp::create(
        rewriter, loc, RankedTensorType::get({dyn, d}, elementType),
        RankedTensorType::get({dyn}, i32),
        RankedTensorType::get({numExperts + 1}, i32), tk(i32), x,
        route.getExpertIds());

    // Gate (and up) projection with the activation as epilogue.
    ActivationAttr activation = op.getActivation();
    Value w1 = op.getW1(), b1 = op.getB1();
    if (activation.isGated()) {
      Value w3 = op.getW3(), b3 = op.getB3();
      w1 = concatLast(rewriter, loc, w1, w3);
      if (b1 || b3)
        b1 = concatLast(rewriter, loc, b1 ? b1 : zerosLike(rewriter, loc, b3),
                        b3 ? b3 : zerosLike(rewriter, loc, b1));
    }
    int64_t f = cast<RankedTensorType>(op.getW2().getType()).getDimSize(1);
    auto hidden = GroupedMatmulOp::create(
        rewriter, loc, RankedTensorType::get({dyn, f}, elementType),
        permute.getRows(), w1, permute.getOffsets(), b1,
        activation.getKind() == ActivationKind::Identity ? ActivationAttr()
                                                         : activation);
    auto down = GroupedMatmulOp::create(
        rewriter, loc, RankedTensorType::get({dyn, d}, elementType), hidden,
        op.getW2(), permute.getOffsets(), op.getB2(), ActivationAttr());
    Value out = CombineOp::create(rewriter, loc,
                                  RankedTensorType::get({dyn, d}, elementType),
                                  down, route.getWeights(), permute.getInverse());
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
