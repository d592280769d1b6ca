//===- Compiler.h - ONNX model to MLIR, LLVM IR or object -------*- C++ -*-===//
//
// The driver behind moe-compile, as a library (Python bindings call it
// too): import, raise, lower through a pipeline, translate, emit.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_COMPILER_COMPILER_H
#define MOE_COMPILER_COMPILER_H

#include "mlir/Support/LLVM.h"

#include <functional>
#include <string>

namespace mlir {
class MLIRContext;

namespace moe {

enum class EmitKind {
  /// The LLVM dialect module after the pipeline.
  MLIR,
  /// LLVM IR, optimized at the chosen level.
  LLVM,
  /// A relocatable object for the host (calls the moe_cc_* runtime and
  /// provides the graph behind the model C API, see moe_model.h).
  Object,
  /// A shared library exporting the model C API (runtime linked in).
  SharedLibrary,
  /// A standalone executable running the model on .npy files.
  Executable,
};

struct CompileOptions {
  EmitKind emit = EmitKind::Object;
  /// LLVM optimization level, 0-3.
  unsigned optLevel = 2;
  /// Threads each runtime kernel may use (0: all).
  int32_t numThreads = 0;
  /// Storage of constant expert weights: "f32", "bf16" (half the bytes,
  /// fp32 accumulation), "f16" (IEEE half; CUDA only), "int8" (a quarter,
  /// per-column scales; CPU only) or "auto": f32, except that for target
  /// "cuda" a model whose MoE layers are all bf16 (or all f16) keeps that
  /// type (lossless; the tensor-core kernels).
  std::string weightType = "auto";
  /// Lower moe ops with the reference lowering instead of runtime calls.
  bool reference = false;
  /// Runtime of the MoE kernels: "cpu" or "cuda" (the CUDA runtime on host
  /// buffers; the model links libmoe_runtime_cuda.a and libcudart).
  std::string target = "cpu";
  /// Print the IR after every pass to stderr.
  bool dumpIRAfterAll = false;
  /// Print each stage and its time to stderr.
  bool verbose = false;
  /// A routing profile from `moe-run --profile` ("": none): the recorded
  /// expert loads order each layer's grouped-matmul work, busiest first.
  std::string profilePath;
  /// Refuse models whose weights (initializers) declare more bytes than
  /// this, before reading them (0: no limit).
  uint64_t maxWeightBytes = 0;
  /// Where libmoe_model.a and libmoe_runtime_cpu.a are ("": the build
  /// tree's, else the installed ones).
  std::string runtimeLibraryDir;
  /// The compiler driver that links so/exe ("": the one of this build).
  std::string linker;
  /// When set, called with the IR after each stage: "onnx" (imported),
  /// "moe" (raised), "llvm-dialect" (lowered), "llvm-ir" (optimized; not
  /// for --emit=mlir).
  std::function<void(StringRef stage, StringRef ir)> irCallback;
};

/// Compiles the ONNX model at `modelPath` and writes the `options.emit`
/// form to `outputPath` ("-": stdout, not for so/exe). Errors are emitted
/// on `context` (naming the model file, node or failing pass); returns
/// failure then, and no output file is left behind.
LogicalResult compileONNXFile(StringRef modelPath, StringRef outputPath,
                              const CompileOptions &options,
                              MLIRContext &context);

} // namespace moe
} // namespace mlir

#endif // MOE_COMPILER_COMPILER_H
