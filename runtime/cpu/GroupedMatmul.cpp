//===- GroupedMatmul.cpp - Grouped matmul kernel of the CPU runtime -------===//
//
// The plain version: each row finds its expert segment and runs a dot
// product per output column, then the activation epilogue. The register-
// blocked, prepacked kernels of issue 6 replace the inner loops; the
// semantics and the tests stay.
//
//===----------------------------------------------------------------------===//

#include "Parallel.h"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace moe::runtime;

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

bool isGated(int32_t kind) {
  return kind == MOE_ACTIVATION_SWIGLU || kind == MOE_ACTIVATION_CLAMPED_SWIGLU;
}

} // namespace

extern "C" moe_status
moe_grouped_matmul_f32(const moe_exec_config *config, const float *rows,
                       int64_t numRows, int64_t kDim, const float *weights,
                       int64_t numExperts, int64_t mDim,
                       const int32_t *offsets, const float *bias,
                       const moe_activation_params *activation, float *out) {
  moe_activation_params act = activation ? *activation
                                         : moe_activation_params{0, 0, 0, 0};
  bool gated = isGated(act.kind);
  if (!validConfig(config) || numRows < 0 || kDim < 0 || mDim < 0 ||
      numExperts < 1 || !offsets || !weights ||
      (numRows > 0 && (!rows || !out)) || act.kind < 0 ||
      act.kind > MOE_ACTIVATION_GELU_TANH || (gated && mDim % 2 != 0))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (offsets[0] != 0 || offsets[numExperts] != numRows)
    return MOE_ERROR_INDEX_OUT_OF_RANGE;
  for (int64_t e = 0; e < numExperts; ++e)
    if (offsets[e + 1] < offsets[e])
      return MOE_ERROR_INDEX_OUT_OF_RANGE;
  int64_t outCols = gated ? mDim / 2 : mDim;
  parallelFor(config, numRows, [&](int64_t r) {
    int64_t e = std::upper_bound(offsets + 1, offsets + numExperts + 1,
                                 static_cast<int32_t>(r)) -
                (offsets + 1);
    const float *w = weights + e * kDim * mDim;
    const float *x = rows + r * kDim;
    std::vector<float> z(mDim);
    for (int64_t m = 0; m < mDim; ++m)
      z[m] = bias ? bias[e * mDim + m] : 0.0f;
    for (int64_t kk = 0; kk < kDim; ++kk) {
      float xv = x[kk];
      const float *wRow = w + kk * mDim;
      for (int64_t m = 0; m < mDim; ++m)
        z[m] += xv * wRow[m];
    }
    float *dst = out + r * outCols;
    for (int64_t c = 0; c < outCols; ++c)
      dst[c] = activate(act, z[c], gated ? z[c + outCols] : 0.0f);
  });
  return MOE_OK;
}
