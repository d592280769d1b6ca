//===- moe-compile.cpp - Compile an ONNX MoE model --------------------------===//
//
// moe-compile model.onnx -o model.so [--emit=mlir|llvm|obj|so|exe] [-O2]
// A thin main over moe::compileONNXFile (lib/Compiler).
//
//===----------------------------------------------------------------------===//

#include "moe/Compiler/Compiler.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

#include <string>
#include <vector>

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
                        "name with .so, .mlir, .ll, .o or none for exe)"),
               cl::cat(category));
static cl::opt<Emit> emit(
    "emit", cl::desc("What to produce"), cl::init(Emit::SharedLibrary),
    cl::values(
        clEnumValN(Emit::MLIR, "mlir", "the LLVM dialect module"),
        clEnumValN(Emit::LLVM, "llvm", "optimized LLVM IR"),
        clEnumValN(Emit::Object, "obj",
                   "a host object file (link with libmoe_model.a, "
                   "libmoe_runtime_cpu.a and -ltbb; --target=cuda adds "
                   "libmoe_runtime_cuda.a, -lcublas and -lcudart)"),
        clEnumValN(Emit::SharedLibrary, "so",
                   "a shared library exporting the model C API "
                   "(moe_model.h; run it with moe-run) - the default"),
        clEnumValN(Emit::Executable, "exe",
                   "a standalone executable that runs the model on .npy "
                   "files (--help on it)")),
    cl::cat(category));
static cl::opt<Target> target(
    "target", cl::desc("Where the model runs"), cl::init(Target::CPU),
    cl::values(clEnumValN(Target::CPU, "cpu", "the host CPU (oneTBB runtime)"),
               clEnumValN(Target::CUDA, "cuda",
                          "NVIDIA GPUs: MoE layers on the CUDA runtime "
                          "(sm_80, sm_90a; a fused-gating layer is one "
                          "call), and the graph's norms, attention, "
                          "projections, rotary embeddings and elementwise "
                          "ops; constant weights uploaded once, shape "
                          "arithmetic on the host; host or CUDA buffers "
                          "(moe_model_run_device, moe-run --device); f32, "
                          "bf16 or f16 weights")),
    cl::cat(category));
static cl::opt<unsigned> optLevel("O", cl::Prefix, cl::init(2),
                                  cl::value_desc("level"),
                                  cl::desc("LLVM optimization level (0-3)"),
                                  cl::cat(category));
// Registered as `--num-threads`: libLLVM already owns a hidden `threads`
// option, so main() rewrites `--threads` to this name before parsing.
static cl::opt<int> threads(
    "num-threads", cl::init(0),
    cl::desc("Threads each MoE kernel may use (0: all available; also "
             "spelled --threads)"),
    cl::cat(category));
namespace {
enum class WeightType { Auto, F32, BF16, F16, Int8 };
} // namespace
static cl::opt<WeightType> weights(
    "weights",
    cl::desc("How constant weights are stored (expert weights; with "
             "--target=cuda the graph's projections too, and a 16-bit type "
             "there also runs prefill attention on tensor cores in that "
             "type)"),
    cl::init(WeightType::Auto),
    cl::values(clEnumValN(WeightType::Auto, "auto",
                          "f32; with --target=cuda, a bfloat16 or float16 "
                          "model's own type (lossless, tensor cores) - the "
                          "default"),
               clEnumValN(WeightType::F32, "f32",
                          "float32 (16-bit weights widened exactly)"),
               clEnumValN(WeightType::BF16, "bf16",
                          "bfloat16: half the bytes (faster decode), fp32 "
                          "accumulation, ~3 significant digits"),
               clEnumValN(WeightType::F16, "f16",
                          "IEEE half (--target=cuda): half the bytes, fp32 "
                          "accumulation, ~3 significant digits; weights and "
                          "the activations fed to them must stay within "
                          "+-65504 (else use bf16)"),
               clEnumValN(WeightType::Int8, "int8",
                          "int8 with one scale per expert and output column: "
                          "a quarter of the bytes, fp32 accumulation, ~2 "
                          "significant digits")),
    cl::cat(category));
static cl::opt<bool> reference(
    "reference", cl::init(false),
    cl::desc("Lower MoE layers with the reference lowering (no runtime "
             "calls): slow, for checking results"),
    cl::cat(category));
static cl::opt<std::string> runtimeDir(
    "runtime-dir", cl::value_desc("dir"),
    cl::desc("Where libmoe_model.a and libmoe_runtime_cpu.a are (default: "
             "../lib next to this tool, else the build's or install's)"),
    cl::cat(category));
static cl::opt<std::string>
    linker("linker", cl::value_desc("driver"),
           cl::desc("C++ compiler driver that links so/exe (default: the "
                    "one this compiler was built with)"),
           cl::cat(category));
static cl::opt<std::string> maxWeightSize(
    "max-weight-size", cl::value_desc("bytes[K|M|G]"),
    cl::desc("Refuse models whose weights declare more than this (e.g. 8G), "
             "checked before anything is read (default: no limit)"),
    cl::cat(category));
static cl::opt<std::string> profile(
    "profile", cl::value_desc("profile.json"),
    cl::desc("Routing statistics from `moe-run --profile`: each layer's "
             "grouped matmuls schedule their busiest experts first"),
    cl::cat(category));
static cl::opt<bool> verbose("v", cl::init(false),
                             cl::desc("Print each stage and its time"),
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
  // --threads[=N] means --num-threads[=N] (see above).
  std::vector<std::string> rewritten;
  rewritten.reserve(argc); // the pointers below must stay valid
  std::vector<char *> args(argv, argv + argc);
  for (char *&arg : args) {
    StringRef text(arg);
    if (text == "--threads" || text == "-threads" ||
        text.starts_with("--threads=") || text.starts_with("-threads=")) {
      rewritten.push_back("--num-threads" + text.substr(text.find("threads") +
                                                        7)
                                                .str());
      arg = rewritten.back().data();
    }
  }
  argc = static_cast<int>(args.size());
  argv = args.data();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "moe-compile: compile an ONNX model with MoE layers for the CPU or "
      "an NVIDIA GPU\n\n"
      "Imports the model, raises its MoE subgraphs into the moe dialect, "
      "lowers MoE layers to calls of the oneTBB kernel runtime (or the CUDA "
      "runtime with --target=cuda, or with --reference to plain loops) and "
      "the rest of the graph through MLIR to LLVM.\n");

  if (target == Target::CUDA && reference)
    return fail("--reference runs on the host: it does not combine with "
                "--target=cuda");
  if (target == Target::CUDA && weights == WeightType::Int8)
    return fail("--weights=int8 is not supported with --target=cuda (use "
                "f32, bf16 or f16)");
  if (target == Target::CPU && weights == WeightType::F16)
    return fail("--weights=f16 needs --target=cuda (the CPU kernels take "
                "f32, bf16 or int8)");
  if (optLevel > 3)
    return fail("-O" + Twine(optLevel.getValue()) + ": the level must be 0-3");
  if (threads < 0)
    return fail("--num-threads must be 0 (all) or positive");

  uint64_t maxWeightBytes = 0;
  if (!maxWeightSize.empty()) {
    StringRef text = maxWeightSize;
    uint64_t scale = 1;
    if (text.ends_with_insensitive("k"))
      scale = 1ull << 10;
    else if (text.ends_with_insensitive("m"))
      scale = 1ull << 20;
    else if (text.ends_with_insensitive("g"))
      scale = 1ull << 30;
    if (scale != 1)
      text = text.drop_back();
    if (text.getAsInteger(10, maxWeightBytes) || maxWeightBytes == 0 ||
        maxWeightBytes > UINT64_MAX / scale)
      return fail("--max-weight-size=" + maxWeightSize +
                  ": expected a positive size such as 512M or 8G");
    maxWeightBytes *= scale;
  }

  moe::CompileOptions options;
  options.maxWeightBytes = maxWeightBytes;
  options.profilePath = profile;
  options.weightType = weights == WeightType::BF16   ? "bf16"
                       : weights == WeightType::F16  ? "f16"
                       : weights == WeightType::Int8 ? "int8"
                       : weights == WeightType::F32  ? "f32"
                                                     : "auto";
  switch (emit) {
  case Emit::MLIR:
    options.emit = moe::EmitKind::MLIR;
    break;
  case Emit::LLVM:
    options.emit = moe::EmitKind::LLVM;
    break;
  case Emit::Object:
    options.emit = moe::EmitKind::Object;
    break;
  case Emit::SharedLibrary:
    options.emit = moe::EmitKind::SharedLibrary;
    break;
  case Emit::Executable:
    options.emit = moe::EmitKind::Executable;
    break;
  }
  options.optLevel = optLevel;
  options.numThreads = threads;
  options.reference = reference;
  options.target = target == Target::CUDA ? "cuda" : "cpu";
  options.dumpIRAfterAll = dumpIRAfterAll;
  options.linker = linker;
  options.runtimeLibraryDir = runtimeDir;
  if (options.runtimeLibraryDir.empty()) {
    // bin/moe-compile -> lib/, in the build tree and once installed.
    SmallString<256> dir(sys::path::parent_path(sys::path::parent_path(
        sys::fs::getMainExecutable(argv[0], (void *)&fail))));
    sys::path::append(dir, "lib", "libmoe_model.a");
    if (sys::fs::exists(dir))
      options.runtimeLibraryDir = sys::path::parent_path(dir).str();
  }
  // Large models take a while: say what is happening.
  uint64_t modelSize = 0;
  options.verbose = verbose || (!sys::fs::file_size(inputPath, modelSize) &&
                                modelSize > (256u << 20));

  std::string output = outputPath;
  if (output.empty()) {
    SmallString<128> path(sys::path::filename(inputPath.getValue()));
    const char *extension = emit == Emit::MLIR            ? "mlir"
                            : emit == Emit::LLVM          ? "ll"
                            : emit == Emit::Object        ? "o"
                            : emit == Emit::SharedLibrary ? "so"
                                                          : "";
    sys::path::replace_extension(path, extension);
    output = path.str().str();
    if (output == inputPath.getValue())
      return fail("pass -o: the default output name is the model's");
  }

  MLIRContext context;
  // Diagnostics (import errors name the model file and node) go to stderr.
  SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  if (failed(moe::compileONNXFile(inputPath, output, options, context)))
    return 1;
  return 0;
}
