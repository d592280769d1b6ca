/*===- moe_runtime_cuda.h - C ABI of the CUDA MoE kernels -----------------===*
 *
 * The CUDA runtime (runtime/cuda) implements the kernels of moe_runtime.h
 * on NVIDIA GPUs: same semantics (routing with ONNX TopK order, stable
 * permutation by expert, grouped matmul with fused epilogues, combine in
 * slot order), device pointers instead of host ones. Every call is
 * asynchronous on `stream` (a cudaStream_t; NULL: the legacy default
 * stream); arguments are checked on the host first and a bad one returns
 * MOE_ERROR_INVALID_ARGUMENT before anything is launched, so these checks
 * work without a GPU. Ids read from device memory must be in range (the
 * routing kernel's output is).
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_CUDA_H
#define MOE_RUNTIME_CUDA_H

#include "moe_runtime.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOE_RUNTIME_CUDA_API_VERSION 1

int32_t moe_cuda_runtime_api_version(void);
/* The CUDA error text of the calling thread's last MOE_ERROR_DEVICE. */
const char *moe_cuda_last_error(void);

/* logits [T, E] -> expert_ids [T, k], weights [T, k]; E <= 512,
 * n_group <= 64. */
moe_status moe_cuda_route_f32(void *stream, const float *logits,
                              int64_t num_tokens, int64_t num_experts,
                              const moe_routing_params *params,
                              const float *correction_bias,
                              int32_t *expert_ids, float *weights);

/* expert_ids [T, k] -> assignments [T*k] (flat slots sorted by expert,
 * stable), offsets [E+1], inverse [T, k]. */
moe_status moe_cuda_permute(void *stream, const int32_t *expert_ids,
                            int64_t num_tokens, int64_t k,
                            int64_t num_experts, int32_t *assignments,
                            int32_t *offsets, int32_t *inverse);

/* rows[r] = input[assignments[r] / k]. */
moe_status moe_cuda_gather_rows_f32(void *stream, const float *input,
                                    int64_t num_tokens, int64_t d,
                                    const int32_t *assignments, int64_t k,
                                    float *rows);

/* out[r] = act(rows[r] . weights[e] + bias[e]) for r in expert e's
 * segment [offsets[e], offsets[e+1]); weights [E, K, M] row-major; gated
 * activations read gate = columns [0, M/2), up = [M/2, M). fp32 SIMT
 * tiles; segments are padded to whole tiles by index, never by copying. */
moe_status moe_cuda_grouped_matmul_f32(
    void *stream, const float *rows, int64_t num_rows, int64_t k_dim,
    const float *weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out);

/* The same with bf16 rows and weights (uint16_t bit patterns) on tensor
 * cores (WMMA, sm_80+), fp32 accumulation, fp32 bias and output. */
moe_status moe_cuda_grouped_matmul_bf16(
    void *stream, const uint16_t *rows, int64_t num_rows, int64_t k_dim,
    const uint16_t *weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out);

/* out[t] = sum_j weights[t, j] * rows[inverse[t, j]], j in slot order. */
moe_status moe_cuda_combine_f32(void *stream, const float *rows,
                                int64_t num_rows, int64_t d,
                                const float *weights, const int32_t *inverse,
                                int64_t num_tokens, int64_t k, float *out);

/* Host-side planning, no GPU needed: row tiles the grouped matmul launches
 * for num_rows rows in num_experts segments with tiles of tile_rows rows
 * (an upper bound of sum_e ceil(n_e / tile_rows)); -1 on bad arguments. */
int64_t moe_cuda_max_row_tiles(int64_t num_rows, int64_t num_experts,
                               int64_t tile_rows);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOE_RUNTIME_CUDA_H */
