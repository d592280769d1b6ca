//===- Compiler.cpp - ONNX model to MLIR, LLVM IR or object ---------------===//

#include "moe/Compiler/Compiler.h"

#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Import/ONNX/ImportONNX.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace mlir;
using namespace mlir::moe;

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

static LogicalResult lower(ModuleOp module, const CompileOptions &options) {
  PassManager pm(module.getContext());
  if (options.dumpIRAfterAll) {
    module.getContext()->disableMultithreading();
    pm.enableIRPrinting(/*shouldPrintBeforePass=*/nullptr,
                        /*shouldPrintAfterPass=*/
                        [](Pass *, Operation *) { return true; });
  }
  pm.addNestedPass<func::FuncOp>(createMoERaisePass());
  if (options.reference) {
    buildReferenceToLLVMPipeline(pm);
  } else {
    RuntimePipelineOptions runtime;
    runtime.numThreads = options.numThreads;
    buildRuntimeToLLVMPipeline(pm, runtime);
  }
  return pm.run(module);
}

LogicalResult moe::compileONNXFile(StringRef modelPath,
                                   const CompileOptions &options,
                                   MLIRContext &context,
                                   llvm::raw_pwrite_stream &out) {
  DialectRegistry registry;
  registerCompilerDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  context.appendDialectRegistry(registry);

  OwningOpRef<ModuleOp> module = importONNXFile(modelPath, &context);
  if (!module)
    return failure();
  if (failed(lower(*module, options)))
    return emitError(UnknownLoc::get(&context))
           << "failed to lower '" << modelPath << "'";
  if (options.emit == EmitKind::MLIR) {
    module->print(out);
    return success();
  }

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, modelPath);
  if (!llvmModule)
    return emitError(UnknownLoc::get(&context))
           << "failed to translate '" << modelPath << "' to LLVM IR";
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      createHostTargetMachine(options.optLevel, error);
  if (!machine)
    return emitError(UnknownLoc::get(&context))
           << "no code generator for the host: " << error;
  llvmModule->setTargetTriple(machine->getTargetTriple());
  llvmModule->setDataLayout(machine->createDataLayout());
  auto optimize = makeOptimizingTransformer(options.optLevel,
                                            /*sizeLevel=*/0, machine.get());
  if (llvm::Error err = optimize(llvmModule.get()))
    return emitError(UnknownLoc::get(&context))
           << "LLVM optimization failed: " << llvm::toString(std::move(err));

  if (options.emit == EmitKind::LLVM) {
    llvmModule->print(out, nullptr);
    return success();
  }
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, out, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return emitError(UnknownLoc::get(&context))
           << "the host target cannot emit object files";
  codegen.run(*llvmModule);
  return success();
}
