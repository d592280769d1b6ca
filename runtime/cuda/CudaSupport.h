//===- CudaSupport.h - Launch checks and scratch memory ---------*- C++ -*-===//

#ifndef MOE_RUNTIME_CUDA_CUDASUPPORT_H
#define MOE_RUNTIME_CUDA_CUDASUPPORT_H

#include "Validation.h"
#include "moe_runtime_cuda.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <string>

namespace moe::runtime::cuda {

/// Returns the status of `expr` from the calling function unless it is
/// MOE_OK.
#define MOE_TRY(expr)                                                          \
  do {                                                                         \
    moe_status status_ = (expr);                                               \
    if (status_ != MOE_OK)                                                     \
      return status_;                                                          \
  } while (false)

/// Launches a kernel (the trailing argument: its name, template arguments
/// and all) with `shared` bytes of dynamic shared memory; the arguments
/// follow in parentheses. The triple-chevron launch, or on the host the
/// SIMT emulator's (runtime/cuda/emulation, what CI runs the kernels on).
#ifdef MOE_CUDA_EMULATION
#define MOE_LAUNCH(grid, block, shared, stream, ...)                           \
  ::moe::cuda_emulation::Launcher{#__VA_ARGS__, grid, block,                   \
                                  shared}(__VA_ARGS__)
#else
#define MOE_LAUNCH(grid, block, shared, stream, ...)                           \
  __VA_ARGS__<<<grid, block, shared, stream>>>
#endif

/// A kernel's dynamic shared memory, `name` (unsigned char[]).
#ifdef MOE_CUDA_EMULATION
#define MOE_DYNAMIC_SHARED(name, alignment)                                    \
  unsigned char *name = ::moe::cuda_emulation::dynamicShared()
#else
#define MOE_DYNAMIC_SHARED(name, alignment)                                    \
  extern __shared__ __align__(alignment)                                       \
  unsigned char name[]
#endif

/// Whether device code for compute capability `cc` (800: sm_80) or later
/// is being compiled: kernel bodies that need it are empty in the host
/// pass and for older GPUs. The emulated device runs sm_80 code.
#if defined(MOE_CUDA_EMULATION)
#define MOE_CUDA_ARCH_AT_LEAST(cc) ((cc) <= 800)
#elif defined(__CUDA_ARCH__)
#define MOE_CUDA_ARCH_AT_LEAST(cc) (__CUDA_ARCH__ >= (cc))
#else
#define MOE_CUDA_ARCH_AT_LEAST(cc) 0
#endif

/// Whether `pointer` (null: not asked) is 16-byte aligned and each count
/// a whole number of 16-byte words of `elementBytes`-byte values: rows at
/// such offsets move 16 bytes at a time.
inline bool wholeWords(const void *pointer, int64_t elementBytes,
                       std::initializer_list<int64_t> counts) {
  int64_t values = 16 / elementBytes;
  if (reinterpret_cast<uintptr_t>(pointer) % 16 != 0)
    return false;
  for (int64_t count : counts)
    if (count % values != 0)
      return false;
  return true;
}

inline cudaStream_t asStream(void *stream) {
  return static_cast<cudaStream_t>(stream);
}

/// Records `error` as the thread's last device error; MOE_ERROR_DEVICE.
moe_status deviceError(cudaError_t error);
/// The same with a text of its own (a cuBLAS status).
moe_status deviceError(const std::string &text);

/// The status after kernel launches (launch errors only: execution is
/// asynchronous).
inline moe_status launched() {
  cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? MOE_OK : deviceError(error);
}

/// The grouped matmul kernel MOE_CUDA_GROUPED_MATMUL asks for (read once):
/// wmma forces the WMMA kernel for every 16-bit size, wgmma opts in to the
/// experimental Hopper kernel, cublas sends compiled code's bf16 grouped
/// matmuls to cuBLAS's grouped GEMM; unset, the defaults.
enum class GroupedMatmulKernel { Default, Wmma, Wgmma, Cublas };
GroupedMatmulKernel groupedMatmulKernel();

/// Lets `kernel` use `bytes` of dynamic shared memory on the current device
/// (over 48 KiB must be asked for): once per kernel and device, not on
/// every launch.
moe_status allowDynamicSharedMemory(const void *kernel, int bytes);

/// The current device's number of multiprocessors (1 when it cannot be
/// read): how many blocks a launch needs to fill the GPU.
int multiprocessors();

/// Makes the current device's default memory pool keep freed memory (its
/// release threshold is 0 by default: every synchronization would hand
/// the scratch of the call before back to the OS, and the next call map
/// it again). Once per device and process.
void keepPoolMemory();

/// Stream-ordered scratch memory, freed on the stream when it goes away.
template <typename T>
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  ~DeviceBuffer() {
    if (data && owned)
      cudaFreeAsync(data, stream);
  }
  /// Uses `device` memory the caller owns instead of allocating.
  void alias(const T *device) {
    data = const_cast<T *>(device);
    owned = false;
  }
  moe_status allocate(int64_t count, cudaStream_t s) {
    keepPoolMemory();
    stream = s;
    cudaError_t error = cudaMallocAsync(reinterpret_cast<void **>(&data),
                                        sizeof(T) * (count > 0 ? count : 1), s);
    return error == cudaSuccess ? MOE_OK : deviceError(error);
  }
  T *get() const { return data; }

private:
  T *data = nullptr;
  cudaStream_t stream = nullptr;
  bool owned = true;
};

/// `count` zeroed counters on the current device for split-K's in-kernel
/// finish (the last split of a tile to arrive adds the splits up and
/// resets its counter), when `stream` is the calling thread's per-thread
/// stream (compiled models' calls): its launches run one after another, so
/// one array per thread and device serves them all. Null for other
/// streams, whose launches may overlap: those finish in a second kernel.
moe_status splitCounters(cudaStream_t stream, int64_t count, int *&counters);

/// Whether `pointer` is device (or managed) memory rather than host
/// memory: what compiled code hands the CUDA entry points in a
/// device-resident run (moe_model_run_device).
bool isDevicePointer(const void *pointer);

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_CUDASUPPORT_H
