//===- FusedAttention.cuh - What the attention kernels share ----*- C++ -*-===//
//
// The launch arguments and row bookkeeping of moe_cuda_attention_f32's
// kernels: the f32 SIMT kernel (FusedAttention.cu, every shape, decode's
// key splits) and the tensor-core one (FusedAttentionMma.cu, 16-bit
// precision at prefill).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_FUSEDATTENTION_CUH
#define MOE_RUNTIME_CUDA_FUSEDATTENTION_CUH

#include "Attention.h"
#include "Convert.cuh"
#include "CudaSupport.h"

namespace moe::runtime::cuda {

struct AttentionArgs {
  AttentionShape s;
  float alpha;
  const float *q;
  const void *k, *v; // kvType's elements (the kernels' template argument)
  const float *bias; // an additive mask (s.bias: its strides), or null
  void *out;
  int32_t outType; // out's elements (MOE_CUDA_ELEMENT_*)
  /// Split keys (the SIMT kernel): each split's partial rows ([split][k/v
  /// head of a batch][group row][valueDim + 2]: outputs, max, sum), and
  /// the tiles' counters (null: attentionMerge merges).
  int64_t keysPerSplit;
  float *partials;
  int *counters;
  /// The tensor-core kernel: q's, and k's and v's rows staged 16 bytes at
  /// a time (aligned, whole words).
  bool vectorQ = false, vectorKv = false;
};

/// Row r of k/v head `kvHead`'s group (r = g * queries + t: query t of
/// its g-th q head) as (q head, query).
struct GroupRow {
  int64_t head, query;
};

__device__ inline GroupRow groupRow(const AttentionShape &s, int64_t kvHead,
                                    int64_t r) {
  return {kvHead * s.group + r / s.queries, r % s.queries};
}

/// A finished row: outputs / sum; a row whose keys were all masked NaN
/// (the softmax of -inf scores), a call without keys zeros (the product
/// of empty matrices).
__device__ inline float finishedOutput(const AttentionShape &s, float output,
                                       float sum) {
  if (s.keys == 0)
    return 0.0f;
  return sum > 0.0f ? output / sum : NAN;
}

/// Where row `row` of out starts: its first element's index.
__device__ inline int64_t outputRow(const AttentionArgs &p, int64_t b,
                                    GroupRow row) {
  const AttentionShape &s = p.s;
  return b * s.out[0] + row.head * s.out[1] + row.query * s.out[2];
}

/// out[i] = value in out's type (rounded when 16-bit: the activations of
/// the projection after the attention, which rounds them anyway).
__device__ inline void storeOutput(const AttentionArgs &p, int64_t i,
                                   float value) {
  switch (p.outType) {
  case MOE_CUDA_ELEMENT_BF16:
    static_cast<__nv_bfloat16 *>(p.out)[i] = fromFloat<__nv_bfloat16>(value);
    break;
  case MOE_CUDA_ELEMENT_F16:
    static_cast<__half *>(p.out)[i] = fromFloat<__half>(value);
    break;
  default:
    static_cast<float *>(p.out)[i] = value;
  }
}

/// The additive mask's value at (b, row, key), 0 without one.
__device__ inline float maskBias(const AttentionArgs &p, int64_t b,
                                 GroupRow row, int64_t key) {
  const AttentionShape &s = p.s;
  return p.bias ? p.bias[b * s.bias[0] + row.head * s.bias[1] +
                         row.query * s.bias[2] + key * s.bias[3]]
                : 0.0f;
}

/// Whether the tensor-core kernel takes a call of `precision` with k and v
/// of `kvType` (MOE_CUDA_ELEMENT_*): a 16-bit precision, k and v in f32
/// or that type, heads at most MOE_CUDA_MAX_MMA_ATTENTION_HEAD_DIM wide,
/// and at least a tile of rows per k/v head (decode's few rows keep the
/// SIMT kernel, which splits the keys over blocks instead).
bool mmaAttentionApplies(const AttentionShape &s, int32_t precision,
                         int32_t kvType);

/// Launches it (grid: the groups' 64-row tiles by batch * kvHeads).
moe_status launchMmaAttention(cudaStream_t stream, const AttentionArgs &args,
                              int32_t precision, int32_t kvType);

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_FUSEDATTENTION_CUH
