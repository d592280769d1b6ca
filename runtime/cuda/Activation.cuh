//===- Activation.cuh - Expert activations on the device --------*- C++ -*-===//
//
// The CPU runtime's activations (runtime/cpu/GroupedMatmul.cpp), for the
// epilogues of the CUDA grouped matmuls (ours and the cuBLAS one).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_ACTIVATION_CUH
#define MOE_RUNTIME_CUDA_ACTIVATION_CUH

#include "moe_runtime.h"

namespace moe::runtime::cuda {

__device__ inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ inline float activate(const moe_activation_params &a, float gate,
                                 float up) {
  switch (a.kind) {
  case MOE_ACTIVATION_RELU:
    return fmaxf(gate, 0.0f);
  case MOE_ACTIVATION_GELU:
    return 0.5f * gate * (1.0f + erff(gate * 0.70710678118654752f));
  case MOE_ACTIVATION_GELU_TANH: {
    float inner = 0.7978845608028654f * (gate + 0.044715f * gate * gate * gate);
    return 0.5f * gate * (1.0f + tanhf(inner));
  }
  case MOE_ACTIVATION_SILU:
    return gate * sigmoid(gate);
  case MOE_ACTIVATION_SWIGLU:
    return gate * sigmoid(gate) * up;
  case MOE_ACTIVATION_CLAMPED_SWIGLU: {
    float g = fminf(gate, a.limit);
    float u = fminf(fmaxf(up, -a.limit), a.limit);
    return (u + a.beta) * g * sigmoid(a.alpha * g);
  }
  default:
    return gate;
  }
}

/// Writes act(z + bias) of one output element (bias: the expert's [M]
/// row; a gated activation's up bias sits `biasUp` after the gate's) to
/// `out`, or rounded to `Rounded` (to nearest even) to `rounded` when that
/// is not null: rows for a 16-bit matmul next, no rounding pass.
template <typename Rounded = float>
__device__ inline void storeOutput(float *out, int64_t outCols, int64_t row,
                                   int64_t col, float gate, float up,
                                   const float *bias, int64_t biasUp,
                                   const moe_activation_params &act, bool gated,
                                   Rounded *rounded = nullptr) {
  if (bias) {
    gate += bias[col];
    if (gated)
      up += bias[biasUp + col];
  }
  float value = activate(act, gate, up);
  if (rounded)
    rounded[row * outCols + col] = Rounded(value);
  else
    out[row * outCols + col] = value;
}

} // namespace moe::runtime::cuda

#endif // MOE_RUNTIME_CUDA_ACTIVATION_CUH
