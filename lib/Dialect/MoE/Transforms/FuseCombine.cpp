//===- FuseCombine.cpp - moe.combine into the grouped matmul's epilogue ---===//
//
// moe-fuse-combine: `moe.combine` of a `moe.grouped_matmul` result that
// has no other use becomes one grouped matmul with a combine clause; the
// runtime then adds each scaled row to its token's output row in the
// epilogue (slot by slot, so the sum order is moe.combine's) and the
// [T * k, d] rows of the down projection are never stored.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSECOMBINEPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

struct FuseCombine : OpRewritePattern<CombineOp> {
  FuseCombine(MLIRContext *context, int64_t &fused)
      : OpRewritePattern(context), fused(fused) {}

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    auto matmul = op.getRows().getDefiningOp<GroupedMatmulOp>();
    if (!matmul || matmul.getCombineWeights())
      return rewriter.notifyMatchFailure(op, "rows are not a grouped matmul");
    if (!matmul->hasOneUse())
      return rewriter.notifyMatchFailure(op, "the rows have other users");
    auto fusedOp = GroupedMatmulOp::create(
        rewriter, op.getLoc(), op.getOutput().getType(), matmul.getRows(),
        matmul.getWeights(), matmul.getOffsets(), matmul.getBias(),
        op.getWeights(), op.getInverse(), matmul.getActivationAttr());
    // Keep the driver's annotations (profiled expert loads).
    for (NamedAttribute attr : matmul->getDiscardableAttrs())
      fusedOp->setAttr(attr.getName(), attr.getValue());
    rewriter.replaceOp(op, fusedOp.getResult());
    rewriter.eraseOp(matmul);
    ++fused;
    return success();
  }

  int64_t &fused;
};

struct MoEFuseCombinePass
    : moe::impl::MoEFuseCombinePassBase<MoEFuseCombinePass> {
  void runOnOperation() override {
    int64_t fused = 0;
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseCombine>(&getContext(), fused);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    numFused += fused;
  }
};

} // namespace
