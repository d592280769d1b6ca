//===- RuntimeCall.cpp - Building calls of the kernel runtimes ------------===//

#include "RuntimeCall.h"

#include "moe/Conversion/Utils/RuntimeCalls.h"
#include "moe/Dialect/MoE/Transforms/ConstantData.h"

#include "moe_packing.h"

#include "moe_runtime_cuda.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/Hashing.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::moe;

std::string mlir::moe::onnxNodeName(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (std::string name = onnxNodeName(inner); !name.empty())
        return name;
  return "";
}

SmallVector<Value> RuntimeCall::emit(StringRef cpuName, StringRef what) {
  std::string name = cpuName.str();
  if (target == RuntimeTarget::CUDA)
    name = "moe_cuda_cc_" + cpuName.drop_front(strlen("moe_cc_")).str();
  auto module = op->getParentOfType<ModuleOp>();
  SmallVector<Type> argTypes = llvm::to_vector(
      llvm::map_range(args, [](Value v) { return v.getType(); }));
  FailureOr<LLVM::LLVMFuncOp> function =
      LLVM::lookupOrCreateFn(b, module, name, argTypes, b.getI32Type());
  assert(succeeded(function) && "a moe_cc_* entry point declared twice "
                                "with different types");
  Value status = LLVM::CallOp::create(b, *function, args).getResult();
  // A failed kernel must not abort the process that runs the model: the
  // status goes to the runtime's error channel (moe_cc_check_status),
  // which fails the model run with this message (moe_model_run). CUDA
  // calls add the CUDA runtime's text of a device error.
  // One global per distinct message (calls of one entry point may name
  // different nodes).
  std::string text =
      ((what.empty() ? op->getName().getStringRef() : what) + " (" + name + ")")
          .str();
  std::string symbol = "__moe_kernel_" + name;
  if (!what.empty())
    symbol += "_" + llvm::utohexstr(llvm::hash_value(text));
  Value description = stringAddress(b, b.getLoc(), module, symbol, text);
  SmallVector<Value> checkArgs = {status, description};
  if (target == RuntimeTarget::CUDA) {
    FailureOr<LLVM::LLVMFuncOp> lastError =
        LLVM::lookupOrCreateFn(b, module, "moe_cuda_last_error", {}, ptrType());
    assert(succeeded(lastError) && "moe_cuda_last_error has another type");
    checkArgs.push_back(
        LLVM::CallOp::create(b, *lastError, ValueRange{}).getResult());
  }
  StringRef checkName = target == RuntimeTarget::CUDA
                            ? "moe_cc_check_status_detail"
                            : "moe_cc_check_status";
  FailureOr<LLVM::LLVMFuncOp> checker = LLVM::lookupOrCreateFn(
      b, module, checkName,
      llvm::to_vector(
          llvm::map_range(checkArgs, [](Value v) { return v.getType(); })),
      LLVM::LLVMVoidType::get(b.getContext()));
  assert(succeeded(checker) && "a status check has another type");
  LLVM::CallOp::create(b, *checker, checkArgs);
  // Not writable: later ops must not update these buffers in place,
  // since later calls may read them through their pointers.
  SmallVector<Value> results;
  for (auto [buffer, type] : outputs)
    results.push_back(
        bufferization::ToTensorOp::create(b, type, buffer, /*restrict=*/true));
  return results;
}

void mlir::moe::emitRunTimeCheck(ImplicitLocOpBuilder &b, Operation *op,
                                 Value ok, StringRef what) {
  auto module = op->getParentOfType<ModuleOp>();
  Value status = arith::SelectOp::create(
      b, ok, arith::ConstantOp::create(b, b.getI32IntegerAttr(MOE_OK)),
      arith::ConstantOp::create(
          b, b.getI32IntegerAttr(MOE_ERROR_INVALID_ARGUMENT)));
  std::string text = what.str();
  std::string symbol = "__moe_check_" + llvm::utohexstr(llvm::hash_value(text));
  Value description = stringAddress(b, b.getLoc(), module, symbol, text);
  Type ptr = LLVM::LLVMPointerType::get(b.getContext());
  FailureOr<LLVM::LLVMFuncOp> checker = LLVM::lookupOrCreateFn(
      b, module, "moe_cc_check_status", {b.getI32Type(), ptr},
      LLVM::LLVMVoidType::get(b.getContext()));
  assert(succeeded(checker) && "moe_cc_check_status has another type");
  LLVM::CallOp::create(b, *checker, ValueRange{status, description});
}

bool mlir::moe::preloadIfConstant(PatternRewriter &rewriter, Operation *user,
                                  Value weights, int32_t numThreads) {
  if (!weights)
    return false;
  auto constant = weights.getDefiningOp<arith::ConstantOp>();
  if (!constant)
    return matchPattern(weights, m_Constant());
  constexpr llvm::StringLiteral kPreload = "__moe_cuda_preload";
  auto module = user->getParentOfType<ModuleOp>();
  OpBuilder::InsertionGuard guard(rewriter);
  auto preload = module.lookupSymbol<func::FuncOp>(kPreload);
  if (!preload) {
    rewriter.setInsertionPointToEnd(module.getBody());
    preload = func::FuncOp::create(rewriter, module.getLoc(), kPreload,
                                   rewriter.getFunctionType({}, {}));
    rewriter.setInsertionPointToStart(preload.addEntryBlock());
    func::ReturnOp::create(rewriter, module.getLoc());
  } else if (llvm::any_of(preload.getOps<arith::ConstantOp>(),
                          [&](arith::ConstantOp uploaded) {
                            return uploaded.getValue() == constant.getValue();
                          })) {
    return true;
  }
  rewriter.setInsertionPoint(preload.getBody().front().getTerminator());
  auto copy = cast<arith::ConstantOp>(rewriter.clone(*constant));
  auto type = cast<RankedTensorType>(copy.getType());
  RuntimeCall call(rewriter, copy, numThreads, RuntimeTarget::CUDA);
  call.addInput(copy.getResult());
  call.addI64(type.getNumElements() *
              static_cast<int64_t>(type.getElementTypeBitWidth() / 8));
  call.emit("moe_cc_preload", "uploading the expert weights");
  return true;
}

std::optional<WeightStorage>
mlir::moe::parseWeightStorage(StringRef weightType) {
  return llvm::StringSwitch<std::optional<WeightStorage>>(weightType)
      .Case("f32", WeightStorage::F32)
      .Case("bf16", WeightStorage::BF16)
      .Case("f16", WeightStorage::F16)
      .Case("int8", WeightStorage::Int8)
      .Default(std::nullopt);
}

std::optional<std::vector<char>> mlir::moe::constantBytes(Value weights) {
  ElementsAttr attr;
  if (!matchPattern(weights, m_Constant(&attr)))
    return std::nullopt;
  return elementBytes(attr);
}

/// IEEE half of `value`, rounded to nearest even.
static uint16_t floatToF16(float value) {
  APFloat half(value);
  bool lost;
  half.convert(APFloat::IEEEhalf(), APFloat::rmNearestTiesToEven, &lost);
  return static_cast<uint16_t>(half.bitcastToAPInt().getZExtValue());
}

bool mlir::moe::fitsF16(Value weights) {
  std::optional<std::vector<char>> bytes = constantBytes(weights);
  if (!bytes || !isF32(weights))
    return false;
  const auto *data = reinterpret_cast<const float *>(bytes->data());
  for (size_t i = 0; i < bytes->size() / sizeof(float); ++i)
    if (!(std::fabs(data[i]) <= kMaxF16))
      return false;
  return true;
}

Value mlir::moe::rowMajor16(PatternRewriter &rewriter, Location loc,
                            Value weights, WeightStorage storage) {
  std::optional<std::vector<char>> bytes = constantBytes(weights);
  if (!bytes)
    return {};
  auto type = cast<RankedTensorType>(weights.getType());
  const auto *data = reinterpret_cast<const float *>(bytes->data());
  bool half = storage == WeightStorage::F16;
  std::vector<uint16_t> converted(static_cast<size_t>(type.getNumElements()));
  for (size_t i = 0; i < converted.size(); ++i)
    converted[i] =
        half ? floatToF16(data[i]) : ::moe::packing::floatToBF16(data[i]);
  Type element =
      half ? Type(rewriter.getF16Type()) : Type(rewriter.getBF16Type());
  return makeConstant(rewriter, loc, type.clone(element), asBytes(converted),
                      half ? "moe_weights_f16" : "moe_weights_bf16");
}
