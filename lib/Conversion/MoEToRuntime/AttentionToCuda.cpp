//===- AttentionToCuda.cpp - An attention block's ops to CUDA calls -------===//
//
// Part of convert-elementwise-to-cuda (Passes.td): the ops an attention
// block exports to, so that one before an MoE layer keeps its buffers on
// the device instead of staging the graph through host memory. On f32:
//   - onnx.matmul and onnx.gemm: cuBLAS calls (MatmulToCuda.cpp);
//   - onnx.softmax over the last axis: moe_cuda_cc_softmax_f32; of scores
//     plus a causal mask (Trilu of a -inf fill: torch's triu mask), one
//     call that leaves the masked columns out, the mask never built;
//   - onnx.transpose (rank <= 4): moe_cuda_cc_transpose_f32, unless it
//     moves constants (moe-fold-weights transposes weights at compile time)
//     or a matmul reads or writes it in place.
// The data movement around them (rotary embeddings, grouped-query
// attention) is DataMovementToCuda.cpp.
//
//===----------------------------------------------------------------------===//

#include "GraphOpsToCuda.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Replaces the softmax `op` over x's last axis by one call, with the
/// causal mask `mask` left out of x when given (never built).
void replaceBySoftmax(PatternRewriter &rewriter, onnx::SoftmaxOp op,
                      int32_t numThreads, Value x,
                      std::optional<CausalMaskMatch> mask) {
  RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
  SmallVector<Value> sizes = dimSizes(call, x);
  call.addInput(x);
  call.addI64(product(call, ArrayRef(sizes).drop_back()));
  call.addI64(sizes.back());
  if (mask) {
    call.addI64(sizes[sizes.size() - 2]);
    addCausalMask(call, *mask);
  } else {
    for (int i = 0; i < 4; ++i) // no mask: matrix rows 0, k, its dims
      call.addI64(int64_t(0));
  }
  call.addOutput(op.getResult(), sizes);
  rewriter.replaceOp(
      op, call.emit("moe_cc_softmax_f32",
                    describeGraphOp(op, mask ? "its causal mask must be "
                                               "[rows, cols] of the scores"
                                             : "")));
}

struct SoftmaxToCuda : RuntimePattern<onnx::SoftmaxOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::SoftmaxOp op,
                                PatternRewriter &rewriter) const override {
    if (!isLastAxisF32Softmax(op))
      return rewriter.notifyMatchFailure(op, "needs f32, the last axis");
    replaceBySoftmax(rewriter, op, numThreads, op.getInput(), /*mask=*/{});
    return success();
  }
};

/// softmax(scores + causal mask) over the last axis: one call that leaves
/// the masked columns out; the mask (a [T, T] matrix the host would fill
/// and upload each run: 64 MiB at T = 4096) is not built at all.
struct CausalSoftmaxToCuda : RuntimePattern<onnx::SoftmaxOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::SoftmaxOp op,
                                PatternRewriter &rewriter) const override {
    // (The mask is rank 2 and the scores have its shape: rank >= 2.)
    std::optional<CausalMaskMatch> mask = matchCausalMask(op.getInput());
    if (!isLastAxisF32Softmax(op) || !mask)
      return rewriter.notifyMatchFailure(op, "not softmax(x + causal mask)");
    Operation *add = op.getInput().getDefiningOp();
    replaceBySoftmax(rewriter, op, numThreads, mask->scores, mask);
    rewriter.eraseOp(add);
    return success();
  }
};

struct TransposeToCuda : RuntimePattern<onnx::TransposeOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::TransposeOp op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    if (!isF32(x) || type.getRank() > kMaxCudaRank)
      return rewriter.notifyMatchFailure(op, "needs f32 of rank <= 4");
    if (onlyConstants(x))
      return rewriter.notifyMatchFailure(
          op, "weights: moe-fold-weights transposes them at compile time");
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    SmallVector<Value> sizes = dimSizes(call, x);
    call.addInput(x);
    addRankAndDims(call, sizes);
    ArrayRef<int64_t> perm = op.getPerm();
    SmallVector<Value> outSizes;
    for (int64_t d = 0; d < kMaxCudaRank; ++d)
      call.addI64(d < type.getRank() ? perm[d] : 0);
    for (int64_t d : perm)
      outSizes.push_back(sizes[d]);
    call.addOutput(op.getResult(), outSizes);
    rewriter.replaceOp(
        op, call.emit("moe_cc_transpose_f32", describeGraphOp(op, "")));
    return success();
  }
};

} // namespace

std::optional<CausalMaskMatch> mlir::moe::matchCausalMask(Value sum) {
  auto add = sum.getDefiningOp<onnx::AddOp>();
  if (!add || !sum.hasOneUse())
    return std::nullopt;
  for (auto [scores, mask] : {std::pair(add.getLhs(), add.getRhs()),
                              std::pair(add.getRhs(), add.getLhs())}) {
    auto trilu = mask.getDefiningOp<onnx::TriluOp>();
    auto fill = trilu
                    ? trilu.getInput().getDefiningOp<onnx::ConstantOfShapeOp>()
                    : onnx::ConstantOfShapeOp();
    auto value = fill ? dyn_cast<FloatAttr>(fill.getValue()) : FloatAttr();
    // k: read at run time (a constant without a cache, the cache's length
    // + 1 with one), 0 when absent.
    if (!value || !trilu.getUpper() || !value.getValue().isInfinity() ||
        !value.getValue().isNegative() ||
        cast<RankedTensorType>(mask.getType()).getRank() != 2 ||
        scores.getType() != sum.getType())
      continue;
    return CausalMaskMatch{scores, fill.getShape(), trilu.getK()};
  }
  return std::nullopt;
}

bool mlir::moe::isLastAxisF32Softmax(onnx::SoftmaxOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  return isF32(op.getInput()) && type.getRank() >= 1 &&
         op.getAxis() == static_cast<uint64_t>(type.getRank() - 1);
}

void mlir::moe::addCausalMask(RuntimeCall &call, const CausalMaskMatch &mask) {
  ImplicitLocOpBuilder &b = call.builder();
  if (mask.k) {
    auto kType = cast<RankedTensorType>(mask.k.getType());
    SmallVector<Value> origin(kType.getRank(), call.index(0));
    call.addValue(tensor::ExtractOp::create(b, mask.k, origin));
  } else {
    call.addI64(int64_t(0));
  }
  for (int64_t i : {0, 1}) {
    Value dim =
        tensor::ExtractOp::create(b, mask.shape, ValueRange{call.index(i)});
    call.addI64(arith::IndexCastOp::create(b, b.getIndexType(), dim));
  }
}

void mlir::moe::populateFusedAttentionToCudaPatterns(
    RewritePatternSet &patterns, int32_t numThreads,
    const MatmulWeights &weights) {
  MLIRContext *context = patterns.getContext();
  populateMatmulToCudaPatterns(patterns, numThreads, weights,
                               /*fusedOnly=*/true);
  patterns.add<CausalSoftmaxToCuda>(context, numThreads, RuntimeTarget::CUDA);
  populateFusedDataMovementToCudaPatterns(patterns, numThreads);
}

void mlir::moe::populateAttentionToCudaPatterns(RewritePatternSet &patterns,
                                                int32_t numThreads,
                                                const MatmulWeights &weights) {
  MLIRContext *context = patterns.getContext();
  populateMatmulToCudaPatterns(patterns, numThreads, weights,
                               /*fusedOnly=*/false);
  patterns.add<SoftmaxToCuda, TransposeToCuda>(context, numThreads,
                                               RuntimeTarget::CUDA);
  populateDataMovementToCudaPatterns(patterns, numThreads);
}
