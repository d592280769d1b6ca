//===- Runner.cpp - Run a compiled model on .npy files --------------------===//

#include "Runner.h"

#include "Npy.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>

using namespace moe::model;

namespace {
std::string describe(const moe_tensor_info &info) {
  std::string s = std::string(moe_dtype_name(moe_dtype(info.dtype))) + " [";
  for (int32_t i = 0; i < info.rank; ++i)
    s += (i ? ", " : "") +
         (info.shape[i] < 0 ? std::string("?") : std::to_string(info.shape[i]));
  return s + "]";
}

std::string describe(const moe_tensor &tensor) {
  moe_tensor_info info{"", tensor.dtype, tensor.rank, tensor.shape};
  return describe(info);
}

/// Prints min/median/mean/p90/max of `millis`.
void printLatency(std::vector<double> millis) {
  std::sort(millis.begin(), millis.end());
  double sum = 0;
  for (double m : millis)
    sum += m;
  auto at = [&](double q) {
    return millis[static_cast<size_t>(q * (millis.size() - 1) + 0.5)];
  };
  std::printf("latency over %zu runs (ms): min %.4f  median %.4f  mean %.4f  "
              "p90 %.4f  max %.4f\n",
              millis.size(), millis.front(), at(0.5), sum / millis.size(),
              at(0.9), millis.back());
}

/// Device buffers through the CUDA functions found at run time; freed on
/// destruction.
class DeviceBuffers {
public:
  explicit DeviceBuffers(const CudaFunctions &cuda) : cuda(cuda) {}
  DeviceBuffers(const DeviceBuffers &) = delete;
  DeviceBuffers &operator=(const DeviceBuffers &) = delete;
  ~DeviceBuffers() {
    for (void *pointer : pointers)
      cuda.free(pointer);
  }
  /// `bytes` of device memory (at least 1), or null.
  void *allocate(size_t bytes) {
    void *pointer = nullptr;
    if (cuda.malloc(&pointer, bytes > 0 ? bytes : 1) != 0)
      return nullptr;
    pointers.push_back(pointer);
    return pointer;
  }

private:
  const CudaFunctions &cuda;
  std::vector<void *> pointers;
};

// cudaMemcpyKind values (cuda_runtime_api.h).
constexpr int kHostToDevice = 1, kDeviceToHost = 2;

class Session {
public:
  Session(const ModelFunctions &api, const char *tool,
          const CudaFunctions &cuda)
      : api(api), tool(tool), cuda(cuda) {}
  ~Session() {
    freeOutputs();
    if (model)
      api.destroy(model);
  }

  int fail(const std::string &message) {
    std::fprintf(stderr, "%s: error: %s\n", tool, message.c_str());
    return 1;
  }
  int failModel(const std::string &what) {
    return fail(what + ": " + api.lastError(model));
  }

  int run(const RunRequest &request);

private:
  int loadInputs(const std::vector<std::string> &specs);
  int runOnDevice(const RunRequest &request);
  /// Times `runs` more calls of `runOnce` and prints their latency (after
  /// `heading`, when given).
  template <typename Run>
  int bench(int32_t runs, Run &runOnce, const char *heading) {
    if (runs == 0)
      return 0;
    std::vector<double> millis;
    for (int32_t i = 0; i < runs; ++i) {
      auto start = std::chrono::steady_clock::now();
      if (runOnce() != MOE_MODEL_OK)
        return failModel("run " + std::to_string(i + 1) + " failed");
      millis.push_back(std::chrono::duration<double, std::milli>(
                           std::chrono::steady_clock::now() - start)
                           .count());
    }
    if (heading)
      std::printf("%s\n", heading);
    printLatency(millis);
    return 0;
  }
  int writeOutputs(const std::string &dir);
  int writeProfile(const std::string &path);
  void freeOutputs() {
    for (moe_tensor &t : outputs)
      if (t.data)
        api.freeBuffer(t.data);
    outputs.clear();
  }

  const ModelFunctions &api;
  const char *tool;
  const CudaFunctions &cuda;
  moe_model *model = nullptr;
  std::vector<NpyArray> arrays;
  std::vector<moe_tensor> inputs, outputs;
};

int Session::loadInputs(const std::vector<std::string> &specs) {
  int32_t count = api.numInputs(model);
  std::map<std::string, int32_t> byName;
  std::string names;
  for (int32_t i = 0; i < count; ++i) {
    byName[api.input(model, i)->name] = i;
    names += std::string(i ? ", " : "") + "'" + api.input(model, i)->name + "'";
  }
  arrays.assign(count, NpyArray());
  std::vector<bool> given(count, false);
  for (const std::string &spec : specs) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos)
      return fail("--input '" + spec + "': expected NAME=file.npy");
    std::string name = spec.substr(0, eq), path = spec.substr(eq + 1);
    auto it = byName.find(name);
    if (it == byName.end())
      return fail("the model has no input '" + name + "' (its inputs: " +
                  names + ")");
    if (given[it->second])
      return fail("input '" + name + "' is given twice");
    given[it->second] = true;
    std::string error;
    if (!readNpy(path, arrays[it->second], error))
      return fail("input '" + name + "': " + error);
  }
  inputs.clear();
  for (int32_t i = 0; i < count; ++i) {
    const moe_tensor_info &info = *api.input(model, i);
    if (!given[i])
      return fail("missing input '" + std::string(info.name) + "' (" +
                  describe(info) + "): pass --input " + info.name +
                  "=file.npy");
    NpyArray &array = arrays[i];
    moe_tensor tensor{};
    tensor.data = array.data.data();
    tensor.dtype = array.dtype;
    tensor.rank = static_cast<int32_t>(array.shape.size());
    std::copy(array.shape.begin(), array.shape.end(), tensor.shape);
    tensor.capacity = array.data.size();
    inputs.push_back(tensor);
  }
  return 0;
}

int Session::writeOutputs(const std::string &dir) {
  if (!dir.empty() && mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST)
    return fail("cannot create the output directory '" + dir + "'");
  for (int32_t i = 0; i < api.numOutputs(model); ++i) {
    const moe_tensor &out = outputs[i];
    std::string name = api.output(model, i)->name;
    if (dir.empty()) {
      std::printf("output '%s': %s\n", name.c_str(), describe(out).c_str());
      continue;
    }
    std::string path = dir + "/" + outputFileName(name);
    std::string error;
    size_t bytes = moe_dtype_size(moe_dtype(out.dtype));
    for (int32_t d = 0; d < out.rank; ++d)
      bytes *= static_cast<size_t>(out.shape[d]);
    if (!writeNpy(path, moe_dtype(out.dtype), out.shape, out.rank, out.data,
                  bytes, error))
      return fail("output '" + name + "': " + error);
    std::printf("output '%s': %s -> %s\n", name.c_str(), describe(out).c_str(),
                path.c_str());
  }
  return 0;
}

int Session::run(const RunRequest &request) {
  if (api.apiVersion() != MOE_MODEL_API_VERSION)
    return fail("the model has C API version " +
                std::to_string(api.apiVersion()) + ", this tool expects " +
                std::to_string(MOE_MODEL_API_VERSION) + "; recompile it");
  if (request.threads < 0)
    return fail("--threads must be 0 (all cores) or positive");
  if (request.benchRuns < 0)
    return fail("--bench must be 0 or positive");
  // Describing needs no instance (a model compiled for CUDA is described
  // without a GPU); libraries older than that answer 0 outputs for NULL,
  // and get one.
  if (request.describe && api.numOutputs(nullptr) == 0 &&
      api.create(nullptr, &model) != MOE_MODEL_OK)
    return fail(std::string("cannot create the model: ") +
                api.lastError(nullptr));
  if (request.describe) {
    for (int32_t i = 0; i < api.numInputs(model); ++i)
      std::printf("input '%s': %s\n", api.input(model, i)->name,
                  describe(*api.input(model, i)).c_str());
    for (int32_t i = 0; i < api.numOutputs(model); ++i)
      std::printf("output '%s': %s\n", api.output(model, i)->name,
                  describe(*api.output(model, i)).c_str());
    return 0;
  }
  moe_model_options options{request.threads};
  if (api.create(&options, &model) != MOE_MODEL_OK)
    return fail(std::string("cannot create the model: ") +
                api.lastError(nullptr));
  if (int rc = loadInputs(request.inputs))
    return rc;
  if (!request.profilePath.empty())
    api.statsEnable(model, 1);
  if (request.device)
    return runOnDevice(request);

  int32_t numOutputs = api.numOutputs(model);
  auto runOnce = [&] {
    freeOutputs();
    outputs.assign(numOutputs, moe_tensor{});
    return api.run(model, inputs.data(), static_cast<int32_t>(inputs.size()),
                   outputs.data(), numOutputs);
  };
  if (runOnce() != MOE_MODEL_OK)
    return failModel("the run failed");
  if (int rc = writeOutputs(request.outputDir))
    return rc;
  if (int rc = bench(request.benchRuns, runOnce, nullptr))
    return rc;
  return writeProfile(request.profilePath);
}

/// --device: the inputs copied to CUDA memory once, the outputs sized by a
/// first call with 1-byte buffers (which answers every shape), then runs of
/// moe_model_run_device on those buffers (the timed ones too), the outputs
/// copied back to be written.
int Session::runOnDevice(const RunRequest &request) {
  if (!api.runDevice)
    return fail("--device: this model library has no moe_model_run_device "
                "(recompile it)");
  if (!cuda.malloc || !cuda.memcpy || !cuda.free)
    return fail("--device: no CUDA runtime (cudaMalloc) in this process or "
                "the model's libraries: run a model compiled with "
                "--target=cuda on a machine with CUDA");
  DeviceBuffers buffers(cuda);
  std::vector<moe_tensor> deviceInputs = inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    size_t bytes = arrays[i].data.size();
    deviceInputs[i].data = buffers.allocate(bytes);
    if (!deviceInputs[i].data ||
        cuda.memcpy(deviceInputs[i].data, inputs[i].data, bytes,
                    kHostToDevice) != 0)
      return fail("--device: cannot copy input '" +
                  std::string(api.input(model, int32_t(i))->name) +
                  "' to the GPU");
  }
  int32_t numOutputs = api.numOutputs(model);
  std::vector<moe_tensor> deviceOutputs(numOutputs);
  for (moe_tensor &t : deviceOutputs) {
    t.data = buffers.allocate(1);
    t.capacity = 1;
    if (!t.data)
      return fail("--device: cannot allocate GPU memory");
  }
  auto runOnce = [&] {
    return api.runDevice(model, deviceInputs.data(),
                         static_cast<int32_t>(deviceInputs.size()),
                         deviceOutputs.data(), numOutputs, nullptr);
  };
  moe_model_status status = runOnce();
  if (status == MOE_MODEL_OUTPUT_TOO_SMALL) {
    // Sized now: buffers that fit every output.
    for (moe_tensor &t : deviceOutputs) {
      int64_t elements = 1;
      for (int32_t d = 0; d < t.rank; ++d)
        elements *= t.shape[d];
      t.capacity = elements * moe_dtype_size(moe_dtype(t.dtype));
      t.data = buffers.allocate(static_cast<size_t>(t.capacity));
      if (!t.data)
        return fail("--device: cannot allocate GPU memory for the outputs");
    }
    status = runOnce();
  }
  if (status != MOE_MODEL_OK)
    return failModel("the run on device buffers failed");
  // The outputs back on the host, for writing and printing (host copies
  // owned here, not the model's buffers: cleared before freeOutputs).
  freeOutputs();
  struct ForgetCopies { // on every way out: not the model's to free
    std::vector<moe_tensor> &outputs;
    ~ForgetCopies() { outputs.clear(); }
  } forget{outputs};
  std::vector<std::vector<char>> copies;
  for (const moe_tensor &t : deviceOutputs) {
    copies.emplace_back(static_cast<size_t>(t.capacity));
    if (cuda.memcpy(copies.back().data(), t.data, copies.back().size(),
                    kDeviceToHost) != 0)
      return fail("--device: cannot copy the outputs back");
    moe_tensor host = t;
    host.data = copies.back().data();
    outputs.push_back(host);
  }
  if (int rc = writeOutputs(request.outputDir))
    return rc;
  if (int rc = bench(request.benchRuns, runOnce,
                     "on device buffers (no copies of inputs or outputs):"))
    return rc;
  return writeProfile(request.profilePath);
}

int Session::writeProfile(const std::string &path) {
  if (path.empty())
    return 0;
  char *json = api.statsJson(model);
  if (!json)
    return fail("out of memory writing the routing statistics");
  FILE *file = std::fopen(path.c_str(), "w");
  bool ok = file && std::fputs(json, file) >= 0;
  if (file)
    ok = std::fclose(file) == 0 && ok;
  api.freeBuffer(json);
  if (!ok)
    return fail("cannot write the profile '" + path + "'");
  std::printf("routing statistics -> %s\n", path.c_str());
  return 0;
}
} // namespace

static const char kFlags[] =
    "\n"
    "  --input NAME=file.npy  the value of model input NAME (repeat per input)\n"
    "  --output-dir DIR       write <output name>.npy files there (default:\n"
    "                         print the output shapes only)\n"
    "  --threads N            threads the kernels may use (default 0: all)\n"
    "  --bench N              then time N more runs and print latency stats\n"
    "  --profile FILE.json    record routing statistics of all runs there\n"
    "                         (render them with moe-report)\n"
    "  --device               run on CUDA buffers (a model compiled with\n"
    "                         --target=cuda): the inputs copied to the GPU\n"
    "                         once, --bench times moe_model_run_device on them\n"
    "  --describe             print the model's inputs and outputs and stop\n"
    "  --help                 this text\n";

/// Parses "N" into `out`; false when it is not a whole number.
static bool parseCount(const std::string &text, int32_t &out) {
  char *end = nullptr;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || value < INT32_MIN || value > INT32_MAX)
    return false;
  out = static_cast<int32_t>(value);
  return true;
}

int moe::model::parseRunArguments(int argc, char **argv, const char *tool,
                                  const char *usage, RunRequest &request,
                                  std::vector<std::string> *positional) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], flag = arg, value;
    bool hasValue = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      flag = arg.substr(0, arg.find('='));
      value = arg.substr(arg.find('=') + 1);
      hasValue = true;
    }
    bool takesValue = flag == "--input" || flag == "--output-dir" ||
                      flag == "--threads" || flag == "--bench" ||
                      flag == "--profile";
    if (takesValue && !hasValue) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: error: %s needs a value\n", tool,
                     flag.c_str());
        return 1;
      }
      value = argv[++i];
    }
    if (flag == "--help" || flag == "-h") {
      std::printf("usage: %s %s%s", tool, usage, kFlags);
      return 0;
    }
    if (flag == "--describe") {
      request.describe = true;
    } else if (flag == "--device") {
      request.device = true;
    } else if (flag == "--input") {
      request.inputs.push_back(value);
    } else if (flag == "--output-dir") {
      request.outputDir = value;
    } else if (flag == "--profile") {
      request.profilePath = value;
    } else if (flag == "--threads" || flag == "--bench") {
      if (!parseCount(value, flag == "--threads" ? request.threads
                                                 : request.benchRuns)) {
        std::fprintf(stderr, "%s: error: %s wants a number, not '%s'\n",
                     tool, flag.c_str(), value.c_str());
        return 1;
      }
    } else if (arg.size() > 1 && arg[0] == '-') {
      std::fprintf(stderr, "%s: error: unknown option '%s' (see --help)\n",
                   tool, arg.c_str());
      return 1;
    } else if (positional) {
      positional->push_back(arg);
    } else {
      std::fprintf(stderr, "%s: error: unexpected argument '%s' (see --help)\n",
                   tool, arg.c_str());
      return 1;
    }
  }
  return -1;
}

const char *moe::model::bindModelFunctions(void *library, ModelFunctions &api) {
#define MOE_BIND(field, symbol)                                              \
  api.field = reinterpret_cast<decltype(api.field)>(dlsym(library, symbol)); \
  if (!api.field)                                                            \
    return symbol;
  MOE_BIND(apiVersion, "moe_model_api_version")
  MOE_BIND(create, "moe_model_create")
  MOE_BIND(destroy, "moe_model_destroy")
  MOE_BIND(numInputs, "moe_model_num_inputs")
  MOE_BIND(numOutputs, "moe_model_num_outputs")
  MOE_BIND(input, "moe_model_input")
  MOE_BIND(output, "moe_model_output")
  MOE_BIND(run, "moe_model_run")
  MOE_BIND(lastError, "moe_model_last_error")
  MOE_BIND(freeBuffer, "moe_model_free_buffer")
  MOE_BIND(statsEnable, "moe_model_stats_enable")
  MOE_BIND(statsReset, "moe_model_stats_reset")
  MOE_BIND(statsJson, "moe_model_stats_json")
#undef MOE_BIND
  api.runDevice = reinterpret_cast<decltype(api.runDevice)>(
      dlsym(library, "moe_model_run_device"));
  return nullptr;
}

std::string moe::model::outputFileName(const std::string &outputName) {
  std::string name = outputName.empty() ? "output" : outputName;
  for (char &c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
          c == '_' || c == '-'))
      c = '_';
  return name + ".npy";
}

int moe::model::runModel(const ModelFunctions &api, const RunRequest &request,
                         const char *tool, const CudaFunctions &cuda) {
  Session session(api, tool, cuda);
  return session.run(request);
}

CudaFunctions moe::model::findCudaFunctions(void *library) {
  auto find = [&](const char *name) -> void * {
    if (void *symbol = dlsym(RTLD_DEFAULT, name))
      return symbol;
    return library ? dlsym(library, name) : nullptr;
  };
  CudaFunctions cuda;
  cuda.malloc = reinterpret_cast<decltype(cuda.malloc)>(find("cudaMalloc"));
  cuda.memcpy = reinterpret_cast<decltype(cuda.memcpy)>(find("cudaMemcpy"));
  cuda.free = reinterpret_cast<decltype(cuda.free)>(find("cudaFree"));
  return cuda;
}
