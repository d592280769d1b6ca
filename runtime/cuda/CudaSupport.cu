//===- CudaSupport.cu - Errors and version of the CUDA runtime ------------===//

#include "CudaSupport.h"

#include <string>

namespace {
thread_local std::string lastError;
} // namespace

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
