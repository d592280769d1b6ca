//===- CudaSupport.cu - Errors and version of the CUDA runtime ------------===//

#include "CudaSupport.h"

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

namespace {
thread_local std::string lastError;
} // namespace

bool moe::runtime::cuda::isDevicePointer(const void *pointer) {
  if (!pointer)
    return false;
  cudaPointerAttributes attributes;
  if (cudaPointerGetAttributes(&attributes, pointer) != cudaSuccess) {
    (void)cudaGetLastError(); // not an error to keep: plain host memory
    return false;
  }
  return attributes.type == cudaMemoryTypeDevice ||
         attributes.type == cudaMemoryTypeManaged;
}

void moe::runtime::cuda::keepPoolMemory() {
  thread_local int seen = -1; // the last device this thread set up
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device == seen)
    return;
  seen = device;
  static std::mutex mutex;
  static std::set<int> devices;
  std::lock_guard<std::mutex> lock(mutex);
  if (!devices.insert(device).second)
    return;
  cudaMemPool_t pool;
  uint64_t keep = UINT64_MAX;
  if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess)
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
}

moe_status moe::runtime::cuda::deviceError(cudaError_t error) {
  lastError = std::string(cudaGetErrorName(error)) + ": " +
              cudaGetErrorString(error);
  return MOE_ERROR_DEVICE;
}

moe_status moe::runtime::cuda::deviceError(const std::string &text) {
  lastError = text;
  return MOE_ERROR_DEVICE;
}

extern "C" int32_t moe_cuda_runtime_api_version(void) {
  return MOE_RUNTIME_CUDA_API_VERSION;
}

extern "C" const char *moe_cuda_last_error(void) { return lastError.c_str(); }
