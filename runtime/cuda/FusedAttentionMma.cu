//===- FusedAttentionMma.cu - Prefill attention on tensor cores -----------===//
//
// moe_cuda_attention_f32 with 16-bit precision (MOE_CUDA_ELEMENT_BF16 /
// _F16: what a model compiled with 16-bit weights asks for) at prefill:
// flash attention 2's forward pass on mma.sync m16n8k16. The SIMT kernel
// (FusedAttention.cu) does a row's 2 * keys * head_dim multiply-adds per
// lane on CUDA cores; at T = 4096 attention would outweigh the whole MoE
// layer there.
//
// A block of 4 warps takes 64 rows of one k/v head's group (16 a warp;
// grouped-query heads share the staged keys, as in the SIMT kernel) and
// walks the keys 64 at a time: q, k and v are read as f32 (through their
// views), rounded to the 16-bit type into shared memory (rows padded by
// 16 bytes: ldmatrix's 8 rows land in different banks), q once into
// registers as A fragments. Per key tile each warp computes its 16 x 64
// scores (q . k^T: k's rows are the B operand as they lie), masks them
// (causal end, additive mask, keys past the tile), updates each row's
// running max (a quad of lanes holds a row: two shuffles), rescales its
// outputs, and feeds the rounded exponentials - the scores' accumulator
// fragments are the A fragments of the value product, no shuffling -
// into P . v (v's rows through ldmatrix.trans). Accumulation in f32.
//
//===----------------------------------------------------------------------===//

#include "FusedAttention.cuh"
#include "Mma.cuh"
#include "Vector.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

using namespace moe::runtime::cuda;

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kRows = 16 * kWarps; // a block's rows: 16 a warp
constexpr int kKeys = 64;          // keys staged at a time
/// The widest head in 16-column tiles.
constexpr int kMaxTiles = MOE_CUDA_MAX_MMA_ATTENTION_HEAD_DIM / 16;

/// A staged row's stride in elements: the head's tiles and 16 bytes.
template <int Tiles> constexpr int kStride = Tiles * 16 + 8;

template <int Tiles>
constexpr int kSharedBytes = 2 * (kRows + 2 * kKeys) * kStride<Tiles>;

/// Stages one row of `width` T values (null: none) as a 16-bit row of
/// the tile's columns, zeros past `width`, by a warp: with `vector` (the
/// row 16-byte aligned, width a multiple of 16 bytes' values) 16 bytes a
/// lane at a time - a 16-bit row of Element's type copied as it is.
template <typename Element, int Tiles, typename T>
__device__ void stageRow(uint16_t *staged, const T *row, int width,
                         bool vector) {
  int lane = threadIdx.x % 32;
  if (!vector) {
    for (int c = lane; c < Tiles * 16; c += 32)
      staged[c] = bitsOf<Element>(row && c < width ? toFloat(row[c]) : 0.0f);
    return;
  }
  constexpr int kValues = 16 / int(sizeof(T));
  for (int c = kValues * lane; c < Tiles * 16; c += 32 * kValues) {
    uint4 word = {0, 0, 0, 0};
    if (row && c < width)
      word = loadVector<uint4>(row + c);
    if constexpr (std::is_same_v<T, float>) {
      // Four f32 values: four 16-bit ones, 8 bytes.
      const float *values = reinterpret_cast<const float *>(&word);
      uint2 bits{uint32_t(bitsOf<Element>(values[0])) |
                     uint32_t(bitsOf<Element>(values[1])) << 16,
                 uint32_t(bitsOf<Element>(values[2])) |
                     uint32_t(bitsOf<Element>(values[3])) << 16};
      storeVector(staged + c, bits);
    } else {
      storeVector(staged + c, word);
    }
  }
}

/// Stages kKeys rows of `width` KV values (row j at base + j * stride) as
/// 16-bit rows of kStride, zeros past `rows` and `width`: a warp per row.
template <typename Element, int Tiles, typename KV>
__device__ void stageRows(uint16_t *staged, const KV *base, int64_t stride,
                          int rows, int width, bool vector) {
  for (int j = threadIdx.x / 32; j < kKeys; j += kWarps)
    stageRow<Element, Tiles>(staged + j * kStride<Tiles>,
                             j < rows ? base + j * stride : nullptr, width,
                             vector);
}

/// Grid: (64-row tiles of a group, batch * kvHeads). k and v in KV (f32,
/// or Element: a 16-bit KV cache, staged as it is).
template <typename Element, int Tiles, typename KV>
__global__ void __launch_bounds__(kThreads) attentionMma(AttentionArgs p) {
#if MOE_CUDA_ARCH_AT_LEAST(800)
  constexpr int kStrideE = kStride<Tiles>;
  const AttentionShape &s = p.s;
  MOE_DYNAMIC_SHARED(shared, 16);
  uint16_t *qStaged = reinterpret_cast<uint16_t *>(shared); // [kRows]
  uint16_t *kStaged = qStaged + kRows * kStrideE;           // [kKeys]
  uint16_t *vStaged = kStaged + kKeys * kStrideE;           // [kKeys]
  int64_t groupRows = s.group * s.queries;
  int64_t row0 = int64_t(blockIdx.x) * kRows;
  int rows = int(std::min<int64_t>(kRows, groupRows - row0));
  int64_t b = blockIdx.y / s.kvHeads, kvHead = blockIdx.y % s.kvHeads;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int dim = int(s.dim), valueDim = int(s.valueDim);
  int dimTiles = (dim + 15) / 16, valueTiles = (valueDim + 15) / 16;

  for (int r = warp; r < kRows; r += kWarps) {
    const float *q = nullptr;
    if (r < rows) {
      GroupRow row = groupRow(s, kvHead, row0 + r);
      q = p.q + b * s.q[0] + row.head * s.q[1] + row.query * s.q[2];
    }
    stageRow<Element, Tiles>(qStaged + r * kStrideE, q, dim, p.vectorQ);
  }
  // This thread's rows of the warp's 16 (lane / 4 and 8 more: the
  // accumulator fragments' rows) and where their keys end.
  GroupRow row[2];
  int64_t end[2];
  int quadLane = lane % 4;
  for (int h = 0; h < 2; ++h) {
    int r = 16 * warp + lane / 4 + 8 * h;
    row[h] = groupRow(s, kvHead, row0 + std::min(r, rows - 1));
    end[h] = r < rows ? causalEnd(s.mask, row[h].query, s.keys) : 0;
  }
  int64_t blockEnd = 0;
  for (int64_t r = row0; r < row0 + rows; ++r)
    blockEnd = std::max(
        blockEnd, causalEnd(s.mask, groupRow(s, kvHead, r).query, s.keys));
  __syncthreads();
  uint32_t qFragments[Tiles][4];
#pragma unroll
  for (int t = 0; t < Tiles; ++t)
    if (t < dimTiles)
      ldmatrixX4(qFragments[t], qStaged + (16 * warp + lane % 16) * kStrideE +
                                    16 * t + (lane / 16) * 8);

  float out[2 * Tiles][4] = {}, max[2] = {-INFINITY, -INFINITY},
                sum[2] = {0.0f, 0.0f};
  const KV *k = static_cast<const KV *>(p.k) + b * s.k[0] + kvHead * s.k[1];
  const KV *v = static_cast<const KV *>(p.v) + b * s.v[0] + kvHead * s.v[1];
  for (int64_t key0 = 0; key0 < blockEnd; key0 += kKeys) {
    int n = int(std::min<int64_t>(kKeys, blockEnd - key0));
    __syncthreads(); // the previous keys' readers are done
    stageRows<Element, Tiles>(kStaged, k + key0 * s.k[2], s.k[2], n, dim,
                              p.vectorKv);
    stageRows<Element, Tiles>(vStaged, v + key0 * s.v[2], s.v[2], n, valueDim,
                              p.vectorKv);
    __syncthreads();

    // Scores: 8 tiles of 8 keys; ldmatrix's four 8 x 8 matrices are keys
    // 16 j.. and 16 j + 8.., head columns 16 t.. and 16 t + 8.. each.
    float scores[8][4] = {};
#pragma unroll
    for (int t = 0; t < Tiles; ++t) {
      if (t >= dimTiles)
        break;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        uint32_t kf[4];
        ldmatrixX4(kf, kStaged +
                           (16 * j + lane % 8 + (lane / 16) * 8) * kStrideE +
                           16 * t + ((lane / 8) % 2) * 8);
        mma16816<Element>(scores[2 * j], qFragments[t], kf[0], kf[1]);
        mma16816<Element>(scores[2 * j + 1], qFragments[t], kf[2], kf[3]);
      }
    }
    // Element e of tile j: row h = e / 2, key 8 j + 2 (lane % 4) + e % 2.
    float tileMax[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int h = e / 2;
        int64_t key = key0 + 8 * j + 2 * quadLane + e % 2;
        float score = -INFINITY;
        if (key < end[h]) // (end <= blockEnd: the staged keys')
          score = p.alpha * scores[j][e] + maskBias(p, b, row[h], key);
        scores[j][e] = score;
        tileMax[h] = fmaxf(tileMax[h], score);
      }
    float base[2], rescale[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      tileMax[h] =
          fmaxf(tileMax[h], __shfl_xor_sync(0xffffffffu, tileMax[h], 1));
      tileMax[h] =
          fmaxf(tileMax[h], __shfl_xor_sync(0xffffffffu, tileMax[h], 2));
      float newMax = fmaxf(max[h], tileMax[h]);
      // (While every key so far is masked, no -inf - -inf.)
      base[h] = newMax == -INFINITY ? 0.0f : newMax;
      rescale[h] = expf(max[h] - base[h]); // 0 while max is -inf
      max[h] = newMax;
      sum[h] *= rescale[h];
    }
#pragma unroll
    for (int t = 0; t < 2 * Tiles; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        out[t][e] *= rescale[e / 2];
    // The weights, rounded as the tensor cores take them (the sum adds
    // the rounded ones: the outputs stay a weighted mean of v's rows).
    auto weights = [&](float x0, float x1, int h) {
      uint16_t lo = bitsOf<Element>(expf(x0 - base[h]));
      uint16_t hi = bitsOf<Element>(expf(x1 - base[h]));
      sum[h] += fromBits<Element>(lo) + fromBits<Element>(hi);
      return uint32_t(lo) | uint32_t(hi) << 16;
    };
    // Keys 16 j.. of the value product: score tiles 2 j and 2 j + 1 are
    // its A fragment; v's matrices keys 16 j.. and 16 j + 8.., value
    // columns 16 t.. and 16 t + 8...
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (16 * j >= n)
        break;
      uint32_t a[4] = {weights(scores[2 * j][0], scores[2 * j][1], 0),
                       weights(scores[2 * j][2], scores[2 * j][3], 1),
                       weights(scores[2 * j + 1][0], scores[2 * j + 1][1], 0),
                       weights(scores[2 * j + 1][2], scores[2 * j + 1][3], 1)};
#pragma unroll
      for (int t = 0; t < Tiles; ++t) {
        if (t >= valueTiles)
          break;
        uint32_t vf[4];
        ldmatrixX4Trans(vf, vStaged +
                                (16 * j + lane % 8 + ((lane / 8) % 2) * 8) *
                                    kStrideE +
                                16 * t + (lane / 16) * 8);
        mma16816<Element>(out[2 * t], a, vf[0], vf[1]);
        mma16816<Element>(out[2 * t + 1], a, vf[2], vf[3]);
      }
    }
  }

  // A row's sum is spread over its quad's lanes.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 1);
    sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 2);
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (16 * warp + lane / 4 + 8 * h >= rows)
      continue;
    int64_t o = outputRow(p, b, row[h]);
#pragma unroll
    for (int t = 0; t < 2 * Tiles; ++t)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        int c = 8 * t + 2 * quadLane + e;
        if (c < valueDim)
          storeOutput(p, o + c, finishedOutput(s, out[t][2 * h + e], sum[h]));
      }
  }
#endif
}

template <typename Element, int Tiles, typename KV>
moe_status launch(cudaStream_t stream, const AttentionArgs &args, dim3 grid) {
  const void *kernel =
      reinterpret_cast<const void *>(attentionMma<Element, Tiles, KV>);
  constexpr int bytes = kSharedBytes<Tiles>;
  if (bytes > 48 * 1024)
    MOE_TRY(allowDynamicSharedMemory(kernel, bytes));
  MOE_LAUNCH(grid, kThreads, size_t(bytes), stream,
             attentionMma<Element, Tiles, KV>)
  (args);
  return launched();
}

template <typename Element, typename KV>
moe_status launchFor(cudaStream_t stream, const AttentionArgs &args,
                     dim3 grid) {
  int64_t widest = std::max(args.s.dim, args.s.valueDim);
  if (widest <= 16)
    return launch<Element, 1, KV>(stream, args, grid);
  if (widest <= 32)
    return launch<Element, 2, KV>(stream, args, grid);
  if (widest <= 64)
    return launch<Element, 4, KV>(stream, args, grid);
  return launch<Element, kMaxTiles, KV>(stream, args, grid);
}

/// k and v in f32 or, a 16-bit KV cache, the precision's own type.
template <typename Element>
moe_status launchFor(cudaStream_t stream, const AttentionArgs &args, dim3 grid,
                     int32_t kvType) {
  return kvType == MOE_CUDA_ELEMENT_F32
             ? launchFor<Element, float>(stream, args, grid)
             : launchFor<Element, Element>(stream, args, grid);
}

} // namespace

bool moe::runtime::cuda::mmaAttentionApplies(const AttentionShape &s,
                                             int32_t precision,
                                             int32_t kvType) {
  return (precision == MOE_CUDA_ELEMENT_BF16 ||
          precision == MOE_CUDA_ELEMENT_F16) &&
         (kvType == MOE_CUDA_ELEMENT_F32 || kvType == precision) &&
         s.dim <= 16 * kMaxTiles && s.valueDim <= 16 * kMaxTiles &&
         s.group * s.queries >= kRows;
}

moe_status moe::runtime::cuda::launchMmaAttention(cudaStream_t stream,
                                                  const AttentionArgs &args,
                                                  int32_t precision,
                                                  int32_t kvType) {
  const AttentionShape &s = args.s;
  int64_t rowTiles = (s.group * s.queries + kRows - 1) / kRows;
  int64_t kvBlocks = s.batch * s.kvHeads;
  if (rowTiles > INT32_MAX || kvBlocks > 65535)
    return MOE_ERROR_INVALID_ARGUMENT;
  dim3 grid{unsigned(rowTiles), unsigned(kvBlocks)};
  // Rows staged 16 bytes a lane where every row starts 16-byte aligned and
  // holds whole 16-byte words (any real head dim).
  AttentionArgs staged = args;
  int64_t kvBytes = kvType == MOE_CUDA_ELEMENT_F32 ? 4 : 2;
  staged.vectorQ = wholeWords(args.q, 4, {s.q[0], s.q[1], s.q[2], s.dim});
  staged.vectorKv =
      wholeWords(args.k, kvBytes, {s.k[0], s.k[1], s.k[2], s.dim}) &&
      wholeWords(args.v, kvBytes, {s.v[0], s.v[1], s.v[2], s.valueDim});
  return precision == MOE_CUDA_ELEMENT_F16
             ? launchFor<__half>(stream, staged, grid, kvType)
             : launchFor<__nv_bfloat16>(stream, staged, grid, kvType);
}
