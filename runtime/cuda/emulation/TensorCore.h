//===- TensorCore.h - wgmma's arithmetic, for the scheduler -----*- C++ -*-===//
//
// Internal to the SIMT emulator: what Simt.cpp's wgmma bookkeeping calls
// in TensorCore.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_EMULATION_TENSORCORE_H
#define MOE_RUNTIME_CUDA_EMULATION_TENSORCORE_H

#include <cstdint>

namespace moe::cuda_emulation {

/// Fails the launch unless `descriptor` is one the emulation decodes (the
/// 128-byte swizzle, base offset 0).
void checkWgmmaDescriptor(uint64_t descriptor);

/// One wgmma.m64n128k16 (Simt.h, wgmma64x128) computed now: this thread's
/// 64 accumulators in `d` += A * B, reading shared memory through the
/// descriptors.
void computeWgmma(float *d, uint64_t aDescriptor, uint64_t bDescriptor,
                  bool half);

} // namespace moe::cuda_emulation

#endif // MOE_RUNTIME_CUDA_EMULATION_TENSORCORE_H
