//===- FusedAttentionToCuda.cpp - An attention core as one CUDA call ------===//
//
// Part of convert-elementwise-to-cuda (Passes.td), its first phase: the
// core of an attention block as exporters write it,
//
//   scores = MatMul(q, k^T)  [Div or Mul by a scalar: 1/sqrt(head_dim)]
//            [Add Trilu(ConstantOfShape(-inf), upper, k): a causal mask,
//             or Add any other f32 mask: added as the call scores]
//   out    = MatMul(Softmax(scores, last axis), v)  [Transpose: heads merged]
//
// becomes one moe_cuda_cc_attention_f32 call (runtime/cuda/
// FusedAttention.cu): the scores are never written out (three launches and
// a [t, keys] matrix a head become one launch), the mask is never built,
// and q, k^T, v and the result are read and written through the views the
// matmul calls would take (the heads' transposes, repeat_kv's heads:
// grouped-query attention reads each k/v head once for its group). Head
// dims need not be known at compile time (exports reshape to run-time
// shapes): the runtime takes any, in one launch up to
// MOE_CUDA_MAX_ATTENTION_HEAD_DIM. It runs before the other phases, while
// the block's ops are whole; a block it does not take (views whose rows
// are not their buffers', another mask) is left to the separate calls
// (MatmulToCuda.cpp, AttentionToCuda.cpp).
//
//===----------------------------------------------------------------------===//

#include "GraphOpsToCuda.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The ops of one attention core, outermost first.
struct AttentionMatch {
  onnx::SoftmaxOp softmax;
  std::optional<CausalMaskMatch> mask;
  Value bias; // an additive mask, when not a causal one
  SmallVector<Operation *, 2> maskAdds; // the masks' adds, outermost first
  Operation *scale = nullptr; // the Div or Mul by a scalar, if any
  double alpha = 1.0;
  // q's and k^T's own scalar factors (torch's scaled_dot_product_attention
  // export: each times sqrt(scale)), read at run time into alpha.
  SmallVector<onnx::MulOp, 2> factorMuls;
  SmallVector<Value, 2> factors;
  onnx::MatMulOp scores;
  OperandView q, kT, v;
  onnx::TransposeOp outTranspose;
};

/// Whether `value` is a static 1 (a dim numpy broadcasts).
bool staticOne(Value value, int64_t d) {
  return cast<RankedTensorType>(value.getType()).getDimSize(d) == 1;
}

/// Whether `value` is a matmul's product, maybe scaled by a scalar (the
/// scores of an attention core, before a mask is added).
bool isScoresProduct(Value value) {
  Operation *op = value.getDefiningOp();
  if (isa_and_nonnull<onnx::DivOp, onnx::MulOp>(op))
    return llvm::any_of(op->getOperands(), [](Value operand) {
      return operand.getDefiningOp<onnx::MatMulOp>() != nullptr;
    });
  return isa_and_nonnull<onnx::MatMulOp>(op);
}

/// `x` (q or k^T of the scores) as x0 * factor, a host scalar, when that
/// product is x's only use: (x0, the mul), else (x, null).
std::pair<Value, onnx::MulOp> scaledOperand(Value x) {
  auto mul = x.getDefiningOp<onnx::MulOp>();
  if (!mul || !x.hasOneUse())
    return {x, nullptr};
  for (auto [y, factor] : {std::pair(mul.getLhs(), mul.getRhs()),
                           std::pair(mul.getRhs(), mul.getLhs())})
    if (y.getType() == x.getType() && isHostScalar(factor))
      return {y, mul};
  return {x, nullptr};
}

/// The attention core whose values product is `values`, if the fused call
/// can take it.
std::optional<AttentionMatch> matchAttention(onnx::MatMulOp values) {
  AttentionMatch m;
  m.softmax = values.getLhs().getDefiningOp<onnx::SoftmaxOp>();
  if (!m.softmax || !m.softmax.getResult().hasOneUse() ||
      !isLastAxisF32Softmax(m.softmax))
    return std::nullopt;
  // At most one causal mask and one other mask added to the scores, in
  // either order (a decoder's causal mask and a padding mask).
  Value scores = m.softmax.getInput();
  for (int masks = 0; masks < 2; ++masks) {
    if (!m.mask && (m.mask = matchCausalMask(scores))) {
      m.maskAdds.push_back(scores.getDefiningOp());
      scores = m.mask->scores;
      continue;
    }
    auto add = scores.getDefiningOp<onnx::AddOp>();
    if (m.bias || !add || !scores.hasOneUse())
      break;
    // Any other mask (padding, HF's prepared 4-d masks): an operand the
    // call adds as it scores. The other side: the scores, maybe with the
    // causal mask still to come.
    auto scoresSide = [&](Value x) {
      std::optional<CausalMaskMatch> causal =
          m.mask ? std::nullopt : matchCausalMask(x);
      return isScoresProduct(causal ? causal->scores : x);
    };
    for (auto [product, mask] : {std::pair(add.getLhs(), add.getRhs()),
                                 std::pair(add.getRhs(), add.getLhs())})
      if (scoresSide(product) && isF32(mask) && rankOf(mask) <= kMaxCudaRank &&
          product.getType() == add.getType()) {
        m.bias = mask;
        m.maskAdds.push_back(add);
        scores = product;
        break;
      }
    if (!m.bias)
      return std::nullopt;
  }
  if (!scores.hasOneUse())
    return std::nullopt;
  // A scalar constant scaling the product: the call's alpha.
  if (auto div = scores.getDefiningOp<onnx::DivOp>()) {
    std::optional<double> c = scalarConstant(div.getRhs());
    if (!c || *c == 0.0)
      return std::nullopt;
    m.scale = div;
    m.alpha = 1.0 / *c;
    scores = div.getLhs();
  } else if (auto mul = scores.getDefiningOp<onnx::MulOp>()) {
    for (auto [product, factor] : {std::pair(mul.getLhs(), mul.getRhs()),
                                   std::pair(mul.getRhs(), mul.getLhs())})
      if (std::optional<double> c = scalarConstant(factor)) {
        m.scale = mul;
        m.alpha = *c;
        scores = product;
        break;
      }
    if (!m.scale)
      return std::nullopt;
  }
  if (m.scale && (!scores.hasOneUse() ||
                  scores.getType() != m.scale->getResult(0).getType()))
    return std::nullopt;
  m.scores = scores.getDefiningOp<onnx::MatMulOp>();
  if (!m.scores)
    return std::nullopt;
  Value q = m.scores.getLhs(), kT = m.scores.getRhs(), v = values.getRhs();
  for (Value *x : {&q, &kT}) {
    auto [unscaled, mul] = scaledOperand(*x);
    if (!mul)
      continue;
    m.factorMuls.push_back(mul);
    m.factors.push_back(mul.getLhs() == unscaled ? mul.getRhs() : mul.getLhs());
    *x = unscaled;
  }
  int64_t rank = rankOf(q);
  for (Value x : {q, kT, v, Value(values.getResult())})
    if (!isF32(x) || rankOf(x) != rank || onlyConstants(x))
      return std::nullopt;
  if (rank != 3 && rank != 4)
    return std::nullopt;
  // q's batch or head dims broadcast to k's or v's (a static 1 against
  // theirs) would make the result's dims k's: not what the call computes.
  for (int64_t d = 0; d < rank - 2; ++d)
    if (staticOne(q, d) && (!staticOne(kT, d) || !staticOne(v, d)))
      return std::nullopt;
  m.q = operandView(q);
  m.kT = rightOperandView(kT, rank);
  m.v = rightOperandView(v, rank);
  // Each view's rows (head dims) its buffer's: k^T's head dim is its
  // second last.
  if (m.q.perm[rank - 1] != rank - 1 || m.kT.perm[rank - 2] != rank - 1 ||
      m.v.perm[rank - 1] != rank - 1 ||
      m.kT.kv.has_value() != m.v.kv.has_value())
    return std::nullopt;
  m.outTranspose = outputTranspose(values.getResult());
  return m;
}

/// The 16-bit tensor a k or v buffer widens (an onnx.cast to f32 of a
/// bfloat16 or float16 tensor: a KV cache a 16-bit model keeps in its own
/// type, which moe-widen-half widens for the graph's f32 ops), and its
/// MOE_CUDA_ELEMENT_* type - the call reads it as it is; else the buffer,
/// f32.
std::pair<Value, int32_t> kvSource(Value buffer) {
  if (auto cast = buffer.getDefiningOp<onnx::CastOp>()) {
    Type from = getElementTypeOrSelf(cast.getInput().getType());
    if (from.isBF16() || from.isF16())
      return {cast.getInput(), cudaElementType(from)};
  }
  return {buffer, MOE_CUDA_ELEMENT_F32};
}

/// x's dims as repeat_kv saw them ([b, kv, t, d]) from a view of it.
SmallVector<Value> repeatedDims(ArrayRef<Value> buffer,
                                const OperandView &view) {
  SmallVector<Value> dims = viewDims(buffer, view.perm);
  if (view.kvTransposed)
    std::swap(dims[2], dims[3]);
  return dims;
}

/// The 16-bit type the readers of an attention's result all round it to,
/// if they do: projections (the output projection), directly or through
/// a reshape (the heads merged), and shape reads.
Type roundedResult(Value result, const MatmulWeights &weights) {
  if (llvm::all_of(result.getUsers(), [](Operation *user) {
        return isa<onnx::MatMulOp, onnx::ShapeOp>(user);
      }))
    return roundedByReaders(result, weights);
  Type rounded;
  for (Operation *user : result.getUsers()) {
    if (isa<onnx::ShapeOp>(user))
      continue;
    auto reshape = dyn_cast<onnx::ReshapeOp>(user);
    Type type = reshape && reshape.getInput() == result
                    ? roundedByReaders(reshape.getResult(), weights)
                    : Type();
    if (!type || (rounded && rounded != type))
      return {};
    rounded = type;
  }
  return rounded;
}

/// Moves the readers of an attention's result onto its 16-bit version
/// `rounded`: shape reads and reshapes read it (a reshape rebuilt in the
/// 16-bit type, its projections reading it as already rounded); returns
/// what the projections reading the result directly read instead.
Value readRounded(PatternRewriter &rewriter, const MatmulWeights &weights,
                  Value result, Value rounded) {
  for (Operation *user : llvm::make_early_inc_range(result.getUsers())) {
    auto reshape = dyn_cast<onnx::ReshapeOp>(user);
    if (!reshape)
      continue;
    rewriter.setInsertionPoint(reshape);
    Operation *narrow = rewriter.clone(*reshape);
    narrow->setOperand(0, rounded);
    Value merged = narrow->getResult(0);
    merged.setType(cast<RankedTensorType>(reshape.getType())
                       .clone(getElementTypeOrSelf(rounded.getType())));
    rewriter.replaceOp(reshape, roundedForReaders(rewriter, weights,
                                                  reshape.getResult(), merged));
  }
  return roundedForReaders(rewriter, weights, result, rounded);
}

struct FusedAttentionToCuda : RuntimePattern<onnx::MatMulOp> {
  FusedAttentionToCuda(MLIRContext *context, int32_t numThreads,
                       const MatmulWeights &weights)
      : RuntimePattern(context, numThreads, RuntimeTarget::CUDA),
        weights(weights),
        precision(cudaElementType(roundedType(weights.storage, context))) {}

  LogicalResult matchAndRewrite(onnx::MatMulOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<AttentionMatch> m = matchAttention(op);
    if (!m)
      return rewriter.notifyMatchFailure(op, "not softmax(q . k^T) . v");
    int64_t rank = rankOf(op.getResult());
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    ImplicitLocOpBuilder &b = call.builder();
    // k and v both 16-bit tensors widened (a 16-bit KV cache): read as
    // they are (their dims too: the widening casts then go).
    auto [kSource, kType] = kvSource(m->kT.buffer);
    auto [vSource, vType] = kvSource(m->v.buffer);
    if (kType != vType) {
      kSource = m->kT.buffer;
      vSource = m->v.buffer;
      kType = MOE_CUDA_ELEMENT_F32;
    }
    SmallVector<Value> qBuffer = dimSizes(call, m->q.buffer),
                       kBuffer = dimSizes(call, kSource),
                       vBuffer = dimSizes(call, vSource);
    SmallVector<Value> qView = viewDims(qBuffer, m->q.perm),
                       vView = viewDims(vBuffer, m->v.perm);
    // k's heads as the call reads them: its kv heads, or -1 when they are
    // not what the graph's product would use - repeat_kv's repeat
    // (checked at run time, failing the run by name) or, without one,
    // q's heads or a single one (numpy's broadcast; anything else the
    // graph's matmul refuses too) - so that the call refuses to run.
    Value heads = qView[rank - 3];
    int64_t kvDim = m->kT.perm[rank - 3];
    Value ok;
    if (m->kT.kv) {
      Value kRepeats, vRepeats;
      ok = arith::AndIOp::create(
          b,
          repeatKvHolds(call, *m->kT.kv, repeatedDims(kBuffer, m->kT), heads,
                        kRepeats),
          repeatKvHolds(call, *m->v.kv, repeatedDims(vBuffer, m->v), heads,
                        vRepeats));
      emitRunTimeCheck(b, op, ok,
                       describeGraphOp(op, "grouped-query attention: its "
                                           "repeated k/v heads must be "
                                           "repeat_kv's"));
    } else {
      auto eq = [&](Value lhs, Value rhs) {
        return arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lhs, rhs);
      };
      ok = arith::OrIOp::create(b, eq(kBuffer[kvDim], heads),
                                eq(kBuffer[kvDim], call.index(1)));
    }
    kBuffer[kvDim] =
        arith::SelectOp::create(b, ok, kBuffer[kvDim], call.index(-1));

    // alpha: the constant scale times q's and k^T's run-time factors.
    Value alpha = arith::ConstantOp::create(
        b, b.getF32FloatAttr(static_cast<float>(m->alpha)));
    for (Value factor : m->factors) {
      SmallVector<Value> zeros(rankOf(factor), call.index(0));
      alpha = arith::MulFOp::create(
          b, alpha, tensor::ExtractOp::create(b, factor, zeros));
    }
    call.addValue(alpha);
    call.addI32(precision);
    call.addI32(kType);
    call.addInput(m->q.buffer);
    addView(call, qBuffer, m->q.perm);
    call.addInput(kSource);
    addView(call, kBuffer, m->kT.perm);
    call.addInput(vSource);
    addView(call, vBuffer, m->v.perm);
    call.addI64(int64_t(m->mask.has_value()));
    if (m->mask)
      addCausalMask(call, *m->mask);
    else
      for (int i = 0; i < 3; ++i) // diagonal, the mask's rows and cols
        call.addI64(int64_t(0));
    if (m->bias) {
      preloadIfConstant(rewriter, op, m->bias, numThreads);
      call.addInput(m->bias);
      addRankAndDims(call, dimSizes(call, m->bias));
    } else {
      call.addInput(Value());
      addRankAndDims(call, {});
    }
    // The result: q's batch, heads and queries, v's value dim - written
    // through the merging transpose's view when there is one.
    SmallVector<Value> out(qView.begin(), qView.end() - 1);
    out.push_back(vView.back());
    // Written in 16 bits when only projections with 16-bit weights read
    // it (the output projection): no cast call before them.
    Value result =
        m->outTranspose ? m->outTranspose.getResult() : op.getResult();
    Type rounded = roundedResult(result, weights);
    call.addI32(cudaElementType(rounded));
    addResultView(call, op.getResult(), out, m->outTranspose, rounded);
    Value fused =
        call.emit("moe_cc_attention_f32",
                  describeGraphOp(op, "attention: q, k and v's heads and "
                                      "the causal mask must agree"))
            .front();
    if (rounded)
      fused = readRounded(rewriter, weights, result, fused);
    if (m->outTranspose) {
      rewriter.replaceOp(m->outTranspose, fused);
      rewriter.eraseOp(op);
    } else {
      rewriter.replaceOp(op, fused);
    }
    rewriter.eraseOp(m->softmax);
    for (Operation *add : m->maskAdds)
      rewriter.eraseOp(add);
    if (m->scale)
      rewriter.eraseOp(m->scale);
    rewriter.eraseOp(m->scores);
    for (onnx::MulOp mul : m->factorMuls)
      rewriter.eraseOp(mul);
    return success();
  }

  MatmulWeights weights;
  /// MOE_CUDA_ELEMENT_*.
  int32_t precision;
};

} // namespace

void mlir::moe::populateFusedAttentionPatterns(RewritePatternSet &patterns,
                                               int32_t numThreads,
                                               const MatmulWeights &weights) {
  patterns.add<FusedAttentionToCuda>(patterns.getContext(), numThreads,
                                     weights);
}
