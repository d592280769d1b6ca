//===- moe-run.cpp - Run a compiled model library on .npy files -----------===//
//
// moe-run model.so --input NAME=file.npy... [--output-dir DIR] [--threads N]
//                  [--bench N] [--profile FILE.json] [--device] [--describe]
//
// Loads a `moe-compile --emit=so` library, takes its C API (moe_model.h)
// with dlsym and hands it to the runner that --emit=exe binaries use too,
// so both take the same flags. Flags are parsed by that shared runner, not
// llvm::cl: executables carry no LLVM, and libLLVM already owns a
// `--threads` option.
//
//===----------------------------------------------------------------------===//

#include "Runner.h"

#include <dlfcn.h>

#include <cstdio>
#include <string>

using namespace moe::model;

namespace {
int fail(const std::string &message) {
  std::fprintf(stderr, "moe-run: error: %s\n", message.c_str());
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  RunRequest request;
  std::vector<std::string> positional;
  int rc = parseRunArguments(
      argc, argv, "moe-run",
      "model.so --input NAME=file.npy... [--output-dir DIR] [--threads N] "
      "[--bench N] [--profile FILE.json] [--device] [--describe]\n\n"
      "Runs a model compiled with `moe-compile --emit=so` on .npy inputs "
      "(one per model input) and writes one <output name>.npy per output "
      "into DIR.\n",
      request, &positional);
  if (rc >= 0)
    return rc;
  if (positional.size() != 1)
    return fail(positional.empty()
                    ? "no model given (usage: moe-run model.so --input ...)"
                    : "one model at a time, got '" + positional[1] + "' too");
  const std::string &path = positional[0];
  // A path without a slash would make dlopen search the library path.
  std::string openPath = path.find('/') == std::string::npos ? "./" + path
                                                             : path;
  void *library = dlopen(openPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library)
    return fail("cannot load '" + path + "': " + dlerror());
  ModelFunctions api;
  if (const char *missing = bindModelFunctions(library, api))
    return fail("'" + path + "' is not a compiled MoE model (it has no " +
                missing + ")");
  return runModel(api, request, "moe-run", findCudaFunctions(library));
}
