//===- Vector.cuh - Aligned vector loads and stores -------------*- C++ -*-===//
//
// 8- and 16-byte accesses of global or shared memory (uint2, uint4), which
// a GPU performs only at addresses aligned to their size - a misaligned
// one faults the kernel. Host compilers do them anywhere, so the emulated
// runtime checks the alignment and fails the launch as a GPU would
// (Simt.h): kernels move vectors through these, never through a raw cast.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_VECTOR_CUH
#define MOE_RUNTIME_CUDA_VECTOR_CUH

#include <cstdint>

namespace moe::runtime::cuda {

template <typename V> __device__ inline V loadVector(const void *p) {
#ifdef MOE_CUDA_EMULATION
  moe::cuda_emulation::checkAligned(p, sizeof(V));
#endif
  return *static_cast<const V *>(p);
}

template <typename V> __device__ inline void storeVector(void *p, V value) {
#ifdef MOE_CUDA_EMULATION
  moe::cuda_emulation::checkAligned(p, sizeof(V));
#endif
  *static_cast<V *>(p) = value;
}

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_VECTOR_CUH
