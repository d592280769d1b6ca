//===- CudaEmulation.cpp - moe_cuda_cc_* on the host, for tests -----------===//
//
// The compiled-code entry points of the CUDA runtime (moe_runtime_cuda.h)
// implemented on the host with the CPU runtime's kernels, so that models
// compiled with --target=cuda can be run and checked on a machine without
// a GPU: linked in place of libmoe_runtime_cuda.a (a --runtime-dir whose
// libmoe_runtime_cuda.a is this archive), it tests everything the compiler
// decides for CUDA - which entry point each layer becomes, every argument
// in its position, the weights converted at compile time (row-major f32,
// bf16 or fp16), the preload at model creation - against onnxruntime
// (test/Integration/CUDA/target_cuda_emulated.py). It follows the GPU
// path's numerics where they differ from the CPU's: 16-bit weights widen to
// fp32 and the rows fed to them are rounded to the same type first.
//
// Only the CUDA kernels themselves are not tested this way.
//
//===----------------------------------------------------------------------===//

#include "moe_runtime.h"
#include "moe_runtime_cuda.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace {

enum class Half { BF16, F16 };

float bf16ToFloat(uint16_t bits) {
  uint32_t word = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof(value));
  return value;
}

uint16_t floatToBF16(float value) {
  uint32_t word;
  std::memcpy(&word, &value, sizeof(word));
  if (std::isnan(value))
    return uint16_t((word >> 16) | 0x40);
  return uint16_t((word + 0x7FFF + ((word >> 16) & 1)) >> 16);
}

float f16ToFloat(uint16_t bits) {
  int exponent = (bits >> 10) & 0x1F, mantissa = bits & 0x3FF;
  float sign = bits & 0x8000 ? -1.0f : 1.0f;
  if (exponent == 0)
    return sign * std::ldexp(float(mantissa), -24);
  if (exponent == 31)
    return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(float(mantissa | 0x400), exponent - 25);
}

/// fp16 rounding (to nearest even) of an fp32 value, back in fp32: what
/// the GPU path does to the rows it feeds fp16 weights.
float roundToF16(float value) {
  if (!std::isfinite(value) || value == 0.0f)
    return value;
  int exponent;
  std::frexp(value, &exponent); // value = m * 2^exponent, 0.5 <= |m| < 1
  // 11 significant bits in the normal range, fewer below 2^-14.
  int bits = exponent - 1 >= -14 ? 11 : 11 - (-14 - (exponent - 1));
  if (bits <= 0)
    return std::copysign(0.0f, value);
  float scale = std::ldexp(1.0f, bits - exponent);
  float rounded = std::nearbyint(value * scale) / scale;
  return std::fabs(rounded) > 65504.0f ? std::copysign(INFINITY, value)
                                       : rounded;
}

float widen(uint16_t bits, Half type) {
  return type == Half::BF16 ? bf16ToFloat(bits) : f16ToFloat(bits);
}

float roundTo(float value, Half type) {
  return type == Half::BF16 ? bf16ToFloat(floatToBF16(value))
                            : roundToF16(value);
}

/// The operands of one of the emulated grouped matmuls in fp32: 16-bit
/// weights widened, and the rows rounded to their type.
struct Widened {
  std::vector<float> rows, weights;
};

Widened widenOperands(const float *rows, int64_t rowCount,
                      const uint16_t *weights, int64_t weightCount,
                      Half type) {
  Widened w;
  w.rows.resize(size_t(rowCount));
  for (int64_t i = 0; i < rowCount; ++i)
    w.rows[i] = roundTo(rows[i], type);
  w.weights.resize(size_t(weightCount));
  for (int64_t i = 0; i < weightCount; ++i)
    w.weights[i] = widen(weights[i], type);
  return w;
}

int32_t groupedF32(const float *rows, int64_t numRows, int64_t kDim,
                   const float *weights, int64_t numExperts, int64_t mDim,
                   const int32_t *offsets, const float *bias,
                   moe_activation_params act, float *out,
                   const float *combineWeights, const int32_t *inverse,
                   int64_t numTokens, int64_t k) {
  return moe_cc_grouped_matmul_f32(0, rows, numRows, kDim, weights, numExperts,
                                   mDim, offsets, bias, act.kind, act.alpha,
                                   act.beta, act.limit, out, nullptr,
                                   combineWeights, inverse, numTokens, k);
}

int32_t grouped16(const float *rows, int64_t numRows, int64_t kDim,
                  const uint16_t *weights, int64_t numExperts, int64_t mDim,
                  const int32_t *offsets, const float *bias,
                  moe_activation_params act, float *out,
                  const float *combineWeights, const int32_t *inverse,
                  int64_t numTokens, int64_t k, Half type) {
  if (!rows || !weights)
    return MOE_ERROR_INVALID_ARGUMENT;
  Widened w = widenOperands(rows, numRows * kDim, weights,
                            numExperts * kDim * mDim, type);
  return groupedF32(w.rows.data(), numRows, kDim, w.weights.data(),
                    numExperts, mDim, offsets, bias, act, out, combineWeights,
                    inverse, numTokens, k);
}

int64_t widthOf(int64_t m, int32_t activation) {
  return activation == MOE_ACTIVATION_SWIGLU ||
                 activation == MOE_ACTIVATION_CLAMPED_SWIGLU
             ? m / 2
             : m;
}

/// permute -> grouped (w1) -> grouped (w2) -> combine on the host, given
/// the routing; `matmul(rows, n, kDim, which, m, bias, act, out)` runs the
/// projection `which` (1 or 2).
template <typename Matmul>
int32_t expertChain(const float *input, int64_t numTokens, int64_t d,
                    const int32_t *ids, const float *combineWeights, int64_t k,
                    int64_t numExperts, int64_t m1, int32_t act1, int64_t m2,
                    int32_t act2, float *out, Matmul matmul) {
  int64_t slots = numTokens * k, hidden = widthOf(m1, act1);
  std::vector<float> rows(size_t(slots * d)), h(size_t(slots * hidden)),
      z(size_t(slots * widthOf(m2, act2)));
  std::vector<int32_t> assignments(static_cast<size_t>(slots)),
      offsets(static_cast<size_t>(numExperts + 1)),
      inverse(static_cast<size_t>(slots));
  if (int32_t status = moe_cc_permute_f32(0, input, numTokens, d, ids, k,
                                          numExperts, rows.data(),
                                          assignments.data(), offsets.data(),
                                          inverse.data()))
    return status;
  if (int32_t status = matmul(rows.data(), slots, d, 1, offsets.data(),
                              h.data()))
    return status;
  if (int32_t status = matmul(h.data(), slots, hidden, 2, offsets.data(),
                              z.data()))
    return status;
  return moe_cc_combine_f32(0, z.data(), slots, widthOf(m2, act2),
                            combineWeights, inverse.data(), numTokens, k, out);
}

int32_t matmulF32(const float *rows, int64_t n, int64_t kDim,
                  const float *w, int64_t e, int64_t m, const int32_t *offsets,
                  const float *bias, moe_activation_params act, float *out) {
  return groupedF32(rows, n, kDim, w, e, m, offsets, bias, act, out, nullptr,
                    nullptr, 0, 0);
}
template <Half Type>
int32_t matmulHalf(const float *rows, int64_t n, int64_t kDim,
                   const uint16_t *w, int64_t e, int64_t m,
                   const int32_t *offsets, const float *bias,
                   moe_activation_params act, float *out) {
  return grouped16(rows, n, kDim, w, e, m, offsets, bias, act, out, nullptr,
                   nullptr, 0, 0, Type);
}
/// "Device" memory: pages the host cannot touch (PROT_NONE) except while
/// an emulated entry point runs, so that compiled code reading or writing
/// a buffer placed on the device crashes the test as it would on a GPU.
struct DeviceMemory {
  std::mutex mutex;
  std::map<void *, size_t> blocks; // start -> mapped bytes
  int depth = 0;                   // entry points running (nested calls)

  void protect(int access) {
    for (auto &[start, bytes] : blocks)
      mprotect(start, bytes, access);
  }
};

DeviceMemory &deviceMemory() {
  static DeviceMemory memory;
  return memory;
}

/// Opens device memory to the host for the duration of an emulated call.
struct DeviceAccess {
  DeviceAccess() {
    DeviceMemory &m = deviceMemory();
    std::lock_guard<std::mutex> lock(m.mutex);
    if (m.depth++ == 0)
      m.protect(PROT_READ | PROT_WRITE);
  }
  ~DeviceAccess() {
    DeviceMemory &m = deviceMemory();
    std::lock_guard<std::mutex> lock(m.mutex);
    if (--m.depth == 0)
      m.protect(PROT_NONE);
  }
};

void *deviceAllocate(size_t bytes) {
  size_t page = size_t(sysconf(_SC_PAGESIZE));
  size_t mapped = (std::max<size_t>(bytes, 1) + page - 1) / page * page;
  DeviceMemory &m = deviceMemory();
  std::lock_guard<std::mutex> lock(m.mutex);
  void *start = mmap(nullptr, mapped, m.depth ? PROT_READ | PROT_WRITE
                                              : PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (start == MAP_FAILED)
    return nullptr;
  m.blocks[start] = mapped;
  return start;
}

void deviceFree(void *start) {
  DeviceMemory &m = deviceMemory();
  std::lock_guard<std::mutex> lock(m.mutex);
  auto found = m.blocks.find(start);
  if (found == m.blocks.end())
    return;
  munmap(start, found->second);
  m.blocks.erase(found);
}

} // namespace

extern "C" {

int32_t moe_cuda_runtime_api_version(void) {
  return MOE_RUNTIME_CUDA_API_VERSION;
}

const char *moe_cuda_last_error(void) { return "emulated CUDA runtime"; }

int32_t moe_cuda_cc_route_f32(int32_t n, const float *logits, int64_t t,
                              int64_t e, int32_t kind, int32_t k,
                              int32_t renormalize, int32_t nGroup,
                              int32_t topkGroup, int32_t groupMask,
                              int32_t shared, int32_t sharedGate, float scale,
                              const float *correction, int32_t *ids,
                              float *weights, int32_t layer,
                              const char *name) {
  DeviceAccess access;
  return moe_cc_route_f32(n, logits, t, e, kind, k, renormalize, nGroup,
                          topkGroup, groupMask, shared, sharedGate, scale,
                          correction, ids, weights, layer, name);
}

int32_t moe_cuda_cc_route_fused_f32(
    int32_t n, const float *input, int64_t t, int64_t d, const float *router,
    const float *routerBias, int64_t e, int32_t kind, int32_t k,
    int32_t renormalize, int32_t nGroup, int32_t topkGroup, int32_t groupMask,
    int32_t shared, int32_t sharedGate, float scale, const float *correction,
    int32_t *ids, float *weights, int32_t layer, const char *name) {
  DeviceAccess access;
  return moe_cc_route_fused_f32(n, input, t, d, router, routerBias, e, kind, k,
                                renormalize, nGroup, topkGroup, groupMask,
                                shared, sharedGate, scale, correction, ids,
                                weights, layer, name);
}

int32_t moe_cuda_cc_permute_f32(int32_t n, const float *input, int64_t t,
                                int64_t d, const int32_t *ids, int64_t k,
                                int64_t e, float *rows, int32_t *assignments,
                                int32_t *offsets, int32_t *inverse) {
  DeviceAccess access;
  return moe_cc_permute_f32(n, input, t, d, ids, k, e, rows, assignments,
                            offsets, inverse);
}

int32_t moe_cuda_cc_combine_f32(int32_t n, const float *rows, int64_t numRows,
                                int64_t d, const float *weights,
                                const int32_t *inverse, int64_t t, int64_t k,
                                float *out) {
  DeviceAccess access;
  return moe_cc_combine_f32(n, rows, numRows, d, weights, inverse, t, k, out);
}

int32_t moe_cuda_cc_preload(int32_t, const void *weights, int64_t bytes) {
  return weights && bytes >= 0 ? MOE_OK : MOE_ERROR_INVALID_ARGUMENT;
}

// "Device" memory is host memory here; the copies are counted, so that a
// test can tell a device-resident run (outputs only) from a staged one.
static int64_t copies;

// Named moe_model_* so that the model's export list (moe_model_*) lets a
// test read it.
int64_t moe_model_test_emulated_copies(void) { return copies; }

int32_t moe_cuda_cc_copy(void *dst, const void *src, int64_t bytes, void *) {
  DeviceAccess access;
  if (bytes < 0 || (bytes > 0 && (!dst || !src)))
    return MOE_ERROR_INVALID_ARGUMENT;
  if (bytes > 0) {
    std::memcpy(dst, src, size_t(bytes));
    ++copies;
  }
  return MOE_OK;
}

void *moe_cuda_cc_device_alloc(size_t bytes) { return deviceAllocate(bytes); }

void moe_cuda_cc_device_free(void *pointer) { deviceFree(pointer); }

// cudaMalloc / cudaMemcpy / cudaFree over the same protected memory, for
// the test harness's "device" inputs and outputs (moe_model_* names: the
// model exports only those).
int moe_model_test_cuda_malloc(void **pointer, size_t bytes) {
  *pointer = deviceAllocate(bytes);
  return *pointer ? 0 : 2;
}

int moe_model_test_cuda_memcpy(void *dst, const void *src, size_t bytes,
                               int) {
  DeviceAccess access;
  std::memcpy(dst, src, bytes);
  return 0;
}

int moe_model_test_cuda_free(void *pointer) {
  deviceFree(pointer);
  return 0;
}

int32_t moe_cuda_cc_grouped_matmul_f32(
    int32_t, const float *rows, int64_t numRows, int64_t kDim,
    const float *weights, int64_t e, int64_t m, const int32_t *offsets,
    const float *bias, int32_t act, float alpha, float beta, float limit,
    float *out, const int32_t *, const float *combine, const int32_t *inverse,
    int64_t t, int64_t k, int32_t) {
  DeviceAccess access;
  return groupedF32(rows, numRows, kDim, weights, e, m, offsets, bias,
                    {act, alpha, beta, limit}, out, combine, inverse, t, k);
}

#define MOE_EMULATED_16BIT_GROUPED(SUFFIX, TYPE)                               \
  int32_t moe_cuda_cc_grouped_matmul_##SUFFIX(                                 \
      int32_t, const float *rows, int64_t numRows, int64_t kDim,              \
      const uint16_t *weights, int64_t e, int64_t m, const int32_t *offsets,  \
      const float *bias, int32_t act, float alpha, float beta, float limit,    \
      float *out, const int32_t *, const float *combine,                       \
      const int32_t *inverse, int64_t t, int64_t k, int32_t) {                 \
    DeviceAccess access;                                                       \
    return grouped16(rows, numRows, kDim, weights, e, m, offsets, bias,        \
                     {act, alpha, beta, limit}, out, combine, inverse, t, k,   \
                     TYPE);                                                    \
  }
MOE_EMULATED_16BIT_GROUPED(bf16w, Half::BF16)
MOE_EMULATED_16BIT_GROUPED(f16w, Half::F16)
#undef MOE_EMULATED_16BIT_GROUPED

// The expert chain and the whole layer, per weight type: W the C type of
// the weights, MATMUL the per-projection call.
#define MOE_EMULATED_CHAIN(SUFFIX, W, MATMUL)                                  \
  int32_t moe_cuda_cc_experts_##SUFFIX(                                        \
      int32_t, const float *input, int64_t t, int64_t d, const int32_t *ids,   \
      const float *combine, int64_t k, int64_t e, const W *w1, int64_t m1,     \
      const float *b1, int32_t act1, float alpha1, float beta1, float limit1,  \
      int32_t, const W *w2, int64_t m2, const float *b2, int32_t act2,         \
      float alpha2, float beta2, float limit2, int32_t, float *out) {          \
    DeviceAccess access;                                                       \
    auto matmul = [&](const float *rows, int64_t n, int64_t kDim, int which,   \
                      const int32_t *offsets, float *result) {                 \
      return which == 1 ? MATMUL(rows, n, kDim, w1, e, m1, offsets, b1,        \
                                 {act1, alpha1, beta1, limit1}, result)        \
                        : MATMUL(rows, n, kDim, w2, e, m2, offsets, b2,        \
                                 {act2, alpha2, beta2, limit2}, result);       \
    };                                                                         \
    return expertChain(input, t, d, ids, combine, k, e, m1, act1, m2, act2,    \
                       out, matmul);                                           \
  }                                                                            \
  int32_t moe_cuda_cc_layer_##SUFFIX(                                          \
      int32_t, const float *input, int64_t t, int64_t d, const float *router, \
      const float *routerBias, int64_t e, int32_t kind, int32_t k,             \
      int32_t renormalize, int32_t nGroup, int32_t topkGroup,                  \
      int32_t groupMask, int32_t shared, int32_t sharedGate, float scale,      \
      const float *correction, int32_t layer, const char *name, const W *w1,   \
      int64_t m1, const float *b1,                                             \
      int32_t act1, float alpha1, float beta1, float limit1, int32_t c1,       \
      const W *w2, int64_t m2, const float *b2, int32_t act2, float alpha2,    \
      float beta2, float limit2, int32_t c2, float *out) {                     \
    DeviceAccess access;                                                       \
    int64_t slots = int64_t(k) + (shared > 0 ? shared : 0);                    \
    std::vector<int32_t> ids(size_t(t * slots));                               \
    std::vector<float> weights(size_t(t * slots));                             \
    if (int32_t status = moe_cc_route_fused_f32(                               \
            0, input, t, d, router, routerBias, e, kind, k, renormalize,       \
            nGroup, topkGroup, groupMask, shared, sharedGate, scale,           \
            correction, ids.data(), weights.data(), layer, name))              \
      return status;                                                           \
    return moe_cuda_cc_experts_##SUFFIX(                                       \
        0, input, t, d, ids.data(), weights.data(), slots, e + shared, w1, m1, \
        b1, act1,                                                              \
        alpha1, beta1, limit1, c1, w2, m2, b2, act2, alpha2, beta2, limit2,    \
        c2, out);                                                              \
  }

MOE_EMULATED_CHAIN(f32, float, matmulF32)
MOE_EMULATED_CHAIN(bf16w, uint16_t, matmulHalf<Half::BF16>)
MOE_EMULATED_CHAIN(f16w, uint16_t, matmulHalf<Half::F16>)
#undef MOE_EMULATED_CHAIN

} // extern "C"
