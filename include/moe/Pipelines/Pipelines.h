//===- Pipelines.h - Pass pipelines of the MoE compiler ---------*- C++ -*-===//
//
// Pipelines are library functions so that moe-opt, moe-compile and the
// Python bindings run the same passes; registerMoEPipelines() names them
// for moe-opt's --pass-pipeline.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class DialectRegistry;
class OpPassManager;

namespace moe {

struct RuntimePipelineOptions
    : public PassPipelineOptions<RuntimePipelineOptions> {
  PassOptions::Option<int32_t> numThreads{
      *this, "num-threads",
      llvm::cl::desc("threads each runtime kernel may use (0: all)"),
      llvm::cl::init(0)};
  PassOptions::Option<std::string> weightType{
      *this, "weight-type",
      llvm::cl::desc("constant expert weights stored as f32, bf16, f16 "
                     "(cuda) or int8 (cpu)"),
      llvm::cl::init("f32")};
  PassOptions::Option<std::string> target{
      *this, "target",
      llvm::cl::desc("runtime of the MoE kernels: cpu or cuda"),
      llvm::cl::init("cpu")};
};

/// Lowers upstream tensor-level IR (linalg, tensor, arith, math on tensors,
/// func) to the LLVM dialect: bufferization, loops, LLVM conversion. Every
/// function gets a C interface (`_mlir_ciface_<name>`). `markDeviceIO`
/// (target cuda) adds moe-mark-device-io after bufferization.
void buildTensorToLLVMPipeline(OpPassManager &pm, bool markDeviceIO = false);

/// The reference path: convert-onnx-to-linalg, convert-moe-to-linalg, then
/// the tensor-to-LLVM pipeline. Registered as `moe-reference-to-llvm`.
void buildReferenceToLLVMPipeline(OpPassManager &pm);

/// The runtime path: convert-onnx-to-linalg, moe-decompose,
/// convert-moe-to-runtime, convert-moe-to-linalg for what is left, then the
/// tensor-to-LLVM pipeline. The result calls the moe_cc_* entry points of
/// the CPU runtime. Registered as `moe-runtime-to-llvm`.
void buildRuntimeToLLVMPipeline(OpPassManager &pm,
                                const RuntimePipelineOptions &options = {});

/// Registers every dialect the pipelines create or read, and the external
/// models (bufferization, convert-to-llvm) they rely on.
void registerCompilerDialects(DialectRegistry &registry);

/// Registers the pipelines above with the global pass registry.
void registerMoEPipelines();

} // namespace moe
} // namespace mlir

#endif // MOE_PIPELINES_PIPELINES_H
