//===- IndexMath.h - Index math of the CUDA kernels -------------*- C++ -*-===//
//
// The index math of the CUDA kernels, apart from them so that the
// host-side test (test/Runtime/CUDA/TileLayoutTest.cpp) can check it
// without a GPU: the grouped matmuls' tiles, the permutation's ranks and
// offsets, the router GEMV's grid and partial sums, the fused attention's
// key splits. For the matmuls: which
// rows a row tile covers, where a 16-byte chunk of an
// operand tile lives in shared memory (XOR-swizzled so that ldmatrix reads
// eight rows without bank conflicts), which shared-memory row each lane
// hands to ldmatrix, and which weight columns a warp's n8 tiles cover.
//
// The bf16 mma.sync kernel (GroupedMatmulMma.cu) works on
//   A: a kBlockM x 32 tile of rows (bf16, row-major, 4 chunks per row),
//   B: a 32 x 128 tile of weights (bf16, row-major, 16 chunks per row);
// for a gated activation the first 64 columns of B are gate columns and
// the last 64 the matching up columns, and every warp owns as many up n8
// tiles as gate ones, at the same positions, so that act(gate, up) meets
// both accumulators in one thread.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_INDEXMATH_H
#define MOE_RUNTIME_CUDA_INDEXMATH_H

#include <cstdint>

#ifdef __CUDACC__
#define MOE_HOST_DEVICE __host__ __device__
#else
#define MOE_HOST_DEVICE
#endif

namespace moe::runtime::cuda::tiles {

/// The (expert, first row, end row) of row tile `tile` when every
/// expert's segment [offsets[e], offsets[e+1]) is cut into tiles of
/// `tileRows` rows (the last one short: padded by index, not by copying);
/// false past the last tile.
MOE_HOST_DEVICE inline bool locateTile(const int32_t *offsets, int numExperts,
                                       int64_t tileRows, int64_t tile,
                                       int &expert, int64_t &rowBegin,
                                       int64_t &rowEnd) {
  int64_t seen = 0;
  for (int e = 0; e < numExperts; ++e) {
    int64_t rows = offsets[e + 1] - offsets[e];
    int64_t tiles = (rows + tileRows - 1) / tileRows;
    if (tile < seen + tiles) {
      expert = e;
      rowBegin = offsets[e] + (tile - seen) * tileRows;
      rowEnd = rowBegin + tileRows < offsets[e + 1] ? rowBegin + tileRows
                                                    : offsets[e + 1];
      return true;
    }
    seen += tiles;
  }
  return false;
}

/// An upper bound of the row tiles of `numRows` rows in `numExperts`
/// segments, whatever their split (the grid's row extent; -1 for bad
/// arguments): sum_e ceil(n_e / t) <= sum_e (n_e / t + 1), and never more
/// tiles than rows.
MOE_HOST_DEVICE constexpr int64_t maxRowTiles(int64_t numRows,
                                              int64_t numExperts,
                                              int64_t tileRows) {
  if (numRows < 0 || numExperts < 1 || tileRows < 1)
    return -1;
  int64_t bound = (numRows + tileRows - 1) / tileRows + numExperts;
  return bound < numRows ? bound : numRows;
}

constexpr int kMmaTileK = 32;      // k per pipeline stage
constexpr int kMmaTileN = 128;     // weight columns per block
constexpr int kMmaThreads = 256;   // 8 warps
constexpr int kChunk = 8;          // bf16 elements per 16-byte chunk
constexpr int kAChunksPerRow = kMmaTileK / kChunk;  // 4
constexpr int kBChunksPerRow = kMmaTileN / kChunk;  // 16

/// A block of 8 warps as WarpsM x (8 / WarpsM), each warp owning
/// MTiles m16 tiles of rows and 128 / (8 / WarpsM) weight columns.
template <int WarpsM, int MTiles> struct MmaShape {
  static constexpr int kWarpsM = WarpsM;
  static constexpr int kWarpsN = 8 / WarpsM;
  static constexpr int kMTiles = MTiles;
  static constexpr int kBlockM = WarpsM * MTiles * 16;
  static constexpr int kWarpCols = kMmaTileN / kWarpsN;
  static constexpr int kNTiles = kWarpCols / 8;
  static_assert(kNTiles % 2 == 0, "n8 tiles are loaded in pairs");
  static constexpr int kAElements = kBlockM * kMmaTileK;
  static constexpr int kBElements = kMmaTileK * kMmaTileN;
};

/// Element offset of chunk `chunk` of A tile row `row`: chunks are
/// permuted within the row by bits 1-2 of the row, so that the 8 rows one
/// ldmatrix phase reads (64 bytes apart) hit 8 different bank groups.
MOE_HOST_DEVICE constexpr int aOffset(int row, int chunk) {
  return row * kMmaTileK + ((chunk ^ ((row >> 1) & 3)) * kChunk);
}

/// Element offset of chunk `chunk` of B tile row `k` (rows 256 bytes
/// apart: permuted by the low 3 bits of k).
MOE_HOST_DEVICE constexpr int bOffset(int k, int chunk) {
  return k * kMmaTileN + ((chunk ^ (k & 7)) * kChunk);
}

/// First B tile column of n8 tile `j` of warp column `warpCol`. Gated: the
/// warp's first half of n8 tiles are gate columns in [0, 64), the second
/// half the up columns 64 further.
template <typename Shape>
MOE_HOST_DEVICE constexpr int nTileColumn(int warpCol, int j, bool gated) {
  if (!gated)
    return warpCol * Shape::kWarpCols + 8 * j;
  constexpr int half = Shape::kNTiles / 2;
  int gateCol = warpCol * (Shape::kWarpCols / 2) + 8 * (j % half);
  return j < half ? gateCol : kMmaTileN / 2 + gateCol;
}

/// The A tile element offset lane `lane` passes to
/// ldmatrix.x4 for m16 tile `mi` at k step `kStep` (16 k each): matrices
/// 0-3 are (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15),
/// (rows 8-15, k 8-15), so the four registers are mma's a0..a3.
template <typename Shape>
MOE_HOST_DEVICE constexpr int aLdmatrixOffset(int lane, int warpRow, int mi,
                                              int kStep) {
  int matrix = lane / 8;
  int row = warpRow * Shape::kMTiles * 16 + mi * 16 + (matrix & 1) * 8 +
            lane % 8;
  return aOffset(row, kStep * 2 + (matrix >> 1));
}

/// The B tile element offset lane `lane` passes to ldmatrix.x4.trans for
/// the pair of n8 tiles (2 * pair, 2 * pair + 1) at k step `kStep`:
/// matrices 0-3 are (k 0-7, tile 2p), (k 8-15, tile 2p), (k 0-7, tile
/// 2p+1), (k 8-15, tile 2p+1), so the registers are b0, b1 of each tile.
template <typename Shape>
MOE_HOST_DEVICE constexpr int bLdmatrixOffset(int lane, int warpCol, int pair,
                                              int kStep, bool gated) {
  int matrix = lane / 8;
  int k = kStep * 16 + (matrix & 1) * 8 + lane % 8;
  int col = nTileColumn<Shape>(warpCol, 2 * pair + (matrix >> 1), gated);
  return bOffset(k, col / kChunk);
}

/// The weight column (within one expert's [K, M] matrix) of B tile column
/// `col` of the block whose first output column is `col0`; the gate and up
/// halves of a gated activation sit `outCols` apart.
MOE_HOST_DEVICE constexpr int64_t weightColumn(int64_t col0, int col,
                                               bool gated, int64_t outCols) {
  if (!gated)
    return col0 + col;
  return col < kMmaTileN / 2 ? col0 + col : outCols + col0 + col - kMmaTileN / 2;
}

/// The output column (from the block's first, `col0`) that B tile column
/// `col` feeds: itself, or for a gated activation the gate column it or
/// its up twin (64 further) belongs to.
MOE_HOST_DEVICE constexpr int64_t outputColumn(int64_t col0, int col,
                                               bool gated) {
  return col0 + (gated ? col % (kMmaTileN / 2) : col);
}

/// Row (in the block) and B tile column of accumulator element `e` (of 4)
/// of m16 tile `mi` and n8 tile `nj` in lane `lane`: the mma.m16n8 C
/// layout, element 2h + c at row g + 8h, column 2t + c.
template <typename Shape>
MOE_HOST_DEVICE constexpr int accumulatorRow(int warpRow, int lane, int mi,
                                             int e) {
  return warpRow * Shape::kMTiles * 16 + mi * 16 + lane / 4 + 8 * (e / 2);
}
template <typename Shape>
MOE_HOST_DEVICE constexpr int accumulatorColumn(int warpCol, int lane, int nj,
                                                int e, bool gated) {
  return nTileColumn<Shape>(warpCol, nj, gated) + 2 * (lane % 4) + e % 2;
}

/// Output columns one block covers.
MOE_HOST_DEVICE constexpr int blockOutputCols(bool gated) {
  return gated ? kMmaTileN / 2 : kMmaTileN;
}

/// How many blocks share each tile's K (split-K) so that a launch of
/// `blocks` tiles still fills `sms` multiprocessors twice over: decode's
/// few rows leave the down projection with a handful of column tiles, each
/// streaming a whole [K, 128] slice of weights on one SM. Each split keeps
/// at least 4 of the `kTiles` k tiles; at most 16 splits.
MOE_HOST_DEVICE constexpr int splitK(int64_t blocks, int64_t sms,
                                     int64_t kTiles) {
  if (blocks <= 0 || blocks >= 2 * sms || kTiles < 8)
    return 1;
  int64_t wanted = (2 * sms + blocks - 1) / blocks;
  int64_t most = kTiles / 4 < 16 ? kTiles / 4 : 16;
  return int(wanted < most ? wanted : most);
}

/// How the fused attention kernel (FusedAttention.cu) splits the keys over
/// blocks: `keysPerSplit` (a multiple of `tile`, the keys it stages at a
/// time) in each of `splits`. Decode has a block or two per k/v head -
/// too few for the GPU's `sms` - so the keys are split until there are
/// about two blocks per multiprocessor, each split at least `minKeys` keys
/// (its partial results cost a write and a read); the splits' partial
/// softmaxes are merged after (flash-decoding).
struct AttentionSplit {
  int64_t keysPerSplit = 0;
  int64_t splits = 1;
};

MOE_HOST_DEVICE constexpr AttentionSplit
attentionSplit(int64_t blocks, int64_t keys, int64_t sms, int64_t tile,
               int64_t minKeys) {
  AttentionSplit split;
  split.keysPerSplit = keys;
  if (blocks < 1 || keys <= minKeys || blocks >= sms)
    return split;
  int64_t wanted = (2 * sms + blocks - 1) / blocks;
  int64_t most = keys / minKeys;
  int64_t splits = wanted < most ? wanted : most;
  int64_t perSplit = (keys + splits - 1) / splits;
  split.keysPerSplit = (perSplit + tile - 1) / tile * tile;
  split.splits = (keys + split.keysPerSplit - 1) / split.keysPerSplit;
  return split;
}

// The wgmma kernel (GroupedMatmulWgmma.cu, sm_90a): a producer warpgroup
// (one thread issuing TMA loads) and two consumer warpgroups of m64: 128
// rows x 128 weight columns x 64 k per stage, operands in shared memory
// in wgmma's 128-byte-swizzled canonical layouts (what TMA writes for a
// box of 128 bytes per row with the 128-byte swizzle):
//   A (rows, K-major): row r of 64 k at r * 128 bytes, its 16-byte chunk c
//     at chunk c ^ (r % 8); 8-row groups 1024 bytes apart.
//   B (weights, MN-major: [K, M] rows as they are, read transposed): two
//     atoms of 64 columns (gate and up for a gated activation), 8192 bytes
//     apart, each k row of 64 columns at k * 128 bytes, chunk c at
//     c ^ (k % 8).
constexpr int kWgmmaTileM = 128, kWgmmaTileN = 128, kWgmmaTileK = 64;
constexpr int kWgmmaThreads = 384;    // producer + 2 consumer warpgroups
constexpr int kWgmmaAtomBytes = 1024; // 8 rows of 128 bytes

/// Whether the wgmma kernel (opted in) takes a launch: its 128-row tiles
/// where the mma.sync kernel would pick its 128-row blocks too (more than
/// 96 rows per expert); fewer rows - decode - keep mma.sync's smaller
/// blocks and split-K, which the wgmma kernel has not.
MOE_HOST_DEVICE constexpr bool wgmmaTakes(int64_t numRows, int64_t numExperts) {
  return numExperts > 0 && numRows / numExperts > 96;
}

/// Byte offset of element (row, k) of the A tile.
MOE_HOST_DEVICE constexpr int wgmmaAOffset(int row, int k) {
  return row * 128 + (((k / 8) ^ (row % 8)) * 16) + (k % 8) * 2;
}

/// Byte offset of element (k, col) of the B tile (col in [0, 128)).
MOE_HOST_DEVICE constexpr int wgmmaBOffset(int k, int col) {
  return (col / 64) * (kWgmmaTileK * 128) + k * 128 +
         ((((col % 64) / 8) ^ (k % 8)) * 16) + (col % 8) * 2;
}

/// A wgmma shared-memory matrix descriptor with 128-byte swizzling: start
/// address, leading and stride byte offsets (all in 16-byte units, 14
/// bits each at bits 0, 16 and 32), swizzle mode 1 at bits 62-63.
MOE_HOST_DEVICE constexpr uint64_t wgmmaDescriptor(uint32_t sharedAddress,
                                                   uint32_t leadingBytes,
                                                   uint32_t strideBytes) {
  return uint64_t((sharedAddress & 0x3FFFF) >> 4) |
         (uint64_t((leadingBytes >> 4) & 0x3FFF) << 16) |
         (uint64_t((strideBytes >> 4) & 0x3FFF) << 32) | (uint64_t(1) << 62);
}

/// A operand of k step s (16 k): K-major, 8-row groups 1024 bytes apart,
/// the leading offset unused with this swizzle (1 by convention); a k step
/// moves the start 32 bytes along the row.
MOE_HOST_DEVICE constexpr uint64_t wgmmaADescriptor(uint32_t tileAddress,
                                                    int warpgroup, int kStep) {
  return wgmmaDescriptor(tileAddress + warpgroup * 64 * 128 + kStep * 32, 16,
                         kWgmmaAtomBytes);
}

/// B operand of k step s: MN-major, the two 64-column atoms 8192 bytes
/// apart (leading), 8-k-row groups 1024 bytes apart (stride); a k step
/// moves the start 16 rows down.
MOE_HOST_DEVICE constexpr uint64_t wgmmaBDescriptor(uint32_t tileAddress,
                                                    int kStep) {
  return wgmmaDescriptor(tileAddress + kStep * 16 * 128, kWgmmaTileK * 128,
                         kWgmmaAtomBytes);
}

/// Row and column (in the warpgroup's 64 x 128 tile) of accumulator
/// register i of lane `lane` in warp `warp` (of 4) for m64n128 f32: the
/// mma.m16n8 C layout per warp, repeated over 16 column chunks of 8.
MOE_HOST_DEVICE constexpr int wgmmaAccRow(int warp, int lane, int i) {
  return warp * 16 + lane / 4 + 8 * ((i / 2) % 2);
}
MOE_HOST_DEVICE constexpr int wgmmaAccCol(int lane, int i) {
  return 8 * (i / 4) + 2 * (lane % 4) + i % 2;
}

// The permutation (Routing.cu): expert e's block walks the T * k slots in
// chunks of kPermuteThreads, one slot per thread; each warp's matches
// (slots of expert e) are one ballot mask, and a matching thread's place
// among the chunk's matches counts the matches of the threads before it.
constexpr int kPermuteThreads = 256;
constexpr int kPermuteWarps = kPermuteThreads / 32;

MOE_HOST_DEVICE inline int popCount(uint32_t bits) {
#ifdef __CUDA_ARCH__
  return __popc(bits);
#else
  return __builtin_popcount(bits);
#endif
}

/// The rank of thread (warp, lane) among its chunk's matches, from every
/// warp's ballot: the matches of the lanes below it and of the warps before.
MOE_HOST_DEVICE inline int chunkRank(const uint32_t *ballots, int warp,
                                     int lane) {
  int rank = popCount(ballots[warp] & ((1u << lane) - 1u));
  for (int w = 0; w < warp; ++w)
    rank += popCount(ballots[w]);
  return rank;
}

/// The chunk's matches.
MOE_HOST_DEVICE inline int chunkMatches(const uint32_t *ballots) {
  int total = 0;
  for (int w = 0; w < kPermuteWarps; ++w)
    total += popCount(ballots[w]);
  return total;
}

/// offsets[0] = 0, offsets[e + 1] = offsets[e] + counts[e].
MOE_HOST_DEVICE inline void exclusiveOffsets(const int32_t *counts,
                                             int numExperts,
                                             int32_t *offsets) {
  int32_t sum = 0;
  offsets[0] = 0;
  for (int e = 0; e < numExperts; ++e)
    offsets[e + 1] = sum += counts[e];
}

// The router's logits for a few tokens (Routing.cu, decode): a GEMV over
// the router [d, C], each block a slab of 32 columns (a warp's lanes, one
// coalesced 128-byte row segment per load) and a contiguous range of d,
// the ranges' partial sums added in a second pass when d is split.
constexpr int kRouterGemvMaxTokens = 8;
constexpr int kRouterGemvColumns = 32;
constexpr int kRouterGemvWarps = 8;

/// Rows of d per block so that `columnBlocks` slabs times the splits fill
/// `sms` multiprocessors about twice (decode's router is one GEMV whose
/// slabs alone would leave most of the GPU idle), with at least 256 rows
/// per split (a split's partial sums cost a pass) and at most 32 splits.
/// The splits are then ceil(d / rows), none empty.
MOE_HOST_DEVICE constexpr int64_t routerRowsPerSplit(int64_t columnBlocks,
                                                     int64_t sms, int64_t d) {
  if (d <= 0)
    return 1;
  int64_t wanted = columnBlocks >= 2 * sms
                       ? 1
                       : (2 * sms + columnBlocks - 1) / columnBlocks;
  int64_t most = d / 256 > 1 ? d / 256 : 1;
  int64_t splits = wanted < most ? wanted : most;
  splits = splits < 32 ? splits : 32;
  return (d + splits - 1) / splits;
}

/// The router GEMV's launch: column slabs (blockIdx.x) by splits of d
/// (blockIdx.y) of `rows` rows each.
struct RouterGemvGrid {
  int64_t columnBlocks, rows, splits;
};
MOE_HOST_DEVICE constexpr RouterGemvGrid routerGemvGrid(int64_t columns,
                                                        int64_t sms,
                                                        int64_t d) {
  int64_t columnBlocks = (columns + kRouterGemvColumns - 1) / kRouterGemvColumns;
  int64_t rows = routerRowsPerSplit(columnBlocks, sms, d);
  return {columnBlocks, rows, d > 0 ? (d + rows - 1) / rows : 1};
}

/// One thread's sums for the T tokens: column `c`, the rows of its block's
/// split [begin, end) dealt round-robin to the warps, `warp`'s share.
template <int T>
MOE_HOST_DEVICE inline void routerGemvSums(const float *x, int64_t d,
                                           const float *router,
                                           int64_t columns, int64_t c,
                                           int64_t begin, int64_t end,
                                           int warp, float (&acc)[T]) {
  for (int t = 0; t < T; ++t)
    acc[t] = 0.0f;
  if (c >= columns)
    return;
#ifdef __CUDA_ARCH__
#pragma unroll 4
#endif
  for (int64_t i = begin + warp; i < end; i += kRouterGemvWarps) {
    float r = router[i * columns + c];
    for (int t = 0; t < T; ++t)
      acc[t] += x[t * d + i] * r;
  }
}

/// Where block row `split` puts token t's sum for column c: partials
/// [splits, T, C] (the logits [T, C] themselves for one split).
MOE_HOST_DEVICE constexpr int64_t routerPartialIndex(int64_t split, int tokens,
                                                     int t, int64_t columns,
                                                     int64_t c) {
  return (split * tokens + t) * columns + c;
}

} // namespace moe::runtime::cuda::tiles

#endif // MOE_RUNTIME_CUDA_INDEXMATH_H
