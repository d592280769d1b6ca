/* Host memory standing in for CUDA memory, for testing moe_model_run_device
 * on a machine without a GPU (test/Integration/CPU/Compile/
 * run_device_staging.py): loaded with LD_PRELOAD, it gives a CPU model the
 * CUDA runtime's copy (moe_cuda_cc_copy, which the model C API finds
 * through a weak reference) and the harness the cudaMalloc / cudaMemcpy /
 * cudaFree it allocates "device" buffers with. Counts the copies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int64_t copies;

int32_t moe_cuda_cc_copy(void *dst, const void *src, int64_t bytes,
                         void *stream) {
  (void)stream;
  if (bytes < 0 || (bytes > 0 && (!dst || !src)))
    return 1;
  memcpy(dst, src, (size_t)bytes);
  ++copies;
  return 0;
}

const char *moe_cuda_last_error(void) { return "fake CUDA copy"; }

int64_t fake_cuda_copies(void) { return copies; }

int cudaMalloc(void **pointer, size_t bytes) {
  *pointer = malloc(bytes ? bytes : 1);
  return *pointer ? 0 : 2;
}

int cudaMemcpy(void *dst, const void *src, size_t bytes, int kind) {
  (void)kind;
  memcpy(dst, src, bytes);
  return 0;
}

int cudaFree(void *pointer) {
  free(pointer);
  return 0;
}
