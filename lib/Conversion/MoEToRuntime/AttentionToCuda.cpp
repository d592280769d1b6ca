//===- AttentionToCuda.cpp - An attention block's ops to CUDA calls -------===//
//
// Part of convert-elementwise-to-cuda (Passes.td): the ops an attention
// block exports to, so that one before an MoE layer keeps its buffers on
// the device instead of staging the graph through host memory. On f32:
//   - onnx.matmul (ranks 2 to 4, batch dims broadcast) and onnx.gemm
//     (its bias becomes an onnx.add, which the elementwise patterns take)
//     become moe_cuda_cc_matmul_f32 calls (cuBLAS; with 16-bit weight
//     storage, a constant weight in bf16/f16: _matmul_bf16w / _f16w, the
//     tensor-core GEMM); a scalar constant
//     dividing or multiplying a matmul's result (attention's
//     1/sqrt(head_dim)) rides in as its alpha: one pass over the scores
//     fewer;
//   - onnx.softmax over the last axis: moe_cuda_cc_softmax_f32; of scores
//     plus a causal mask (Trilu of a -inf fill: torch's triu mask), one
//     call that leaves the masked columns out, the mask never built;
//   - onnx.transpose (rank <= 4): moe_cuda_cc_transpose_f32, unless it
//     moves constants (moe-fold-weights transposes weights at compile time);
//   - onnx.slice along one axis and onnx.concat of up to 4 inputs (rotary
//     embeddings' rotate_half): moe_cuda_cc_slice_f32 / _concat_f32, blocks
//     of columns moved; their tables' f32 onnx.range (moe_cuda_cc_range_f32)
//     and outer-product onnx.einsum (a broadcast binary mul), so that the
//     cos/sin tables are built where they are used;
//   - onnx.expand (grouped-query attention's repeated k/v heads):
//     moe_cuda_cc_expand_f32, a gather with zero strides.
//
//===----------------------------------------------------------------------===//

#include "GraphOpsToCuda.h"

#include "moe/Conversion/Utils/TensorBuilder.h"
#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Whether `value` is an f32 tensor of rank 2 to kMaxCudaRank.
bool isMatmulOperand(Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  return isF32(value) && type.getRank() >= 2 && type.getRank() <= kMaxCudaRank;
}

/// alpha * op(a) . op(b) (numpy matmul; op transposes the last two dims)
/// of `op`'s result type, one moe_cuda_cc_matmul_* call at `op`; a
/// failure names `matmul` (the ONNX node the user knows). A constant b is
/// stored in `storage` when that is 16-bit (f16: if its values fit).
Value emitMatmul(PatternRewriter &rewriter, Operation *op, Operation *matmul,
                 int32_t numThreads, Value a, Value b, bool transA, bool transB,
                 double alpha, WeightStorage storage) {
  StringRef callee = "moe_cc_matmul_f32";
  if ((storage == WeightStorage::BF16 ||
       (storage == WeightStorage::F16 && fitsF16(b))) &&
      !onlyConstants(a))
    if (Value narrow = rowMajor16(rewriter, op->getLoc(), b, storage)) {
      b = narrow;
      callee = storage == WeightStorage::F16 ? "moe_cc_matmul_f16w"
                                             : "moe_cc_matmul_bf16w";
    }
  Value result = op->getResult(0);
  auto type = cast<RankedTensorType>(result.getType());
  int64_t rank = type.getRank();
  int64_t aRank = cast<RankedTensorType>(a.getType()).getRank(),
          bRank = cast<RankedTensorType>(b.getType()).getRank();
  RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
  call.addI32(transA);
  call.addI32(transB);
  call.addF32(alpha);
  for (Value operand : {a, b}) {
    preloadIfConstant(rewriter, op, operand, numThreads);
    call.addInput(operand);
    addRankAndDims(call, dimSizes(call, operand));
  }
  // Batch dims broadcast; then a's rows and b's columns.
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < rank - 2; ++d)
    sizes.push_back(
        type.isDynamicDim(d)
            ? broadcastSize(call, {a, b}, {aRank - 2, bRank - 2}, rank - 2, d)
            : call.index(type.getDimSize(d)));
  sizes.push_back(call.dim(a, transA ? aRank - 1 : aRank - 2));
  sizes.push_back(call.dim(b, transB ? bRank - 2 : bRank - 1));
  addRankAndDims(call, sizes);
  call.addOutput(result, sizes);
  return call
      .emit(callee,
            describeGraphOp(matmul, "its operands' shapes must multiply"))
      .front();
}

/// Whether a matmul of `a` and `b` into `result` can be a call: f32, ranks
/// 2 to 4, not of weights alone (a product of constants stays host code).
bool callableMatmul(Value a, Value b, Value result) {
  return isMatmulOperand(a) && isMatmulOperand(b) && isMatmulOperand(result) &&
         !(onlyConstants(a) && onlyConstants(b));
}

/// A pattern that emits matmuls: it knows how constant weights are stored.
template <typename OpTy> struct MatmulPattern : RuntimePattern<OpTy> {
  MatmulPattern(MLIRContext *context, int32_t numThreads, WeightStorage storage)
      : RuntimePattern<OpTy>(context, numThreads, RuntimeTarget::CUDA),
        storage(storage) {}
  WeightStorage storage;
};

struct MatMulToCuda : MatmulPattern<onnx::MatMulOp> {
  using MatmulPattern::MatmulPattern;

  LogicalResult matchAndRewrite(onnx::MatMulOp op,
                                PatternRewriter &rewriter) const override {
    if (!callableMatmul(op.getLhs(), op.getRhs(), op.getResult()))
      return rewriter.notifyMatchFailure(op, "needs f32 of rank 2 to 4");
    rewriter.replaceOp(op, emitMatmul(rewriter, op, op, numThreads, op.getLhs(),
                                      op.getRhs(), false, false, 1.0, storage));
    return success();
  }
};

/// matmul(a, b) / c or matmul(a, b) * c (either order) for a scalar
/// constant c: one call with alpha = 1 / c or c.
template <typename OpTy> struct ScaledMatMulToCuda : MatmulPattern<OpTy> {
  using MatmulPattern<OpTy>::MatmulPattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    constexpr bool isDiv = std::is_same_v<OpTy, onnx::DivOp>;
    SmallVector<std::pair<Value, Value>, 2> orders = {
        {op.getLhs(), op.getRhs()}};
    if (!isDiv)
      orders.push_back({op.getRhs(), op.getLhs()});
    for (auto [product, scale] : orders) {
      auto matmul = product.template getDefiningOp<onnx::MatMulOp>();
      std::optional<double> c = scalarConstant(scale);
      if (!matmul || !c || !product.hasOneUse() ||
          op.getType() != matmul.getType() || (isDiv && *c == 0.0) ||
          !callableMatmul(matmul.getLhs(), matmul.getRhs(), product))
        continue;
      rewriter.replaceOp(op, emitMatmul(rewriter, op, matmul, this->numThreads,
                                        matmul.getLhs(), matmul.getRhs(), false,
                                        false, isDiv ? 1.0 / *c : *c,
                                        this->storage));
      rewriter.eraseOp(matmul);
      return success();
    }
    return rewriter.notifyMatchFailure(op, "not a matmul times a scalar");
  }
};

/// Gemm: alpha * op(a) . op(b), its bias c (beta 1) added by an onnx.add.
struct GemmToCuda : MatmulPattern<onnx::GemmOp> {
  using MatmulPattern::MatmulPattern;

  LogicalResult matchAndRewrite(onnx::GemmOp op,
                                PatternRewriter &rewriter) const override {
    Value c = op.getC();
    if (!callableMatmul(op.getA(), op.getB(), op.getResult()) ||
        (c && (!isF32(c) || op.getBeta().convertToDouble() != 1.0)))
      return rewriter.notifyMatchFailure(op, "needs f32, beta 1");
    Value product = emitMatmul(rewriter, op, op, numThreads, op.getA(),
                               op.getB(), op.getTransA(), op.getTransB(),
                               op.getAlpha().convertToDouble(), storage);
    if (c)
      product =
          onnx::AddOp::create(rewriter, op.getLoc(), op.getType(), product, c);
    rewriter.replaceOp(op, product);
    return success();
  }
};

/// A causal mask added to the scores: Trilu(ConstantOfShape(shape, -inf),
/// upper, k) of rank 2 - what torch exports for
/// `full((t, t), -inf).triu(1)`.
struct CausalMaskMatch {
  Value scores;
  Value shape; // the mask's [rows, cols], an i64 tensor
  int64_t k = 0;
};

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
    ImplicitLocOpBuilder &b = call.builder();
    call.addI64(sizes[sizes.size() - 2]);
    call.addI64(mask->k);
    for (int64_t i : {0, 1}) {
      Value dim =
          tensor::ExtractOp::create(b, mask->shape, ValueRange{call.index(i)});
      call.addI64(arith::IndexCastOp::create(b, b.getIndexType(), dim));
    }
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

std::optional<CausalMaskMatch> matchCausalMask(Value sum) {
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
    // k: a constant (what the exporter writes), 0 when absent.
    DenseIntElementsAttr k;
    if (!value || !trilu.getUpper() || !value.getValue().isInfinity() ||
        !value.getValue().isNegative() ||
        cast<RankedTensorType>(mask.getType()).getRank() != 2 ||
        scores.getType() != sum.getType() ||
        (trilu.getK() && !matchPattern(trilu.getK(), m_Constant(&k))))
      continue;
    return CausalMaskMatch{scores, fill.getShape(),
                           k ? (*k.value_begin<APInt>()).getSExtValue() : 0};
  }
  return std::nullopt;
}

struct SoftmaxToCuda : RuntimePattern<onnx::SoftmaxOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::SoftmaxOp op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    if (!isF32(x) || type.getRank() < 1 ||
        op.getAxis() != static_cast<uint64_t>(type.getRank() - 1))
      return rewriter.notifyMatchFailure(op, "needs f32, the last axis");
    replaceBySoftmax(rewriter, op, numThreads, x, /*mask=*/{});
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
    auto type = cast<RankedTensorType>(op.getType());
    std::optional<CausalMaskMatch> mask = matchCausalMask(op.getInput());
    if (!isF32(op.getInput()) || type.getRank() < 2 ||
        op.getAxis() != static_cast<uint64_t>(type.getRank() - 1) || !mask)
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

/// The product of `sizes` [from, to) (1 when empty).
Value productOf(RuntimeCall &call, ArrayRef<Value> sizes, size_t from,
                size_t to) {
  return product(call, sizes.slice(from, to - from));
}

/// Slice along one axis with step 1 (rotary embeddings' halves): a block
/// of columns of x seen as [dims before the axis, the rest], bounds by
/// ONNX's rules at run time.
struct SliceToCuda : RuntimePattern<onnx::SliceOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::SliceOp op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    if (!isF32(x) || type.getRank() > kMaxCudaRank ||
        op.getAxes().size() != 1 || op.getSteps()[0] != 1 || onlyConstants(x))
      return rewriter.notifyMatchFailure(op, "needs f32, one axis, step 1");
    auto axis = static_cast<size_t>(op.getAxes()[0]);
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    ImplicitLocOpBuilder &b = call.builder();
    SmallVector<Value> sizes = dimSizes(call, x);
    auto [first, size] = sliceBounds(
        b, sizes[axis], sliceBound(b, op.getStarts(), op.getStartsTensor(), 0),
        sliceBound(b, op.getEnds(), op.getEndsTensor(), 0), 1);
    Value inner = productOf(call, sizes, axis + 1, sizes.size());
    call.addInput(x);
    call.addI64(productOf(call, sizes, 0, axis));
    call.addI64(arith::MulIOp::create(b, sizes[axis], inner));
    call.addI64(arith::MulIOp::create(b, first, inner));
    call.addI64(arith::MulIOp::create(b, size, inner));
    SmallVector<Value> outSizes(sizes);
    outSizes[axis] = size;
    call.addOutput(op.getResult(), outSizes);
    rewriter.replaceOp(op,
                       call.emit("moe_cc_slice_f32", describeGraphOp(op, "")));
    return success();
  }
};

/// Concat of 1 to 4 f32 inputs (rotary embeddings' halves swapped): each
/// input a block of the result's columns, [dims before the axis, the rest].
struct ConcatToCuda : RuntimePattern<onnx::ConcatOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::ConcatOp op,
                                PatternRewriter &rewriter) const override {
    auto inputs = op.getInputs();
    auto type = cast<RankedTensorType>(op.getType());
    if (!isF32(op.getResult()) || type.getRank() > kMaxCudaRank ||
        inputs.empty() || inputs.size() > 4 ||
        llvm::all_of(inputs, [](Value v) { return onlyConstants(v); }))
      return rewriter.notifyMatchFailure(op, "needs f32, 1 to 4 inputs");
    auto axis = static_cast<size_t>(op.getAxis());
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    ImplicitLocOpBuilder &b = call.builder();
    SmallVector<Value> outSizes = dimSizes(call, inputs.front());
    call.addI64(static_cast<int64_t>(inputs.size()));
    Value total = call.index(0);
    for (size_t i = 0; i < 4; ++i) {
      if (i >= inputs.size()) {
        call.addInput(Value());
        call.addI64(int64_t(0));
        call.addI64(int64_t(0));
        continue;
      }
      SmallVector<Value> sizes = dimSizes(call, inputs[i]);
      preloadIfConstant(rewriter, op, inputs[i], numThreads);
      call.addInput(inputs[i]);
      call.addI64(productOf(call, sizes, 0, axis));
      call.addI64(productOf(call, sizes, axis, sizes.size()));
      total = arith::AddIOp::create(b, total, sizes[axis]);
    }
    outSizes[axis] = total;
    call.addOutput(op.getResult(), outSizes);
    rewriter.replaceOp(
        op,
        call.emit("moe_cc_concat_f32",
                  describeGraphOp(op, "its inputs' other dims must agree")));
    return success();
  }
};

/// Expand (grouped-query attention's repeat_kv: [b, kv, 1, t, dh] to
/// [b, kv, n_rep, t, dh]): the result's dims grouped into runs where x is
/// copied (its dim is the result's) or repeated (x's dim is statically 1,
/// or absent), each run one dim of the call - rank 5 fits in 4 that way.
/// The result's dims as the linalg lowering computes them (the shape's
/// entry, or x's dim when larger).
struct ExpandToCuda : RuntimePattern<onnx::ExpandOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::ExpandOp op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getInput();
    auto type = cast<RankedTensorType>(op.getType());
    auto xType = cast<RankedTensorType>(x.getType());
    if (!isF32(x) || onlyConstants(x))
      return rewriter.notifyMatchFailure(op, "needs f32 data");
    int64_t offset = type.getRank() - xType.getRank();
    auto repeats = [&](int64_t d) {
      return d < offset || xType.getDimSize(d - offset) == 1;
    };
    // The runs of dims of one kind.
    SmallVector<std::pair<int64_t, int64_t>> runs; // [first, end)
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (runs.empty() || repeats(d) != repeats(runs.back().first))
        runs.push_back({d, d + 1});
      else
        runs.back().second = d + 1;
    if (static_cast<int64_t>(runs.size()) > kMaxCudaRank)
      return rewriter.notifyMatchFailure(op, "more than 4 runs of dims");
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    ImplicitLocOpBuilder &b = call.builder();
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (!type.isDynamicDim(d)) {
        sizes.push_back(call.index(type.getDimSize(d)));
        continue;
      }
      Value entry = tensor::ExtractOp::create(b, op.getShape(),
                                              ValueRange{call.index(d)});
      Value dim = arith::IndexCastOp::create(b, b.getIndexType(), entry);
      if (d >= offset)
        dim = arith::MaxUIOp::create(b, dim, call.dim(x, d - offset));
      sizes.push_back(dim);
    }
    SmallVector<Value> xDims, outDims;
    for (auto [first, end] : runs) {
      Value size = productOf(call, sizes, first, end);
      outDims.push_back(size);
      xDims.push_back(repeats(first) ? call.index(1) : size);
    }
    call.addInput(x);
    addRankAndDims(call, xDims);
    for (int64_t d = 0; d < kMaxCudaRank; ++d)
      if (d < static_cast<int64_t>(outDims.size()))
        call.addI64(outDims[d]);
      else
        call.addI64(int64_t(1));
    call.addOutput(op.getResult(), sizes);
    rewriter.replaceOp(
        op,
        call.emit("moe_cc_expand_f32",
                  describeGraphOp(op, "x's dims must be the result's or 1")));
    return success();
  }
};

/// An f32 Range (rotary embeddings' positions): its scalars read on the
/// host (shape arithmetic), the elements written by the call - on the
/// device when its buffer is there, so that the tables built from it are.
struct RangeToCuda : RuntimePattern<onnx::RangeOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::RangeOp op,
                                PatternRewriter &rewriter) const override {
    if (!isF32(op.getResult()))
      return rewriter.notifyMatchFailure(op, "needs f32");
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    ImplicitLocOpBuilder &b = call.builder();
    auto scalar = [&](Value tensor) {
      return tensor::ExtractOp::create(b, tensor, ValueRange{}).getResult();
    };
    Value start = scalar(op.getStart()), delta = scalar(op.getDelta());
    Value count = rangeCount(b, start, scalar(op.getLimit()), delta);
    call.addValue(start);
    call.addValue(delta);
    call.addI64(count);
    call.addOutput(op.getResult(), {count});
    rewriter.replaceOp(op,
                       call.emit("moe_cc_range_f32", describeGraphOp(op, "")));
    return success();
  }
};

/// Einsum "i,j->ij" of f32 vectors (rotary embeddings' positions times
/// frequencies): the broadcast product a[:, None] * b[None, :], one
/// binary call (op code mul) reading a as [n, 1] and b as [1, m].
struct OuterProductToCuda : RuntimePattern<onnx::EinsumOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::EinsumOp op,
                                PatternRewriter &rewriter) const override {
    StringRef equation = op.getEquation();
    if (op.getInputs().size() != 2 || equation.size() != 7 ||
        equation[1] != ',' || equation.substr(3, 2) != "->" ||
        equation[0] == equation[2] || equation[5] != equation[0] ||
        equation[6] != equation[2] || !isF32(op.getResult()) ||
        !isF32(op.getInputs()[0]) || !isF32(op.getInputs()[1]))
      return rewriter.notifyMatchFailure(op, "not an f32 outer product");
    Value a = op.getInputs()[0], c = op.getInputs()[1];
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    Value n = dimSizes(call, a).front(), m = dimSizes(call, c).front();
    Value one = call.index(1);
    call.addI32(MOE_CUDA_BINARY_MUL);
    preloadIfConstant(rewriter, op, a, numThreads);
    call.addInput(a);
    addRankAndDims(call, {n, one});
    preloadIfConstant(rewriter, op, c, numThreads);
    call.addInput(c);
    addRankAndDims(call, {one, m});
    addRankAndDims(call, {n, m});
    call.addOutput(op.getResult(), {n, m});
    rewriter.replaceOp(op,
                       call.emit("moe_cc_binary_f32", describeGraphOp(op, "")));
    return success();
  }
};

} // namespace

void mlir::moe::populateFusedAttentionToCudaPatterns(
    RewritePatternSet &patterns, int32_t numThreads, WeightStorage storage) {
  MLIRContext *context = patterns.getContext();
  patterns
      .add<ScaledMatMulToCuda<onnx::DivOp>, ScaledMatMulToCuda<onnx::MulOp>>(
          context, numThreads, storage);
  patterns.add<CausalSoftmaxToCuda>(context, numThreads, RuntimeTarget::CUDA);
}

void mlir::moe::populateAttentionToCudaPatterns(RewritePatternSet &patterns,
                                                int32_t numThreads,
                                                WeightStorage storage) {
  MLIRContext *context = patterns.getContext();
  patterns.add<MatMulToCuda, GemmToCuda>(context, numThreads, storage);
  patterns.add<SoftmaxToCuda, TransposeToCuda, SliceToCuda, ConcatToCuda,
               RangeToCuda, OuterProductToCuda, ExpandToCuda>(
      context, numThreads, RuntimeTarget::CUDA);
}
