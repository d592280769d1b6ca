//===- Cublas.h - The runtime's cuBLAS handles ------------------*- C++ -*-===//
//
// Internal to runtime/cuda: the cuBLAS baseline of the grouped matmul
// (CublasGrouped.cu) and the graph's dense matmuls (Matmul.cu) share one
// handle per thread and device.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_CUBLAS_H
#define MOE_RUNTIME_CUDA_CUBLAS_H

#include "CudaSupport.h"

#include <cublas_v2.h>

namespace moe::runtime::cuda {

/// The calling thread's cuBLAS handle for its current device (made on
/// first use: a handle belongs to the device current at its creation),
/// set to run on `stream`.
moe_status cublasHandleOn(cudaStream_t stream, cublasHandle_t &handle);

/// MOE_ERROR_DEVICE with cuBLAS's text for `status`.
moe_status cublasError(cublasStatus_t status);

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_CUBLAS_H
