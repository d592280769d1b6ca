//===- Convert.cuh - f32 <-> bfloat16 / fp16 in device code -----*- C++ -*-===//
//
// The conversions the kernels with a 16-bit side share (a KV cache read
// as f32, activations or a cache written rounded, tensor-core operands
// staged as their bits): round to nearest even, as the casts do.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_CONVERT_CUH
#define MOE_RUNTIME_CUDA_CONVERT_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace moe::runtime::cuda {

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
