//===- Stats.h - Routing statistics of the CPU runtime ----------*- C++ -*-===//

#ifndef MOE_RUNTIME_CPU_STATS_H
#define MOE_RUNTIME_CPU_STATS_H

#include "moe_runtime.h"

#include <cstdint>

namespace moe::runtime {

/// Whether routing statistics are being recorded (one relaxed atomic load).
bool statsEnabled();

/// Adds one routing call of layer `layer` to the statistics: logits [T, E]
/// and the routed ids and weights [T, k], in rows `logitsStride` and
/// `slotStride` apart (shared experts' columns are left out).
void recordRouting(int32_t layer, const char *name, int32_t kind,
                   const float *logits, int64_t logitsStride,
                   int64_t numTokens, int64_t numExperts, int64_t k,
                   const int32_t *expertIds, const float *weights,
                   int64_t slotStride);

} // namespace moe::runtime

#endif // MOE_RUNTIME_CPU_STATS_H
