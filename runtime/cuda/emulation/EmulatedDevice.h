//===- EmulatedDevice.h - The emulated GPU's limits and errors --*- C++ -*-===//
//
// Shared by the scheduler (Simt.cpp) and the cudart subset (Cudart.cpp):
// the emulated device is an sm_80 part with an A100's limits, so launches
// a GPU would refuse are refused here too - or, with
// MOE_CUDA_EMULATION_ARCH=90, a Hopper part (compute capability 9.0, an
// H100's shared memory), on which the runtime picks its wgmma kernel.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_EMULATION_EMULATEDDEVICE_H
#define MOE_RUNTIME_CUDA_EMULATION_EMULATEDDEVICE_H

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

namespace moe::cuda_emulation::device {

/// 8 (sm_80) or 9 (sm_90, MOE_CUDA_EMULATION_ARCH=90).
int computeMajor();
constexpr int kMultiprocessors = 108;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr size_t kDefaultDynamicShared = 48 * 1024;
/// The opt-in limit per block: 163 KiB (A100), 227 KiB (H100).
size_t maxDynamicShared();

/// Opens device memory to the host while it lives (kernels and copies run
/// on the host); closed, device pages cannot be touched.
struct DeviceAccess {
  DeviceAccess();
  ~DeviceAccess();
  DeviceAccess(const DeviceAccess &) = delete;
  DeviceAccess &operator=(const DeviceAccess &) = delete;
};

/// Why the device would refuse this launch of `kernel`, or "".
std::string checkLaunch(const void *kernel, dim3 grid, dim3 block,
                        size_t dynamicSharedBytes);

/// Records a failed launch (a refused configuration, or a fault while
/// running: a launch failure) for cudaGetLastError and the next
/// synchronization, and says why on stderr.
void launchFailed(const char *kernel, const std::string &what,
                  bool configuration);

/// Counts a library call (cuBLAS, Cublas.cpp) as one kernel launch, as a
/// GPU would launch at least one for it.
void countLibraryLaunch();

/// Counts `bytes` read from device memory by an asynchronous copy
/// (cp.async, TMA): what the kernels stage into shared memory, which the
/// tests hold against the bytes a kernel has to read.
void addStagedBytes(int64_t bytes);

/// cuTensorMapEncodeTiled (TensorMap.cpp), through
/// cudaGetDriverEntryPointByVersion as the runtime asks for it.
CUresult CUDAAPI encodeTensorMapTiled(
    CUtensorMap *tensorMap, CUtensorMapDataType type, cuuint32_t rank,
    void *address, const cuuint64_t *dims, const cuuint64_t *strides,
    const cuuint32_t *box, const cuuint32_t *elementStrides,
    CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle,
    CUtensorMapL2promotion promotion, CUtensorMapFloatOOBfill oobFill);

} // namespace moe::cuda_emulation::device

#endif // MOE_RUNTIME_CUDA_EMULATION_EMULATEDDEVICE_H
