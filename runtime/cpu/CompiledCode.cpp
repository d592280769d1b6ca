//===- CompiledCode.cpp - Scalar-only entry points for compiled code ------===//
//
// Thin adapters from the moe_cc_* entry points, which generated code calls
// with pointers and integers only, to the struct-taking kernels.
//
//===----------------------------------------------------------------------===//

#include "GroupedMatmul.h"
#include "Stats.h"
#include "Validation.h"
#include "moe_runtime.h"

#include <string>
#include <vector>

namespace {
thread_local std::string pendingError, takenError;
thread_local bool hasError = false;

/// The moe_cc_* grouped matmul adapters: scalar arguments into the
/// runtime's structs.
template <typename W>
int32_t ccGroupedMatmul(int32_t numThreads, const float *rows, int64_t numRows,
                        int64_t kDim, const W *weights, bool packed,
                        const float *scales, int64_t numExperts, int64_t mDim,
                        const int32_t *offsets, const float *bias,
                        int32_t activation, float alpha, float beta,
                        float limit, float *out, const int32_t *expertOrder,
                        const float *combineWeights,
                        const int32_t *combineInverse, int64_t numTokens,
                        int64_t k) {
  moe_exec_config config{numThreads};
  moe_activation_params params{activation, alpha, beta, limit};
  moe::runtime::FusedCombine combine{combineWeights, combineInverse,
                                     numTokens, k};
  return moe::runtime::runGroupedMatmul(
      &config, rows, numRows, kDim, weights, packed, scales, numExperts, mDim,
      offsets, bias, &params, out, expertOrder,
      combineWeights ? &combine : nullptr);
}
} // namespace

extern "C" {

void moe_cc_index_error(const char *node, int64_t index, int64_t dim) {
  if (hasError)
    return;
  hasError = true;
  pendingError = std::string("node '") + (node ? node : "?") + "': index " +
                 std::to_string(index) + " is out of range for a dimension "
                 "of size " + std::to_string(dim);
}

void moe_cc_check_status_detail(int32_t status, const char *what,
                                const char *detail) {
  if (status == MOE_OK || hasError)
    return;
  hasError = true;
  const char *reason = status == MOE_ERROR_INVALID_ARGUMENT ? "invalid argument"
                       : status == MOE_ERROR_INDEX_OUT_OF_RANGE
                           ? "an index read from data is out of range"
                       : status == MOE_ERROR_DEVICE ? "device error"
                                                    : "error";
  pendingError = std::string("moe runtime: ") + (what ? what : "?") +
                 " failed: " + reason + " (status " + std::to_string(status) +
                 ")";
  if (status == MOE_ERROR_DEVICE && detail && *detail)
    pendingError += std::string(": ") + detail;
}

void moe_cc_check_status(int32_t status, const char *what) {
  moe_cc_check_status_detail(status, what, nullptr);
}

const char *moe_cc_take_error(void) {
  if (!hasError)
    return nullptr;
  hasError = false;
  takenError = std::move(pendingError);
  return takenError.c_str();
}

int32_t moe_cc_route_f32(int32_t num_threads, const float *logits,
                         int64_t num_tokens, int64_t num_experts, int32_t kind,
                         int32_t k, int32_t renormalize, int32_t n_group,
                         int32_t topk_group, int32_t group_mask,
                         int32_t num_shared, int32_t shared_gate, float scale,
                         const float *correction_bias, int32_t *expert_ids,
                         float *weights, int32_t layer,
                         const char *layer_name) {
  moe_exec_config config{num_threads};
  moe_routing_params params = moe::runtime::routingParams(
      kind, k, renormalize, n_group, topk_group, group_mask, num_shared,
      shared_gate, scale);
  moe_status status =
      moe_route_f32(&config, logits, num_tokens, num_experts, &params,
                    correction_bias, expert_ids, weights);
  if (status == MOE_OK && moe::runtime::statsEnabled())
    moe::runtime::recordRouting(layer, layer_name, kind, logits,
                                num_experts + shared_gate, num_tokens,
                                num_experts, k, expert_ids, weights,
                                k + num_shared);
  return status;
}

int32_t moe_cc_route_fused_f32(int32_t num_threads, const float *input,
                               int64_t num_tokens, int64_t d,
                               const float *router, const float *router_bias,
                               int64_t num_experts, int32_t kind, int32_t k,
                               int32_t renormalize, int32_t n_group,
                               int32_t topk_group, int32_t group_mask,
                               int32_t num_shared, int32_t shared_gate,
                               float scale, const float *correction_bias,
                               int32_t *expert_ids, float *weights,
                               int32_t layer, const char *layer_name) {
  moe_exec_config config{num_threads};
  moe_routing_params params = moe::runtime::routingParams(
      kind, k, renormalize, n_group, topk_group, group_mask, num_shared,
      shared_gate, scale);
  moe_status status = moe_route_fused_f32(
      &config, input, num_tokens, d, router, router_bias, num_experts, &params,
      correction_bias, expert_ids, weights);
  if (status == MOE_OK && moe::runtime::statsEnabled()) {
    // The statistics want the routed experts' logits: recomputed, only
    // while recording (the router's rows hold E + shared_gate columns).
    const int64_t columns = num_experts + shared_gate;
    std::vector<float> logits(num_tokens * num_experts);
    for (int64_t t = 0; t < num_tokens; ++t)
      for (int64_t e = 0; e < num_experts; ++e) {
        float sum = router_bias ? router_bias[e] : 0.0f;
        for (int64_t i = 0; i < d; ++i)
          sum += input[t * d + i] * router[i * columns + e];
        logits[t * num_experts + e] = sum;
      }
    moe::runtime::recordRouting(layer, layer_name, kind, logits.data(),
                                num_experts, num_tokens, num_experts, k,
                                expert_ids, weights, k + num_shared);
  }
  return status;
}

int32_t moe_cc_permute_f32(int32_t num_threads, const float *input,
                           int64_t num_tokens, int64_t d,
                           const int32_t *expert_ids, int64_t k,
                           int64_t num_experts, float *rows,
                           int32_t *assignments, int32_t *offsets,
                           int32_t *inverse) {
  moe_exec_config config{num_threads};
  moe_status status = moe_permute(&config, expert_ids, num_tokens, k,
                                  num_experts, assignments, offsets, inverse);
  if (status != MOE_OK)
    return status;
  return moe_gather_rows_f32(&config, input, num_tokens, d, assignments, k,
                             rows);
}

int32_t moe_cc_grouped_matmul_f32(int32_t num_threads, const float *rows,
                                  int64_t num_rows, int64_t k_dim,
                                  const float *weights, int64_t num_experts,
                                  int64_t m_dim, const int32_t *offsets,
                                  const float *bias, int32_t activation,
                                  float alpha, float beta, float limit,
                                  float *out, const int32_t *expert_order,
                                  const float *combine_weights,
                                  const int32_t *combine_inverse,
                                  int64_t num_tokens, int64_t k) {
  return ccGroupedMatmul(num_threads, rows, num_rows, k_dim, weights, false,
                         nullptr, num_experts, m_dim, offsets, bias,
                         activation, alpha, beta, limit, out, expert_order,
                         combine_weights, combine_inverse, num_tokens, k);
}

int32_t moe_cc_grouped_matmul_packed_f32(
    int32_t num_threads, const float *rows, int64_t num_rows, int64_t k_dim,
    const float *packed_weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias, int32_t activation, float alpha,
    float beta, float limit, float *out, const int32_t *expert_order,
    const float *combine_weights, const int32_t *combine_inverse,
    int64_t num_tokens, int64_t k) {
  return ccGroupedMatmul(num_threads, rows, num_rows, k_dim, packed_weights,
                         true, nullptr, num_experts, m_dim, offsets, bias,
                         activation, alpha, beta, limit, out, expert_order,
                         combine_weights, combine_inverse, num_tokens, k);
}

int32_t moe_cc_grouped_matmul_packed_bf16w(
    int32_t num_threads, const float *rows, int64_t num_rows, int64_t k_dim,
    const uint16_t *packed_weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias, int32_t activation, float alpha,
    float beta, float limit, float *out, const int32_t *expert_order,
    const float *combine_weights, const int32_t *combine_inverse,
    int64_t num_tokens, int64_t k) {
  return ccGroupedMatmul(num_threads, rows, num_rows, k_dim, packed_weights,
                         true, nullptr, num_experts, m_dim, offsets, bias,
                         activation, alpha, beta, limit, out, expert_order,
                         combine_weights, combine_inverse, num_tokens, k);
}

int32_t moe_cc_grouped_matmul_packed_i8w(
    int32_t num_threads, const float *rows, int64_t num_rows, int64_t k_dim,
    const int8_t *packed_weights, const float *scales, int64_t num_experts,
    int64_t m_dim, const int32_t *offsets, const float *bias,
    int32_t activation, float alpha, float beta, float limit, float *out,
    const int32_t *expert_order, const float *combine_weights,
    const int32_t *combine_inverse, int64_t num_tokens, int64_t k) {
  return ccGroupedMatmul(num_threads, rows, num_rows, k_dim, packed_weights,
                         true, scales, num_experts, m_dim, offsets, bias,
                         activation, alpha, beta, limit, out, expert_order,
                         combine_weights, combine_inverse, num_tokens, k);
}

int32_t moe_cc_combine_f32(int32_t num_threads, const float *rows,
                           int64_t num_rows, int64_t d, const float *weights,
                           const int32_t *inverse, int64_t num_tokens,
                           int64_t k, float *out) {
  moe_exec_config config{num_threads};
  return moe_combine_f32(&config, rows, num_rows, d, weights, inverse,
                         num_tokens, k, out);
}

} // extern "C"
