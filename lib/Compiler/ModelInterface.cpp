//===- ModelInterface.cpp - Signature and entry of a compiled model -------===//

#include "ModelInterface.h"

#include "Signature.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/BuiltinTypes.h"

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"

using namespace mlir;
using namespace mlir::moe;

/// The C API dtype of `type`, if it has one.
static std::optional<moe_dtype> dtypeOf(Type type) {
  if (type.isF32())
    return MOE_DTYPE_F32;
  if (type.isF64())
    return MOE_DTYPE_F64;
  if (type.isF16())
    return MOE_DTYPE_F16;
  if (type.isBF16())
    return MOE_DTYPE_BF16;
  if (type.isInteger(1))
    return MOE_DTYPE_BOOL;
  if (type.isUnsignedInteger(8))
    return MOE_DTYPE_U8;
  if (type.isInteger(8))
    return MOE_DTYPE_I8;
  if (type.isInteger(32))
    return MOE_DTYPE_I32;
  if (type.isInteger(64))
    return MOE_DTYPE_I64;
  return std::nullopt;
}

FailureOr<std::string> mlir::moe::describeModelSignature(func::FuncOp func) {
  std::string text;
  auto add = [&](bool isInput, unsigned index, Type type,
                 ArrayAttr infos) -> LogicalResult {
    const char *kind = isInput ? "input" : "output";
    ::moe::model::TensorSignature tensor;
    auto info = infos && index < infos.size()
                    ? dyn_cast<DictionaryAttr>(infos[index])
                    : DictionaryAttr();
    auto name = info ? info.getAs<StringAttr>("name") : StringAttr();
    tensor.name = name ? name.str() : kind + std::to_string(index);
    auto ranked = dyn_cast<RankedTensorType>(type);
    if (!ranked || ranked.getRank() > MOE_MODEL_MAX_RANK)
      return func.emitError() << kind << " '" << tensor.name << "' has type "
                              << type << "; compiled models take ranked "
                              << "tensors of rank <= " << MOE_MODEL_MAX_RANK;
    std::optional<moe_dtype> dtype = dtypeOf(ranked.getElementType());
    if (!dtype)
      return func.emitError()
             << kind << " '" << tensor.name << "' has element type "
             << ranked.getElementType()
             << "; compiled models take f32, f64, f16, bf16, i64, i32, i8, "
                "u8 or bool at their inputs and outputs";
    tensor.dtype = *dtype;
    auto dims = info ? info.getAs<ArrayAttr>("dims") : ArrayAttr();
    for (auto [i, size] : llvm::enumerate(ranked.getShape())) {
      tensor.shape.push_back(ShapedType::isDynamic(size) ? -1 : size);
      auto symbol = dims && dims.size() == static_cast<size_t>(ranked.getRank())
                        ? dyn_cast<StringAttr>(dims[i])
                        : StringAttr();
      tensor.symbols.push_back(symbol && ShapedType::isDynamic(size)
                                   ? symbol.str()
                                   : std::string());
    }
    ::moe::model::printTensorSignature(isInput, tensor, text);
    return success();
  };
  auto inputs = func->getAttrOfType<ArrayAttr>("onnx.inputs");
  auto outputs = func->getAttrOfType<ArrayAttr>("onnx.outputs");
  for (auto [i, type] : llvm::enumerate(func.getArgumentTypes()))
    if (failed(add(/*isInput=*/true, i, type, inputs)))
      return failure();
  for (auto [i, type] : llvm::enumerate(func.getResultTypes()))
    if (failed(add(/*isInput=*/false, i, type, outputs)))
      return failure();
  return text;
}

void mlir::moe::markInputsReadOnly(func::FuncOp func) {
  Builder b(func.getContext());
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    func.setArgAttr(i, bufferization::BufferizationDialect::kWritableAttrName,
                    b.getBoolAttr(false));
}

LogicalResult mlir::moe::addModelInterface(llvm::Module &module,
                                           StringRef funcName,
                                           unsigned numInputs,
                                           StringRef signature, bool deviceIO,
                                           ArrayRef<int32_t> hostInputs) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::Function *callee =
      module.getFunction(("_mlir_ciface_" + funcName).str());
  if (!callee)
    return failure();
  auto *text = llvm::ConstantDataArray::getString(ctx, signature, true);
  new llvm::GlobalVariable(module, text->getType(), /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage, text,
                           "__moe_model_signature");

  // void __moe_model_entry(ptr results, ptr inputs): the C interface takes
  // the results' storage first when there are results, then one descriptor
  // pointer per input.
  auto *ptr = llvm::PointerType::getUnqual(ctx);
  auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx),
                                       {ptr, ptr}, /*isVarArg=*/false);
  auto *entry = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                       "__moe_model_entry", module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
  SmallVector<llvm::Value *> args;
  bool hasResults = callee->arg_size() == numInputs + 1;
  if (!hasResults && callee->arg_size() != numInputs)
    return failure();
  if (hasResults)
    args.push_back(entry->getArg(0));
  for (unsigned i = 0; i < numInputs; ++i)
    args.push_back(b.CreateLoad(
        ptr, b.CreateConstGEP1_64(ptr, entry->getArg(1), i)));
  b.CreateCall(callee, args);
  b.CreateRetVoid();

  // void __moe_model_prepare(): the CUDA weight upload when the lowering
  // made one (__moe_cuda_preload), else nothing.
  auto *prepare = llvm::Function::Create(
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), /*isVarArg=*/false),
      llvm::GlobalValue::ExternalLinkage, "__moe_model_prepare", module);
  llvm::IRBuilder<> pb(llvm::BasicBlock::Create(ctx, "entry", prepare));
  if (llvm::Function *preload = module.getFunction("__moe_cuda_preload"))
    pb.CreateCall(preload, {});
  pb.CreateRetVoid();

  // int __moe_model_device_io = 1: the graph runs on device buffers as
  // they are (moe_model_run_device skips the host staging).
  if (deviceIO) {
    auto *i32 = llvm::Type::getInt32Ty(ctx);
    new llvm::GlobalVariable(module, i32, /*isConstant=*/true,
                             llvm::GlobalValue::ExternalLinkage,
                             llvm::ConstantInt::get(i32, 1),
                             "__moe_model_device_io");
    // int __moe_model_host_inputs[] = {count, indices...}: the inputs the
    // graph reads on the host, which a device-resident run copies there.
    if (!hostInputs.empty()) {
      SmallVector<int32_t> words = {static_cast<int32_t>(hostInputs.size())};
      llvm::append_range(words, hostInputs);
      auto *array = llvm::ConstantDataArray::get(ctx, ArrayRef(words));
      new llvm::GlobalVariable(module, array->getType(), /*isConstant=*/true,
                               llvm::GlobalValue::ExternalLinkage, array,
                               "__moe_model_host_inputs");
    }
  }
  return success();
}
