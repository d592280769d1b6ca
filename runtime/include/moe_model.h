/*===- moe_model.h - C API of a compiled model ----------------------------===*
 *
 * What `moe-compile --emit=so` libraries export (and what `--emit=exe`
 * binaries and `moe-run` use): create a model instance, ask for its inputs
 * and outputs, run it on caller buffers. The graph's dynamic dimensions
 * (the token count) are chosen per run by the input shapes.
 *
 *   moe_model *model;
 *   if (moe_model_create(NULL, &model) != MOE_MODEL_OK) ...
 *   moe_tensor in = {data, MOE_DTYPE_F32, 2, {tokens, 64}};
 *   moe_tensor out = {0};          // data NULL: the model allocates it
 *   if (moe_model_run(model, &in, 1, &out, 1) != MOE_MODEL_OK)
 *     puts(moe_model_last_error(model));
 *   ... use out.data, out.shape ...
 *   moe_model_free_buffer(out.data);
 *   moe_model_destroy(model);
 *
 * Inputs are read, never written. Runs on one instance may come from
 * several threads at once; the last error is kept per thread.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOE_MODEL_H
#define MOE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of this header. */
#define MOE_MODEL_API_VERSION 1
#define MOE_MODEL_MAX_RANK 8

/* Returns MOE_MODEL_API_VERSION of the library actually loaded. */
int32_t moe_model_api_version(void);

typedef enum moe_model_status {
  MOE_MODEL_OK = 0,
  /* A wrong input count, name, dtype, rank or shape; a NULL pointer. */
  MOE_MODEL_INVALID_ARGUMENT = 1,
  /* A caller-provided output buffer is smaller than the output; its
   * shape is filled in so that the caller can retry. */
  MOE_MODEL_OUTPUT_TOO_SMALL = 2,
  MOE_MODEL_OUT_OF_MEMORY = 3,
  /* The compiled code's signature table is unreadable (a broken build). */
  MOE_MODEL_INTERNAL_ERROR = 4,
  /* The inputs were well-formed but the graph cannot run on them, e.g. a
   * Gather index read from an input is out of range. */
  MOE_MODEL_RUNTIME_ERROR = 5,
} moe_model_status;

typedef enum moe_dtype {
  MOE_DTYPE_F32 = 1,
  MOE_DTYPE_F64 = 2,
  MOE_DTYPE_I32 = 3,
  MOE_DTYPE_I64 = 4,
  MOE_DTYPE_I8 = 5,
  MOE_DTYPE_U8 = 6,
  MOE_DTYPE_BOOL = 7, /* one byte per element */
  MOE_DTYPE_F16 = 8,  /* IEEE half */
  MOE_DTYPE_BF16 = 9, /* bfloat16: the top half of an f32 (ml_dtypes, torch) */
} moe_dtype;

/* Bytes of one element of `dtype` (0 for an unknown dtype). */
size_t moe_dtype_size(moe_dtype dtype);
/* "f32", "i64", ... ("?" for an unknown dtype). */
const char *moe_dtype_name(moe_dtype dtype);

/* A dense row-major tensor. As a run output: `data` NULL lets the model
 * allocate it (free with moe_model_free_buffer); otherwise `capacity` bytes
 * at `data` receive it. `shape` is written on output. */
typedef struct moe_tensor {
  void *data;
  int32_t dtype; /* moe_dtype */
  int32_t rank;
  int64_t shape[MOE_MODEL_MAX_RANK];
  size_t capacity;
} moe_tensor;

/* An input or output of the model: its graph name, dtype and shape, with
 * -1 for dimensions chosen at run time. */
typedef struct moe_tensor_info {
  const char *name;
  int32_t dtype; /* moe_dtype */
  int32_t rank;
  const int64_t *shape;
} moe_tensor_info;

typedef struct moe_model_options {
  /* Threads the model's kernels may use (0: all available cores). */
  int32_t num_threads;
} moe_model_options;

typedef struct moe_model moe_model;

/* `options` may be NULL (defaults). */
moe_model_status moe_model_create(const moe_model_options *options,
                                  moe_model **model);
void moe_model_destroy(moe_model *model);

/* A NULL `model` asks the library itself, without an instance (nothing is
 * uploaded: a model compiled for CUDA can be described without a GPU). */
int32_t moe_model_num_inputs(const moe_model *model);
int32_t moe_model_num_outputs(const moe_model *model);
/* NULL when `index` is out of range. Valid while the model lives (for a
 * NULL model: while the library is loaded). */
const moe_tensor_info *moe_model_input(const moe_model *model, int32_t index);
const moe_tensor_info *moe_model_output(const moe_model *model, int32_t index);

/* Runs the model: `inputs` in the order of moe_model_input, `outputs` in
 * the order of moe_model_output. On failure, no output buffer is left
 * allocated by the model (their data is NULL again). */
moe_model_status moe_model_run(moe_model *model, const moe_tensor *inputs,
                               int32_t num_inputs, moe_tensor *outputs,
                               int32_t num_outputs);

/* moe_model_run on CUDA buffers, for models compiled with --target=cuda
 * (others fail with MOE_MODEL_INVALID_ARGUMENT): every input's and
 * output's `data` is memory the CUDA runtime can copy (device memory of
 * the calling thread's current device, or managed or host memory). The
 * outputs are caller buffers: a NULL `data` is an invalid argument, a
 * `capacity` too small gives MOE_MODEL_OUTPUT_TOO_SMALL with the shape
 * filled in. The copies are ordered on `stream` (a cudaStream_t; NULL:
 * the default stream) after the work the caller queued there, and the
 * call returns when the outputs are written. Inputs are checked as by
 * moe_model_run. A graph whose inputs only the CUDA kernels touch (the
 * ONNX Runtime MoE op, Mixtral-style exports; moe-compile finds out) runs
 * device-resident: the inputs are read where they are, the buffers only
 * the kernels touch live in device memory, and each output is copied
 * once. Other graphs (host computation on an input) are staged through
 * host memory. */
moe_model_status moe_model_run_device(moe_model *model,
                                      const moe_tensor *inputs,
                                      int32_t num_inputs, moe_tensor *outputs,
                                      int32_t num_outputs, void *stream);

/* The message of the calling thread's last failed call on `model`
 * ("" when none). */
const char *moe_model_last_error(const moe_model *model);

/* Frees an output buffer the model allocated. */
void moe_model_free_buffer(void *data);

/* Routing statistics (docs/Statistics.md): off by default and free when
 * off. While on, every run adds, per MoE layer and expert, the tokens
 * routed, their mean gate weight and the router's mean probability. They
 * are kept per model library (all instances of it together). */
void moe_model_stats_enable(moe_model *model, int32_t on);
void moe_model_stats_reset(moe_model *model);
/* The statistics as JSON; free it with moe_model_free_buffer. NULL when
 * out of memory. */
char *moe_model_stats_json(const moe_model *model);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOE_MODEL_H */
