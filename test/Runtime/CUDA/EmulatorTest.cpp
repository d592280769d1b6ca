//===- EmulatorTest.cpp - The SIMT emulator's own checks ------------------===//
//
// Kernels written to break the rules a GPU enforces, run on the emulated
// device (runtime/cuda/emulation), each saying what the emulation reported:
// the failures must be caught and named, the collectives must compute
// what PTX defines. Built with Simt.h force-included, like the runtime.
// `emulator-test fault` reads past a device buffer and must die saying
// where.
//
//===----------------------------------------------------------------------===//

#include "CudaSupport.h"

#include <cstdio>
#include <cstring>

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

__global__ void readPast(const float *in, float *out, int n) {
  out[0] = in[n + 64]; // past the buffer's 256-byte rounded end
}

__global__ void nothing() {}

/// The launch's status; a fault is also consumed (it would fail the next
/// copy, as a GPU's sticky error fails all that follows).
const char *status() {
  cudaError_t error = cudaGetLastError();
  (void)cudaDeviceSynchronize();
  return error == cudaSuccess ? "ok" : cudaGetErrorName(error);
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
