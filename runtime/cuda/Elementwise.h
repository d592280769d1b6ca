//===- Elementwise.h - Broadcast binary ops, host and device ----*- C++ -*-===//
//
// The index math and scalar ops of moe_cuda_binary_f32 (Elementwise.cu)
// and of moe_cuda_cc_binary_f32's host path (CompiledCode.cu): numpy
// broadcasting turned into per-operand element strides over the output's
// dims (padded in front to MOE_CUDA_MAX_ELEMENTWISE_RANK with 1s).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_ELEMENTWISE_H
#define MOE_RUNTIME_CUDA_ELEMENTWISE_H

#include "IndexMath.h"

#include "moe_runtime_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace moe::runtime::cuda {

constexpr int kMaxElementwiseRank = MOE_CUDA_MAX_ELEMENTWISE_RANK;

/// One binary op's iteration: the output's dims and each operand's
/// element stride per output dim (0: broadcast), all padded in front.
struct BinaryShape {
  int64_t shape[kMaxElementwiseRank];
  int64_t lhs[kMaxElementwiseRank], rhs[kMaxElementwiseRank];
  int64_t count;
};

/// Pads `rank` values in front with `fill` to kMaxElementwiseRank.
inline void padFront(int64_t rank, const int64_t *values, int64_t fill,
                     int64_t (&padded)[kMaxElementwiseRank]) {
  for (int d = 0; d < kMaxElementwiseRank; ++d) {
    int64_t i = d - (kMaxElementwiseRank - rank);
    padded[d] = i >= 0 ? values[i] : fill;
  }
}

/// numpy broadcasting of an operand (its dims padded in front with 1s,
/// row-major) to the output's padded dims: its strides, 0 where a 1
/// stretches; false when a dim is neither the output's nor 1.
inline bool broadcastStrides(const int64_t (&dims)[kMaxElementwiseRank],
                             const int64_t (&out)[kMaxElementwiseRank],
                             int64_t (&strides)[kMaxElementwiseRank]) {
  int64_t stride = 1;
  for (int d = kMaxElementwiseRank - 1; d >= 0; --d) {
    if (dims[d] < 0 || (dims[d] != out[d] && dims[d] != 1))
      return false;
    strides[d] = dims[d] == out[d] && out[d] != 1 ? stride : 0;
    stride *= dims[d];
  }
  return true;
}

/// The iteration over `shape` (rank dims) reading two operands through
/// the strides given (0: broadcast), all padded in front: what the kernel
/// entries taking strides (binary ops, rotary tables) check; false when a
/// dim or stride is negative.
inline bool stridedShape(int64_t rank, const int64_t *shape,
                         const int64_t *lhsStrides, const int64_t *rhsStrides,
                         BinaryShape &s) {
  padFront(rank, shape, 1, s.shape);
  padFront(rank, lhsStrides, 0, s.lhs);
  padFront(rank, rhsStrides, 0, s.rhs);
  s.count = 1;
  for (int d = 0; d < kMaxElementwiseRank; ++d) {
    if (s.shape[d] < 0 || s.lhs[d] < 0 || s.rhs[d] < 0)
      return false;
    s.count *= s.shape[d];
  }
  return true;
}

/// The iteration of lhs op rhs into out (ranks and dims as given); false
/// when the shapes do not broadcast, or out's dims are not numpy's result
/// shape (each dim the operands' aligned one that is not a stretched 1).
inline bool binaryShape(int64_t lhsRank, const int64_t *lhsDims,
                        int64_t rhsRank, const int64_t *rhsDims,
                        int64_t outRank, const int64_t *outDims,
                        BinaryShape &s) {
  if (outRank < 0 || outRank > kMaxElementwiseRank || lhsRank > outRank ||
      rhsRank > outRank || lhsRank < 0 || rhsRank < 0)
    return false;
  int64_t l[kMaxElementwiseRank], r[kMaxElementwiseRank];
  padFront(outRank, outDims, 1, s.shape);
  padFront(lhsRank, lhsDims, 1, l);
  padFront(rhsRank, rhsDims, 1, r);
  if (!broadcastStrides(l, s.shape, s.lhs) ||
      !broadcastStrides(r, s.shape, s.rhs))
    return false;
  s.count = 1;
  for (int d = 0; d < kMaxElementwiseRank; ++d) {
    if (s.shape[d] != (l[d] == 1 ? r[d] : l[d]))
      return false;
    s.count *= s.shape[d];
  }
  return true;
}

/// Where output element `i` reads lhs and rhs.
MOE_HOST_DEVICE inline void binaryOffsets(const BinaryShape &s, int64_t i,
                                          int64_t &lhs, int64_t &rhs) {
  lhs = rhs = 0;
  for (int d = kMaxElementwiseRank - 1; d >= 0; --d) {
    int64_t at = i % s.shape[d];
    i /= s.shape[d];
    lhs += at * s.lhs[d];
    rhs += at * s.rhs[d];
  }
}

MOE_HOST_DEVICE inline float applyBinary(int op, float a, float b) {
  switch (op) {
  case MOE_CUDA_BINARY_ADD:
    return a + b;
  case MOE_CUDA_BINARY_SUB:
    return a - b;
  case MOE_CUDA_BINARY_MUL:
    return a * b;
  case MOE_CUDA_BINARY_DIV:
    return a / b;
  case MOE_CUDA_BINARY_POW:
    return powf(a, b);
  case MOE_CUDA_BINARY_MAX: // NaN wins, as onnxruntime's Max
    return a != a || a > b ? a : b;
  default:
    return b != b || b < a ? b : a;
  }
}

MOE_HOST_DEVICE inline float applyUnary(int op, float x) {
  switch (op) {
  case MOE_CUDA_UNARY_NEG:
    return -x;
  case MOE_CUDA_UNARY_SQRT:
    return sqrtf(x);
  case MOE_CUDA_UNARY_EXP:
    return expf(x);
  case MOE_CUDA_UNARY_TANH:
    return tanhf(x);
  case MOE_CUDA_UNARY_SIGMOID:
    return 1.0f / (1.0f + expf(-x));
  case MOE_CUDA_UNARY_RELU:
    return x > 0.0f ? x : (x == x ? 0.0f : x);
  case MOE_CUDA_UNARY_ERF:
    return erff(x);
  case MOE_CUDA_UNARY_COS:
    return cosf(x);
  default:
    return sinf(x);
  }
}

/// Whether `type` is a MOE_CUDA_ELEMENT_* type.
inline bool validElementType(int32_t type) {
  return type >= MOE_CUDA_ELEMENT_F32 && type <= MOE_CUDA_ELEMENT_F16;
}

/// The cast between f32 and the 16-bit element type `type`: to f32
/// (`widen`), or from it.
inline int32_t castOf(int32_t type, bool widen) {
  if (type == MOE_CUDA_ELEMENT_F16)
    return widen ? MOE_CUDA_CAST_F16_TO_F32 : MOE_CUDA_CAST_F32_TO_F16;
  return widen ? MOE_CUDA_CAST_BF16_TO_F32 : MOE_CUDA_CAST_F32_TO_BF16;
}

inline bool validCast(int32_t kind) {
  return kind >= MOE_CUDA_CAST_F16_TO_F32 && kind <= MOE_CUDA_CAST_I32_TO_F32;
}

/// The bytes of a cast's input and output elements.
inline int castInputBytes(int32_t kind) {
  return kind == MOE_CUDA_CAST_I64_TO_F32   ? 8
         : kind == MOE_CUDA_CAST_I32_TO_F32 ? 4
         : kind == MOE_CUDA_CAST_F32_TO_F16 || kind == MOE_CUDA_CAST_F32_TO_BF16
             ? 4
             : 2;
}
inline int castOutputBytes(int32_t kind) {
  return kind == MOE_CUDA_CAST_F32_TO_F16 || kind == MOE_CUDA_CAST_F32_TO_BF16
             ? 2
             : 4;
}

/// Element i of a cast: 16-bit values as their bits.
MOE_HOST_DEVICE inline void castElement(int kind, const void *x, void *out,
                                        int64_t i) {
  switch (kind) {
  case MOE_CUDA_CAST_F16_TO_F32: {
    __half_raw raw;
    raw.x = static_cast<const uint16_t *>(x)[i];
    static_cast<float *>(out)[i] = __half2float(__half(raw));
    return;
  }
  case MOE_CUDA_CAST_F32_TO_F16: {
    __half_raw raw = __half(__float2half_rn(static_cast<const float *>(x)[i]));
    static_cast<uint16_t *>(out)[i] = raw.x;
    return;
  }
  case MOE_CUDA_CAST_I64_TO_F32:
    static_cast<float *>(out)[i] =
        static_cast<float>(static_cast<const int64_t *>(x)[i]);
    return;
  case MOE_CUDA_CAST_I32_TO_F32:
    static_cast<float *>(out)[i] =
        static_cast<float>(static_cast<const int32_t *>(x)[i]);
    return;
  case MOE_CUDA_CAST_BF16_TO_F32: {
    __nv_bfloat16_raw raw;
    raw.x = static_cast<const uint16_t *>(x)[i];
    static_cast<float *>(out)[i] = __bfloat162float(__nv_bfloat16(raw));
    return;
  }
  default: {
    __nv_bfloat16_raw raw =
        __nv_bfloat16(__float2bfloat16_rn(static_cast<const float *>(x)[i]));
    static_cast<uint16_t *>(out)[i] = raw.x;
    return;
  }
  }
}

inline bool validUnaryOp(int32_t op) {
  return op >= MOE_CUDA_UNARY_NEG && op <= MOE_CUDA_UNARY_SIN;
}

/// Whether an operand reads element i for output element i (its strides
/// are the output's own row-major ones: nothing broadcast).
inline bool sameLayout(const BinaryShape &s,
                       const int64_t (&strides)[kMaxElementwiseRank]) {
  int64_t running = 1;
  for (int d = kMaxElementwiseRank - 1; d >= 0; --d) {
    if (s.shape[d] != 1 && strides[d] != running)
      return false;
    running *= s.shape[d];
  }
  return true;
}

/// The host's loop: rows of the innermost dim, each row's offsets found
/// once (no index arithmetic per element).
template <int Op>
void binaryRowsOnHost(const BinaryShape &s, const float *lhs, const float *rhs,
                      float *out) {
  const int64_t inner = s.shape[kMaxElementwiseRank - 1];
  const int64_t ls = s.lhs[kMaxElementwiseRank - 1],
                rs = s.rhs[kMaxElementwiseRank - 1];
  for (int64_t row = 0; row < s.count / inner; ++row) {
    int64_t l, r;
    binaryOffsets(s, row * inner, l, r);
    float *dst = out + row * inner;
    for (int64_t j = 0; j < inner; ++j)
      dst[j] = applyBinary(Op, lhs[l + j * ls], rhs[r + j * rs]);
  }
}

/// Calls f(std::integral_constant<int, op>{}): the binary op as a
/// constant the loops and kernels are instantiated for.
template <typename F> auto withBinaryOp(int op, F &&f) {
  switch (op) {
  case MOE_CUDA_BINARY_ADD:
    return f(std::integral_constant<int, MOE_CUDA_BINARY_ADD>{});
  case MOE_CUDA_BINARY_SUB:
    return f(std::integral_constant<int, MOE_CUDA_BINARY_SUB>{});
  case MOE_CUDA_BINARY_MUL:
    return f(std::integral_constant<int, MOE_CUDA_BINARY_MUL>{});
  case MOE_CUDA_BINARY_DIV:
    return f(std::integral_constant<int, MOE_CUDA_BINARY_DIV>{});
  case MOE_CUDA_BINARY_POW:
    return f(std::integral_constant<int, MOE_CUDA_BINARY_POW>{});
  case MOE_CUDA_BINARY_MAX:
    return f(std::integral_constant<int, MOE_CUDA_BINARY_MAX>{});
  default:
    return f(std::integral_constant<int, MOE_CUDA_BINARY_MIN>{});
  }
}

inline void binaryOnHost(int op, const BinaryShape &s, const float *lhs,
                         const float *rhs, float *out) {
  if (s.count == 0)
    return;
  withBinaryOp(op, [&](auto code) {
    binaryRowsOnHost<decltype(code)::value>(s, lhs, rhs, out);
  });
}

/// The mean of row r of x [rows, cols], summed in order (the host's).
inline void meanRowsOnHost(const float *x, int64_t rows, int64_t cols,
                           float *out) {
  for (int64_t r = 0; r < rows; ++r) {
    float sum = 0.0f;
    for (int64_t c = 0; c < cols; ++c)
      sum += x[r * cols + c];
    out[r] = sum / float(cols);
  }
}

/// moe_cuda_rms_norm_f32's scale of a row: 1 / sqrt(mean square + eps),
/// as the graph it replaces computes it.
MOE_HOST_DEVICE inline float rmsScale(float sumOfSquares, int64_t cols,
                                      float eps) {
  return 1.0f / sqrtf(sumOfSquares / float(cols) + eps);
}

/// Element i of the norm's input: a + b, or a when b is null.
MOE_HOST_DEVICE inline float normInput(const float *a, const float *b,
                                       int64_t i) {
  return b ? a[i] + b[i] : a[i];
}

/// moe_cuda_rms_norm_f32 on the host: the norm of a (+ b), the sum written
/// to `sum` when given.
inline void rmsNormOnHost(const float *a, const float *b, int64_t rows,
                          int64_t cols, float eps, const float *weight,
                          float *sum, float *out) {
  for (int64_t r = 0; r < rows; ++r) {
    float squares = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      float v = normInput(a, b, r * cols + c);
      squares += v * v;
      if (sum)
        sum[r * cols + c] = v;
    }
    float scale = rmsScale(squares, cols, eps);
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] =
          normInput(a, b, r * cols + c) * scale * (weight ? weight[c] : 1.0f);
  }
}

inline bool validBinaryOp(int32_t op) {
  return op >= MOE_CUDA_BINARY_ADD && op <= MOE_CUDA_BINARY_MIN;
}

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_ELEMENTWISE_H
