//===- CompiledCall.h - Staging for the compiled code's entry points -*- C++
//-*-===//
//
// Internal to runtime/cuda: how a moe_cuda_cc_* entry point (CompiledCode.cu
// for the MoE ops, CompiledGraphOps.cu for the graph's elementwise ops)
// gets its operands onto the device, computes its results where the caller
// wants them, and ends (waiting only when results went to host memory).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_COMPILEDCALL_H
#define MOE_RUNTIME_CUDA_COMPILEDCALL_H

#include "CudaSupport.h"
#include "Validation.h"

#include <initializer_list>

namespace moe::runtime::cuda {

inline cudaStream_t callStream() { return cudaStreamPerThread; }

inline moe_status check(cudaError_t error) {
  return error == cudaSuccess ? MOE_OK : deviceError(error);
}

/// The device copy of a constant preloaded at model creation, or null
/// (the cache below).
const void *findConstant(const void *host, size_t bytes);

/// A device copy of `count` host values (nothing for a null pointer);
/// values already on the device (a device-resident run) are used where
/// they are, and so are the model's constants preloaded at its creation
/// (biases: their calls carry no constant flag).
template <typename T>
moe_status upload(DeviceBuffer<T> &buffer, const T *host, int64_t count) {
  if (!host)
    return MOE_OK;
  // The cache first: a map lookup, where the pointer query is a CUDA call
  // (decode uploads routers and biases every call).
  if (const void *cached = findConstant(host, sizeof(T) * count)) {
    buffer.alias(static_cast<const T *>(cached));
    return MOE_OK;
  }
  if (isDevicePointer(host)) {
    buffer.alias(host);
    return MOE_OK;
  }
  MOE_TRY(buffer.allocate(count, callStream()));
  if (count == 0)
    return MOE_OK;
  return check(cudaMemcpyAsync(buffer.get(), host, sizeof(T) * count,
                               cudaMemcpyHostToDevice, callStream()));
}

/// Whether the thread's current call has copied results into host memory,
/// which the host may read once the call returns: then it ends with a
/// synchronization (finish). Results left in device memory (a
/// device-resident run) need none: the calls after it are in stream order
/// on the same stream, and moe_cuda_cc_copy synchronizes before a result
/// leaves it.
extern thread_local bool copiedToHost;

/// Results to `host` - or to device memory in a device-resident run.
template <typename T>
moe_status download(T *host, const DeviceBuffer<T> &buffer, int64_t count) {
  if (count == 0)
    return MOE_OK;
  if (!isDevicePointer(host))
    copiedToHost = true;
  return check(cudaMemcpyAsync(host, buffer.get(), sizeof(T) * count,
                               cudaMemcpyDefault, callStream()));
}

/// Where a call computes its result of `count` values: `out` itself when it
/// is device memory (a device-resident run: no copy), else scratch that
/// deliver() copies to `out`.
template <typename T = float> class Result {
public:
  moe_status prepare(T *out, int64_t count) {
    host = out;
    this->count = count;
    if (isDevicePointer(out)) {
      device = out;
      return MOE_OK;
    }
    MOE_TRY(scratch.allocate(count, callStream()));
    device = scratch.get();
    return MOE_OK;
  }
  T *get() const { return device; }
  moe_status deliver() {
    return device == host ? MOE_OK : download(host, scratch, count);
  }

private:
  DeviceBuffer<T> scratch;
  T *host = nullptr, *device = nullptr;
  int64_t count = 0;
};

/// Whether all of a graph op's buffers are host memory (a run on host
/// buffers): it then computes on the host - copying its operands up and
/// its result back would cost more than the op.
inline bool allOnHost(std::initializer_list<const void *> buffers) {
  for (const void *buffer : buffers)
    if (isDevicePointer(buffer))
      return false;
  return true;
}

/// The host-side index check of `values`, for host memory. Device-resident
/// runs pass indices the routing and permutation kernels made on the
/// device (graphs with integer inputs never run that way), which are in
/// range by construction.
inline bool indicesOk(const int32_t *values, int64_t count, int64_t bound) {
  return isDevicePointer(values) || indicesBelow(values, count, bound);
}

inline moe_status synchronize() {
  return check(cudaStreamSynchronize(callStream()));
}

/// The end of a moe_cuda_cc_* call: waits for it where it copied results
/// to the host (see copiedToHost).
inline moe_status finish() {
  bool wait = copiedToHost;
  copiedToHost = false;
  return wait ? synchronize() : MOE_OK;
}

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_COMPILEDCALL_H
