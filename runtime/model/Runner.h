//===- Runner.h - Run a compiled model on .npy files ------------*- C++ -*-===//
//
// The work behind `moe-run model.so` and `moe-compile --emit=exe` binaries:
// read .npy inputs by name, check them against the model, run (optionally
// many times, for latency statistics), write one .npy per output. It goes
// through the C API only, as function pointers, so that moe-run can take
// them from a dlopen()ed library and an executable from itself.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_MODEL_RUNNER_H
#define MOE_RUNTIME_MODEL_RUNNER_H

#include "moe_model.h"

#include <string>
#include <utility>
#include <vector>

namespace moe::model {

struct ModelFunctions {
  decltype(&moe_model_api_version) apiVersion;
  decltype(&moe_model_create) create;
  decltype(&moe_model_destroy) destroy;
  decltype(&moe_model_num_inputs) numInputs;
  decltype(&moe_model_num_outputs) numOutputs;
  decltype(&moe_model_input) input;
  decltype(&moe_model_output) output;
  decltype(&moe_model_run) run;
  decltype(&moe_model_last_error) lastError;
  decltype(&moe_model_free_buffer) freeBuffer;
  decltype(&moe_model_stats_enable) statsEnable;
  decltype(&moe_model_stats_reset) statsReset;
  decltype(&moe_model_stats_json) statsJson;
  /// Null in libraries built before it existed.
  decltype(&moe_model_run_device) runDevice;
};

/// The CUDA runtime calls `--device` needs, looked up at run time (this
/// code links no CUDA): in the process's global scope first, then in the
/// model library and what it loaded (a CUDA model links libcudart). Null
/// where absent (a CPU model on a machine without CUDA).
struct CudaFunctions {
  int (*malloc)(void **pointer, size_t bytes) = nullptr;
  int (*memcpy)(void *dst, const void *src, size_t bytes, int kind) = nullptr;
  int (*free)(void *pointer) = nullptr;
};
CudaFunctions findCudaFunctions(void *library);

/// Takes every C API function from a dlopen()ed model library; returns the
/// name of the first one missing (not a compiled model), else null.
const char *bindModelFunctions(void *library, ModelFunctions &api);

/// The C API of the program itself (model executables link it).
ModelFunctions linkedModelFunctions();

struct RunRequest {
  /// NAME=path.npy pairs, as given.
  std::vector<std::string> inputs;
  /// Where `<output name>.npy` files go ("": written nowhere).
  std::string outputDir;
  int32_t threads = 0;
  /// Timed runs after the first (0: run once).
  int32_t benchRuns = 0;
  /// Print the inputs and outputs of the model, then stop.
  bool describe = false;
  /// Where to write the routing statistics of all runs as JSON ("": off).
  std::string profilePath;
  /// Run on CUDA buffers (moe_model_run_device).
  bool device = false;
};

/// Parses the flags moe-run and model executables share (--input,
/// --output-dir, --threads, --bench, --describe, --help); other words go to
/// `positional` (an error when it is null). Returns -1 to go on, or the
/// exit code to stop with (0 after --help). `usage` is printed for --help,
/// after "usage: <tool> "; errors start with "<tool>: error: ".
int parseRunArguments(int argc, char **argv, const char *tool,
                      const char *usage,
                      RunRequest &request,
                      std::vector<std::string> *positional);

/// Runs the request; prints errors as "<tool>: error: ..." on stderr and
/// results on stdout. Returns the process exit code.
int runModel(const ModelFunctions &api, const RunRequest &request,
             const char *tool, const CudaFunctions &cuda = {});

/// The file name an output is written to: its name with every character
/// outside [A-Za-z0-9._-] replaced by '_' (no path escapes), plus ".npy".
std::string outputFileName(const std::string &outputName);

} // namespace moe::model

#endif // MOE_RUNTIME_MODEL_RUNNER_H
