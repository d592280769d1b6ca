//===- AttentionToCuda.cpp - An attention block's ops to CUDA calls -------===//
//
// Part of convert-elementwise-to-cuda (Passes.td): the ops an attention
// block exports to, so that one before an MoE layer keeps its buffers on
// the device instead of staging the graph through host memory. On f32:
//   - onnx.matmul (ranks 2 to 4, batch dims broadcast; an operand's
//     transpose of its last two dims - the scores' k^T - read transposed
//     by the GEMM, not copied) and onnx.gemm
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
//     moves constants (moe-fold-weights transposes weights at compile time).
// The data movement around them (rotary embeddings, grouped-query
// attention) is DataMovementToCuda.cpp.
//
//===----------------------------------------------------------------------===//

#include "GraphOpsToCuda.h"

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

/// Takes a transpose of `operand`'s last two dims (the scores' k^T:
/// k.transpose(2, 3)) into the matmul: its input, `trans` flipped - cuBLAS
/// reads it transposed, where the transpose would copy it. (Weights'
/// transposes are moe-fold-weights' at compile time.)
void absorbTranspose(Value &operand, bool &trans) {
  auto transpose = operand.getDefiningOp<onnx::TransposeOp>();
  if (!transpose || !isMatmulOperand(transpose.getInput()) ||
      onlyConstants(transpose.getInput()))
    return;
  ArrayRef<int64_t> perm = transpose.getPerm();
  auto rank = static_cast<int64_t>(perm.size());
  for (int64_t d = 0; d < rank; ++d)
    if (perm[d] != (d < rank - 2 ? d : 2 * rank - 3 - d))
      return;
  operand = transpose.getInput();
  trans = !trans;
}

/// Grouped-query attention's repeat_kv as HF writes it: x [b, kv, t, d]
/// unsqueezed at axis 2, expanded to [b, kv, n, t, d] and reshaped to
/// [b, kv * n, t, d] - head h of the result is x's head h / n.
struct RepeatKvMatch {
  Value x;
  onnx::ExpandOp expand;
  onnx::ReshapeOp reshape;
};

int64_t rankOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getRank();
}

std::optional<RepeatKvMatch> matchRepeatKv(Value value) {
  auto reshape = value.getDefiningOp<onnx::ReshapeOp>();
  auto expand = reshape ? reshape.getInput().getDefiningOp<onnx::ExpandOp>()
                        : onnx::ExpandOp();
  auto unsqueeze = expand ? expand.getInput().getDefiningOp<onnx::UnsqueezeOp>()
                          : onnx::UnsqueezeOp();
  if (!unsqueeze)
    return std::nullopt;
  Value x = unsqueeze.getInput();
  ArrayRef<int64_t> axes = unsqueeze.getAxes();
  auto shapeType = cast<RankedTensorType>(expand.getShape().getType());
  if (axes.size() != 1 || (axes[0] != 2 && axes[0] != -3) || rankOf(x) != 4 ||
      rankOf(expand.getResult()) != 5 || rankOf(reshape.getResult()) != 4 ||
      shapeType.getShape() != ArrayRef<int64_t>{5} || !isF32(x) ||
      onlyConstants(x))
    return std::nullopt;
  return RepeatKvMatch{x, expand, reshape};
}

/// A matmul's operands as its call reads them: transposes of their last
/// two dims taken in (absorbTranspose); b repeated by repeat_kv read as
/// its kv heads (`kv`), a's heads grouped by the kv head they share.
struct MatmulOperands {
  Value a, b;
  bool transA = false, transB = false;
  std::optional<RepeatKvMatch> kv;
};

MatmulOperands matmulOperands(Value a, Value b) {
  MatmulOperands m{a, b, false, false, std::nullopt};
  absorbTranspose(m.a, m.transA);
  absorbTranspose(m.b, m.transB);
  if (!m.transA && rankOf(m.a) == 4)
    if ((m.kv = matchRepeatKv(m.b)))
      m.b = m.kv->x;
  return m;
}

/// Entry `i` of a reshape's or expand's target shape, as an index.
Value shapeEntry(ImplicitLocOpBuilder &b, Value shape,
                 std::optional<ArrayRef<int64_t>> attr, int64_t i) {
  if (attr)
    return arith::ConstantIndexOp::create(b, (*attr)[i]);
  Value entry = tensor::ExtractOp::create(
      b, shape, ValueRange{arith::ConstantIndexOp::create(b, i)});
  return arith::IndexCastOp::create(b, b.getIndexType(), entry);
}

/// The dims of a grouped-query matmul's call: with x [b, kv, t, d] the kv
/// heads and a [b, kv * n, m, k], a's heads sharing a kv head are rows of
/// one matrix (a is row-major: they are adjacent), so the product is the
/// batched [b * kv, n * m, k] . [b * kv, t, d] (its transpose: scores) -
/// no copy of x per head, the result [b, kv * n, m, cols] as it lies.
struct GroupedDims {
  SmallVector<Value> a, b, out, result;
};

GroupedDims groupedDims(RuntimeCall &call, Operation *matmul,
                        const MatmulOperands &m) {
  ImplicitLocOpBuilder &b = call.builder();
  SmallVector<Value> a = dimSizes(call, m.a), x = dimSizes(call, m.b);
  auto eq = [&](Value lhs, Value rhs) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lhs, rhs);
  };
  auto mul = [&](Value lhs, Value rhs) {
    return arith::MulIOp::create(b, lhs, rhs).getResult();
  };
  Value one = call.index(1);
  // The repeat count, the expand's entry for the new axis (x's dim 1
  // there); the expand must keep x's other dims (entries 1 or x's) and
  // the reshape must merge kv and n (entries -1, x's, or 0 copying one)
  // and a's heads must be the kv * n it yields: what repeat_kv writes.
  RepeatKvMatch kv = *m.kv;
  Value shape = kv.expand.getShape();
  Value repeats =
      arith::MaxUIOp::create(b, shapeEntry(b, shape, std::nullopt, 2), one);
  Value ok = eq(a[1], mul(x[1], repeats));
  for (auto [entry, dim] :
       {std::pair(0, 0), std::pair(1, 1), std::pair(3, 2), std::pair(4, 3)}) {
    Value e = shapeEntry(b, shape, std::nullopt, entry);
    ok = arith::AndIOp::create(
        b, ok, arith::OrIOp::create(b, eq(e, one), eq(e, x[dim])));
  }
  onnx::ReshapeOp reshape = kv.reshape;
  SmallVector<Value> expanded = {x[0], x[1], repeats, x[2], x[3]};
  SmallVector<Value> heads = {x[0], mul(x[1], repeats), x[2], x[3]};
  for (int64_t i = 0; i < 4; ++i) {
    Value e = shapeEntry(b, reshape.getShapeTensor(), reshape.getShape(), i);
    Value resolved =
        arith::SelectOp::create(b, eq(e, call.index(0)), expanded[i], e);
    ok = arith::AndIOp::create(
        b, ok,
        arith::OrIOp::create(b, eq(e, call.index(-1)), eq(resolved, heads[i])));
  }
  emitRunTimeCheck(b, matmul, ok,
                   describeGraphOp(matmul, "grouped-query attention: its "
                                           "repeated k/v heads must be "
                                           "repeat_kv's"));
  Value batch = arith::SelectOp::create(b, eq(a[0], one), x[0], a[0]);
  Value cols = m.transB ? x[2] : x[3];
  Value rows = mul(repeats, a[2]);
  GroupedDims dims;
  dims.a = {mul(a[0], x[1]), rows, a[3]};
  dims.b = {mul(x[0], x[1]), x[2], x[3]};
  dims.out = {mul(batch, x[1]), rows, cols};
  dims.result = {batch, a[1], a[2], cols};
  return dims;
}

/// alpha * op(a) . op(b) (numpy matmul; op transposes the last two dims)
/// of `op`'s result type, one moe_cuda_cc_matmul_* call at `op`; a
/// failure names `matmul` (the ONNX node the user knows). A constant b is
/// stored in `storage` when that is 16-bit (f16: if its values fit).
Value emitMatmul(PatternRewriter &rewriter, Operation *op, Operation *matmul,
                 int32_t numThreads, MatmulOperands m, double alpha,
                 WeightStorage storage) {
  StringRef callee = "moe_cc_matmul_f32";
  if ((storage == WeightStorage::BF16 ||
       (storage == WeightStorage::F16 && fitsF16(m.b))) &&
      !onlyConstants(m.a))
    if (Value narrow = rowMajor16(rewriter, op->getLoc(), m.b, storage)) {
      m.b = narrow;
      callee = storage == WeightStorage::F16 ? "moe_cc_matmul_f16w"
                                             : "moe_cc_matmul_bf16w";
    }
  Value result = op->getResult(0);
  auto type = cast<RankedTensorType>(result.getType());
  int64_t rank = type.getRank();
  int64_t aRank = rankOf(m.a), bRank = rankOf(m.b);
  RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
  std::optional<GroupedDims> grouped;
  if (m.kv)
    grouped = groupedDims(call, matmul, m);
  call.addI32(m.transA);
  call.addI32(m.transB);
  call.addF32(alpha);
  for (auto [operand, dims] :
       {std::pair(m.a, grouped ? &grouped->a : nullptr),
        std::pair(m.b, grouped ? &grouped->b : nullptr)}) {
    preloadIfConstant(rewriter, op, operand, numThreads);
    call.addInput(operand);
    addRankAndDims(call, dims ? *dims : dimSizes(call, operand));
  }
  if (grouped) {
    addRankAndDims(call, grouped->out);
    call.addOutput(result, grouped->result);
  } else {
    // Batch dims broadcast; then a's rows and b's columns.
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < rank - 2; ++d)
      sizes.push_back(type.isDynamicDim(d)
                          ? broadcastSize(call, {m.a, m.b},
                                          {aRank - 2, bRank - 2}, rank - 2, d)
                          : call.index(type.getDimSize(d)));
    sizes.push_back(call.dim(m.a, m.transA ? aRank - 1 : aRank - 2));
    sizes.push_back(call.dim(m.b, m.transB ? bRank - 2 : bRank - 1));
    addRankAndDims(call, sizes);
    call.addOutput(result, sizes);
  }
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
    rewriter.replaceOp(op, emitMatmul(rewriter, op, op, numThreads,
                                      matmulOperands(op.getLhs(), op.getRhs()),
                                      1.0, storage));
    return success();
  }
};

/// Whether `product`'s one user scales it by a scalar constant (a
/// ScaledMatMulToCuda match).
bool scaledByConstant(Value product) {
  if (!product.hasOneUse())
    return false;
  Operation *user = *product.getUsers().begin();
  if (isa<onnx::DivOp>(user))
    return user->getOperand(0) == product &&
           scalarConstant(user->getOperand(1));
  return isa<onnx::MulOp>(user) &&
         scalarConstant(user->getOperand(user->getOperand(0) == product));
}

/// A matmul of repeat_kv's heads (grouped-query attention's probabilities
/// times v) taken while the repeat is whole, before the expand becomes a
/// call of its own: the heads are read where they lie (GroupedDims). The
/// scores' product is ScaledMatMulToCuda's, which does the same.
struct RepeatedKvMatMulToCuda : MatmulPattern<onnx::MatMulOp> {
  using MatmulPattern::MatmulPattern;

  LogicalResult matchAndRewrite(onnx::MatMulOp op,
                                PatternRewriter &rewriter) const override {
    if (!callableMatmul(op.getLhs(), op.getRhs(), op.getResult()) ||
        scaledByConstant(op.getResult()))
      return rewriter.notifyMatchFailure(op, "not a plain f32 matmul");
    MatmulOperands operands = matmulOperands(op.getLhs(), op.getRhs());
    if (!operands.kv)
      return rewriter.notifyMatchFailure(op, "b is not repeat_kv's");
    rewriter.replaceOp(
        op, emitMatmul(rewriter, op, op, numThreads, operands, 1.0, storage));
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
      rewriter.replaceOp(
          op, emitMatmul(rewriter, op, matmul, this->numThreads,
                         matmulOperands(matmul.getLhs(), matmul.getRhs()),
                         isDiv ? 1.0 / *c : *c, this->storage));
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
    MatmulOperands operands{op.getA(), op.getB(), op.getTransA(),
                            op.getTransB(), std::nullopt};
    Value product = emitMatmul(rewriter, op, op, numThreads, operands,
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
  Value k;     // the diagonal: an i64 scalar tensor (a KV cache's length + 1
               // with a cache: a run-time value), or null for 0
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
    if (mask->k) {
      auto kType = cast<RankedTensorType>(mask->k.getType());
      SmallVector<Value> origin(kType.getRank(), call.index(0));
      call.addValue(tensor::ExtractOp::create(b, mask->k, origin));
    } else {
      call.addI64(int64_t(0));
    }
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

/// Whether `op` is an f32 softmax over its last axis (what the call does).
bool isLastAxisF32Softmax(onnx::SoftmaxOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  return isF32(op.getInput()) && type.getRank() >= 1 &&
         op.getAxis() == static_cast<uint64_t>(type.getRank() - 1);
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

void mlir::moe::populateFusedAttentionToCudaPatterns(
    RewritePatternSet &patterns, int32_t numThreads, WeightStorage storage) {
  MLIRContext *context = patterns.getContext();
  patterns.add<ScaledMatMulToCuda<onnx::DivOp>, ScaledMatMulToCuda<onnx::MulOp>,
               RepeatedKvMatMulToCuda>(context, numThreads, storage);
  patterns.add<CausalSoftmaxToCuda>(context, numThreads, RuntimeTarget::CUDA);
  populateFusedDataMovementToCudaPatterns(patterns, numThreads);
}

void mlir::moe::populateAttentionToCudaPatterns(RewritePatternSet &patterns,
                                                int32_t numThreads,
                                                WeightStorage storage) {
  MLIRContext *context = patterns.getContext();
  patterns.add<MatMulToCuda, GemmToCuda>(context, numThreads, storage);
  patterns.add<SoftmaxToCuda, TransposeToCuda>(context, numThreads,
                                               RuntimeTarget::CUDA);
  populateDataMovementToCudaPatterns(patterns, numThreads);
}
