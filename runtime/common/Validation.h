//===- Validation.h - Argument checks shared by the kernel runtimes -*- C++ -*-=//
//
// The CPU and CUDA runtimes accept exactly the same arguments; these host
// checks are the one definition of "valid" for both (no device code).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_COMMON_VALIDATION_H
#define MOE_RUNTIME_COMMON_VALIDATION_H

#include "moe_runtime.h"

#include <cmath>
#include <cstdint>

namespace moe::runtime {

/// Routing parameters a kernel can run with for `numExperts` experts.
inline bool validRoutingParams(const moe_routing_params &p,
                               int64_t numExperts) {
  if (p.k < 1 || p.k > numExperts || !(p.scale > 0.0f) ||
      !std::isfinite(p.scale) || p.n_group < 1 || p.topk_group < 1 ||
      p.topk_group > p.n_group || numExperts % p.n_group != 0)
    return false;
  if (p.n_group > 1 && (p.kind != MOE_ROUTING_SIGMOID_TOPK ||
                        p.topk_group * (numExperts / p.n_group) < p.k))
    return false;
  if (p.group_mask != MOE_GROUP_MASK_NEG_INF &&
      (p.group_mask != MOE_GROUP_MASK_ZERO || p.n_group == 1))
    return false;
  if (p.kind == MOE_ROUTING_DENSE && p.k != numExperts)
    return false;
  if (p.num_shared < 0 || p.shared_gate < 0 || p.shared_gate > 1 ||
      (p.shared_gate == 1 && p.num_shared == 0) ||
      p.num_shared > INT32_MAX - p.k)
    return false;
  return p.kind >= MOE_ROUTING_SOFTMAX_TOPK && p.kind <= MOE_ROUTING_DENSE;
}

/// The routing parameters from the compiled-code entry points' scalar
/// arguments, which come in moe_routing_params' order but with the scale
/// last: one place that maps them by name.
inline moe_routing_params routingParams(int32_t kind, int32_t k,
                                        int32_t renormalize, int32_t nGroup,
                                        int32_t topkGroup, int32_t groupMask,
                                        int32_t numShared, int32_t sharedGate,
                                        float scale) {
  moe_routing_params p{};
  p.kind = kind;
  p.k = k;
  p.renormalize = renormalize;
  p.n_group = nGroup;
  p.topk_group = topkGroup;
  p.scale = scale;
  p.group_mask = groupMask;
  p.num_shared = numShared;
  p.shared_gate = sharedGate;
  return p;
}

/// Logit columns per token: the routed experts, plus the shared experts'
/// gate when there is one. (constexpr: device code calls these too.)
constexpr int64_t logitColumns(const moe_routing_params &p,
                               int64_t numExperts) {
  return numExperts + p.shared_gate;
}

/// Slots per token in expert_ids and weights: the k routed experts, then
/// the shared ones.
constexpr int64_t slotsPerToken(const moe_routing_params &p) {
  return int64_t(p.k) + p.num_shared;
}

inline bool isGatedActivation(int32_t kind) {
  return kind == MOE_ACTIVATION_SWIGLU ||
         kind == MOE_ACTIVATION_CLAMPED_SWIGLU;
}

/// Sizes and pointers of a grouped matmul (offsets are checked by the
/// kernels that can read them: on the host for the CPU runtime).
inline bool validGroupedMatmul(int64_t numRows, int64_t kDim,
                               const void *weights, int64_t numExperts,
                               int64_t mDim, const int32_t *offsets,
                               const void *rows, const void *out,
                               const moe_activation_params &act) {
  return numRows >= 0 && kDim >= 0 && mDim >= 0 && numExperts >= 1 &&
         offsets && weights && (numRows == 0 || (rows && out)) &&
         act.kind >= 0 && act.kind <= MOE_ACTIVATION_GELU_TANH &&
         (!isGatedActivation(act.kind) || mDim % 2 == 0);
}

/// Whether every index in `values` (host memory) is in [0, bound): ids,
/// assignments and inverses read from data before any kernel trusts them.
inline bool indicesBelow(const int32_t *values, int64_t count,
                         int64_t bound) {
  for (int64_t i = 0; i < count; ++i)
    if (values[i] < 0 || values[i] >= bound)
      return false;
  return true;
}

/// Segment offsets [E + 1] (host memory) of `numRows` rows: from 0 to
/// numRows, never decreasing.
inline bool validOffsets(const int32_t *offsets, int64_t numExperts,
                         int64_t numRows) {
  if (offsets[0] != 0 || offsets[numExperts] != numRows)
    return false;
  for (int64_t e = 0; e < numExperts; ++e)
    if (offsets[e + 1] < offsets[e])
      return false;
  return true;
}

} // namespace moe::runtime

#endif // MOE_RUNTIME_COMMON_VALIDATION_H
