/*===- moe_runtime.h - C ABI of the MoE kernel runtimes -------------------===*
 *
 * The kernels compiled models call for the decomposed moe ops: route,
 * permute, grouped matmul, combine. Every entry point takes caller-owned
 * buffers (row-major, no hidden allocation beyond per-call scratch), returns
 * a status, and is safe to call from several threads at once. The CPU
 * runtime (runtime/cpu, oneTBB) and the CUDA runtime implement this header.
 *
 * Semantics are the moe dialect's (docs/reference/Dialects/MoEDialect.md):
 * ONNX TopK order (larger first, NaN above numbers, lower index on ties),
 * stable permutation by expert, combine summed in increasing slot order.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_H
#define MOE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of this header. */
#define MOE_RUNTIME_API_VERSION 5

/* Bytes of freed compiled-code buffers the runtime keeps for reuse
 * (MOE_RUNTIME_BUFFER_CACHE, default 1 GiB; 0: off, as in sanitizer
 * builds). */
int64_t moe_runtime_buffer_cache_limit(void);

/* Installs, for the calling thread, the allocator of the compiled code's
 * buffers that moe-mark-device-io tagged for device memory (allocated with
 * alignment MOE_DEVICE_BUFFER_ALIGNMENT; both NULL: those come from the
 * heap too). What
 * moe_model_run_device uses to put a device-resident graph's buffers in
 * device memory for one run; buffers the host touches stay on the heap. */
#define MOE_DEVICE_BUFFER_ALIGNMENT 256 /* the tag moe-mark-device-io sets */
typedef void *(*moe_alloc_fn)(size_t bytes);
typedef void (*moe_free_fn)(void *pointer);
void moe_runtime_set_thread_allocator(moe_alloc_fn allocate,
                                      moe_free_fn release);

/* Returns MOE_RUNTIME_API_VERSION of the library actually linked. */
int32_t moe_runtime_api_version(void);

/* Routing statistics (off by default; see docs/Statistics.md): while
 * enabled, every moe_cc_route_f32 call adds, for its layer, the tokens
 * routed to each expert, their gate weights and the router's mean
 * probabilities. Kept per runtime copy (per compiled model library). */
void moe_stats_enable(int32_t on);
int32_t moe_stats_enabled(void);
void moe_stats_reset(void);
/* The statistics as JSON, malloc'd (free() it); NULL when out of memory. */
char *moe_stats_json(void);
/* Adds one routing call of layer `layer` (named `name`): logits [T, E]
 * (host memory, rows `logits_stride` floats apart) of routing `kind`, and
 * the chosen expert_ids and weights [T, k] (rows `slot_stride` apart: the
 * routed slots only, not appended shared experts). What moe_cc_route_* do
 * while enabled; the CUDA runtime's calls use it with their results
 * copied back. */
void moe_stats_record_routing(int32_t layer, const char *name, int32_t kind,
                              const float *logits, int64_t logits_stride,
                              int64_t num_tokens, int64_t num_experts,
                              int64_t k, const int32_t *expert_ids,
                              const float *weights, int64_t slot_stride);

/* The CPU runtime's instruction set for its matmul micro-kernels:
 * "avx512bf16" (AVX-512 with AVX512_BF16 dot products for bfloat16
 * weights), "avx512", "avx2" or "generic", the best the CPU has, capped
 * by the environment variable MOE_RUNTIME_ISA=generic|avx2|avx512|
 * avx512bf16 when set. */
const char *moe_runtime_cpu_isa(void);

typedef enum moe_status {
  MOE_OK = 0,
  /* A size, count or parameter is out of range (k > E, groups...). */
  MOE_ERROR_INVALID_ARGUMENT = 1,
  /* An index read from a buffer (an expert id, a row) is out of range. */
  MOE_ERROR_INDEX_OUT_OF_RANGE = 2,
  /* A device runtime call failed (no GPU, launch error). */
  MOE_ERROR_DEVICE = 3,
} moe_status;

/* Kernels run on at most this many threads (0: all available). */
typedef struct moe_exec_config {
  int32_t num_threads;
} moe_exec_config;

typedef enum moe_routing_kind {
  MOE_ROUTING_SOFTMAX_TOPK = 0,
  MOE_ROUTING_TOPK_SOFTMAX = 1,
  MOE_ROUTING_SIGMOID_TOPK = 2,
  MOE_ROUTING_DENSE = 3,
} moe_routing_kind;

typedef enum moe_group_mask {
  MOE_GROUP_MASK_NEG_INF = 0,
  MOE_GROUP_MASK_ZERO = 1,
} moe_group_mask;

typedef struct moe_routing_params {
  int32_t kind; /* moe_routing_kind */
  int32_t k;
  int32_t renormalize;
  int32_t n_group;    /* 1: no group limit */
  int32_t topk_group; /* groups a token may choose from */
  float scale;        /* applied to the final weights */
  /* moe_group_mask: the choice score of experts outside the chosen
   * groups. 0 (the zero-initialized default): -inf, never picked;
   * 1: 0.0, as Hugging Face's DeepseekV3 masks. */
  int32_t group_mask;
  /* Always-selected (shared) experts after the k routed ones: each token's
   * slots k .. k + num_shared - 1 hold experts E .. E + num_shared - 1, so
   * expert_ids and weights are [T, k + num_shared]. Their weight is 1, or
   * with shared_gate = 1 the sigmoid of one more logit per token, column E
   * of logits [T, E + 1] (Qwen2-MoE's shared_expert_gate). 0 and 0 (the
   * zero-initialized default): no shared experts, logits [T, E]. */
  int32_t num_shared;
  int32_t shared_gate;
} moe_routing_params;

/* logits [T, E] (+ the shared gate's column), correction_bias [E] or NULL
 * (sigmoid routing only) -> expert_ids [T, k] (in choice order), weights
 * [T, k] (+ the shared experts' slots; see moe_routing_params). */
moe_status moe_route_f32(const moe_exec_config *config, const float *logits,
                         int64_t num_tokens, int64_t num_experts,
                         const moe_routing_params *params,
                         const float *correction_bias, int32_t *expert_ids,
                         float *weights);

/* The whole gating in one kernel: logits = input [T, d] . router [d, E]
 * (+ router_bias [E]; E + 1 columns for both with a shared gate), then
 * moe_route_f32's rule. */
moe_status moe_route_fused_f32(const moe_exec_config *config,
                               const float *input, int64_t num_tokens,
                               int64_t d, const float *router,
                               const float *router_bias, int64_t num_experts,
                               const moe_routing_params *params,
                               const float *correction_bias,
                               int32_t *expert_ids, float *weights);

/* expert_ids [T, k] -> assignments [T * k] (flat index t * k + j in sorted
 * order, stable), offsets [E + 1], inverse [T, k] (sorted position of each
 * assignment). Fails with MOE_ERROR_INDEX_OUT_OF_RANGE on an id outside
 * [0, E) and writes nothing then. */
moe_status moe_permute(const moe_exec_config *config, const int32_t *expert_ids,
                       int64_t num_tokens, int64_t k, int64_t num_experts,
                       int32_t *assignments, int32_t *offsets,
                       int32_t *inverse);

/* rows [N, d] = input[assignments[s] / k] for every sorted slot s. */
moe_status moe_gather_rows_f32(const moe_exec_config *config,
                               const float *input, int64_t num_tokens,
                               int64_t d, const int32_t *assignments,
                               int64_t k, float *rows);

typedef enum moe_activation_kind {
  MOE_ACTIVATION_NONE = 0,
  MOE_ACTIVATION_RELU = 1,
  MOE_ACTIVATION_GELU = 2,
  MOE_ACTIVATION_SILU = 3,
  MOE_ACTIVATION_SWIGLU = 4,
  MOE_ACTIVATION_CLAMPED_SWIGLU = 5,
  MOE_ACTIVATION_GELU_TANH = 6,
} moe_activation_kind;

typedef struct moe_activation_params {
  int32_t kind; /* moe_activation_kind */
  float alpha, beta, limit; /* clamped_swiglu only */
} moe_activation_params;

/* For each expert e and each row r in [offsets[e], offsets[e + 1]):
 * z = rows[r] @ weights[e] + bias[e] (weights [E, K, M], bias [E, M] or
 * NULL), then the activation; gated activations read gate from columns
 * [0, M/2) and up from [M/2, M) and write [N, M/2]. */
moe_status moe_grouped_matmul_f32(const moe_exec_config *config,
                                  const float *rows, int64_t num_rows,
                                  int64_t k_dim, const float *weights,
                                  int64_t num_experts, int64_t m_dim,
                                  const int32_t *offsets, const float *bias,
                                  const moe_activation_params *activation,
                                  float *out);

/* out[t] = sum_j weights[t, j] * rows[inverse[t, j]], j increasing. */
/* moe_grouped_matmul_f32 on weights prepacked into panels
 * (moe_packing.h: what moe-compile stores for constant weights). */
moe_status moe_grouped_matmul_packed_f32(
    const moe_exec_config *config, const float *rows, int64_t num_rows,
    int64_t k_dim, const float *packed_weights, int64_t num_experts,
    int64_t m_dim, const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out);
/* Packs weights [E, K, M] for it (gated: gate and up halves apart) into
 * moe_packed_weights_elements(...) floats. */
moe_status moe_pack_weights_f32(const float *weights, int64_t num_experts,
                                int64_t k_dim, int64_t m_dim, int32_t gated,
                                float *packed);
int64_t moe_packed_weights_elements(int64_t num_experts, int64_t k_dim,
                                    int64_t m_dim, int32_t gated);
/* The same with bfloat16 weights (bit patterns, packed by
 * moe_pack_weights_bf16 into moe_packed_weights_elements_bf16 values,
 * rounded to nearest even, K rows in pairs): half the weight bytes, fp32
 * accumulation and output. The rows stay fp32 except on "avx512bf16",
 * where they are rounded to bfloat16 for the VDPBF16PS dot products. */
moe_status moe_grouped_matmul_packed_bf16w(
    const moe_exec_config *config, const float *rows, int64_t num_rows,
    int64_t k_dim, const uint16_t *packed_weights, int64_t num_experts,
    int64_t m_dim, const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out);
moe_status moe_pack_weights_bf16(const float *weights, int64_t num_experts,
                                 int64_t k_dim, int64_t m_dim, int32_t gated,
                                 uint16_t *packed);
int64_t moe_packed_weights_elements_bf16(int64_t num_experts, int64_t k_dim,
                                         int64_t m_dim, int32_t gated);
/* The same with int8 weights and one fp32 scale per output column and
 * expert (symmetric, scale = max |w| / 127; moe_pack_weights_int8 fills
 * moe_packed_weights_elements int8 values and moe_packed_weights_columns
 * scales): a quarter of the weight bytes, out = bias + x . (q * scale)
 * in fp32. */
moe_status moe_grouped_matmul_packed_i8w(
    const moe_exec_config *config, const float *rows, int64_t num_rows,
    int64_t k_dim, const int8_t *packed_weights, const float *scales,
    int64_t num_experts, int64_t m_dim, const int32_t *offsets,
    const float *bias, const moe_activation_params *activation, float *out);
moe_status moe_pack_weights_int8(const float *weights, int64_t num_experts,
                                 int64_t k_dim, int64_t m_dim, int32_t gated,
                                 int8_t *packed, float *scales);
int64_t moe_packed_weights_columns(int64_t num_experts, int64_t m_dim,
                                   int32_t gated);

moe_status moe_combine_f32(const moe_exec_config *config, const float *rows,
                           int64_t num_rows, int64_t d, const float *weights,
                           const int32_t *inverse, int64_t num_tokens,
                           int64_t k, float *out);

/*===- Entry points for compiled code -------------------------------------===*
 *
 * The same kernels with scalar parameters only (no structs), so that code
 * generated by the compiler (convert-moe-to-runtime) calls them with plain
 * pointers and integers. `num_threads` is moe_exec_config's. They return a
 * moe_status as int32_t.
 */

/* The routing parameters of moe_routing_params, in its order (scale last);
 * `layer` and `layer_name` name the call in the routing statistics. */
int32_t moe_cc_route_f32(int32_t num_threads, const float *logits,
                         int64_t num_tokens, int64_t num_experts, int32_t kind,
                         int32_t k, int32_t renormalize, int32_t n_group,
                         int32_t topk_group, int32_t group_mask,
                         int32_t num_shared, int32_t shared_gate, float scale,
                         const float *correction_bias, int32_t *expert_ids,
                         float *weights, int32_t layer,
                         const char *layer_name);

/* Run-time errors of compiled code that must not abort the process: an
 * index read from data (Gather, Scatter) outside [-dim, dim). The first
 * error of the calling thread is kept until moe_cc_take_error returns it
 * (the model C API turns it into a failed run); the code goes on reading
 * nothing out of bounds. */
void moe_cc_index_error(const char *node, int64_t index, int64_t dim);
/* Compiled code calls this with every kernel's status: a failure is
 * kept like an index error (the model's run fails with its text). */
void moe_cc_check_status(int32_t status, const char *what);
/* The same with the device runtime's text of a MOE_ERROR_DEVICE (code
 * compiled for CUDA passes moe_cuda_last_error()). */
void moe_cc_check_status_detail(int32_t status, const char *what,
                                const char *detail);
/* The calling thread's first error since the last call, or NULL; clears
 * it. The text stays valid until the thread's next error. */
const char *moe_cc_take_error(void);

/* moe_route_fused_f32 for generated code; the logits are x . router
 * (+ router_bias). */
int32_t moe_cc_route_fused_f32(int32_t num_threads, const float *input,
                               int64_t num_tokens, int64_t d,
                               const float *router, const float *router_bias,
                               int64_t num_experts, int32_t kind, int32_t k,
                               int32_t renormalize, int32_t n_group,
                               int32_t topk_group, int32_t group_mask,
                               int32_t num_shared, int32_t shared_gate,
                               float scale, const float *correction_bias,
                               int32_t *expert_ids, float *weights,
                               int32_t layer, const char *layer_name);

/* moe_grouped_matmul_packed_f32 for generated code. The grouped matmul
 * entries take `expert_order` (a permutation of [0, E), or NULL): the order
 * in which the experts' work is scheduled, busiest first when moe-compile
 * had a routing profile. Results do not depend on it. With
 * `combine_weights` [T, k] and `combine_inverse` [T, k] (moe.grouped_matmul
 * with a combine clause; NULL otherwise) the combine is fused into the
 * epilogue: `out` is [T, M] with out[t] = sum_j combine_weights[t, j] *
 * z[combine_inverse[t, j]], summed in increasing j (as moe_combine_f32),
 * and the [N, M] rows are never stored. */
int32_t moe_cc_grouped_matmul_packed_f32(
    int32_t num_threads, const float *rows, int64_t num_rows, int64_t k_dim,
    const float *packed_weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias, int32_t activation, float alpha,
    float beta, float limit, float *out, const int32_t *expert_order,
    const float *combine_weights, const int32_t *combine_inverse,
    int64_t num_tokens, int64_t k);

/* moe_grouped_matmul_packed_bf16w for generated code. */
int32_t moe_cc_grouped_matmul_packed_bf16w(
    int32_t num_threads, const float *rows, int64_t num_rows, int64_t k_dim,
    const uint16_t *packed_weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias, int32_t activation, float alpha,
    float beta, float limit, float *out, const int32_t *expert_order,
    const float *combine_weights, const int32_t *combine_inverse,
    int64_t num_tokens, int64_t k);

/* moe_grouped_matmul_packed_i8w for generated code. */
int32_t moe_cc_grouped_matmul_packed_i8w(
    int32_t num_threads, const float *rows, int64_t num_rows, int64_t k_dim,
    const int8_t *packed_weights, const float *scales, int64_t num_experts,
    int64_t m_dim, const int32_t *offsets, const float *bias,
    int32_t activation, float alpha, float beta, float limit, float *out,
    const int32_t *expert_order, const float *combine_weights,
    const int32_t *combine_inverse, int64_t num_tokens, int64_t k);

/* moe_permute, then moe_gather_rows_f32 of input [T, d] into rows. */
int32_t moe_cc_permute_f32(int32_t num_threads, const float *input,
                           int64_t num_tokens, int64_t d,
                           const int32_t *expert_ids, int64_t k,
                           int64_t num_experts, float *rows,
                           int32_t *assignments, int32_t *offsets,
                           int32_t *inverse);

int32_t moe_cc_grouped_matmul_f32(int32_t num_threads, const float *rows,
                                  int64_t num_rows, int64_t k_dim,
                                  const float *weights, int64_t num_experts,
                                  int64_t m_dim, const int32_t *offsets,
                                  const float *bias, int32_t activation,
                                  float alpha, float beta, float limit,
                                  float *out, const int32_t *expert_order,
    const float *combine_weights, const int32_t *combine_inverse,
    int64_t num_tokens, int64_t k);

int32_t moe_cc_combine_f32(int32_t num_threads, const float *rows,
                           int64_t num_rows, int64_t d, const float *weights,
                           const int32_t *inverse, int64_t num_tokens,
                           int64_t k, float *out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOE_RUNTIME_H */
