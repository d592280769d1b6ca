//===- MicroKernels.h - Register-blocked tiles of the grouped matmul -*- C++ -*-=//
//
// z[rows x NR] = bias + x[rows x K] . w[K x NR] for one tile: MR x NR
// accumulators stay in vector registers over the whole K loop, each weight
// vector is loaded once per MR rows, each x value broadcast once per NR
// columns. Written once as a template; GroupedMatmul.cpp instantiates it
// inside functions compiled for AVX-512, AVX2 and the x86-64 baseline
// (clang vectorizes the fixed-size inner loops for each target) and picks
// one at run time.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CPU_MICROKERNELS_H
#define MOE_RUNTIME_CPU_MICROKERNELS_H

#include <cstdint>

namespace moe::runtime {

/// A weight element as float: floats as they are, bfloat16 bits shifted
/// into the high half (exact), int8 values converted (the column's scale
/// is applied after the K loop).
__attribute__((always_inline)) inline float weightValue(float w) { return w; }
__attribute__((always_inline)) inline float weightValue(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  __builtin_memcpy(&value, &wide, sizeof(value));
  return value;
}

__attribute__((always_inline)) inline float weightValue(int8_t q) {
  return static_cast<float>(q);
}

/// Weight (k, j) of a block whose k rows are ldw elements apart; bfloat16
/// blocks hold row pairs (moe_packing.h: [K / 2][kPanel][2], ldw is the
/// distance between pairs).
template <typename W>
__attribute__((always_inline)) inline float weightAt(const W *w, int64_t k,
                                                     int64_t j, int64_t ldw) {
  return weightValue(w[k * ldw + j]);
}
__attribute__((always_inline)) inline float
weightAt(const uint16_t *w, int64_t k, int64_t j, int64_t ldw) {
  return weightValue(w[(k >> 1) * ldw + 2 * j + (k & 1)]);
}

/// Whether weights of type W carry a scale per column (int8).
template <typename W> constexpr bool kScaledWeights = false;
template <> constexpr bool kScaledWeights<int8_t> = true;

/// One MR x (NP * NR) tile over the full K, row i of x at xr[i] (rows need
/// not be adjacent: the fused combine takes one top-k slot's rows of a
/// segment at a time): NP column blocks of NR, block
/// p starting at w + p * panelStride (consecutive columns when unpacked,
/// separate panels when packed), each row of a block ldw elements after
/// the previous one. z is row-major with NP * NR columns. Scaled (int8)
/// weights: each weight is q * scale (per column of the tile) in fp32,
/// the same products as a dequantized fp32 copy of the panel would give.
/// K blocking: the tile sums k in [kBegin, kEnd) of [0, kDim); a block
/// after the first continues the partial sums in z (the same sequence of
/// additions as one pass).
template <int MR, int NR, int NP = 1, typename W = float>
__attribute__((always_inline)) inline void
matmulTile(const float *const *xr, const W *w, int64_t ldw,
           int64_t panelStride, int64_t kBegin, int64_t kEnd, int64_t kDim,
           const float *bias, const float *scale, float *z) {
  constexpr int width = NR * NP;
  float acc[MR][width];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < width; ++j)
      acc[i][j] = kBegin > 0 ? z[i * width + j] : bias ? bias[j] : 0.0f;
  if constexpr (sizeof(W) == 2) {
    // bfloat16 row pairs (kBegin is even): one 32-bit load per column gives
    // rows k (low half) and k + 1 (high half), each widened exactly; the
    // accumulators see the same additions, in the same order, as one row
    // at a time.
    typedef uint32_t __attribute__((may_alias)) Word;
    int64_t k = kBegin;
    for (; k + 1 < kEnd; k += 2)
      for (int i = 0; i < MR; ++i) {
        float x0 = xr[i][k], x1 = xr[i][k + 1];
        for (int p = 0; p < NP; ++p) {
          const Word *wk =
              reinterpret_cast<const Word *>(w + p * panelStride + (k >> 1) * ldw);
          for (int j = 0; j < NR; ++j) {
            uint32_t word = wk[j];
            float lo, hi;
            uint32_t loBits = word << 16, hiBits = word & 0xffff0000u;
            __builtin_memcpy(&lo, &loBits, sizeof(lo));
            __builtin_memcpy(&hi, &hiBits, sizeof(hi));
            acc[i][p * NR + j] += x0 * lo;
            acc[i][p * NR + j] += x1 * hi;
          }
        }
      }
    if (k < kEnd) // odd K: the last row, low halves only
      for (int i = 0; i < MR; ++i)
        for (int p = 0; p < NP; ++p)
          for (int j = 0; j < NR; ++j)
            acc[i][p * NR + j] +=
                xr[i][k] * weightAt(w + p * panelStride, k, j, ldw);
  } else {
    for (int64_t k = kBegin; k < kEnd; ++k) {
      for (int i = 0; i < MR; ++i) {
        float xv = xr[i][k];
        for (int p = 0; p < NP; ++p) {
          const W *wk = w + p * panelStride + k * ldw;
          for (int j = 0; j < NR; ++j) {
            if constexpr (kScaledWeights<W>)
              acc[i][p * NR + j] += xv * (weightValue(wk[j]) * scale[p * NR + j]);
            else
              acc[i][p * NR + j] += xv * weightValue(wk[j]);
          }
        }
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < width; ++j)
      z[i * width + j] = acc[i][j];
}

/// A tile of 1..MR rows: the row count picks a compile-time instantiation.
template <int MR, int NR, int NP = 1, typename W = float>
__attribute__((always_inline)) inline void
matmulRows(int rows, const float *const *xr, const W *w, int64_t ldw,
           int64_t panelStride, int64_t kBegin, int64_t kEnd, int64_t kDim,
           const float *bias, const float *scale, float *z) {
  if constexpr (MR > 1) {
    if (rows < MR)
      return matmulRows<MR - 1, NR, NP, W>(rows, xr, w, ldw, panelStride,
                                           kBegin, kEnd, kDim, bias, scale, z);
  }
  matmulTile<MR, NR, NP, W>(xr, w, ldw, panelStride, kBegin, kEnd, kDim, bias,
                            scale, z);
}

} // namespace moe::runtime

#endif // MOE_RUNTIME_CPU_MICROKERNELS_H
