//===- MoEModule.cpp - The _moe extension of the moe_compiler package -----===//
//
// Two halves: `_compile` calls the compiler through CompileDriver.h (plain
// C++ types only: this file is built with RTTI and exceptions for pybind11,
// MLIR without), and `_Model` loads a compiled .so and drives its C API
// (moe_model.h). The GIL is released while compiling and running.
//
//===----------------------------------------------------------------------===//

#include "moe/Compiler/CompileDriver.h"
#include "Runner.h"
#include "moe_model.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

struct CompileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// numpy dtype names per moe_dtype.
const char *numpyName(int32_t dtype) {
  switch (dtype) {
  case MOE_DTYPE_F32:
    return "float32";
  case MOE_DTYPE_F64:
    return "float64";
  case MOE_DTYPE_F16:
    return "float16";
  case MOE_DTYPE_BF16:
    return "bfloat16"; // numpy knows it once ml_dtypes is imported
  case MOE_DTYPE_I32:
    return "int32";
  case MOE_DTYPE_I64:
    return "int64";
  case MOE_DTYPE_I8:
    return "int8";
  case MOE_DTYPE_U8:
    return "uint8";
  case MOE_DTYPE_BOOL:
    return "bool";
  default:
    return "?";
  }
}

py::list compile(const std::string &model, const std::string &output,
                 const std::string &emit, unsigned optLevel, int numThreads,
                 bool reference, bool collectIR, const std::string &runtimeDir,
                 const std::string &linker, unsigned long long maxWeightBytes,
                 const std::string &weights, const std::string &target) {
  mlir::moe::DriverOptions options;
  options.emit = emit;
  options.optLevel = optLevel;
  options.numThreads = numThreads;
  options.reference = reference;
  options.collectIR = collectIR;
  options.runtimeLibraryDir = runtimeDir;
  options.linker = linker;
  options.maxWeightBytes = maxWeightBytes;
  options.weightType = weights;
  options.target = target;
  mlir::moe::DriverResult result;
  {
    py::gil_scoped_release release;
    result = mlir::moe::compileModel(model, output, options);
  }
  if (!result.ok)
    throw CompileError(result.diagnostics.empty()
                           ? "compilation failed"
                           : result.diagnostics);
  py::list stages;
  for (const auto &[stage, ir] : result.stages)
    stages.append(py::make_tuple(stage, ir));
  return stages;
}

/// A dlopen()ed model library and its C API (runtime/model/Runner.h).
struct Library : moe::model::ModelFunctions {
  explicit Library(const std::string &path) {
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      throw ModelError("cannot load '" + path + "': " + dlerror());
    if (const char *missing = moe::model::bindModelFunctions(handle, *this))
      throw ModelError("'" + path + "' is not a compiled MoE model (it has "
                       "no " + std::string(missing) + ")");
    if (apiVersion() != MOE_MODEL_API_VERSION)
      throw ModelError("'" + path + "' has model C API version " +
                       std::to_string(apiVersion()) + ", this package " +
                       std::to_string(MOE_MODEL_API_VERSION) +
                       "; recompile it");
  }
  // Not dlclose()d: arrays returned by a run may outlive the model.
};

py::tuple describe(const moe_tensor_info &info) {
  py::list shape;
  for (int32_t i = 0; i < info.rank; ++i)
    shape.append(info.shape[i] < 0 ? py::object(py::none())
                                   : py::object(py::int_(info.shape[i])));
  return py::make_tuple(info.name, numpyName(info.dtype), py::tuple(shape));
}

/// The inputs and outputs of a model library, without an instance (no
/// weights uploaded: a CUDA model is described without a GPU).
py::tuple describeLibrary(const std::string &path) {
  Library library(path);
  if (library.numOutputs(nullptr) == 0)
    throw ModelError("'" + path + "' cannot be described without an "
                     "instance (compiled before that existed); load it");
  py::list inputs, outputs;
  for (int32_t i = 0; i < library.numInputs(nullptr); ++i)
    inputs.append(describe(*library.input(nullptr, i)));
  for (int32_t i = 0; i < library.numOutputs(nullptr); ++i)
    outputs.append(describe(*library.output(nullptr, i)));
  return py::make_tuple(inputs, outputs);
}

class Model {
public:
  Model(const std::string &path, int numThreads)
      : library(std::make_shared<Library>(path)) {
    moe_model_options options{numThreads};
    if (library->create(&options, &model) != MOE_MODEL_OK)
      throw ModelError(library->lastError(nullptr));
  }
  ~Model() {
    if (model)
      library->destroy(model);
  }
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  py::list inputs() const {
    py::list result;
    for (int32_t i = 0; i < library->numInputs(model); ++i)
      result.append(describe(*library->input(model, i)));
    return result;
  }
  py::list outputs() const {
    py::list result;
    for (int32_t i = 0; i < library->numOutputs(model); ++i)
      result.append(describe(*library->output(model, i)));
    return result;
  }

  /// Runs on arrays in input order. C-contiguous arrays of the model's
  /// dtype are read in place; other layouts are copied first; other dtypes
  /// are an error (no silent casts). Outputs are the model's buffers,
  /// owned by the returned arrays.
  py::list run(const std::vector<py::array> &arrays) {
    int32_t numInputs = library->numInputs(model);
    if (static_cast<int32_t>(arrays.size()) != numInputs)
      throw ModelError("the model has " + std::to_string(numInputs) +
                       " inputs, got " + std::to_string(arrays.size()));
    std::vector<py::array> kept;
    std::vector<moe_tensor> tensors(arrays.size());
    for (int32_t i = 0; i < numInputs; ++i) {
      const moe_tensor_info &info = *library->input(model, i);
      py::dtype want(numpyName(info.dtype));
      if (!arrays[i].dtype().is(want) && !arrays[i].dtype().equal(want))
        throw ModelError("input '" + std::string(info.name) + "': dtype " +
                         std::string(py::str(arrays[i].dtype())) +
                         ", the model wants " + numpyName(info.dtype));
      if (arrays[i].ndim() > MOE_MODEL_MAX_RANK)
        throw ModelError("input '" + std::string(info.name) + "': rank " +
                         std::to_string(arrays[i].ndim()) + " is over " +
                         std::to_string(MOE_MODEL_MAX_RANK));
      py::array array = py::array::ensure(
          arrays[i], py::array::c_style | py::array::forcecast);
      kept.push_back(array);
      moe_tensor &t = tensors[i];
      t.data = const_cast<void *>(array.data());
      t.dtype = info.dtype;
      t.rank = static_cast<int32_t>(array.ndim());
      for (int32_t d = 0; d < t.rank; ++d)
        t.shape[d] = array.shape(d);
      t.capacity = array.nbytes();
    }
    int32_t numOutputs = library->numOutputs(model);
    std::vector<moe_tensor> outputs(numOutputs, moe_tensor{});
    moe_model_status status;
    std::string error;
    {
      py::gil_scoped_release release;
      status = library->run(model, tensors.data(), numInputs, outputs.data(),
                            numOutputs);
      if (status != MOE_MODEL_OK)
        error = library->lastError(model);
    }
    if (status != MOE_MODEL_OK)
      throw ModelError(error);
    py::list result;
    for (moe_tensor &t : outputs) {
      std::vector<py::ssize_t> shape(t.shape, t.shape + t.rank);
      // moe_model_free_buffer is free(): the capsule frees with it.
      py::capsule owner(t.data, [](void *p) { std::free(p); });
      result.append(py::array(py::dtype(numpyName(t.dtype)), shape, t.data,
                              owner));
    }
    return result;
  }

  /// moe_model_run_device: `inputs` as (CUDA pointer, shape) in input
  /// order (dtypes checked by the caller), `outputs` as (CUDA pointer,
  /// capacity in bytes), `stream` a cudaStream_t (0: the default stream).
  /// Returns (whether the outputs were written, their shapes): false when
  /// a buffer was too small; other failures raise.
  py::tuple runDevice(const std::vector<std::pair<uintptr_t, std::vector<int64_t>>> &inputs,
                      const std::vector<std::pair<uintptr_t, size_t>> &outputs,
                      uintptr_t stream) {
    if (!library->runDevice)
      throw ModelError("this model library has no moe_model_run_device; "
                       "recompile it");
    int32_t numInputs = static_cast<int32_t>(inputs.size());
    std::vector<moe_tensor> tensors(inputs.size(), moe_tensor{});
    for (int32_t i = 0; i < numInputs && i < library->numInputs(model); ++i) {
      const auto &[pointer, shape] = inputs[i];
      if (shape.size() > MOE_MODEL_MAX_RANK)
        throw ModelError("input '" +
                         std::string(library->input(model, i)->name) +
                         "': rank " + std::to_string(shape.size()) +
                         " is over " + std::to_string(MOE_MODEL_MAX_RANK));
      moe_tensor &t = tensors[i];
      t.data = reinterpret_cast<void *>(pointer);
      t.dtype = library->input(model, i)->dtype;
      t.rank = static_cast<int32_t>(shape.size());
      std::copy(shape.begin(), shape.end(), t.shape);
    }
    std::vector<moe_tensor> results(outputs.size(), moe_tensor{});
    for (size_t i = 0; i < outputs.size(); ++i) {
      results[i].data = reinterpret_cast<void *>(outputs[i].first);
      results[i].capacity = outputs[i].second;
    }
    moe_model_status status;
    std::string error;
    {
      py::gil_scoped_release release;
      status = library->runDevice(model, tensors.data(), numInputs,
                                  results.data(),
                                  static_cast<int32_t>(results.size()),
                                  reinterpret_cast<void *>(stream));
      if (status != MOE_MODEL_OK)
        error = library->lastError(model);
    }
    if (status != MOE_MODEL_OK && status != MOE_MODEL_OUTPUT_TOO_SMALL)
      throw ModelError(error);
    py::list shapes;
    for (const moe_tensor &t : results)
      shapes.append(py::tuple(py::cast(
          std::vector<int64_t>(t.shape, t.shape + t.rank))));
    return py::make_tuple(status == MOE_MODEL_OK, shapes);
  }

  void recordStats(bool on) { library->statsEnable(model, on ? 1 : 0); }
  void resetStats() { library->statsReset(model); }
  std::string statsJson() const {
    char *json = library->statsJson(model);
    if (!json)
      throw ModelError("out of memory reading the routing statistics");
    std::string text(json);
    library->freeBuffer(json);
    return text;
  }

private:
  std::shared_ptr<Library> library;
  moe_model *model = nullptr;
};

} // namespace

PYBIND11_MODULE(_moe, m) {
  m.doc() = "Bindings of the MoE compiler and of compiled models' C API";
  py::register_exception<CompileError>(m, "CompileError",
                                       PyExc_RuntimeError);
  py::register_exception<ModelError>(m, "ModelError", PyExc_ValueError);
  m.attr("MODEL_API_VERSION") = MOE_MODEL_API_VERSION;
  m.def("_describe", &describeLibrary, py::arg("path"));
  m.def("_compile", &compile, py::arg("model"), py::arg("output"),
        py::arg("emit"), py::arg("opt_level"), py::arg("num_threads"),
        py::arg("reference"), py::arg("collect_ir"), py::arg("runtime_dir"),
        py::arg("linker"), py::arg("max_weight_bytes"), py::arg("weights"),
        py::arg("target"));
  py::class_<Model>(m, "_Model")
      .def(py::init<const std::string &, int>(), py::arg("path"),
           py::arg("num_threads"))
      .def("inputs", &Model::inputs)
      .def("outputs", &Model::outputs)
      .def("run", &Model::run)
      .def("run_device", &Model::runDevice)
      .def("record_stats", &Model::recordStats)
      .def("reset_stats", &Model::resetStats)
      .def("stats_json", &Model::statsJson);
}
