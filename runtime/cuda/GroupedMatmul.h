//===- GroupedMatmul.h - The 16-bit grouped matmul kernels ------*- C++ -*-===//
//
// Internal to runtime/cuda: moe_cuda_grouped_matmul_bf16/_f16
// (GroupedMatmul.cu) send the sizes the mma.sync kernel takes to it
// (GroupedMatmulMma.cu) and the others to the WMMA kernel.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_GROUPEDMATMUL_H
#define MOE_RUNTIME_CUDA_GROUPEDMATMUL_H

#include "moe_runtime.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace moe::runtime::cuda {

/// Whether the mma.sync kernel takes these operands: its 16-byte copies
/// need K, the weights' row length and (gated) the up half's offset to be
/// multiples of 8 elements and both base pointers 16-byte aligned.
bool mmaGroupedMatmulApplies(const void *rows, int64_t kDim,
                             const void *weights, int64_t mDim,
                             int64_t outCols);

/// The operands of one 16-bit grouped matmul (already checked: at least
/// one row and one output column); `Element`: __nv_bfloat16 or __half.
template <typename Element> struct Grouped16 {
  const Element *rows;
  int64_t numRows, kDim;
  const Element *weights;
  int numExperts;
  int64_t mDim, outCols;
  const int32_t *offsets;
  const float *bias;
  moe_activation_params act;
  bool gated;
  float *out;
  /// When not null, the outputs go here instead, rounded to Element.
  Element *rounded = nullptr;
};

/// Launches the mma.sync grouped matmul.
template <typename Element>
moe_status launchMmaGroupedMatmul(cudaStream_t stream,
                                  const Grouped16<Element> &operands);

/// moe_cuda_grouped_matmul_bf16 / _f16 (Element: __nv_bfloat16 / __half),
/// with the outputs rounded to Element into `rounded` instead of `out`
/// when that is not null (the hidden rows of an expert chain, for its
/// second matmul).
template <typename Element>
moe_status
groupedMatmul16(cudaStream_t stream, const Element *rows, int64_t numRows,
                int64_t kDim, const Element *weights, int64_t numExperts,
                int64_t mDim, const int32_t *offsets, const float *bias,
                const moe_activation_params *activation, float *out,
                Element *rounded);

/// moe_cuda_grouped_matmul_cublas_bf16, with `rounded` as above.
moe_status cublasGroupedMatmulBf16(cudaStream_t stream,
                                   const __nv_bfloat16 *rows, int64_t numRows,
                                   int64_t kDim, const __nv_bfloat16 *weights,
                                   int64_t numExperts, int64_t mDim,
                                   const int32_t *offsets, const float *bias,
                                   const moe_activation_params *activation,
                                   float *out, __nv_bfloat16 *rounded);

/// Whether the current device runs the wgmma kernel (compute capability
/// 9.x: Hopper, sm_90a code).
bool wgmmaAvailable();

/// Launches the experimental wgmma grouped matmul (the same conditions as
/// the mma.sync one; sm_90a only).
template <typename Element>
moe_status launchWgmmaGroupedMatmul(cudaStream_t stream,
                                    const Grouped16<Element> &operands);

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_GROUPEDMATMUL_H
