//===- EmulatorTest.cpp - The SIMT emulator's own checks ------------------===//
//
// Kernels written to break the rules a GPU enforces, run on the emulated
// device (runtime/cuda/emulation), each saying what the emulation reported:
// the failures must be caught and named, the collectives must compute
// what PTX defines. Built with Simt.h force-included, like the runtime.
// `emulator-test fault` reads past a device buffer and must die saying
// where. The Hopper pieces (mbarriers, TMA through a tensor map, wgmma's
// asynchronous reads) are checked against the PTX ISA's and the driver
// API's definitions, written out here, not against the emulator's code.
//
//===----------------------------------------------------------------------===//

#include "AsyncCopy.cuh"
#include "CudaSupport.h"
#include "IndexMath.h"
#include "Tma.cuh"
#include "Vector.cuh"

#include <cudaTypedefs.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace {

__global__ void divergentBarrier(int *out) {
  if (threadIdx.x < 16)
    __syncthreads(); // the other half never arrives
  out[threadIdx.x] = 1;
}

__global__ void shuffles(int *out) {
  int lane = threadIdx.x % 32;
  int x = __shfl_xor_sync(0xffffffffu, lane * 10, 1);
  int d = __shfl_down_sync(0xffffffffu, lane, 3);
  int b = __shfl_sync(0xffffffffu, lane + 100, 5);
  unsigned ballot = __ballot_sync(0xffffffffu, lane % 3 == 0);
  out[threadIdx.x * 4 + 0] = x;
  out[threadIdx.x * 4 + 1] = d;
  out[threadIdx.x * 4 + 2] = b;
  out[threadIdx.x * 4 + 3] = int(ballot);
}

__global__ void misalignedCopy(const float *in) {
  MOE_DYNAMIC_SHARED(shared, 128);
  moe::cuda_emulation::copyAsync(shared + 16, in + 1, 16, 16); // in + 4 bytes
  moe::cuda_emulation::commitCopies();
  moe::cuda_emulation::waitCopies(0);
}

/// A 16-byte load 4 bytes into a buffer: a GPU faults on it.
__global__ void misalignedVector(const float *in, float *out) {
  uint4 word = moe::runtime::cuda::loadVector<uint4>(in + 1);
  out[0] = float(word.x);
}

/// The same at an aligned address: fine.
__global__ void alignedVector(const float *in, float *out) {
  uint4 word = moe::runtime::cuda::loadVector<uint4>(in + 4);
  moe::runtime::cuda::storeVector(out + 4, word);
}

__global__ void readPast(const float *in, float *out, int n) {
  out[0] = in[n + 64]; // past the buffer's 256-byte rounded end
}

__global__ void nothing() {}

using namespace moe::runtime::cuda;
using namespace moe::runtime::cuda::tiles;

/// A TMA load's landing: the first 1024-aligned KiB of shared memory,
/// as bytes, to `out`.
__global__ void tmaBox(const __grid_constant__ CUtensorMap map, int32_t c0,
                       int32_t c1, unsigned char *out) {
  MOE_DYNAMIC_SHARED(shared, 16);
  uint32_t base = sharedAddress(shared);
  uint32_t tile = (base + 1023) & ~1023u, bar = tile + 1024;
  mbarrierInit(bar, 1);
  mbarrierArriveExpectTx(bar, 1024);
  tmaLoad2d(tile, &map, c0, c1, bar);
  mbarrierWait(bar, 0);
  std::memcpy(out, shared + (tile - base), 1024);
}

__global__ void waitForever() {
  MOE_DYNAMIC_SHARED(shared, 16);
  uint32_t bar = sharedAddress(shared);
  if (threadIdx.x == 0)
    mbarrierInit(bar, 2);
  __syncthreads();
  mbarrierArrive(bar); // one of the two arrivals the phase expects
  mbarrierWait(bar, 0);
}

__global__ void arriveTwice() {
  MOE_DYNAMIC_SHARED(shared, 16);
  uint32_t bar = sharedAddress(shared);
  mbarrierInit(bar, 1);
  mbarrierArrive(bar);
  mbarrierWait(bar, 0);
  // The next phase expects one arrival; the wait for parity 1 succeeds
  // only after it, and parity 0 (the phase before) is complete already.
  bool before = moe::cuda_emulation::mbarrierTryWait(bar, 1);
  bool previous = moe::cuda_emulation::mbarrierTryWait(bar, 0);
  mbarrierArrive(bar);
  bool after = moe::cuda_emulation::mbarrierTryWait(bar, 1);
  if (before || !previous || !after)
    moe::cuda_emulation::fail("mbarrier phases not as PTX defines them");
}

__global__ void uninitialized() {
  MOE_DYNAMIC_SHARED(shared, 16);
  mbarrierArrive(sharedAddress(shared));
}

__global__ void shortExpectation(const __grid_constant__ CUtensorMap map) {
  MOE_DYNAMIC_SHARED(shared, 16);
  uint32_t base = sharedAddress(shared);
  uint32_t tile = (base + 1023) & ~1023u, bar = tile + 1024;
  mbarrierInit(bar, 1);
  mbarrierArriveExpectTx(bar, 512); // the box is 1024 bytes
  tmaLoad2d(tile, &map, 0, 0, bar);
}

/// One wgmma of A = 1 (64 x 16) and B = 1 (16 x 128), A overwritten by 2
/// after it is issued and before it is waited for: out gets what the
/// wgmma read (16 or 32 per element).
__global__ void lateRead(float *out) {
  MOE_DYNAMIC_SHARED(shared, 16);
  uint32_t base = sharedAddress(shared);
  uint32_t tiles = (base + 1023) & ~1023u;
  unsigned char *a = shared + (tiles - base), *b = a + 8192;
  auto fill = [](unsigned char *p, int n, float value) {
    __nv_bfloat16 x = __float2bfloat16(value);
    for (int i = 0; i < n; ++i)
      std::memcpy(p + 2 * i, &x, 2);
  };
  if (threadIdx.x == 0) {
    fill(a, 4096, 1.0f);
    fill(b, 8192, 1.0f);
  }
  __syncthreads();
  float d[64] = {};
  moe::cuda_emulation::wgmma64x128(d, wgmmaADescriptor(tiles, 0, 0),
                                   wgmmaBDescriptor(tiles + 8192, 0), false);
  moe::cuda_emulation::wgmmaCommit();
  __syncthreads();
  if (threadIdx.x == 0)
    fill(a, 4096, 2.0f);
  __syncthreads();
  moe::cuda_emulation::wgmmaWait(0);
  out[threadIdx.x] = d[0];
}

/// The launch's status; a fault is also consumed (it would fail the next
/// copy, as a GPU's sticky error fails all that follows).
const char *status() {
  cudaError_t error = cudaGetLastError();
  (void)cudaDeviceSynchronize();
  return error == cudaSuccess ? "ok" : cudaGetErrorName(error);
}

/// The tensor map of a [20, 70] matrix of 16-bit elements (element
/// (r, c) = r * 100 + c), box 8 rows x 64 (128 bytes), 128-byte swizzled;
/// or with a box too wide for that swizzle when `tooWide`.
CUresult encodeMatrix(CUtensorMap &map, uint16_t *device, bool tooWide) {
  void *function = nullptr;
  cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &function, 12000,
                                   cudaEnableDefault, nullptr);
  auto encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(function);
  const cuuint64_t dims[2] = {70, 20}, strides[1] = {80 * 2};
  const cuuint32_t box[2] = {tooWide ? 128u : 64u, 8}, unit[2] = {1, 1};
  return encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT16, 2, device, dims, strides,
                box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE,
                CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_NONE,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}

void checkHopper() {
  // A [20, 70] matrix in rows of 80 elements (strides are multiples of 16
  // bytes); the box at column 8, row -2 reaches past both ends.
  std::vector<uint16_t> matrix(20 * 80, 0xEEEE);
  for (int r = 0; r < 20; ++r)
    for (int c = 0; c < 70; ++c)
      matrix[r * 80 + c] = uint16_t(r * 100 + c);
  uint16_t *device = nullptr;
  unsigned char *landed = nullptr;
  cudaMalloc(reinterpret_cast<void **>(&device), matrix.size() * 2);
  cudaMalloc(reinterpret_cast<void **>(&landed), 1024);
  cudaMemcpy(device, matrix.data(), matrix.size() * 2, cudaMemcpyHostToDevice);
  CUtensorMap map;
  std::printf("encoding a box too wide for the 128-byte swizzle: %s\n",
              encodeMatrix(map, device, true) == CUDA_ERROR_INVALID_VALUE
                  ? "refused"
                  : "ACCEPTED");
  encodeMatrix(map, device, false);
  cudaFuncSetAttribute(reinterpret_cast<const void *>(&tmaBox),
                       cudaFuncAttributeMaxDynamicSharedMemorySize, 4096);
  MOE_LAUNCH(1, 1, 4096, nullptr, tmaBox)(map, 8, -2, landed);
  std::printf("TMA load: %s\n", status());
  std::vector<uint16_t> host(512);
  cudaMemcpy(host.data(), landed, 1024, cudaMemcpyDeviceToHost);
  // PTX ISA, "Tensor copy with swizzle": with the 128-byte mode, the
  // 16-byte chunk j of the box's row i (128 bytes) lands at chunk
  // j ^ (i mod 8) of that row; zeros outside the tensor.
  bool right = true;
  for (int i = 0; i < 8; ++i)
    for (int c = 0; c < 64; ++c) {
      int r = i - 2, col = c + 8;
      uint16_t want =
          r >= 0 && col < 70 ? uint16_t(r * 100 + col) : uint16_t(0);
      int at = i * 64 + ((c / 8) ^ (i % 8)) * 8 + c % 8;
      right &= host[at] == want;
    }
  std::printf("TMA box: %s\n", right ? "swizzled as PTX defines" : "WRONG");

  MOE_LAUNCH(1, 1, 4096, nullptr, shortExpectation)(map);
  std::printf("expect_tx short of the box: %s\n", status());
  MOE_LAUNCH(1, 64, 64, nullptr, waitForever)();
  std::printf("mbarrier missing an arrival: %s\n", status());
  MOE_LAUNCH(1, 1, 64, nullptr, arriveTwice)();
  std::printf("mbarrier phases: %s\n", status());
  MOE_LAUNCH(1, 1, 64, nullptr, uninitialized)();
  std::printf("mbarrier before init: %s\n", status());

  float *out = nullptr;
  cudaMalloc(reinterpret_cast<void **>(&out), 128 * sizeof(float));
  MOE_LAUNCH(1, 128, 32 * 1024, nullptr, lateRead)(out);
  float got[128];
  cudaMemcpy(got, out, sizeof(got), cudaMemcpyDeviceToHost);
  std::printf("wgmma reads its operands by its wait: %s\n",
              got[0] == 32.0f && got[127] == 32.0f ? "yes" : "no");
}

} // namespace

int main(int argc, char **argv) {
  if (argc > 1 && std::strcmp(argv[1], "fault") == 0) {
    float *in = nullptr, *out = nullptr;
    cudaMalloc(reinterpret_cast<void **>(&in), 64 * sizeof(float));
    cudaMalloc(reinterpret_cast<void **>(&out), sizeof(float));
    MOE_LAUNCH(1, 1, 0, nullptr, readPast)(in, out, 64);
    std::printf("no fault\n");
    return 0;
  }
  int *out = nullptr;
  cudaMalloc(reinterpret_cast<void **>(&out), 64 * 4 * sizeof(int));
  int fresh[4];
  cudaMemcpy(fresh, out, sizeof(fresh), cudaMemcpyDeviceToHost);
  std::printf("fresh device memory: %s\n",
              fresh[0] == -1 && fresh[3] == -1 ? "all bits set" : "zeroed");

  MOE_LAUNCH(1, 32, 0, nullptr, divergentBarrier)(out);
  std::printf("divergent __syncthreads: %s\n", status());

  MOE_LAUNCH(1, 64, 0, nullptr, shuffles)(out);
  std::printf("shuffles: %s\n", status());
  int host[64 * 4];
  cudaMemcpy(host, out, sizeof(host), cudaMemcpyDeviceToHost);
  bool right = true;
  for (int t = 0; t < 64; ++t) {
    int lane = t % 32;
    unsigned ballot = 0;
    for (int l = 0; l < 32; l += 3)
      ballot |= 1u << l;
    right &= host[t * 4] == (lane ^ 1) * 10 &&
             host[t * 4 + 1] == (lane + 3 < 32 ? lane + 3 : lane) &&
             host[t * 4 + 2] == 105 && unsigned(host[t * 4 + 3]) == ballot;
  }
  std::printf("shuffle values: %s\n", right ? "as PTX defines" : "WRONG");

  float *in = nullptr;
  cudaMalloc(reinterpret_cast<void **>(&in), 64 * sizeof(float));
  MOE_LAUNCH(1, 1, 256, nullptr, misalignedCopy)(in);
  std::printf("misaligned cp.async: %s\n", status());
  float *vectorOut = nullptr;
  cudaMalloc(reinterpret_cast<void **>(&vectorOut), 64 * sizeof(float));
  MOE_LAUNCH(1, 1, 0, nullptr, misalignedVector)(in, vectorOut);
  std::printf("misaligned 16-byte load: %s\n", status());
  MOE_LAUNCH(1, 1, 0, nullptr, alignedVector)(in, vectorOut);
  std::printf("aligned 16-byte load and store: %s\n", status());

  checkHopper();

  MOE_LAUNCH(1, 1, 64 * 1024, nullptr, nothing)();
  std::printf("64 KiB dynamic shared memory without opt-in: %s\n", status());
  cudaFuncSetAttribute(reinterpret_cast<const void *>(&nothing),
                       cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024);
  MOE_LAUNCH(1, 1, 64 * 1024, nullptr, nothing)();
  std::printf("64 KiB with opt-in: %s\n", status());
  MOE_LAUNCH(1, 2048, 0, nullptr, nothing)();
  std::printf("2048 threads per block: %s\n", status());
  MOE_LAUNCH(dim3(1, 70000), 32, 0, nullptr, nothing)();
  std::printf("grid y of 70000: %s\n", status());
  return 0;
}
