//===- CompiledCode.cu - Entry points for code compiled for CUDA ----------===//
//
// What `moe-compile --target=cuda` calls for the MoE ops: the moe_cc_*
// entry points of the CPU runtime with the same scalar-only signatures, on
// host or device buffers (CompiledCall.h stages them; the graph's other
// ops: CompiledGraphOps.cu). Expert
// weights that are constants of the compiled model are uploaded once (when
// the model is created, moe_cuda_cc_preload, or on first use) and stay on
// the device while the model is loaded (this library is linked statically
// into each model, so the cache is the model's own and goes away with it).
//
//===----------------------------------------------------------------------===//

#include "CompiledCall.h"
#include "CudaSupport.h"
#include "GroupedMatmul.h"
#include "Routing.h"

#include <functional>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

using namespace moe::runtime;
using namespace moe::runtime::cuda;

// The CPU runtime's routing statistics (moe_runtime.h), weak: compiled
// models link that runtime too, this library alone does not.
extern "C" __attribute__((weak)) int32_t moe_stats_enabled(void);
extern "C" __attribute__((weak)) void
moe_stats_record_routing(int32_t layer, const char *name, int32_t kind,
                         const float *logits, int64_t logits_stride,
                         int64_t num_tokens, int64_t num_experts, int64_t k,
                         const int32_t *expert_ids, const float *weights,
                         int64_t slot_stride);

/// See CompiledCall.h.
thread_local bool moe::runtime::cuda::copiedToHost = false;

namespace {

/// Device copies of the model's constant weights, by device and host
/// address. The addresses are the model's read-only data, which neither
/// moves nor changes while the model is loaded; a thread whose current
/// device is another one than at model creation gets its own copies there
/// on first use.
class ConstantCache {
public:
  ~ConstantCache() {
    for (auto &entry : copies)
      cudaFree(entry.second.second); // may fail after CUDA's own teardown
    for (void *copy : retired)
      cudaFree(copy);
  }
  moe_status get(const void *host, size_t bytes, const void **device) {
    Key key{currentDevice(), host};
    std::lock_guard<std::mutex> lock(mutex);
    auto found = copies.find(key);
    if (found != copies.end() && found->second.first >= bytes) {
      *device = found->second.second; // the same constant, or a prefix
      return MOE_OK;
    }
    void *copy = nullptr;
    MOE_TRY(check(cudaMalloc(&copy, bytes > 0 ? bytes : 1)));
    if (moe_status status = check(
            cudaMemcpy(copy, host, bytes, cudaMemcpyHostToDevice));
        status != MOE_OK) {
      cudaFree(copy);
      return status;
    }
    // A shorter copy may still be in use by another thread's call: it is
    // kept until the model goes away.
    if (found != copies.end())
      retired.push_back(found->second.second);
    copies[key] = {bytes, copy};
    *device = copy;
    return MOE_OK;
  }

  /// The device copy of `bytes` at `host` if one was made (preloaded at
  /// model creation), else null: for arguments whose calls carry no
  /// constant flag (the router, biases; see upload).
  const void *find(const void *host, size_t bytes) {
    Key key{currentDevice(), host};
    std::lock_guard<std::mutex> lock(mutex);
    auto found = copies.find(key);
    return found != copies.end() && found->second.first >= bytes
               ? found->second.second
               : nullptr;
  }

private:
  using Key = std::pair<int, const void *>; // (device, host address)
  static int currentDevice() {
    int device = 0;
    cudaGetDevice(&device); // 0 when it fails; the copy reports the error
    return device;
  }
  std::mutex mutex;
  std::map<Key, std::pair<size_t, void *>> copies;
  std::vector<void *> retired;
};

ConstantCache &constants() {
  static ConstantCache cache;
  return cache;
}

} // namespace

const void *moe::runtime::cuda::findConstant(const void *host, size_t bytes) {
  return constants().find(host, bytes);
}

namespace {

/// Expert weights on the device: the cached copy of a constant, or a copy
/// for this call.
template <typename T>
moe_status weightsOnDevice(const T *host, int64_t count, bool constant,
                           DeviceBuffer<T> &perCall, const T **device) {
  if (constant) {
    const void *copy = nullptr;
    MOE_TRY(constants().get(host, sizeof(T) * count, &copy));
    *device = static_cast<const T *>(copy);
    return MOE_OK;
  }
  MOE_TRY(upload(perCall, host, count));
  *device = perCall.get();
  return MOE_OK;
}

/// Rounds fp32 rows to the 16-bit type of the weights (to nearest even).
template <typename Element>
__global__ void roundRows(const float *in, int64_t n, Element *out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = Element(in[i]);
}

/// The grouped matmul of rows already in the 16-bit type of the weights
/// (W = __nv_bfloat16 / __half: tensor cores; bf16 through cuBLAS with
/// MOE_CUDA_GROUPED_MATMUL=cublas), into dOut or, rounded to W, into
/// dRounded (rows for the next 16-bit matmul).
template <typename W>
moe_status
deviceGroupedMatmul16(cudaStream_t s, const W *dRows, int64_t numRows,
                      int64_t kDim, const W *dWeights, int64_t numExperts,
                      int64_t mDim, const int32_t *dOffsets, const float *dBias,
                      const moe_activation_params &act, float *dOut,
                      W *dRounded = nullptr) {
  if constexpr (std::is_same_v<W, __nv_bfloat16>)
    if (groupedMatmulKernel() == GroupedMatmulKernel::Cublas)
      return cublasGroupedMatmulBf16(s, dRows, numRows, kDim, dWeights,
                                     numExperts, mDim, dOffsets, dBias, &act,
                                     dOut, dRounded);
  return groupedMatmul16(s, dRows, numRows, kDim, dWeights, numExperts, mDim,
                         dOffsets, dBias, &act, dOut, dRounded);
}

/// The grouped matmul on device buffers: f32 weights with fp32 rows, or
/// bf16 / fp16 weights with the rows rounded to that type here.
template <typename W>
moe_status deviceGroupedMatmul(cudaStream_t s, const float *dRows,
                               int64_t numRows, int64_t kDim, const W *dWeights,
                               int64_t numExperts, int64_t mDim,
                               const int32_t *dOffsets, const float *dBias,
                               const moe_activation_params &act, float *dOut) {
  if constexpr (std::is_same_v<W, float>) {
    return moe_cuda_grouped_matmul_f32(s, dRows, numRows, kDim, dWeights,
                                       numExperts, mDim, dOffsets, dBias, &act,
                                       dOut);
  } else {
    DeviceBuffer<W> dRows16; // freed in stream order
    int64_t n = numRows * kDim;
    MOE_TRY(dRows16.allocate(n, s));
    if (n > 0)
      MOE_LAUNCH(unsigned(std::min<int64_t>((n + 255) / 256, 4096)), 256, 0, s,
                 roundRows<W>)
      (dRows, n, dRows16.get());
    MOE_TRY(launched());
    return deviceGroupedMatmul16(s, dRows16.get(), numRows, kDim, dWeights,
                                 numExperts, mDim, dOffsets, dBias, act, dOut);
  }
}

/// The grouped matmul on host buffers, then (with combine weights) the
/// combine of its rows into out [num_tokens, M'].
template <typename W>
moe_status groupedMatmul(const float *rows, int64_t numRows, int64_t kDim,
                         const W *weights, bool weightsConstant,
                         int64_t numExperts, int64_t mDim,
                         const int32_t *offsets, const float *bias,
                         int32_t activation, float alpha, float beta,
                         float limit, float *out,
                         const float *combineWeights,
                         const int32_t *combineInverse, int64_t numTokens,
                         int64_t k) {
  moe_activation_params act{activation, alpha, beta, limit};
  if (!validGroupedMatmul(numRows, kDim, weights, numExperts, mDim, offsets,
                          rows, out, act) ||
      (combineWeights && (!combineInverse || numTokens < 0 || k < 1)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if ((!isDevicePointer(offsets) &&
       !validOffsets(offsets, numExperts, numRows)) ||
      (combineWeights && !indicesOk(combineInverse, numTokens * k, numRows)))
    return MOE_ERROR_INDEX_OUT_OF_RANGE;
  int64_t outCols = isGatedActivation(activation) ? mDim / 2 : mDim;
  cudaStream_t s = callStream();
  DeviceBuffer<float> dRows, dBias, dZ, dCombineWeights;
  DeviceBuffer<W> dWeightsPerCall;
  DeviceBuffer<int32_t> dOffsets, dInverse;
  const W *dWeights = nullptr;
  MOE_TRY(upload(dRows, rows, numRows * kDim));
  MOE_TRY(weightsOnDevice(weights, numExperts * kDim * mDim, weightsConstant,
                          dWeightsPerCall, &dWeights));
  MOE_TRY(upload(dOffsets, offsets, numExperts + 1));
  MOE_TRY(upload(dBias, bias, numExperts * mDim));
  if (!combineWeights) {
    Result<> result;
    MOE_TRY(result.prepare(out, numRows * outCols));
    MOE_TRY(deviceGroupedMatmul(s, dRows.get(), numRows, kDim, dWeights,
                                numExperts, mDim, dOffsets.get(), dBias.get(),
                                act, result.get()));
    MOE_TRY(result.deliver());
    return finish();
  }
  MOE_TRY(dZ.allocate(numRows * outCols, s));
  MOE_TRY(deviceGroupedMatmul(s, dRows.get(), numRows, kDim, dWeights,
                              numExperts, mDim, dOffsets.get(), dBias.get(),
                              act, dZ.get()));
  MOE_TRY(upload(dCombineWeights, combineWeights, numTokens * k));
  MOE_TRY(upload(dInverse, combineInverse, numTokens * k));
  Result<> result;
  MOE_TRY(result.prepare(out, numTokens * outCols));
  MOE_TRY(moe_cuda_combine_f32(s, dZ.get(), numRows, outCols,
                               dCombineWeights.get(), dInverse.get(),
                               numTokens, k, result.get()));
  MOE_TRY(result.deliver());
  return finish();
}

/// The expert weights of a layer: gate|up (w1) and down (w2), each with
/// its bias, activation and whether it is a constant of the model.
template <typename W> struct ExpertWeights {
  const W *w1;
  int64_t m1;
  const float *b1;
  moe_activation_params act1;
  bool w1Constant;
  const W *w2;
  int64_t m2;
  const float *b2;
  moe_activation_params act2;
  bool w2Constant;

  int64_t hidden() const { return isGatedActivation(act1.kind) ? m1 / 2 : m1; }
  int64_t outCols() const {
    return isGatedActivation(act2.kind) ? m2 / 2 : m2;
  }
  /// The grouped matmuls' argument checks for `slots` rows (`nonNull`
  /// stands in for the offsets, which the chain makes itself).
  bool valid(int64_t slots, int64_t d, int64_t numExperts, const void *input,
             const void *out, const void *nonNull) const {
    return validGroupedMatmul(slots, d, w1, numExperts, m1,
                              static_cast<const int32_t *>(nonNull), input,
                              out, act1) &&
           validGroupedMatmul(slots, hidden(), w2, numExperts, m2,
                              static_cast<const int32_t *>(nonNull), input,
                              out, act2);
  }
};

/// A layer's experts on device buffers: the permutation of dInput by dIds
/// [T, k], the first grouped matmul (gate|up), the second (down) and the
/// combine with dWeights into dOut [T, outCols]. The permuted rows and the
/// hidden activations never leave the device.
/// `place` (assignments, offsets, inverse, rows), when given, computes the
/// permutation and the gathered rows instead (decode's routing, which
/// makes dIds and dWeights in the same launch).
template <typename W>
using PlaceRows =
    std::function<moe_status(int32_t *, int32_t *, int32_t *, W *)>;

template <typename W>
moe_status expertChain(cudaStream_t s, const float *dInput, int64_t numTokens,
                       int64_t d, const int32_t *dIds, const float *dWeights,
                       int64_t k, int64_t numExperts, const ExpertWeights<W> &e,
                       float *dOut, const PlaceRows<W> &place = {}) {
  int64_t slots = numTokens * k, hidden = e.hidden(), outCols = e.outCols();
  DeviceBuffer<float> dB1, dB2, dHidden, dZ;
  DeviceBuffer<int32_t> dAssignments, dOffsets, dInverse;
  // Rows and hidden rows in the weights' type (16-bit: tensor cores).
  DeviceBuffer<W> dW1PerCall, dW2PerCall, dRows, dHidden16;
  const W *dW1 = nullptr, *dW2 = nullptr;
  MOE_TRY(weightsOnDevice(e.w1, numExperts * d * e.m1, e.w1Constant,
                          dW1PerCall, &dW1));
  MOE_TRY(weightsOnDevice(e.w2, numExperts * hidden * e.m2, e.w2Constant,
                          dW2PerCall, &dW2));
  MOE_TRY(upload(dB1, e.b1, numExperts * e.m1));
  MOE_TRY(upload(dB2, e.b2, numExperts * e.m2));
  MOE_TRY(dAssignments.allocate(slots, s));
  MOE_TRY(dOffsets.allocate(numExperts + 1, s));
  MOE_TRY(dInverse.allocate(slots, s));
  MOE_TRY(dRows.allocate(slots * d, s));
  MOE_TRY(dZ.allocate(slots * outCols, s));
  // The gather rounds the rows to a 16-bit weight type on the way; at
  // decode it is the permutation's own launch.
  if (place) {
    MOE_TRY(
        place(dAssignments.get(), dOffsets.get(), dInverse.get(), dRows.get()));
  } else if (gatherFuses(slots, d)) {
    MOE_TRY(permuteAndGather(s, dIds, numTokens, k, numExperts, dInput, d,
                             dAssignments.get(), dOffsets.get(), dInverse.get(),
                             dRows.get()));
  } else {
    MOE_TRY(moe_cuda_permute(s, dIds, numTokens, k, numExperts,
                             dAssignments.get(), dOffsets.get(),
                             dInverse.get()));
    MOE_TRY(gatherRows(s, dInput, numTokens, d, dAssignments.get(), k,
                       dRows.get()));
  }
  if constexpr (std::is_same_v<W, float>) {
    MOE_TRY(dHidden.allocate(slots * hidden, s));
    MOE_TRY(moe_cuda_grouped_matmul_f32(s, dRows.get(), slots, d, dW1,
                                        numExperts, e.m1, dOffsets.get(),
                                        dB1.get(), &e.act1, dHidden.get()));
    MOE_TRY(moe_cuda_grouped_matmul_f32(s, dHidden.get(), slots, hidden, dW2,
                                        numExperts, e.m2, dOffsets.get(),
                                        dB2.get(), &e.act2, dZ.get()));
  } else {
    // The first matmul's epilogue rounds the hidden rows for the second.
    MOE_TRY(dHidden16.allocate(slots * hidden, s));
    MOE_TRY(deviceGroupedMatmul16(s, dRows.get(), slots, d, dW1, numExperts,
                                  e.m1, dOffsets.get(), dB1.get(), e.act1,
                                  nullptr, dHidden16.get()));
    MOE_TRY(deviceGroupedMatmul16(s, dHidden16.get(), slots, hidden, dW2,
                                  numExperts, e.m2, dOffsets.get(), dB2.get(),
                                  e.act2, dZ.get()));
  }
  return moe_cuda_combine_f32(s, dZ.get(), slots, outCols, dWeights,
                              dInverse.get(), numTokens, k, dOut);
}

/// A layer's experts on host buffers, given its routing (ids and combine
/// weights [T, k]): only the input, ids and weights go up and the output
/// comes down.
template <typename W>
moe_status experts(const float *input, int64_t numTokens, int64_t d,
                   const int32_t *expertIds, const float *combineWeights,
                   int64_t k, int64_t numExperts, const ExpertWeights<W> &e,
                   float *out) {
  int64_t slots = numTokens * k;
  if (numTokens < 0 || k < 1 || !expertIds || !combineWeights ||
      !e.valid(slots, d, numExperts, input, out, expertIds))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (!indicesOk(expertIds, slots, numExperts))
    return MOE_ERROR_INDEX_OUT_OF_RANGE;
  cudaStream_t s = callStream();
  DeviceBuffer<float> dInput, dWeights;
  DeviceBuffer<int32_t> dIds;
  Result<> result;
  MOE_TRY(upload(dInput, input, numTokens * d));
  MOE_TRY(upload(dIds, expertIds, slots));
  MOE_TRY(upload(dWeights, combineWeights, slots));
  MOE_TRY(result.prepare(out, numTokens * e.outCols()));
  MOE_TRY(expertChain(s, dInput.get(), numTokens, d, dIds.get(),
                      dWeights.get(), k, numExperts, e, result.get()));
  MOE_TRY(result.deliver());
  return finish();
}

/// The gating of a layer whose router matmul was fused into its routing:
/// router [d, E] (+ bias [E]; E + 1 columns with a shared gate), the
/// routing parameters and DeepSeek-V3's correction bias.
struct FusedRouting {
  const float *router, *routerBias;
  moe_routing_params params;
  const float *correctionBias;
  /// The layer's number and name for the routing statistics.
  int32_t layer;
  const char *layerName;
};

/// Whether the CPU runtime's routing statistics (linked into compiled
/// models, weak here: absent from this library alone) are recording.
bool recordingStats() {
  return moe_stats_enabled && moe_stats_record_routing &&
         moe_stats_enabled() != 0;
}

/// Adds a routing call done on the device to the statistics: its logits
/// and its ids and weights come down first (only while recording).
moe_status recordStats(const FusedRouting &routing, const float *dLogits,
                       int64_t numTokens, int64_t numExperts,
                       const int32_t *dIds, const float *dWeights) {
  const moe_routing_params &p = routing.params;
  int64_t columns = logitColumns(p, numExperts);
  int64_t slots = numTokens * slotsPerToken(p);
  std::vector<float> logits(numTokens * columns), weights(slots);
  std::vector<int32_t> ids(slots);
  cudaStream_t s = callStream();
  MOE_TRY(check(cudaMemcpyAsync(logits.data(), dLogits,
                                sizeof(float) * logits.size(),
                                cudaMemcpyDeviceToHost, s)));
  MOE_TRY(check(cudaMemcpyAsync(ids.data(), dIds, sizeof(int32_t) * slots,
                                cudaMemcpyDeviceToHost, s)));
  MOE_TRY(check(cudaMemcpyAsync(weights.data(), dWeights,
                                sizeof(float) * slots, cudaMemcpyDeviceToHost,
                                s)));
  MOE_TRY(synchronize());
  moe_stats_record_routing(routing.layer, routing.layerName, p.kind,
                           logits.data(), columns, numTokens, numExperts, p.k,
                           ids.data(), weights.data(), slotsPerToken(p));
  return MOE_OK;
}

/// Routes dInput [T, d] on the device into dIds / dWeights [T, k (+ shared
/// experts)]: the logits of the router (from the constant cache when it
/// was preloaded at model creation), then the routing kernel.
/// A fused routing's router, its bias and the correction bias on the
/// device (preloaded ones from the constant cache).
struct RouterOnDevice {
  DeviceBuffer<float> router, routerBias, correction;
  moe_status upload(const FusedRouting &routing, int64_t d,
                    int64_t numExperts) {
    int64_t columns = logitColumns(routing.params, numExperts);
    MOE_TRY(cuda::upload(router, routing.router, d * columns));
    MOE_TRY(cuda::upload(routerBias, routing.routerBias, columns));
    return cuda::upload(correction, routing.correctionBias, numExperts);
  }
};

moe_status routeOnDevice(cudaStream_t s, const float *dInput,
                         int64_t numTokens, int64_t d, int64_t numExperts,
                         const FusedRouting &routing, int32_t *dIds,
                         float *dWeights) {
  if (numTokens > INT32_MAX)
    return MOE_ERROR_INVALID_ARGUMENT;
  RouterOnDevice r;
  MOE_TRY(r.upload(routing, d, numExperts));
  DeviceBuffer<float> dLogits;
  // The logits themselves only for the routing statistics.
  bool stats = recordingStats();
  if (stats)
    MOE_TRY(dLogits.allocate(
        numTokens * logitColumns(routing.params, numExperts), s));
  MOE_TRY(moe_cuda_route_fused_f32(
      s, dInput, numTokens, d, r.router.get(), r.routerBias.get(), numExperts,
      &routing.params, r.correction.get(), dIds, dWeights, dLogits.get()));
  if (stats)
    return recordStats(routing, dLogits.get(), numTokens, numExperts, dIds,
                       dWeights);
  return MOE_OK;
}

/// A whole layer with fused gating on host buffers: the hidden states go
/// up once and the output comes down; the routing never leaves the device.
/// `numExperts` counts the routed experts; the shared ones follow them in
/// the weights.
template <typename W>
moe_status runLayer(const float *input, int64_t numTokens, int64_t d,
                 int64_t numExperts, const FusedRouting &routing,
                 const ExpertWeights<W> &e, float *out) {
  int64_t k = slotsPerToken(routing.params), slots = numTokens * k;
  int64_t allExperts = numExperts + routing.params.num_shared;
  if (numTokens < 0 || !validRoutingParams(routing.params, numExperts) ||
      !routing.router ||
      !e.valid(slots, d, allExperts, input, out, routing.router))
    return MOE_ERROR_INVALID_ARGUMENT;
  cudaStream_t s = callStream();
  DeviceBuffer<float> dInput, dWeights;
  DeviceBuffer<int32_t> dIds;
  Result<> result;
  MOE_TRY(upload(dInput, input, numTokens * d));
  MOE_TRY(dIds.allocate(slots, s));
  MOE_TRY(dWeights.allocate(slots, s));
  MOE_TRY(result.prepare(out, numTokens * e.outCols()));
  if (routeGathers(numTokens, slots, d) && numTokens > 0 && !recordingStats()) {
    // Decode: the routing, the permutation and the gather one launch
    // after the router GEMV.
    RouterOnDevice r;
    MOE_TRY(r.upload(routing, d, numExperts));
    PlaceRows<W> place = [&](int32_t *assignments, int32_t *offsets,
                             int32_t *inverse, W *rows) {
      return routeAndGather(s, dInput.get(), numTokens, d, r.router.get(),
                            r.routerBias.get(), numExperts, routing.params,
                            r.correction.get(), dIds.get(), dWeights.get(),
                            assignments, offsets, inverse, rows);
    };
    MOE_TRY(expertChain(s, dInput.get(), numTokens, d, dIds.get(),
                        dWeights.get(), k, allExperts, e, result.get(), place));
  } else {
    MOE_TRY(routeOnDevice(s, dInput.get(), numTokens, d, numExperts, routing,
                          dIds.get(), dWeights.get()));
    MOE_TRY(expertChain(s, dInput.get(), numTokens, d, dIds.get(),
                        dWeights.get(), k, allExperts, e, result.get()));
  }
  MOE_TRY(result.deliver());
  return finish();
}

/// The routing kernel on device logits, its results downloaded.
moe_status route(const float *dLogits, int64_t numTokens, int64_t numExperts,
                 const moe_routing_params &params, const float *correctionBias,
                 int32_t *expertIds, float *weights) {
  cudaStream_t s = callStream();
  int64_t slots = numTokens * slotsPerToken(params);
  DeviceBuffer<float> dBias, dWeights;
  DeviceBuffer<int32_t> dIds;
  MOE_TRY(upload(dBias, correctionBias, numExperts));
  MOE_TRY(dIds.allocate(slots, s));
  MOE_TRY(dWeights.allocate(slots, s));
  MOE_TRY(moe_cuda_route_f32(s, dLogits, numTokens, numExperts, &params,
                             dBias.get(), dIds.get(), dWeights.get()));
  MOE_TRY(download(expertIds, dIds, slots));
  MOE_TRY(download(weights, dWeights, slots));
  return finish();
}

} // namespace

extern "C" {

int32_t moe_cuda_cc_route_f32(int32_t, const float *logits, int64_t num_tokens,
                              int64_t num_experts, int32_t kind, int32_t k,
                              int32_t renormalize, int32_t n_group,
                              int32_t topk_group, int32_t group_mask,
                              int32_t num_shared, int32_t shared_gate,
                              float scale, const float *correction_bias,
                              int32_t *expert_ids, float *weights,
                              int32_t layer, const char *layer_name) {
  moe_routing_params params = routingParams(
      kind, k, renormalize, n_group, topk_group, group_mask, num_shared,
      shared_gate, scale);
  if (!logits || num_tokens < 0 || !validRoutingParams(params, num_experts))
    return MOE_ERROR_INVALID_ARGUMENT;
  DeviceBuffer<float> dLogits;
  int64_t columns = logitColumns(params, num_experts);
  MOE_TRY(upload(dLogits, logits, num_tokens * columns));
  MOE_TRY(route(dLogits.get(), num_tokens, num_experts, params,
                correction_bias, expert_ids, weights));
  if (recordingStats())
    moe_stats_record_routing(layer, layer_name, kind, logits, columns,
                             num_tokens, num_experts, k, expert_ids, weights,
                             slotsPerToken(params));
  return MOE_OK;
}

int32_t moe_cuda_cc_route_fused_f32(
    int32_t, const float *input, int64_t num_tokens, int64_t d,
    const float *router, const float *router_bias, int64_t num_experts,
    int32_t kind, int32_t k, int32_t renormalize, int32_t n_group,
    int32_t topk_group, int32_t group_mask, int32_t num_shared,
    int32_t shared_gate, float scale, const float *correction_bias,
    int32_t *expert_ids, float *weights, int32_t layer,
    const char *layer_name) {
  moe_routing_params params = routingParams(
      kind, k, renormalize, n_group, topk_group, group_mask, num_shared,
      shared_gate, scale);
  if (!input || !router || !expert_ids || !weights || num_tokens < 0 ||
      d < 0 || !validRoutingParams(params, num_experts))
    return MOE_ERROR_INVALID_ARGUMENT;
  cudaStream_t s = callStream();
  int64_t slots = num_tokens * slotsPerToken(params);
  DeviceBuffer<float> dInput, dWeights;
  DeviceBuffer<int32_t> dIds;
  MOE_TRY(upload(dInput, input, num_tokens * d));
  MOE_TRY(dIds.allocate(slots, s));
  MOE_TRY(dWeights.allocate(slots, s));
  MOE_TRY(routeOnDevice(
      s, dInput.get(), num_tokens, d, num_experts,
      {router, router_bias, params, correction_bias, layer, layer_name},
      dIds.get(), dWeights.get()));
  MOE_TRY(download(expert_ids, dIds, slots));
  MOE_TRY(download(weights, dWeights, slots));
  return finish();
}

int32_t moe_cuda_cc_permute_f32(int32_t, const float *input,
                                int64_t num_tokens, int64_t d,
                                const int32_t *expert_ids, int64_t k,
                                int64_t num_experts, float *rows,
                                int32_t *assignments, int32_t *offsets,
                                int32_t *inverse) {
  if (!input || !expert_ids || num_tokens < 0 || d < 0 || k < 1 ||
      num_experts < 1)
    return MOE_ERROR_INVALID_ARGUMENT;
  if (!indicesOk(expert_ids, num_tokens * k, num_experts))
    return MOE_ERROR_INDEX_OUT_OF_RANGE;
  cudaStream_t s = callStream();
  int64_t slots = num_tokens * k;
  DeviceBuffer<float> dInput, dRows;
  DeviceBuffer<int32_t> dIds, dAssignments, dOffsets, dInverse;
  MOE_TRY(upload(dInput, input, num_tokens * d));
  MOE_TRY(upload(dIds, expert_ids, slots));
  MOE_TRY(dAssignments.allocate(slots, s));
  MOE_TRY(dOffsets.allocate(num_experts + 1, s));
  MOE_TRY(dInverse.allocate(slots, s));
  MOE_TRY(dRows.allocate(slots * d, s));
  MOE_TRY(moe_cuda_permute(s, dIds.get(), num_tokens, k, num_experts,
                           dAssignments.get(), dOffsets.get(),
                           dInverse.get()));
  MOE_TRY(moe_cuda_gather_rows_f32(s, dInput.get(), num_tokens, d,
                                   dAssignments.get(), k, dRows.get()));
  MOE_TRY(download(rows, dRows, slots * d));
  MOE_TRY(download(assignments, dAssignments, slots));
  MOE_TRY(download(offsets, dOffsets, num_experts + 1));
  MOE_TRY(download(inverse, dInverse, slots));
  return finish();
}

// The grouped matmul, expert-chain and layer entry points per weight type
// (the argument lists convert-moe-to-runtime emits): ARG is the C type of
// the weights, W the one the kernels read.
#define MOE_EXPERT_ARGS(ARG)                                                   \
  const ARG *w1, int64_t m1, const float *b1, int32_t act1, float alpha1,      \
      float beta1, float limit1, int32_t w1_constant, const ARG *w2,           \
      int64_t m2, const float *b2, int32_t act2, float alpha2, float beta2,    \
      float limit2, int32_t w2_constant
#define MOE_EXPERT_WEIGHTS(W)                                                  \
  {reinterpret_cast<const W *>(w1), m1, b1, {act1, alpha1, beta1, limit1},     \
   w1_constant != 0, reinterpret_cast<const W *>(w2), m2, b2,                  \
   {act2, alpha2, beta2, limit2}, w2_constant != 0}
#define MOE_ROUTING_ARGS                                                       \
  const float *router, const float *router_bias, int64_t num_experts,         \
      int32_t kind, int32_t k, int32_t renormalize, int32_t n_group,           \
      int32_t topk_group, int32_t group_mask, int32_t num_shared,              \
      int32_t shared_gate, float scale, const float *correction_bias,          \
      int32_t layer, const char *layer_name
#define MOE_FUSED_ROUTING                                                      \
  {router,                                                                     \
   router_bias,                                                                \
   routingParams(kind, k, renormalize, n_group, topk_group, group_mask,       \
                 num_shared, shared_gate, scale),                              \
   correction_bias,                                                            \
   layer,                                                                      \
   layer_name}
#define MOE_WEIGHT_TYPE_ENTRY_POINTS(SUFFIX, ARG, W)                           \
  int32_t moe_cuda_cc_grouped_matmul_##SUFFIX(                                 \
      int32_t, const float *rows, int64_t num_rows, int64_t k_dim,             \
      const ARG *weights, int64_t num_experts, int64_t m_dim,                  \
      const int32_t *offsets, const float *bias, int32_t activation,           \
      float alpha, float beta, float limit, float *out, const int32_t *,       \
      const float *combine_weights, const int32_t *combine_inverse,            \
      int64_t num_tokens, int64_t k, int32_t weights_constant) {               \
    return groupedMatmul(rows, num_rows, k_dim,                                \
                         reinterpret_cast<const W *>(weights),                 \
                         weights_constant != 0, num_experts, m_dim, offsets,   \
                         bias, activation, alpha, beta, limit, out,            \
                         combine_weights, combine_inverse, num_tokens, k);     \
  }                                                                            \
  int32_t moe_cuda_cc_experts_##SUFFIX(                                        \
      int32_t, const float *input, int64_t num_tokens, int64_t d,              \
      const int32_t *expert_ids, const float *combine_weights, int64_t k,      \
      int64_t num_experts, MOE_EXPERT_ARGS(ARG), float *out) {                 \
    return experts<W>(input, num_tokens, d, expert_ids, combine_weights, k,    \
                      num_experts, MOE_EXPERT_WEIGHTS(W), out);                \
  }                                                                            \
  int32_t moe_cuda_cc_layer_##SUFFIX(                                          \
      int32_t, const float *input, int64_t num_tokens, int64_t d,              \
      MOE_ROUTING_ARGS, MOE_EXPERT_ARGS(ARG), float *out) {                    \
    return runLayer<W>(input, num_tokens, d, num_experts, MOE_FUSED_ROUTING,   \
                    MOE_EXPERT_WEIGHTS(W), out);                               \
  }

MOE_WEIGHT_TYPE_ENTRY_POINTS(f32, float, float)
MOE_WEIGHT_TYPE_ENTRY_POINTS(bf16w, uint16_t, __nv_bfloat16)
MOE_WEIGHT_TYPE_ENTRY_POINTS(f16w, uint16_t, __half)

#undef MOE_WEIGHT_TYPE_ENTRY_POINTS
#undef MOE_EXPERT_ARGS
#undef MOE_EXPERT_WEIGHTS
#undef MOE_ROUTING_ARGS
#undef MOE_FUSED_ROUTING

int32_t moe_cuda_cc_copy(void *dst, const void *src, int64_t bytes,
                         void *stream) {
  if (bytes < 0 || (bytes > 0 && (!dst || !src)))
    return MOE_ERROR_INVALID_ARGUMENT;
  // The calls before it left their work in flight on this thread's
  // stream (finish), which `stream` is not ordered after: it is done
  // first - and a kernel's fault surfaces here.
  MOE_TRY(synchronize());
  cudaStream_t s = asStream(stream);
  if (bytes > 0)
    MOE_TRY(check(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes),
                                  cudaMemcpyDefault, s)));
  return check(cudaStreamSynchronize(s));
}

void *moe_cuda_cc_device_alloc(size_t bytes) {
  keepPoolMemory();
  void *pointer = nullptr;
  if (cudaMallocAsync(&pointer, bytes > 0 ? bytes : 1, callStream()) !=
      cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  return pointer;
}

void moe_cuda_cc_device_free(void *pointer) {
  if (pointer)
    cudaFreeAsync(pointer, callStream());
}

int32_t moe_cuda_cc_preload(int32_t, const void *weights, int64_t bytes) {
  if (!weights || bytes < 0)
    return MOE_ERROR_INVALID_ARGUMENT;
  const void *device = nullptr;
  return constants().get(weights, static_cast<size_t>(bytes), &device);
}

int32_t moe_cuda_cc_combine_f32(int32_t, const float *rows, int64_t num_rows,
                                int64_t d, const float *weights,
                                const int32_t *inverse, int64_t num_tokens,
                                int64_t k, float *out) {
  if (!rows || !weights || !inverse || !out || num_rows < 0 || d < 0 ||
      num_tokens < 0 || k < 1)
    return MOE_ERROR_INVALID_ARGUMENT;
  if (!indicesOk(inverse, num_tokens * k, num_rows))
    return MOE_ERROR_INDEX_OUT_OF_RANGE;
  cudaStream_t s = callStream();
  DeviceBuffer<float> dRows, dWeights;
  DeviceBuffer<int32_t> dInverse;
  Result<> result;
  MOE_TRY(upload(dRows, rows, num_rows * d));
  MOE_TRY(upload(dWeights, weights, num_tokens * k));
  MOE_TRY(upload(dInverse, inverse, num_tokens * k));
  MOE_TRY(result.prepare(out, num_tokens * d));
  MOE_TRY(moe_cuda_combine_f32(s, dRows.get(), num_rows, d, dWeights.get(),
                               dInverse.get(), num_tokens, k, result.get()));
  MOE_TRY(result.deliver());
  return finish();
}

} // extern "C"
