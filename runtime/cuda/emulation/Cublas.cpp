//===- Cublas.cpp - The cuBLAS calls of the emulated device ---------------===//
//
// What CublasGrouped.cu and Matmul.cu call, computed on the host as cuBLAS
// documents it (column-major operands, per-group sizes and leading
// dimensions, pointer arrays in device memory, alpha and beta on the host):
// so that our row-major-to-column-major mappings are tested without a
// GPU. Arguments cuBLAS would refuse (a leading dimension below the rows
// of its operand, a type or compute type not emulated) are refused.
//
//===----------------------------------------------------------------------===//

#include "EmulatedDevice.h"

#include <cublas_v2.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <vector>

struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace {

float bf16(const void *base, int64_t index) {
  uint16_t bits;
  std::memcpy(&bits, static_cast<const char *>(base) + 2 * index, 2);
  uint32_t word = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof(value));
  return value;
}

} // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
  case CUBLAS_STATUS_SUCCESS:
    return "CUBLAS_STATUS_SUCCESS";
  case CUBLAS_STATUS_NOT_INITIALIZED:
    return "CUBLAS_STATUS_NOT_INITIALIZED";
  case CUBLAS_STATUS_INVALID_VALUE:
    return "CUBLAS_STATUS_INVALID_VALUE";
  case CUBLAS_STATUS_NOT_SUPPORTED:
    return "CUBLAS_STATUS_NOT_SUPPORTED (in the CUDA emulation)";
  default:
    return "CUBLAS_STATUS_INTERNAL_ERROR";
  }
}

// C = alpha op(A) op(B) + beta C per problem, column-major: A m x k (k x m
// transposed), B k x n (n x k transposed), C m x n; bf16 A and B, fp32 C.
cublasStatus_t cublasGemmGroupedBatchedEx(
    cublasHandle_t handle, const cublasOperation_t transa[],
    const cublasOperation_t transb[], const int m[], const int n[],
    const int k[], const void *alpha, const void *const a[],
    cudaDataType_t aType, const int lda[], const void *const b[],
    cudaDataType_t bType, const int ldb[], const void *beta, void *const c[],
    cudaDataType_t cType, const int ldc[], int groups, const int groupSize[],
    cublasComputeType_t computeType) {
  if (!handle)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  if (aType != CUDA_R_16BF || bType != CUDA_R_16BF || cType != CUDA_R_32F ||
      computeType != CUBLAS_COMPUTE_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (groups < 0)
    return CUBLAS_STATUS_INVALID_VALUE;
  for (int g = 0; g < groups; ++g) {
    bool ta = transa[g] == CUBLAS_OP_T, tb = transb[g] == CUBLAS_OP_T;
    if ((transa[g] != CUBLAS_OP_N && !ta) || (transb[g] != CUBLAS_OP_N && !tb))
      return CUBLAS_STATUS_NOT_SUPPORTED;
    if (m[g] < 0 || n[g] < 0 || k[g] < 0 || groupSize[g] < 0 ||
        lda[g] < std::max(1, ta ? k[g] : m[g]) ||
        ldb[g] < std::max(1, tb ? n[g] : k[g]) || ldc[g] < std::max(1, m[g]))
      return CUBLAS_STATUS_INVALID_VALUE;
  }
  // The pointer arrays and the matrices are device memory.
  moe::cuda_emulation::device::countLibraryLaunch();
  moe::cuda_emulation::device::DeviceAccess access;
  const float *alphas = static_cast<const float *>(alpha);
  const float *betas = static_cast<const float *>(beta);
  int problem = 0;
  for (int g = 0; g < groups; ++g) {
    bool ta = transa[g] == CUBLAS_OP_T, tb = transb[g] == CUBLAS_OP_T;
    for (int p = 0; p < groupSize[g]; ++p, ++problem) {
      auto *out = static_cast<float *>(c[problem]);
      for (int j = 0; j < n[g]; ++j)
        for (int i = 0; i < m[g]; ++i) {
          float sum = 0.0f;
          for (int l = 0; l < k[g]; ++l)
            sum += bf16(a[problem], ta ? l + int64_t(i) * lda[g]
                                       : i + int64_t(l) * lda[g]) *
                   bf16(b[problem],
                        tb ? j + int64_t(l) * ldb[g] : l + int64_t(j) * ldb[g]);
          float &cell = out[i + int64_t(j) * ldc[g]];
          cell = alphas[g] * sum + (betas[g] != 0.0f ? betas[g] * cell : 0.0f);
        }
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}

// C_i = alpha op(A_i) op(B_i) + beta C_i for i < batchCount, column-major,
// A_i at a + i * strideA (and so on); fp32, bf16 or fp16 operands, fp32
// compute and C.
cublasStatus_t cublasGemmStridedBatchedEx(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
    int m, int n, int k, const void *alpha, const void *a, cudaDataType aType,
    int lda, long long strideA, const void *b, cudaDataType bType, int ldb,
    long long strideB, const void *beta, void *c, cudaDataType cType, int ldc,
    long long strideC, int batchCount, cublasComputeType_t computeType,
    cublasGemmAlgo_t) {
  if (!handle)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  if (aType != bType || cType != CUDA_R_32F ||
      (aType != CUDA_R_32F && aType != CUDA_R_16BF && aType != CUDA_R_16F) ||
      computeType != CUBLAS_COMPUTE_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
  if ((transa != CUBLAS_OP_N && !ta) || (transb != CUBLAS_OP_N && !tb))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (m < 0 || n < 0 || k < 0 || batchCount < 0 ||
      lda < std::max(1, ta ? k : m) || ldb < std::max(1, tb ? n : k) ||
      ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  moe::cuda_emulation::device::countLibraryLaunch();
  moe::cuda_emulation::device::DeviceAccess access;
  float scale = *static_cast<const float *>(alpha);
  float keep = *static_cast<const float *>(beta);
  auto element = [aType](const void *base, int64_t index) {
    if (aType == CUDA_R_32F)
      return static_cast<const float *>(base)[index];
    if (aType == CUDA_R_16BF)
      return bf16(base, index);
    __half_raw raw;
    std::memcpy(&raw.x, static_cast<const char *>(base) + 2 * index, 2);
    return __half2float(__half(raw));
  };
  for (int p = 0; p < batchCount; ++p) {
    float *out = static_cast<float *>(c) + p * strideC;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        float sum = 0.0f;
        for (int l = 0; l < k; ++l)
          sum += element(a, p * strideA + (ta ? l + int64_t(i) * lda
                                              : i + int64_t(l) * lda)) *
                 element(b, p * strideB + (tb ? j + int64_t(l) * ldb
                                              : l + int64_t(j) * ldb));
        float &cell = out[i + int64_t(j) * ldc];
        cell = scale * sum + (keep != 0.0f ? keep * cell : 0.0f);
      }
  }
  return CUBLAS_STATUS_SUCCESS;
}

} // extern "C"
