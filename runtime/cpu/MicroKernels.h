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

/// One MR x NR tile over the full K.
template <int MR, int NR>
__attribute__((always_inline)) inline void
matmulTile(const float *x, int64_t ldx, const float *w, int64_t ldw,
           int64_t kDim, const float *bias, float *z) {
  float acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j)
      acc[i][j] = bias ? bias[j] : 0.0f;
  for (int64_t k = 0; k < kDim; ++k) {
    const float *wk = w + k * ldw;
    for (int i = 0; i < MR; ++i) {
      float xv = x[i * ldx + k];
      for (int j = 0; j < NR; ++j)
        acc[i][j] += xv * wk[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j)
      z[i * NR + j] = acc[i][j];
}

/// A tile of 1..MR rows: the row count picks a compile-time instantiation.
template <int MR, int NR>
__attribute__((always_inline)) inline void
matmulRows(int rows, const float *x, int64_t ldx, const float *w,
           int64_t ldw, int64_t kDim, const float *bias, float *z) {
  if constexpr (MR > 1) {
    if (rows < MR)
      return matmulRows<MR - 1, NR>(rows, x, ldx, w, ldw, kDim, bias, z);
  }
  matmulTile<MR, NR>(x, ldx, w, ldw, kDim, bias, z);
}

} // namespace moe::runtime

#endif // MOE_RUNTIME_CPU_MICROKERNELS_H
