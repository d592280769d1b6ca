//===- Routing.h - Permutation kernels used across the runtime --*- C++ -*-===//
//
// Internal to runtime/cuda: what the compiled-code entry points
// (CompiledCode.cu) launch from Routing.cu beyond the C API.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_ROUTING_H
#define MOE_RUNTIME_CUDA_ROUTING_H

#include "IndexMath.h"
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

/// The most rows times columns permuteAndGather takes (64 KiB of f32
/// rows: decode's 2 rows of 4096, 8 of 2048) - what one block copies
/// faster than a second launch starts.
constexpr int64_t kFusedGatherElements = 16384;

/// Whether permuteAndGather takes `slots` rows of d values: the
/// one-block permutation's slots, kFusedGatherElements values in all.
inline bool gatherFuses(int64_t slots, int64_t d) {
  return slots <= tiles::kPermuteThreads && slots * d <= kFusedGatherElements;
}

/// moe_cuda_permute and gatherRows in one launch, where gatherFuses;
/// MOE_ERROR_INVALID_ARGUMENT beyond.
template <typename Element>
moe_status permuteAndGather(cudaStream_t stream, const int32_t *ids,
                            int64_t numTokens, int64_t k, int64_t numExperts,
                            const float *input, int64_t d, int32_t *assignments,
                            int32_t *offsets, int32_t *inverse, Element *rows);

/// The most tokens routeAndGather routes: one routing block, a warp per
/// token.
constexpr int64_t kRouteGatherTokens = 4;

/// Whether routeAndGather takes `numTokens` tokens routed into `slots`
/// rows of d values.
inline bool routeGathers(int64_t numTokens, int64_t slots, int64_t d) {
  return numTokens <= kRouteGatherTokens && gatherFuses(slots, d);
}

/// A fused-gating layer's routing at decode, its permutation and the
/// gather of its rows: the router GEMV (moe_cuda_route_fused_f32's), then
/// one launch that routes the tokens (ids, weights [T, k + shared]),
/// places their slots (assignments, offsets over the routed and shared
/// experts, inverse) and gathers the rows - where routeGathers;
/// MOE_ERROR_INVALID_ARGUMENT beyond.
template <typename Element>
moe_status routeAndGather(cudaStream_t stream, const float *input,
                          int64_t numTokens, int64_t d, const float *router,
                          const float *routerBias, int64_t numExperts,
                          const moe_routing_params &params,
                          const float *correctionBias, int32_t *ids,
                          float *weights, int32_t *assignments,
                          int32_t *offsets, int32_t *inverse, Element *rows);

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_ROUTING_H
