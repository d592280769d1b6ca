//===- GroupedMatmul.cpp - Grouped matmul kernel of the CPU runtime -------===//
//
// Work is cut into tasks of (expert segment, chunk of its rows, tile of
// output columns) so that experts with few rows still spread over threads;
// a task walks its column tile NR columns at a time and, for each, its rows
// MR at a time through a register-blocked micro-kernel (MicroKernels.h),
// keeping the K x NR weight panel hot in L2 across the rows. Gated
// activations compute the gate and up tiles, then the epilogue writes
// act(gate, up). The instruction set (AVX-512 with or without AVX512_BF16,
// AVX2, baseline) is chosen at run time; MOE_RUNTIME_ISA=generic|avx2|
// avx512|avx512bf16 caps it (tests force each). bfloat16 weights use the
// VDPBF16PS tiles of MicroKernelsBF16.h where the CPU has them, with the
// activation rows rounded to bfloat16 once per call.
//
//===----------------------------------------------------------------------===//

#include "BufferCache.h"
#include "GroupedMatmul.h"
#include "MicroKernels.h"
#include "MicroKernelsBF16.h"
#include "moe_packing.h"
#include "Parallel.h"
#include "Validation.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

using namespace moe::runtime;
namespace packing = moe::packing;

namespace {

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

float activate(const moe_activation_params &a, float gate, float up) {
  switch (a.kind) {
  case MOE_ACTIVATION_RELU:
    return std::max(gate, 0.0f);
  case MOE_ACTIVATION_GELU:
    return 0.5f * gate * (1.0f + std::erf(gate * 0.70710678118654752f));
  case MOE_ACTIVATION_GELU_TANH: {
    float inner = 0.7978845608028654f * (gate + 0.044715f * gate * gate * gate);
    return 0.5f * gate * (1.0f + std::tanh(inner));
  }
  case MOE_ACTIVATION_SILU:
    return gate * sigmoid(gate);
  case MOE_ACTIVATION_SWIGLU:
    return gate * sigmoid(gate) * up;
  case MOE_ACTIVATION_CLAMPED_SWIGLU: {
    float g = std::min(gate, a.limit);
    float u = std::clamp(up, -a.limit, a.limit);
    return (u + a.beta) * g * sigmoid(a.alpha * g);
  }
  default:
    return gate;
  }
}

enum class Isa { Generic, Avx2, Avx512, Avx512Bf16 };

Isa detectIsa() {
  __builtin_cpu_init();
  Isa best = Isa::Generic;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    best = Isa::Avx2;
  if (best == Isa::Avx2 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw"))
    best = Isa::Avx512;
  if (best == Isa::Avx512 && __builtin_cpu_supports("avx512bf16"))
    best = Isa::Avx512Bf16;
  if (const char *forced = std::getenv("MOE_RUNTIME_ISA")) {
    Isa cap = std::strcmp(forced, "generic") == 0  ? Isa::Generic
              : std::strcmp(forced, "avx2") == 0   ? Isa::Avx2
              : std::strcmp(forced, "avx512") == 0 ? Isa::Avx512
                                                   : Isa::Avx512Bf16;
    best = std::min(best, cap);
  }
  return best;
}

Isa selectedIsa() {
  static const Isa isa = detectIsa();
  return isa;
}

/// Column width of one tile per instruction set (two or more vectors).
int tileWidth(Isa isa) {
  return isa == Isa::Avx512 ? 32 : isa == Isa::Avx2 ? 16 : 8;
}
constexpr int kMaxTileWidth = 32;
constexpr int kMaxTileRows = 6;
/// Row tiles per task.
constexpr int64_t kRowChunkTiles = 8;
/// K per block: 1024 x 32 floats of a weight panel (128 KB) stay in L2
/// while every row tile of a task uses them. Up projections (K = d <=
/// 1024 here) are one block; the down projection's K = f is split.
/// Measured on Mixtral-scaled (docs/Benchmarks.md): 256 was slower than
/// no blocking, 1024 a few percent faster.
constexpr int64_t kBlock = 1024;

/// z[rows x width] for a full-width tile, per instruction set.
/// (`panelStride` only matters for the wide tile, which spans 4 blocks.)
template <typename W>
__attribute__((target("avx512f,avx512vl,avx512bw,fma"))) void
tileAvx512(int rows, const float *const *xr, const W *w, int64_t ldw,
           int64_t panelStride, int64_t kBegin, int64_t kEnd, int64_t kDim,
           const float *bias, const float *scale, float *z) {
  matmulRows<6, 32, 1, W>(rows, xr, w, ldw, panelStride, kBegin, kEnd, kDim,
                          bias, scale, z);
}

/// Decode (an expert segment of 1-2 rows): 128 columns at once, so that
/// 16 independent accumulator chains hide the FMA latency that a 32-wide
/// single-row tile (2 chains) is bound by.
constexpr int kWideTile = 128;
template <typename W>
__attribute__((target("avx512f,avx512vl,avx512bw,fma"))) void
tileAvx512Wide(int rows, const float *const *xr, const W *w, int64_t ldw,
               int64_t panelStride, int64_t kDim, const float *bias,
               const float *scale, float *z) {
  matmulRows<2, 32, kWideTile / 32, W>(rows, xr, w, ldw, panelStride, 0, kDim,
                                       kDim, bias, scale, z);
}

template <typename W>
__attribute__((target("avx2,fma"))) void
tileAvx2(int rows, const float *const *xr, const W *w, int64_t ldw,
         int64_t panelStride, int64_t kBegin, int64_t kEnd, int64_t kDim,
         const float *bias, const float *scale, float *z) {
  matmulRows<4, 16, 1, W>(rows, xr, w, ldw, panelStride, kBegin, kEnd, kDim,
                          bias, scale, z);
}

template <typename W>
void tileGeneric(int rows, const float *const *xr, const W *w,
                 int64_t ldw, int64_t panelStride, int64_t kBegin,
                 int64_t kEnd, int64_t kDim, const float *bias,
                 const float *scale, float *z) {
  matmulRows<4, 8, 1, W>(rows, xr, w, ldw, panelStride, kBegin, kEnd, kDim,
                         bias, scale, z);
}

/// bfloat16 weights on AVX512_BF16 (MicroKernelsBF16.h): a 6 x 32 tile
/// over k pairs [pairBegin, pairEnd), and the decode tile of 1-2 rows x 128
/// columns (4 panels).
MOE_BF16_TARGET void tileBF16(int rows, const uint16_t *const *xr,
                              const uint16_t *w, int64_t pairBegin,
                              int64_t pairEnd, const float *bias, int cols,
                              float *z) {
  dotRowsBF16<6, 1>(rows, xr, w, 0, pairBegin, pairEnd, bias, cols, z);
}
MOE_BF16_TARGET void tileBF16Wide(int rows, const uint16_t *const *xr,
                                  const uint16_t *w, int64_t panelStride,
                                  int64_t pairs, const float *bias, float *z) {
  dotRowsBF16<2, kWideTile / 32>(rows, xr, w, panelStride, 0, pairs, bias,
                                 kWideTile, z);
}

/// Rows per micro-kernel call.
int tileRows(Isa isa) { return isa == Isa::Avx512 ? 6 : 4; }

/// A partial-width tile (the last columns): plain loops, z row stride
/// kMaxTileWidth.
template <typename W>
void tileTail(int rows, int cols, const float *const *xr, const W *w,
              int64_t ldw, int64_t kBegin, int64_t kEnd, int64_t kDim,
              const float *bias, const float *scale, float *z) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      float sum = kBegin > 0 ? z[i * kMaxTileWidth + j] : bias ? bias[j] : 0.0f;
      for (int64_t k = kBegin; k < kEnd; ++k) {
        if constexpr (kScaledWeights<W>)
          sum += xr[i][k] * (weightAt(w, k, j, ldw) * scale[j]);
        else
          sum += xr[i][k] * weightAt(w, k, j, ldw);
      }
      z[i * kMaxTileWidth + j] = sum;
    }
}

/// dst[j] = act(gate[j], up[j]) for one row of a tile; the switch stays
/// outside the loops so that the simple activations vectorize.
void epilogue(const moe_activation_params &act, const float *gate,
              const float *up, float *dst, int cols) {
  switch (act.kind) {
  case MOE_ACTIVATION_NONE:
    std::memcpy(dst, gate, sizeof(float) * cols);
    return;
  case MOE_ACTIVATION_RELU:
    for (int j = 0; j < cols; ++j)
      dst[j] = std::max(gate[j], 0.0f);
    return;
  case MOE_ACTIVATION_SWIGLU:
    for (int j = 0; j < cols; ++j)
      dst[j] = gate[j] / (1.0f + std::exp(-gate[j])) * up[j];
    return;
  default:
    for (int j = 0; j < cols; ++j)
      dst[j] = activate(act, gate[j], up ? up[j] : 0.0f);
  }
}

struct Task {
  int64_t expert, rowBegin, rowEnd, colBegin, colEnd;
};

/// Where the weights of (expert, column) are: row-major [E, K, M], or the
/// panels of moe_packing.h (bfloat16: always packed, in row pairs).
template <typename W>
struct WeightLayout {
  const W *weights;
  int64_t kDim, mDim;
  bool gated, packed;
  const float *scales = nullptr; // int8: per packed column, per expert

  /// The scale of (expert, column) and those of the columns after it in
  /// the same tile (int8 only; null otherwise).
  const float *scaleAt(int64_t e, int64_t column) const {
    if (!scales)
      return nullptr;
    int64_t panel, inPanel;
    packing::locateColumn(column, mDim, gated, panel, inPanel);
    return scales + e * packing::packedExpertColumns(mDim, gated) +
           panel * packing::kPanel + inPanel;
  }

  static constexpr bool kPaired = std::is_same_v<W, uint16_t>;
  /// K rows of a packed panel (bfloat16: padded to an even count).
  int64_t panelRows() const {
    return kPaired ? packing::pairedRows(kDim) : kDim;
  }

  /// The address of weights[e][0][column] and the distance between k rows
  /// (bfloat16: between row pairs; see weightAt).
  const W *at(int64_t e, int64_t column, int64_t &ldw) const {
    if (!packed) {
      ldw = mDim;
      return weights + e * kDim * mDim + column;
    }
    ldw = kPaired ? 2 * packing::kPanel : packing::kPanel;
    int64_t panel, inPanel;
    packing::locateColumn(column, mDim, gated, panel, inPanel);
    return weights +
           e * packing::packedExpertElements(panelRows(), mDim, gated) +
           panel * panelRows() * packing::kPanel + inPanel * (kPaired ? 2 : 1);
  }
  /// From one 32-column block to the next (the wide tile's blocks).
  int64_t blockStride() const {
    return packed ? panelRows() * packing::kPanel : packing::kPanel;
  }
};

} // namespace

extern "C" const char *moe_runtime_cpu_isa(void) {
  switch (selectedIsa()) {
  case Isa::Avx512Bf16:
    return "avx512bf16";
  case Isa::Avx512:
    return "avx512";
  case Isa::Avx2:
    return "avx2";
  default:
    return "generic";
  }
}

namespace {
/// The rows one pass computes, grouped by expert: `rows[i]` is a row of
/// the sorted input, written to output row `dest[i]` scaled by
/// `scale[i]` (the plain matmul: every row once, to itself, unscaled).
struct Pass {
  std::vector<int32_t> rows, dest;
  std::vector<float> scale;
  std::vector<int64_t> begin; // [E + 1] into rows, per expert
};

template <typename W>
moe_status groupedMatmul(const moe_exec_config *config, const float *rows,
                         int64_t numRows, int64_t kDim,
                         const WeightLayout<W> &layout, int64_t numExperts,
                         int64_t mDim, const int32_t *offsets,
                         const float *bias, const moe_activation_params &act,
                         float *out, const int32_t *expertOrder,
                         const FusedCombine *combine) {
  bool gated = layout.gated;
  if (!validOffsets(offsets, numExperts, numRows))
    return MOE_ERROR_INDEX_OUT_OF_RANGE;
  if (expertOrder) {
    std::vector<bool> seen(numExperts, false);
    for (int64_t i = 0; i < numExperts; ++i) {
      int32_t e = expertOrder[i];
      if (e < 0 || e >= numExperts || seen[e])
        return MOE_ERROR_INVALID_ARGUMENT;
      seen[e] = true;
    }
  }
  int64_t outCols = gated ? mDim / 2 : mDim;

  // Passes: one over every row, or with a fused combine one per top-k slot
  // j (in increasing j, so each output row sums its k contributions in a
  // fixed order; within a pass every token has one row, so tasks never
  // write the same output row).
  std::vector<Pass> passes;
  if (!combine) {
    Pass all;
    all.begin.assign(offsets, offsets + numExperts + 1);
    passes.push_back(std::move(all));
  } else {
    if (!indicesBelow(combine->inverse, combine->numTokens * combine->k,
                      numRows))
      return MOE_ERROR_INDEX_OUT_OF_RANGE;
    std::vector<int32_t> expertOf(numRows);
    for (int64_t e = 0; e < numExperts; ++e)
      std::fill(expertOf.begin() + offsets[e], expertOf.begin() + offsets[e + 1],
                static_cast<int32_t>(e));
    for (int64_t j = 0; j < combine->k; ++j) {
      Pass pass;
      pass.begin.assign(numExperts + 1, 0);
      for (int64_t t = 0; t < combine->numTokens; ++t)
        ++pass.begin[expertOf[combine->inverse[t * combine->k + j]] + 1];
      for (int64_t e = 0; e < numExperts; ++e)
        pass.begin[e + 1] += pass.begin[e];
      std::vector<int64_t> next(pass.begin.begin(), pass.begin.end() - 1);
      pass.rows.resize(combine->numTokens);
      pass.dest.resize(combine->numTokens);
      pass.scale.resize(combine->numTokens);
      for (int64_t t = 0; t < combine->numTokens; ++t) {
        int32_t r = combine->inverse[t * combine->k + j];
        int64_t at = next[expertOf[r]]++;
        pass.rows[at] = r;
        pass.dest[at] = static_cast<int32_t>(t);
        pass.scale[at] = combine->weights[t * combine->k + j];
      }
      passes.push_back(std::move(pass));
    }
    parallelFor(config, combine->numTokens, [&](int64_t t) {
      std::fill(out + t * outCols, out + (t + 1) * outCols, 0.0f);
    });
  }

  Isa isa = selectedIsa();
  // bfloat16 weights on AVX512_BF16: dot-product tiles over the rows
  // rounded to bfloat16 here, once ([numRows][K + K % 2], zero-padded);
  // everything else about the tiling is AVX-512's.
  constexpr bool kBF16 = WeightLayout<W>::kPaired;
  const bool dot = kBF16 && isa == Isa::Avx512Bf16;
  if (isa == Isa::Avx512Bf16)
    isa = Isa::Avx512;
  const int64_t kPairs = layout.panelRows() / 2;
  // Every element is written below: no zero fill first.
  std::unique_ptr<uint16_t[]> rowsBF16;
  if (dot) {
    rowsBF16.reset(new uint16_t[static_cast<size_t>(numRows * 2 * kPairs)]);
    parallelFor(config, numRows, [&](int64_t r) {
      uint16_t *dst = rowsBF16.get() + r * 2 * kPairs;
      for (int64_t k = 0; k < kDim; ++k)
        dst[k] = packing::floatToBF16(rows[r * kDim + k]);
      if (kDim & 1)
        dst[kDim] = 0;
    });
  }
  auto rowBF16 = [&](int64_t row) {
    return rowsBF16.get() + row * 2 * kPairs;
  };
  const int width = tileWidth(isa), rowsPerTile = tileRows(isa);
  auto tile = isa == Isa::Avx512 ? tileAvx512<W>
              : isa == Isa::Avx2 ? tileAvx2<W>
                                 : tileGeneric<W>;
  auto tileF = isa == Isa::Avx512 ? tileAvx512<float>
               : isa == Isa::Avx2 ? tileAvx2<float>
                                  : tileGeneric<float>;
  // Tasks: up to 8 tiles of rows by 4 tiles of columns each.
  const int64_t rowChunk = kRowChunkTiles * rowsPerTile, colChunk = 4 * width;
  for (const Pass &pass : passes) {
    // Positions [rowBegin, rowEnd) index pass.rows (or are rows).
    auto rowAt = [&](int64_t i) -> int64_t {
      return combine ? pass.rows[i] : i;
    };
    std::vector<Task> tasks;
    for (int64_t i = 0; i < numExperts; ++i)
      for (int64_t e = expertOrder ? expertOrder[i] : i, r = pass.begin[e];
           r < pass.begin[e + 1]; r += rowChunk)
        for (int64_t c = 0; c < outCols; c += colChunk)
          tasks.push_back(
              {e, r, std::min<int64_t>(r + rowChunk, pass.begin[e + 1]), c,
               std::min(c + colChunk, outCols)});

    parallelFor(config, static_cast<int64_t>(tasks.size()), [&](int64_t t) {
      const Task &task = tasks[t];
      const float *b = bias ? bias + task.expert * mDim : nullptr;
      constexpr int kBuffer =
          std::max(kMaxTileRows * kMaxTileWidth, 2 * kWideTile);
      float gate[kBuffer], up[kBuffer], act1[kWideTile];
      // Partial sums of every row tile of the task (K blocking).
      constexpr int64_t kTaskTiles = kRowChunkTiles;
      float zGate[kTaskTiles * kMaxTileRows * kMaxTileWidth],
          zUp[kTaskTiles * kMaxTileRows * kMaxTileWidth];
      const float *xr[kMaxTileRows];
      // Row i of a tile: its epilogue output goes to dst (plain) or is
      // added, scaled, to the token's output row (combine).
      auto store = [&](int64_t position, const float *g, const float *u,
                       int64_t col, int cols) {
        if (!combine) {
          epilogue(act, g, u, out + position * outCols + col, cols);
          return;
        }
        epilogue(act, g, u, act1, cols);
        float w = pass.scale[position];
        float *dst = out + static_cast<int64_t>(pass.dest[position]) * outCols + col;
        for (int c = 0; c < cols; ++c)
          dst[c] += w * act1[c];
      };
      // Decode: one wide tile over the task's columns.
      if (isa == Isa::Avx512 && task.rowEnd - task.rowBegin <= 2 &&
          task.colEnd - task.colBegin == kWideTile) {
        int nRows = static_cast<int>(task.rowEnd - task.rowBegin);
        for (int i = 0; i < nRows; ++i)
          xr[i] = rows + rowAt(task.rowBegin + i) * kDim;
        auto compute = [&](int64_t col, float *z) {
          int64_t ldw;
          const W *w = layout.at(task.expert, col, ldw);
          if constexpr (kBF16) {
            if (dot) {
              const uint16_t *xb[2];
              for (int i = 0; i < nRows; ++i)
                xb[i] = rowBF16(rowAt(task.rowBegin + i));
              tileBF16Wide(nRows, xb, w, layout.blockStride(), kPairs,
                           b ? b + col : nullptr, z);
              return;
            }
          }
          tileAvx512Wide<W>(nRows, xr, w, ldw, layout.blockStride(), kDim,
                            b ? b + col : nullptr,
                            layout.scaleAt(task.expert, col), z);
        };
        compute(task.colBegin, gate);
        if (gated)
          compute(outCols + task.colBegin, up);
        for (int i = 0; i < nRows; ++i)
          store(task.rowBegin + i, gate + i * kWideTile,
                gated ? up + i * kWideTile : nullptr, task.colBegin,
                kWideTile);
        return;
      }
      // K blocks: a kBlock x width slice of the weight panel stays in cache
      // while every row tile of the task uses it (gate slices first, then
      // up), and the tiles' partial sums wait in zGate / zUp.
      const int64_t rowTiles =
          (task.rowEnd - task.rowBegin + rowsPerTile - 1) / rowsPerTile;
      for (int64_t c = task.colBegin; c < task.colEnd; c += width) {
        int cols = static_cast<int>(std::min<int64_t>(width, task.colEnd - c));
        // z rows are `width` apart for full tiles, kMaxTileWidth for tails.
        int stride = cols == width ? width : kMaxTileWidth;
        int64_t zTile = static_cast<int64_t>(kMaxTileRows) * kMaxTileWidth;
        // bf16 / int8 weights with several row tiles: the slice is widened
        // to fp32 once (int8: q * scale, the products the direct kernel
        // forms) and the fp32 kernel runs on it, instead of every row tile
        // widening it again.
        const bool widenOnce =
            !std::is_same_v<W, float> && rowTiles >= 2 && !dot;
        auto compute = [&](int64_t col, int64_t r, int nRows, int64_t kBegin,
                           int64_t kEnd, const float *widened, float *z) {
          const float *bc = b ? b + col : nullptr;
          if constexpr (kBF16) {
            if (dot) {
              // Partial tiles too: panels are zero-padded to 32 columns.
              const uint16_t *xb[kMaxTileRows];
              for (int i = 0; i < nRows; ++i)
                xb[i] = rowBF16(rowAt(r + i));
              int64_t ldw;
              tileBF16(nRows, xb, layout.at(task.expert, col, ldw), kBegin / 2,
                       (kEnd + 1) / 2, bc, cols, z);
              return;
            }
          }
          for (int i = 0; i < nRows; ++i)
            xr[i] = rows + rowAt(r + i) * kDim;
          if (widened) {
            if (cols == width)
              tileF(nRows, xr, widened, kMaxTileWidth, 0, kBegin, kEnd, kDim,
                    bc, nullptr, z);
            else
              tileTail<float>(nRows, cols, xr, widened, kMaxTileWidth, kBegin,
                              kEnd, kDim, bc, nullptr, z);
            return;
          }
          int64_t ldw;
          const W *w = layout.at(task.expert, col, ldw);
          const float *sc = layout.scaleAt(task.expert, col);
          if (cols == width)
            tile(nRows, xr, w, ldw, layout.blockStride(), kBegin, kEnd, kDim,
                 bc, sc, z);
          else
            tileTail<W>(nRows, cols, xr, w, ldw, kBegin, kEnd, kDim, bc, sc,
                        z);
        };
        for (int64_t kb = 0; kb < kDim || kb == 0; kb += kBlock) {
          int64_t kEnd = std::min(kDim, kb + kBlock);
          for (int half = 0; half < (gated ? 2 : 1); ++half) {
            int64_t col = half ? outCols + c : c;
            const float *widened = nullptr;
            if (widenOnce) {
              // Rows [kb, kEnd) of a [K][32] fp32 copy of the panel slice.
              thread_local std::vector<float> slice;
              if (slice.size() < static_cast<size_t>(kDim * kMaxTileWidth))
                slice.resize(static_cast<size_t>(kDim * kMaxTileWidth));
              int64_t ldw;
              const W *w = layout.at(task.expert, col, ldw);
              const float *sc = layout.scaleAt(task.expert, col);
              for (int64_t k = kb; k < kEnd; ++k)
                for (int j = 0; j < cols; ++j) {
                  float v = weightAt(w, k, j, ldw);
                  if constexpr (kScaledWeights<W>)
                    v = v * sc[j];
                  slice[k * kMaxTileWidth + j] = v;
                }
              widened = slice.data();
            }
            for (int64_t ti = 0; ti < rowTiles; ++ti) {
              int64_t r = task.rowBegin + ti * rowsPerTile;
              int nRows = static_cast<int>(
                  std::min<int64_t>(rowsPerTile, task.rowEnd - r));
              compute(col, r, nRows, kb, kEnd, widened,
                      (half ? zUp : zGate) + ti * zTile);
            }
          }
          if (kEnd == kDim)
            break;
        }
        for (int64_t ti = 0; ti < rowTiles; ++ti) {
          int64_t r = task.rowBegin + ti * rowsPerTile;
          int nRows =
              static_cast<int>(std::min<int64_t>(rowsPerTile, task.rowEnd - r));
          for (int i = 0; i < nRows; ++i)
            store(r + i, zGate + ti * zTile + i * stride,
                  gated ? zUp + ti * zTile + i * stride : nullptr, c, cols);
        }
      }
    });
  }
  return MOE_OK;
}
} // namespace

template <typename W>
moe_status moe::runtime::runGroupedMatmul(
    const moe_exec_config *config, const float *rows, int64_t numRows,
    int64_t kDim, const W *weights, bool packed, const float *scales,
    int64_t numExperts, int64_t mDim, const int32_t *offsets,
    const float *bias, const moe_activation_params *activation, float *out,
    const int32_t *expertOrder, const FusedCombine *combine) {
  moe_activation_params act = activation ? *activation
                                         : moe_activation_params{0, 0, 0, 0};
  if (!validConfig(config) ||
      !validGroupedMatmul(numRows, kDim, weights, numExperts, mDim, offsets,
                          rows, out, act))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (kScaledWeights<W> && !scales && numExperts * kDim * mDim > 0)
    return MOE_ERROR_INVALID_ARGUMENT;
  if (std::is_same_v<W, uint16_t> && !packed) // bfloat16 is packed only
    return MOE_ERROR_INVALID_ARGUMENT;
  WeightLayout<W> layout{weights, kDim, mDim, isGatedActivation(act.kind),
                         packed, scales};
  if (combine && (combine->numTokens < 0 || combine->k < 1 ||
                  (combine->numTokens > 0 &&
                   (!combine->weights || !combine->inverse))))
    return MOE_ERROR_INVALID_ARGUMENT;
  // The fused combine runs a pass per top-k slot, each streaming every
  // expert's weights for a k-th of the rows: measured 1.5-3.3x slower than
  // the matmul into scratch rows and the combine after it (Qwen3's k = 8,
  // Mixtral's k = 2 at decode), never faster. The same sums in the same
  // order, so the same bits (Notes.md). The passes stay for k = 1 (one
  // pass, no scratch) and when the scratch cannot be had.
  int64_t outCols = layout.gated ? mDim / 2 : mDim;
  size_t bytes = sizeof(float) * static_cast<size_t>(numRows * outCols);
  std::unique_ptr<float, void (*)(void *)> scratch(nullptr, cachedFree);
  if (combine && combine->k > 1)
    scratch.reset(static_cast<float *>(cachedAlloc(bytes > 0 ? bytes : 1)));
  if (scratch) {
    if (moe_status status =
            groupedMatmul(config, rows, numRows, kDim, layout, numExperts,
                          mDim, offsets, bias, act, scratch.get(), expertOrder,
                          nullptr))
      return status;
    return moe_combine_f32(config, scratch.get(), numRows, outCols,
                           combine->weights, combine->inverse,
                           combine->numTokens, combine->k, out);
  }
  return groupedMatmul(config, rows, numRows, kDim, layout, numExperts, mDim,
                       offsets, bias, act, out, expertOrder, combine);
}

#define MOE_INSTANTIATE_GROUPED_MATMUL(W)                                     \
  template moe_status moe::runtime::runGroupedMatmul<W>(                      \
      const moe_exec_config *, const float *, int64_t, int64_t, const W *,    \
      bool, const float *, int64_t, int64_t, const int32_t *, const float *,  \
      const moe_activation_params *, float *, const int32_t *,                \
      const FusedCombine *);
MOE_INSTANTIATE_GROUPED_MATMUL(float)
MOE_INSTANTIATE_GROUPED_MATMUL(uint16_t)
MOE_INSTANTIATE_GROUPED_MATMUL(int8_t)
#undef MOE_INSTANTIATE_GROUPED_MATMUL

extern "C" moe_status
moe_grouped_matmul_f32(const moe_exec_config *config, const float *rows,
                       int64_t numRows, int64_t kDim, const float *weights,
                       int64_t numExperts, int64_t mDim,
                       const int32_t *offsets, const float *bias,
                       const moe_activation_params *activation, float *out) {
  return runGroupedMatmul(config, rows, numRows, kDim, weights,
                          /*packed=*/false, nullptr, numExperts, mDim, offsets,
                          bias, activation, out);
}

extern "C" moe_status moe_grouped_matmul_packed_f32(
    const moe_exec_config *config, const float *rows, int64_t numRows,
    int64_t kDim, const float *packedWeights, int64_t numExperts,
    int64_t mDim, const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out) {
  return runGroupedMatmul(config, rows, numRows, kDim, packedWeights,
                          /*packed=*/true, nullptr, numExperts, mDim, offsets,
                          bias, activation, out);
}

extern "C" moe_status moe_grouped_matmul_packed_i8w(
    const moe_exec_config *config, const float *rows, int64_t numRows,
    int64_t kDim, const int8_t *packedWeights, const float *scales,
    int64_t numExperts, int64_t mDim, const int32_t *offsets,
    const float *bias, const moe_activation_params *activation, float *out) {
  return runGroupedMatmul(config, rows, numRows, kDim, packedWeights,
                          /*packed=*/true, scales, numExperts, mDim, offsets,
                          bias, activation, out);
}

extern "C" moe_status moe_grouped_matmul_packed_bf16w(
    const moe_exec_config *config, const float *rows, int64_t numRows,
    int64_t kDim, const uint16_t *packedWeights, int64_t numExperts,
    int64_t mDim, const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out) {
  return runGroupedMatmul(config, rows, numRows, kDim, packedWeights,
                          /*packed=*/true, nullptr, numExperts, mDim, offsets,
                          bias, activation, out);
}

static bool validPackArgs(const float *weights, const void *packed,
                          int64_t numExperts, int64_t kDim, int64_t mDim,
                          int32_t gated) {
  return weights && packed && numExperts >= 1 && kDim >= 0 && mDim >= 0 &&
         (!gated || mDim % 2 == 0);
}

extern "C" moe_status moe_pack_weights_bf16(const float *weights,
                                            int64_t numExperts, int64_t kDim,
                                            int64_t mDim, int32_t gated,
                                            uint16_t *packed) {
  if (!validPackArgs(weights, packed, numExperts, kDim, mDim, gated))
    return MOE_ERROR_INVALID_ARGUMENT;
  packing::packWeightsBF16(weights, numExperts, kDim, mDim, gated != 0,
                           packed);
  return MOE_OK;
}

extern "C" moe_status moe_pack_weights_int8(const float *weights,
                                            int64_t numExperts, int64_t kDim,
                                            int64_t mDim, int32_t gated,
                                            int8_t *packed, float *scales) {
  if (!validPackArgs(weights, packed, numExperts, kDim, mDim, gated) ||
      !scales)
    return MOE_ERROR_INVALID_ARGUMENT;
  packing::packWeightsInt8(weights, numExperts, kDim, mDim, gated != 0, packed,
                           scales);
  return MOE_OK;
}

extern "C" int64_t moe_packed_weights_columns(int64_t numExperts, int64_t mDim,
                                              int32_t gated) {
  return numExperts * packing::packedExpertColumns(mDim, gated != 0);
}

extern "C" moe_status moe_pack_weights_f32(const float *weights,
                                           int64_t numExperts, int64_t kDim,
                                           int64_t mDim, int32_t gated,
                                           float *packed) {
  if (!validPackArgs(weights, packed, numExperts, kDim, mDim, gated))
    return MOE_ERROR_INVALID_ARGUMENT;
  packing::packWeights(weights, numExperts, kDim, mDim, gated != 0,
                       sizeof(float), packed);
  return MOE_OK;
}

extern "C" int64_t moe_packed_weights_elements_bf16(int64_t numExperts,
                                                    int64_t kDim, int64_t mDim,
                                                    int32_t gated) {
  return numExperts *
         packing::packedExpertElementsBF16(kDim, mDim, gated != 0);
}

extern "C" int64_t moe_packed_weights_elements(int64_t numExperts,
                                               int64_t kDim, int64_t mDim,
                                               int32_t gated) {
  return numExperts * packing::packedExpertElements(kDim, mDim, gated != 0);
}
