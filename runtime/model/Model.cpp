//===- Model.cpp - The C API of a compiled model --------------------------===//
//
// Linked into every `moe-compile --emit=so|exe` binary, next to the
// compiled graph, which provides three symbols:
//   __moe_model_signature  the inputs and outputs, as text (Signature.h);
//   __moe_model_entry      (void *results, void **inputs): calls the graph
//                          with one memref descriptor per input and writes
//                          the result descriptors, back to back, at results;
//   __moe_model_prepare    (void): what a new instance needs done once
//                          (--target=cuda: upload the expert weights).
// This file checks the caller's tensors against the signature, wraps them
// in descriptors (no copy), runs the graph in the instance's oneTBB arena
// and copies the results (which the graph allocates with malloc) out.
// moe_model_run_device stages CUDA buffers through host memory around
// that, with the CUDA runtime's copy (present in --target=cuda models
// only: a weak reference).
//
//===----------------------------------------------------------------------===//

#include "Signature.h"
#include "moe_model.h"
#include "moe_runtime.h"

#include <tbb/task_arena.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <vector>

extern "C" {
extern const char __moe_model_signature[];
void __moe_model_entry(void *results, void **inputs);
/// Weak: objects compiled before it existed have none (nothing to do).
__attribute__((weak)) void __moe_model_prepare(void);
/// Frees a buffer of compiled code (runtime/cpu/BufferCache.cpp).
void _mlir_memref_to_llvm_free(void *ptr);
/// The CUDA runtime's copy and error text (moe_runtime_cuda.h), linked
/// into models compiled with --target=cuda only: null in CPU models.
__attribute__((weak)) int32_t moe_cuda_cc_copy(void *dst, const void *src,
                                               int64_t bytes, void *stream);
__attribute__((weak)) const char *moe_cuda_last_error(void);
/// Device memory for a device-resident run's buffers (moe_runtime_cuda.h).
__attribute__((weak)) void *moe_cuda_cc_device_alloc(size_t bytes);
__attribute__((weak)) void moe_cuda_cc_device_free(void *pointer);
/// Defined (1) when moe-mark-device-io found that only CUDA calls touch
/// the graph's data: its buffers may then live in device memory.
__attribute__((weak)) extern const int32_t __moe_model_device_io;
/// {count, indices...}: the inputs such a graph reads on the host (absent:
/// none), copied there before a device-resident run.
__attribute__((weak)) extern const int32_t __moe_model_host_inputs[];
}

using namespace moe::model;

struct moe_model {
  Signature signature;
  std::vector<moe_tensor_info> inputInfo, outputInfo;
  /// Null: the kernels use the caller's arena (all cores by default).
  std::unique_ptr<tbb::task_arena> arena;
};

namespace {
thread_local std::string lastError;

moe_model_status fail(moe_model_status status, std::string message) {
  lastError = std::move(message);
  return status;
}

std::vector<moe_tensor_info> infos(const std::vector<TensorSignature> &tensors) {
  std::vector<moe_tensor_info> result;
  for (const TensorSignature &tensor : tensors)
    result.push_back({tensor.name.c_str(), tensor.dtype,
                      static_cast<int32_t>(tensor.shape.size()),
                      tensor.shape.data()});
  return result;
}

std::string shapeString(const int64_t *shape, int64_t rank) {
  std::string s = "[";
  for (int64_t i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Elements of `shape`, or false when the count overflows.
bool elementCount(const int64_t *shape, int64_t rank, size_t elementSize,
                  size_t &bytes) {
  size_t count = 1;
  for (int64_t i = 0; i < rank; ++i)
    if (__builtin_mul_overflow(count, static_cast<size_t>(shape[i]), &count))
      return false;
  return !__builtin_mul_overflow(count, elementSize, &bytes);
}

/// Checks input `index` against its signature; binds its symbols.
moe_model_status checkInput(const TensorSignature &sig, const moe_tensor &in,
                            std::map<std::string, int64_t> &symbols) {
  std::string what = "input '" + sig.name + "': ";
  if (in.dtype != sig.dtype)
    return fail(MOE_MODEL_INVALID_ARGUMENT,
                what + "dtype " + moe_dtype_name(moe_dtype(in.dtype)) +
                    ", the model wants " + moe_dtype_name(sig.dtype));
  int64_t rank = static_cast<int64_t>(sig.shape.size());
  if (in.rank != rank)
    return fail(MOE_MODEL_INVALID_ARGUMENT,
                what + "rank " + std::to_string(in.rank) +
                    ", the model wants " + std::to_string(rank));
  for (int64_t i = 0; i < rank; ++i) {
    int64_t size = in.shape[i];
    std::string dim = what + "shape " + shapeString(in.shape, rank) +
                      ", dimension " + std::to_string(i);
    if (size < 0)
      return fail(MOE_MODEL_INVALID_ARGUMENT, dim + " is negative");
    if (sig.shape[i] >= 0 && size != sig.shape[i])
      return fail(MOE_MODEL_INVALID_ARGUMENT,
                  dim + " must be " + std::to_string(sig.shape[i]));
    const std::string &symbol = sig.symbols[i];
    if (symbol.empty())
      continue;
    auto [it, inserted] = symbols.emplace(symbol, size);
    if (!inserted && it->second != size)
      return fail(MOE_MODEL_INVALID_ARGUMENT,
                  dim + " is '" + symbol + "' = " + std::to_string(size) +
                      ", but another input has '" + symbol +
                      "' = " + std::to_string(it->second));
  }
  size_t bytes;
  if (!elementCount(in.shape, rank, moe_dtype_size(sig.dtype), bytes))
    return fail(MOE_MODEL_INVALID_ARGUMENT, what + "the shape " +
                                                shapeString(in.shape, rank) +
                                                " overflows");
  if (!in.data && bytes != 0)
    return fail(MOE_MODEL_INVALID_ARGUMENT, what + "data is NULL");
  return MOE_MODEL_OK;
}

/// Copies a strided memref of `rank` dims into the dense `out`.
void copyStrided(const char *base, const int64_t *sizes,
                 const int64_t *strides, int64_t rank, size_t elementSize,
                 char *&out) {
  if (rank == 0) {
    std::memcpy(out, base, elementSize);
    out += elementSize;
    return;
  }
  for (int64_t i = 0; i < sizes[0]; ++i)
    copyStrided(base + i * strides[0] * static_cast<int64_t>(elementSize),
                sizes + 1, strides + 1, rank - 1, elementSize, out);
}

/// One result of the graph read from its memref descriptor {allocated,
/// aligned, offset, sizes, strides} at `words`, which moves past it.
struct GraphResult {
  void *allocated;
  const char *base; // aligned + offset
  const int64_t *sizes, *strides;
};
GraphResult nextResult(const int64_t *&words, int64_t rank,
                       size_t elementSize) {
  GraphResult r{reinterpret_cast<void *>(words[0]),
                reinterpret_cast<const char *>(words[1]) +
                    words[2] * static_cast<int64_t>(elementSize),
                words + 3, words + 3 + rank};
  words += 3 + 2 * rank;
  return r;
}

/// The memref descriptor {allocated, aligned, offset, sizes, strides} of a
/// dense input in `words` (no copy); returns its address.
void *describeInput(const moe_tensor &in, std::vector<int64_t> &words) {
  int64_t rank = in.rank;
  words.assign(3 + 2 * rank, 0);
  words[0] = words[1] = reinterpret_cast<intptr_t>(in.data);
  int64_t stride = 1;
  for (int64_t d = rank - 1; d >= 0; --d) {
    words[3 + d] = in.shape[d];
    words[3 + rank + d] = stride;
    stride *= in.shape[d];
  }
  return words.data();
}

/// Checks the inputs against the signature (binding its symbols) and wraps
/// them in descriptors; `pointers` gets one descriptor address per input.
moe_model_status describeInputs(const Signature &sig, const moe_tensor *inputs,
                                std::vector<std::vector<int64_t>> &descriptors,
                                std::vector<void *> &pointers) {
  std::map<std::string, int64_t> symbols;
  descriptors.assign(sig.inputs.size(), {});
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    if (moe_model_status status = checkInput(sig.inputs[i], inputs[i], symbols))
      return status;
    pointers.push_back(describeInput(inputs[i], descriptors[i]));
  }
  return MOE_MODEL_OK;
}

/// Words of the result descriptors the entry writes: {allocated, aligned,
/// offset, sizes, strides} per output.
size_t resultWords(const Signature &sig) {
  size_t words = 0;
  for (const TensorSignature &out : sig.outputs)
    words += 3 + 2 * out.shape.size();
  return words;
}

std::string tooSmall(const std::string &name, const int64_t *shape,
                     int64_t rank, size_t bytes, size_t capacity) {
  return "output '" + name + "' has shape " + shapeString(shape, rank) +
         " (" + std::to_string(bytes) + " bytes), the buffer holds " +
         std::to_string(capacity);
}

/// A result of a run: where it is (host or device memory), its shape and
/// size.
struct Finished {
  const void *data;
  int32_t dtype;
  int32_t rank;
  const int64_t *shape;
  size_t bytes;
};

/// moe_model_run_device's last step: every output's shape filled in (a
/// caller whose buffers are too small sizes them all at once; nothing is
/// copied then), then each result copied into the caller's buffer on
/// `stream`.
moe_model_status deliverToDevice(const Signature &sig,
                                 const std::vector<Finished> &results,
                                 moe_tensor *outputs, void *stream) {
  moe_model_status status = MOE_MODEL_OK;
  for (size_t i = 0; i < results.size(); ++i) {
    const Finished &result = results[i];
    moe_tensor &dest = outputs[i];
    dest.dtype = result.dtype;
    dest.rank = result.rank;
    std::copy(result.shape, result.shape + result.rank, dest.shape);
    if (dest.capacity < result.bytes && status == MOE_MODEL_OK)
      status = fail(MOE_MODEL_OUTPUT_TOO_SMALL,
                    tooSmall(sig.outputs[i].name, result.shape, result.rank,
                             result.bytes, dest.capacity));
  }
  for (size_t i = 0; i < results.size() && status == MOE_MODEL_OK; ++i)
    if (moe_cuda_cc_copy(outputs[i].data, results[i].data,
                         static_cast<int64_t>(results[i].bytes), stream) != 0)
      status = fail(MOE_MODEL_RUNTIME_ERROR,
                    "output '" + sig.outputs[i].name +
                        "': copying it to the device failed: " +
                        moe_cuda_last_error());
  return status;
}

/// Copies a device input into a new host buffer, appended to `staging`.
moe_model_status copyToHost(const std::string &name, const moe_tensor &input,
                            std::vector<std::unique_ptr<char[]>> &staging,
                            void *stream) {
  size_t bytes;
  elementCount(input.shape, input.rank, moe_dtype_size(moe_dtype(input.dtype)),
               bytes);
  staging.emplace_back(new (std::nothrow) char[bytes ? bytes : 1]);
  if (!staging.back())
    return fail(MOE_MODEL_OUT_OF_MEMORY, "input '" + name + "': out of memory");
  if (moe_cuda_cc_copy(staging.back().get(), input.data,
                       static_cast<int64_t>(bytes), stream) != 0)
    return fail(MOE_MODEL_RUNTIME_ERROR,
                "input '" + name + "': copying from the device failed: " +
                    moe_cuda_last_error());
  return MOE_MODEL_OK;
}

/// moe_model_run_device for a device-resident graph (__moe_model_device_io):
/// the caller's device pointers go straight into the descriptors (those
/// of the inputs the graph reads on the host, __moe_model_host_inputs,
/// copied there first), the graph's buffers come from device memory for
/// this run (the runtime's thread allocator), and each result is copied
/// device to device into the caller's buffer. Everything happens on the
/// thread that runs the graph.
moe_model_status runResident(moe_model *model, const moe_tensor *inputs,
                             moe_tensor *outputs, void *stream) {
  const Signature &sig = model->signature;
  std::vector<std::vector<int64_t>> descriptors;
  std::vector<void *> inputPointers;
  if (moe_model_status status =
          describeInputs(sig, inputs, descriptors, inputPointers))
    return status;
  std::vector<std::unique_ptr<char[]>> staging;
  for (int32_t k = 0; __moe_model_host_inputs && k < __moe_model_host_inputs[0];
       ++k) {
    auto i = static_cast<size_t>(__moe_model_host_inputs[1 + k]);
    if (i >= sig.inputs.size())
      return fail(MOE_MODEL_INTERNAL_ERROR,
                  "a host input index is out of range");
    if (moe_model_status status =
            copyToHost(sig.inputs[i].name, inputs[i], staging, stream))
      return status;
    // The descriptor's allocated and aligned pointers.
    descriptors[i][0] = descriptors[i][1] =
        reinterpret_cast<intptr_t>(staging.back().get());
  }
  // The caller's work on `stream` (its inputs) is done before the graph's
  // CUDA calls, on their own stream, read them.
  if (moe_cuda_cc_copy(nullptr, nullptr, 0, stream) != 0)
    return fail(MOE_MODEL_RUNTIME_ERROR,
                std::string("waiting for the inputs failed: ") +
                    moe_cuda_last_error());
  std::vector<int64_t> results(resultWords(sig), 0);
  moe_model_status status = MOE_MODEL_OK;
  auto run = [&] {
    moe_runtime_set_thread_allocator(moe_cuda_cc_device_alloc,
                                     moe_cuda_cc_device_free);
    (void)moe_cc_take_error();
    __moe_model_entry(results.data(), inputPointers.data());
    if (const char *error = moe_cc_take_error())
      status = fail(MOE_MODEL_RUNTIME_ERROR, error);
    std::set<void *> owned;
    std::vector<Finished> finished;
    const int64_t *words = results.data();
    for (size_t i = 0; i < sig.outputs.size(); ++i) {
      const TensorSignature &out = sig.outputs[i];
      int64_t rank = static_cast<int64_t>(out.shape.size());
      size_t elementSize = moe_dtype_size(out.dtype);
      GraphResult result = nextResult(words, rank, elementSize);
      const int64_t *sizes = result.sizes, *strides = result.strides;
      owned.insert(result.allocated);
      size_t bytes = 0;
      elementCount(sizes, rank, elementSize, bytes);
      int64_t expected = 1;
      for (int64_t d = rank - 1; d >= 0; --d) {
        if (sizes[d] > 1 && strides[d] != expected && status == MOE_MODEL_OK)
          status = fail(MOE_MODEL_INTERNAL_ERROR,
                        "output '" + out.name + "' is not contiguous");
        expected *= sizes[d];
      }
      finished.push_back({result.base, out.dtype, int32_t(rank), sizes, bytes});
    }
    if (status == MOE_MODEL_OK)
      status = deliverToDevice(sig, finished, outputs, stream);
    for (void *allocated : owned)
      _mlir_memref_to_llvm_free(allocated);
    moe_runtime_set_thread_allocator(nullptr, nullptr);
  };
  if (model->arena)
    model->arena->execute(run);
  else
    run();
  // The CUDA calls return with their kernels in flight, reading the
  // caller's inputs; each output's copy waits for them, but a run that
  // copies none (outputs too small, a failure) must wait before it returns.
  if ((status != MOE_MODEL_OK || sig.outputs.empty()) &&
      moe_cuda_cc_copy(nullptr, nullptr, 0, stream) != 0 &&
      status == MOE_MODEL_OK)
    status = fail(MOE_MODEL_RUNTIME_ERROR,
                  std::string("waiting for the CUDA calls failed: ") +
                      moe_cuda_last_error());
  return status;
}

/// The inputs and outputs of this library without an instance (nothing
/// uploaded, no GPU needed): what the query functions answer for a NULL
/// model. Null when the signature is unreadable.
const moe_model *librarySignature() {
  static const std::unique_ptr<moe_model> signature = [] {
    auto model = std::make_unique<moe_model>();
    std::string error;
    if (!parseSignature(__moe_model_signature, model->signature, error))
      return std::unique_ptr<moe_model>();
    model->inputInfo = infos(model->signature.inputs);
    model->outputInfo = infos(model->signature.outputs);
    return model;
  }();
  return signature.get();
}
} // namespace

extern "C" {

int32_t moe_model_api_version(void) { return MOE_MODEL_API_VERSION; }

moe_model_status moe_model_create(const moe_model_options *options,
                                  moe_model **model) {
  if (!model)
    return fail(MOE_MODEL_INVALID_ARGUMENT, "moe_model_create: model is NULL");
  *model = nullptr;
  if (options && options->num_threads < 0)
    return fail(MOE_MODEL_INVALID_ARGUMENT,
                "moe_model_create: num_threads must be 0 (all) or positive");
  auto instance = std::make_unique<moe_model>();
  std::string error;
  if (!parseSignature(__moe_model_signature, instance->signature, error))
    return fail(MOE_MODEL_INTERNAL_ERROR, error);
  instance->inputInfo = infos(instance->signature.inputs);
  instance->outputInfo = infos(instance->signature.outputs);
  if (options && options->num_threads > 0)
    instance->arena = std::make_unique<tbb::task_arena>(options->num_threads);
  // Failures (no GPU for a --target=cuda model) come through the compiled
  // code's error channel, as in a run.
  (void)moe_cc_take_error();
  if (__moe_model_prepare)
    __moe_model_prepare();
  if (const char *error = moe_cc_take_error())
    return fail(MOE_MODEL_RUNTIME_ERROR,
                std::string("moe_model_create: ") + error);
  *model = instance.release();
  return MOE_MODEL_OK;
}

void moe_model_destroy(moe_model *model) { delete model; }

int32_t moe_model_num_inputs(const moe_model *model) {
  model = model ? model : librarySignature();
  return model ? static_cast<int32_t>(model->inputInfo.size()) : 0;
}

int32_t moe_model_num_outputs(const moe_model *model) {
  model = model ? model : librarySignature();
  return model ? static_cast<int32_t>(model->outputInfo.size()) : 0;
}

const moe_tensor_info *moe_model_input(const moe_model *model, int32_t index) {
  model = model ? model : librarySignature();
  if (!model || index < 0 || index >= moe_model_num_inputs(model))
    return nullptr;
  return &model->inputInfo[index];
}

const moe_tensor_info *moe_model_output(const moe_model *model,
                                        int32_t index) {
  model = model ? model : librarySignature();
  if (!model || index < 0 || index >= moe_model_num_outputs(model))
    return nullptr;
  return &model->outputInfo[index];
}

const char *moe_model_last_error(const moe_model *) {
  return lastError.c_str();
}

void moe_model_free_buffer(void *data) { std::free(data); }

void moe_model_stats_enable(moe_model *, int32_t on) { moe_stats_enable(on); }

void moe_model_stats_reset(moe_model *) { moe_stats_reset(); }

char *moe_model_stats_json(const moe_model *) { return moe_stats_json(); }

moe_model_status moe_model_run(moe_model *model, const moe_tensor *inputs,
                               int32_t numInputs, moe_tensor *outputs,
                               int32_t numOutputs) {
  if (!model)
    return fail(MOE_MODEL_INVALID_ARGUMENT, "moe_model_run: model is NULL");
  const Signature &sig = model->signature;
  if (numInputs != static_cast<int32_t>(sig.inputs.size()) ||
      numOutputs != static_cast<int32_t>(sig.outputs.size()))
    return fail(MOE_MODEL_INVALID_ARGUMENT,
                "moe_model_run: the model has " +
                    std::to_string(sig.inputs.size()) + " inputs and " +
                    std::to_string(sig.outputs.size()) + " outputs, got " +
                    std::to_string(numInputs) + " and " +
                    std::to_string(numOutputs));
  if ((numInputs && !inputs) || (numOutputs && !outputs))
    return fail(MOE_MODEL_INVALID_ARGUMENT,
                "moe_model_run: inputs or outputs is NULL");

  // Inputs: checked, then wrapped in descriptors {allocated, aligned,
  // offset, sizes, strides} pointing at the caller's data.
  std::vector<std::vector<int64_t>> descriptors;
  std::vector<void *> inputPointers;
  if (moe_model_status status =
          describeInputs(sig, inputs, descriptors, inputPointers))
    return status;

  std::vector<int64_t> results(resultWords(sig), 0);
  // Errors the compiled code reports (moe_cc_index_error) are kept per
  // thread: read them on the thread that ran the graph (an arena may run
  // the functor elsewhere), after dropping any stale one.
  std::string runtimeErrorText;
  bool runtimeFailed = false;
  auto run = [&] {
    (void)moe_cc_take_error();
    __moe_model_entry(results.data(), inputPointers.data());
    if (const char *error = moe_cc_take_error()) {
      runtimeFailed = true;
      runtimeErrorText = error;
    }
  };
  if (model->arena)
    model->arena->execute(run);
  else
    run();
  const char *runtimeError = runtimeFailed ? runtimeErrorText.c_str() : nullptr;

  // Outputs: copied to the caller's buffers (or fresh ones), then the
  // graph's buffers are freed (once each: two outputs may share one).
  moe_model_status status = MOE_MODEL_OK;
  std::set<void *> owned;
  std::vector<size_t> allocatedHere;
  const int64_t *words = results.data();
  for (size_t i = 0; i < sig.outputs.size(); ++i) {
    const TensorSignature &out = sig.outputs[i];
    int64_t rank = static_cast<int64_t>(out.shape.size());
    size_t elementSize = moe_dtype_size(out.dtype);
    GraphResult result = nextResult(words, rank, elementSize);
    const int64_t *sizes = result.sizes, *strides = result.strides;
    owned.insert(result.allocated);
    if (runtimeError && status == MOE_MODEL_OK)
      status = fail(MOE_MODEL_RUNTIME_ERROR, runtimeError);
    if (status != MOE_MODEL_OK)
      continue;

    moe_tensor &dest = outputs[i];
    dest.dtype = out.dtype;
    dest.rank = static_cast<int32_t>(rank);
    std::copy(sizes, sizes + rank, dest.shape);
    size_t bytes;
    elementCount(sizes, rank, elementSize, bytes);
    if (!dest.data) {
      dest.data = std::malloc(bytes ? bytes : 1);
      dest.capacity = bytes;
      allocatedHere.push_back(i);
      if (!dest.data) {
        status = fail(MOE_MODEL_OUT_OF_MEMORY,
                      "output '" + out.name + "': out of memory");
        continue;
      }
    } else if (dest.capacity < bytes) {
      status = fail(MOE_MODEL_OUTPUT_TOO_SMALL,
                    tooSmall(out.name, sizes, rank, bytes, dest.capacity));
      continue;
    }
    char *cursor = static_cast<char *>(dest.data);
    if (bytes)
      copyStrided(result.base, sizes, strides, rank, elementSize, cursor);
  }
  // The graph's buffers come from the runtime's buffer cache.
  for (void *allocated : owned)
    _mlir_memref_to_llvm_free(allocated);
  // A failed run leaves no buffer for the caller to free.
  if (status != MOE_MODEL_OK)
    for (size_t i : allocatedHere) {
      std::free(outputs[i].data);
      outputs[i].data = nullptr;
    }
  return status;
}

moe_model_status moe_model_run_device(moe_model *model,
                                      const moe_tensor *inputs,
                                      int32_t numInputs, moe_tensor *outputs,
                                      int32_t numOutputs, void *stream) {
  const std::string what = "moe_model_run_device: ";
  if (!model)
    return fail(MOE_MODEL_INVALID_ARGUMENT, what + "model is NULL");
  if (!moe_cuda_cc_copy || !moe_cuda_last_error)
    return fail(MOE_MODEL_INVALID_ARGUMENT,
                what + "this model was compiled for the CPU; device buffers "
                       "need a model compiled with --target=cuda");
  const Signature &sig = model->signature;
  if ((numInputs && !inputs) || (numOutputs && !outputs) ||
      numInputs != static_cast<int32_t>(sig.inputs.size()) ||
      numOutputs != static_cast<int32_t>(sig.outputs.size()))
    return moe_model_run(model, inputs, numInputs, outputs, numOutputs);
  for (int32_t i = 0; i < numOutputs; ++i)
    if (!outputs[i].data)
      return fail(MOE_MODEL_INVALID_ARGUMENT,
                  what + "output '" + sig.outputs[i].name +
                      "': data is NULL (device outputs are caller buffers; "
                      "a capacity too small returns the shape)");

  if (&__moe_model_device_io && moe_cuda_cc_device_alloc &&
      moe_cuda_cc_device_free)
    return runResident(model, inputs, outputs, stream);

  // Inputs: checked, then staged through host memory.
  std::map<std::string, int64_t> symbols;
  std::vector<moe_tensor> hostInputs(inputs, inputs + numInputs);
  std::vector<std::unique_ptr<char[]>> staging;
  for (int32_t i = 0; i < numInputs; ++i) {
    if (moe_model_status status = checkInput(sig.inputs[i], inputs[i], symbols))
      return status;
    if (moe_model_status status =
            copyToHost(sig.inputs[i].name, inputs[i], staging, stream))
      return status;
    hostInputs[i].data = staging.back().get();
  }

  std::vector<moe_tensor> hostOutputs(numOutputs, moe_tensor{});
  if (moe_model_status status = moe_model_run(
          model, hostInputs.data(), numInputs, hostOutputs.data(), numOutputs))
    return status;
  std::vector<Finished> finished;
  for (const moe_tensor &host : hostOutputs)
    finished.push_back(
        {host.data, host.dtype, host.rank, host.shape, host.capacity});
  moe_model_status status = deliverToDevice(sig, finished, outputs, stream);
  for (moe_tensor &host : hostOutputs)
    std::free(host.data);
  return status;
}

} // extern "C"
