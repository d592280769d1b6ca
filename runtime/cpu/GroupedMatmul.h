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

/// Every grouped matmul entry: `weights` are float (row-major, or packed
/// when `packed`), bfloat16 bits or int8 with per-column `scales` (both
/// packed by moe_packing.h); `expertOrder` is the order in which experts'
/// work is scheduled (a permutation of [0, E), or null for 0, 1, ...);
/// `combine` fuses the combine into the epilogue. Arguments are checked.
/// Instantiated for float, uint16_t and int8_t.
template <typename W>
moe_status runGroupedMatmul(const moe_exec_config *config, const float *rows,
                            int64_t numRows, int64_t kDim, const W *weights,
                            bool packed, const float *scales,
                            int64_t numExperts, int64_t mDim,
                            const int32_t *offsets, const float *bias,
                            const moe_activation_params *activation,
                            float *out, const int32_t *expertOrder = nullptr,
                            const FusedCombine *combine = nullptr);

} // namespace moe::runtime

#endif // MOE_RUNTIME_CPU_GROUPEDMATMUL_H
