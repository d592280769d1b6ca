//===- RuntimeCall.h - Building calls of the kernel runtimes ----*- C++ -*-===//
//
// Private to lib/Conversion/MoEToRuntime: how its patterns (the decomposed
// moe ops, MoEToRuntime.cpp; the graph's elementwise ops for CUDA,
// ElementwiseToCuda.cpp) turn an op into one call of a runtime entry point
// at the tensor level.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETORUNTIME_RUNTIMECALL_H
#define MOE_LIB_CONVERSION_MOETORUNTIME_RUNTIMECALL_H

#include "moe/Conversion/MoEToRuntime/MoEToRuntime.h"
#include "moe/Conversion/Utils/RuntimeCalls.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "moe_runtime.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>
#include <vector>

namespace mlir::moe {

/// Builds one runtime call: arguments are appended in the C signature's
/// order, then `emit` declares the function (once per module), calls it and
/// asserts on its status.
class RuntimeCall {
public:
  RuntimeCall(OpBuilder &builder, Operation *op, int32_t numThreads,
              RuntimeTarget target)
      : b(op->getLoc(), builder), op(op), target(target) {
    addI32(numThreads);
  }

  ImplicitLocOpBuilder &builder() { return b; }

  void addI32(int64_t value) {
    add(arith::ConstantOp::create(b, b.getI32IntegerAttr(value)));
  }
  void addF32(double value) {
    add(arith::ConstantOp::create(b, b.getF32FloatAttr(value)));
  }
  /// A scalar computed at run time (passed as it is: f32, i32, i64).
  void addValue(Value scalar) { add(scalar); }
  void addI64(Value index) {
    add(arith::IndexCastOp::create(b, b.getI64Type(), index));
  }
  void addI64(int64_t value) {
    add(arith::ConstantOp::create(b, b.getI64IntegerAttr(value)));
  }
  /// An activation as the kernels take it: kind, alpha, beta, limit.
  void addActivation(ActivationAttr activation) {
    addI32(activation ? static_cast<int32_t>(activation.getKind())
                      : MOE_ACTIVATION_NONE);
    addF32(activation ? activation.getAlphaValue() : 0.0);
    addF32(activation ? activation.getBetaValue() : 0.0);
    addF32(activation ? activation.getLimitValue() : 0.0);
  }
  /// The size of dimension `d` of `tensor` as an index.
  Value dim(Value tensor, int64_t d) {
    return tensor::DimOp::create(b, tensor, d);
  }
  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, value);
  }
  /// Passes the buffer of `tensor` (read only), or null.
  void addInput(Value tensor) {
    if (!tensor) {
      add(LLVM::ZeroOp::create(b, ptrType()));
      return;
    }
    auto type = cast<RankedTensorType>(tensor.getType());
    Value buffer = bufferization::ToBufferOp::create(
        b, MemRefType::get(type.getShape(), type.getElementType()), tensor,
        /*read_only=*/true);
    addPointer(buffer);
  }
  /// Allocates a buffer for `result` and passes it; emit() returns the
  /// tensor it becomes after the call. `sizes` has one entry per dim; only
  /// those of dynamic dims are read (a result type may be less static than
  /// the sizes the kernel computes, e.g. after shape-losing reshapes).
  void addOutput(Value result, ArrayRef<Value> sizes) {
    addOutput(cast<RankedTensorType>(result.getType()), sizes);
  }
  /// The same for a tensor of `type` no op of the graph defines.
  void addOutput(RankedTensorType type, ArrayRef<Value> sizes) {
    SmallVector<Value> dynamicSizes;
    for (auto [size, value] : llvm::zip_equal(type.getShape(), sizes))
      if (ShapedType::isDynamic(size))
        dynamicSizes.push_back(value);
    Value buffer = memref::AllocOp::create(
        b, MemRefType::get(type.getShape(), type.getElementType()),
        dynamicSizes);
    addPointer(buffer);
    outputs.push_back({buffer, type});
  }

  /// Calls `cpuName` (moe_cc_*), or its moe_cuda_cc_* twin for CUDA, and
  /// returns the result tensors in the order they were added. A failure's
  /// message names `what` (default: the op being replaced).
  SmallVector<Value> emit(StringRef cpuName, StringRef what = {});

  /// Passes the address of a NUL-terminated constant string, a module
  /// global named `symbol` (made on first use).
  void addString(StringRef symbol, StringRef text) {
    add(stringAddress(b, b.getLoc(), op->getParentOfType<ModuleOp>(), symbol,
                      text));
  }

private:
  Type ptrType() { return LLVM::LLVMPointerType::get(b.getContext()); }
  void add(Value v) { args.push_back(v); }
  void addPointer(Value buffer) {
    Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, buffer);
    Value i64 = arith::IndexCastOp::create(b, b.getI64Type(), address);
    add(LLVM::IntToPtrOp::create(b, ptrType(), i64));
  }

  ImplicitLocOpBuilder b;
  Operation *op;
  RuntimeTarget target;
  SmallVector<Value> args;
  SmallVector<std::pair<Value, RankedTensorType>> outputs;
};

/// A pattern that knows its runtime and how many threads its kernel may
/// use.
template <typename OpTy> struct RuntimePattern : OpRewritePattern<OpTy> {
  RuntimePattern(MLIRContext *context, int32_t numThreads, RuntimeTarget target)
      : OpRewritePattern<OpTy>(context), numThreads(numThreads),
        target(target) {}
  int32_t numThreads;
  RuntimeTarget target;
};

/// Fails the model run with the message `what` (moe_cc_check_status: the
/// first error of a run is the one it reports) unless the i1 `ok` holds -
/// a run-time shape condition a fused call relies on, checked before the
/// call; `op` names the module for the message's global.
void emitRunTimeCheck(ImplicitLocOpBuilder &b, Operation *op, Value ok,
                      StringRef what);

/// The ONNX node name in `loc` (the importer's NameLoc), or "".
std::string onnxNodeName(Location loc);

inline bool isF32(Value v) { return getElementTypeOrSelf(v.getType()).isF32(); }

/// CUDA: whether `weights` is a constant, which the calls pass as their
/// weights_constant flag (the runtime keeps one device copy). An
/// arith.constant is also uploaded when the model is created: one
/// moe_cuda_cc_preload call per constant value in @__moe_cuda_preload, which
/// the model's __moe_model_prepare runs from moe_model_create (the copy in
/// that function bufferizes to the same global as the call's, so the cache
/// keys match). Other constants are uploaded on first use.
bool preloadIfConstant(PatternRewriter &rewriter, Operation *user,
                       Value weights, int32_t numThreads);

/// The storage a `weight-type` option names (f32, bf16, f16, int8), or
/// none.
std::optional<WeightStorage> parseWeightStorage(StringRef weightType);

/// The bytes of `weights` when it is a constant, else none.
std::optional<std::vector<char>> constantBytes(Value weights);

/// A vector's elements as bytes, for makeConstant.
template <typename T> ArrayRef<char> asBytes(const std::vector<T> &vector) {
  return ArrayRef<char>(reinterpret_cast<const char *>(vector.data()),
                        vector.size() * sizeof(T));
}

/// The largest magnitude fp16 holds: constants beyond it would turn into
/// infinities.
constexpr float kMaxF16 = 65504.0f;

/// Whether constant f32 `weights` all fit fp16's range.
bool fitsF16(Value weights);

/// CUDA: constant f32 `weights` as row-major bfloat16 or fp16 (`storage`:
/// the tensor cores' operand), converted at compile time; null when not
/// constant.
Value rowMajor16(PatternRewriter &rewriter, Location loc, Value weights,
                 WeightStorage storage);

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETORUNTIME_RUNTIMECALL_H
