//===- Matmul.cu - The graph's dense matmuls through cuBLAS ---------------===//
//
// moe_cuda_matmul_f32: an attention block's projections (activations times
// a constant weight) and its batched score and value products
// (activations times activations), as cuBLAS strided-batched GEMMs in fp32
// (no TF32: results as close to onnxruntime's CPU reference as the fp32
// SIMT path; a knob for TF32 is left until a GPU measures the gain).
// cuBLAS is column-major: the row-major product out = op(a) . op(b) is the
// column-major out^T = op(b)^T . op(a)^T, so b goes first, untransposed
// as stored unless trans_b, and every leading dimension is a row length.
//
//===----------------------------------------------------------------------===//

#include "Cublas.h"

#include <algorithm>
#include <climits>

using namespace moe::runtime::cuda;

extern "C" moe_status
moe_cuda_matmul_f32(void *stream, int32_t trans_a, int32_t trans_b, float alpha,
                    int64_t batch0, int64_t batch1, int64_t m, int64_t n,
                    int64_t k, const float *a, int64_t a_stride0,
                    int64_t a_stride1, const float *b, int64_t b_stride0,
                    int64_t b_stride1, float *out) {
  if (batch0 < 0 || batch1 < 0 || m < 0 || n < 0 || k < 0 || a_stride0 < 0 ||
      a_stride1 < 0 || b_stride0 < 0 || b_stride1 < 0)
    return MOE_ERROR_INVALID_ARGUMENT;
  if (batch0 == 0 || batch1 == 0 || m == 0 || n == 0)
    return MOE_OK;
  if (!out || (k > 0 && (!a || !b)))
    return MOE_ERROR_INVALID_ARGUMENT;
  // One weight for every batch, and a's matrices back to back: one GEMM
  // over all of a's rows (the projections of [batch, tokens, d]).
  bool bShared =
      (batch0 == 1 || b_stride0 == 0) && (batch1 == 1 || b_stride1 == 0);
  bool aPacked = (batch1 == 1 || a_stride1 == m * k) &&
                 (batch0 == 1 || a_stride0 == batch1 * m * k);
  if (!trans_a && bShared && aPacked) {
    m *= batch0 * batch1;
    batch0 = batch1 = 1;
  }
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX || batch1 > INT_MAX)
    return MOE_ERROR_INVALID_ARGUMENT;
  cudaStream_t s = asStream(stream);
  cublasHandle_t handle;
  MOE_TRY(cublasHandleOn(s, handle));
  const float beta = 0.0f;
  cublasOperation_t opA = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  // (At least 1, as cuBLAS wants even when k = 0.)
  int lda = int(std::max<int64_t>(1, trans_a ? m : k)),
      ldb = int(std::max<int64_t>(1, trans_b ? k : n));
  for (int64_t i = 0; i < batch0; ++i) {
    cublasStatus_t status = cublasGemmStridedBatchedEx(
        handle, opB, opA, int(n), int(m), int(k), &alpha, b + i * b_stride0,
        CUDA_R_32F, ldb, b_stride1, a + i * a_stride0, CUDA_R_32F, lda,
        a_stride1, &beta, out + i * batch1 * m * n, CUDA_R_32F, int(n), m * n,
        int(batch1), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (status != CUBLAS_STATUS_SUCCESS)
      return cublasError(status);
  }
  return MOE_OK;
}
