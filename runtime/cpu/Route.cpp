//===- Route.cpp - Routing kernel of the CPU runtime ----------------------===//
//
// Per token: scores (softmax, sigmoid or the logits), the choice scores
// (+ correction bias, masked to the best groups), the k best in ONNX TopK
// order, then weights (softmax over the picks for topk_softmax, optional
// renormalization, scale), then the shared experts' slots (weight 1 or
// the sigmoid of the gate's logit).
//
//===----------------------------------------------------------------------===//

#include "Parallel.h"
#include "Validation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

using namespace moe::runtime;

namespace {

/// True when score a ranks before b: larger, NaN above numbers, lower
/// index on ties.
bool before(float a, int64_t ia, float b, int64_t ib) {
  bool aNaN = std::isnan(a), bNaN = std::isnan(b);
  if (aNaN != bNaN)
    return aNaN;
  if (!aNaN && a != b)
    return a > b;
  return ia < ib;
}

/// The first `count` indices of `scores` in ranking order.
void topIndices(const float *scores, int64_t n, int64_t count,
                std::vector<int64_t> &order) {
  order.resize(n);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + count, order.end(),
                    [&](int64_t a, int64_t b) {
                      return before(scores[a], a, scores[b], b);
                    });
}



/// Per-thread buffers of routeToken: no allocation per token.
struct RouteScratch {
  std::vector<float> logits, scores, choice, groupScores;
  std::vector<int64_t> order;
  std::vector<bool> allowed;
};

RouteScratch &routeScratch() {
  thread_local RouteScratch scratch;
  return scratch;
}

/// Routes one token from its logits `row` [E] (+ the shared gate's) into
/// ids / w [k + num_shared].
void routeToken(const float *row, int64_t numExperts,
                const moe_routing_params &p, const float *correctionBias,
                int32_t *ids, float *w) {
  const int64_t k = p.k, groupSize = numExperts / p.n_group;
  RouteScratch &scratch = routeScratch();
  std::vector<float> &scores = scratch.scores, &choice = scratch.choice;
  scores.resize(numExperts);
  choice.resize(numExperts);
  if (p.kind == MOE_ROUTING_SIGMOID_TOPK) {
    for (int64_t e = 0; e < numExperts; ++e)
      scores[e] = 1.0f / (1.0f + std::exp(-row[e]));
  } else if (p.kind == MOE_ROUTING_TOPK_SOFTMAX) {
    std::copy(row, row + numExperts, scores.begin());
  } else {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t e = 0; e < numExperts; ++e)
      max = std::isnan(row[e]) || std::isnan(max) ? NAN : std::max(max, row[e]);
    float sum = 0.0f;
    for (int64_t e = 0; e < numExperts; ++e)
      sum += scores[e] = std::exp(row[e] - max);
    for (float &s : scores)
      s /= sum;
  }
  for (int64_t e = 0; e < numExperts; ++e)
    choice[e] = scores[e] + (correctionBias ? correctionBias[e] : 0.0f);
  std::vector<int64_t> &order = scratch.order;
  if (p.n_group > 1) {
    // A group scores the sum of its best two choice scores.
    std::vector<float> &groupScores = scratch.groupScores;
    groupScores.resize(p.n_group);
    for (int64_t g = 0; g < p.n_group; ++g) {
      topIndices(&choice[g * groupSize], groupSize,
                 std::min<int64_t>(2, groupSize), order);
      float sum = 0.0f;
      for (int64_t i = 0; i < std::min<int64_t>(2, groupSize); ++i)
        sum += choice[g * groupSize + order[i]];
      groupScores[g] = sum;
    }
    topIndices(groupScores.data(), p.n_group, p.topk_group, order);
    std::vector<bool> &allowed = scratch.allowed;
    allowed.assign(p.n_group, false);
    for (int64_t i = 0; i < p.topk_group; ++i)
      allowed[order[i]] = true;
    const float masked = p.group_mask == MOE_GROUP_MASK_ZERO
                             ? 0.0f
                             : -std::numeric_limits<float>::infinity();
    for (int64_t e = 0; e < numExperts; ++e)
      if (!allowed[e / groupSize])
        choice[e] = masked;
  }
  topIndices(choice.data(), numExperts, k, order);
  for (int64_t j = 0; j < k; ++j) {
    ids[j] = static_cast<int32_t>(order[j]);
    w[j] = scores[order[j]];
  }
  if (p.kind == MOE_ROUTING_TOPK_SOFTMAX) {
    float max = w[0], sum = 0.0f;
    for (int64_t j = 0; j < k; ++j)
      sum += w[j] = std::exp(w[j] - max);
    for (int64_t j = 0; j < k; ++j)
      w[j] /= sum;
  } else if (p.renormalize) {
    float sum = p.kind == MOE_ROUTING_SIGMOID_TOPK ? 1e-20f : 0.0f;
    for (int64_t j = 0; j < k; ++j)
      sum += w[j];
    for (int64_t j = 0; j < k; ++j)
      w[j] /= sum;
  }
  for (int64_t j = 0; j < k; ++j)
    w[j] *= p.scale;
  // The shared experts: every token, after the routed ones.
  const float shared =
      p.shared_gate ? 1.0f / (1.0f + std::exp(-row[numExperts])) : 1.0f;
  for (int64_t j = 0; j < p.num_shared; ++j) {
    ids[k + j] = static_cast<int32_t>(numExperts + j);
    w[k + j] = shared;
  }
}

bool validRouteCall(const moe_exec_config *config,
                    const moe_routing_params *params, int64_t numTokens,
                    int64_t numExperts, const void *input,
                    const float *correctionBias, const int32_t *expertIds,
                    const float *weights) {
  return validConfig(config) && params && numTokens >= 0 && numExperts >= 1 &&
         validRoutingParams(*params, numExperts) &&
         (numTokens == 0 || (input && expertIds && weights)) &&
         (!correctionBias || params->kind == MOE_ROUTING_SIGMOID_TOPK);
}

} // namespace

extern "C" moe_status moe_route_f32(const moe_exec_config *config,
                                    const float *logits, int64_t numTokens,
                                    int64_t numExperts,
                                    const moe_routing_params *params,
                                    const float *correctionBias,
                                    int32_t *expertIds, float *weights) {
  if (!validRouteCall(config, params, numTokens, numExperts, logits,
                      correctionBias, expertIds, weights))
    return MOE_ERROR_INVALID_ARGUMENT;
  const moe_routing_params p = *params;
  const int64_t columns = logitColumns(p, numExperts),
                slots = slotsPerToken(p);
  parallelFor(config, numTokens, [&](int64_t t) {
    routeToken(logits + t * columns, numExperts, p, correctionBias,
               expertIds + t * slots, weights + t * slots);
  });
  return MOE_OK;
}

extern "C" moe_status moe_route_fused_f32(
    const moe_exec_config *config, const float *input, int64_t numTokens,
    int64_t d, const float *router, const float *routerBias,
    int64_t numExperts, const moe_routing_params *params,
    const float *correctionBias, int32_t *expertIds, float *weights) {
  if (!validRouteCall(config, params, numTokens, numExperts, input,
                      correctionBias, expertIds, weights) ||
      d < 0 || !router)
    return MOE_ERROR_INVALID_ARGUMENT;
  const moe_routing_params p = *params;
  const int64_t columns = logitColumns(p, numExperts),
                slots = slotsPerToken(p);
  parallelFor(config, numTokens, [&](int64_t t) {
    // The token's logits: x[t] . router (+ bias), accumulated row by row
    // of the router so the inner loop runs over contiguous columns.
    std::vector<float> &logits = routeScratch().logits;
    logits.resize(columns);
    for (int64_t e = 0; e < columns; ++e)
      logits[e] = routerBias ? routerBias[e] : 0.0f;
    const float *x = input + t * d;
    for (int64_t i = 0; i < d; ++i) {
      const float *r = router + i * columns;
      for (int64_t e = 0; e < columns; ++e)
        logits[e] += x[i] * r[e];
    }
    routeToken(logits.data(), numExperts, p, correctionBias,
               expertIds + t * slots, weights + t * slots);
  });
  return MOE_OK;
}

extern "C" int32_t moe_runtime_api_version(void) {
  return MOE_RUNTIME_API_VERSION;
}
