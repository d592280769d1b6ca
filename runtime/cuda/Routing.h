//===- Routing.h - Permutation kernels used across the runtime --*- C++ -*-===//
//
// Internal to runtime/cuda: what the compiled-code entry points
// (CompiledCode.cu) launch from Routing.cu beyond the C API.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_ROUTING_H
#define MOE_RUNTIME_CUDA_ROUTING_H

#include "moe_runtime.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace moe::runtime::cuda {

/// moe_cuda_gather_rows_f32 into rows of `Element`: float, or
/// __nv_bfloat16 / __half (rounded to nearest even on the way, for the
/// tensor-core matmul: no separate rounding pass).
template <typename Element>
moe_status gatherRows(cudaStream_t stream, const float *input,
                      int64_t numTokens, int64_t d, const int32_t *assignments,
                      int64_t k, Element *rows);

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_ROUTING_H
