//===- moe-compile.cpp - Compile an ONNX MoE model --------------------------===//
//
// moe-compile model.onnx -o model.o [--emit=mlir|llvm|obj] [-O2]
// A thin main over moe::compileONNXFile (lib/Compiler).
//
//===----------------------------------------------------------------------===//

#include "moe/Compiler/Compiler.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;
using namespace mlir;

namespace {
enum class Emit { MLIR, LLVM, Object, SharedLibrary, Executable };
enum class Target { CPU, CUDA };
} // namespace

static cl::OptionCategory category("moe-compile options");

static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<model.onnx>"),
                                      cl::cat(category));
static cl::opt<std::string>
    outputPath("o", cl::value_desc("path"),
               cl::desc("Output file ('-' for stdout; default: the model's "
                        "name with .mlir, .ll or .o)"),
               cl::cat(category));
static cl::opt<Emit> emit(
    "emit", cl::desc("What to produce"), cl::init(Emit::Object),
    cl::values(
        clEnumValN(Emit::MLIR, "mlir", "the LLVM dialect module"),
        clEnumValN(Emit::LLVM, "llvm", "optimized LLVM IR"),
        clEnumValN(Emit::Object, "obj",
                   "a host object file (link with libmoe_runtime_cpu)"),
        clEnumValN(Emit::SharedLibrary, "so",
                   "a shared library with the model C API (not yet)"),
        clEnumValN(Emit::Executable, "exe",
                   "a standalone executable (not yet)")),
    cl::cat(category));
static cl::opt<Target> target(
    "target", cl::desc("Where the model runs"), cl::init(Target::CPU),
    cl::values(clEnumValN(Target::CPU, "cpu", "the host CPU (oneTBB runtime)"),
               clEnumValN(Target::CUDA, "cuda", "NVIDIA GPUs (not yet)")),
    cl::cat(category));
static cl::opt<unsigned> optLevel("O", cl::Prefix, cl::init(2),
                                  cl::value_desc("level"),
                                  cl::desc("LLVM optimization level (0-3)"),
                                  cl::cat(category));
// Not `--threads`: libLLVM already registers an option of that name.
static cl::opt<int> threads(
    "num-threads", cl::init(0),
    cl::desc("Threads each MoE kernel may use (0: all available)"),
    cl::cat(category));
static cl::opt<bool> reference(
    "reference", cl::init(false),
    cl::desc("Lower MoE layers with the reference lowering (no runtime "
             "calls): slow, for checking results"),
    cl::cat(category));
static cl::opt<bool> dumpIRAfterAll(
    "dump-ir-after-all", cl::init(false),
    cl::desc("Print the IR after every pass to stderr"), cl::cat(category));

static int fail(const Twine &message) {
  WithColor::error(errs(), "moe-compile") << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "moe-compile: compile an ONNX model with MoE layers for the CPU\n\n"
      "Imports the model, raises its MoE subgraphs into the moe dialect, "
      "lowers MoE layers to calls of the oneTBB kernel runtime (or, with "
      "--reference, to plain loops) and the rest of the graph through MLIR "
      "to LLVM.\n");

  if (emit == Emit::SharedLibrary || emit == Emit::Executable)
    return fail("--emit=so and --emit=exe are not implemented yet; use "
                "--emit=obj and link it with libmoe_runtime_cpu");
  if (target == Target::CUDA)
    return fail("--target=cuda is not implemented yet");
  if (optLevel > 3)
    return fail("-O" + Twine(optLevel.getValue()) + ": the level must be 0-3");
  if (threads < 0)
    return fail("--num-threads must be 0 (all) or positive");

  moe::CompileOptions options;
  options.emit = emit == Emit::MLIR   ? moe::EmitKind::MLIR
                 : emit == Emit::LLVM ? moe::EmitKind::LLVM
                                      : moe::EmitKind::Object;
  options.optLevel = optLevel;
  options.numThreads = threads;
  options.reference = reference;
  options.dumpIRAfterAll = dumpIRAfterAll;

  std::string output = outputPath;
  if (output.empty()) {
    SmallString<128> path(sys::path::filename(inputPath.getValue()));
    sys::path::replace_extension(
        path, emit == Emit::MLIR ? "mlir" : emit == Emit::LLVM ? "ll" : "o");
    output = path.str().str();
  }

  MLIRContext context;
  std::string error;
  std::unique_ptr<ToolOutputFile> file = openOutputFile(output, &error);
  if (!file)
    return fail(error);
  // Diagnostics (import errors name the model file and node) go to stderr.
  SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  if (failed(moe::compileONNXFile(inputPath, options, context, file->os())))
    return 1;
  file->keep();
  return 0;
}
