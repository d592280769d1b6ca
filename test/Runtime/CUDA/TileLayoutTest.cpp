//===- TileLayoutTest.cpp - Host check of the mma.sync kernel's index math ===//
//
// Runs the index math of runtime/cuda/IndexMath.h on the host, for
// every block shape, warp, lane and k step, against the PTX ISA's
// definitions of what ldmatrix hands each lane and what mma.m16n8k16
// expects in it (written out independently below):
//   - every 16-byte chunk of an A or B tile has its own place in shared
//     memory, inside the tile;
//   - the registers ldmatrix(.trans) gives each lane, from the addresses
//     the lanes pass, are exactly the A and B fragment elements;
//   - each 8-lane ldmatrix phase touches 8 different bank groups;
//   - the warps' n8 tiles cover the 128 weight columns once, gate and up
//     tiles 64 apart, and the epilogue writes each output of a block once;
//   - row tiles cover every row of every segment once, within
//     maxRowTiles; split-K's k ranges cover every k tile once;
//   - the permutation's ballot ranks, chunk totals and offsets place the
//     slots in a stable sort by expert;
//   - the wgmma kernel's tiles are the canonical 128-byte-swizzled layouts
//     its descriptors describe;
//   - the router GEMV's splits of d cover every row once, and the kernel
//     run block by block (its per-thread sums and partial layout) equals a
//     double-precision matmul;
//   - the fused attention's key splits cover every key once.
// Prints one OK line per check; exits 1 with the first mismatch.
//
//===----------------------------------------------------------------------===//

#include "IndexMath.h"

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <set>
#include <vector>

using namespace moe::runtime::cuda::tiles;

namespace {

#define EXPECT(cond, ...)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
      std::printf(__VA_ARGS__);                                                \
      std::printf("\n");                                                       \
      std::exit(1);                                                            \
    }                                                                          \
  } while (false)

/// A tile in "shared memory": each element holds the id of the logical
/// element stored there (-1: nothing).
struct Shared {
  std::vector<int> cells;
  explicit Shared(int size) : cells(size, -1) {}
};

/// Stores logical element ids row * cols + c of a rows x cols tile through
/// `offset(row, chunk)`, checking that chunks land inside and apart.
template <typename Offset>
Shared store(int rows, int cols, Offset offset) {
  Shared s(rows * cols);
  for (int r = 0; r < rows; ++r)
    for (int chunk = 0; chunk < cols / kChunk; ++chunk) {
      int at = offset(r, chunk);
      EXPECT(at % kChunk == 0 && at >= 0 && at + kChunk <= rows * cols,
             "row %d chunk %d at %d", r, chunk, at);
      for (int i = 0; i < kChunk; ++i) {
        EXPECT(s.cells[at + i] == -1, "row %d chunk %d overlaps", r, chunk);
        s.cells[at + i] = r * cols + chunk * kChunk + i;
      }
    }
  return s;
}

/// ldmatrix.x4 as the PTX ISA defines it: lanes 8q..8q+7 give the row
/// addresses of matrix q; without .trans lane i receives, in register q,
/// elements 2(i%4) and 2(i%4)+1 of row i/4; with .trans, element i/4 of
/// rows 2(i%4) and 2(i%4)+1. Returns the ids [lane][register][half].
std::vector<std::array<std::array<int, 2>, 4>>
ldmatrix(const Shared &s, const std::array<int, 32> &address, bool trans) {
  std::vector<std::array<std::array<int, 2>, 4>> regs(32);
  for (int lane = 0; lane < 32; ++lane)
    for (int q = 0; q < 4; ++q)
      for (int h = 0; h < 2; ++h) {
        int row = trans ? 2 * (lane % 4) + h : lane / 4;
        int col = trans ? lane / 4 : 2 * (lane % 4) + h;
        regs[lane][q][h] = s.cells[address[8 * q + row] + col];
      }
  return regs;
}

/// Bank groups (16 bytes each, 8 per 128 bytes) of one phase of 8 rows.
void expectConflictFree(const std::array<int, 32> &address, const char *what) {
  for (int q = 0; q < 4; ++q) {
    std::set<int> groups;
    for (int r = 0; r < 8; ++r)
      groups.insert(address[8 * q + r] * 2 / 16 % 8);
    EXPECT(groups.size() == 8, "%s: matrix %d hits %zu bank groups", what, q,
           groups.size());
  }
}

template <typename Shape> void checkShape(const char *name) {
  for (bool gated : {false, true}) {
    Shared a = store(Shape::kBlockM, kMmaTileK, aOffset);
    Shared b = store(kMmaTileK, kMmaTileN, bOffset);
    std::set<std::pair<int, int>> outputs, partials;
    std::vector<int> columnUses(kMmaTileN, 0);
    for (int warp = 0; warp < 8; ++warp) {
      int warpRow = warp / Shape::kWarpsN, warpCol = warp % Shape::kWarpsN;
      for (int j = 0; j < Shape::kNTiles; ++j) {
        int col = nTileColumn<Shape>(warpCol, j, gated);
        EXPECT(col % 8 == 0 && col >= 0 && col + 8 <= kMmaTileN, "col %d",
               col);
        for (int c = 0; c < 8; ++c)
          ++columnUses[col + c];
        if (gated && j < Shape::kNTiles / 2)
          EXPECT(nTileColumn<Shape>(warpCol, j + Shape::kNTiles / 2, gated) ==
                     col + kMmaTileN / 2,
                 "up tile of %d", j);
      }
      for (int kStep = 0; kStep < kMmaTileK / 16; ++kStep) {
        for (int mi = 0; mi < Shape::kMTiles; ++mi) {
          std::array<int, 32> address;
          for (int lane = 0; lane < 32; ++lane)
            address[lane] = aLdmatrixOffset<Shape>(lane, warpRow, mi, kStep);
          expectConflictFree(address, "A");
          auto regs = ldmatrix(a, address, false);
          int row0 = warpRow * Shape::kMTiles * 16 + mi * 16;
          for (int lane = 0; lane < 32; ++lane) {
            int g = lane / 4, t = lane % 4;
            // mma.m16n8k16 A (row): a0 (g, 2t), a1 (g+8, 2t), a2 (g, 2t+8),
            // a3 (g+8, 2t+8), each with the next k.
            for (int q = 0; q < 4; ++q)
              for (int h = 0; h < 2; ++h) {
                int row = row0 + g + 8 * (q & 1);
                int k = kStep * 16 + 2 * t + 8 * (q >> 1) + h;
                EXPECT(regs[lane][q][h] == row * kMmaTileK + k,
                       "%s A warp %d lane %d a%d.%d", name, warp, lane, q, h);
              }
          }
        }
        for (int pair = 0; pair < Shape::kNTiles / 2; ++pair) {
          std::array<int, 32> address;
          for (int lane = 0; lane < 32; ++lane)
            address[lane] =
                bLdmatrixOffset<Shape>(lane, warpCol, pair, kStep, gated);
          expectConflictFree(address, "B");
          auto regs = ldmatrix(b, address, true);
          for (int lane = 0; lane < 32; ++lane) {
            int g = lane / 4, t = lane % 4;
            // mma.m16n8k16 B (col): b0 (k 2t, n g), b1 (k 2t+8, n g), each
            // with the next k; registers 0-1 tile 2p, 2-3 tile 2p+1.
            for (int q = 0; q < 4; ++q)
              for (int h = 0; h < 2; ++h) {
                int n = nTileColumn<Shape>(warpCol, 2 * pair + q / 2, gated) + g;
                int k = kStep * 16 + 2 * t + 8 * (q & 1) + h;
                EXPECT(regs[lane][q][h] == k * kMmaTileN + n,
                       "%s B warp %d lane %d reg %d.%d gated %d", name, warp,
                       lane, q, h, gated);
              }
          }
        }
      }
      // The epilogue's (row, column) of accumulator element e: the mma
      // C layout (row g + 8h, column 2t + c of element 2h + c) ...
      int outTiles = gated ? Shape::kNTiles / 2 : Shape::kNTiles;
      for (int lane = 0; lane < 32; ++lane)
        for (int mi = 0; mi < Shape::kMTiles; ++mi)
          for (int nj = 0; nj < Shape::kNTiles; ++nj)
            for (int e = 0; e < 4; ++e) {
              int row = accumulatorRow<Shape>(warpRow, lane, mi, e);
              int col = accumulatorColumn<Shape>(warpCol, lane, nj, e, gated);
              int g = lane / 4, t = lane % 4;
              EXPECT(row == warpRow * Shape::kMTiles * 16 + mi * 16 + g +
                                8 * (e / 2) &&
                         col == nTileColumn<Shape>(warpCol, nj, gated) +
                                    2 * t + e % 2,
                     "accumulator layout");
              // ... every B column once per row (split-K's partials) ...
              EXPECT(partials.insert({row, col}).second,
                     "partial (%d, %d) written twice", row, col);
              if (nj >= outTiles)
                continue;
              // ... and each output once, a gate value's up twin in the
              // same element of tile nj + kNTiles / 2, 64 columns on.
              int64_t out = outputColumn(0, col, gated);
              EXPECT(outputs.insert({row, int(out)}).second,
                     "output (%d, %lld) written twice", row, (long long)out);
              if (gated) {
                int up = accumulatorColumn<Shape>(warpCol, lane,
                                                  nj + outTiles, e, gated);
                EXPECT(up == col + kMmaTileN / 2 &&
                           outputColumn(0, up, gated) == out &&
                           weightColumn(0, up, gated, 1000) ==
                               weightColumn(0, col, gated, 1000) + 1000,
                       "up twin of column %d", col);
              }
            }
    }
    for (int c = 0; c < kMmaTileN; ++c)
      EXPECT(columnUses[c] == Shape::kWarpsM, "column %d used %d times", c,
             columnUses[c]);
    EXPECT(int(outputs.size()) == Shape::kBlockM * blockOutputCols(gated),
           "%zu outputs", outputs.size());
    EXPECT(int(partials.size()) == Shape::kBlockM * kMmaTileN, "%zu partials",
           partials.size());
    for (auto [row, col] : outputs)
      EXPECT(row < Shape::kBlockM && col < blockOutputCols(gated),
             "output (%d, %d) outside the block", row, col);
  }
  // The weight columns a gated block reads: gate [col0, col0 + 64), up the
  // same `outCols` further.
  EXPECT(weightColumn(64, 3, true, 1000) == 67 &&
             weightColumn(64, 64 + 3, true, 1000) == 1067 &&
             weightColumn(128, 70, false, 1000) == 198,
         "weightColumn");
  std::printf("OK: %s (block %d rows, %d x %d warps)\n", name, Shape::kBlockM,
              Shape::kWarpsM, Shape::kWarpsN);
}

void checkRowTiles() {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    int experts = 1 + int(rng() % 16);
    int tileRows = std::vector<int>{16, 64, 128}[rng() % 3];
    std::vector<int32_t> offsets(experts + 1, 0);
    for (int e = 0; e < experts; ++e)
      offsets[e + 1] = offsets[e] + int(rng() % 3 == 0 ? 0 : rng() % 300);
    int64_t rows = offsets[experts];
    int64_t bound = maxRowTiles(rows, experts, tileRows);
    std::vector<int> covered(rows, 0);
    for (int64_t tile = 0; tile < bound + 2; ++tile) {
      int expert;
      int64_t begin, end;
      if (!locateTile(offsets.data(), experts, tileRows, tile, expert, begin,
                      end))
        continue;
      EXPECT(tile < bound, "tile %lld past the bound %lld", (long long)tile,
             (long long)bound);
      EXPECT(begin >= offsets[expert] && end <= offsets[expert + 1] &&
                 begin < end && end - begin <= tileRows,
             "tile %lld: [%lld, %lld) of expert %d", (long long)tile,
             (long long)begin, (long long)end, expert);
      for (int64_t r = begin; r < end; ++r)
        ++covered[r];
    }
    for (int64_t r = 0; r < rows; ++r)
      EXPECT(covered[r] == 1, "row %lld covered %d times", (long long)r,
             covered[r]);
  }
  EXPECT(maxRowTiles(-1, 1, 16) == -1 && maxRowTiles(5, 0, 16) == -1 &&
             maxRowTiles(5, 1, 0) == -1 && maxRowTiles(0, 4, 16) == 0 &&
             maxRowTiles(3, 8, 16) == 3,
         "maxRowTiles edges");
  std::printf("OK: row tiles\n");
}

/// Split-K: only launches under two waves split, each split keeps 4 k
/// tiles or more, and the splits' k ranges (kTilesPerSplit each, the last
/// ones possibly empty) cover every k tile once.
void checkSplitK() {
  EXPECT(splitK(300, 132, 448) == 1, "a full launch is not split");
  EXPECT(splitK(64, 132, 448) == 5, "decode's down projection: %d",
         splitK(64, 132, 448));
  EXPECT(splitK(2, 132, 128) == 16, "at most 16 splits");
  EXPECT(splitK(2, 132, 7) == 1, "short K is not split");
  EXPECT(splitK(0, 132, 448) == 1, "no blocks");
  for (int64_t blocks = 1; blocks < 300; blocks += 7)
    for (int64_t kTiles = 0; kTiles < 600; kTiles += 13) {
      int splits = splitK(blocks, 132, kTiles);
      EXPECT(splits >= 1 && splits <= 16, "%d splits", splits);
      if (splits == 1)
        continue;
      EXPECT(blocks < 264 && kTiles / splits >= 4,
             "%lld blocks, %lld k tiles: %d splits", (long long)blocks,
             (long long)kTiles, splits);
      int64_t perSplit = (kTiles + splits - 1) / splits;
      std::vector<int> covered(kTiles, 0);
      for (int z = 0; z < splits; ++z) {
        int64_t first = z * perSplit;
        int64_t count = std::min(kTiles - first, perSplit);
        for (int64_t t = first; t < first + count; ++t)
          ++covered[t];
      }
      for (int64_t t = 0; t < kTiles; ++t)
        EXPECT(covered[t] == 1, "k tile %lld covered %d times", (long long)t,
               covered[t]);
    }
  std::printf("OK: split-K\n");
}

/// The router GEMV's split of d: every row in exactly one non-empty split,
/// at most 32 splits of at least 256 rows (or one), and enough blocks to
/// fill 132 multiprocessors twice when d allows it.
void checkRouterSplits() {
  EXPECT(routerRowsPerSplit(2, 132, 7168) == 256,
         "d 7168 over 2 slabs: 28 splits of 256 rows, not %lld rows",
         (long long)routerRowsPerSplit(2, 132, 7168));
  EXPECT(routerRowsPerSplit(300, 132, 7168) == 7168, "a full launch: %lld",
         (long long)routerRowsPerSplit(300, 132, 7168));
  EXPECT(routerRowsPerSplit(1, 132, 100) == 100, "short d is not split");
  for (int64_t slabs = 1; slabs < 300; slabs += 11)
    for (int64_t d = 1; d < 20000; d = d * 3 + 1) {
      int64_t rows = routerRowsPerSplit(slabs, 132, d);
      int64_t splits = (d + rows - 1) / rows;
      EXPECT(rows >= 1 && splits >= 1 && splits <= 32,
             "%lld slabs, d %lld: %lld rows, %lld splits", (long long)slabs,
             (long long)d, (long long)rows, (long long)splits);
      EXPECT(splits == 1 || rows >= 256, "d %lld: %lld rows per split",
             (long long)d, (long long)rows);
      EXPECT((splits - 1) * rows < d, "d %lld: an empty split", (long long)d);
      if (slabs * 32 <= 264 && d >= 256 * 32)
        EXPECT(slabs * splits >= 264 || splits == 32,
               "%lld slabs, d %lld: %lld blocks", (long long)slabs,
               (long long)d, (long long)(slabs * splits));
    }
  std::printf("OK: router GEMV splits\n");
}

/// The permutation kernels' bookkeeping run on the host as the GPU runs it
/// (Routing.cu's permuteKernel, scanKernel): per expert block, the slots in
/// chunks of kPermuteThreads, each warp's matches a ballot, every matching
/// thread placed at offsets[e] + matches of earlier chunks + chunkRank -
/// against a stable sort by expert: offsets, assignments (slot order within
/// an expert), inverse, every slot placed once.
void checkPermutation() {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 60; ++trial) {
    int experts = 1 + int(rng() % 40);
    int64_t slots = trial % 10 == 0 ? 0 : int64_t(rng() % 2000);
    std::vector<int32_t> ids(slots);
    bool oneExpert = trial % 7 == 3;
    for (int32_t &id : ids)
      id = oneExpert ? experts - 1 : int32_t(rng() % experts);
    // Phase 0: counts; the scan.
    std::vector<int32_t> counts(experts), offsets(experts + 1);
    std::vector<int32_t> assignments(slots, -1), inverse(slots, -1);
    for (int phase = 0; phase < 2; ++phase) {
      for (int expert = 0; expert < experts; ++expert) {
        int64_t seen = 0;
        for (int64_t base = 0; base < slots; base += kPermuteThreads) {
          uint32_t ballots[kPermuteWarps] = {};
          for (int t = 0; t < kPermuteThreads; ++t)
            if (base + t < slots && ids[base + t] == expert)
              ballots[t / 32] |= 1u << (t % 32);
          for (int t = 0; t < kPermuteThreads; ++t) {
            int64_t j = base + t;
            if (phase == 1 && j < slots && ids[j] == expert) {
              int64_t position = offsets[expert] + seen +
                                 chunkRank(ballots, t / 32, t % 32);
              EXPECT(position >= 0 && position < slots &&
                         assignments[position] == -1,
                     "slot %lld placed at %lld twice or outside",
                     (long long)j, (long long)position);
              assignments[position] = int32_t(j);
              inverse[j] = int32_t(position);
            }
          }
          seen += chunkMatches(ballots);
        }
        if (phase == 0)
          counts[expert] = int32_t(seen);
      }
      if (phase == 0)
        exclusiveOffsets(counts.data(), experts, offsets.data());
    }
    std::vector<int32_t> order(slots);
    for (int64_t j = 0; j < slots; ++j)
      order[j] = int32_t(j);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return ids[a] < ids[b]; });
    EXPECT(assignments == order, "trial %d: not the stable sort by expert",
           trial);
    for (int e = 0; e <= experts; ++e)
      EXPECT(offsets[e] == std::count_if(ids.begin(), ids.end(),
                                         [&](int32_t id) { return id < e; }),
             "trial %d: offsets[%d]", trial, e);
    for (int64_t j = 0; j < slots; ++j)
      EXPECT(assignments[inverse[j]] == j, "trial %d: inverse of slot %lld",
             trial, (long long)j);
  }
  std::printf("OK: permutation bookkeeping\n");
}

/// The router GEMV run on the host as the GPU runs it: every block of the
/// grid (column slab x split of d), every thread's sums (routerGemvSums),
/// the warps' sums added in order, written where routerPartialIndex says,
/// then the finishing pass over the splits with the bias - against a
/// double-precision x . router + bias. Catches rows summed twice or never,
/// partials read from the wrong place, the bias added per split.
template <int T>
void checkRouterGemvRun(int64_t d, int64_t columns, int64_t sms,
                        std::mt19937 &rng) {
  std::normal_distribution<float> normal;
  std::vector<float> x(T * d), router(d * columns), bias(columns);
  for (float &v : x)
    v = normal(rng);
  for (float &v : router)
    v = normal(rng);
  for (float &v : bias)
    v = normal(rng);
  RouterGemvGrid grid = routerGemvGrid(columns, sms, d);
  EXPECT(grid.columnBlocks * kRouterGemvColumns >= columns &&
             (grid.columnBlocks - 1) * kRouterGemvColumns < columns,
         "%lld column blocks for %lld columns", (long long)grid.columnBlocks,
         (long long)columns);
  bool whole = grid.splits == 1;
  std::vector<float> out(grid.splits * T * columns, NAN), logits(T * columns);
  for (int64_t bx = 0; bx < grid.columnBlocks; ++bx)
    for (int64_t by = 0; by < grid.splits; ++by) {
      int64_t begin = by * grid.rows, end = std::min(d, begin + grid.rows);
      float sums[kRouterGemvWarps][T][kRouterGemvColumns];
      for (int warp = 0; warp < kRouterGemvWarps; ++warp)
        for (int lane = 0; lane < kRouterGemvColumns; ++lane) {
          float acc[T];
          routerGemvSums<T>(x.data(), d, router.data(), columns,
                            bx * kRouterGemvColumns + lane, begin, end, warp,
                            acc);
          for (int t = 0; t < T; ++t)
            sums[warp][t][lane] = acc[t];
        }
      for (int lane = 0; lane < kRouterGemvColumns; ++lane) {
        int64_t c = bx * kRouterGemvColumns + lane;
        if (c >= columns)
          continue;
        for (int t = 0; t < T; ++t) {
          float s = whole ? bias[c] : 0.0f;
          for (int w = 0; w < kRouterGemvWarps; ++w)
            s += sums[w][t][lane];
          out[routerPartialIndex(by, T, t, columns, c)] = s;
        }
      }
    }
  if (whole) {
    logits.assign(out.begin(), out.end());
  } else {
    for (int64_t i = 0; i < T * columns; ++i) {
      float s = bias[i % columns];
      for (int64_t z = 0; z < grid.splits; ++z)
        s += out[z * T * columns + i];
      logits[i] = s;
    }
  }
  for (int t = 0; t < T; ++t)
    for (int64_t c = 0; c < columns; ++c) {
      double want = bias[c], scale = std::fabs(bias[c]);
      for (int64_t i = 0; i < d; ++i) {
        want += double(x[t * d + i]) * router[i * columns + c];
        scale += std::fabs(double(x[t * d + i]) * router[i * columns + c]);
      }
      float got = logits[t * columns + c];
      EXPECT(std::fabs(got - want) <= 1e-5 * scale + 1e-6,
             "T %d d %lld C %lld (%lld splits): logit (%d, %lld) %g, want %g",
             T, (long long)d, (long long)columns, (long long)grid.splits, t,
             (long long)c, got, want);
    }
}

void checkRouterGemvRuns() {
  std::mt19937 rng(3);
  for (int64_t d : {1, 100, 700, 3000})
    for (int64_t columns : {1, 33, 64, 257}) {
      checkRouterGemvRun<1>(d, columns, 132, rng);
      checkRouterGemvRun<3>(d, columns, 132, rng);
      checkRouterGemvRun<8>(d, columns, 16, rng);
    }
  std::printf("OK: router GEMV runs\n");
}

/// The 128-byte swizzle wgmma applies to a shared-memory address (its
/// Swizzle<3,4,3>): the 16-byte chunk bits 4-6 XOR the 128-byte row bits
/// 7-9.
uint32_t swizzle128(uint32_t address) {
  return address ^ (((address >> 7) & 7) << 4);
}

/// wgmma (sm_90a): the tiles the copies write are the canonical layouts the
/// descriptors describe. Element addresses are computed from each
/// descriptor's fields as the PTX ISA / CUTLASS canonical layouts define
/// them (K-major: rows 128 bytes apart within an 8-row group, groups SBO
/// apart; MN-major: 64 columns contiguous per atom, atoms LBO apart, k rows
/// 128 bytes apart, 8-row groups SBO apart), then swizzled, and must land
/// where the copies put that element; the accumulators cover the tile once.
void checkWgmma() {
  auto field = [](uint64_t descriptor, int shift) {
    return uint32_t((descriptor >> shift) & 0x3FFF) << 4;
  };
  EXPECT(wgmmaDescriptor(0x1000, 16, 1024) ==
             (0x100ull | (1ull << 16) | (64ull << 32) | (1ull << 62)),
         "descriptor bits");
  for (int row = 0; row < kWgmmaTileM; ++row)
    for (int k = 0; k < kWgmmaTileK; ++k)
      EXPECT(uint32_t(wgmmaAOffset(row, k)) == swizzle128(row * 128 + k * 2),
             "A (%d, %d)", row, k);
  for (int k = 0; k < kWgmmaTileK; ++k)
    for (int col = 0; col < kWgmmaTileN; ++col)
      EXPECT(uint32_t(wgmmaBOffset(k, col)) ==
                 swizzle128((col / 64) * kWgmmaTileK * 128 + k * 128 +
                            (col % 64) * 2),
             "B (%d, %d)", k, col);
  for (int warpgroup = 0; warpgroup < 2; ++warpgroup)
    for (int step = 0; step < kWgmmaTileK / 16; ++step) {
      uint64_t a = wgmmaADescriptor(0, warpgroup, step);
      uint32_t start = field(a, 0), sbo = field(a, 32);
      for (int m = 0; m < 64; ++m)
        for (int k = 0; k < 16; ++k) {
          uint32_t address =
              swizzle128(start + (m % 8) * 128 + (m / 8) * sbo + k * 2);
          EXPECT(address == uint32_t(wgmmaAOffset(warpgroup * 64 + m,
                                                  step * 16 + k)),
                 "A descriptor: warpgroup %d step %d (%d, %d)", warpgroup,
                 step, m, k);
        }
    }
  for (int step = 0; step < kWgmmaTileK / 16; ++step) {
    uint64_t b = wgmmaBDescriptor(0, step);
    uint32_t start = field(b, 0), lbo = field(b, 16), sbo = field(b, 32);
    for (int k = 0; k < 16; ++k)
      for (int n = 0; n < kWgmmaTileN; ++n) {
        uint32_t address = swizzle128(start + (n % 64) * 2 + (n / 64) * lbo +
                                      (k % 8) * 128 + (k / 8) * sbo);
        EXPECT(address == uint32_t(wgmmaBOffset(step * 16 + k, n)),
               "B descriptor: step %d (%d, %d)", step, k, n);
      }
  }
  std::set<std::pair<int, int>> covered;
  for (int warp = 0; warp < 4; ++warp)
    for (int lane = 0; lane < 32; ++lane)
      for (int i = 0; i < 64; ++i) {
        int row = wgmmaAccRow(warp, lane, i), col = wgmmaAccCol(lane, i);
        EXPECT(row < 64 && col < kWgmmaTileN, "accumulator (%d, %d)", row,
               col);
        EXPECT(covered.insert({row, col}).second, "(%d, %d) twice", row, col);
        if (i < 32)
          EXPECT(wgmmaAccRow(warp, lane, i + 32) == row &&
                     wgmmaAccCol(lane, i + 32) == col + 64,
                 "up of %d", i);
      }
  std::printf("OK: wgmma layouts\n");
}

} // namespace

/// The fused attention's key splits: every key in exactly one split (a
/// whole number of staged tiles each, none empty), at least minKeys keys a
/// split unless there is one, one split once the blocks fill the GPU, and
/// about two blocks per multiprocessor when the keys allow.
void checkAttentionSplits() {
  constexpr int64_t tile = 32, minKeys = 64;
  for (int64_t sms : {1, 108, 132})
    for (int64_t blocks : {1, 2, 7, 8, 40, 131, 132, 500})
      for (int64_t keys : {0, 1, 31, 64, 65, 100, 300, 4096, 32768, 100003}) {
        AttentionSplit s = attentionSplit(blocks, keys, sms, tile, minKeys);
        EXPECT(s.splits >= 1, "%lld splits", (long long)s.splits);
        if (s.splits == 1) {
          EXPECT(s.keysPerSplit >= keys, "one split of %lld keys < %lld",
                 (long long)s.keysPerSplit, (long long)keys);
        } else {
          EXPECT(s.keysPerSplit % tile == 0 && s.keysPerSplit >= minKeys,
                 "splits of %lld keys", (long long)s.keysPerSplit);
          // Each split starts before the end: none empty, all covered.
          EXPECT((s.splits - 1) * s.keysPerSplit < keys &&
                     s.splits * s.keysPerSplit >= keys,
                 "%lld splits of %lld keys for %lld", (long long)s.splits,
                 (long long)s.keysPerSplit, (long long)keys);
          EXPECT(blocks < sms, "split though %lld blocks fill %lld SMs",
                 (long long)blocks, (long long)sms);
          EXPECT(blocks * s.splits <= 2 * sms + blocks,
                 "%lld blocks x %lld splits overfill %lld SMs",
                 (long long)blocks, (long long)s.splits, (long long)sms);
        }
        // Enough keys for two blocks per SM: every SM busy (the splits'
        // rounding to whole tiles may leave fewer than two each).
        if (blocks < sms && keys >= 2 * sms * minKeys)
          EXPECT(blocks * s.splits >= sms,
                 "%lld blocks x %lld splits leave %lld SMs idle",
                 (long long)blocks, (long long)s.splits, (long long)sms);
      }
  std::printf("OK: attention key splits\n");
}

int main() {
  checkShape<MmaShape<1, 1>>("16-row blocks");
  checkShape<MmaShape<2, 2>>("64-row blocks");
  checkShape<MmaShape<2, 4>>("128-row blocks");
  checkRowTiles();
  checkPermutation();
  checkSplitK();
  checkRouterSplits();
  checkRouterGemvRuns();
  checkWgmma();
  checkAttentionSplits();
  return 0;
}
