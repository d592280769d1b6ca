//===- ONNXToLinalg.cpp - The convert-onnx-to-linalg pass -----------------===//

#include "moe/Conversion/ONNXToLinalg/ONNXToLinalg.h"

#include "Patterns.h"

#include "moe/Conversion/Utils/RuntimeCalls.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTONNXTOLINALGPASS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_lowering;

Value onnx_lowering::toIndex(ImplicitLocOpBuilder &b, OpFoldResult size) {
  return getValueOrCreateConstantIndexOp(b, b.getLoc(), size);
}

Value onnx_lowering::scatterValue(ImplicitLocOpBuilder &b, Value acc,
                                 Value update, bool add) {
  if (!add)
    return update;
  if (isa<FloatType>(update.getType()))
    return arith::AddFOp::create(b, acc, update);
  return arith::AddIOp::create(b, acc, update);
}

Value onnx_lowering::normalizedIndex(ImplicitLocOpBuilder &b, Value raw,
                                     Value dim) {
  Value index = castInt(b, raw, b.getIndexType());
  Value negative = arith::CmpIOp::create(
      b, arith::CmpIPredicate::slt, index, arith::ConstantIndexOp::create(b, 0));
  return arith::SelectOp::create(b, negative,
                                 arith::AddIOp::create(b, index, dim), index);
}

/// The node name of `op` for error messages (the importer's NameLoc).
static std::string nodeName(Operation *op) {
  Location loc = op->getLoc();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    loc = fused.getLocations().front();
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  return op->getName().getStringRef().str();
}

CheckedIndex onnx_lowering::checkedIndex(ImplicitLocOpBuilder &b,
                                         Operation *op, Value raw, Value dim) {
  Value index = normalizedIndex(b, raw, dim);
  Value zero = arith::ConstantIndexOp::create(b, 0);
  Value inRange = arith::AndIOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::sge, index, zero),
      arith::CmpIOp::create(b, arith::CmpIPredicate::slt, index, dim));

  // An llvm.func, so that no C-interface wrapper is requested for it.
  auto module = op->getParentOfType<ModuleOp>();
  Type ptr = LLVM::LLVMPointerType::get(b.getContext());
  Type i64 = b.getI64Type();
  FailureOr<LLVM::LLVMFuncOp> callee = LLVM::lookupOrCreateFn(
      b, module, "moe_cc_index_error", {ptr, i64, i64},
      LLVM::LLVMVoidType::get(b.getContext()));
  assert(succeeded(callee) && "moe_cc_index_error has another type");
  std::string name = nodeName(op);
  Value outside = arith::XOrIOp::create(
      b, inRange, arith::ConstantIntOp::create(b, 1, 1));
  scf::IfOp::create(b, outside, [&](OpBuilder &nb, Location loc) {
    Value node = stringAddress(nb, loc, module, "__moe_node_" + name, name);
    Value value = raw.getType().isIndex()
                      ? arith::IndexCastOp::create(nb, loc, i64, raw).getResult()
                      : raw.getType().getIntOrFloatBitWidth() < 64
                            ? arith::ExtSIOp::create(nb, loc, i64, raw).getResult()
                            : raw;
    Value size = arith::IndexCastOp::create(nb, loc, i64, dim);
    LLVM::CallOp::create(nb, loc, *callee, ValueRange{node, value, size});
    scf::YieldOp::create(nb, loc);
  });
  return {arith::SelectOp::create(b, inRange, index, zero), inRange};
}

Value onnx_lowering::extractIfValid(ImplicitLocOpBuilder &b, Value tensor,
                                    ArrayRef<Value> coords, Value valid) {
  Type elementType = cast<RankedTensorType>(tensor.getType()).getElementType();
  auto ifOp = scf::IfOp::create(
      b, valid,
      [&](OpBuilder &nb, Location loc) {
        scf::YieldOp::create(
            nb, loc,
            tensor::ExtractOp::create(nb, loc, tensor, coords).getResult());
      },
      [&](OpBuilder &nb, Location loc) {
        scf::YieldOp::create(
            nb, loc,
            arith::ConstantOp::create(nb, loc, nb.getZeroAttr(elementType))
                .getResult());
      });
  return ifOp.getResult(0);
}

Value onnx_lowering::reshapeTo(ImplicitLocOpBuilder &b, Value input,
                               ArrayRef<Value> dims, Type resultType) {
  SmallVector<Value> values;
  for (Value dim : dims)
    values.push_back(castInt(b, dim, b.getI64Type()));
  Value shape = tensor::FromElementsOp::create(
      b, RankedTensorType::get({static_cast<int64_t>(dims.size())},
                               b.getI64Type()),
      values);
  return tensor::ReshapeOp::create(b, resultType, input, shape);
}

SmallVector<OpFoldResult> onnx_lowering::mixedSizes(TensorBuilder &tb,
                                                    Value tensor) {
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0, e = cast<ShapedType>(tensor.getType()).getRank(); d < e;
       ++d)
    sizes.push_back(tb.dim(tensor, d));
  return sizes;
}

AffineMap onnx_lowering::broadcastMap(ShapedType operand,
                                      ShapedType resultType) {
  MLIRContext *context = resultType.getContext();
  int64_t offset = resultType.getRank() - operand.getRank();
  SmallVector<AffineExpr> exprs;
  for (int64_t i = 0; i < operand.getRank(); ++i) {
    bool stretched = operand.getDimSize(i) == 1 &&
                     resultType.getDimSize(i + offset) != 1;
    exprs.push_back(stretched ? getAffineConstantExpr(0, context)
                              : getAffineDimExpr(i + offset, context));
  }
  return AffineMap::get(resultType.getRank(), 0, exprs, context);
}

Value onnx_lowering::broadcastElementwise(TensorBuilder &tb,
                                          ValueRange operands,
                                          RankedTensorType resultType,
                                          ScalarBody body) {
  ImplicitLocOpBuilder &b = tb.builder();
  int64_t rank = resultType.getRank();
  auto index = [&](OpFoldResult size) {
    return getValueOrCreateConstantIndexOp(b, b.getLoc(), size);
  };
  // Result sizes: static, or the max of the operands' aligned dims.
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank; ++d) {
    if (!resultType.isDynamicDim(d)) {
      sizes.push_back(b.getIndexAttr(resultType.getDimSize(d)));
      continue;
    }
    Value size;
    for (Value operand : operands) {
      auto type = cast<RankedTensorType>(operand.getType());
      int64_t i = d - (rank - type.getRank());
      if (i < 0 || type.getDimSize(i) == 1)
        continue;
      Value dim = index(tb.dim(operand, i));
      size = size ? arith::MaxUIOp::create(b, size, dim).getResult() : dim;
    }
    sizes.push_back(size ? OpFoldResult(size) : OpFoldResult(b.getIndexAttr(1)));
  }
  // Operands whose dynamic dims might broadcast at run time are read by
  // tensor.extract; the others through their indexing maps.
  SmallVector<Value> mapped;
  SmallVector<AffineMap> maps;
  SmallVector<std::pair<unsigned, Value>> extracted; // (operand #, operand)
  for (auto [n, operand] : llvm::enumerate(operands)) {
    auto type = cast<RankedTensorType>(operand.getType());
    int64_t offset = rank - type.getRank();
    // A dynamic dim may be a run-time 1 stretched to another operand's
    // dim; it cannot be when no other operand has that dim (other than a
    // static 1), since it then is the result dim.
    bool runtimeBroadcast = false;
    for (int64_t i = 0; i < type.getRank(); ++i) {
      if (!type.isDynamicDim(i))
        continue;
      for (auto [m, other] : llvm::enumerate(operands)) {
        auto otherType = cast<RankedTensorType>(other.getType());
        int64_t j = i + offset - (rank - otherType.getRank());
        if (m != n && j >= 0 && otherType.getDimSize(j) != 1)
          runtimeBroadcast = true;
      }
    }
    if (runtimeBroadcast) {
      extracted.push_back({static_cast<unsigned>(n), operand});
      continue;
    }
    mapped.push_back(operand);
    maps.push_back(broadcastMap(type, resultType));
  }
  maps.push_back(b.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  // The extract path needs each operand's dims inside the body.
  SmallVector<SmallVector<Value>> extractedDims;
  for (auto [n, operand] : extracted) {
    SmallVector<Value> dims;
    for (int64_t i = 0, e = cast<RankedTensorType>(operand.getType()).getRank();
         i < e; ++i)
      dims.push_back(index(tb.dim(operand, i)));
    extractedDims.push_back(dims);
  }
  return tb.generic(
      mapped, tb.empty(sizes, resultType.getElementType()), maps, iterators,
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        SmallVector<Value> values(operands.size());
        unsigned next = 0;
        for (unsigned n = 0; n < operands.size(); ++n) {
          auto it = llvm::find_if(extracted,
                                  [&](auto &entry) { return entry.first == n; });
          if (it == extracted.end()) {
            values[n] = args[next++];
            continue;
          }
          Value operand = it->second;
          ArrayRef<Value> dims = extractedDims[it - extracted.begin()];
          int64_t offset = rank - dims.size();
          SmallVector<Value> coords;
          Value zero = arith::ConstantIndexOp::create(nb, 0);
          Value one = arith::ConstantIndexOp::create(nb, 1);
          for (auto [i, dim] : llvm::enumerate(dims)) {
            Value stretched =
                arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, dim, one);
            coords.push_back(arith::SelectOp::create(
                nb, stretched, zero, loopIndex(nb, i + offset)));
          }
          values[n] = tensor::ExtractOp::create(nb, operand, coords);
        }
        return body(nb, values);
      });
}

namespace {
struct ConvertONNXToLinalgPass
    : moe::impl::ConvertONNXToLinalgPassBase<ConvertONNXToLinalgPass> {
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addIllegalDialect<onnx::ONNXDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateONNXToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::moe::populateONNXToLinalgPatterns(RewritePatternSet &patterns) {
  populateElementwisePatterns(patterns);
  populateLinearAlgebraPatterns(patterns);
  populateShapePatterns(patterns);
  populateIndexingPatterns(patterns);
  populateReductionPatterns(patterns);
  populateSelectPatterns(patterns);
}
