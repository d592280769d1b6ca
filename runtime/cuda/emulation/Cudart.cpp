//===- Cudart.cpp - The CUDA runtime calls of the emulated device ---------===//
//
// The cudart functions the CUDA runtime library, its tests (through
// ctypes) and moe-run --device call, on host memory: "device" buffers are
// pages of their own that the host cannot touch (PROT_NONE) except while a
// kernel or a copy runs, so host code reading or writing device memory
// crashes as it would with a GPU; they are remembered so that
// cudaPointerGetAttributes tells them from plain host memory. Streams are
// in order by construction (every call completes before it returns).
//
//===----------------------------------------------------------------------===//

#include "EmulatedDevice.h"

#include "CudaSupport.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace device = moe::cuda_emulation::device;

namespace {

std::mutex mutex;
/// A buffer at the end of its pages (256-byte aligned, as cudaMalloc's),
/// an unmapped guard page after them: a kernel reading or writing past
/// the buffer's 256-byte rounded end faults.
struct Allocation {
  size_t bytes;   // asked for
  char *mapping;  // the pages, guard included
  size_t mapped;  // the pages without the guard
};
std::map<const char *, Allocation> allocations; // by the buffer's address
int openings = 0; // DeviceAccess scopes alive: device memory readable
std::map<const void *, int> sharedLimits;   // kernel -> opt-in bytes
int64_t transfers = 0;                      // copies to or from the host
int64_t synchronizations = 0;               // stream or device waits
cudaError_t lastError = cudaSuccess;        // cudaGetLastError's
cudaError_t pendingFault = cudaSuccess;     // the next synchronization's

/// Keeps `error` for cudaGetLastError (the first since the last read);
/// the caller holds `mutex`.
cudaError_t recordLocked(cudaError_t error) {
  if (lastError == cudaSuccess)
    lastError = error;
  return error;
}

cudaError_t record(cudaError_t error) {
  std::lock_guard<std::mutex> lock(mutex);
  return recordLocked(error);
}

/// The pending fault of a kernel (reported once), else success.
cudaError_t synchronized() {
  std::lock_guard<std::mutex> lock(mutex);
  cudaError_t fault = pendingFault;
  pendingFault = cudaSuccess;
  return fault;
}

bool isAllocation(const void *p) {
  std::lock_guard<std::mutex> lock(mutex);
  auto *c = static_cast<const char *>(p);
  auto it = allocations.upper_bound(c);
  return it != allocations.begin() &&
         c < std::prev(it)->first +
                 std::max<size_t>(std::prev(it)->second.bytes, 1);
}

void protectAll(int access) {
  for (auto &[buffer, allocation] : allocations)
    mprotect(allocation.mapping, allocation.mapped, access);
}

} // namespace

device::DeviceAccess::DeviceAccess() {
  std::lock_guard<std::mutex> lock(mutex);
  if (openings++ == 0)
    protectAll(PROT_READ | PROT_WRITE);
}

device::DeviceAccess::~DeviceAccess() {
  std::lock_guard<std::mutex> lock(mutex);
  if (--openings == 0)
    protectAll(PROT_NONE);
}

int device::computeMajor() {
  static const int major = [] {
    const char *arch = std::getenv("MOE_CUDA_EMULATION_ARCH");
    return arch && std::string(arch) == "90" ? 9 : 8;
  }();
  return major;
}

size_t device::maxDynamicShared() {
  return computeMajor() == 9 ? 227 * 1024 : 163 * 1024;
}

std::string device::checkLaunch(const void *kernel, dim3 grid, dim3 block,
                                size_t dynamicSharedBytes) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x == 0 ||
      block.y == 0 || block.z == 0)
    return "an empty grid or block";
  if (grid.y > 65535 || grid.z > 65535 || grid.x > 2147483647u)
    return "a grid over the device's extents";
  if (block.x > 1024 || block.y > 1024 || block.z > 64 ||
      block.x * block.y * block.z > unsigned(kMaxThreadsPerBlock))
    return "a block over the device's thread limits";
  size_t allowed = kDefaultDynamicShared;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = sharedLimits.find(kernel); it != sharedLimits.end())
      allowed = size_t(it->second);
  }
  if (dynamicSharedBytes > allowed)
    return std::to_string(dynamicSharedBytes) +
           " bytes of dynamic shared memory, over the kernel's limit of " +
           std::to_string(allowed) +
           " (cudaFuncAttributeMaxDynamicSharedMemorySize)";
  return "";
}

void device::launchFailed(const char *kernel, const std::string &what,
                          bool configuration) {
  std::fprintf(stderr, "CUDA emulation: launch of %s failed: %s\n", kernel,
               what.c_str());
  cudaError_t error =
      configuration ? cudaErrorInvalidConfiguration : cudaErrorLaunchFailure;
  record(error);
  if (!configuration) {
    std::lock_guard<std::mutex> lock(mutex);
    pendingFault = error;
  }
}

extern "C" {

cudaError_t cudaGetDeviceCount(int *count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attribute,
                                   int device) {
  if (device != 0)
    return record(cudaErrorInvalidDevice);
  switch (attribute) {
  case cudaDevAttrMultiProcessorCount:
    *value = device::kMultiprocessors;
    return cudaSuccess;
  case cudaDevAttrComputeCapabilityMajor:
    *value = device::computeMajor();
    return cudaSuccess;
  default:
    return record(cudaErrorInvalidValue);
  }
}

cudaError_t cudaFuncSetAttribute(const void *kernel, cudaFuncAttribute attr,
                                 int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      size_t(value) > device::maxDynamicShared())
    return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(mutex);
  sharedLimits[kernel] = value;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **pointer, size_t bytes) {
  size_t page = size_t(sysconf(_SC_PAGESIZE));
  size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  size_t mapped = (rounded + page - 1) / page * page;
  std::lock_guard<std::mutex> lock(mutex);
  void *p = mmap(nullptr, mapped + page, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return recordLocked(cudaErrorMemoryAllocation);
  auto *mapping = static_cast<char *>(p);
  // New device memory holds garbage on a GPU (the pool hands back what
  // earlier calls freed), never zeros to rely on: here all bits set - NaN
  // as floats, -1 as integers - so a kernel reading what nobody wrote
  // shows in its results.
  mprotect(mapping, mapped, PROT_READ | PROT_WRITE);
  std::memset(mapping, 0xFF, mapped);
  if (!openings)
    mprotect(mapping, mapped, PROT_NONE);
  char *buffer = mapping + mapped - rounded;
  allocations[buffer] = {bytes, mapping, mapped};
  *pointer = buffer;
  return cudaSuccess;
}

cudaError_t cudaMallocAsync(void **pointer, size_t bytes, cudaStream_t) {
  return cudaMalloc(pointer, bytes);
}

cudaError_t cudaFree(void *pointer) {
  if (!pointer)
    return cudaSuccess;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = allocations.find(static_cast<const char *>(pointer));
  if (found == allocations.end())
    return recordLocked(cudaErrorInvalidValue);
  munmap(found->second.mapping, found->second.mapped + sysconf(_SC_PAGESIZE));
  allocations.erase(found);
  return cudaSuccess;
}

cudaError_t cudaFreeAsync(void *pointer, cudaStream_t) {
  return cudaFree(pointer);
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device) {
  if (device != 0)
    return record(cudaErrorInvalidDevice);
  static int token;
  *pool = reinterpret_cast<cudaMemPool_t>(&token);
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void *) {
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes,
                       cudaMemcpyKind) {
  if (cudaError_t fault = synchronized(); fault != cudaSuccess)
    return fault;
  if (bytes && (!dst || !src))
    return record(cudaErrorInvalidValue);
  if (bytes) {
    device::DeviceAccess access;
    std::memmove(dst, src, bytes);
    if (!isAllocation(dst) || !isAllocation(src)) {
      std::lock_guard<std::mutex> lock(mutex);
      ++transfers;
    }
  }
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t) {
  if (cudaError_t fault = synchronized(); fault != cudaSuccess)
    return fault;
  if (bytes && !dst)
    return record(cudaErrorInvalidValue);
  if (bytes) {
    device::DeviceAccess access;
    std::memset(dst, value, bytes);
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes,
                            cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}

/// A wait for the host: counted (moe_model_test_synchronizations).
cudaError_t waited() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    ++synchronizations;
  }
  return synchronized();
}

cudaError_t cudaStreamSynchronize(cudaStream_t) { return waited(); }

cudaError_t cudaDeviceSynchronize(void) { return waited(); }

cudaError_t cudaGetLastError(void) {
  std::lock_guard<std::mutex> lock(mutex);
  cudaError_t error = lastError;
  lastError = cudaSuccess;
  return error;
}

const char *cudaGetErrorName(cudaError_t error) {
  switch (error) {
  case cudaSuccess:
    return "cudaSuccess";
  case cudaErrorInvalidValue:
    return "cudaErrorInvalidValue";
  case cudaErrorMemoryAllocation:
    return "cudaErrorMemoryAllocation";
  case cudaErrorInvalidConfiguration:
    return "cudaErrorInvalidConfiguration";
  case cudaErrorInvalidDevice:
    return "cudaErrorInvalidDevice";
  case cudaErrorLaunchFailure:
    return "cudaErrorLaunchFailure";
  default:
    return "cudaErrorUnknown";
  }
}

const char *cudaGetErrorString(cudaError_t error) {
  switch (error) {
  case cudaSuccess:
    return "no error";
  case cudaErrorLaunchFailure:
    return "unspecified launch failure (CUDA emulation: see stderr)";
  case cudaErrorInvalidConfiguration:
    return "invalid configuration argument (CUDA emulation: see stderr)";
  default:
    return cudaGetErrorName(error);
  }
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *attributes,
                                     const void *pointer) {
  std::memset(attributes, 0, sizeof(*attributes));
  bool device = isAllocation(pointer);
  attributes->type = device ? cudaMemoryTypeDevice : cudaMemoryTypeUnregistered;
  attributes->device = 0;
  attributes->devicePointer = device ? const_cast<void *>(pointer) : nullptr;
  attributes->hostPointer = device ? nullptr : const_cast<void *>(pointer);
  return cudaSuccess;
}

/// The driver entry points the runtime asks for: cuTensorMapEncodeTiled
/// (the wgmma kernel's TMA loads), nothing else.
cudaError_t
cudaGetDriverEntryPointByVersion(const char *symbol, void **function,
                                 unsigned int, unsigned long long,
                                 cudaDriverEntryPointQueryResult *status) {
  bool known = std::strcmp(symbol, "cuTensorMapEncodeTiled") == 0;
  *function =
      known ? reinterpret_cast<void *>(&device::encodeTensorMapTiled) : nullptr;
  if (status)
    *status = known ? cudaDriverEntryPointSuccess
                    : cudaDriverEntryPointSymbolNotFound;
  return cudaSuccess;
}

// For the tests of compiled models, which export only moe_model_*: device
// memory for their inputs and outputs, and the copies between host and
// device so far (a device-resident run makes one per output).
int moe_model_test_cuda_malloc(void **pointer, size_t bytes) {
  return cudaMalloc(pointer, bytes);
}
int moe_model_test_cuda_memcpy(void *dst, const void *src, size_t bytes, int) {
  device::DeviceAccess access;
  std::memmove(dst, src, bytes); // the test's own copies are not counted
  return cudaSuccess;
}
int moe_model_test_cuda_free(void *pointer) { return cudaFree(pointer); }
int64_t moe_model_test_emulated_copies(void) {
  std::lock_guard<std::mutex> lock(mutex);
  return transfers;
}
/// Stream and device synchronizations so far (a device-resident run waits
/// before reading its inputs and before copying out each output, not
/// after every CUDA call).
int64_t moe_model_test_synchronizations(void) {
  std::lock_guard<std::mutex> lock(mutex);
  return synchronizations;
}

} // extern "C"
