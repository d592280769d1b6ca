//===- Matmul.cu - The graph's dense matmuls through cuBLAS ---------------===//
//
// moe_cuda_matmul_f32 / _16: an attention block's projections (activations
// times a constant weight) and its batched score and value products
// (activations times activations), as cuBLAS strided-batched GEMMs with
// fp32 accumulation: f32 operands (no TF32: results as close to
// onnxruntime's CPU reference as the fp32 SIMT path; a knob for TF32 is
// left until a GPU measures the gain), or bf16 / fp16 ones (tensor cores:
// a projection whose weight is stored 16-bit).
// cuBLAS is column-major: the row-major product out = op(a) . op(b) is the
// column-major out^T = op(b)^T . op(a)^T, so b goes first, untransposed
// as stored unless trans_b, and every leading dimension is a row stride
// (a row length, or more for a view: attention's heads read from
// [b, t, heads, d] in place, rows heads * d apart).
//
//===----------------------------------------------------------------------===//

#include "Cublas.h"

#include <algorithm>
#include <climits>

using namespace moe::runtime::cuda;

namespace {

/// The batched GEMMs, operands of `type` (fp32 output and accumulation).
moe_status gemm(void *stream, cudaDataType type, int32_t transA, int32_t transB,
                float alpha, int64_t batch0, int64_t batch1, int64_t m,
                int64_t n, int64_t k, const void *a, int64_t lda,
                int64_t aStride0, int64_t aStride1, const void *b, int64_t ldb,
                int64_t bStride0, int64_t bStride1, float *out, int64_t ldc,
                int64_t outStride0, int64_t outStride1) {
  if (batch0 < 0 || batch1 < 0 || m < 0 || n < 0 || k < 0 || aStride0 < 0 ||
      aStride1 < 0 || bStride0 < 0 || bStride1 < 0 || outStride0 < 0 ||
      outStride1 < 0 || lda < (transA ? m : k) || ldb < (transB ? k : n) ||
      ldc < n)
    return MOE_ERROR_INVALID_ARGUMENT;
  if (batch0 == 0 || batch1 == 0 || m == 0 || n == 0)
    return MOE_OK;
  if (!out || (k > 0 && (!a || !b)))
    return MOE_ERROR_INVALID_ARGUMENT;
  // One weight for every batch, and a's and out's matrices back to back
  // (rows evenly apart across them): one GEMM over all of a's rows (the
  // projections of [batch, tokens, d]).
  auto rowsEven = [&](int64_t stride0, int64_t stride1, int64_t ld) {
    return (batch1 == 1 || stride1 == m * ld) &&
           (batch0 == 1 || stride0 == batch1 * m * ld);
  };
  bool bShared =
      (batch0 == 1 || bStride0 == 0) && (batch1 == 1 || bStride1 == 0);
  if (!transA && bShared && rowsEven(aStride0, aStride1, lda) &&
      rowsEven(outStride0, outStride1, ldc)) {
    m *= batch0 * batch1;
    batch0 = batch1 = 1;
  }
  // Matrices evenly apart across both batch dims (each operand's, or
  // broadcast): one strided batch, one launch.
  auto even = [&](int64_t stride0, int64_t stride1) {
    return batch0 == 1 || stride0 == batch1 * stride1;
  };
  if (even(aStride0, aStride1) && even(bStride0, bStride1) &&
      even(outStride0, outStride1)) {
    batch1 *= batch0;
    batch0 = 1;
  }
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX || batch1 > INT_MAX ||
      lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX)
    return MOE_ERROR_INVALID_ARGUMENT;
  cudaStream_t s = asStream(stream);
  cublasHandle_t handle;
  MOE_TRY(cublasHandleOn(s, handle));
  const float beta = 0.0f;
  cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  size_t bytes = type == CUDA_R_32F ? 4 : 2;
  const char *aBytes = static_cast<const char *>(a);
  const char *bBytes = static_cast<const char *>(b);
  // (Leading dims at least 1, as cuBLAS wants even when k = 0.)
  for (int64_t i = 0; i < batch0; ++i) {
    cublasStatus_t status = cublasGemmStridedBatchedEx(
        handle, opB, opA, int(n), int(m), int(k), &alpha,
        bBytes + i * bStride0 * bytes, type, int(std::max<int64_t>(1, ldb)),
        bStride1, aBytes + i * aStride0 * bytes, type,
        int(std::max<int64_t>(1, lda)), aStride1, &beta, out + i * outStride0,
        CUDA_R_32F, int(ldc), outStride1, int(batch1), CUBLAS_COMPUTE_32F,
        CUBLAS_GEMM_DEFAULT);
    if (status != CUBLAS_STATUS_SUCCESS)
      return cublasError(status);
  }
  return MOE_OK;
}

} // namespace

extern "C" moe_status
moe_cuda_matmul_f32(void *stream, int32_t trans_a, int32_t trans_b, float alpha,
                    int64_t batch0, int64_t batch1, int64_t m, int64_t n,
                    int64_t k, const float *a, int64_t lda, int64_t a_stride0,
                    int64_t a_stride1, const float *b, int64_t ldb,
                    int64_t b_stride0, int64_t b_stride1, float *out,
                    int64_t ldc, int64_t out_stride0, int64_t out_stride1) {
  return gemm(stream, CUDA_R_32F, trans_a, trans_b, alpha, batch0, batch1, m, n,
              k, a, lda, a_stride0, a_stride1, b, ldb, b_stride0, b_stride1,
              out, ldc, out_stride0, out_stride1);
}

extern "C" moe_status moe_cuda_matmul_16(
    void *stream, int32_t f16, int32_t trans_a, int32_t trans_b, float alpha,
    int64_t batch0, int64_t batch1, int64_t m, int64_t n, int64_t k,
    const uint16_t *a, int64_t lda, int64_t a_stride0, int64_t a_stride1,
    const uint16_t *b, int64_t ldb, int64_t b_stride0, int64_t b_stride1,
    float *out, int64_t ldc, int64_t out_stride0, int64_t out_stride1) {
  return gemm(stream, f16 ? CUDA_R_16F : CUDA_R_16BF, trans_a, trans_b, alpha,
              batch0, batch1, m, n, k, a, lda, a_stride0, a_stride1, b, ldb,
              b_stride0, b_stride1, out, ldc, out_stride0, out_stride1);
}
