//===- FuseGating.cpp - Router matmul into the routing op -----------------===//
//
// moe-fuse-gating: `moe.route` of logits that a router matmul (from zeros,
// plus an optional per-expert bias) computes becomes `moe.route` of the
// hidden states with the router operands, so the whole gating runs as one
// kernel (moe_cc_route_fused_f32) and the [T, E] logits are never stored.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSEGATINGPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// `value` = logits + bias[e] as a linalg.generic (what moe-decompose
/// builds for a router bias): returns the logits and sets `bias`.
Value stripBiasAdd(Value value, Value &bias) {
  auto generic = value.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 2 ||
      generic.getNumDpsInits() != 1 || generic->getNumResults() != 1)
    return value;
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  MLIRContext *context = generic.getContext();
  auto row = AffineMap::get(2, 0, {getAffineDimExpr(1, context)}, context);
  if (!maps[0].isIdentity() || maps[1] != row || !maps[2].isIdentity())
    return value;
  Block *body = generic.getBody();
  auto add = dyn_cast<arith::AddFOp>(body->getTerminator()->getOperand(0)
                                         .getDefiningOp());
  if (!add || body->getOperations().size() != 2)
    return value;
  Value a = body->getArgument(0), b = body->getArgument(1);
  if (!((add.getLhs() == a && add.getRhs() == b) ||
        (add.getLhs() == b && add.getRhs() == a)))
    return value;
  bias = generic.getDpsInputs()[1];
  return generic.getDpsInputs()[0];
}

struct FuseRouterMatmul : OpRewritePattern<RouteOp> {
  FuseRouterMatmul(MLIRContext *context, int64_t &fused)
      : OpRewritePattern(context), fused(fused) {}

  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getRouter())
      return rewriter.notifyMatchFailure(op, "already fused");
    Value bias;
    Value logits = stripBiasAdd(op.getInput(), bias);
    auto matmul = logits.getDefiningOp<linalg::MatmulOp>();
    if (!matmul || matmul.hasUserDefinedMaps())
      return rewriter.notifyMatchFailure(op, "logits are not a plain matmul");
    // Accumulating from zeros: x . router exactly.
    auto fill = matmul.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
    if (!fill || !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
      return rewriter.notifyMatchFailure(op, "the matmul does not start at 0");
    Value x = matmul.getInputs()[0], router = matmul.getInputs()[1];
    auto routerType = dyn_cast<RankedTensorType>(router.getType());
    if (!routerType || routerType.isDynamicDim(1) ||
        getElementTypeOrSelf(x.getType()) != routerType.getElementType())
      return rewriter.notifyMatchFailure(op, "router shape or type");
    auto fusedOp = RouteOp::create(
        rewriter, op.getLoc(), op.getExpertIds().getType(),
        op.getWeights().getType(), x, router, bias, op.getCorrectionBias(),
        op.getRouting(), op.getSharedExperts(), op.getSharedGate());
    // Keep the driver's annotations (the layer number of the statistics).
    for (NamedAttribute attr : op->getDiscardableAttrs())
      fusedOp->setAttr(attr.getName(), attr.getValue());
    rewriter.replaceOp(op, fusedOp.getResults());
    ++fused;
    return success();
  }

  int64_t &fused;
};

struct MoEFuseGatingPass
    : moe::impl::MoEFuseGatingPassBase<MoEFuseGatingPass> {
  void runOnOperation() override {
    int64_t fused = 0;
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseRouterMatmul>(&getContext(), fused);
    // The matmul, fill and bias add left without users go away.
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    numFused += fused;
  }
};

} // namespace
