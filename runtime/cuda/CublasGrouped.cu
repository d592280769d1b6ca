//===- CublasGrouped.cu - The grouped matmul through cuBLAS ---------------===//
//
// moe_cuda_grouped_matmul_cublas_bf16: the baseline our kernels are
// measured against and the fallback compiled code can be switched to
// (MOE_CUDA_GROUPED_MATMUL=cublas). One cublasGemmGroupedBatchedEx call
// with a group per non-empty expert (cuBLAS takes the groups' sizes on the
// host, so the offsets are copied back and the stream synchronized first),
// into an fp32 scratch [N, M]; then one epilogue kernel adds the bias and
// applies the activation, as the fused kernels do.
//
// Row-major [n, K] x [K, M] is the column-major product
// Z^T (M x n) = W^T (M x K) . X^T (K x n): no transposes, ld = M, K, M.
//
//===----------------------------------------------------------------------===//

#include "Activation.cuh"
#include "Cublas.h"
#include "GroupedMatmul.h"

#include <climits>
#include <memory>
#include <string>
#include <vector>

using namespace moe::runtime;
using namespace moe::runtime::cuda;

namespace {

/// out[r] = act(z[r] + bias[expert of r]) (or rounded to bf16 into
/// `rounded`); one block per row.
__global__ void epilogueKernel(const float *z, int64_t mDim, int64_t outCols,
                               const int32_t *offsets, int numExperts,
                               const float *bias, moe_activation_params act,
                               bool gated, float *out, __nv_bfloat16 *rounded) {
  int64_t row = blockIdx.x;
  int lo = 0, hi = numExperts - 1; // the last e with offsets[e] <= row
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (offsets[mid] <= row)
      lo = mid;
    else
      hi = mid - 1;
  }
  const float *b = bias ? bias + int64_t(lo) * mDim : nullptr;
  for (int64_t c = threadIdx.x; c < outCols; c += blockDim.x)
    storeOutput(out, outCols, row, c, z[row * mDim + c],
                gated ? z[row * mDim + outCols + c] : 0.0f, b, outCols, act,
                gated, rounded);
}

/// A cuBLAS handle, destroyed with its thread.
struct Handle {
  cublasHandle_t handle = nullptr;
  cublasStatus_t status = cublasCreate(&handle);
  ~Handle() {
    if (handle)
      cublasDestroy(handle);
  }
};

} // namespace

moe_status moe::runtime::cuda::cublasError(cublasStatus_t status) {
  // cuBLAS's text goes where moe_cuda_last_error finds it.
  return deviceError(std::string("cuBLAS: ") + cublasGetStatusString(status));
}

moe_status moe::runtime::cuda::cublasHandleOn(cudaStream_t stream,
                                              cublasHandle_t &handle) {
  static thread_local std::vector<std::unique_ptr<Handle>> perDevice;
  int device = 0;
  if (cudaError_t error = cudaGetDevice(&device); error != cudaSuccess)
    return deviceError(error);
  if (size_t(device) >= perDevice.size())
    perDevice.resize(device + 1);
  if (!perDevice[device])
    perDevice[device] = std::make_unique<Handle>();
  if (perDevice[device]->status != CUBLAS_STATUS_SUCCESS)
    return cublasError(perDevice[device]->status);
  handle = perDevice[device]->handle;
  cublasStatus_t status = cublasSetStream(handle, stream);
  return status == CUBLAS_STATUS_SUCCESS ? MOE_OK : cublasError(status);
}

moe_status moe::runtime::cuda::cublasGroupedMatmulBf16(
    cudaStream_t s, const __nv_bfloat16 *rows, int64_t numRows, int64_t kDim,
    const __nv_bfloat16 *weights, int64_t numExperts, int64_t mDim,
    const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out,
    __nv_bfloat16 *rounded) {
  moe_activation_params act = activation ? *activation
                                         : moe_activation_params{0, 0, 0, 0};
  // The checks want an output; `rounded` stands in for it.
  float *anyOut = out ? out : reinterpret_cast<float *>(rounded);
  if (!validGroupedMatmul(numRows, kDim, weights, numExperts, mDim, offsets,
                          rows, anyOut, act) ||
      numRows > INT_MAX || kDim > INT_MAX || mDim > INT_MAX ||
      numExperts > INT_MAX)
    return MOE_ERROR_INVALID_ARGUMENT;
  bool gated = isGatedActivation(act.kind);
  int64_t outCols = gated ? mDim / 2 : mDim;
  if (numRows == 0 || outCols == 0)
    return MOE_OK;
  std::vector<int32_t> hostOffsets(numExperts + 1);
  cudaError_t copied = cudaMemcpyAsync(hostOffsets.data(), offsets,
                                       sizeof(int32_t) * (numExperts + 1),
                                       cudaMemcpyDeviceToHost, s);
  if (copied == cudaSuccess)
    copied = cudaStreamSynchronize(s);
  if (copied != cudaSuccess)
    return deviceError(copied);
  if (!validOffsets(hostOffsets.data(), numExperts, numRows))
    return MOE_ERROR_INDEX_OUT_OF_RANGE;

  // One group (of one GEMM) per expert with rows.
  std::vector<cublasOperation_t> ops;
  std::vector<int> m, n, k, lda, ldb, ldc, groupSize;
  std::vector<float> alpha, beta;
  std::vector<const void *> a, b, c;
  DeviceBuffer<float> z;
  MOE_TRY(z.allocate(numRows * mDim, s));
  for (int64_t e = 0; e < numExperts; ++e) {
    int32_t count = hostOffsets[e + 1] - hostOffsets[e];
    if (count == 0)
      continue;
    ops.push_back(CUBLAS_OP_N);
    m.push_back(int(mDim));
    n.push_back(count);
    k.push_back(int(kDim));
    lda.push_back(int(mDim));
    ldb.push_back(int(kDim));
    ldc.push_back(int(mDim));
    groupSize.push_back(1);
    alpha.push_back(1.0f);
    beta.push_back(0.0f);
    a.push_back(weights + e * kDim * mDim);
    b.push_back(rows + int64_t(hostOffsets[e]) * kDim);
    c.push_back(z.get() + int64_t(hostOffsets[e]) * mDim);
  }
  int groups = static_cast<int>(ops.size());
  // The matrix pointers go to the device; the rest stays on the host.
  DeviceBuffer<const void *> dA, dB, dC;
  for (auto [device, host] : {std::pair{&dA, &a}, std::pair{&dB, &b},
                              std::pair{&dC, &c}}) {
    MOE_TRY(device->allocate(groups, s));
    if (cudaError_t error =
            cudaMemcpyAsync(device->get(), host->data(),
                            sizeof(void *) * groups, cudaMemcpyHostToDevice, s);
        error != cudaSuccess)
      return deviceError(error);
  }
  cublasHandle_t handle;
  MOE_TRY(cublasHandleOn(s, handle));
  cublasStatus_t status = cublasGemmGroupedBatchedEx(
      handle, ops.data(), ops.data(), m.data(), n.data(), k.data(),
      alpha.data(), dA.get(), CUDA_R_16BF, lda.data(), dB.get(), CUDA_R_16BF,
      ldb.data(), beta.data(),
      static_cast<void *const *>(static_cast<void *>(dC.get())), CUDA_R_32F,
      ldc.data(), groups, groupSize.data(), CUBLAS_COMPUTE_32F);
  if (status != CUBLAS_STATUS_SUCCESS)
    return cublasError(status);
  int threads = outCols >= 256 ? 256 : outCols >= 64 ? 128 : 32;
  MOE_LAUNCH(unsigned(numRows), threads, 0, s, epilogueKernel)
  (z.get(), mDim, outCols, offsets, int(numExperts), bias, act, gated, out,
   rounded);
  MOE_TRY(launched());
  // The host arrays above must outlive the asynchronous call.
  cudaError_t done = cudaStreamSynchronize(s);
  return done == cudaSuccess ? MOE_OK : deviceError(done);
}

extern "C" moe_status moe_cuda_grouped_matmul_cublas_bf16(
    void *stream, const uint16_t *rows, int64_t numRows, int64_t kDim,
    const uint16_t *weights, int64_t numExperts, int64_t mDim,
    const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out) {
  return cublasGroupedMatmulBf16(
      asStream(stream), reinterpret_cast<const __nv_bfloat16 *>(rows), numRows,
      kDim, reinterpret_cast<const __nv_bfloat16 *>(weights), numExperts, mDim,
      offsets, bias, activation, out, nullptr);
}
