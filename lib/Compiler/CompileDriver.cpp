//===- CompileDriver.cpp - compileONNXFile with plain C++ types -----------===//

#include "moe/Compiler/CompileDriver.h"

#include "moe/Compiler/Compiler.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::moe;

/// "file:line:col" (no line for whole-file locations), a name, or the
/// printed location.
static std::string describe(Location loc) {
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return file.getLine() ? (file.getFilename().str() + ":" +
                             std::to_string(file.getLine()) + ":" +
                             std::to_string(file.getColumn()))
                          : file.getFilename().str();
  if (auto name = dyn_cast<NameLoc>(loc))
    return "'" + name.getName().str() + "'";
  std::string text;
  llvm::raw_string_ostream os(text);
  loc.print(os);
  return text;
}

DriverResult mlir::moe::compileModel(const std::string &modelPath,
                                    const std::string &outputPath,
                                    const DriverOptions &options) {
  DriverResult result;
  CompileOptions compile;
  static const std::pair<const char *, EmitKind> kinds[] = {
      {"mlir", EmitKind::MLIR},
      {"llvm", EmitKind::LLVM},
      {"obj", EmitKind::Object},
      {"so", EmitKind::SharedLibrary},
      {"exe", EmitKind::Executable}};
  bool known = false;
  for (const auto &[name, kind] : kinds)
    if (options.emit == name) {
      compile.emit = kind;
      known = true;
    }
  if (!known) {
    result.diagnostics = "error: unknown emit kind '" + options.emit +
                         "' (mlir, llvm, obj, so or exe)\n";
    return result;
  }
  if (options.optLevel > 3 || options.numThreads < 0) {
    result.diagnostics = "error: the optimization level must be 0-3 and the "
                         "thread count 0 (all) or positive\n";
    return result;
  }
  compile.optLevel = options.optLevel;
  compile.numThreads = options.numThreads;
  compile.reference = options.reference;
  compile.runtimeLibraryDir = options.runtimeLibraryDir;
  compile.linker = options.linker;
  compile.maxWeightBytes = options.maxWeightBytes;
  if (options.weightType != "auto" && options.weightType != "f32" &&
      options.weightType != "bf16" && options.weightType != "f16" &&
      options.weightType != "int8") {
    result.diagnostics = "error: weights must be 'auto', 'f32', 'bf16', "
                         "'f16' or 'int8', not '" +
                         options.weightType + "'\n";
    return result;
  }
  compile.weightType = options.weightType;
  if (options.target != "cpu" && options.target != "cuda") {
    result.diagnostics =
        "error: target must be 'cpu' or 'cuda', not '" + options.target + "'\n";
    return result;
  }
  if (options.target == "cuda" &&
      (options.reference || options.weightType == "int8")) {
    result.diagnostics = "error: target 'cuda' takes f32, bf16 or f16 "
                         "weights and no reference lowering\n";
    return result;
  }
  if (options.target == "cpu" && options.weightType == "f16") {
    result.diagnostics = "error: f16 weights need target 'cuda' (the CPU "
                         "kernels take f32, bf16 or int8)\n";
    return result;
  }
  compile.target = options.target;
  if (options.collectIR)
    compile.irCallback = [&](StringRef stage, StringRef ir) {
      result.stages.emplace_back(stage.str(), ir.str());
    };

  MLIRContext context;
  llvm::raw_string_ostream diagnostics(result.diagnostics);
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    const char *severity =
        diag.getSeverity() == DiagnosticSeverity::Error     ? "error"
        : diag.getSeverity() == DiagnosticSeverity::Warning ? "warning"
                                                            : "note";
    diagnostics << describe(diag.getLocation()) << ": " << severity << ": "
                << diag << "\n";
    for (Diagnostic &note : diag.getNotes())
      diagnostics << describe(note.getLocation()) << ": note: " << note
                  << "\n";
    return success();
  });
  result.ok = succeeded(
      compileONNXFile(modelPath, outputPath, compile, context));
  return result;
}
