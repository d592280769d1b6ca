//===- ImportONNX.h - ONNX model importer -----------------------*- C++ -*-===//
//
// Turns an ONNX ModelProto into a module with one func.func (@main_graph)
// whose arguments and results are the graph's inputs and outputs, nodes as
// onnx-dialect ops (and com.microsoft.MoE as moe.layer), initializers as
// arith.constant. Used by moe-translate --import-onnx, moe-compile and the
// Python bindings.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_IMPORT_ONNX_IMPORTONNX_H
#define MOE_IMPORT_ONNX_IMPORTONNX_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>

namespace mlir {
class DialectRegistry;

namespace moe {

struct ONNXImportOptions {
  /// Directory that external data must stay inside; by default the model
  /// file's directory.
  std::string externalDataDir;
  /// Refuse models whose initializers together exceed this many bytes
  /// (0: no limit). Checked from the declared shapes before reading data.
  uint64_t maxWeightBytes = 0;
  /// Initializers with at least this many elements become dense_resource
  /// blobs (elided when printing large IR); smaller ones stay inline.
  int64_t resourceThreshold = 64;
};

/// Imports the serialized model in `bytes`. `modelPath` names the model in
/// diagnostics and locates external data. Errors are emitted on `context`;
/// returns null on failure.
OwningOpRef<ModuleOp> importONNXModel(llvm::StringRef bytes,
                                      llvm::StringRef modelPath,
                                      MLIRContext *context,
                                      const ONNXImportOptions &options = {});

/// Reads and imports the model file at `path`.
OwningOpRef<ModuleOp> importONNXFile(llvm::StringRef path,
                                     MLIRContext *context,
                                     const ONNXImportOptions &options = {});

/// The dialects the importer creates ops of.
void registerONNXImportDialects(DialectRegistry &registry);

/// Registers `--import-onnx` with mlir-translate-style tools.
void registerImportONNXTranslation();

} // namespace moe
} // namespace mlir

#endif // MOE_IMPORT_ONNX_IMPORTONNX_H
