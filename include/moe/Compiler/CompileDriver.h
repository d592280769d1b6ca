//===- CompileDriver.h - compileONNXFile with plain C++ types ---*- C++ -*-===//
//
// For callers that must not see MLIR or LLVM types: the Python bindings are
// built with RTTI and exceptions (pybind11 needs both), MLIR without, so the
// binding code talks to the compiler only through this header.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_COMPILER_COMPILEDRIVER_H
#define MOE_COMPILER_COMPILEDRIVER_H

#include <string>
#include <utility>
#include <vector>

namespace mlir::moe {

struct DriverOptions {
  /// "mlir", "llvm", "obj", "so" or "exe".
  std::string emit = "so";
  unsigned optLevel = 2;
  int numThreads = 0;
  bool reference = false;
  /// Collect the IR after each stage into DriverResult::stages.
  bool collectIR = false;
  std::string runtimeLibraryDir;
  std::string linker;
  /// "auto" (CompileOptions::weightType), "f32", "bf16", "f16" (target
  /// "cuda") or "int8" (target "cpu") storage of constant expert weights.
  std::string weightType = "auto";
  /// "cpu" or "cuda": the runtime of the MoE kernels.
  std::string target = "cpu";
  /// Refuse models declaring more weight bytes (0: no limit).
  unsigned long long maxWeightBytes = 0;
};

struct DriverResult {
  bool ok = false;
  /// Every diagnostic, one per line: "<location>: error: <message>".
  std::string diagnostics;
  /// (stage, IR) pairs when DriverOptions::collectIR: "onnx" (imported),
  /// "moe" (raised), "llvm-dialect" (lowered), "llvm-ir" (optimized).
  std::vector<std::pair<std::string, std::string>> stages;
};

/// Compiles `modelPath` into `outputPath` as compileONNXFile does.
DriverResult compileModel(const std::string &modelPath,
                          const std::string &outputPath,
                          const DriverOptions &options);

} // namespace mlir::moe

#endif // MOE_COMPILER_COMPILEDRIVER_H
