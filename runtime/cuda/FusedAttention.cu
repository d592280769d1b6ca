//===- FusedAttention.cu - softmax(q . k^T) . v in one launch -------------===//
//
// moe_cuda_attention_f32: an attention block's scores, (causal) softmax
// and value product as one kernel that never writes the scores out (flash
// attention's online softmax): the three launches and the [t, keys]
// scores of each head (at T = 4096, 64 MiB a head) become one launch and
// registers.
//
// A block takes kRows rows of one k/v head's group - the queries of the
// q heads sharing it (grouped-query attention: each key and value staged
// once for all of them) - and walks the keys kKeys at a time: the block
// stages the keys' k and v rows in shared memory, then each warp, for
// each of its rows, scores the kKeys keys (a lane each), updates the
// row's running max and sum of exponentials, rescales the row's outputs
// (value_dim / 32 per lane, in registers) and adds the keys' values in.
// A causal mask ends each row's keys early (and the block's walk at its
// last row's end); nothing past it is read. An additive mask (padding,
// HF's prepared 4-d masks) is added to each score as it is computed.
//
// Heads wider than MOE_CUDA_MAX_ATTENTION_HEAD_DIM (more than a warp's
// registers hold) take the three launches: cuBLAS, softmax, cuBLAS.
//
// Decode has one row per q head: a block or two per k/v head, too few for
// the GPU, so the keys are split over blocks (attentionSplit) and each
// writes its rows' partial softmax (outputs, max, sum); the last split of
// a tile to arrive merges them (counters, as split-K's), or a second
// launch does on streams without counters (flash-decoding).
//
//===----------------------------------------------------------------------===//

#include "FusedAttention.cuh"

#include <algorithm>

using namespace moe::runtime::cuda;

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kRows = 16; // a block's rows
constexpr int kRowsPerWarp = kRows / kWarps;
constexpr int kKeys = 32; // keys staged at a time: a lane each
constexpr int kColsPerLane = int(kMaxAttentionDim) / 32;
/// Fewest keys a split takes (attentionSplit).
constexpr int64_t kMinSplitKeys = 64;

__device__ float warpMax(float value) {
  for (int offset = 16; offset > 0; offset /= 2)
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

__device__ float warpSum(float value) {
  for (int offset = 16; offset > 0; offset /= 2)
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

/// Where split `split`'s partial row r of the block's k/v head lives.
__device__ float *partialRow(const AttentionArgs &p, int64_t split, int64_t r) {
  int64_t groupRows = p.s.group * p.s.queries;
  return p.partials + ((split * gridDim.y + blockIdx.y) * groupRows + r) *
                          (p.s.valueDim + 2);
}

/// Merges the splits' partial rows [first, end) of the block's k/v head
/// into out: a warp per row.
__device__ void mergeRows(const AttentionArgs &p, int64_t splits, int64_t first,
                          int64_t end) {
  const AttentionShape &s = p.s;
  int64_t b = blockIdx.y / s.kvHeads, kvHead = blockIdx.y % s.kvHeads;
  int lane = threadIdx.x % 32;
  for (int64_t r = first + threadIdx.x / 32; r < end; r += blockDim.x / 32) {
    float max = -INFINITY;
    for (int64_t z = 0; z < splits; ++z)
      max = fmaxf(max, partialRow(p, z, r)[s.valueDim]);
    float sum = 0.0f;
    for (int64_t z = 0; z < splits; ++z) {
      const float *partial = partialRow(p, z, r);
      if (partial[s.valueDim] > -INFINITY)
        sum += partial[s.valueDim + 1] * expf(partial[s.valueDim] - max);
    }
    int64_t out = outputRow(p, b, groupRow(s, kvHead, r));
    for (int64_t c = lane; c < s.valueDim; c += 32) {
      float value = 0.0f;
      for (int64_t z = 0; z < splits; ++z) {
        const float *partial = partialRow(p, z, r);
        if (partial[s.valueDim] > -INFINITY)
          value += partial[c] * expf(partial[s.valueDim] - max);
      }
      storeOutput(p, out + c, finishedOutput(s, value, sum));
    }
  }
}

/// Grid: (row tiles of a group, batch * kvHeads, splits of the keys).
/// k and v in KV: f32, or a 16-bit KV cache (widened as staged).
template <typename KV>
__global__ void __launch_bounds__(kThreads) attentionKernel(AttentionArgs p) {
  const AttentionShape &s = p.s;
  MOE_DYNAMIC_SHARED(shared, 16);
  float *qStaged = reinterpret_cast<float *>(shared); // [kRows][dim]
  float *kStaged = qStaged + kRows * s.dim;           // [kKeys][dim + 1]
  float *vStaged = kStaged + kKeys * (s.dim + 1);     // [kKeys][valueDim]
  int64_t groupRows = s.group * s.queries;
  int64_t row0 = int64_t(blockIdx.x) * kRows;
  int64_t rows = std::min<int64_t>(kRows, groupRows - row0);
  int64_t b = blockIdx.y / s.kvHeads, kvHead = blockIdx.y % s.kvHeads;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  // Rows staged a warp per row, a lane per column (no index division).
  int dim = int(s.dim), valueDim = int(s.valueDim);
  for (int r = warp; r < rows; r += kWarps) {
    GroupRow row = groupRow(s, kvHead, row0 + r);
    const float *q = p.q + b * s.q[0] + row.head * s.q[1] + row.query * s.q[2];
    for (int c = lane; c < dim; c += 32)
      qStaged[r * dim + c] = q[c];
  }
  // This split's keys, up to the last its rows keep.
  int64_t keyBegin = int64_t(blockIdx.z) * p.keysPerSplit;
  int64_t keyEnd = std::min(s.keys, keyBegin + p.keysPerSplit);
  int64_t blockEnd = 0;
  for (int64_t r = row0; r < row0 + rows; ++r)
    blockEnd = std::max(
        blockEnd, causalEnd(s.mask, groupRow(s, kvHead, r).query, s.keys));
  keyEnd = std::min(keyEnd, blockEnd);

  float max[kRowsPerWarp], sum[kRowsPerWarp], acc[kRowsPerWarp][kColsPerLane];
#pragma unroll
  for (int w = 0; w < kRowsPerWarp; ++w) {
    max[w] = -INFINITY;
    sum[w] = 0.0f;
#pragma unroll
    for (int i = 0; i < kColsPerLane; ++i)
      acc[w][i] = 0.0f;
  }
  const KV *k = static_cast<const KV *>(p.k) + b * s.k[0] + kvHead * s.k[1];
  const KV *v = static_cast<const KV *>(p.v) + b * s.v[0] + kvHead * s.v[1];
  for (int64_t key0 = keyBegin; key0 < keyEnd; key0 += kKeys) {
    int n = int(std::min<int64_t>(kKeys, keyEnd - key0));
    __syncthreads(); // the previous keys' readers are done
    for (int j = warp; j < n; j += kWarps) {
      const KV *kRow = k + (key0 + j) * s.k[2];
      const KV *vRow = v + (key0 + j) * s.v[2];
      for (int c = lane; c < dim; c += 32)
        kStaged[j * (dim + 1) + c] = toFloat(kRow[c]);
      for (int c = lane; c < valueDim; c += 32)
        vStaged[j * valueDim + c] = toFloat(vRow[c]);
    }
    __syncthreads();
#pragma unroll
    for (int w = 0; w < kRowsPerWarp; ++w) {
      int r = warp + w * kWarps; // the block's row (the whole warp's)
      if (r >= rows)
        break;
      GroupRow row = groupRow(s, kvHead, row0 + r);
      int64_t end = causalEnd(s.mask, row.query, s.keys);
      float score = -INFINITY;
      if (lane < n && key0 + lane < end) {
        // (k's rows padded by one: the lanes' rows in different banks.)
        const float *qRow = qStaged + r * dim;
        const float *kRow = kStaged + lane * (dim + 1);
        float dot = 0.0f;
        for (int c = 0; c < dim; ++c)
          dot += qRow[c] * kRow[c];
        score = p.alpha * dot;
        score += maskBias(p, b, row, key0 + lane);
      }
      float newMax = fmaxf(max[w], warpMax(score));
      if (newMax == -INFINITY)
        continue; // every key so far masked (the whole warp's row)
      float weight = score == -INFINITY ? 0.0f : expf(score - newMax);
      float rescale = expf(max[w] - newMax); // 0 while max is -inf
      sum[w] = sum[w] * rescale + warpSum(weight);
      max[w] = newMax;
#pragma unroll
      for (int i = 0; i < kColsPerLane; ++i)
        acc[w][i] *= rescale;
      for (int j = 0; j < n; ++j) {
        float wj = __shfl_sync(0xffffffffu, weight, j);
#pragma unroll
        for (int i = 0; i < kColsPerLane; ++i) {
          int c = lane + 32 * i;
          if (c < valueDim)
            acc[w][i] += wj * vStaged[j * valueDim + c];
        }
      }
    }
  }

  if (gridDim.z == 1) {
#pragma unroll
    for (int w = 0; w < kRowsPerWarp; ++w) {
      int r = warp + w * kWarps;
      if (r >= rows)
        break;
      int64_t out = outputRow(p, b, groupRow(s, kvHead, row0 + r));
#pragma unroll
      for (int i = 0; i < kColsPerLane; ++i) {
        int c = lane + 32 * i;
        if (c < s.valueDim)
          storeOutput(p, out + c, finishedOutput(s, acc[w][i], sum[w]));
      }
    }
    return;
  }
#pragma unroll
  for (int w = 0; w < kRowsPerWarp; ++w) {
    int r = warp + w * kWarps;
    if (r >= rows)
      break;
    float *partial = partialRow(p, blockIdx.z, row0 + r);
#pragma unroll
    for (int i = 0; i < kColsPerLane; ++i) {
      int c = lane + 32 * i;
      if (c < s.valueDim)
        partial[c] = acc[w][i];
    }
    if (lane == 0) {
      partial[s.valueDim] = max[w];
      partial[s.valueDim + 1] = sum[w];
    }
  }
  if (!p.counters)
    return; // attentionMerge merges
  // The tile's last split to arrive merges (split-K's __threadfence
  // pattern, GroupedMatmulMma.cu) and resets the counter.
  __shared__ bool lastSplit;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    int *counter = p.counters + int64_t(blockIdx.y) * gridDim.x + blockIdx.x;
    lastSplit = atomicAdd(counter, 1) == int(gridDim.z) - 1;
    if (lastSplit)
      *counter = 0;
  }
  __syncthreads();
  if (!lastSplit)
    return;
  __threadfence();
  mergeRows(p, gridDim.z, row0, row0 + rows);
}

/// The merge on streams without counters: grid (row tiles, batch *
/// kvHeads), as the attention's.
__global__ void __launch_bounds__(kThreads)
    attentionMerge(AttentionArgs p, int64_t splits) {
  int64_t row0 = int64_t(blockIdx.x) * kRows;
  mergeRows(p, splits, row0,
            std::min<int64_t>(row0 + kRows, p.s.group * p.s.queries));
}

/// Heads wider than the kernel takes: the scores through cuBLAS into
/// scratch, the softmax kernel on them in place, the values' product
/// through cuBLAS - per member g of the kv heads' groups (q's head kv *
/// group + g at a stride of group heads, which a strided batch takes).
moe_status attentionUnfused(cudaStream_t stream, const AttentionShape &s,
                            float alpha, const float *q, const float *k,
                            const float *v, const float *bias, float *out) {
  int64_t matrix = s.queries * s.keys;
  DeviceBuffer<float> scores;
  MOE_TRY(scores.allocate(s.batch * s.heads * matrix, stream));
  for (int64_t g = 0; g < s.group; ++g)
    MOE_TRY(moe_cuda_matmul_f32(stream, 0, 1, alpha, s.batch, s.kvHeads,
                                s.queries, s.keys, s.dim, q + g * s.q[1],
                                s.q[2], s.q[0], s.group * s.q[1], k, s.k[2],
                                s.k[0], s.k[1], scores.get() + g * matrix,
                                s.keys, s.heads * matrix, s.group * matrix));
  if (bias && matrix > 0) {
    // (In place: each element is read and written by one thread.)
    const int64_t shape[] = {s.batch, s.heads, s.queries, s.keys};
    const int64_t flat[] = {s.heads * matrix, matrix, s.keys, 1};
    MOE_TRY(moe_cuda_binary_f32(stream, MOE_CUDA_BINARY_ADD, 4, shape,
                                scores.get(), flat, bias, s.bias,
                                scores.get()));
  }
  if (matrix > 0) {
    int64_t rows = s.batch * s.heads * s.queries;
    MOE_TRY(s.mask.matrixRows > 0
                ? moe_cuda_causal_softmax_f32(stream, scores.get(), rows,
                                              s.keys, s.queries, s.mask.k,
                                              scores.get())
                : moe_cuda_softmax_f32(stream, scores.get(), rows, s.keys,
                                       scores.get()));
  }
  for (int64_t g = 0; g < s.group; ++g)
    MOE_TRY(moe_cuda_matmul_f32(
        stream, 0, 0, 1.0f, s.batch, s.kvHeads, s.queries, s.valueDim, s.keys,
        scores.get() + g * matrix, s.keys, s.heads * matrix, s.group * matrix,
        v, s.v[2], s.v[0], s.v[1], out + g * s.out[1], s.out[2], s.out[0],
        s.group * s.out[1]));
  return MOE_OK;
}

int sharedBytes(int64_t dim, int64_t valueDim) {
  return int(sizeof(float) *
             (kRows * dim + kKeys * (dim + 1) + kKeys * valueDim));
}

/// The values a view of [batch, heads, rows, width] at `strides` spans in
/// its buffer (a dense buffer's view: all of them).
int64_t viewExtent(const int64_t (&strides)[3], int64_t batch, int64_t heads,
                   int64_t rows, int64_t width) {
  return (batch - 1) * strides[0] + (heads - 1) * strides[1] +
         (rows - 1) * strides[2] + width;
}

/// A 16-bit k or v (`kvType`) widened into f32 `scratch` for
/// attentionUnfused's GEMMs, at the same strides (rows of `width`).
moe_status widenRows(cudaStream_t stream, int32_t kvType,
                     const AttentionShape &s, const int64_t (&strides)[3],
                     int64_t width, const void *x, DeviceBuffer<float> &scratch,
                     const float *&widened) {
  if (kvType == MOE_CUDA_ELEMENT_F32) {
    widened = static_cast<const float *>(x);
    return MOE_OK;
  }
  int64_t extent = viewExtent(strides, s.batch, s.kvHeads, s.keys, width);
  MOE_TRY(scratch.allocate(extent, stream));
  MOE_TRY(moe_cuda_cast(stream, castOf(kvType, /*widen=*/true), extent, x,
                        scratch.get()));
  widened = scratch.get();
  return MOE_OK;
}

/// The SIMT kernel (and the merge of its key splits) on k and v in KV.
template <typename KV>
moe_status launchSimt(cudaStream_t st, AttentionArgs &args) {
  const AttentionShape &s = args.s;
  int64_t groupRows = s.group * s.queries;
  int64_t rowTiles = (groupRows + kRows - 1) / kRows;
  int64_t kvBlocks = s.batch * s.kvHeads;
  if (rowTiles > INT32_MAX || kvBlocks > 65535)
    return MOE_ERROR_INVALID_ARGUMENT;
  tiles::AttentionSplit split = tiles::attentionSplit(
      rowTiles * kvBlocks, s.keys, multiprocessors(), kKeys, kMinSplitKeys);
  args.keysPerSplit = split.keysPerSplit;
  DeviceBuffer<float> partials; // freed in stream order after the merge
  if (split.splits > 1) {
    MOE_TRY(partials.allocate(
        split.splits * kvBlocks * groupRows * (s.valueDim + 2), st));
    args.partials = partials.get();
    MOE_TRY(splitCounters(st, rowTiles * kvBlocks, args.counters));
  }
  int bytes = sharedBytes(s.dim, s.valueDim);
  if (bytes > 48 * 1024)
    MOE_TRY(allowDynamicSharedMemory(
        reinterpret_cast<const void *>(attentionKernel<KV>),
        sharedBytes(kMaxAttentionDim, kMaxAttentionDim)));
  dim3 grid{unsigned(rowTiles), unsigned(kvBlocks), unsigned(split.splits)};
  MOE_LAUNCH(grid, kThreads, size_t(bytes), st, attentionKernel<KV>)(args);
  if (split.splits > 1 && !args.counters)
    MOE_LAUNCH(dim3(unsigned(rowTiles), unsigned(kvBlocks)), kThreads, 0, st,
               attentionMerge)
  (args, split.splits);
  return launched();
}

} // namespace

extern "C" moe_status moe_cuda_attention_f32(
    void *stream, int64_t batch, int64_t heads, int64_t kv_heads,
    int64_t queries, int64_t keys, int64_t head_dim, int64_t value_dim,
    float alpha, int32_t precision, int32_t kv_type, const float *q,
    const int64_t *q_strides, const void *k, const int64_t *k_strides,
    const void *v, const int64_t *v_strides, int32_t causal, int64_t causal_k,
    const float *bias, const int64_t *bias_strides, int32_t out_type, void *out,
    const int64_t *out_strides) {
  if (batch < 0 || heads < 0 || kv_heads < 1 || heads % kv_heads != 0 ||
      queries < 0 || keys < 0 || head_dim < 1 || value_dim < 1 || !q_strides ||
      !k_strides || !v_strides || !out_strides || (bias && !bias_strides) ||
      !validElementType(precision) || !validElementType(kv_type) ||
      !validElementType(out_type))
    return MOE_ERROR_INVALID_ARGUMENT;
  AttentionShape s;
  s.batch = batch;
  s.heads = heads;
  s.kvHeads = kv_heads;
  s.group = heads / kv_heads;
  s.queries = queries;
  s.keys = keys;
  s.dim = head_dim;
  s.valueDim = value_dim;
  std::copy(q_strides, q_strides + 3, s.q);
  std::copy(k_strides, k_strides + 3, s.k);
  std::copy(v_strides, v_strides + 3, s.v);
  std::copy(out_strides, out_strides + 3, s.out);
  if (bias)
    std::copy(bias_strides, bias_strides + 4, s.bias);
  if (causal)
    s.mask = CausalMask{queries, causal_k};
  int64_t groupRows = s.group * queries;
  if (batch == 0 || groupRows == 0)
    return MOE_OK;
  if (!out || (keys > 0 && (!q || !k || !v)))
    return MOE_ERROR_INVALID_ARGUMENT;
  cudaStream_t st = asStream(stream);
  if (head_dim > kMaxAttentionDim || value_dim > kMaxAttentionDim) {
    DeviceBuffer<float> kScratch, vScratch; // freed in stream order
    const float *kf = nullptr, *vf = nullptr;
    if (keys > 0) {
      MOE_TRY(widenRows(st, kv_type, s, s.k, head_dim, k, kScratch, kf));
      MOE_TRY(widenRows(st, kv_type, s, s.v, value_dim, v, vScratch, vf));
    }
    if (out_type == MOE_CUDA_ELEMENT_F32)
      return attentionUnfused(st, s, alpha, q, kf, vf, bias,
                              static_cast<float *>(out));
    // A 16-bit out: the f32 result at the same strides, then rounded (out
    // is a view of a dense buffer: its extent is its elements).
    int64_t extent = viewExtent(s.out, batch, heads, queries, value_dim);
    DeviceBuffer<float> wide;
    MOE_TRY(wide.allocate(extent, st));
    MOE_TRY(attentionUnfused(st, s, alpha, q, kf, vf, bias, wide.get()));
    return moe_cuda_cast(st, castOf(out_type, /*widen=*/false), extent,
                         wide.get(), out);
  }
  AttentionArgs args{s,   alpha,    q,    k,       v,      bias,
                     out, out_type, keys, nullptr, nullptr};
  if (mmaAttentionApplies(s, precision, kv_type))
    return launchMmaAttention(st, args, precision, kv_type);
  return withElementType(kv_type, [&](auto element) {
    return launchSimt<decltype(element)>(st, args);
  });
}
