//===- GroupedMatmul.h - The grouped matmul's full entry ---------*- C++ -*-===//

#ifndef MOE_RUNTIME_CPU_GROUPEDMATMUL_H
#define MOE_RUNTIME_CPU_GROUPEDMATMUL_H

#include "moe_runtime.h"

namespace moe::runtime {

/// The combine fused into a grouped matmul's epilogue (moe.grouped_matmul
/// with a combine clause): the result is out[t] = sum_{j = 0..k-1}
/// weights[t, j] * z[inverse[t, j]] ([T, M] instead of z's [N, M]), summed
/// in increasing j as moe_combine_f32 does.
struct FusedCombine {
  const float *weights = nullptr;   // [T, k]
  const int32_t *inverse = nullptr; // [T, k]
  int64_t numTokens = 0, k = 0;
};

/// moe_grouped_matmul_f32 / _packed_f32 with the order in which experts'
/// work is scheduled (a permutation of [0, E), or null for 0, 1, ...).
moe_status groupedMatmulOrdered(const moe_exec_config *config,
                                const float *rows, int64_t numRows,
                                int64_t kDim, const float *weights,
                                bool packed, int64_t numExperts, int64_t mDim,
                                const int32_t *offsets, const float *bias,
                                const moe_activation_params *activation,
                                float *out, const int32_t *expertOrder,
                                const FusedCombine *combine = nullptr);

/// The same over bfloat16 weights packed by packing::packWeightsBF16
/// (fp32 rows, accumulation and output).
moe_status groupedMatmulBF16(const moe_exec_config *config, const float *rows,
                             int64_t numRows, int64_t kDim,
                             const uint16_t *packedWeights, int64_t numExperts,
                             int64_t mDim, const int32_t *offsets,
                             const float *bias,
                             const moe_activation_params *activation,
                             float *out, const int32_t *expertOrder,
                             const FusedCombine *combine = nullptr);

/// The same over int8 weights packed by packing::packWeightsInt8, with
/// their per-column scales.
moe_status groupedMatmulInt8(const moe_exec_config *config, const float *rows,
                             int64_t numRows, int64_t kDim,
                             const int8_t *packedWeights, const float *scales,
                             int64_t numExperts, int64_t mDim,
                             const int32_t *offsets, const float *bias,
                             const moe_activation_params *activation,
                             float *out, const int32_t *expertOrder,
                             const FusedCombine *combine = nullptr);

} // namespace moe::runtime

#endif // MOE_RUNTIME_CPU_GROUPEDMATMUL_H
