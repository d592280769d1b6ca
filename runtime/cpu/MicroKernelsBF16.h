//===- MicroKernelsBF16.h - AVX512_BF16 dot-product tiles --------*- C++ -*-===//
//
// The grouped matmul's tile for bfloat16 weights on CPUs with AVX512_BF16:
// VDPBF16PS multiplies 16 columns x 2 rows of K per instruction (twice the
// multiply-adds of an fp32 FMA) on operands that are both bfloat16, so the
// activation rows are rounded to bfloat16 once per call (the kernel's
// documented accuracy contract on such CPUs: bf16 x bf16 products, fp32
// sums; MOE_RUNTIME_ISA=avx512 keeps fp32 activations). The weights come
// in moe_packing.h's paired layout, [K / 2][32][2] per panel: one 64-byte
// load is the B operand of 16 columns, and each activation pair (x[k],
// x[k + 1]) is one broadcast 32-bit word.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CPU_MICROKERNELSBF16_H
#define MOE_RUNTIME_CPU_MICROKERNELSBF16_H

#include <cstdint>
#include <immintrin.h>

#define MOE_BF16_TARGET                                                        \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace moe::runtime {

/// z[MR x NP * 32] for k pairs [pairBegin, pairEnd): xr[i] is row i as
/// bfloat16 bits (an even count, zero-padded), w the first panel's pairs
/// (the next of the NP panels panelStride elements on). The first block
/// (pairBegin == 0) starts from the bias (`cols` valid entries, the rest
/// of a partial tile from zero), later ones from the partial sums in z.
template <int MR, int NP>
MOE_BF16_TARGET __attribute__((always_inline)) inline void
dotTileBF16(const uint16_t *const *xr, const uint16_t *w, int64_t panelStride,
            int64_t pairBegin, int64_t pairEnd, const float *bias, int cols,
            float *z) {
  constexpr int vectors = 2 * NP, width = 32 * NP;
  __m512 acc[MR][vectors];
  for (int q = 0; q < vectors; ++q) {
    __m512 start = _mm512_setzero_ps();
    if (pairBegin == 0 && bias) {
      int valid = cols - 16 * q;
      __mmask16 mask = valid >= 16 ? __mmask16(0xffff)
                       : valid <= 0 ? __mmask16(0)
                                    : __mmask16((1u << valid) - 1);
      start = _mm512_maskz_loadu_ps(mask, bias + 16 * q);
    }
    for (int i = 0; i < MR; ++i)
      acc[i][q] =
          pairBegin > 0 ? _mm512_loadu_ps(z + i * width + 16 * q) : start;
  }
  for (int64_t p = pairBegin; p < pairEnd; ++p) {
    __m512bh wv[vectors];
    for (int b = 0; b < NP; ++b) {
      const uint16_t *wp = w + b * panelStride + p * 64;
      wv[2 * b] = (__m512bh)_mm512_loadu_si512(wp);
      wv[2 * b + 1] = (__m512bh)_mm512_loadu_si512(wp + 32);
    }
    for (int i = 0; i < MR; ++i) {
      uint32_t pair;
      __builtin_memcpy(&pair, xr[i] + 2 * p, sizeof(pair));
      __m512bh xv = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
      for (int q = 0; q < vectors; ++q)
        acc[i][q] = _mm512_dpbf16_ps(acc[i][q], xv, wv[q]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int q = 0; q < vectors; ++q)
      _mm512_storeu_ps(z + i * width + 16 * q, acc[i][q]);
}

/// A tile of 1..MR rows: the row count picks a compile-time instantiation.
template <int MR, int NP>
MOE_BF16_TARGET __attribute__((always_inline)) inline void
dotRowsBF16(int rows, const uint16_t *const *xr, const uint16_t *w,
            int64_t panelStride, int64_t pairBegin, int64_t pairEnd,
            const float *bias, int cols, float *z) {
  if constexpr (MR > 1) {
    if (rows < MR)
      return dotRowsBF16<MR - 1, NP>(rows, xr, w, panelStride, pairBegin,
                                     pairEnd, bias, cols, z);
  }
  dotTileBF16<MR, NP>(xr, w, panelStride, pairBegin, pairEnd, bias, cols, z);
}

} // namespace moe::runtime

#endif // MOE_RUNTIME_CPU_MICROKERNELSBF16_H
