//===- Compiler.h - ONNX model to MLIR, LLVM IR or object -------*- C++ -*-===//
//
// The driver behind moe-compile, as a library (Python bindings call it
// too): import, raise, lower through a pipeline, translate, emit.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_COMPILER_COMPILER_H
#define MOE_COMPILER_COMPILER_H

#include "mlir/Support/LLVM.h"

#include <string>

namespace llvm {
class raw_pwrite_stream;
} // namespace llvm

namespace mlir {
class MLIRContext;

namespace moe {

enum class EmitKind {
  /// The LLVM dialect module after the pipeline.
  MLIR,
  /// LLVM IR, optimized at the chosen level.
  LLVM,
  /// A relocatable object for the host (calls the moe_cc_* runtime).
  Object,
};

struct CompileOptions {
  EmitKind emit = EmitKind::Object;
  /// LLVM optimization level, 0-3.
  unsigned optLevel = 2;
  /// Threads each runtime kernel may use (0: all).
  int32_t numThreads = 0;
  /// Lower moe ops with the reference lowering instead of runtime calls.
  bool reference = false;
  /// Print the IR after every pass to stderr.
  bool dumpIRAfterAll = false;
};

/// Compiles the ONNX model at `modelPath` and writes the `options.emit`
/// form to `out`. Errors are emitted on `context` (naming the model file or
/// the failing pass); returns failure then.
LogicalResult compileONNXFile(StringRef modelPath,
                              const CompileOptions &options,
                              MLIRContext &context,
                              llvm::raw_pwrite_stream &out);

} // namespace moe
} // namespace mlir

#endif // MOE_COMPILER_COMPILER_H
