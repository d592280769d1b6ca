//===- Simt.h - The CUDA kernels' device built-ins on the host --*- C++ -*-===//
//
// Force-included (-include) before every source of the emulated CUDA
// runtime (libmoe_runtime_cuda_emulated): the same kernel sources as the
// GPU build, compiled by the host compiler, run on the CPU by a SIMT
// emulator (Simt.cpp) so that machines without a GPU (CI) test the
// kernels themselves, not a reference standing in for them.
//
// Every CUDA thread of a block is a fiber; blocks run one after another,
// so `__shared__` variables are plain statics. __syncthreads and the warp
// collectives (shuffles, ballots, ldmatrix, mma.sync) are barriers
// between fibers; a barrier some threads never reach, a misaligned
// cp.async, ldmatrix or WMMA address, a launch over the device's limits
// are reported as a launch failure (the next cudaGetLastError or
// synchronization), naming the kernel and block. cp.async copies land
// when the thread waits for their group, not before, so a read that does
// not wait sees stale data as it could on a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_EMULATION_SIMT_H
#define MOE_RUNTIME_CUDA_EMULATION_SIMT_H

// The CUDA headers define these only where they are not defined yet.
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __launch_bounds__(...)
#define __grid_constant__

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

// Built-in variables, set by the scheduler for the running fiber.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

namespace moe::cuda_emulation {

constexpr int kWarpSize = 32;
/// Bytes a lane can publish to its warp in one collective.
constexpr int kSlotBytes = 64;

/// Runs `body` as every thread of every block of `grid` x `block`; a
/// failure is recorded as the launch's error (cudaGetLastError).
void launch(const char *kernel, const void *address, dim3 grid, dim3 block,
            size_t dynamicSharedBytes, const std::function<void()> &body);

/// The running block's dynamic shared memory (128-byte aligned).
unsigned char *dynamicShared();

/// Fails the running launch: `what` names the problem.
[[noreturn]] void fail(const char *what);

/// Waits until every live thread of the block is here.
void blockBarrier();
/// Waits until every live lane of the warp is here; `mask` must name them.
void warpBarrier(unsigned mask);
/// The running thread's lane and the warp's slots ([32][kSlotBytes]) for
/// its next collective.
int laneId();
unsigned char *warpSlots();

/// A warp collective: publishes `mine`, waits for the warp, returns
/// pick(all lanes' values, lane).
template <typename T, typename Pick>
auto exchange(unsigned mask, const T &mine, Pick &&pick) {
  static_assert(sizeof(T) <= kSlotBytes && std::is_trivially_copyable_v<T>);
  unsigned char *slots = warpSlots();
  int lane = laneId();
  std::memcpy(slots + lane * kSlotBytes, &mine, sizeof(T));
  warpBarrier(mask);
  auto lanes = [&](int l) {
    T value;
    std::memcpy(&value, slots + l * kSlotBytes, sizeof(T));
    return value;
  };
  return pick(lanes, lane);
}

/// cp.async: `bytes` from global `src` (the first `srcBytes` of them; the
/// rest zero) to shared `dst`, when the thread waits for the group.
void copyAsync(void *dst, const void *src, int srcBytes, int bytes);
/// Fails the launch unless `p` is aligned to `bytes` (a vector access:
/// Vector.cuh).
void checkAligned(const void *p, size_t bytes);
void commitCopies();
void waitCopies(int pending);

/// ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16 from each lane's row
/// address `row`.
void ldmatrixX4(uint32_t (&r)[4], const void *row, bool transposed);

/// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}: acc += a * b.
void mma16816(float (&acc)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
              bool half);

/// Shared-memory addresses (__cvta_generic_to_shared) of the block's
/// dynamic shared memory, which starts at kSharedBase of the emulated
/// shared window (not 1024-aligned: as after a kernel's static shared
/// memory), and back.
constexpr uint32_t kSharedBase = 0x180;
uint32_t sharedAddress(const void *pointer);
unsigned char *sharedPointer(uint32_t address);

/// wgmma.mma_async.sync.aligned.m64n128k16.f32.{bf16,f16} with scale-d 1,
/// A and B scales 1, A K-major, B transposed (MN-major), both through
/// 128-byte-swizzled descriptors: d (the warpgroup's 64 x 128 tile, this
/// thread's 64 elements) += A * B - computed when wgmmaWait retires its
/// group, reading shared memory then: a stage handed back to the loads
/// before its wgmma retired shows as wrong results, not as luck.
void wgmma64x128(float (&d)[64], uint64_t a, uint64_t b, bool half);
/// wgmma.commit_group: closes the thread's wgmmas issued since the last.
void wgmmaCommit();
/// wgmma.wait_group: retires groups until at most `pending` are in flight.
void wgmmaWait(int pending);

/// mbarrier objects (8 bytes of shared memory at `bar`, a .shared address)
/// as PTX defines them: a phase completes when its expected arrivals have
/// arrived and its expected transaction bytes have landed, and the next
/// phase starts expecting the same arrivals.
void mbarrierInit(uint32_t bar, uint32_t arrivals);
/// mbarrier.arrive (txBytes 0) or mbarrier.arrive.expect_tx.
void mbarrierArrive(uint32_t bar, uint32_t txBytes);
/// mbarrier.try_wait.parity: whether the phase of parity `parity` (the
/// current one's, or the one before) has completed.
bool mbarrierTryWait(uint32_t bar, uint32_t parity);
/// Spins on mbarrierTryWait, letting the other threads run; a block whose
/// threads all spin without anything changing has deadlocked and fails.
void mbarrierWait(uint32_t bar, uint32_t parity);
/// complete_tx: `bytes` of an asynchronous copy signalled on `bar` landed.
void mbarrierCompleteTx(uint32_t bar, uint32_t bytes);

/// cp.async.bulk.tensor.{rank}d.shared::cluster.global.mbarrier::complete_tx
/// ::bytes (TMA): the box at `coords` of the tensor map `map` (encoded by
/// the emulated cuTensorMapEncodeTiled) to shared memory at `dst`,
/// elements outside the tensor as zeros, swizzled by the map's mode; then
/// complete_tx on `bar`. Lands at once (the consumers' mbarrier wait is
/// what orders it; a consumer that does not wait reads the stage's old
/// contents when threads run in the other order).
void tensorLoad(uint32_t dst, const void *map, const int32_t *coords, int rank,
                uint32_t bar);

/// MOE_LAUNCH's emulated launch (CudaSupport.h):
/// Launcher{name, grid, block, shared}(kernel)(arguments...).
struct Launcher {
  const char *name;
  dim3 grid, block;
  size_t shared;
  template <typename... Params>
  auto operator()(void (*kernel)(Params...)) const {
    return [kernel, self = *this](auto &&...arguments) {
      std::function<void()> body = [&] { kernel(arguments...); };
      launch(self.name, reinterpret_cast<const void *>(kernel), self.grid,
             self.block, self.shared, body);
    };
  }
};

} // namespace moe::cuda_emulation

// Device functions the kernels call.
inline void __syncthreads() { moe::cuda_emulation::blockBarrier(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  moe::cuda_emulation::warpBarrier(mask);
}
template <typename T>
T __shfl_sync(unsigned mask, T value, int src, int width = 32) {
  return moe::cuda_emulation::exchange(mask, value, [&](auto lanes, int lane) {
    return lanes(lane - lane % width + src % width);
  });
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int laneMask, int width = 32) {
  return moe::cuda_emulation::exchange(mask, value, [&](auto lanes, int lane) {
    int other = lane ^ laneMask;
    return other / width == lane / width ? lanes(other) : lanes(lane);
  });
}
template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  return moe::cuda_emulation::exchange(mask, value, [&](auto lanes, int lane) {
    return lane % width + int(delta) < width ? lanes(lane + int(delta))
                                             : lanes(lane);
  });
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return moe::cuda_emulation::exchange(
      mask, predicate != 0, [&](auto lanes, int) {
        unsigned bits = 0;
        for (int l = 0; l < moe::cuda_emulation::kWarpSize; ++l)
          if (mask >> l & 1u && lanes(l))
            bits |= 1u << l;
        return bits;
      });
}
inline int __popc(unsigned bits) { return __builtin_popcount(bits); }
// Blocks run one after another and a fiber runs until it waits: a
// read-modify-write is atomic, every write is visible to the blocks after
// it, and a fence orders nothing more.
inline int atomicAdd(int *address, int value) {
  int old = *address;
  *address = old + value;
  return old;
}
inline void __threadfence() {}
inline float __ldcg(const float *address) { return *address; }

using std::isnan;
template <typename A, typename B> auto min(A a, B b) {
  using T = std::common_type_t<A, B>;
  return T(a) < T(b) ? T(a) : T(b);
}
template <typename A, typename B> auto max(A a, B b) {
  using T = std::common_type_t<A, B>;
  return T(a) < T(b) ? T(b) : T(a);
}

#include "Wmma.h"

#endif // MOE_RUNTIME_CUDA_EMULATION_SIMT_H
