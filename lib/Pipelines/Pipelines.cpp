//===- Pipelines.cpp - Pass pipelines of the MoE compiler -----------------===//

#include "moe/Pipelines/Pipelines.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "moe/Dialect/MoE/IR/MoEDialect.h"
#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/UB/IR/UBOps.h"

using namespace mlir;

void moe::registerCompilerDialects(DialectRegistry &registry) {
  registry.insert<moe::MoEDialect, moe::onnx::ONNXDialect,
                  affine::AffineDialect, arith::ArithDialect,
                  bufferization::BufferizationDialect, cf::ControlFlowDialect,
                  func::FuncDialect, index::IndexDialect, LLVM::LLVMDialect,
                  linalg::LinalgDialect, math::MathDialect,
                  memref::MemRefDialect, scf::SCFDialect,
                  tensor::TensorDialect, ub::UBDialect>();
  // External models the pipelines rely on: bufferization of the tensor
  // dialects, and convert-to-llvm of everything left after it.
  arith::registerBufferizableOpInterfaceExternalModels(registry);
  bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(
      registry);
  linalg::registerBufferizableOpInterfaceExternalModels(registry);
  tensor::registerBufferizableOpInterfaceExternalModels(registry);
  arith::registerConvertArithToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  registerConvertFuncToLLVMInterface(registry);
  index::registerConvertIndexToLLVMInterface(registry);
  registerConvertMathToLLVMInterface(registry);
  registerConvertMemRefToLLVMInterface(registry);
  ub::registerConvertUBToLLVMInterface(registry);
}

void moe::buildTensorToLLVMPipeline(OpPassManager &pm, bool markDeviceIO) {
  pm.addPass(createCanonicalizerPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  // Free what the bufferized code allocates; results returned to a caller
  // stay owned by the caller.
  bufferization::buildBufferDeallocationPipeline(pm);
  // Deallocation inserts bufferization.clone where a function returns a
  // buffer it does not own (e.g. an argument or a constant).
  pm.addPass(createConvertBufferizationToMemRefPass());
  // CUDA: whether the graph can run on device buffers as they are.
  if (markDeviceIO)
    pm.addPass(moe::createMoEMarkDeviceIOPass());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addNestedPass<func::FuncOp>(LLVM::createLLVMRequestCWrappersPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // Heap buffers through _mlir_memref_to_llvm_alloc/_free: the runtime
  // (runtime/cpu/BufferCache.cpp) reuses large ones across runs.
  FinalizeMemRefToLLVMConversionPassOptions memrefOptions;
  memrefOptions.useGenericFunctions = true;
  // CUDA: allocations keep their alignment in the call
  // (_mlir_memref_to_llvm_aligned_alloc), which is how the runtime tells
  // the buffers moe-mark-device-io placed on the device (alignment 256).
  memrefOptions.useAlignedAlloc = markDeviceIO;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefOptions));
  // bfloat16 arithmetic (a 16-bit graph's ops on the host) computed in
  // f32 and rounded after each op, math functions of 16-bit floats in f32:
  // what LLVM's type legalization would do, but through __truncsfbf2
  // calls (below). Then exp and friends become LLVM intrinsics; what LLVM
  // has none for (erf) becomes a libm call.
  arith::ArithEmulateUnsupportedFloatsOptions emulate;
  emulate.sourceTypeStrs = {"bf16"};
  emulate.targetTypeStr = "f32";
  pm.addPass(arith::createArithEmulateUnsupportedFloats(emulate));
  pm.addPass(math::createMathExtendToSupportedTypes());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  // bfloat16 conversions as integer code (round to nearest even): LLVM's
  // x86 backend lowers them to __truncsfbf2 / __extendbfsf2 calls, which
  // the libgcc of Debian 12 (the models' link) does not have.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void moe::buildReferenceToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(moe::createConvertONNXToLinalgPass());
  pm.addNestedPass<func::FuncOp>(moe::createMoEFoldWeightsPass());
  pm.addPass(moe::createConvertMoEToLinalgPass());
  buildTensorToLLVMPipeline(pm);
}

void moe::buildRuntimeToLLVMPipeline(OpPassManager &pm,
                                     const RuntimePipelineOptions &options) {
  // float16/bfloat16 layers compute in f32 (the kernels' activations).
  // For CUDA the graph's 16-bit ops too: its graph-op kernels take f32.
  moe::MoEWidenHalfPassOptions widen;
  widen.graph = options.target == "cuda";
  pm.addNestedPass<func::FuncOp>(moe::createMoEWidenHalfPass(widen));
  // CUDA: the graph's elementwise ops around its layers (a residual add, a
  // norm, the casts around a 16-bit layer) go to the runtime too, so that
  // a device-resident run keeps their buffers on the device.
  if (options.target == "cuda") {
    moe::ConvertElementwiseToCudaPassOptions elementwise;
    elementwise.numThreads = options.numThreads;
    elementwise.weightType = options.weightType;
    pm.addPass(moe::createConvertElementwiseToCudaPass(elementwise));
  }
  pm.addPass(moe::createConvertONNXToLinalgPass());
  pm.addNestedPass<func::FuncOp>(moe::createMoEDecomposePass());
  pm.addNestedPass<func::FuncOp>(moe::createMoEFuseGatingPass());
  pm.addNestedPass<func::FuncOp>(moe::createMoEFuseCombinePass());
  // Weights in the kernels' layout at compile time (transposes of the
  // importer, gate|up concatenation of moe-decompose).
  pm.addNestedPass<func::FuncOp>(moe::createMoEFoldWeightsPass());
  moe::ConvertMoEToRuntimePassOptions runtime;
  runtime.numThreads = options.numThreads;
  runtime.weightType = options.weightType;
  runtime.target = options.target;
  pm.addPass(moe::createConvertMoEToRuntimePass(runtime));
  // What the runtime does not cover (layers with capacity limits or
  // expert choice, other element types) takes the reference lowering.
  pm.addPass(moe::createConvertMoEToLinalgPass());
  buildTensorToLLVMPipeline(pm, options.target == "cuda");
}

void moe::registerMoEPipelines() {
  PassPipelineRegistration<>(
      "moe-tensor-to-llvm",
      "Lower linalg/tensor/arith/math on tensors to the LLVM dialect",
      [](OpPassManager &pm) { buildTensorToLLVMPipeline(pm); });
  PassPipelineRegistration<>(
      "moe-reference-to-llvm",
      "Lower moe ops through the reference lowering to the LLVM dialect",
      buildReferenceToLLVMPipeline);
  PassPipelineRegistration<RuntimePipelineOptions>(
      "moe-runtime-to-llvm",
      "Decompose moe layers and lower them to calls of the CPU kernel "
      "runtime (link libmoe_runtime_cpu), the rest to the LLVM dialect",
      buildRuntimeToLLVMPipeline);
}
