//===- ExecutableMain.cpp - main() of `moe-compile --emit=exe` binaries ---===//
//
// The flags of moe-run, minus the model path: the model is this binary.
//
//===----------------------------------------------------------------------===//

#include "Runner.h"

using namespace moe::model;

ModelFunctions moe::model::linkedModelFunctions() {
  return {moe_model_api_version, moe_model_create,      moe_model_destroy,
          moe_model_num_inputs,  moe_model_num_outputs, moe_model_input,
          moe_model_output,      moe_model_run,         moe_model_last_error,
          moe_model_free_buffer, moe_model_stats_enable, moe_model_stats_reset,
          moe_model_stats_json,  moe_model_run_device};
}

int main(int argc, char **argv) {
  RunRequest request;
  int rc = parseRunArguments(
      argc, argv, argv[0],
      "--input NAME=file.npy... [--output-dir DIR] [--threads N] "
      "[--bench N] [--profile FILE.json] [--device] [--describe]\n\n"
      "Runs this compiled MoE model on .npy inputs (one per model input) "
      "and writes one <output name>.npy per output into DIR.\n",
      request, nullptr);
  if (rc >= 0)
    return rc;
  return runModel(linkedModelFunctions(), request, argv[0],
                  findCudaFunctions(nullptr));
}
