//===- CudaSupport.cu - Errors and version of the CUDA runtime ------------===//

#include "CudaSupport.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

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

moe::runtime::cuda::GroupedMatmulKernel
moe::runtime::cuda::groupedMatmulKernel() {
  static const GroupedMatmulKernel choice = [] {
    const char *value = std::getenv("MOE_CUDA_GROUPED_MATMUL");
    std::string text = value ? value : "";
    return text == "wmma"     ? GroupedMatmulKernel::Wmma
           : text == "wgmma"  ? GroupedMatmulKernel::Wgmma
           : text == "cublas" ? GroupedMatmulKernel::Cublas
                              : GroupedMatmulKernel::Default;
  }();
  return choice;
}

moe_status moe::runtime::cuda::allowDynamicSharedMemory(const void *kernel,
                                                        int bytes) {
  int device = 0;
  if (cudaError_t error = cudaGetDevice(&device); error != cudaSuccess)
    return deviceError(error);
  static std::mutex mutex;
  static std::set<std::pair<const void *, int>> done;
  std::lock_guard<std::mutex> lock(mutex);
  if (done.count({kernel, device}))
    return MOE_OK;
  if (cudaError_t error = cudaFuncSetAttribute(
          kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
      error != cudaSuccess)
    return deviceError(error);
  done.insert({kernel, device});
  return MOE_OK;
}

int moe::runtime::cuda::multiprocessors() {
  int device = 0, count = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount,
                             device) != cudaSuccess)
    return 1;
  return count;
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

namespace {
/// The calling thread's split-K counters, per device (splitCounters).
struct ThreadCounters {
  struct Array {
    int device;
    int *data;
    int64_t count;
  };
  std::vector<Array> arrays;
  ~ThreadCounters() {
    for (const Array &array : arrays)
      cudaFree(array.data); // at exit the context may be gone: ignored
  }
};
} // namespace

moe_status moe::runtime::cuda::splitCounters(cudaStream_t stream, int64_t count,
                                             int *&counters) {
  counters = nullptr;
  if (stream != cudaStreamPerThread)
    return MOE_OK;
  thread_local ThreadCounters local;
  int device = 0;
  if (cudaError_t error = cudaGetDevice(&device); error != cudaSuccess)
    return deviceError(error);
  auto found = std::find_if(local.arrays.begin(), local.arrays.end(),
                            [&](const auto &a) { return a.device == device; });
  if (found == local.arrays.end())
    found = local.arrays.insert(local.arrays.end(), {device, nullptr, 0});
  if (found->count < count) {
    // Grown in stream order: launches before still count on the old array.
    if (found->data)
      cudaFreeAsync(found->data, stream);
    found->data = nullptr;
    found->count = 0;
    int64_t grown = std::max<int64_t>(count, 1024);
    if (cudaError_t error =
            cudaMallocAsync(reinterpret_cast<void **>(&found->data),
                            sizeof(int) * grown, stream);
        error != cudaSuccess)
      return deviceError(error);
    if (cudaError_t error =
            cudaMemsetAsync(found->data, 0, sizeof(int) * grown, stream);
        error != cudaSuccess)
      return deviceError(error);
    found->count = grown;
  }
  counters = found->data;
  return MOE_OK;
}
