//===- CompiledGraphOps.cu - The graph's elementwise ops, compiled -------===//
//
// The moe_cuda_cc_* entry points convert-elementwise-to-cuda calls for the
// ops around a graph's MoE layers (a residual add, an RMS norm, an
// attention block's matmuls, softmax and transposes): on the host when all
// their buffers are host memory (a run on host buffers), else on the GPU
// (Elementwise.cu), host operands uploaded; matmuls always on the GPU
// (Matmul.cu).
//
//===----------------------------------------------------------------------===//

#include "Attention.h"
#include "CompiledCall.h"
#include "Elementwise.h"

#include <array>
#include <type_traits>
#include <vector>

using namespace moe::runtime::cuda;

namespace {

/// A one-operand op: `host()` when its buffers are host memory (a run on
/// host buffers), else `device(x's device copy, out's)`, x of `inCount`
/// values, out of `outCount`.
template <typename In, typename Out, typename Host, typename Device>
moe_status oneOperand(const In *x, int64_t inCount, Out *out, int64_t outCount,
                      Host &&host, Device &&device) {
  if (allOnHost({x, out})) {
    host();
    return MOE_OK;
  }
  DeviceBuffer<In> dX;
  Result<Out> result;
  MOE_TRY(upload(dX, x, inCount));
  MOE_TRY(result.prepare(out, outCount));
  MOE_TRY(device(dX.get(), result.get()));
  MOE_TRY(result.deliver());
  return finish();
}

/// The number of elements of an array of `rank` dims.
int64_t elements(int64_t rank, const int64_t *dims) {
  int64_t n = 1;
  for (int64_t d = 0; d < rank; ++d)
    n *= dims[d];
  return n;
}

/// A matmul operand's view (rank, buffer dims, perm) as an entry takes it.
struct View {
  int64_t rank;
  int64_t dims[4];
  int64_t perm[4];
};

/// A matmul entry: the shapes checked, the operands on the device as
/// given (`A`, `B`: float, or 16-bit bits) and an f32 a rounded to b's
/// 16-bit type when b is one (`kind`: a MOE_CUDA_CAST_F32_TO_* conversion,
/// -1 for f32).
template <typename A, typename B>
moe_status compiledMatmul(int32_t transA, int32_t transB, float alpha,
                          const A *a, const View &aView, const B *b,
                          const View &bView, const View &outView, int32_t kind,
                          float *out) {
  MatmulShape s;
  if (!matmulShape(transA, transB, aView.rank, aView.dims, aView.perm,
                   bView.rank, bView.dims, bView.perm, outView.rank,
                   outView.dims, outView.perm, s))
    return MOE_ERROR_INVALID_ARGUMENT;
  int64_t count = s.batch0 * s.batch1 * s.m * s.n;
  if (count == 0)
    return MOE_OK;
  if (!out || (s.k > 0 && (!a || !b)))
    return MOE_ERROR_INVALID_ARGUMENT;
  int64_t aCount = elements(aView.rank, aView.dims);
  DeviceBuffer<A> dA;
  DeviceBuffer<B> dB;
  Result<> result;
  MOE_TRY(upload(dA, a, aCount));
  MOE_TRY(upload(dB, b, elements(bView.rank, bView.dims)));
  MOE_TRY(result.prepare(out, count));
  if constexpr (std::is_same_v<B, float>) {
    MOE_TRY(moe_cuda_matmul_f32(callStream(), s.transA, s.transB, alpha,
                                s.batch0, s.batch1, s.m, s.n, s.k, dA.get(),
                                s.lda, s.aStride0, s.aStride1, dB.get(), s.ldb,
                                s.bStride0, s.bStride1, result.get(), s.ldc,
                                s.outStride0, s.outStride1));
  } else {
    DeviceBuffer<uint16_t> rounded;
    if constexpr (std::is_same_v<A, float>) {
      MOE_TRY(rounded.allocate(aCount, callStream()));
      MOE_TRY(
          moe_cuda_cast(callStream(), kind, aCount, dA.get(), rounded.get()));
    } else {
      rounded.alias(dA.get());
    }
    MOE_TRY(moe_cuda_matmul_16(
        callStream(), kind == MOE_CUDA_CAST_F32_TO_F16, s.transA, s.transB,
        alpha, s.batch0, s.batch1, s.m, s.n, s.k, rounded.get(), s.lda,
        s.aStride0, s.aStride1, dB.get(), s.ldb, s.bStride0, s.bStride1,
        result.get(), s.ldc, s.outStride0, s.outStride1));
  }
  MOE_TRY(result.deliver());
  return finish();
}

/// An operand of f32 or 16-bit elements (MOE_CUDA_ELEMENT_*: attention's
/// k and v, a concat's inputs) on the device, uploaded when on the host.
struct TypedBuffer {
  DeviceBuffer<float> wide;
  DeviceBuffer<uint16_t> narrow;
  const void *device = nullptr;
  moe_status upload(int32_t type, const void *x, int64_t count) {
    if (type == MOE_CUDA_ELEMENT_F32) {
      MOE_TRY(moe::runtime::cuda::upload(wide, static_cast<const float *>(x),
                                         count));
      device = wide.get();
    } else {
      MOE_TRY(moe::runtime::cuda::upload(
          narrow, static_cast<const uint16_t *>(x), count));
      device = narrow.get();
    }
    return MOE_OK;
  }
  const void *get() const { return device; }
};

/// A result of f32 or 16-bit elements (MOE_CUDA_ELEMENT_*): Result's.
struct TypedResult {
  Result<float> wide;
  Result<uint16_t> narrow;
  int32_t type = MOE_CUDA_ELEMENT_F32;
  moe_status prepare(int32_t elements, void *out, int64_t count) {
    type = elements;
    return type == MOE_CUDA_ELEMENT_F32
               ? wide.prepare(static_cast<float *>(out), count)
               : narrow.prepare(static_cast<uint16_t *>(out), count);
  }
  void *get() const {
    return type == MOE_CUDA_ELEMENT_F32 ? static_cast<void *>(wide.get())
                                        : static_cast<void *>(narrow.get());
  }
  moe_status deliver() {
    return type == MOE_CUDA_ELEMENT_F32 ? wide.deliver() : narrow.deliver();
  }
};

/// Element i of a concat input of `type` in the output's: f32, or the
/// 16-bit output type's bits (an f32 input rounded to it).
template <typename Out>
Out concatValue(const void *x, int32_t type, int32_t outType, int64_t i) {
  if constexpr (std::is_same_v<Out, float>) {
    return static_cast<const float *>(x)[i];
  } else {
    if (type != MOE_CUDA_ELEMENT_F32)
      return static_cast<const uint16_t *>(x)[i];
    uint16_t bits;
    castElement(castOf(outType, /*widen=*/false),
                static_cast<const float *>(x) + i, &bits, 0);
    return bits;
  }
}

/// moe_cuda_cc_concat_*: into Out (float, or outType's 16-bit bits), input
/// i f32 where bit i of f32Inputs is set, else of outType.
template <typename Out>
int32_t concatEntry(int32_t outType, int64_t n, int64_t axis, int64_t f32Inputs,
                    std::array<const void *, 4> inputs,
                    std::array<View, 4> buffers, Out *out) {
  int64_t rank0 = buffers[0].rank;
  if (n < 1 || n > 4 || rank0 < 1 || rank0 > kMaxElementwiseRank || axis < 0 ||
      axis >= rank0)
    return MOE_ERROR_INVALID_ARGUMENT;
  // Each input's view, padded in front; rows: the view's elements before
  // the axis (the same for all), width: from the axis on.
  int64_t padded = axis + kMaxElementwiseRank - rank0;
  StridedShape views[4];
  int32_t types[4] = {};
  int64_t widths[4] = {}, rows = 0, cols = 0;
  bool strided = false;
  for (int64_t i = 0; i < n; ++i) {
    const View &b = buffers[i];
    StridedShape &v = views[i];
    types[i] = (f32Inputs >> i) & 1 ? MOE_CUDA_ELEMENT_F32 : outType;
    if (b.rank != rank0 || !transposeShape(b.rank, b.dims, b.perm, v))
      return MOE_ERROR_INVALID_ARGUMENT;
    for (int d = 0; d < kMaxElementwiseRank; ++d)
      if (d != padded && v.shape[d] != views[0].shape[d])
        return MOE_ERROR_INVALID_ARGUMENT;
    int64_t before = 1;
    for (int d = 0; d < padded; ++d)
      before *= v.shape[d];
    rows = before;
    widths[i] = before == 0 ? 0 : v.count / before;
    cols += widths[i];
    for (int64_t d = 0; d < b.rank; ++d)
      strided |= b.perm[d] != d;
    if (v.count > 0 && !inputs[i])
      return MOE_ERROR_INVALID_ARGUMENT;
  }
  if (rows == 0 || cols == 0)
    return MOE_OK;
  if (!out)
    return MOE_ERROR_INVALID_ARGUMENT;
  if (allOnHost({inputs[0], inputs[1], inputs[2], inputs[3], out})) {
    for (int64_t i = 0, at = 0; i < n; at += widths[i++])
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < widths[i]; ++c)
          out[r * cols + at + c] =
              concatValue<Out>(inputs[i], types[i], outType,
                               gatherOffset(views[i], r * widths[i] + c));
    return MOE_OK;
  }
  Result<Out> result;
  TypedBuffer dX[4];
  const void *onDevice[4] = {};
  // Views for the kernel only where an input is read through a transpose.
  int64_t viewArgs[4 * 2 * kMaxElementwiseRank] = {};
  MOE_TRY(result.prepare(out, rows * cols));
  for (int64_t i = 0; i < n; ++i) {
    MOE_TRY(
        dX[i].upload(types[i], inputs[i], elements(rank0, buffers[i].dims)));
    onDevice[i] = dX[i].get();
    for (int d = 0; d < kMaxElementwiseRank; ++d) {
      viewArgs[8 * i + d] = views[i].shape[d];
      viewArgs[8 * i + kMaxElementwiseRank + d] = views[i].strides[d];
    }
  }
  MOE_TRY(moe_cuda_concat(callStream(), outType, int32_t(n), onDevice, types,
                          widths, rows, strided ? viewArgs : nullptr,
                          result.get()));
  MOE_TRY(result.deliver());
  return finish();
}

/// moe_cuda_cc_rms_norm_*: out in Out (float, or outType's 16-bit bits).
template <typename Out>
int32_t rmsNormEntry(int32_t outType, const float *x, const float *residual,
                     int64_t rows, int64_t cols, float eps, const float *weight,
                     float *sum, Out *out) {
  if (rows < 0 || cols < 1 || (rows > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (rows == 0)
    return MOE_OK;
  int64_t count = rows * cols;
  if (allOnHost({x, residual, weight, sum, out})) {
    if constexpr (std::is_same_v<Out, float>) {
      rmsNormOnHost(x, residual, rows, cols, eps, weight, sum, out);
    } else {
      std::vector<float> normed(static_cast<size_t>(count));
      rmsNormOnHost(x, residual, rows, cols, eps, weight, sum, normed.data());
      for (int64_t i = 0; i < count; ++i)
        castElement(castOf(outType, /*widen=*/false), normed.data(), out, i);
    }
    return MOE_OK;
  }
  DeviceBuffer<float> dX, dResidual, dWeight;
  Result<Out> normed;
  Result<> summed;
  MOE_TRY(upload(dX, x, count));
  MOE_TRY(upload(dResidual, residual, count));
  MOE_TRY(upload(dWeight, weight, cols));
  MOE_TRY(normed.prepare(out, count));
  if (sum)
    MOE_TRY(summed.prepare(sum, count));
  MOE_TRY(moe_cuda_rms_norm(callStream(), outType, dX.get(), dResidual.get(),
                            rows, cols, eps, dWeight.get(), summed.get(),
                            normed.get()));
  MOE_TRY(normed.deliver());
  MOE_TRY(summed.deliver());
  return finish();
}

} // namespace

extern "C" {

int32_t moe_cuda_cc_binary_f32(int32_t, int32_t op, const float *lhs,
                               int64_t lhs_rank, int64_t l0, int64_t l1,
                               int64_t l2, int64_t l3, const float *rhs,
                               int64_t rhs_rank, int64_t r0, int64_t r1,
                               int64_t r2, int64_t r3, int64_t out_rank,
                               int64_t o0, int64_t o1, int64_t o2, int64_t o3,
                               float *out) {
  const int64_t lhsDims[] = {l0, l1, l2, l3}, rhsDims[] = {r0, r1, r2, r3},
                outDims[] = {o0, o1, o2, o3};
  BinaryShape shape;
  if (!validBinaryOp(op) ||
      !binaryShape(lhs_rank, lhsDims, rhs_rank, rhsDims, out_rank, outDims,
                   shape) ||
      (shape.count > 0 && (!lhs || !rhs || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (shape.count == 0)
    return MOE_OK;
  if (allOnHost({lhs, rhs, out})) {
    binaryOnHost(op, shape, lhs, rhs, out);
    return MOE_OK;
  }
  DeviceBuffer<float> dLhs, dRhs;
  Result<> result;
  MOE_TRY(upload(dLhs, lhs, elements(lhs_rank, lhsDims)));
  MOE_TRY(upload(dRhs, rhs, elements(rhs_rank, rhsDims)));
  MOE_TRY(result.prepare(out, shape.count));
  MOE_TRY(moe_cuda_binary_f32(callStream(), op, kMaxElementwiseRank,
                              shape.shape, dLhs.get(), shape.lhs, dRhs.get(),
                              shape.rhs, result.get()));
  MOE_TRY(result.deliver());
  return finish();
}

int32_t moe_cuda_cc_unary_f32(int32_t, int32_t op, const float *x,
                              int64_t count, float *out) {
  if (!validUnaryOp(op) || count < 0 || (count > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (count == 0)
    return MOE_OK;
  return oneOperand(
      x, count, out, count,
      [&] {
        for (int64_t i = 0; i < count; ++i)
          out[i] = applyUnary(op, x[i]);
      },
      [&](const float *dX, float *dOut) {
        return moe_cuda_unary_f32(callStream(), op, count, dX, dOut);
      });
}

int32_t moe_cuda_cc_mean_rows_f32(int32_t, const float *x, int64_t rows,
                                  int64_t cols, float *out) {
  if (rows < 0 || cols < 1 || (rows > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (rows == 0)
    return MOE_OK;
  return oneOperand(
      x, rows * cols, out, rows, [&] { meanRowsOnHost(x, rows, cols, out); },
      [&](const float *dX, float *dOut) {
        return moe_cuda_mean_rows_f32(callStream(), dX, rows, cols, dOut);
      });
}

#define MOE_CC_RMS_NORM(SUFFIX, OUT, OUT_TYPE)                                 \
  int32_t moe_cuda_cc_rms_norm_##SUFFIX(                                       \
      int32_t, const float *x, const float *residual, int64_t rows,            \
      int64_t cols, float eps, const float *weight, float *sum, OUT *out) {    \
    return rmsNormEntry<OUT>(OUT_TYPE, x, residual, rows, cols, eps, weight,   \
                             sum, out);                                        \
  }
MOE_CC_RMS_NORM(f32, float, MOE_CUDA_ELEMENT_F32)
MOE_CC_RMS_NORM(bf16, uint16_t, MOE_CUDA_ELEMENT_BF16)
MOE_CC_RMS_NORM(f16, uint16_t, MOE_CUDA_ELEMENT_F16)
#undef MOE_CC_RMS_NORM

int32_t moe_cuda_cc_cast(int32_t, int32_t kind, const void *x, int64_t count,
                         void *out) {
  if (!validCast(kind) || count < 0 || (count > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (count == 0)
    return MOE_OK;
  // 16-bit values travel as their bits (uint16_t); staging copies the
  // elements' bytes.
  auto run = [&](auto *in, auto *result) {
    return oneOperand(
        in, count, result, count,
        [&] {
          for (int64_t i = 0; i < count; ++i)
            castElement(kind, x, out, i);
        },
        [&](const void *dX, void *dOut) {
          return moe_cuda_cast(callStream(), kind, count, dX, dOut);
        });
  };
  if (castOutputBytes(kind) == 2)
    return run(static_cast<const float *>(x), static_cast<uint16_t *>(out));
  auto *wide = static_cast<float *>(out);
  switch (castInputBytes(kind)) {
  case 8:
    return run(static_cast<const int64_t *>(x), wide);
  case 4:
    return run(static_cast<const int32_t *>(x), wide);
  default:
    return run(static_cast<const uint16_t *>(x), wide);
  }
}

int32_t moe_cuda_cc_softmax_f32(int32_t, const float *x, int64_t rows,
                                int64_t cols, int64_t matrix_rows,
                                int64_t causal_k, int64_t mask_rows,
                                int64_t mask_cols, float *out) {
  // The mask the graph would have added must be one matrix's: the fused
  // call never reads it, so its shape is checked here.
  if (rows < 0 || cols < 0 || matrix_rows < 0 ||
      (rows > 0 && cols > 0 && (!x || !out)) ||
      (matrix_rows > 0 && (rows % matrix_rows != 0 ||
                           mask_rows != matrix_rows || mask_cols != cols)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (rows == 0 || cols == 0) // an empty tensor
    return MOE_OK;
  CausalMask mask{matrix_rows, causal_k};
  return oneOperand(
      x, rows * cols, out, rows * cols,
      [&] { softmaxOnHost(x, rows, cols, mask, out); },
      [&](const float *dX, float *dOut) {
        return matrix_rows > 0
                   ? moe_cuda_causal_softmax_f32(callStream(), dX, rows, cols,
                                                 matrix_rows, causal_k, dOut)
                   : moe_cuda_softmax_f32(callStream(), dX, rows, cols, dOut);
      });
}

int32_t moe_cuda_cc_transpose_f32(int32_t, const float *x, int64_t rank,
                                  int64_t d0, int64_t d1, int64_t d2,
                                  int64_t d3, int64_t p0, int64_t p1,
                                  int64_t p2, int64_t p3, float *out) {
  const int64_t dims[] = {d0, d1, d2, d3}, perm[] = {p0, p1, p2, p3};
  StridedShape s;
  if (!transposeShape(rank, dims, perm, s) || (s.count > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (s.count == 0)
    return MOE_OK;
  return oneOperand(
      x, s.count, out, s.count, [&] { gatherOnHost(s, x, out); },
      [&](const float *dX, float *dOut) {
        return moe_cuda_transpose_f32(callStream(), int32_t(rank), dims, perm,
                                      dX, dOut);
      });
}

// The matmul entries (moe_runtime_cuda.h): a's and b's element types
// (float, or 16-bit bits) and the rounding of an f32 a to b's 16 bits.
#define MOE_CC_MATMUL(NAME, A, B, KIND)                                        \
  int32_t moe_cuda_cc_matmul_##NAME(                                           \
      int32_t, int32_t trans_a, int32_t trans_b, float alpha, const A *a,      \
      int64_t a_rank, int64_t a0, int64_t a1, int64_t a2, int64_t a3,          \
      int64_t ap0, int64_t ap1, int64_t ap2, int64_t ap3, const B *b,          \
      int64_t b_rank, int64_t b0, int64_t b1, int64_t b2, int64_t b3,          \
      int64_t bp0, int64_t bp1, int64_t bp2, int64_t bp3, int64_t out_rank,    \
      int64_t o0, int64_t o1, int64_t o2, int64_t o3, int64_t op0,             \
      int64_t op1, int64_t op2, int64_t op3, float *out) {                     \
    return compiledMatmul(                                                     \
        trans_a, trans_b, alpha, a,                                            \
        View{a_rank, {a0, a1, a2, a3}, {ap0, ap1, ap2, ap3}}, b,               \
        View{b_rank, {b0, b1, b2, b3}, {bp0, bp1, bp2, bp3}},                  \
        View{out_rank, {o0, o1, o2, o3}, {op0, op1, op2, op3}}, KIND, out);    \
  }
MOE_CC_MATMUL(f32, float, float, -1)
MOE_CC_MATMUL(bf16w, float, uint16_t, MOE_CUDA_CAST_F32_TO_BF16)
MOE_CC_MATMUL(f16w, float, uint16_t, MOE_CUDA_CAST_F32_TO_F16)
MOE_CC_MATMUL(bf16, uint16_t, uint16_t, MOE_CUDA_CAST_F32_TO_BF16)
MOE_CC_MATMUL(f16, uint16_t, uint16_t, MOE_CUDA_CAST_F32_TO_F16)
#undef MOE_CC_MATMUL

int32_t moe_cuda_cc_attention_f32(
    int32_t, float alpha, int32_t precision, int32_t kv_type, const float *q,
    int64_t q_rank, int64_t q0, int64_t q1, int64_t q2, int64_t q3, int64_t qp0,
    int64_t qp1, int64_t qp2, int64_t qp3, const void *k, int64_t k_rank,
    int64_t k0, int64_t k1, int64_t k2, int64_t k3, int64_t kp0, int64_t kp1,
    int64_t kp2, int64_t kp3, const void *v, int64_t v_rank, int64_t v0,
    int64_t v1, int64_t v2, int64_t v3, int64_t vp0, int64_t vp1, int64_t vp2,
    int64_t vp3, int64_t causal, int64_t causal_k, int64_t mask_rows,
    int64_t mask_cols, const float *bias, int64_t bias_rank, int64_t b0,
    int64_t b1, int64_t b2, int64_t b3, int32_t out_type, int64_t out_rank,
    int64_t o0, int64_t o1, int64_t o2, int64_t o3, int64_t op0, int64_t op1,
    int64_t op2, int64_t op3, void *out) {
  View qView{q_rank, {q0, q1, q2, q3}, {qp0, qp1, qp2, qp3}},
      kView{k_rank, {k0, k1, k2, k3}, {kp0, kp1, kp2, kp3}},
      vView{v_rank, {v0, v1, v2, v3}, {vp0, vp1, vp2, vp3}},
      outView{out_rank, {o0, o1, o2, o3}, {op0, op1, op2, op3}};
  const int64_t biasDims[] = {b0, b1, b2, b3};
  AttentionShape s;
  // The causal mask the graph would have added must be [queries, keys]:
  // the fused call never reads it, so its shape is checked here; an
  // additive mask must broadcast to the scores.
  if (!attentionShape(qView.rank, qView.dims, qView.perm, kView.rank,
                      kView.dims, kView.perm, vView.rank, vView.dims,
                      vView.perm, outView.rank, outView.dims, outView.perm,
                      s) ||
      (causal && (mask_rows != s.queries || mask_cols != s.keys)) ||
      (bias && !attentionBias(bias_rank, biasDims, s)))
    return MOE_ERROR_INVALID_ARGUMENT;
  int64_t count = s.batch * s.heads * s.queries * s.valueDim;
  if (count == 0)
    return MOE_OK;
  if (!out || (s.keys > 0 && (!q || !k || !v)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (!validElementType(kv_type) || !validElementType(out_type))
    return MOE_ERROR_INVALID_ARGUMENT;
  DeviceBuffer<float> dQ, dBias;
  TypedBuffer dK, dV;
  TypedResult result;
  MOE_TRY(upload(dQ, q, elements(q_rank, qView.dims)));
  MOE_TRY(dK.upload(kv_type, k, elements(k_rank, kView.dims)));
  MOE_TRY(dV.upload(kv_type, v, elements(v_rank, vView.dims)));
  MOE_TRY(upload(dBias, bias, bias ? elements(bias_rank, biasDims) : 0));
  MOE_TRY(result.prepare(out_type, out, elements(out_rank, outView.dims)));
  MOE_TRY(moe_cuda_attention_f32(
      callStream(), s.batch, s.heads, s.kvHeads, s.queries, s.keys, s.dim,
      s.valueDim, alpha, precision, kv_type, dQ.get(), s.q, dK.get(), s.k,
      dV.get(), s.v, int32_t(causal != 0), causal_k,
      bias ? dBias.get() : nullptr, s.bias, out_type, result.get(), s.out));
  MOE_TRY(result.deliver());
  return finish();
}

int32_t moe_cuda_cc_expand_f32(int32_t, const float *x, int64_t rank,
                               int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                               int64_t o0, int64_t o1, int64_t o2, int64_t o3,
                               float *out) {
  const int64_t dims[] = {d0, d1, d2, d3}, outDims[] = {o0, o1, o2, o3};
  StridedShape s;
  if (!expandShape(rank, dims, outDims, s) || (s.count > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (s.count == 0)
    return MOE_OK;
  return oneOperand(
      x, elements(rank, dims), out, s.count, [&] { gatherOnHost(s, x, out); },
      [&](const float *dX, float *dOut) {
        return moe_cuda_expand_f32(callStream(), int32_t(rank), dims, outDims,
                                   dX, dOut);
      });
}

int32_t moe_cuda_cc_range_f32(int32_t, float start, float delta, int64_t count,
                              float *out) {
  if (count < 0 || (count > 0 && !out))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (count == 0)
    return MOE_OK;
  if (allOnHost({out})) {
    for (int64_t i = 0; i < count; ++i)
      out[i] = rangeElement(start, delta, i);
    return MOE_OK;
  }
  Result<> result;
  MOE_TRY(result.prepare(out, count));
  MOE_TRY(moe_cuda_range_f32(callStream(), start, delta, count, result.get()));
  MOE_TRY(result.deliver());
  return finish();
}

int32_t moe_cuda_cc_slice_f32(int32_t, const float *x, int64_t rows,
                              int64_t x_cols, int64_t start, int64_t width,
                              float *out) {
  if (rows < 0 || width < 0 || start < 0 || start + width > x_cols ||
      (rows > 0 && width > 0 && (!x || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (rows == 0 || width == 0)
    return MOE_OK;
  return oneOperand(
      x, rows * x_cols, out, rows * width,
      [&] { copyColumnsOnHost(rows, width, x + start, x_cols, out, width); },
      [&](const float *dX, float *dOut) {
        return moe_cuda_copy_columns_f32(callStream(), rows, width, dX + start,
                                         x_cols, dOut, width);
      });
}

int32_t moe_cuda_cc_rotary_f32(
    int32_t, const float *x, int64_t rank, int64_t x0, int64_t x1, int64_t x2,
    int64_t x3, int64_t p0, int64_t p1, int64_t p2, int64_t p3,
    const float *cos, int64_t cos_rank, int64_t c0, int64_t c1, int64_t c2,
    int64_t c3, const float *sin, int64_t sin_rank, int64_t s0, int64_t s1,
    int64_t s2, int64_t s3, int64_t neg_start, int64_t neg_width,
    int64_t pos_start, int64_t pos_width, float *out) {
  const int64_t dims[] = {x0, x1, x2, x3}, perm[] = {p0, p1, p2, p3},
                cosDims[] = {c0, c1, c2, c3}, sinDims[] = {s0, s1, s2, s3};
  RotaryShape s;
  if (!rotaryShape(rank, dims, perm, cos_rank, cosDims, sin_rank, sinDims,
                   neg_start, neg_width, pos_start, pos_width, s) ||
      (s.tables.count > 0 && (!x || !cos || !sin || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (s.tables.count == 0)
    return MOE_OK;
  if (allOnHost({x, cos, sin, out})) {
    rotaryOnHost(s, x, cos, sin, out);
    return MOE_OK;
  }
  DeviceBuffer<float> dX, dCos, dSin;
  Result<> result;
  MOE_TRY(upload(dX, x, s.tables.count));
  MOE_TRY(upload(dCos, cos, elements(cos_rank, cosDims)));
  MOE_TRY(upload(dSin, sin, elements(sin_rank, sinDims)));
  MOE_TRY(result.prepare(out, s.tables.count));
  MOE_TRY(moe_cuda_rotary_f32(callStream(), kMaxElementwiseRank, s.tables.shape,
                              dX.get(), s.x.strides, dCos.get(), s.tables.lhs,
                              dSin.get(), s.tables.rhs, neg_start, neg_width,
                              pos_start, result.get()));
  MOE_TRY(result.deliver());
  return finish();
}

int32_t moe_cuda_cc_rotary_pair_f32(
    int32_t, const float *x, int64_t rank, int64_t x0, int64_t x1, int64_t x2,
    int64_t x3, int64_t p0, int64_t p1, int64_t p2, int64_t p3, const float *y,
    int64_t y0, int64_t y1, int64_t y2, int64_t y3, int64_t q0, int64_t q1,
    int64_t q2, int64_t q3, const float *cos, int64_t cos_rank, int64_t c0,
    int64_t c1, int64_t c2, int64_t c3, const float *sin, int64_t sin_rank,
    int64_t s0, int64_t s1, int64_t s2, int64_t s3, int64_t neg_start,
    int64_t neg_width, int64_t pos_start, int64_t pos_width, float *out_x,
    float *out_y) {
  const int64_t xDims[] = {x0, x1, x2, x3}, xPerm[] = {p0, p1, p2, p3},
                yDims[] = {y0, y1, y2, y3}, yPerm[] = {q0, q1, q2, q3},
                cosDims[] = {c0, c1, c2, c3}, sinDims[] = {s0, s1, s2, s3};
  RotaryShape a, b;
  if (!rotaryShape(rank, xDims, xPerm, cos_rank, cosDims, sin_rank, sinDims,
                   neg_start, neg_width, pos_start, pos_width, a) ||
      !rotaryShape(rank, yDims, yPerm, cos_rank, cosDims, sin_rank, sinDims,
                   neg_start, neg_width, pos_start, pos_width, b) ||
      (a.tables.count > 0 && (!x || !out_x)) ||
      (b.tables.count > 0 && (!y || !out_y)) ||
      (a.tables.count + b.tables.count > 0 && (!cos || !sin)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (a.tables.count + b.tables.count == 0)
    return MOE_OK;
  if (allOnHost({x, y, cos, sin, out_x, out_y})) {
    rotaryOnHost(a, x, cos, sin, out_x);
    rotaryOnHost(b, y, cos, sin, out_y);
    return MOE_OK;
  }
  DeviceBuffer<float> dX, dY, dCos, dSin;
  Result<> resultX, resultY;
  MOE_TRY(upload(dX, x, a.tables.count));
  MOE_TRY(upload(dY, y, b.tables.count));
  MOE_TRY(upload(dCos, cos, elements(cos_rank, cosDims)));
  MOE_TRY(upload(dSin, sin, elements(sin_rank, sinDims)));
  MOE_TRY(resultX.prepare(out_x, a.tables.count));
  MOE_TRY(resultY.prepare(out_y, b.tables.count));
  MOE_TRY(launchRotaryPair(callStream(), a, b, dX.get(), dY.get(), dCos.get(),
                           dSin.get(), resultX.get(), resultY.get()));
  MOE_TRY(resultX.deliver());
  MOE_TRY(resultY.deliver());
  return finish();
}

#define MOE_COMMA ,
#define MOE_CC_CONCAT(SUFFIX, IN, OUT, OUT_TYPE, MASK_PARAM, MASK)             \
  int32_t moe_cuda_cc_concat_##SUFFIX(                                         \
      int32_t, int64_t n, int64_t axis MASK_PARAM, IN x0, int64_t rank0,       \
      int64_t a0, int64_t a1, int64_t a2, int64_t a3, int64_t ap0,             \
      int64_t ap1, int64_t ap2, int64_t ap3, IN x1, int64_t rank1, int64_t b0, \
      int64_t b1, int64_t b2, int64_t b3, int64_t bp0, int64_t bp1,            \
      int64_t bp2, int64_t bp3, IN x2, int64_t rank2, int64_t c0, int64_t c1,  \
      int64_t c2, int64_t c3, int64_t cp0, int64_t cp1, int64_t cp2,           \
      int64_t cp3, IN x3, int64_t rank3, int64_t e0, int64_t e1, int64_t e2,   \
      int64_t e3, int64_t ep0, int64_t ep1, int64_t ep2, int64_t ep3,          \
      OUT *out) {                                                              \
    return concatEntry<OUT>(                                                   \
        OUT_TYPE, n, axis, MASK, {x0, x1, x2, x3},                             \
        {View{rank0, {a0, a1, a2, a3}, {ap0, ap1, ap2, ap3}},                  \
         View{rank1, {b0, b1, b2, b3}, {bp0, bp1, bp2, bp3}},                  \
         View{rank2, {c0, c1, c2, c3}, {cp0, cp1, cp2, cp3}},                  \
         View{rank3, {e0, e1, e2, e3}, {ep0, ep1, ep2, ep3}}},                 \
        out);                                                                  \
  }
MOE_CC_CONCAT(f32, const float *, float, MOE_CUDA_ELEMENT_F32, , 0xf)
MOE_CC_CONCAT(bf16, const void *, uint16_t, MOE_CUDA_ELEMENT_BF16,
              MOE_COMMA int64_t f32_inputs, f32_inputs)
MOE_CC_CONCAT(f16, const void *, uint16_t, MOE_CUDA_ELEMENT_F16,
              MOE_COMMA int64_t f32_inputs, f32_inputs)
#undef MOE_CC_CONCAT
#undef MOE_COMMA

} // extern "C"
