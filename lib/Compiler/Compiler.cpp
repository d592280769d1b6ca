//===- Compiler.cpp - ONNX model to MLIR, LLVM IR or object ---------------===//

#include "moe/Compiler/Compiler.h"

#include "Link.h"
#include "Profile.h"
#include "ModelInterface.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Import/ONNX/ImportONNX.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <chrono>

using namespace mlir;
using namespace mlir::moe;

/// The function the importer makes of the ONNX graph.
static constexpr llvm::StringLiteral kEntryName = "main_graph";

/// The host's target machine (PIC, so objects link into shared libraries).
static std::unique_ptr<llvm::TargetMachine>
createHostTargetMachine(unsigned optLevel, std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  llvm::SubtargetFeatures features;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    features.AddFeature(feature.first(), feature.second);
  auto level = static_cast<llvm::CodeGenOptLevel>(std::min(optLevel, 3u));
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, llvm::sys::getHostCPUName(), features.getString(),
      llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt, level));
}

namespace {
/// Prints "moe-compile: <stage> ... <seconds>" to stderr in verbose mode.
class Stage {
public:
  Stage(const CompileOptions &options, StringRef name)
      : verbose(options.verbose), name(name.str()),
        start(std::chrono::steady_clock::now()) {
    if (verbose)
      llvm::errs() << "moe-compile: " << name << "...\n";
  }
  ~Stage() {
    if (!verbose)
      return;
    std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - start;
    llvm::errs() << "moe-compile: " << name << " took "
                 << llvm::format("%.2f", took.count()) << " s\n";
  }

private:
  bool verbose;
  std::string name;
  std::chrono::steady_clock::time_point start;
};
} // namespace

/// Hands the printed `op` to the IR callback, if any.
template <typename Printable>
static void report(const CompileOptions &options, StringRef stage,
                   Printable printable) {
  if (!options.irCallback)
    return;
  std::string text;
  llvm::raw_string_ostream os(text);
  printable.print(os);
  options.irCallback(stage, text);
}

/// --weights=auto: f32, except that on the GPU a model whose MoE layers
/// are all bfloat16 (or all float16; their expert weights', for layers
/// raised in f32 around them) keeps its weights in that type -
/// lossless, and the tensor-core kernels instead of the fp32 SIMT one. The
/// CPU keeps f32 (its bf16 kernels need AVX512_BF16 to be faster).
static std::string defaultWeightType(ModuleOp module, StringRef target) {
  std::optional<Type> common;
  bool mixed = false;
  module.walk([&](LayerOp layer) {
    auto source = layer->getAttrOfType<TypeAttr>(kSourceWeightTypeAttr);
    Type element =
        source ? source.getValue() : getElementTypeOrSelf(layer.getType());
    mixed |= common && *common != element;
    common = element;
  });
  if (target != "cuda" || mixed || !common)
    return "f32";
  return common->isBF16() ? "bf16" : common->isF16() ? "f16" : "f32";
}

static LogicalResult lower(ModuleOp module, const CompileOptions &options) {
  auto configure = [&](PassManager &pm) {
    if (options.dumpIRAfterAll) {
      module.getContext()->disableMultithreading();
      pm.enableIRPrinting(/*shouldPrintBeforePass=*/nullptr,
                          /*shouldPrintAfterPass=*/
                          [](Pass *, Operation *) { return true; });
    }
  };
  PassManager raise(module.getContext());
  configure(raise);
  raise.addNestedPass<func::FuncOp>(createMoERaisePass());
  if (failed(raise.run(module)) ||
      failed(annotateLayers(module, options.profilePath)))
    return failure();
  report(options, "moe", module);

  PassManager pm(module.getContext());
  configure(pm);
  if (options.reference) {
    buildReferenceToLLVMPipeline(pm);
  } else {
    RuntimePipelineOptions runtime;
    runtime.numThreads = options.numThreads;
    runtime.weightType = options.weightType == "auto"
                             ? defaultWeightType(module, options.target)
                             : options.weightType;
    runtime.target = options.target;
    buildRuntimeToLLVMPipeline(pm, runtime);
  }
  if (failed(pm.run(module)))
    return failure();
  report(options, "llvm-dialect", module);
  return success();
}

/// Translates the lowered `module` to optimized LLVM IR with the model
/// interface (`signature`) added.
static std::unique_ptr<llvm::Module>
translate(ModuleOp module, StringRef signature, unsigned numInputs,
          llvm::LLVMContext &llvmContext, llvm::TargetMachine &machine,
          const CompileOptions &options, StringRef modelPath) {
  Location loc = module.getLoc();
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, modelPath);
  if (!llvmModule) {
    emitError(loc) << "failed to translate '" << modelPath << "' to LLVM IR";
    return nullptr;
  }
  SmallVector<int32_t> hostInputs;
  if (auto attr =
          module->getAttrOfType<DenseI32ArrayAttr>("moe.device_io_host_inputs"))
    llvm::append_range(hostInputs, attr.asArrayRef());
  if (failed(addModelInterface(*llvmModule, kEntryName, numInputs, signature,
                               module->hasAttr("moe.device_io"), hostInputs))) {
    emitError(loc) << "the lowered '" << kEntryName
                   << "' has no C interface to wrap";
    return nullptr;
  }
  llvmModule->setTargetTriple(machine.getTargetTriple());
  llvmModule->setDataLayout(machine.createDataLayout());
  auto optimize = makeOptimizingTransformer(options.optLevel,
                                            /*sizeLevel=*/0, &machine);
  if (llvm::Error err = optimize(llvmModule.get())) {
    emitError(loc) << "LLVM optimization failed: "
                   << llvm::toString(std::move(err));
    return nullptr;
  }
  return llvmModule;
}

LogicalResult moe::compileONNXFile(StringRef modelPath, StringRef outputPath,
                                   const CompileOptions &options,
                                   MLIRContext &context) {
  DialectRegistry registry;
  registerCompilerDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  context.appendDialectRegistry(registry);
  Location fileLoc = FileLineColLoc::get(&context, modelPath, 0, 0);
  bool linked = options.emit == EmitKind::SharedLibrary ||
                options.emit == EmitKind::Executable;
  if (linked && outputPath == "-")
    return emitError(fileLoc) << "shared libraries and executables cannot be "
                                 "written to stdout; pass -o <path>";

  OwningOpRef<ModuleOp> module;
  {
    Stage stage(options, "importing '" + modelPath.str() + "'");
    ONNXImportOptions importOptions;
    importOptions.maxWeightBytes = options.maxWeightBytes;
    module = importONNXFile(modelPath, &context, importOptions);
  }
  if (!module)
    return failure();
  report(options, "onnx", *module);
  auto func = module->lookupSymbol<func::FuncOp>(kEntryName);
  if (!func)
    return emitError(fileLoc) << "the imported model has no @" << kEntryName;
  FailureOr<std::string> signature = describeModelSignature(func);
  if (failed(signature))
    return failure();
  unsigned numInputs = func.getNumArguments();
  markInputsReadOnly(func);
  {
    Stage stage(options, "raising and lowering");
    if (failed(lower(*module, options)))
      return emitError(fileLoc) << "failed to lower '" << modelPath << "'";
  }

  std::string error;
  auto openOutput = [&](StringRef path) {
    std::unique_ptr<llvm::ToolOutputFile> file = openOutputFile(path, &error);
    if (!file)
      emitError(fileLoc) << error;
    return file;
  };
  if (options.emit == EmitKind::MLIR) {
    auto file = openOutput(outputPath);
    if (!file)
      return failure();
    module->print(file->os());
    file->keep();
    return success();
  }

  std::unique_ptr<llvm::TargetMachine> machine =
      createHostTargetMachine(options.optLevel, error);
  if (!machine)
    return emitError(fileLoc) << "no code generator for the host: " << error;
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule;
  {
    Stage stage(options, "translating and optimizing LLVM IR");
    llvmModule = translate(*module, *signature, numInputs, llvmContext,
                           *machine, options, modelPath);
  }
  if (!llvmModule)
    return failure();
  if (options.irCallback) {
    std::string text;
    llvm::raw_string_ostream os(text);
    llvmModule->print(os, nullptr);
    options.irCallback("llvm-ir", text);
  }
  if (options.emit == EmitKind::LLVM) {
    auto file = openOutput(outputPath);
    if (!file)
      return failure();
    llvmModule->print(file->os(), nullptr);
    file->keep();
    return success();
  }

  // Objects go to the output, or to a temporary file that is linked.
  llvm::SmallString<128> objectPath(outputPath);
  std::optional<llvm::FileRemover> removeObject;
  if (linked) {
    int fd;
    if (llvm::sys::fs::createTemporaryFile("moe-model", "o", fd, objectPath))
      return emitError(fileLoc) << "cannot create a temporary object file";
    llvm::sys::Process::SafelyCloseFileDescriptor(fd);
    removeObject.emplace(objectPath);
  }
  {
    Stage stage(options, "generating code");
    auto file = openOutput(objectPath);
    if (!file)
      return failure();
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, file->os(), nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      return emitError(fileLoc) << "the host target cannot emit object files";
    codegen.run(*llvmModule);
    file->os().flush();
    file->keep();
  }
  if (!linked)
    return success();
  Stage stage(options, "linking");
  if (failed(linkModel(objectPath, outputPath, options, fileLoc))) {
    llvm::sys::fs::remove(outputPath);
    return failure();
  }
  return success();
}
