//===- Tma.cuh - mbarriers and TMA tensor loads (sm_90) ---------*- C++ -*-===//
//
// The Hopper kernel's (GroupedMatmulWgmma.cu) staging: a producer thread
// loads tiles with the Tensor Memory Accelerator (cp.async.bulk.tensor
// through a CUtensorMap) and the consumers wait on mbarriers whose phase
// completes when the tile's bytes have landed; the consumers hand a stage
// back through a second mbarrier. Or their SIMT emulator twins (Simt.h).
// All addresses are .shared ones (sharedAddress, AsyncCopy.cuh).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_TMA_CUH
#define MOE_RUNTIME_CUDA_TMA_CUH

#include <cstdint>

namespace moe::runtime::cuda {

#ifdef MOE_CUDA_EMULATION
__device__ inline void mbarrierInit(uint32_t bar, uint32_t arrivals) {
  moe::cuda_emulation::mbarrierInit(bar, arrivals);
}
__device__ inline void fenceMbarrierInit() {}
__device__ inline void mbarrierArrive(uint32_t bar) {
  moe::cuda_emulation::mbarrierArrive(bar, 0);
}
__device__ inline void mbarrierArriveExpectTx(uint32_t bar, uint32_t bytes) {
  moe::cuda_emulation::mbarrierArrive(bar, bytes);
}
__device__ inline void mbarrierWait(uint32_t bar, uint32_t parity) {
  moe::cuda_emulation::mbarrierWait(bar, parity);
}
__device__ inline void tmaLoad2d(uint32_t dst, const void *map, int32_t c0,
                                 int32_t c1, uint32_t bar) {
  int32_t coords[2] = {c0, c1};
  moe::cuda_emulation::tensorLoad(dst, map, coords, 2, bar);
}
__device__ inline void tmaLoad3d(uint32_t dst, const void *map, int32_t c0,
                                 int32_t c1, int32_t c2, uint32_t bar) {
  int32_t coords[3] = {c0, c1, c2};
  moe::cuda_emulation::tensorLoad(dst, map, coords, 3, bar);
}
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
/// An mbarrier expecting `arrivals` arrivals per phase.
__device__ inline void mbarrierInit(uint32_t bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar),
               "r"(arrivals)
               : "memory");
}

/// Makes the initialized mbarriers visible to the async proxy (TMA)
/// before they are used; a __syncthreads must follow.
__device__ inline void fenceMbarrierInit() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

__device__ inline void mbarrierArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar)
               : "memory");
}

/// Arrives and expects `bytes` more of asynchronous copies this phase.
__device__ inline void mbarrierArriveExpectTx(uint32_t bar, uint32_t bytes) {
  asm volatile(
      "mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar),
      "r"(bytes)
      : "memory");
}

/// Waits until the phase of parity `parity` has completed.
__device__ inline void mbarrierWait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile("{\n.reg .pred p;\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                 "selp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(bar), "r"(parity)
                 : "memory");
  } while (!done);
}

/// The box at (c0, c1[, c2]) of the tensor map at `map` (a
/// __grid_constant__ kernel parameter) to shared memory at `dst`; its
/// bytes complete a transaction of `bar`.
__device__ inline void tmaLoad2d(uint32_t dst, const void *map, int32_t c0,
                                 int32_t c1, uint32_t bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::"
               "complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
               "l"(map), "r"(c0), "r"(c1), "r"(bar)
               : "memory");
}
__device__ inline void tmaLoad3d(uint32_t dst, const void *map, int32_t c0,
                                 int32_t c1, int32_t c2, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::"
      "complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(dst),
      "l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(bar)
      : "memory");
}
#endif

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_TMA_CUH
