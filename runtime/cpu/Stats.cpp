//===- Stats.cpp - Routing statistics of the CPU runtime ------------------===//
//
// Off by default: moe_cc_route_f32 checks one atomic flag and records
// nothing. When on, each routing call adds, per layer and expert, the
// tokens routed, the sum of their gate weights and the sum of the router's
// probabilities (softmax of the logits; the sigmoid scores for sigmoid
// routing) over all tokens, from which moe_stats_json derives the load
// figures. The registry is per runtime copy, i.e. per compiled model
// library (all its instances).
//
//===----------------------------------------------------------------------===//

#include "Stats.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace {

struct LayerStats {
  std::string name;
  int64_t experts = 0, k = 0, calls = 0, tokens = 0;
  std::vector<int64_t> routed;
  std::vector<double> weightSum, probabilitySum;
};

std::atomic<bool> enabled{false};
std::mutex mutex;
std::map<int32_t, LayerStats> layers;

/// Router probabilities of one token: what P_e in the Switch auxiliary
/// loss is for each routing kind.
void probabilities(int32_t kind, const float *row, int64_t n,
                   std::vector<double> &out) {
  out.resize(n);
  if (kind == MOE_ROUTING_SIGMOID_TOPK) {
    for (int64_t e = 0; e < n; ++e)
      out[e] = 1.0 / (1.0 + std::exp(-static_cast<double>(row[e])));
    return;
  }
  double max = -INFINITY, sum = 0.0;
  for (int64_t e = 0; e < n; ++e)
    max = std::max(max, static_cast<double>(row[e]));
  for (int64_t e = 0; e < n; ++e)
    sum += out[e] = std::exp(row[e] - max);
  for (double &p : out)
    p /= sum;
}

void appendNumber(std::string &json, double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.6g",
                std::isfinite(value) ? value : 0.0);
  json += buffer;
}

template <typename T>
void appendArray(std::string &json, const std::vector<T> &values) {
  json += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i)
      json += ", ";
    appendNumber(json, static_cast<double>(values[i]));
  }
  json += ']';
}

void appendString(std::string &json, const std::string &text) {
  json += '"';
  for (char c : text) {
    if (c == '"' || c == '\\')
      json += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      continue;
    json += c;
  }
  json += '"';
}

} // namespace

bool moe::runtime::statsEnabled() {
  return enabled.load(std::memory_order_relaxed);
}

void moe::runtime::recordRouting(int32_t layer, const char *name,
                                 int32_t kind, const float *logits,
                                 int64_t logitsStride, int64_t numTokens,
                                 int64_t numExperts, int64_t k,
                                 const int32_t *expertIds,
                                 const float *weights, int64_t slotStride) {
  // Per-call sums first, outside the lock.
  std::vector<int64_t> routed(numExperts, 0);
  std::vector<double> weightSum(numExperts, 0.0), probabilitySum(numExperts, 0.0),
      p;
  for (int64_t t = 0; t < numTokens; ++t) {
    for (int64_t j = 0; j < k; ++j) {
      int32_t e = expertIds[t * slotStride + j];
      if (e < 0 || e >= numExperts)
        continue;
      ++routed[e];
      weightSum[e] += weights[t * slotStride + j];
    }
    probabilities(kind, logits + t * logitsStride, numExperts, p);
    for (int64_t e = 0; e < numExperts; ++e)
      probabilitySum[e] += p[e];
  }
  std::lock_guard<std::mutex> lock(mutex);
  LayerStats &stats = layers[layer];
  if (stats.routed.empty()) {
    stats.name = name && *name ? name : "layer" + std::to_string(layer);
    stats.experts = numExperts;
    stats.k = k;
    stats.routed.assign(numExperts, 0);
    stats.weightSum.assign(numExperts, 0.0);
    stats.probabilitySum.assign(numExperts, 0.0);
  }
  if (stats.experts != numExperts)
    return;
  ++stats.calls;
  stats.tokens += numTokens;
  for (int64_t e = 0; e < numExperts; ++e) {
    stats.routed[e] += routed[e];
    stats.weightSum[e] += weightSum[e];
    stats.probabilitySum[e] += probabilitySum[e];
  }
}

extern "C" void moe_stats_record_routing(
    int32_t layer, const char *name, int32_t kind, const float *logits,
    int64_t logits_stride, int64_t num_tokens, int64_t num_experts, int64_t k,
    const int32_t *expert_ids, const float *weights, int64_t slot_stride) {
  moe::runtime::recordRouting(layer, name, kind, logits, logits_stride,
                              num_tokens, num_experts, k, expert_ids, weights,
                              slot_stride);
}

extern "C" void moe_stats_enable(int32_t on) {
  enabled.store(on != 0, std::memory_order_relaxed);
}

extern "C" int32_t moe_stats_enabled(void) {
  return moe::runtime::statsEnabled() ? 1 : 0;
}

extern "C" void moe_stats_reset(void) {
  std::lock_guard<std::mutex> lock(mutex);
  layers.clear();
}

extern "C" char *moe_stats_json(void) {
  std::string json = "{\"version\": 1, \"layers\": [";
  std::lock_guard<std::mutex> lock(mutex);
  bool first = true;
  for (const auto &[id, s] : layers) {
    json += first ? "\n  {" : ",\n  {";
    first = false;
    // Derived figures: load = tokens routed per expert.
    double assignments = 0, sumSquares = 0, maxLoad = 0, aux = 0;
    int64_t idle = 0;
    for (int64_t e = 0; e < s.experts; ++e) {
      assignments += s.routed[e];
      maxLoad = std::max(maxLoad, static_cast<double>(s.routed[e]));
      idle += s.routed[e] == 0;
    }
    double mean = assignments / s.experts;
    for (int64_t e = 0; e < s.experts; ++e)
      sumSquares += (s.routed[e] - mean) * (s.routed[e] - mean);
    std::vector<double> meanWeight(s.experts, 0.0);
    for (int64_t e = 0; e < s.experts; ++e) {
      meanWeight[e] = s.routed[e] ? s.weightSum[e] / s.routed[e] : 0.0;
      // Switch: E * sum_e f_e * P_e, f_e the fraction of assignments,
      // P_e the mean router probability.
      if (assignments > 0 && s.tokens > 0)
        aux += (s.routed[e] / assignments) * (s.probabilitySum[e] / s.tokens);
    }
    aux *= s.experts;
    json += "\"layer\": " + std::to_string(id) + ", \"name\": ";
    appendString(json, s.name);
    json += ", \"experts\": " + std::to_string(s.experts) +
            ", \"top_k\": " + std::to_string(s.k) +
            ", \"calls\": " + std::to_string(s.calls) +
            ", \"tokens\": " + std::to_string(s.tokens) +
            ",\n   \"tokens_per_expert\": ";
    appendArray(json, s.routed);
    json += ",\n   \"mean_gate_weight\": ";
    appendArray(json, meanWeight);
    json += ",\n   \"mean_probability\": ";
    std::vector<double> meanProbability(s.experts);
    for (int64_t e = 0; e < s.experts; ++e)
      meanProbability[e] = s.tokens ? s.probabilitySum[e] / s.tokens : 0.0;
    appendArray(json, meanProbability);
    json += ",\n   \"max_over_mean_load\": ";
    appendNumber(json, mean > 0 ? maxLoad / mean : 0.0);
    json += ", \"load_cv\": ";
    appendNumber(json, mean > 0 ? std::sqrt(sumSquares / s.experts) / mean : 0.0);
    json += ", \"idle_experts\": " + std::to_string(idle) +
            ", \"switch_aux_loss\": ";
    appendNumber(json, aux);
    json += "}";
  }
  json += first ? "]}\n" : "\n]}\n";
  char *result = static_cast<char *>(std::malloc(json.size() + 1));
  if (result)
    std::memcpy(result, json.c_str(), json.size() + 1);
  return result;
}
