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

#define MOE_RUNTIME_CUDA_API_VERSION 10

int32_t moe_cuda_runtime_api_version(void);
/* The CUDA error text of the calling thread's last MOE_ERROR_DEVICE. */
const char *moe_cuda_last_error(void);

/* The routing kernel's limits (one warp per token, its scores in shared
 * memory): routed experts and expert groups. The compiler routes layers
 * beyond them on the host (the CPU runtime's kernel), experts on the GPU. */
#define MOE_CUDA_MAX_ROUTED_EXPERTS 512
#define MOE_CUDA_MAX_EXPERT_GROUPS 64

/* logits [T, E] -> expert_ids [T, k], weights [T, k]; E <=
 * MOE_CUDA_MAX_ROUTED_EXPERTS, n_group <= MOE_CUDA_MAX_EXPERT_GROUPS. With shared experts (moe_routing_params.num_shared,
 * shared_gate): logits [T, E + shared_gate] -> [T, k + num_shared]. */
moe_status moe_cuda_route_f32(void *stream, const float *logits,
                              int64_t num_tokens, int64_t num_experts,
                              const moe_routing_params *params,
                              const float *correction_bias,
                              int32_t *expert_ids, float *weights);

/* The router's logits: logits [T, C] = input [T, d] . router [d, C]
 * (+ bias [C] or NULL), fp32. Up to 8 tokens (decode) a GEMV whose blocks
 * split C in 32 columns and d in ranges to fill the GPU; more tokens the
 * fp32 grouped matmul with one expert. */
moe_status moe_cuda_router_logits_f32(void *stream, const float *input,
                                      int64_t num_tokens, int64_t d,
                                      const float *router, int64_t columns,
                                      const float *bias, float *logits);

/* Routing from the layer's input: moe_cuda_router_logits_f32 (router
 * [d, C], C = E plus a gated shared expert's column, router_bias [C] or
 * NULL) then moe_cuda_route_f32, in one launch fewer at decode: for up to
 * 8 tokens the routing kernel adds up the GEMV's partial sums itself.
 * logits [T, C] is written when not NULL (routing statistics). */
moe_status moe_cuda_route_fused_f32(
    void *stream, const float *input, int64_t num_tokens, int64_t d,
    const float *router, const float *router_bias, int64_t num_experts,
    const moe_routing_params *params, const float *correction_bias,
    int32_t *expert_ids, float *weights, float *logits);

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
 * cores (sm_80+: mma.sync when K, M and M' are multiples of 8, else WMMA;
 * split-K when the launch is too small to fill the GPU), fp32
 * accumulation, fp32 bias and output. The environment variable
 * MOE_CUDA_GROUPED_MATMUL=wmma forces the WMMA kernel, =wgmma opts in to
 * the experimental Hopper wgmma kernel (not yet checked on a GPU). */
moe_status moe_cuda_grouped_matmul_bf16(
    void *stream, const uint16_t *rows, int64_t num_rows, int64_t k_dim,
    const uint16_t *weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out);
/* The same with IEEE fp16 rows and weights (uint16_t bit patterns). */
moe_status moe_cuda_grouped_matmul_f16(
    void *stream, const uint16_t *rows, int64_t num_rows, int64_t k_dim,
    const uint16_t *weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out);

/* moe_cuda_grouped_matmul_bf16 through cuBLAS (cublasGemmGroupedBatchedEx,
 * one group per non-empty expert, into fp32 scratch, then a bias +
 * activation epilogue): the baseline our kernels are measured against,
 * and the fallback of compiled code with MOE_CUDA_GROUPED_MATMUL=cublas.
 * Synchronizes `stream` (cuBLAS takes the group sizes on the host). */
moe_status moe_cuda_grouped_matmul_cublas_bf16(
    void *stream, const uint16_t *rows, int64_t num_rows, int64_t k_dim,
    const uint16_t *weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out);

/* out[t] = sum_j weights[t, j] * rows[inverse[t, j]], j in slot order. */
moe_status moe_cuda_combine_f32(void *stream, const float *rows,
                                int64_t num_rows, int64_t d,
                                const float *weights, const int32_t *inverse,
                                int64_t num_tokens, int64_t k, float *out);

/* The graph's ops around its MoE layers (a residual add, an RMS norm), so
 * that their buffers need not leave the device: binary elementwise ops on
 * f32 with numpy broadcasting (ONNX Add, Sub, Mul, Div, Pow, Max, Min),
 * unary ones, and the mean over the last axis. */
#define MOE_CUDA_BINARY_ADD 0
#define MOE_CUDA_BINARY_SUB 1
#define MOE_CUDA_BINARY_MUL 2
#define MOE_CUDA_BINARY_DIV 3
#define MOE_CUDA_BINARY_POW 4
#define MOE_CUDA_BINARY_MAX 5
#define MOE_CUDA_BINARY_MIN 6
#define MOE_CUDA_MAX_ELEMENTWISE_RANK 4

#define MOE_CUDA_UNARY_NEG 0
#define MOE_CUDA_UNARY_SQRT 1
#define MOE_CUDA_UNARY_EXP 2
#define MOE_CUDA_UNARY_TANH 3
#define MOE_CUDA_UNARY_SIGMOID 4
#define MOE_CUDA_UNARY_RELU 5
#define MOE_CUDA_UNARY_ERF 6
#define MOE_CUDA_UNARY_COS 7
#define MOE_CUDA_UNARY_SIN 8

/* Element types of buffers whose type is an argument (16-bit ones as
 * their bits). */
#define MOE_CUDA_ELEMENT_F32 0
#define MOE_CUDA_ELEMENT_BF16 1
#define MOE_CUDA_ELEMENT_F16 2

/* Conversions between f32 and the 16-bit float types (round to nearest
 * even), for float16/bfloat16 models whose layers compute in f32; and
 * from signed integers to f32 (round to nearest: rotary embeddings'
 * position ids, an int64 graph input). */
#define MOE_CUDA_CAST_F16_TO_F32 0
#define MOE_CUDA_CAST_F32_TO_F16 1
#define MOE_CUDA_CAST_BF16_TO_F32 2
#define MOE_CUDA_CAST_F32_TO_BF16 3
#define MOE_CUDA_CAST_I64_TO_F32 4
#define MOE_CUDA_CAST_I32_TO_F32 5

/* out (row-major over `shape`, rank <= MOE_CUDA_MAX_ELEMENTWISE_RANK) =
 * lhs op rhs, element i of out reading lhs and rhs at the dot products of
 * its multi-index with their strides (in elements; 0 where an operand is
 * broadcast). */
moe_status moe_cuda_binary_f32(void *stream, int32_t op, int32_t rank,
                               const int64_t *shape, const float *lhs,
                               const int64_t *lhs_strides, const float *rhs,
                               const int64_t *rhs_strides, float *out);

/* out[i] = op(x[i]) for `count` elements. */
moe_status moe_cuda_unary_f32(void *stream, int32_t op, int64_t count,
                              const float *x, float *out);

/* out[i] = x[i] converted (MOE_CUDA_CAST_*: 16-bit values as their bits). */
moe_status moe_cuda_cast(void *stream, int32_t kind, int64_t count,
                         const void *x, void *out);

/* out[r] = the mean of x[r, :] ([rows, cols] row-major; cols >= 1). */
moe_status moe_cuda_mean_rows_f32(void *stream, const float *x, int64_t rows,
                                  int64_t cols, float *out);

/* RMS normalization of each row of h = x + residual (residual NULL: h =
 * x; [rows, cols] row-major; cols >= 1):
 * out[r, c] = h[r, c] * (1 / sqrt(mean(h[r, :]^2) + eps)) * weight[c]
 * (weight NULL: 1), h written to `sum` unless it is NULL. One launch for
 * what a graph writes as pow, mean, add, sqrt, reciprocal and two muls
 * (and the residual add before it: ONNX Runtime's
 * SkipSimplifiedLayerNormalization). */
moe_status moe_cuda_rms_norm_f32(void *stream, const float *x,
                                 const float *residual, int64_t rows,
                                 int64_t cols, float eps, const float *weight,
                                 float *sum, float *out);
/* The same with out of out_type (MOE_CUDA_ELEMENT_*; 16-bit: rounded to
 * nearest even, the activations of projections with 16-bit weights). */
moe_status moe_cuda_rms_norm(void *stream, int32_t out_type, const float *x,
                             const float *residual, int64_t rows, int64_t cols,
                             float eps, const float *weight, float *sum,
                             void *out);

/* Softmax of each row of x ([rows, cols] row-major; cols >= 1):
 * out[r, c] = exp(x[r, c] - max_r) / sum_c' exp(x[r, c'] - max_r): what an
 * attention block's scores take (ONNX Softmax over the last axis). */
moe_status moe_cuda_softmax_f32(void *stream, const float *x, int64_t rows,
                                int64_t cols, float *out);
/* The same with a causal mask, never built: in row i of each matrix of
 * matrix_rows rows (x's rows in groups), the columns j with j - i >= k are
 * left out (probability 0; a row left out whole is NaN), as adding
 * Trilu(full(-inf), upper, k) to x would. */
moe_status moe_cuda_causal_softmax_f32(void *stream, const float *x,
                                       int64_t rows, int64_t cols,
                                       int64_t matrix_rows, int64_t k,
                                       float *out);

/* out = x with its dims permuted (rank <= MOE_CUDA_MAX_ELEMENTWISE_RANK,
 * row-major; out's dim d is x's dim perm[d]): ONNX Transpose. */
moe_status moe_cuda_transpose_f32(void *stream, int32_t rank,
                                  const int64_t *dims, const int64_t *perm,
                                  const float *x, float *out);

/* dst[r * dst_stride + j] = src[r * src_stride + j] for r < rows, j <
 * width: a block of columns moved - one input of a Concat, or a Slice
 * along one axis (rows: the dims before it; columns: the rest). */
moe_status moe_cuda_copy_columns_f32(void *stream, int64_t rows, int64_t width,
                                     const float *src, int64_t src_stride,
                                     float *dst, int64_t dst_stride);

/* out [rows, w_0 + .. + w_(n-1)] = the n (1 to 4) inputs [rows, w_i]
 * side by side, in one launch: a Concat along one axis (rows: the dims
 * before it; columns: the axis's elements times the dims after it).
 * views: NULL (every input row-major), or for each input 8 values - the
 * dims of a view of it (rank MOE_CUDA_MAX_ELEMENTWISE_RANK, padded in
 * front with 1s) and its strides in the input's buffer (a transpose read
 * in place): input i's element (r, c) is its view's element r * w_i + c
 * in row-major order. */
moe_status moe_cuda_concat_f32(void *stream, int32_t n,
                               const float *const *inputs,
                               const int64_t *widths, int64_t rows,
                               const int64_t *views, float *out);
/* moe_cuda_concat_f32 with the output's and each input's element types
 * (MOE_CUDA_ELEMENT_*; input_types NULL: all f32): an input of another
 * type than the output is converted (f32 to 16 bits rounds to nearest
 * even) - a 16-bit KV cache extended by new f32 rows in one launch. */
moe_status moe_cuda_concat(void *stream, int32_t out_type, int32_t n,
                           const void *const *inputs,
                           const int32_t *input_types, const int64_t *widths,
                           int64_t rows, const int64_t *views, void *out);

/* out[i] = start + i * delta for i < count (ONNX Range in f32: the
 * positions of rotary embeddings). */
moe_status moe_cuda_range_f32(void *stream, float start, float delta,
                              int64_t count, float *out);

/* A rotary position embedding as HF's rotate_half writes it: out
 * row-major over `shape` (rank 1 to MOE_CUDA_MAX_ELEMENTWISE_RANK, rows of
 * cols = shape[rank - 1] values), out = x * cos + rot(x) * sin, where a
 * row's rot(x) is its columns [neg_start, neg_start + neg_width) negated,
 * then its columns [pos_start, pos_start + cols - neg_width) (rotate_half:
 * neg_start = pos_width = cols / 2, pos_start = 0); x, cos and sin read at
 * the dot products of an element's multi-index with their strides (0
 * where broadcast; x's last 1: its rows contiguous, the rest any - the
 * heads' transpose read in place). One launch for Transpose, Slice, Slice,
 * Neg, Concat, Mul, Mul, Add. */
moe_status moe_cuda_rotary_f32(void *stream, int32_t rank, const int64_t *shape,
                               const float *x, const int64_t *x_strides,
                               const float *cos, const int64_t *cos_strides,
                               const float *sin, const int64_t *sin_strides,
                               int64_t neg_start, int64_t neg_width,
                               int64_t pos_start, float *out);

/* out (rank <= MOE_CUDA_MAX_ELEMENTWISE_RANK, out_dims) = x (dims, each
 * out's or 1) repeated along its 1s: ONNX Expand (grouped-query
 * attention's k and v heads repeated). */
moe_status moe_cuda_expand_f32(void *stream, int32_t rank, const int64_t *dims,
                               const int64_t *out_dims, const float *x,
                               float *out);

/* Batched f32 matmuls through cuBLAS (fp32 compute, no TF32): for i <
 * batch0, j < batch1, out[i, j] = alpha * op(a[i, j]) . op(b[i, j]), each
 * matrix row-major with its rows lda / ldb / ldc elements apart: op(a)
 * [m, k] (a stored [k, m] when trans_a), op(b) [k, n] (b stored [n, k]
 * when trans_b), out [m, n]; matrix (i, j) of a starts at a + i *
 * a_stride0 + j * a_stride1 (a stride of 0 broadcasts it), of b and out
 * likewise. Leading dims at least a stored row's length. */
moe_status moe_cuda_matmul_f32(void *stream, int32_t trans_a, int32_t trans_b,
                               float alpha, int64_t batch0, int64_t batch1,
                               int64_t m, int64_t n, int64_t k, const float *a,
                               int64_t lda, int64_t a_stride0,
                               int64_t a_stride1, const float *b, int64_t ldb,
                               int64_t b_stride0, int64_t b_stride1, float *out,
                               int64_t ldc, int64_t out_stride0,
                               int64_t out_stride1);
/* The same with 16-bit operands (bfloat16, or IEEE fp16 when f16 is
 * nonzero; their bits) and fp32 accumulation and output: cuBLAS's
 * tensor-core GEMM. */
moe_status moe_cuda_matmul_16(void *stream, int32_t f16, int32_t trans_a,
                              int32_t trans_b, float alpha, int64_t batch0,
                              int64_t batch1, int64_t m, int64_t n, int64_t k,
                              const uint16_t *a, int64_t lda, int64_t a_stride0,
                              int64_t a_stride1, const uint16_t *b, int64_t ldb,
                              int64_t b_stride0, int64_t b_stride1, float *out,
                              int64_t ldc, int64_t out_stride0,
                              int64_t out_stride1);

/* The widest head (head_dim, value_dim) moe_cuda_attention_f32 computes in
 * one launch; wider ones run as cuBLAS, softmax, cuBLAS (scores in
 * scratch). */
#define MOE_CUDA_MAX_ATTENTION_HEAD_DIM 256

/* moe_cuda_attention_f32's precision: the MOE_CUDA_ELEMENT_* type the
 * products are computed in - f32 (CUDA cores), or q, k, v and the softmax
 * weights rounded to bfloat16 or fp16 for the tensor cores (f32
 * accumulation and softmax), what a model compiled with 16-bit weights
 * asks for. The 16-bit precisions apply where the tensor-core kernel
 * takes the call (heads up to MOE_CUDA_MAX_MMA_ATTENTION_HEAD_DIM wide,
 * 64 or more rows per k/v head - prefill - and k and v in f32 or that
 * type); other calls (decode) compute in f32. Its kv_type: k and v's
 * elements (a KV cache kept in a 16-bit model's type). */
#define MOE_CUDA_MAX_MMA_ATTENTION_HEAD_DIM 128

/* Fused scaled dot-product attention in f32, the scores never written out
 * (flash attention's online softmax): for b < batch, h < heads, t <
 * queries, out[b, h, t] = sum_j p_j v[b, h / group, j] with p the softmax
 * over j of alpha * q[b, h, t] . k[b, h / group, j], group = heads /
 * kv_heads (grouped-query attention: q's heads in groups sharing a k/v
 * head; kv_heads must divide heads), j over the keys < keys - with causal
 * nonzero only those with j - t < causal_k (a causal mask: Trilu(full(-inf),
 * upper, causal_k) added to the scores; a row keeping none is NaN, as the
 * softmax of -inf scores is), and with bias (NULL: none) an additive mask
 * too: bias[b * s0 + h * s1 + t * s2 + j * s3] added to score (b, h, t, j)
 * (bias_strides s0..s3; 0 broadcasts; -inf leaves a key out). keys = 0: zeros.
 * Each row (head_dim values of q and k, value_dim of v and out) is contiguous;
 * row (b, h, t) of q starts at q + b * q_strides[0] + h * q_strides[1] + t *
 * q_strides[2], of k and v at their kv head and key with their strides (a batch
 * stride 0 broadcasts), of out likewise. precision, kv_type (k and v's
 * elements), out_type (out's: 16-bit rounds the result, the activations
 * of the projection that reads it): MOE_CUDA_ELEMENT_*.
 * One launch (decode's few rows split the keys over blocks, merged by the
 * last to finish; on a stream other than the calling thread's per-thread
 * one, by a second launch). */
moe_status moe_cuda_attention_f32(
    void *stream, int64_t batch, int64_t heads, int64_t kv_heads,
    int64_t queries, int64_t keys, int64_t head_dim, int64_t value_dim,
    float alpha, int32_t precision, int32_t kv_type, const float *q,
    const int64_t *q_strides, const void *k, const int64_t *k_strides,
    const void *v, const int64_t *v_strides, int32_t causal, int64_t causal_k,
    const float *bias, const int64_t *bias_strides, int32_t out_type, void *out,
    const int64_t *out_strides);

/*===- Entry points for code compiled with --target=cuda -----------------===*
 *
 * moe_runtime.h's moe_cc_* entry points on the GPU, with the same
 * scalar-only signatures and host buffers: each call copies its inputs to
 * the device on the calling thread's stream (cudaStreamPerThread), runs the
 * kernels above and copies its outputs back before it returns. Buffers in
 * device memory (a device-resident run) are used in place; a call whose
 * outputs all stay on the device returns with its work in flight on that
 * stream (moe_cuda_cc_copy waits for it). Indices that
 * come from the host (expert ids, offsets, combine inverses) are checked
 * first, as on the CPU. The grouped matmuls take row-major weights [E, K, M]
 * (f32; bf16 bit patterns for the _bf16w entry points, IEEE fp16 for the
 * _f16w ones: the rows are rounded to that type on the device for the
 * tensor cores) and `weights_constant`: nonzero when the weights are
 * constants of the compiled model, which are then uploaded once and kept
 * on the device, keyed by their host address; `expert_order` is accepted
 * and not needed (the GPU schedules tiles itself). */
int32_t moe_cuda_cc_route_f32(int32_t num_threads, const float *logits,
                              int64_t num_tokens, int64_t num_experts,
                              int32_t kind, int32_t k, int32_t renormalize,
                              int32_t n_group, int32_t topk_group,
                              int32_t group_mask, int32_t num_shared,
                              int32_t shared_gate, float scale,
                              const float *correction_bias,
                              int32_t *expert_ids, float *weights,
                              int32_t layer, const char *layer_name);
int32_t moe_cuda_cc_route_fused_f32(
    int32_t num_threads, const float *input, int64_t num_tokens, int64_t d,
    const float *router, const float *router_bias, int64_t num_experts,
    int32_t kind, int32_t k, int32_t renormalize, int32_t n_group,
    int32_t topk_group, int32_t group_mask, int32_t num_shared,
    int32_t shared_gate, float scale,
    const float *correction_bias, int32_t *expert_ids, float *weights,
    int32_t layer, const char *layer_name);
int32_t moe_cuda_cc_permute_f32(int32_t num_threads, const float *input,
                                int64_t num_tokens, int64_t d,
                                const int32_t *expert_ids, int64_t k,
                                int64_t num_experts, float *rows,
                                int32_t *assignments, int32_t *offsets,
                                int32_t *inverse);
int32_t moe_cuda_cc_grouped_matmul_f32(
    int32_t num_threads, const float *rows, int64_t num_rows, int64_t k_dim,
    const float *weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias, int32_t activation, float alpha,
    float beta, float limit, float *out, const int32_t *expert_order,
    const float *combine_weights, const int32_t *combine_inverse,
    int64_t num_tokens, int64_t k, int32_t weights_constant);
int32_t moe_cuda_cc_grouped_matmul_bf16w(
    int32_t num_threads, const float *rows, int64_t num_rows, int64_t k_dim,
    const uint16_t *weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias, int32_t activation, float alpha,
    float beta, float limit, float *out, const int32_t *expert_order,
    const float *combine_weights, const int32_t *combine_inverse,
    int64_t num_tokens, int64_t k, int32_t weights_constant);
int32_t moe_cuda_cc_grouped_matmul_f16w(
    int32_t num_threads, const float *rows, int64_t num_rows, int64_t k_dim,
    const uint16_t *weights, int64_t num_experts, int64_t m_dim,
    const int32_t *offsets, const float *bias, int32_t activation, float alpha,
    float beta, float limit, float *out, const int32_t *expert_order,
    const float *combine_weights, const int32_t *combine_inverse,
    int64_t num_tokens, int64_t k, int32_t weights_constant);
/* A layer's experts in one call, the intermediates kept on the device:
 * moe.permute of input [T, d] by expert_ids [T, k], the grouped matmul
 * with w1 [E, d, m1] (+ b1, act1), the grouped matmul with w2
 * [E, h, m2] (h = m1, or m1 / 2 when act1 is gated; + b2, act2) and the
 * combine with combine_weights [T, k] into out [T, m2'] (what the
 * decomposed ops compute, with the same kernels). */
int32_t moe_cuda_cc_experts_f32(
    int32_t num_threads, const float *input, int64_t num_tokens, int64_t d,
    const int32_t *expert_ids, const float *combine_weights, int64_t k,
    int64_t num_experts, const float *w1, int64_t m1, const float *b1,
    int32_t act1, float alpha1, float beta1, float limit1,
    int32_t w1_constant, const float *w2, int64_t m2, const float *b2,
    int32_t act2, float alpha2, float beta2, float limit2,
    int32_t w2_constant, float *out);
int32_t moe_cuda_cc_experts_bf16w(
    int32_t num_threads, const float *input, int64_t num_tokens, int64_t d,
    const int32_t *expert_ids, const float *combine_weights, int64_t k,
    int64_t num_experts, const uint16_t *w1, int64_t m1, const float *b1,
    int32_t act1, float alpha1, float beta1, float limit1,
    int32_t w1_constant, const uint16_t *w2, int64_t m2, const float *b2,
    int32_t act2, float alpha2, float beta2, float limit2,
    int32_t w2_constant, float *out);
int32_t moe_cuda_cc_experts_f16w(
    int32_t num_threads, const float *input, int64_t num_tokens, int64_t d,
    const int32_t *expert_ids, const float *combine_weights, int64_t k,
    int64_t num_experts, const uint16_t *w1, int64_t m1, const float *b1,
    int32_t act1, float alpha1, float beta1, float limit1,
    int32_t w1_constant, const uint16_t *w2, int64_t m2, const float *b2,
    int32_t act2, float alpha2, float beta2, float limit2,
    int32_t w2_constant, float *out);
/* A whole layer with fused gating in one call: moe_cuda_cc_route_fused_f32
 * of input [T, d] (router [d, E] + router_bias, the routing parameters),
 * then moe_cuda_cc_experts_* with its ids and weights (over the E routed
 * experts and the num_shared shared ones after them), which never leave
 * the device: the input goes up once and out [T, m2'] comes down. A
 * router preloaded at model creation is used from the device (as in
 * moe_cuda_cc_route_fused_f32); `layer` and `layer_name` are the routing
 * statistics' (which copy the routing back only while recording). */
int32_t moe_cuda_cc_layer_f32(
    int32_t num_threads, const float *input, int64_t num_tokens, int64_t d,
    const float *router, const float *router_bias, int64_t num_experts,
    int32_t kind, int32_t k, int32_t renormalize, int32_t n_group,
    int32_t topk_group, int32_t group_mask, int32_t num_shared,
    int32_t shared_gate, float scale,
    const float *correction_bias, int32_t layer, const char *layer_name,
    const float *w1, int64_t m1, const float *b1, int32_t act1,
    float alpha1, float beta1, float limit1, int32_t w1_constant,
    const float *w2, int64_t m2, const float *b2, int32_t act2, float alpha2,
    float beta2, float limit2, int32_t w2_constant, float *out);
int32_t moe_cuda_cc_layer_bf16w(
    int32_t num_threads, const float *input, int64_t num_tokens, int64_t d,
    const float *router, const float *router_bias, int64_t num_experts,
    int32_t kind, int32_t k, int32_t renormalize, int32_t n_group,
    int32_t topk_group, int32_t group_mask, int32_t num_shared,
    int32_t shared_gate, float scale,
    const float *correction_bias, int32_t layer, const char *layer_name,
    const uint16_t *w1, int64_t m1, const float *b1, int32_t act1,
    float alpha1, float beta1, float limit1, int32_t w1_constant,
    const uint16_t *w2, int64_t m2, const float *b2, int32_t act2, float alpha2,
    float beta2, float limit2, int32_t w2_constant, float *out);
int32_t moe_cuda_cc_layer_f16w(
    int32_t num_threads, const float *input, int64_t num_tokens, int64_t d,
    const float *router, const float *router_bias, int64_t num_experts,
    int32_t kind, int32_t k, int32_t renormalize, int32_t n_group,
    int32_t topk_group, int32_t group_mask, int32_t num_shared,
    int32_t shared_gate, float scale,
    const float *correction_bias, int32_t layer, const char *layer_name,
    const uint16_t *w1, int64_t m1, const float *b1, int32_t act1,
    float alpha1, float beta1, float limit1, int32_t w1_constant,
    const uint16_t *w2, int64_t m2, const float *b2, int32_t act2, float alpha2,
    float beta2, float limit2, int32_t w2_constant, float *out);
/* The binary op of a graph compiled with --target=cuda: lhs (lhs_rank
 * dims l0.., the rest ignored) op rhs, broadcast numpy-style to out
 * (out_rank dims o0..: numpy's result shape).
 * On the GPU when any buffer is device memory (a device-resident run),
 * else on the host, where copying the operands up and the result back
 * would cost more than the op. Shapes that do not broadcast:
 * MOE_ERROR_INVALID_ARGUMENT. */
int32_t moe_cuda_cc_binary_f32(int32_t num_threads, int32_t op,
                               const float *lhs, int64_t lhs_rank, int64_t l0,
                               int64_t l1, int64_t l2, int64_t l3,
                               const float *rhs, int64_t rhs_rank, int64_t r0,
                               int64_t r1, int64_t r2, int64_t r3,
                               int64_t out_rank, int64_t o0, int64_t o1,
                               int64_t o2, int64_t o3, float *out);
/* The graph's unary op and mean over the last axis (x [rows, cols] ->
 * out [rows]), on the GPU or the host as moe_cuda_cc_binary_f32 decides. */
int32_t moe_cuda_cc_unary_f32(int32_t num_threads, int32_t op, const float *x,
                              int64_t count, float *out);
int32_t moe_cuda_cc_mean_rows_f32(int32_t num_threads, const float *x,
                                  int64_t rows, int64_t cols, float *out);
int32_t moe_cuda_cc_cast(int32_t num_threads, int32_t kind, const void *x,
                         int64_t count, void *out);
/* moe_cuda_rms_norm_f32 for the graph (convert-elementwise-to-cuda fuses
 * an RMS norm's ops, and a residual add before it, into it; weight: a
 * preloaded constant, or NULL). */
int32_t moe_cuda_cc_rms_norm_f32(int32_t num_threads, const float *x,
                                 const float *residual, int64_t rows,
                                 int64_t cols, float eps, const float *weight,
                                 float *sum, float *out);
/* The same writing out in bfloat16 (_bf16) or fp16 (_f16) bits: a norm
 * whose result only projections with 16-bit weights read, rounded once
 * by the norm instead of a cast call. */
int32_t moe_cuda_cc_rms_norm_bf16(int32_t num_threads, const float *x,
                                  const float *residual, int64_t rows,
                                  int64_t cols, float eps, const float *weight,
                                  float *sum, uint16_t *out);
int32_t moe_cuda_cc_rms_norm_f16(int32_t num_threads, const float *x,
                                 const float *residual, int64_t rows,
                                 int64_t cols, float eps, const float *weight,
                                 float *sum, uint16_t *out);

/* An attention block's ops for the graph: softmax over the last axis (x
 * [rows, cols]; matrix_rows > 0: with the causal mask of
 * moe_cuda_causal_softmax_f32, which the graph built as a mask_rows x
 * mask_cols matrix: it must be matrix_rows x cols) and a transpose (x of
 * rank dims d0.., out's dim i x's dim p_i), on the GPU or the host as
 * moe_cuda_cc_binary_f32 decides. */
int32_t moe_cuda_cc_softmax_f32(int32_t num_threads, const float *x,
                                int64_t rows, int64_t cols, int64_t matrix_rows,
                                int64_t causal_k, int64_t mask_rows,
                                int64_t mask_cols, float *out);
int32_t moe_cuda_cc_transpose_f32(int32_t num_threads, const float *x,
                                  int64_t rank, int64_t d0, int64_t d1,
                                  int64_t d2, int64_t d3, int64_t p0,
                                  int64_t p1, int64_t p2, int64_t p3,
                                  float *out);
/* moe_cuda_expand_f32 for the graph (x of rank dims d0.., out o0..), on
 * the GPU or the host as moe_cuda_cc_binary_f32 decides. */
int32_t moe_cuda_cc_expand_f32(int32_t num_threads, const float *x,
                               int64_t rank, int64_t d0, int64_t d1, int64_t d2,
                               int64_t d3, int64_t o0, int64_t o1, int64_t o2,
                               int64_t o3, float *out);
/* moe_cuda_range_f32 for the graph (count: from its run-time scalars), on
 * the GPU or the host as moe_cuda_cc_binary_f32 decides. */
int32_t moe_cuda_cc_range_f32(int32_t num_threads, float start, float delta,
                              int64_t count, float *out);
/* Slice along one axis: out [rows, width] = columns start.. of x [rows,
 * x_cols]. Concat along `axis` of up to 4 inputs (n; the others NULL;
 * one launch, moe_cuda_concat_f32): each input a view of its buffer (rank
 * dims d0.., transposed by p0..: the view's dim i is the buffer's dim
 * p_i - a transpose read in place; 0, 1, .. for the buffer as it is), the
 * views of one rank, their dims the same but along the axis; out the
 * views side by side along it. On the GPU or the host as
 * moe_cuda_cc_binary_f32 decides. */
int32_t moe_cuda_cc_slice_f32(int32_t num_threads, const float *x, int64_t rows,
                              int64_t x_cols, int64_t start, int64_t width,
                              float *out);
int32_t moe_cuda_cc_concat_f32(
    int32_t num_threads, int64_t n, int64_t axis, const float *x0,
    int64_t rank0, int64_t a0, int64_t a1, int64_t a2, int64_t a3, int64_t ap0,
    int64_t ap1, int64_t ap2, int64_t ap3, const float *x1, int64_t rank1,
    int64_t b0, int64_t b1, int64_t b2, int64_t b3, int64_t bp0, int64_t bp1,
    int64_t bp2, int64_t bp3, const float *x2, int64_t rank2, int64_t c0,
    int64_t c1, int64_t c2, int64_t c3, int64_t cp0, int64_t cp1, int64_t cp2,
    int64_t cp3, const float *x3, int64_t rank3, int64_t e0, int64_t e1,
    int64_t e2, int64_t e3, int64_t ep0, int64_t ep1, int64_t ep2, int64_t ep3,
    float *out);
/* The same into a bfloat16 (_bf16) or fp16 (_f16) out, 16-bit values as
 * their bits: each input of that type, or f32 where bit i of f32_inputs
 * is set (rounded to it as it is copied: a KV cache kept in a 16-bit
 * model's type extended by the new tokens' f32 keys or values). */
int32_t moe_cuda_cc_concat_bf16(
    int32_t num_threads, int64_t n, int64_t axis, int64_t f32_inputs,
    const void *x0, int64_t rank0, int64_t a0, int64_t a1, int64_t a2,
    int64_t a3, int64_t ap0, int64_t ap1, int64_t ap2, int64_t ap3,
    const void *x1, int64_t rank1, int64_t b0, int64_t b1, int64_t b2,
    int64_t b3, int64_t bp0, int64_t bp1, int64_t bp2, int64_t bp3,
    const void *x2, int64_t rank2, int64_t c0, int64_t c1, int64_t c2,
    int64_t c3, int64_t cp0, int64_t cp1, int64_t cp2, int64_t cp3,
    const void *x3, int64_t rank3, int64_t e0, int64_t e1, int64_t e2,
    int64_t e3, int64_t ep0, int64_t ep1, int64_t ep2, int64_t ep3,
    uint16_t *out);
int32_t moe_cuda_cc_concat_f16(
    int32_t num_threads, int64_t n, int64_t axis, int64_t f32_inputs,
    const void *x0, int64_t rank0, int64_t a0, int64_t a1, int64_t a2,
    int64_t a3, int64_t ap0, int64_t ap1, int64_t ap2, int64_t ap3,
    const void *x1, int64_t rank1, int64_t b0, int64_t b1, int64_t b2,
    int64_t b3, int64_t bp0, int64_t bp1, int64_t bp2, int64_t bp3,
    const void *x2, int64_t rank2, int64_t c0, int64_t c1, int64_t c2,
    int64_t c3, int64_t cp0, int64_t cp1, int64_t cp2, int64_t cp3,
    const void *x3, int64_t rank3, int64_t e0, int64_t e1, int64_t e2,
    int64_t e3, int64_t ep0, int64_t ep1, int64_t ep2, int64_t ep3,
    uint16_t *out);
/* moe_cuda_rotary_f32 for the graph: x's buffer of rank dims x0.., read
 * transposed by p0.. (the view's dim i is the buffer's dim p_i; 0, 1, ..
 * for the buffer as it is; the last dim must stay last), tables cos and
 * sin of their ranks and dims (each dim 1 or the view's, aligned at the
 * back), the halves as the graph's slices bound them (their widths must
 * make up a row); out has the view's dims. On the GPU or the host as
 * moe_cuda_cc_binary_f32 decides. */
int32_t moe_cuda_cc_rotary_f32(
    int32_t num_threads, const float *x, int64_t rank, int64_t x0, int64_t x1,
    int64_t x2, int64_t x3, int64_t p0, int64_t p1, int64_t p2, int64_t p3,
    const float *cos, int64_t cos_rank, int64_t c0, int64_t c1, int64_t c2,
    int64_t c3, const float *sin, int64_t sin_rank, int64_t s0, int64_t s1,
    int64_t s2, int64_t s3, int64_t neg_start, int64_t neg_width,
    int64_t pos_start, int64_t pos_width, float *out);
/* Two moe_cuda_cc_rotary_f32 calls sharing their tables and halves in one
 * launch (q's and k's rotary embeddings; their views may differ in heads):
 * x's and y's buffers of rank dims (x0.., y0..) read transposed by their
 * perms, out_x and out_y with their views' dims. */
int32_t moe_cuda_cc_rotary_pair_f32(
    int32_t num_threads, const float *x, int64_t rank, int64_t x0, int64_t x1,
    int64_t x2, int64_t x3, int64_t p0, int64_t p1, int64_t p2, int64_t p3,
    const float *y, int64_t y0, int64_t y1, int64_t y2, int64_t y3, int64_t q0,
    int64_t q1, int64_t q2, int64_t q3, const float *cos, int64_t cos_rank,
    int64_t c0, int64_t c1, int64_t c2, int64_t c3, const float *sin,
    int64_t sin_rank, int64_t s0, int64_t s1, int64_t s2, int64_t s3,
    int64_t neg_start, int64_t neg_width, int64_t pos_start, int64_t pos_width,
    float *out_x, float *out_y);
/* The graph's MatMul (numpy matmul, both operands of rank 2 to 4: batch
 * dims broadcast) and Gemm (rank 2, trans_a / trans_b transpose an operand's
 * last two dims), times alpha. Each of a, b and out is a view of its
 * row-major buffer (rank dims d0..): the buffer transposed by p0.. (the
 * view's dim i is the buffer's dim p_i; 0, 1, .. for the buffer as it is),
 * which the GEMM reads or writes in place - attention's head transposes -
 * so one of a view's last two dims must be its buffer's last (for out: the
 * last). out's view must be numpy's result shape, else
 * MOE_ERROR_INVALID_ARGUMENT. Always on the GPU (moe_cuda_matmul_f32): its
 * work grows faster than the bytes copied; host operands are uploaded (a
 * constant weight once, at model creation). */
int32_t moe_cuda_cc_matmul_f32(
    int32_t num_threads, int32_t trans_a, int32_t trans_b, float alpha,
    const float *a, int64_t a_rank, int64_t a0, int64_t a1, int64_t a2,
    int64_t a3, int64_t ap0, int64_t ap1, int64_t ap2, int64_t ap3,
    const float *b, int64_t b_rank, int64_t b0, int64_t b1, int64_t b2,
    int64_t b3, int64_t bp0, int64_t bp1, int64_t bp2, int64_t bp3,
    int64_t out_rank, int64_t o0, int64_t o1, int64_t o2, int64_t o3,
    int64_t op0, int64_t op1, int64_t op2, int64_t op3, float *out);
/* moe_cuda_cc_matmul_f32 with b a constant weight stored in bfloat16
 * (_bf16w) or IEEE fp16 (_f16w) bits: a rounded to that type on the
 * device, moe_cuda_matmul_16 (tensor cores, fp32 accumulation). */
int32_t moe_cuda_cc_matmul_bf16w(
    int32_t num_threads, int32_t trans_a, int32_t trans_b, float alpha,
    const float *a, int64_t a_rank, int64_t a0, int64_t a1, int64_t a2,
    int64_t a3, int64_t ap0, int64_t ap1, int64_t ap2, int64_t ap3,
    const uint16_t *b, int64_t b_rank, int64_t b0, int64_t b1, int64_t b2,
    int64_t b3, int64_t bp0, int64_t bp1, int64_t bp2, int64_t bp3,
    int64_t out_rank, int64_t o0, int64_t o1, int64_t o2, int64_t o3,
    int64_t op0, int64_t op1, int64_t op2, int64_t op3, float *out);
int32_t moe_cuda_cc_matmul_f16w(
    int32_t num_threads, int32_t trans_a, int32_t trans_b, float alpha,
    const float *a, int64_t a_rank, int64_t a0, int64_t a1, int64_t a2,
    int64_t a3, int64_t ap0, int64_t ap1, int64_t ap2, int64_t ap3,
    const uint16_t *b, int64_t b_rank, int64_t b0, int64_t b1, int64_t b2,
    int64_t b3, int64_t bp0, int64_t bp1, int64_t bp2, int64_t bp3,
    int64_t out_rank, int64_t o0, int64_t o1, int64_t o2, int64_t o3,
    int64_t op0, int64_t op1, int64_t op2, int64_t op3, float *out);
/* The same with a already rounded to that 16-bit type (its bits: one cast
 * call shared by the projections that read the same activations, q, k
 * and v's). */
int32_t moe_cuda_cc_matmul_bf16(
    int32_t num_threads, int32_t trans_a, int32_t trans_b, float alpha,
    const uint16_t *a, int64_t a_rank, int64_t a0, int64_t a1, int64_t a2,
    int64_t a3, int64_t ap0, int64_t ap1, int64_t ap2, int64_t ap3,
    const uint16_t *b, int64_t b_rank, int64_t b0, int64_t b1, int64_t b2,
    int64_t b3, int64_t bp0, int64_t bp1, int64_t bp2, int64_t bp3,
    int64_t out_rank, int64_t o0, int64_t o1, int64_t o2, int64_t o3,
    int64_t op0, int64_t op1, int64_t op2, int64_t op3, float *out);
int32_t moe_cuda_cc_matmul_f16(
    int32_t num_threads, int32_t trans_a, int32_t trans_b, float alpha,
    const uint16_t *a, int64_t a_rank, int64_t a0, int64_t a1, int64_t a2,
    int64_t a3, int64_t ap0, int64_t ap1, int64_t ap2, int64_t ap3,
    const uint16_t *b, int64_t b_rank, int64_t b0, int64_t b1, int64_t b2,
    int64_t b3, int64_t bp0, int64_t bp1, int64_t bp2, int64_t bp3,
    int64_t out_rank, int64_t o0, int64_t o1, int64_t o2, int64_t o3,
    int64_t op0, int64_t op1, int64_t op2, int64_t op3, float *out);

/* The graph's softmax(alpha * q . k^T [+ causal mask]) . v as one
 * moe_cuda_attention_f32 call: q, k^T and v are views of their buffers as
 * moe_cuda_cc_matmul_f32's (k^T: the scores' right operand, [b, kv_heads,
 * head_dim, keys]; rank 3 or 4, rank 3 one batch), out a view of its
 * buffer ([b, heads, t, value_dim]: the heads merged back in place); each
 * view's last dim (k^T's head dim) its buffer's last. causal nonzero: the
 * causal mask of moe_cuda_attention_f32 with diagonal causal_k, which the
 * graph built as a mask_rows x mask_cols matrix: it must be queries x
 * keys. bias (NULL: none): an additive mask of rank bias_rank (0 to 4)
 * and dims b0.., broadcast to the scores [b, heads, t, keys] (numpy's
 * rules). precision, kv_type (k's and v's buffers' elements, 16-bit ones
 * as their bits), out_type (out's): MOE_CUDA_ELEMENT_*. Always on the GPU
 * (host operands uploaded). */
int32_t moe_cuda_cc_attention_f32(
    int32_t num_threads, float alpha, int32_t precision, int32_t kv_type,
    const float *q, int64_t q_rank, int64_t q0, int64_t q1, int64_t q2,
    int64_t q3, int64_t qp0, int64_t qp1, int64_t qp2, int64_t qp3,
    const void *k, int64_t k_rank, int64_t k0, int64_t k1, int64_t k2,
    int64_t k3, int64_t kp0, int64_t kp1, int64_t kp2, int64_t kp3,
    const void *v, int64_t v_rank, int64_t v0, int64_t v1, int64_t v2,
    int64_t v3, int64_t vp0, int64_t vp1, int64_t vp2, int64_t vp3,
    int64_t causal, int64_t causal_k, int64_t mask_rows, int64_t mask_cols,
    const float *bias, int64_t bias_rank, int64_t b0, int64_t b1, int64_t b2,
    int64_t b3, int32_t out_type, int64_t out_rank, int64_t o0, int64_t o1,
    int64_t o2, int64_t o3, int64_t op0, int64_t op1, int64_t op2, int64_t op3,
    void *out);

/* Copies `bytes` from src to dst (any memory the CUDA runtime can copy:
 * device, managed or host) on `stream` (a cudaStream_t, NULL: the default
 * stream) and waits for it (0 bytes: only waits), after waiting for the
 * calling thread's earlier moe_cuda_cc_* calls: how moe_model_run_device
 * stages device buffers or copies out a device-resident run's results. */
int32_t moe_cuda_cc_copy(void *dst, const void *src, int64_t bytes,
                         void *stream);
/* Device memory (stream-ordered on the calling thread's stream) for the
 * buffers of a device-resident run (moe_runtime_set_thread_allocator);
 * NULL when out of memory. */
void *moe_cuda_cc_device_alloc(size_t bytes);
void moe_cuda_cc_device_free(void *pointer);
/* Uploads a constant of the compiled model (`bytes` at `weights`) into
 * the device cache the grouped matmuls use with weights_constant: what
 * compiled code runs at model creation (__moe_cuda_preload). */
int32_t moe_cuda_cc_preload(int32_t num_threads, const void *weights,
                            int64_t bytes);
int32_t moe_cuda_cc_combine_f32(int32_t num_threads, const float *rows,
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
