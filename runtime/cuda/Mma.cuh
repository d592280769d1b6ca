//===- Mma.cuh - ldmatrix and mma.sync m16n8k16 -----------------*- C++ -*-===//
//
// The sm_80 tensor-core instructions the mma.sync kernels use
// (GroupedMatmulMma.cu, FusedAttentionMma.cu), or their SIMT emulator
// twins (Simt.h, TensorCore.cpp): operands in the PTX ISA's fragments.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_MMA_CUH
#define MOE_RUNTIME_CUDA_MMA_CUH

#include "AsyncCopy.cuh"

#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace moe::runtime::cuda {

#ifdef MOE_CUDA_EMULATION
// The SIMT emulator's versions of the instructions below (Simt.h).
namespace emulation = ::moe::cuda_emulation;
__device__ inline void ldmatrixX4(uint32_t (&r)[4], const void *p) {
  emulation::ldmatrixX4(r, p, /*transposed=*/false);
}
__device__ inline void ldmatrixX4Trans(uint32_t (&r)[4], const void *p) {
  emulation::ldmatrixX4(r, p, /*transposed=*/true);
}
template <typename Element>
__device__ inline void mma16816(float (&acc)[4], const uint32_t (&a)[4],
                                uint32_t b0, uint32_t b1) {
  emulation::mma16816(acc, a, b0, b1, std::is_same_v<Element, __half>);
}
#else
__device__ inline void ldmatrixX4(uint32_t (&r)[4], const void *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, "
               "[%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(p)));
}

__device__ inline void ldmatrixX4Trans(uint32_t (&r)[4], const void *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, "
               "%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(p)));
}

/// acc += a (16 x 16, row-major fragment) * b (16 x 8, column-major), in
/// bf16 or fp16 (`Element`).
#define MOE_MMA_16816(TYPE)                                                    \
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." TYPE "." TYPE          \
               ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "           \
               "{%0, %1, %2, %3};\n"                                           \
               : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])        \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1))
template <typename Element>
__device__ inline void mma16816(float (&acc)[4], const uint32_t (&a)[4],
                                uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<Element, __half>)
    MOE_MMA_16816("f16");
  else
    MOE_MMA_16816("bf16");
}
#undef MOE_MMA_16816
#endif // MOE_CUDA_EMULATION

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_MMA_CUH
