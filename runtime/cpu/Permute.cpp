//===- Permute.cpp - Permutation, row gather and combine kernels ----------===//
//
// The permutation is a stable counting sort of the T * k assignments by
// expert (sequential: O(T * k), and deterministic). Ids are checked before
// anything is written.
//
//===----------------------------------------------------------------------===//

#include "Parallel.h"
#include "Validation.h"

#include <algorithm>
#include <vector>

using namespace moe::runtime;

extern "C" moe_status moe_permute(const moe_exec_config *config,
                                  const int32_t *expertIds, int64_t numTokens,
                                  int64_t k, int64_t numExperts,
                                  int32_t *assignments, int32_t *offsets,
                                  int32_t *inverse) {
  int64_t n = numTokens * k;
  if (!validConfig(config) || numTokens < 0 || k < 1 || numExperts < 1 ||
      !offsets || (n > 0 && (!expertIds || !assignments || !inverse)) ||
      n > INT32_MAX)
    return MOE_ERROR_INVALID_ARGUMENT;
  if (!indicesBelow(expertIds, n, numExperts))
    return MOE_ERROR_INDEX_OUT_OF_RANGE;
  std::vector<int64_t> next(numExperts + 1, 0);
  for (int64_t a = 0; a < n; ++a)
    ++next[expertIds[a] + 1];
  for (int64_t e = 0; e < numExperts; ++e)
    next[e + 1] += next[e];
  for (int64_t e = 0; e <= numExperts; ++e)
    offsets[e] = static_cast<int32_t>(next[e]);
  for (int64_t a = 0; a < n; ++a) {
    int64_t slot = next[expertIds[a]]++;
    assignments[slot] = static_cast<int32_t>(a);
    inverse[a] = static_cast<int32_t>(slot);
  }
  return MOE_OK;
}

extern "C" moe_status moe_gather_rows_f32(const moe_exec_config *config,
                                          const float *input,
                                          int64_t numTokens, int64_t d,
                                          const int32_t *assignments,
                                          int64_t k, float *rows) {
  int64_t n = numTokens * k;
  if (!validConfig(config) || numTokens < 0 || d < 0 || k < 1 ||
      (n > 0 && (!input || !assignments || !rows)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (!indicesBelow(assignments, n, n))
    return MOE_ERROR_INDEX_OUT_OF_RANGE;
  parallelFor(config, n, [&](int64_t s) {
    const float *src = input + (assignments[s] / k) * d;
    std::copy(src, src + d, rows + s * d);
  });
  return MOE_OK;
}

extern "C" moe_status moe_combine_f32(const moe_exec_config *config,
                                      const float *rows, int64_t numRows,
                                      int64_t d, const float *weights,
                                      const int32_t *inverse,
                                      int64_t numTokens, int64_t k,
                                      float *out) {
  if (!validConfig(config) || numRows < 0 || d < 0 || numTokens < 0 ||
      k < 1 || (numTokens > 0 && (!weights || !inverse || !out)) ||
      (numRows > 0 && !rows))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (!indicesBelow(inverse, numTokens * k, numRows))
    return MOE_ERROR_INDEX_OUT_OF_RANGE;
  parallelFor(config, numTokens, [&](int64_t t) {
    float *dst = out + t * d;
    std::fill(dst, dst + d, 0.0f);
    for (int64_t j = 0; j < k; ++j) {
      float w = weights[t * k + j];
      const float *src = rows + static_cast<int64_t>(inverse[t * k + j]) * d;
      for (int64_t c = 0; c < d; ++c)
        dst[c] += w * src[c];
    }
  });
  return MOE_OK;
}
