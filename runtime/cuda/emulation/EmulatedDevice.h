//===- EmulatedDevice.h - The emulated GPU's limits and errors --*- C++ -*-===//
//
// Shared by the scheduler (Simt.cpp) and the cudart subset (Cudart.cpp):
// the emulated device is an sm_80 part with an A100's limits, so launches
// a GPU would refuse are refused here too.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_EMULATION_EMULATEDDEVICE_H
#define MOE_RUNTIME_CUDA_EMULATION_EMULATEDDEVICE_H

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

namespace moe::cuda_emulation::device {

constexpr int kComputeMajor = 8, kComputeMinor = 0;
constexpr int kMultiprocessors = 108;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr size_t kDefaultDynamicShared = 48 * 1024;
constexpr size_t kMaxDynamicShared = 163 * 1024; // opt-in, per block

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

} // namespace moe::cuda_emulation::device

#endif // MOE_RUNTIME_CUDA_EMULATION_EMULATEDDEVICE_H
