//===- Routing.cu - Routing, permutation, gather and combine on CUDA ------===//
//
// Router logits for a few tokens (decode): a split GEMV, 32 columns per
// block (coalesced rows of the router), d in ranges over blockIdx.y whose
// partial sums a second pass adds; more tokens go to the grouped matmul.
// Routing: one warp per token; scores in shared memory, top-k by k rounds
// of a warp-wide arg-max in ONNX TopK order (larger first, NaN above
// numbers, lower index on ties), group limit by the same arg-max over
// group scores; shared experts' slots appended. Permutation: one block per expert walks the T*k slots in
// order and ranks its matches with a block-wide prefix count (stable, no
// atomics), a one-block scan turns counts into offsets. Gather and combine
// are row-parallel.
//
//===----------------------------------------------------------------------===//

#include "Routing.h"

#include "CudaSupport.h"
#include "IndexMath.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <array>
#include <cmath>
#include <utility>

using namespace moe::runtime;
using namespace moe::runtime::cuda;

namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;
constexpr int kMaxExperts = MOE_CUDA_MAX_ROUTED_EXPERTS;
constexpr int kMaxGroups = MOE_CUDA_MAX_EXPERT_GROUPS;

/// True when (a, ia) ranks before (b, ib).
__device__ bool before(float a, int ia, float b, int ib) {
  bool aNaN = isnan(a), bNaN = isnan(b);
  if (aNaN != bNaN)
    return aNaN;
  if (!aNaN && a != b)
    return a > b;
  return ia < ib;
}

/// The best (value, index) over the warp's lanes' candidates.
__device__ void warpArgMax(float &value, int &index) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    float v = __shfl_down_sync(0xffffffffu, value, offset);
    int i = __shfl_down_sync(0xffffffffu, index, offset);
    if (i >= 0 && (index < 0 || before(v, i, value, index))) {
      value = v;
      index = i;
    }
  }
  value = __shfl_sync(0xffffffffu, value, 0);
  index = __shfl_sync(0xffffffffu, index, 0);
}

/// Index of the best unmasked entry of s[0, n); masked entries are skipped.
__device__ int argMax(const float *s, const bool *masked, int n, int lane) {
  float best = 0.0f;
  int bestIndex = -1;
  for (int e = lane; e < n; e += kWarp)
    if (!masked[e] && (bestIndex < 0 || before(s[e], e, best, bestIndex))) {
      best = s[e];
      bestIndex = e;
    }
  warpArgMax(best, bestIndex);
  return bestIndex;
}

/// Logit i of [T, C] (count = T * C) from the router GEMV's partial sums
/// [splits, T, C]: bias[c] first, then the splits in order (the finishing
/// pass and the routing kernel give the same bits).
__device__ inline float summedLogit(const float *partials, int splits,
                                    int64_t count, int64_t i, const float *bias,
                                    int64_t columns) {
  float s = bias ? bias[i % columns] : 0.0f;
  for (int z = 0; z < splits; ++z)
    s += partials[z * count + i];
  return s;
}

/// The router GEMV's partial sums [splits, T, C] for routeKernel to add up
/// (plus the router's bias, in routerFinishKernel's order: the same
/// logits), and where to write those logits (or null).
struct PartialLogits {
  const float *partials;
  int splits;
  const float *bias;
  float *logits;
};

/// Routes token t, the calling warp's (warp `warp` of its block).
__device__ void routeToken(const float *logits, int64_t numTokens,
                           int numExperts, const moe_routing_params &p,
                           const float *bias, int32_t *ids, float *weights,
                           const PartialLogits &fromPartials, int64_t t) {
  __shared__ float scoresAll[kWarpsPerBlock][kMaxExperts];
  __shared__ float choiceAll[kWarpsPerBlock][kMaxExperts];
  __shared__ bool maskedAll[kWarpsPerBlock][kMaxExperts];
  __shared__ float rowAll[kWarpsPerBlock][kMaxExperts + 1];
  int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  float *scores = scoresAll[warp], *choice = choiceAll[warp];
  bool *masked = maskedAll[warp];
  int64_t columns = logitColumns(p, numExperts);
  const float *row = nullptr; // no logits when summing partials
  if (!fromPartials.partials) {
    row = logits + t * columns;
  } else {
    float *sums = rowAll[warp];
    for (int64_t c = lane; c < columns; c += kWarp) {
      float s = summedLogit(fromPartials.partials, fromPartials.splits,
                            numTokens * columns, t * columns + c,
                            fromPartials.bias, columns);
      sums[c] = s;
      if (fromPartials.logits)
        fromPartials.logits[t * columns + c] = s;
    }
    __syncwarp();
    row = sums;
  }

  // Scores: softmax, sigmoid, or the logits (top-k, then softmax).
  if (p.kind == MOE_ROUTING_SIGMOID_TOPK) {
    for (int e = lane; e < numExperts; e += kWarp)
      scores[e] = 1.0f / (1.0f + expf(-row[e]));
  } else if (p.kind == MOE_ROUTING_TOPK_SOFTMAX) {
    for (int e = lane; e < numExperts; e += kWarp)
      scores[e] = row[e];
  } else {
    float max = -INFINITY;
    bool nan = false;
    for (int e = lane; e < numExperts; e += kWarp) {
      nan |= isnan(row[e]);
      max = fmaxf(max, row[e]);
    }
    for (int o = kWarp / 2; o > 0; o /= 2) {
      max = fmaxf(max, __shfl_xor_sync(0xffffffffu, max, o));
      nan |= __shfl_xor_sync(0xffffffffu, nan, o);
    }
    if (nan)
      max = NAN;
    float sum = 0.0f;
    for (int e = lane; e < numExperts; e += kWarp)
      sum += scores[e] = expf(row[e] - max);
    for (int o = kWarp / 2; o > 0; o /= 2)
      sum += __shfl_xor_sync(0xffffffffu, sum, o);
    for (int e = lane; e < numExperts; e += kWarp)
      scores[e] /= sum;
  }
  for (int e = lane; e < numExperts; e += kWarp) {
    choice[e] = scores[e] + (bias ? bias[e] : 0.0f);
    masked[e] = false;
  }
  __syncwarp();

  // Group limit: keep the topk_group groups whose best two choices sum
  // highest.
  if (p.n_group > 1) {
    int groupSize = numExperts / p.n_group;
    __shared__ float groupScoreAll[kWarpsPerBlock][kMaxGroups];
    __shared__ bool groupMaskAll[kWarpsPerBlock][kMaxGroups];
    float *groupScore = groupScoreAll[warp];
    bool *groupMask = groupMaskAll[warp];
    for (int g = lane; g < p.n_group; g += kWarp) {
      float first = -INFINITY, second = -INFINITY;
      int firstIndex = -1;
      for (int j = 0; j < groupSize; ++j) {
        float v = choice[g * groupSize + j];
        if (firstIndex < 0 || before(v, j, first, firstIndex)) {
          second = first;
          first = v;
          firstIndex = j;
        } else if (groupSize > 1 && (second == -INFINITY || v > second)) {
          second = v;
        }
      }
      groupScore[g] = groupSize > 1 ? first + second : first;
      groupMask[g] = false;
    }
    __syncwarp();
    for (int round = 0; round < p.topk_group; ++round) {
      int g = argMax(groupScore, groupMask, p.n_group, lane);
      if (lane == 0)
        groupMask[g] = true; // chosen
      __syncwarp();
    }
    // Experts of the other groups are out (-inf) or score 0 (Hugging
    // Face's DeepseekV3).
    for (int e = lane; e < numExperts; e += kWarp) {
      if (groupMask[e / groupSize])
        continue;
      if (p.group_mask == MOE_GROUP_MASK_ZERO)
        choice[e] = 0.0f;
      else
        masked[e] = true;
    }
    __syncwarp();
  }

  // Top-k in ranking order.
  int32_t *chosen = ids + t * slotsPerToken(p);
  for (int j = 0; j < p.k; ++j) {
    int e = argMax(choice, masked, numExperts, lane);
    if (lane == 0) {
      masked[e] = true;
      chosen[j] = e;
    }
    __syncwarp();
  }
  // The shared experts: every token, after the routed ones, weighted 1 or
  // by the sigmoid of the gate's logit (column E).
  float *w = weights + t * slotsPerToken(p);
  float shared = p.shared_gate ? 1.0f / (1.0f + expf(-row[numExperts])) : 1.0f;
  for (int j = lane; j < p.num_shared; j += kWarp) {
    chosen[p.k + j] = numExperts + j;
    w[p.k + j] = shared;
  }
  if (lane != 0)
    return;
  // Weights from the chosen experts' scores (read back: k may exceed any
  // fixed local array, e.g. dense routing over 64 experts).
  float sum = 0.0f, max = -INFINITY;
  for (int j = 0; j < p.k; ++j)
    max = fmaxf(max, scores[chosen[j]]);
  if (p.kind == MOE_ROUTING_TOPK_SOFTMAX) {
    for (int j = 0; j < p.k; ++j)
      sum += expf(scores[chosen[j]] - max);
    for (int j = 0; j < p.k; ++j)
      w[j] = expf(scores[chosen[j]] - max) / sum * p.scale;
    return;
  }
  float divisor = 1.0f;
  if (p.renormalize) {
    for (int j = 0; j < p.k; ++j)
      sum += scores[chosen[j]];
    divisor = sum + (p.kind == MOE_ROUTING_SIGMOID_TOPK ? 1e-20f : 0.0f);
  }
  for (int j = 0; j < p.k; ++j)
    w[j] = (p.renormalize ? scores[chosen[j]] / divisor : scores[chosen[j]]) *
           p.scale;
}

/// One warp per token.
__global__ void routeKernel(const float *logits, int64_t numTokens,
                            int numExperts, moe_routing_params p,
                            const float *bias, int32_t *ids, float *weights,
                            PartialLogits fromPartials) {
  int64_t t = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (t < numTokens)
    routeToken(logits, numTokens, numExperts, p, bias, ids, weights,
               fromPartials, t);
}

constexpr int kGemvWarps = tiles::kRouterGemvWarps;

/// Partial logits of T tokens: block (x, y) sums rows [y * rowsPerSplit,
/// ...) of d for columns [32 x, 32 x + 32), one column per lane, the rows
/// dealt round-robin to the warps, then the warps' sums added in a fixed
/// order (deterministic: no atomics). One split: the logits themselves,
/// bias added; else partials [splits, T, C] for routerFinishKernel.
template <int T>
__global__ void routerGemvKernel(const float *x, int64_t d,
                                 const float *router, int64_t columns,
                                 int64_t rowsPerSplit, const float *bias,
                                 float *out) {
  __shared__ float sums[kGemvWarps][T][kWarp];
  int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  int64_t c = int64_t(blockIdx.x) * kWarp + lane;
  int64_t begin = int64_t(blockIdx.y) * rowsPerSplit;
  int64_t end = min(d, begin + rowsPerSplit);
  float acc[T];
  tiles::routerGemvSums<T>(x, d, router, columns, c, begin, end, warp, acc);
#pragma unroll
  for (int t = 0; t < T; ++t)
    sums[warp][t][lane] = acc[t];
  __syncthreads();
  if (warp != 0 || c >= columns)
    return;
  bool whole = gridDim.y == 1;
  for (int t = 0; t < T; ++t) {
    float s = whole && bias ? bias[c] : 0.0f;
    for (int w = 0; w < kGemvWarps; ++w)
      s += sums[w][t][lane];
    out[tiles::routerPartialIndex(blockIdx.y, T, t, columns, c)] = s;
  }
}

/// offsets = {0, rows}: the router as the one expert of a grouped matmul.
__global__ void oneSegment(int32_t rows, int32_t *offsets) {
  offsets[0] = 0;
  offsets[1] = rows;
}

/// logits[t, c] = bias[c] + the splits' partial sums, in split order.
__global__ void routerFinishKernel(const float *partials, int splits,
                                   int64_t count, int64_t columns,
                                   const float *bias, float *logits) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count)
    logits[i] = summedLogit(partials, splits, count, i, bias, columns);
}

/// The GEMV for T tokens on `shape` (tiles::routerGemvGrid): the logits
/// themselves when d is one split (bias added); else `partials` [splits,
/// T, C] for routerFinishKernel or the routing kernel to add up.
template <int T>
moe_status launchRouterGemv(cudaStream_t s, const float *x, int64_t d,
                            const float *router, int64_t columns,
                            const tiles::RouterGemvGrid &shape,
                            const float *bias, float *logits,
                            DeviceBuffer<float> &partials) {
  if (shape.columnBlocks > INT32_MAX || shape.splits > 65535)
    return MOE_ERROR_INVALID_ARGUMENT;
  bool split = shape.splits > 1;
  if (split)
    MOE_TRY(partials.allocate(shape.splits * T * columns, s));
  dim3 grid{unsigned(shape.columnBlocks), unsigned(shape.splits)};
  MOE_LAUNCH(grid, kGemvWarps * kWarp, 0, s, routerGemvKernel<T>)
  (x, d, router, columns, shape.rows, split ? nullptr : bias,
   split ? partials.get() : logits);
  return launched();
}

/// launchRouterGemv<1> .. <N>, by token count.
using GemvLauncher = moe_status (*)(cudaStream_t, const float *, int64_t,
                                    const float *, int64_t,
                                    const tiles::RouterGemvGrid &,
                                    const float *, float *,
                                    DeviceBuffer<float> &);
template <int... T>
constexpr std::array<GemvLauncher, sizeof...(T)>
gemvLaunchers(std::integer_sequence<int, T...>) {
  return {launchRouterGemv<T + 1>...};
}

/// The decode GEMV of `numTokens` (1 .. kRouterGemvMaxTokens) tokens.
moe_status routerGemv(cudaStream_t s, const float *x, int64_t numTokens,
                      int64_t d, const float *router, int64_t columns,
                      const tiles::RouterGemvGrid &shape, const float *bias,
                      float *logits, DeviceBuffer<float> &partials) {
  static constexpr auto launchers = gemvLaunchers(
      std::make_integer_sequence<int, tiles::kRouterGemvMaxTokens>{});
  return launchers[numTokens - 1](s, x, d, router, columns, shape, bias, logits,
                                  partials);
}

/// The decode router GEMV of `numTokens` (up to kRouterGemvMaxTokens)
/// tokens as the routing reads it: the logits (in `logits`, or scratch
/// when null) when d is one split, else partial sums the routing adds up
/// (`from`: writing the logits to `logits` too when given). `scratch` and
/// `partials` hold what is freed in stream order after the routing.
moe_status decodeLogits(cudaStream_t s, const float *input, int64_t numTokens,
                        int64_t d, const float *router, int64_t columns,
                        const float *routerBias, float *logits,
                        DeviceBuffer<float> &scratch,
                        DeviceBuffer<float> &partials, const float *&out,
                        PartialLogits &from) {
  tiles::RouterGemvGrid shape =
      tiles::routerGemvGrid(columns, multiprocessors(), d);
  bool partialSums = shape.splits > 1;
  float *written = logits;
  if (!written && !partialSums) {
    MOE_TRY(scratch.allocate(numTokens * columns, s));
    written = scratch.get();
  }
  MOE_TRY(routerGemv(s, input, numTokens, d, router, columns, shape, routerBias,
                     written, partials));
  out = partialSums ? nullptr : written;
  from = partialSums ? PartialLogits{partials.get(), int(shape.splits),
                                     routerBias, logits}
                     : PartialLogits{};
  return MOE_OK;
}

/// moe_cuda_route_f32's checks.
bool validRoute(int64_t numTokens, int64_t numExperts,
                const moe_routing_params *params, const float *bias) {
  return params && numTokens >= 0 && numExperts >= 1 &&
         numExperts <= kMaxExperts && validRoutingParams(*params, numExperts) &&
         params->n_group <= kMaxGroups &&
         (!bias || params->kind == MOE_ROUTING_SIGMOID_TOPK);
}

moe_status launchRoute(cudaStream_t s, const float *logits, int64_t numTokens,
                       int64_t numExperts, const moe_routing_params &params,
                       const float *bias, int32_t *ids, float *weights,
                       PartialLogits fromPartials) {
  unsigned blocks = unsigned((numTokens + kWarpsPerBlock - 1) / kWarpsPerBlock);
  MOE_LAUNCH(blocks, kWarpsPerBlock * kWarp, 0, s, routeKernel)
  (logits, numTokens, int(numExperts), params, bias, ids, weights,
   fromPartials);
  return launched();
}

constexpr int kScanThreads = tiles::kPermuteThreads;

/// Exclusive prefix count of `match` over the block (the warps' ballots
/// in shared memory, tiles::chunkRank); returns the total.
__device__ int blockRank(bool match, int &rank) {
  __shared__ uint32_t ballots[tiles::kPermuteWarps];
  int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  uint32_t ballot = __ballot_sync(0xffffffffu, match);
  if (lane == 0)
    ballots[warp] = ballot;
  __syncthreads();
  rank = tiles::chunkRank(ballots, warp, lane);
  int total = tiles::chunkMatches(ballots);
  __syncthreads();
  return total;
}

/// Per expert block: count (phase 0) or place (phase 1) its slots.
__global__ void permuteKernel(const int32_t *ids, int64_t slots, int phase,
                              int32_t *counts, const int32_t *offsets,
                              int32_t *assignments, int32_t *inverse) {
  int expert = blockIdx.x;
  int64_t seen = 0;
  for (int64_t base = 0; base < slots; base += kScanThreads) {
    int64_t j = base + threadIdx.x;
    bool match = j < slots && ids[j] == expert;
    int rank;
    int total = blockRank(match, rank);
    if (phase == 1 && match) {
      int64_t position = offsets[expert] + seen + rank;
      assignments[position] = static_cast<int32_t>(j);
      inverse[j] = static_cast<int32_t>(position);
    }
    seen += total;
  }
  if (phase == 0 && threadIdx.x == 0)
    counts[expert] = static_cast<int32_t>(seen);
}

/// The permutation of at most kScanThreads slots (decode) by one block:
/// the ids in shared memory (`shared`), slot j placed after the slots of
/// lower experts and the earlier slots of its own (the same stable order
/// as the per-expert blocks), offsets[e] the slots of experts below e -
/// counted, so no scan and no atomics; each slot's position also in
/// `positions` (shared memory) when given. Ends with a barrier.
__device__ void placeSmall(const int32_t *ids, int slots, int numExperts,
                           int32_t *assignments, int32_t *offsets,
                           int32_t *inverse, int32_t *shared,
                           int32_t *positions) {
  for (int j = threadIdx.x; j < slots; j += blockDim.x)
    shared[j] = ids[j];
  __syncthreads();
  for (int e = threadIdx.x; e <= numExperts; e += blockDim.x) {
    int below = 0;
    for (int i = 0; i < slots; ++i)
      below += shared[i] < e;
    offsets[e] = below;
  }
  for (int j = threadIdx.x; j < slots; j += blockDim.x) {
    int id = shared[j], position = 0;
    for (int i = 0; i < slots; ++i)
      position += shared[i] < id || (shared[i] == id && i < j);
    assignments[position] = j;
    inverse[j] = position;
    if (positions)
      positions[j] = position;
  }
  __syncthreads();
}

/// The small permutation in one launch instead of three.
__global__ void permuteSmallKernel(const int32_t *ids, int slots,
                                   int numExperts, int32_t *assignments,
                                   int32_t *offsets, int32_t *inverse) {
  __shared__ int32_t shared[kScanThreads];
  placeSmall(ids, slots, numExperts, assignments, offsets, inverse, shared,
             nullptr);
}

/// Where a small permutation's rows go, and where they come from.
template <typename Element> struct SmallGather {
  const float *input; // [T, d]
  int64_t d;
  int k; // slots per token
  int32_t *assignments, *offsets, *inverse;
  Element *rows; // [T * k, d]
};

/// placeSmall, then rows[position of slot j] = input[j / k], converted to
/// Element: decode's few short rows, which a block copies faster than a
/// second launch starts.
template <typename Element>
__device__ void placeAndGather(const int32_t *ids, int slots, int numExperts,
                               const SmallGather<Element> &g) {
  __shared__ int32_t shared[kScanThreads];
  __shared__ int32_t positions[kScanThreads];
  placeSmall(ids, slots, numExperts, g.assignments, g.offsets, g.inverse,
             shared, positions);
  for (int j = 0; j < slots; ++j) {
    const float *src = g.input + int64_t(j / g.k) * g.d;
    Element *dst = g.rows + int64_t(positions[j]) * g.d;
    for (int64_t c = threadIdx.x; c < g.d; c += blockDim.x)
      dst[c] = Element(src[c]);
  }
}

/// The small permutation and the gather in one launch.
template <typename Element>
__global__ void permuteGatherKernel(const int32_t *ids, int slots,
                                    int numExperts, SmallGather<Element> g) {
  placeAndGather(ids, slots, numExperts, g);
}

/// Decode's routing (a warp per token, at most kWarpsPerBlock tokens), its
/// permutation and the gather of its rows in one launch: the routing's
/// ids and weights go to global memory as the routing kernel writes them,
/// and the same block then places and gathers the slots.
template <typename Element>
__global__ void
routePermuteGatherKernel(const float *logits, int64_t numTokens, int numExperts,
                         moe_routing_params p, const float *bias, int32_t *ids,
                         float *weights, PartialLogits fromPartials,
                         SmallGather<Element> g) {
  int64_t t = threadIdx.x / kWarp;
  if (t < numTokens)
    routeToken(logits, numTokens, numExperts, p, bias, ids, weights,
               fromPartials, t);
  __syncthreads(); // the ids written
  placeAndGather(ids, int(numTokens * g.k), numExperts + p.num_shared, g);
}

/// offsets[0] = 0, offsets[e + 1] = offsets[e] + counts[e] (one thread:
/// E is small).
__global__ void scanKernel(const int32_t *counts, int numExperts,
                           int32_t *offsets) {
  if (threadIdx.x != 0 || blockIdx.x != 0)
    return;
  tiles::exclusiveOffsets(counts, numExperts, offsets);
}

/// rows[r] = input[assignments[r] / k], converted to Element (fp32 or a
/// 16-bit type, to nearest even: what the tensor cores take).
template <typename Element>
__global__ void gatherKernel(const float *input, int64_t d,
                             const int32_t *assignments, int64_t k,
                             Element *rows) {
  int64_t r = blockIdx.x;
  const float *src = input + (assignments[r] / k) * d;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x)
    rows[r * d + c] = Element(src[c]);
}

__global__ void combineKernel(const float *rows, int64_t d,
                              const float *weights, const int32_t *inverse,
                              int64_t k, float *out) {
  int64_t t = blockIdx.x;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j)
      sum += weights[t * k + j] * rows[int64_t(inverse[t * k + j]) * d + c];
    out[t * d + c] = sum;
  }
}

} // namespace

extern "C" moe_status moe_cuda_route_f32(void *stream, const float *logits,
                                         int64_t numTokens, int64_t numExperts,
                                         const moe_routing_params *params,
                                         const float *bias, int32_t *ids,
                                         float *weights) {
  if (!validRoute(numTokens, numExperts, params, bias) ||
      (numTokens > 0 && (!logits || !ids || !weights)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (numTokens == 0)
    return MOE_OK;
  return launchRoute(asStream(stream), logits, numTokens, numExperts, *params,
                     bias, ids, weights, PartialLogits{});
}

extern "C" moe_status moe_cuda_route_fused_f32(
    void *stream, const float *input, int64_t numTokens, int64_t d,
    const float *router, const float *routerBias, int64_t numExperts,
    const moe_routing_params *params, const float *correctionBias, int32_t *ids,
    float *weights, float *logits) {
  if (!validRoute(numTokens, numExperts, params, correctionBias) || d < 0 ||
      !router || (numTokens > 0 && (!input || !ids || !weights)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (numTokens == 0)
    return MOE_OK;
  cudaStream_t s = asStream(stream);
  int64_t columns = logitColumns(*params, numExperts);
  DeviceBuffer<float> scratch, partials; // freed in stream order
  const float *out = nullptr;
  PartialLogits from{};
  if (numTokens <= tiles::kRouterGemvMaxTokens) {
    // Split over d, the GEMV leaves partial sums the routing kernel adds
    // up: logits are only written where the caller wants them.
    MOE_TRY(decodeLogits(s, input, numTokens, d, router, columns, routerBias,
                         logits, scratch, partials, out, from));
  } else {
    float *written = logits;
    if (!written) {
      MOE_TRY(scratch.allocate(numTokens * columns, s));
      written = scratch.get();
    }
    MOE_TRY(moe_cuda_router_logits_f32(s, input, numTokens, d, router, columns,
                                       routerBias, written));
    out = written;
  }
  return launchRoute(s, out, numTokens, numExperts, *params, correctionBias,
                     ids, weights, from);
}

extern "C" moe_status moe_cuda_router_logits_f32(
    void *stream, const float *input, int64_t numTokens, int64_t d,
    const float *router, int64_t columns, const float *bias, float *logits) {
  if (numTokens < 0 || d < 0 || columns < 1 || !router ||
      (numTokens > 0 && (!input || !logits)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (numTokens == 0)
    return MOE_OK;
  cudaStream_t s = asStream(stream);
  if (numTokens <= tiles::kRouterGemvMaxTokens) {
    DeviceBuffer<float> partials; // freed in stream order after the finish
    auto shape = tiles::routerGemvGrid(columns, multiprocessors(), d);
    MOE_TRY(routerGemv(s, input, numTokens, d, router, columns, shape, bias,
                       logits, partials));
    if (shape.splits == 1)
      return MOE_OK;
    int64_t count = numTokens * columns;
    MOE_LAUNCH(unsigned((count + 255) / 256), 256, 0, s, routerFinishKernel)
    (partials.get(), int(shape.splits), count, columns, bias, logits);
    return launched();
  }
  static_assert(tiles::kRouterGemvColumns == kWarp, "a lane per column");
  // More tokens: the router as the one expert of the fp32 grouped matmul.
  if (numTokens > INT32_MAX)
    return MOE_ERROR_INVALID_ARGUMENT;
  DeviceBuffer<int32_t> dOffsets;
  MOE_TRY(dOffsets.allocate(2, s));
  // Written by a kernel: a copy from pageable host memory would make the
  // host wait for the stream.
  MOE_LAUNCH(1, 1, 0, s, oneSegment)(int32_t(numTokens), dOffsets.get());
  moe_activation_params identity{MOE_ACTIVATION_NONE, 0, 0, 0};
  return moe_cuda_grouped_matmul_f32(s, input, numTokens, d, router, 1,
                                     columns, dOffsets.get(), bias, &identity,
                                     logits);
}

extern "C" moe_status moe_cuda_permute(void *stream, const int32_t *ids,
                                       int64_t numTokens, int64_t k,
                                       int64_t numExperts,
                                       int32_t *assignments, int32_t *offsets,
                                       int32_t *inverse) {
  if (numTokens < 0 || k < 1 || numExperts < 1 || !offsets ||
      numTokens * k > INT32_MAX ||
      (numTokens > 0 && (!ids || !assignments || !inverse)))
    return MOE_ERROR_INVALID_ARGUMENT;
  cudaStream_t s = asStream(stream);
  int64_t slots = numTokens * k;
  if (slots <= kScanThreads && numExperts < INT32_MAX) {
    MOE_LAUNCH(1, kScanThreads, 0, s, permuteSmallKernel)
    (ids, int(slots), int(numExperts), assignments, offsets, inverse);
    return launched();
  }
  DeviceBuffer<int32_t> counts;
  if (moe_status status = counts.allocate(numExperts, s))
    return status;
  MOE_LAUNCH(unsigned(numExperts), kScanThreads, 0, s, permuteKernel)
  (ids, slots, 0, counts.get(), nullptr, nullptr, nullptr);
  MOE_LAUNCH(1, 1, 0, s, scanKernel)(counts.get(), int(numExperts), offsets);
  if (slots > 0)
    MOE_LAUNCH(unsigned(numExperts), kScanThreads, 0, s, permuteKernel)
    (ids, slots, 1, nullptr, offsets, assignments, inverse);
  return launched();
}

template <typename Element>
moe_status moe::runtime::cuda::gatherRows(cudaStream_t stream,
                                          const float *input, int64_t numTokens,
                                          int64_t d, const int32_t *assignments,
                                          int64_t k, Element *rows) {
  if (numTokens < 0 || d < 0 || k < 1 ||
      (numTokens > 0 && d > 0 && (!input || !assignments || !rows)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (numTokens == 0 || d == 0)
    return MOE_OK;
  MOE_LAUNCH(unsigned(numTokens * k), 128, 0, stream, gatherKernel<Element>)
  (input, d, assignments, k, rows);
  return launched();
}

template <typename Element>
moe_status moe::runtime::cuda::permuteAndGather(
    cudaStream_t stream, const int32_t *ids, int64_t numTokens, int64_t k,
    int64_t numExperts, const float *input, int64_t d, int32_t *assignments,
    int32_t *offsets, int32_t *inverse, Element *rows) {
  if (numTokens < 0 || k < 1 || k > INT32_MAX || d < 0 || numExperts < 1 ||
      numExperts >= INT32_MAX || !gatherFuses(numTokens * k, d))
    return MOE_ERROR_INVALID_ARGUMENT;
  int64_t slots = numTokens * k;
  if (numTokens > 0 && (!ids || !assignments || !inverse || !offsets ||
                        (d > 0 && (!input || !rows))))
    return MOE_ERROR_INVALID_ARGUMENT;
  SmallGather<Element> g{input, d, int(k), assignments, offsets, inverse, rows};
  MOE_LAUNCH(1, kScanThreads, 0, stream, permuteGatherKernel<Element>)
  (ids, int(slots), int(numExperts), g);
  return launched();
}

template <typename Element>
moe_status moe::runtime::cuda::routeAndGather(
    cudaStream_t s, const float *input, int64_t numTokens, int64_t d,
    const float *router, const float *routerBias, int64_t numExperts,
    const moe_routing_params &params, const float *correctionBias, int32_t *ids,
    float *weights, int32_t *assignments, int32_t *offsets, int32_t *inverse,
    Element *rows) {
  static_assert(kRouteGatherTokens == kWarpsPerBlock,
                "one routing block: a warp per token");
  int64_t k = slotsPerToken(params);
  if (!validRoute(numTokens, numExperts, &params, correctionBias) || d < 1 ||
      numTokens < 1 || !routeGathers(numTokens, numTokens * k, d) || !input ||
      !router || !ids || !weights || !assignments || !offsets || !inverse ||
      !rows)
    return MOE_ERROR_INVALID_ARGUMENT;
  DeviceBuffer<float> scratch, partials; // freed in stream order
  const float *logits = nullptr;
  PartialLogits from{};
  MOE_TRY(decodeLogits(s, input, numTokens, d, router,
                       logitColumns(params, numExperts), routerBias, nullptr,
                       scratch, partials, logits, from));
  SmallGather<Element> g{input, d, int(k), assignments, offsets, inverse, rows};
  MOE_LAUNCH(1, kWarpsPerBlock * kWarp, 0, s, routePermuteGatherKernel<Element>)
  (logits, numTokens, int(numExperts), params, correctionBias, ids, weights,
   from, g);
  return launched();
}

#define MOE_PERMUTE_AND_GATHER(ELEMENT)                                        \
  template moe_status moe::runtime::cuda::permuteAndGather(                    \
      cudaStream_t, const int32_t *, int64_t, int64_t, int64_t, const float *, \
      int64_t, int32_t *, int32_t *, int32_t *, ELEMENT *);                    \
  template moe_status moe::runtime::cuda::routeAndGather(                      \
      cudaStream_t, const float *, int64_t, int64_t, const float *,            \
      const float *, int64_t, const moe_routing_params &, const float *,       \
      int32_t *, float *, int32_t *, int32_t *, int32_t *, ELEMENT *);
MOE_PERMUTE_AND_GATHER(float)
MOE_PERMUTE_AND_GATHER(__nv_bfloat16)
MOE_PERMUTE_AND_GATHER(__half)
#undef MOE_PERMUTE_AND_GATHER

template moe_status moe::runtime::cuda::gatherRows(cudaStream_t, const float *,
                                                   int64_t, int64_t,
                                                   const int32_t *, int64_t,
                                                   float *);
template moe_status moe::runtime::cuda::gatherRows(cudaStream_t, const float *,
                                                   int64_t, int64_t,
                                                   const int32_t *, int64_t,
                                                   __nv_bfloat16 *);
template moe_status moe::runtime::cuda::gatherRows(cudaStream_t, const float *,
                                                   int64_t, int64_t,
                                                   const int32_t *, int64_t,
                                                   __half *);

extern "C" moe_status moe_cuda_gather_rows_f32(void *stream, const float *input,
                                               int64_t numTokens, int64_t d,
                                               const int32_t *assignments,
                                               int64_t k, float *rows) {
  return gatherRows(asStream(stream), input, numTokens, d, assignments, k,
                    rows);
}

extern "C" moe_status moe_cuda_combine_f32(void *stream, const float *rows,
                                           int64_t numRows, int64_t d,
                                           const float *weights,
                                           const int32_t *inverse,
                                           int64_t numTokens, int64_t k,
                                           float *out) {
  if (numRows < 0 || d < 0 || numTokens < 0 || k < 1 ||
      numRows != numTokens * k ||
      (numTokens > 0 && d > 0 && (!rows || !weights || !inverse || !out)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (numTokens == 0 || d == 0)
    return MOE_OK;
  MOE_LAUNCH(unsigned(numTokens), 128, 0, asStream(stream), combineKernel)
  (rows, d, weights, inverse, k, out);
  return launched();
}
