//===- Attention.h - Attention ops' shapes and host loops -------*- C++ -*-===//
//
// The index math of the ops an attention block exports to (MatMul, Softmax,
// Transpose, Expand, Slice/Concat, Range, rotary embeddings;
// Elementwise.cu, Matmul.cu) and
// the host loops of their moe_cuda_cc_* entries (CompiledGraphOps.cu;
// matmuls have none: they always run on the GPU). Shared by the kernels and
// the host so that both read the same strides.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_ATTENTION_H
#define MOE_RUNTIME_CUDA_ATTENTION_H

#include "Elementwise.h"

#include <cmath>
#include <cstdint>

namespace moe::runtime::cuda {

/// A gather by strides (a transpose, an expand): out's dims, and for each
/// the stride in x of the dim it came from - 0 where an expand repeats x
/// (both padded in front to kMaxElementwiseRank).
struct StridedShape {
  int64_t shape[kMaxElementwiseRank];
  int64_t strides[kMaxElementwiseRank];
  int64_t count;
};

/// The iteration of x (rank dims) permuted by `perm` (out's dim d is x's
/// dim perm[d]); false unless perm is a permutation of 0..rank-1.
inline bool transposeShape(int64_t rank, const int64_t *dims,
                           const int64_t *perm, StridedShape &s) {
  if (rank < 0 || rank > kMaxElementwiseRank)
    return false;
  int64_t strides[kMaxElementwiseRank];
  int64_t stride = 1;
  bool seen[kMaxElementwiseRank] = {};
  for (int64_t d = rank - 1; d >= 0; --d) {
    if (dims[d] < 0 || perm[d] < 0 || perm[d] >= rank || seen[perm[d]])
      return false;
    seen[perm[d]] = true;
    strides[d] = stride;
    stride *= dims[d];
  }
  s.count = 1;
  for (int d = 0; d < kMaxElementwiseRank; ++d) {
    int64_t i = d - (kMaxElementwiseRank - rank);
    s.shape[d] = i >= 0 ? dims[perm[i]] : 1;
    s.strides[d] = i >= 0 ? strides[perm[i]] : 0;
    s.count *= s.shape[d];
  }
  return true;
}

/// One batched matmul: out[i, j] = alpha * op(a[i, j]) . op(b[i, j]) for
/// i < batch0, j < batch1, each matrix row-major with rows `ld` apart,
/// op(a) [m, k] (a stored [k, m] when transA), op(b) [k, n], out [m, n];
/// matrix (i, j) of each at i * stride0 + j * stride1 (0: broadcast).
struct MatmulShape {
  int64_t batch0 = 1, batch1 = 1, m = 0, n = 0, k = 0;
  bool transA = false, transB = false;
  int64_t lda = 1, ldb = 1, ldc = 1;
  int64_t aStride0 = 0, aStride1 = 0, bStride0 = 0, bStride1 = 0;
  int64_t outStride0 = 0, outStride1 = 0;
};

/// The matrices of a view (padded to kMaxElementwiseRank dims): whether
/// they are stored transposed (their rows unit-stride) and the leading
/// dim; false when neither of the last two dims is unit-stride.
inline bool matrixLayout(const StridedShape &v, bool &transposed, int64_t &ld) {
  int64_t rows = v.shape[2], cols = v.shape[3];
  if (cols == 1 || v.strides[3] == 1) {
    transposed = false;
    ld = rows == 1 ? cols : v.strides[2];
    return ld >= cols;
  }
  if (rows == 1 || v.strides[2] == 1) {
    transposed = true;
    ld = v.strides[3];
    return ld >= rows;
  }
  return false;
}

/// numpy matmul of a and b into out, each a view of its row-major buffer
/// (rank dims, 2 to 4): the buffer transposed by `perm` (ONNX Transpose:
/// the view's dim i is the buffer's dim perm[i]) - a transpose the matmul
/// reads in place, its last two dims keeping one unit-stride (for out: the
/// last). transA / transB transpose a's / b's view (Gemm). The iteration,
/// or false when the inner dims differ, the batch dims do not broadcast,
/// out's view is not numpy's result shape, or a view is not one a GEMM
/// reads.
inline bool matmulShape(bool transA, bool transB, int64_t aRank,
                        const int64_t *aDims, const int64_t *aPerm,
                        int64_t bRank, const int64_t *bDims,
                        const int64_t *bPerm, int64_t outRank,
                        const int64_t *outDims, const int64_t *outPerm,
                        MatmulShape &s) {
  auto rankOk = [](int64_t rank) {
    return rank >= 2 && rank <= kMaxElementwiseRank;
  };
  StridedShape a, b, out;
  if (!rankOk(aRank) || !rankOk(bRank) ||
      outRank != (aRank > bRank ? aRank : bRank) ||
      !transposeShape(aRank, aDims, aPerm, a) ||
      !transposeShape(bRank, bDims, bPerm, b) ||
      !transposeShape(outRank, outDims, outPerm, out))
    return false;
  bool aStored, bStored, outStored;
  if (!matrixLayout(a, aStored, s.lda) || !matrixLayout(b, bStored, s.ldb) ||
      !matrixLayout(out, outStored, s.ldc) || outStored)
    return false;
  s.transA = transA != aStored;
  s.transB = transB != bStored;
  s.m = transA ? a.shape[3] : a.shape[2];
  s.k = transA ? a.shape[2] : a.shape[3];
  s.n = transB ? b.shape[2] : b.shape[3];
  if ((transB ? b.shape[3] : b.shape[2]) != s.k || out.shape[2] != s.m ||
      out.shape[3] != s.n)
    return false;
  // Batch dims (padded in front with 1s): numpy's broadcast.
  for (int d = 0; d < 2; ++d)
    if (out.shape[d] != (a.shape[d] == 1 ? b.shape[d] : a.shape[d]) ||
        (b.shape[d] != 1 && b.shape[d] != out.shape[d]))
      return false;
  s.batch0 = out.shape[0];
  s.batch1 = out.shape[1];
  s.aStride0 = a.shape[0] == 1 ? 0 : a.strides[0];
  s.aStride1 = a.shape[1] == 1 ? 0 : a.strides[1];
  s.bStride0 = b.shape[0] == 1 ? 0 : b.strides[0];
  s.bStride1 = b.shape[1] == 1 ? 0 : b.strides[1];
  s.outStride0 = out.strides[0];
  s.outStride1 = out.strides[1];
  return true;
}

/// A causal mask as the softmax applies it: in row i of each matrix of
/// `matrixRows` rows (i = the row's index modulo matrixRows), the columns
/// j with j - i >= k are -inf, i.e. left out - what adding
/// Trilu(full(-inf), upper, k) to the scores does. matrixRows 0: no mask.
struct CausalMask {
  int64_t matrixRows = 0;
  int64_t k = 0;
};

/// Fused scaled dot-product attention (moe_cuda_attention_f32): for each
/// batch b, head h and query t, out[b, h, t] = softmax_j(alpha * q[b, h,
/// t] . k[b, h / group, j]) . v[b, h / group, j] over the keys j the causal
/// mask keeps (matrixRows: the queries) - q's heads in groups of `group`
/// sharing a k/v head (grouped-query attention; group 1: one each). Each
/// operand's rows (head dims) contiguous, its batch, head and token dims
/// at the strides given (a batch stride 0 broadcasts k or v).
struct AttentionShape {
  int64_t batch = 0, heads = 0, kvHeads = 0, group = 0;
  int64_t queries = 0, keys = 0, dim = 0, valueDim = 0;
  int64_t q[3] = {}, k[3] = {}, v[3] = {}, out[3] = {};
  CausalMask mask;
  /// An additive mask's strides (batch, head, query, key; 0: broadcast),
  /// when the call has one: added to the scores before the softmax.
  int64_t bias[4] = {};
};

/// Sets s.bias to the strides of an additive mask of `rank` dims (0 to 4,
/// row-major) broadcast to the scores [batch, heads, queries, keys]; false
/// unless it broadcasts (numpy's rules: each dim 1 or the scores').
inline bool attentionBias(int64_t rank, const int64_t *dims,
                          AttentionShape &s) {
  if (rank < 0 || rank > kMaxElementwiseRank)
    return false;
  int64_t padded[kMaxElementwiseRank];
  padFront(rank, dims, 1, padded);
  const int64_t scores[kMaxElementwiseRank] = {s.batch, s.heads, s.queries,
                                               s.keys};
  return broadcastStrides(padded, scores, s.bias);
}

/// The widest head the one-launch attention kernel takes (rows of q, k and
/// v are staged in shared memory, a row's outputs kept in a warp's
/// registers); wider ones run as cuBLAS, softmax, cuBLAS.
constexpr int64_t kMaxAttentionDim = MOE_CUDA_MAX_ATTENTION_HEAD_DIM;

/// The attention of views (each its row-major buffer of rank dims, 3 or
/// 4, transposed by perm, as matmulShape reads them) - the graph's
/// softmax(alpha * q . k^T) . v: q [b, heads, t, dim], kT [b, kvHeads, dim,
/// keys] (the scores' right operand), v [b, kvHeads, keys, valueDim], out
/// [b, heads, t, valueDim]; rank 3: one batch. False unless the dims
/// agree, heads is a multiple of kvHeads, k's and v's batch is q's or 1,
/// each view's head dim is its buffer's last (unit stride), and both head
/// dims are at least 1. The mask (rows 0: none) is left to the caller.
inline bool attentionShape(int64_t qRank, const int64_t *qDims,
                           const int64_t *qPerm, int64_t kRank,
                           const int64_t *kDims, const int64_t *kPerm,
                           int64_t vRank, const int64_t *vDims,
                           const int64_t *vPerm, int64_t outRank,
                           const int64_t *outDims, const int64_t *outPerm,
                           AttentionShape &s) {
  for (int64_t rank : {qRank, kRank, vRank, outRank})
    if (rank < 3 || rank > 4)
      return false;
  // Padded to 4 dims: [1, heads, .., ..] for rank 3.
  StridedShape q, kT, v, out;
  if (!transposeShape(qRank, qDims, qPerm, q) ||
      !transposeShape(kRank, kDims, kPerm, kT) ||
      !transposeShape(vRank, vDims, vPerm, v) ||
      !transposeShape(outRank, outDims, outPerm, out))
    return false;
  s.batch = q.shape[0];
  s.heads = q.shape[1];
  s.queries = q.shape[2];
  s.dim = q.shape[3];
  s.kvHeads = kT.shape[1];
  s.keys = kT.shape[3];
  s.valueDim = v.shape[3];
  auto unitStride = [](const StridedShape &view, int d) {
    return view.shape[d] == 1 || view.strides[d] == 1;
  };
  auto batchOk = [&](const StridedShape &view) {
    return view.shape[0] == 1 || view.shape[0] == s.batch;
  };
  if (s.kvHeads < 1 || s.heads % s.kvHeads != 0 || kT.shape[2] != s.dim ||
      !batchOk(kT) || !batchOk(v) || v.shape[1] != s.kvHeads ||
      v.shape[2] != s.keys || out.shape[0] != s.batch ||
      out.shape[1] != s.heads || out.shape[2] != s.queries ||
      out.shape[3] != s.valueDim || s.dim < 1 || s.valueDim < 1 ||
      !unitStride(q, 3) || !unitStride(kT, 2) || !unitStride(v, 3) ||
      !unitStride(out, 3))
    return false;
  s.group = s.heads / s.kvHeads;
  // Strides of the batch (0 where broadcast), head and token dims.
  auto strides = [](const StridedShape &view, int token, int64_t(&to)[3]) {
    to[0] = view.shape[0] == 1 ? 0 : view.strides[0];
    to[1] = view.strides[1];
    to[2] = view.strides[token];
  };
  strides(q, 2, s.q);
  strides(kT, 3, s.k);
  strides(v, 2, s.v);
  strides(out, 2, s.out);
  return true;
}

/// The iteration of x (rank dims, each out's or 1) broadcast to out's dims:
/// ONNX Expand; false when a dim is neither.
inline bool expandShape(int64_t rank, const int64_t *dims,
                        const int64_t *outDims, StridedShape &s) {
  if (rank < 0 || rank > kMaxElementwiseRank)
    return false;
  int64_t padded[kMaxElementwiseRank];
  padFront(rank, dims, 1, padded);
  padFront(rank, outDims, 1, s.shape);
  if (!broadcastStrides(padded, s.shape, s.strides))
    return false;
  s.count = 1;
  for (int d = 0; d < kMaxElementwiseRank; ++d)
    s.count *= s.shape[d];
  return true;
}

/// Where output element `i` of a gather by strides reads x.
MOE_HOST_DEVICE inline int64_t gatherOffset(const StridedShape &s, int64_t i) {
  int64_t offset = 0;
  for (int d = kMaxElementwiseRank - 1; d >= 0; --d) {
    offset += (i % s.shape[d]) * s.strides[d];
    i /= s.shape[d];
  }
  return offset;
}

inline void gatherOnHost(const StridedShape &s, const float *x, float *out) {
  for (int64_t i = 0; i < s.count; ++i)
    out[i] = x[gatherOffset(s, i)];
}

/// The end of the columns row `r` keeps (all `cols` without a mask).
MOE_HOST_DEVICE inline int64_t causalEnd(const CausalMask &mask, int64_t r,
                                         int64_t cols) {
  if (mask.matrixRows == 0)
    return cols;
  int64_t end = r % mask.matrixRows + mask.k;
  return end < 0 ? 0 : end > cols ? cols : end;
}

/// Column c of a softmax row whose columns from `end` on are masked: a
/// row masked whole is NaN, as the softmax of a row of -inf is.
MOE_HOST_DEVICE inline float maskedProbability(float x, float max, float scale,
                                               int64_t c, int64_t end) {
  if (end == 0)
    return NAN;
  return c < end ? expf(x - max) * scale : 0.0f;
}

/// Element i of an f32 Range, as the compiled code's lowering computes it.
MOE_HOST_DEVICE inline float rangeElement(float start, float delta, int64_t i) {
  return start + float(i) * delta;
}

/// A rotary position embedding as HF's rotate_half writes it, over rows of
/// `cols` values: out = x * cos + rot(x) * sin, rot(x) of a row the concat
/// of the negated columns [negStart, negStart + negWidth) and the columns
/// [posStart, posStart + cols - negWidth) (rotate_half: the second half
/// negated, then the first). out row-major over tables.shape; x, cos and
/// sin read through their strides over it (`tables`: lhs cos, rhs sin; x:
/// a view of its buffer - the heads' transpose read in place - whose rows
/// are contiguous).
struct RotaryShape {
  BinaryShape tables;
  StridedShape x;
  int64_t cols = 0, negStart = 0, negWidth = 0, posStart = 0;
};

/// Sets the rotate_half halves of rows of `cols` values (the graph's slices'
/// bounds); false unless they are blocks of a row whose widths make it up.
inline bool rotaryHalves(int64_t cols, int64_t negStart, int64_t negWidth,
                         int64_t posStart, int64_t posWidth, RotaryShape &s) {
  s.cols = cols;
  s.negStart = negStart;
  s.negWidth = negWidth;
  s.posStart = posStart;
  return negStart >= 0 && negWidth >= 0 && posStart >= 0 && posWidth >= 0 &&
         negWidth + posWidth == cols && negStart + negWidth <= cols &&
         posStart + posWidth <= cols;
}

/// The iteration of a rotary embedding of x's view (its buffer of rank
/// dims, 1 to kMaxElementwiseRank, transposed by perm, which must keep the
/// last dim) with tables cos and sin (each dim 1 or the view's: the result
/// has the view's shape) and the halves' columns as its slices computed
/// them; false when the tables do not broadcast, the view moves the rows,
/// or the halves are not a row's columns (their widths must make it up).
inline bool rotaryShape(int64_t rank, const int64_t *dims, const int64_t *perm,
                        int64_t cosRank, const int64_t *cosDims,
                        int64_t sinRank, const int64_t *sinDims,
                        int64_t negStart, int64_t negWidth, int64_t posStart,
                        int64_t posWidth, RotaryShape &s) {
  if (rank < 1 || rank > kMaxElementwiseRank || cosRank < 0 || cosRank > rank ||
      sinRank < 0 || sinRank > rank || !transposeShape(rank, dims, perm, s.x) ||
      perm[rank - 1] != rank - 1)
    return false;
  int64_t cos[kMaxElementwiseRank], sin[kMaxElementwiseRank];
  for (int d = 0; d < kMaxElementwiseRank; ++d)
    s.tables.shape[d] = s.x.shape[d];
  s.tables.count = s.x.count;
  padFront(cosRank, cosDims, 1, cos);
  padFront(sinRank, sinDims, 1, sin);
  if (!broadcastStrides(cos, s.tables.shape, s.tables.lhs) ||
      !broadcastStrides(sin, s.tables.shape, s.tables.rhs))
    return false;
  return rotaryHalves(dims[rank - 1], negStart, negWidth, posStart, posWidth,
                      s);
}

/// Element i of a rotary embedding (cos and sin: its table values).
MOE_HOST_DEVICE inline float rotaryElement(const RotaryShape &s, const float *x,
                                           int64_t i, float cos, float sin) {
  int64_t j = i % s.cols;
  const float *row = x + gatherOffset(s.x, i - j);
  float rotated = j < s.negWidth ? -row[s.negStart + j]
                                 : row[s.posStart + (j - s.negWidth)];
  return row[j] * cos + rotated * sin;
}

/// Two rotary embeddings sharing their tables (q's and k's), one launch:
/// Elementwise.cu.
moe_status launchRotaryPair(cudaStream_t stream, const RotaryShape &a,
                            const RotaryShape &b, const float *xa,
                            const float *xb, const float *cos, const float *sin,
                            float *outA, float *outB);

inline void rotaryOnHost(const RotaryShape &s, const float *x, const float *cos,
                         const float *sin, float *out) {
  for (int64_t i = 0; i < s.tables.count; ++i) {
    int64_t c, sn;
    binaryOffsets(s.tables, i, c, sn);
    out[i] = rotaryElement(s, x, i, cos[c], sin[sn]);
  }
}

/// moe_cuda_copy_columns_f32 on the host.
inline void copyColumnsOnHost(int64_t rows, int64_t width, const float *src,
                              int64_t srcStride, float *dst,
                              int64_t dstStride) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < width; ++j)
      dst[r * dstStride + j] = src[r * srcStride + j];
}

/// Softmax of each row on the host: the max subtracted, as the kernel; a
/// row the mask leaves empty is NaN, as the masked sum's softmax is.
inline void softmaxOnHost(const float *x, int64_t rows, int64_t cols,
                          CausalMask mask, float *out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = x + r * cols;
    int64_t end = causalEnd(mask, r, cols);
    float max = -INFINITY;
    for (int64_t c = 0; c < end; ++c)
      max = row[c] > max ? row[c] : max;
    float sum = 0.0f;
    for (int64_t c = 0; c < end; ++c)
      sum += expf(row[c] - max);
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = maskedProbability(row[c], max, 1.0f / sum, c, end);
  }
}

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_ATTENTION_H
