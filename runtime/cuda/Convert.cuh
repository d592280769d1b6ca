//===- Convert.cuh - f32 <-> bfloat16 / fp16 in device code -----*- C++ -*-===//
//
// The conversions the kernels with a 16-bit side share (a KV cache read
// as f32, activations or a cache written rounded, tensor-core operands
// staged as their bits): round to nearest even, as the casts do.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_CONVERT_CUH
#define MOE_RUNTIME_CUDA_CONVERT_CUH

#include "moe_runtime_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace moe::runtime::cuda {

/// The MOE_CUDA_ELEMENT_* type of T (float, __nv_bfloat16, __half).
template <typename T>
constexpr int32_t kElementType =
    std::is_same_v<T, float>    ? MOE_CUDA_ELEMENT_F32
    : std::is_same_v<T, __half> ? MOE_CUDA_ELEMENT_F16
                                : MOE_CUDA_ELEMENT_BF16;

/// f(T{}) for the C++ type T of the MOE_CUDA_ELEMENT_* type `type` (host
/// code choosing a kernel instantiation).
template <typename F> auto withElementType(int32_t type, F &&f) {
  switch (type) {
  case MOE_CUDA_ELEMENT_BF16:
    return f(__nv_bfloat16{});
  case MOE_CUDA_ELEMENT_F16:
    return f(__half{});
  default:
    return f(float{});
  }
}

/// `value` (float, __half or __nv_bfloat16) as f32.
template <typename T> __device__ inline float toFloat(T value) {
  if constexpr (std::is_same_v<T, float>)
    return value;
  else if constexpr (std::is_same_v<T, __half>)
    return __half2float(value);
  else
    return __bfloat162float(value);
}

/// f32 `value` as T, rounded to nearest even.
template <typename T> __device__ inline T fromFloat(float value) {
  if constexpr (std::is_same_v<T, float>)
    return value;
  else if constexpr (std::is_same_v<T, __half>)
    return __float2half_rn(value);
  else
    return __float2bfloat16_rn(value);
}

/// The bits of `value` rounded to the 16-bit T, and back.
template <typename T> __device__ inline uint16_t bitsOf(float value) {
  if constexpr (std::is_same_v<T, __half>)
    return __half_raw(fromFloat<T>(value)).x;
  else
    return __nv_bfloat16_raw(fromFloat<T>(value)).x;
}

template <typename T> __device__ inline float fromBits(uint16_t bits) {
  if constexpr (std::is_same_v<T, __half>) {
    __half_raw raw;
    raw.x = bits;
    return toFloat(__half(raw));
  } else {
    __nv_bfloat16_raw raw;
    raw.x = bits;
    return toFloat(__nv_bfloat16(raw));
  }
}

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_CONVERT_CUH
