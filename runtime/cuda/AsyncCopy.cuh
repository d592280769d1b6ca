//===- AsyncCopy.cuh - cp.async and shared-memory addresses -----*- C++ -*-===//
//
// The asynchronous global-to-shared copies the tensor-core kernels stage
// their tiles with (cp.async, sm_80 and later; GroupedMatmulMma.cu and
// GroupedMatmulWgmma.cu), or their SIMT emulator twins (Simt.h).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_ASYNCCOPY_CUH
#define MOE_RUNTIME_CUDA_ASYNCCOPY_CUH

#include <cstdint>

namespace moe::runtime::cuda {

#ifdef MOE_CUDA_EMULATION
__device__ inline uint32_t sharedAddress(const void *p) {
  return moe::cuda_emulation::sharedAddress(p);
}
__device__ inline void copy16(uint32_t dst, const void *src, bool valid) {
  moe::cuda_emulation::copyAsync(moe::cuda_emulation::sharedPointer(dst), src,
                                 valid ? 16 : 0, 16);
}
__device__ inline void commitCopies() { moe::cuda_emulation::commitCopies(); }
template <int Pending> __device__ inline void waitCopies() {
  moe::cuda_emulation::waitCopies(Pending);
}
#else
/// The shared-memory address (the .shared state space) of `p`.
__device__ inline uint32_t sharedAddress(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

/// 16 bytes from global to shared memory at `dst`, asynchronously; zeros
/// when !valid (src-size 0: nothing is read).
__device__ inline void copy16(uint32_t dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst),
               "l"(src), "r"(valid ? 16 : 0));
}

/// Closes this thread's group of copies issued since the last one.
__device__ inline void commitCopies() {
  asm volatile("cp.async.commit_group;\n" ::);
}

/// Waits until at most `Pending` of this thread's groups are in flight.
template <int Pending> __device__ inline void waitCopies() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}
#endif

/// copy16 to a (generic) pointer into shared memory.
__device__ inline void copy16(void *dst, const void *src, bool valid) {
  copy16(sharedAddress(dst), src, valid);
}

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_ASYNCCOPY_CUH
