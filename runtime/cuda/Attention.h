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

/// One batched matmul: out [batch0, batch1, m, n] row-major, each operand's
/// matrix (i, j) at i * stride0 + j * stride1 (0: broadcast).
struct MatmulShape {
  int64_t batch0 = 1, batch1 = 1, m = 0, n = 0, k = 0;
  int64_t aStride0 = 0, aStride1 = 0, bStride0 = 0, bStride1 = 0;
};

/// numpy matmul of a (aRank dims, 2 to 4; its last two swapped when
/// transA) and b into out: the iteration, or false when the inner dims
/// differ, the batch dims do not broadcast, or out's dims are not numpy's
/// result shape.
inline bool matmulShape(bool transA, bool transB, int64_t aRank,
                        const int64_t *aDims, int64_t bRank,
                        const int64_t *bDims, int64_t outRank,
                        const int64_t *outDims, MatmulShape &s) {
  auto rankOk = [](int64_t rank) {
    return rank >= 2 && rank <= kMaxElementwiseRank;
  };
  if (!rankOk(aRank) || !rankOk(bRank) ||
      outRank != (aRank > bRank ? aRank : bRank))
    return false;
  for (const auto &[rank, dims] :
       {std::pair(aRank, aDims), std::pair(bRank, bDims),
        std::pair(outRank, outDims)})
    for (int64_t d = 0; d < rank; ++d)
      if (dims[d] < 0)
        return false;
  int64_t aRows = aDims[aRank - 2], aCols = aDims[aRank - 1];
  int64_t bRows = bDims[bRank - 2], bCols = bDims[bRank - 1];
  s.m = transA ? aCols : aRows;
  s.k = transA ? aRows : aCols;
  s.n = transB ? bRows : bCols;
  if ((transB ? bCols : bRows) != s.k || outDims[outRank - 2] != s.m ||
      outDims[outRank - 1] != s.n)
    return false;
  // Batch dims padded in front to two; strides of whole matrices.
  int64_t a[2], b[2], out[2];
  for (int d = 0; d < 2; ++d) {
    int64_t i = d - (2 - (aRank - 2)), j = d - (2 - (bRank - 2)),
            o = d - (2 - (outRank - 2));
    a[d] = i >= 0 ? aDims[i] : 1;
    b[d] = j >= 0 ? bDims[j] : 1;
    out[d] = o >= 0 ? outDims[o] : 1;
    if (out[d] != (a[d] == 1 ? b[d] : a[d]) || (b[d] != 1 && b[d] != out[d]))
      return false;
  }
  s.batch0 = out[0];
  s.batch1 = out[1];
  int64_t aMatrix = aRows * aCols, bMatrix = bRows * bCols;
  s.aStride1 = a[1] == 1 ? 0 : aMatrix;
  s.aStride0 = a[0] == 1 ? 0 : a[1] * aMatrix;
  s.bStride1 = b[1] == 1 ? 0 : bMatrix;
  s.bStride0 = b[0] == 1 ? 0 : b[1] * bMatrix;
  return true;
}

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

/// A causal mask as the softmax applies it: in row i of each matrix of
/// `matrixRows` rows (i = the row's index modulo matrixRows), the columns
/// j with j - i >= k are -inf, i.e. left out - what adding
/// Trilu(full(-inf), upper, k) to the scores does. matrixRows 0: no mask.
struct CausalMask {
  int64_t matrixRows = 0;
  int64_t k = 0;
};

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

/// A rotary position embedding as HF's rotate_half writes it, over x's
/// rows of `cols` values: out = x * cos + rot(x) * sin, rot(x) of a row
/// the concat of the negated columns [negStart, negStart + negWidth) and
/// the columns [posStart, posStart + cols - negWidth) (rotate_half: the
/// second half negated, then the first). cos and sin read through their
/// broadcast strides over x's shape (`tables`: lhs cos, rhs sin).
struct RotaryShape {
  BinaryShape tables;
  int64_t cols = 0, negStart = 0, negWidth = 0, posStart = 0;
};

/// The iteration of a rotary embedding of x (rank dims, 1 to
/// kMaxElementwiseRank) with tables cos and sin (each dim 1 or x's: the
/// result has x's shape) and the halves' columns as its slices computed
/// them; false when the tables do not broadcast to x or the halves are
/// not x's columns (their widths must make up a row).
inline bool rotaryShape(int64_t rank, const int64_t *dims, int64_t cosRank,
                        const int64_t *cosDims, int64_t sinRank,
                        const int64_t *sinDims, int64_t negStart,
                        int64_t negWidth, int64_t posStart, int64_t posWidth,
                        RotaryShape &s) {
  if (rank < 1 || rank > kMaxElementwiseRank || cosRank < 0 || cosRank > rank ||
      sinRank < 0 || sinRank > rank)
    return false;
  int64_t cos[kMaxElementwiseRank], sin[kMaxElementwiseRank];
  padFront(rank, dims, 1, s.tables.shape);
  padFront(cosRank, cosDims, 1, cos);
  padFront(sinRank, sinDims, 1, sin);
  if (!broadcastStrides(cos, s.tables.shape, s.tables.lhs) ||
      !broadcastStrides(sin, s.tables.shape, s.tables.rhs))
    return false;
  s.tables.count = 1;
  for (int d = 0; d < kMaxElementwiseRank; ++d)
    s.tables.count *= s.tables.shape[d];
  s.cols = dims[rank - 1];
  s.negStart = negStart;
  s.negWidth = negWidth;
  s.posStart = posStart;
  return negStart >= 0 && negWidth >= 0 && posStart >= 0 && posWidth >= 0 &&
         negWidth + posWidth == s.cols && negStart + negWidth <= s.cols &&
         posStart + posWidth <= s.cols;
}

/// Element i of a rotary embedding (cos and sin: its table values).
MOE_HOST_DEVICE inline float rotaryElement(const RotaryShape &s, const float *x,
                                           int64_t i, float cos, float sin) {
  int64_t j = i % s.cols;
  const float *row = x + (i - j);
  float rotated = j < s.negWidth ? -row[s.negStart + j]
                                 : row[s.posStart + (j - s.negWidth)];
  return x[i] * cos + rotated * sin;
}

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
