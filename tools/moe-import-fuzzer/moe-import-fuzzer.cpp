//===- moe-import-fuzzer.cpp - libFuzzer target for the ONNX importer -----===//
//
// Feeds arbitrary bytes to importONNXModel (and verifies what it builds).
// Any crash, sanitizer report or hang is a bug: malformed models must get
// an error. Built by scripts/fuzz.sh with -fsanitize=fuzzer,address,
// undefined in a separate build tree; seeds are the test suite's models.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/ONNX/ImportONNX.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::MLIRContext context;
  context.disableMultithreading();
  // Errors are the expected outcome for most inputs: drop them.
  mlir::ScopedDiagnosticHandler quiet(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  mlir::moe::ONNXImportOptions options;
  // External data may only come from a directory that does not exist, and
  // initializers are capped so that declared sizes cannot exhaust memory.
  options.externalDataDir = "/nonexistent-moe-fuzz-dir";
  options.maxWeightBytes = 64u << 20;
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::moe::importONNXModel(
      llvm::StringRef(reinterpret_cast<const char *>(data), size),
      "/nonexistent-moe-fuzz-dir/fuzz.onnx", &context, options);
  if (module)
    (void)mlir::verify(*module);
  return 0;
}
