//===- Elementwise.cu - The graph's elementwise ops on the GPU ------------===//
//
// The ops around a graph's MoE layers (a residual add, an RMS norm), so
// that a device-resident run keeps their buffers on the device:
//   - moe_cuda_binary_f32: one thread per output element (a grid-stride
//     loop), each reading its operands through their broadcast strides
//     (Elementwise.h), or flat when neither operand broadcasts;
//   - moe_cuda_unary_f32, moe_cuda_cast: the same, one operand;
//   - moe_cuda_mean_rows_f32: one warp per row, lanes striding the row,
//     a shuffle tree to finish;
//   - moe_cuda_rms_norm_f32: one block per row (the row read twice,
//     the second time from cache; with a residual add, both operands, the
//     sum written on the first pass), its sum of squares by shuffles
//     within warps and shared memory across them;
//   - moe_cuda_softmax_f32: one block per row, its max and sum of
//     exponentials reduced the same way (the row read three times);
//     moe_cuda_causal_softmax_f32 leaves out the columns a causal mask
//     would set to -inf (never reading them), so that no mask is built;
//   - moe_cuda_copy_columns_f32: a block of columns (a Slice), one thread
//     per element; moe_cuda_concat_f32 (a Concat's inputs side by side, one
//     launch) and moe_cuda_range_f32 likewise;
//   - moe_cuda_rotary_f32: a rotary embedding (x * cos + rotate_half(x) *
//     sin), one thread per element reading x twice (through a view: the
//     heads' transpose) and the tables through their broadcast strides:
//     one launch for the eight ops a graph writes;
//   - moe_cuda_transpose_f32, moe_cuda_expand_f32: a gather by strides,
//     one thread per output element (coalesced
//     writes, gathered reads: attention's head transposes move rows of
//     head_dim values, which stay mostly within cache lines).
// Memory-bound, like the ops they serve.
//
//===----------------------------------------------------------------------===//

#include "Attention.h"
#include "Convert.cuh"
#include "CudaSupport.h"
#include "Elementwise.h"
#include "Vector.cuh"

#include <algorithm>
#include <type_traits>

using namespace moe::runtime::cuda;

namespace {

constexpr int kThreads = 256;

/// Flat: both operands laid out as the output (a residual add), no index
/// arithmetic; else each element's offsets from its multi-index.
template <int Op, bool Flat>
__global__ void binaryKernel(BinaryShape s, const float *lhs, const float *rhs,
                             float *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < s.count;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t l = i, r = i;
    if (!Flat)
      binaryOffsets(s, i, l, r);
    out[i] = applyBinary(Op, lhs[l], rhs[r]);
  }
}

__global__ void unaryKernel(int op, int64_t count, const float *x, float *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = applyUnary(op, x[i]);
}

__global__ void castKernel(int kind, int64_t count, const void *x, void *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    castElement(kind, x, out, i);
}

__global__ void meanRowsKernel(const float *x, int64_t rows, int64_t cols,
                               float *out) {
  int64_t row = int64_t(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows) // a whole warp leaves together
    return;
  float sum = 0.0f;
  for (int64_t c = lane; c < cols; c += 32)
    sum += x[row * cols + c];
  for (int offset = 16; offset > 0; offset /= 2)
    sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (lane == 0)
    out[row] = sum / float(cols);
}

struct Plus {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Larger {
  __device__ float operator()(float a, float b) const { return a > b ? a : b; }
};

/// `value` reduced by `op` over the block (every thread gets it; threads
/// past the last warp's count contribute `identity`); blockDim.x a multiple
/// of 32, at most 1024. Ends with a barrier, so that a second reduction may
/// reuse the shared slots.
template <typename Op>
__device__ float blockReduce(float value, Op op, float identity) {
  __shared__ float warpValues[32];
  for (int offset = 16; offset > 0; offset /= 2)
    value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0)
    warpValues[warp] = value;
  __syncthreads();
  value = lane < int(blockDim.x / 32) ? warpValues[lane] : identity;
  for (int offset = 16; offset > 0; offset /= 2)
    value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
  __syncthreads();
  return value;
}

__device__ float blockSum(float value) {
  return blockReduce(value, Plus{}, 0.0f);
}

/// Row blockIdx.x of the norm of a (+ b), the sum written to `sum` when
/// given.
template <typename Out>
__global__ void rmsNormKernel(const float *a, const float *b, int64_t cols,
                              float eps, const float *weight, float *sum,
                              Out *out) {
  int64_t first = int64_t(blockIdx.x) * cols;
  float squares = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = normInput(a, b, first + c);
    squares += v * v;
    if (sum)
      sum[first + c] = v;
  }
  float scale = rmsScale(blockSum(squares), cols, eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    out[first + c] = fromFloat<Out>(normInput(a, b, first + c) * scale *
                                    (weight ? weight[c] : 1.0f));
}

/// Row blockIdx.x of the softmax of x [rows, cols], its columns from
/// causalEnd(mask, row) on left out (-inf: probability 0).
__global__ void softmaxKernel(const float *x, int64_t cols, CausalMask mask,
                              float *out) {
  int64_t r = blockIdx.x;
  const float *row = x + r * cols;
  int64_t end = causalEnd(mask, r, cols);
  float max = -INFINITY;
  for (int64_t c = threadIdx.x; c < end; c += blockDim.x)
    max = row[c] > max ? row[c] : max;
  max = blockReduce(max, Larger{}, -INFINITY);
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < end; c += blockDim.x)
    sum += expf(row[c] - max);
  float scale = 1.0f / blockSum(sum);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    out[r * cols + c] = maskedProbability(row[c], max, scale, c, end);
}

__global__ void rangeKernel(float start, float delta, int64_t count,
                            float *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = rangeElement(start, delta, i);
}

/// Up to 4 inputs of a concat, their element types (MOE_CUDA_ELEMENT_*),
/// widths (columns of a row) and, for an input read through a view (a
/// transpose read in place), the view.
struct ConcatInputs {
  const void *x[4];
  int32_t type[4];
  int64_t width[4];
  bool strided[4];
  StridedShape view[4];
  int32_t n;
  int64_t cols;
};

/// Element i of a concat input of `type`: its bits when that is the
/// output's 16-bit type, else converted (through f32).
template <typename Out>
__device__ Out concatElement(const void *x, int32_t type, int64_t i) {
  switch (type) {
  case MOE_CUDA_ELEMENT_BF16:
    if constexpr (std::is_same_v<Out, __nv_bfloat16>)
      return static_cast<const Out *>(x)[i];
    return fromFloat<Out>(toFloat(static_cast<const __nv_bfloat16 *>(x)[i]));
  case MOE_CUDA_ELEMENT_F16:
    if constexpr (std::is_same_v<Out, __half>)
      return static_cast<const Out *>(x)[i];
    return fromFloat<Out>(toFloat(static_cast<const __half *>(x)[i]));
  default:
    return fromFloat<Out>(static_cast<const float *>(x)[i]);
  }
}

template <typename Out>
__global__ void concatKernel(ConcatInputs in, int64_t rows, Out *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
       i < rows * in.cols; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i / in.cols, c = i % in.cols;
    int32_t k = 0;
    while (k + 1 < in.n && c >= in.width[k])
      c -= in.width[k++];
    int64_t element = r * in.width[k] + c;
    out[i] = concatElement<Out>(
        in.x[k], in.type[k],
        in.strided[k] ? gatherOffset(in.view[k], element) : element);
  }
}

/// Output values a thread of concatVectorKernel moves at a time: 16 bytes.
template <typename Out> constexpr int kConcatVector = 16 / int(sizeof(Out));

/// The concat 16 bytes of output at a time, for calls whose rows split
/// into whole vectors (concatVectors): a KV cache's concat moves the whole
/// cache every decode step, so its copy wants the bandwidth. Inputs of the
/// output's type move as 16-byte words; others (a 16-bit cache's new f32
/// rows) are converted value by value.
template <typename Out>
__global__ void concatVectorKernel(ConcatInputs in, int64_t rows, Out *out) {
  constexpr int kVector = kConcatVector<Out>;
  int64_t vectors = in.cols / kVector; // a row's
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
       i < rows * vectors; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i / vectors, c = (i % vectors) * kVector;
    int32_t k = 0;
    while (k + 1 < in.n && c >= in.width[k])
      c -= in.width[k++];
    int64_t element = r * in.width[k] + c;
    int64_t at = in.strided[k] ? gatherOffset(in.view[k], element) : element;
    uint4 word;
    if (in.type[k] == kElementType<Out>) {
      word = loadVector<uint4>(static_cast<const Out *>(in.x[k]) + at);
    } else {
      alignas(16) Out values[kVector];
      for (int j = 0; j < kVector; ++j)
        values[j] = concatElement<Out>(in.x[k], in.type[k], at + j);
      word = loadVector<uint4>(values);
    }
    storeVector(out + i * kVector, word);
  }
}

/// Whether concatVectorKernel takes the call: out 16-byte aligned, every
/// input's width a multiple of the vector, an input of the output's type
/// 16-byte aligned, a viewed input contiguous in its innermost dim, which
/// the vector divides (a vector then never leaves it), as it divides the
/// view's other strides.
template <typename Out>
bool concatVectors(const ConcatInputs &in, const Out *out) {
  constexpr int kVector = kConcatVector<Out>;
  if (!wholeWords(out, sizeof(Out), {}))
    return false;
  for (int32_t k = 0; k < in.n; ++k) {
    const StridedShape &view = in.view[k];
    int last = kMaxElementwiseRank - 1;
    // (A viewed input's vectors then start at multiples of a vector.)
    if (in.width[k] % kVector != 0 ||
        (in.type[k] == kElementType<Out> &&
         !wholeWords(in.x[k], sizeof(Out), {})) ||
        (in.strided[k] && (view.strides[last] != 1 ||
                           !wholeWords(nullptr, sizeof(Out),
                                       {view.shape[last], view.strides[0],
                                        view.strides[1], view.strides[2]}))))
      return false;
  }
  return true;
}

__global__ void rotaryKernel(RotaryShape s, const float *x, const float *cos,
                             const float *sin, float *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
       i < s.tables.count; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t c, sn;
    binaryOffsets(s.tables, i, c, sn);
    out[i] = rotaryElement(s, x, i, cos[c], sin[sn]);
  }
}

/// Two rotary embeddings with the same tables (q's and k's): elements
/// [0, a's count) are a's, the rest b's.
__global__ void rotaryPairKernel(RotaryShape a, RotaryShape b, const float *xa,
                                 const float *xb, const float *cos,
                                 const float *sin, float *outA, float *outB) {
  int64_t total = a.tables.count + b.tables.count;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    bool first = i < a.tables.count;
    const RotaryShape &s = first ? a : b;
    int64_t j = first ? i : i - a.tables.count;
    int64_t c, sn;
    binaryOffsets(s.tables, j, c, sn);
    (first ? outA : outB)[j] =
        rotaryElement(s, first ? xa : xb, j, cos[c], sin[sn]);
  }
}

__global__ void copyColumnsKernel(int64_t rows, int64_t width, const float *src,
                                  int64_t srcStride, float *dst,
                                  int64_t dstStride) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
       i < rows * width; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i / width, j = i % width;
    dst[r * dstStride + j] = src[r * srcStride + j];
  }
}

__global__ void gatherKernel(StridedShape s, const float *x, float *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < s.count;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = x[gatherOffset(s, i)];
}

/// A grid-stride launch's blocks for `count` elements.
dim3 elementGrid(int64_t count) {
  int64_t blocks = (count + kThreads - 1) / kThreads;
  return dim3{unsigned(blocks < 65535 * 8 ? blocks : 65535 * 8)};
}

template <typename Out>
void launchConcat(cudaStream_t stream, const ConcatInputs &in, int64_t rows,
                  Out *out) {
  if (concatVectors<Out>(in, out)) {
    MOE_LAUNCH(elementGrid(rows * in.cols / kConcatVector<Out>), kThreads, 0,
               stream, concatVectorKernel<Out>)
    (in, rows, out);
  } else {
    MOE_LAUNCH(elementGrid(rows * in.cols), kThreads, 0, stream,
               concatKernel<Out>)
    (in, rows, out);
  }
}

} // namespace

extern "C" moe_status
moe_cuda_binary_f32(void *stream, int32_t op, int32_t rank,
                    const int64_t *shape, const float *lhs,
                    const int64_t *lhsStrides, const float *rhs,
                    const int64_t *rhsStrides, float *out) {
  if (!validBinaryOp(op) || rank < 0 || rank > kMaxElementwiseRank ||
      (rank > 0 && (!shape || !lhsStrides || !rhsStrides)))
    return MOE_ERROR_INVALID_ARGUMENT;
  BinaryShape s;
  if (!stridedShape(rank, shape, lhsStrides, rhsStrides, s))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (s.count == 0)
    return MOE_OK;
  if (!lhs || !rhs || !out)
    return MOE_ERROR_INVALID_ARGUMENT;
  bool flat = sameLayout(s, s.lhs) && sameLayout(s, s.rhs);
  return withBinaryOp(op, [&](auto code) {
    constexpr int Op = decltype(code)::value;
    auto kernel = flat ? binaryKernel<Op, true> : binaryKernel<Op, false>;
    MOE_LAUNCH(elementGrid(s.count), kThreads, 0, asStream(stream), kernel)
    (s, lhs, rhs, out);
    return launched();
  });
}

extern "C" moe_status moe_cuda_unary_f32(void *stream, int32_t op,
                                         int64_t count, const float *x,
                                         float *out) {
  if (!validUnaryOp(op) || count < 0 || (count > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (count == 0)
    return MOE_OK;
  MOE_LAUNCH(elementGrid(count), kThreads, 0, asStream(stream), unaryKernel)
  (op, count, x, out);
  return launched();
}

extern "C" moe_status moe_cuda_cast(void *stream, int32_t kind, int64_t count,
                                    const void *x, void *out) {
  if (!validCast(kind) || count < 0 || (count > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (count == 0)
    return MOE_OK;
  MOE_LAUNCH(elementGrid(count), kThreads, 0, asStream(stream), castKernel)
  (kind, count, x, out);
  return launched();
}

extern "C" moe_status moe_cuda_mean_rows_f32(void *stream, const float *x,
                                             int64_t rows, int64_t cols,
                                             float *out) {
  if (rows < 0 || cols < 1 || (rows > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (rows == 0)
    return MOE_OK;
  int64_t blocks = (rows + kThreads / 32 - 1) / (kThreads / 32);
  if (blocks > INT32_MAX)
    return MOE_ERROR_INVALID_ARGUMENT;
  MOE_LAUNCH(unsigned(blocks), kThreads, 0, asStream(stream), meanRowsKernel)
  (x, rows, cols, out);
  return launched();
}

extern "C" moe_status moe_cuda_rms_norm(void *stream, int32_t out_type,
                                        const float *x, const float *residual,
                                        int64_t rows, int64_t cols, float eps,
                                        const float *weight, float *sum,
                                        void *out) {
  if (rows < 0 || cols < 1 || rows > INT32_MAX || (rows > 0 && (!x || !out)) ||
      !validElementType(out_type))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (rows == 0)
    return MOE_OK;
  withElementType(out_type, [&](auto element) {
    using Out = decltype(element);
    MOE_LAUNCH(unsigned(rows), kThreads, 0, asStream(stream),
               rmsNormKernel<Out>)
    (x, residual, cols, eps, weight, sum, static_cast<Out *>(out));
  });
  return launched();
}

extern "C" moe_status moe_cuda_rms_norm_f32(void *stream, const float *x,
                                            const float *residual, int64_t rows,
                                            int64_t cols, float eps,
                                            const float *weight, float *sum,
                                            float *out) {
  return moe_cuda_rms_norm(stream, MOE_CUDA_ELEMENT_F32, x, residual, rows,
                           cols, eps, weight, sum, out);
}

/// The softmax launch: one block per row.
static moe_status launchSoftmax(void *stream, const float *x, int64_t rows,
                                int64_t cols, CausalMask mask, float *out) {
  if (rows < 0 || cols < 1 || rows > INT32_MAX || (rows > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (rows == 0)
    return MOE_OK;
  // Short rows (decode's scores) take a warp; long ones a full block.
  int threads = cols <= 32 ? 32 : cols <= 128 ? 128 : kThreads;
  MOE_LAUNCH(unsigned(rows), threads, 0, asStream(stream), softmaxKernel)
  (x, cols, mask, out);
  return launched();
}

extern "C" moe_status moe_cuda_softmax_f32(void *stream, const float *x,
                                           int64_t rows, int64_t cols,
                                           float *out) {
  return launchSoftmax(stream, x, rows, cols, CausalMask{}, out);
}

extern "C" moe_status moe_cuda_causal_softmax_f32(void *stream, const float *x,
                                                  int64_t rows, int64_t cols,
                                                  int64_t matrix_rows,
                                                  int64_t k, float *out) {
  if (matrix_rows < 1 || rows % matrix_rows != 0)
    return MOE_ERROR_INVALID_ARGUMENT;
  return launchSoftmax(stream, x, rows, cols, CausalMask{matrix_rows, k}, out);
}

extern "C" moe_status moe_cuda_transpose_f32(void *stream, int32_t rank,
                                             const int64_t *dims,
                                             const int64_t *perm,
                                             const float *x, float *out) {
  StridedShape s;
  if ((rank > 0 && (!dims || !perm)) || !transposeShape(rank, dims, perm, s))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (s.count == 0)
    return MOE_OK;
  if (!x || !out)
    return MOE_ERROR_INVALID_ARGUMENT;
  MOE_LAUNCH(elementGrid(s.count), kThreads, 0, asStream(stream), gatherKernel)
  (s, x, out);
  return launched();
}

extern "C" moe_status moe_cuda_copy_columns_f32(void *stream, int64_t rows,
                                                int64_t width, const float *src,
                                                int64_t src_stride, float *dst,
                                                int64_t dst_stride) {
  if (rows < 0 || width < 0 || src_stride < width || dst_stride < width)
    return MOE_ERROR_INVALID_ARGUMENT;
  if (rows == 0 || width == 0)
    return MOE_OK;
  if (!src || !dst)
    return MOE_ERROR_INVALID_ARGUMENT;
  MOE_LAUNCH(elementGrid(rows * width), kThreads, 0, asStream(stream),
             copyColumnsKernel)
  (rows, width, src, src_stride, dst, dst_stride);
  return launched();
}

extern "C" moe_status moe_cuda_concat(void *stream, int32_t out_type, int32_t n,
                                      const void *const *inputs,
                                      const int32_t *input_types,
                                      const int64_t *widths, int64_t rows,
                                      const int64_t *views, void *out) {
  if (n < 1 || n > 4 || rows < 0 || !inputs || !widths ||
      !validElementType(out_type))
    return MOE_ERROR_INVALID_ARGUMENT;
  ConcatInputs in{};
  in.n = n;
  for (int32_t k = 0; k < n; ++k) {
    in.type[k] = input_types ? input_types[k] : MOE_CUDA_ELEMENT_F32;
    if (widths[k] < 0 || (rows > 0 && widths[k] > 0 && !inputs[k]) ||
        !validElementType(in.type[k]))
      return MOE_ERROR_INVALID_ARGUMENT;
    in.x[k] = inputs[k];
    in.width[k] = widths[k];
    in.cols += widths[k];
    if (views) {
      // A view must cover the input's rows x width elements.
      StridedShape &view = in.view[k];
      view.count = 1;
      for (int d = 0; d < kMaxElementwiseRank; ++d) {
        view.shape[d] = views[8 * k + d];
        view.strides[d] = views[8 * k + kMaxElementwiseRank + d];
        if (view.shape[d] < 0)
          return MOE_ERROR_INVALID_ARGUMENT;
        view.count *= view.shape[d];
      }
      if (view.count != rows * widths[k])
        return MOE_ERROR_INVALID_ARGUMENT;
      in.strided[k] = true;
    }
  }
  if (rows == 0 || in.cols == 0)
    return MOE_OK;
  if (!out)
    return MOE_ERROR_INVALID_ARGUMENT;
  withElementType(out_type, [&](auto element) {
    launchConcat(asStream(stream), in, rows,
                 static_cast<decltype(element) *>(out));
  });
  return launched();
}

extern "C" moe_status moe_cuda_concat_f32(void *stream, int32_t n,
                                          const float *const *inputs,
                                          const int64_t *widths, int64_t rows,
                                          const int64_t *views, float *out) {
  if (n < 1 || n > 4 || !inputs)
    return MOE_ERROR_INVALID_ARGUMENT;
  const void *untyped[4] = {};
  std::copy(inputs, inputs + n, untyped);
  return moe_cuda_concat(stream, MOE_CUDA_ELEMENT_F32, n, untyped, nullptr,
                         widths, rows, views, out);
}

extern "C" moe_status moe_cuda_range_f32(void *stream, float start, float delta,
                                         int64_t count, float *out) {
  if (count < 0 || (count > 0 && !out))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (count == 0)
    return MOE_OK;
  MOE_LAUNCH(elementGrid(count), kThreads, 0, asStream(stream), rangeKernel)
  (start, delta, count, out);
  return launched();
}

extern "C" moe_status
moe_cuda_rotary_f32(void *stream, int32_t rank, const int64_t *shape,
                    const float *x, const int64_t *x_strides, const float *cos,
                    const int64_t *cos_strides, const float *sin,
                    const int64_t *sin_strides, int64_t neg_start,
                    int64_t neg_width, int64_t pos_start, float *out) {
  if (rank < 1 || rank > kMaxElementwiseRank || !shape || !x_strides ||
      !cos_strides || !sin_strides || x_strides[rank - 1] != 1)
    return MOE_ERROR_INVALID_ARGUMENT;
  RotaryShape s;
  if (!stridedShape(rank, shape, cos_strides, sin_strides, s.tables))
    return MOE_ERROR_INVALID_ARGUMENT;
  padFront(rank, shape, 1, s.x.shape);
  padFront(rank, x_strides, 0, s.x.strides);
  s.x.count = s.tables.count;
  for (int d = 0; d < kMaxElementwiseRank; ++d)
    if (s.x.strides[d] < 0)
      return MOE_ERROR_INVALID_ARGUMENT;
  if (!rotaryHalves(shape[rank - 1], neg_start, neg_width, pos_start,
                    shape[rank - 1] - neg_width, s))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (s.tables.count == 0)
    return MOE_OK;
  if (!x || !cos || !sin || !out)
    return MOE_ERROR_INVALID_ARGUMENT;
  MOE_LAUNCH(elementGrid(s.tables.count), kThreads, 0, asStream(stream),
             rotaryKernel)
  (s, x, cos, sin, out);
  return launched();
}

moe_status moe::runtime::cuda::launchRotaryPair(
    cudaStream_t stream, const RotaryShape &a, const RotaryShape &b,
    const float *xa, const float *xb, const float *cos, const float *sin,
    float *outA, float *outB) {
  int64_t total = a.tables.count + b.tables.count;
  if (total == 0)
    return MOE_OK;
  MOE_LAUNCH(elementGrid(total), kThreads, 0, stream, rotaryPairKernel)
  (a, b, xa, xb, cos, sin, outA, outB);
  return launched();
}

extern "C" moe_status moe_cuda_expand_f32(void *stream, int32_t rank,
                                          const int64_t *dims,
                                          const int64_t *out_dims,
                                          const float *x, float *out) {
  StridedShape s;
  if ((rank > 0 && (!dims || !out_dims)) ||
      !expandShape(rank, dims, out_dims, s))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (s.count == 0)
    return MOE_OK;
  if (!x || !out)
    return MOE_ERROR_INVALID_ARGUMENT;
  MOE_LAUNCH(elementGrid(s.count), kThreads, 0, asStream(stream), gatherKernel)
  (s, x, out);
  return launched();
}
