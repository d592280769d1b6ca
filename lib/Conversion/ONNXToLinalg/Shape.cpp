//===- Shape.cpp - Transpose and Reshape to linalg/tensor -----------------===//

#include "Patterns.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_lowering;

namespace {

struct TransposeLowering : OpRewritePattern<onnx::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::TransposeOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    Value input = op.getInput();
    SmallVector<OpFoldResult> inputSizes = mixedSizes(tb, input), sizes;
    // Loop d of the result reads input dim perm[d]: the input map sends
    // input dim perm[d] to loop d.
    ArrayRef<int64_t> perm = op.getPerm();
    SmallVector<unsigned> inputDims(perm.size());
    for (auto [d, p] : llvm::enumerate(perm)) {
      sizes.push_back(inputSizes[p]);
      inputDims[p] = d;
    }
    Value result = tb.map(
        {input}, {inputDims},
        tb.empty(sizes, getElementTypeOrSelf(input.getType())),
        [](ImplicitLocOpBuilder &, ValueRange args) { return args[0]; });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// tensor.reshape to dims computed at run time: 0 copies the input dim,
/// -1 is the element count over the product of the others.
struct ReshapeLowering : OpRewritePattern<onnx::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ReshapeOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Value input = op.getInput();
    auto resultType = cast<RankedTensorType>(op.getType());
    auto index = [&](OpFoldResult size) {
      return getValueOrCreateConstantIndexOp(b, b.getLoc(), size);
    };
    Value count = arith::ConstantIndexOp::create(b, 1);
    for (OpFoldResult size : mixedSizes(tb, input))
      count = arith::MulIOp::create(b, count, index(size));
    SmallVector<Value> dims;
    Value known = arith::ConstantIndexOp::create(b, 1);
    int64_t inferred = -1;
    for (auto [i, target] : llvm::enumerate(op.getShape())) {
      Value dim;
      if (target == -1) {
        inferred = i;
        dims.push_back(Value());
        continue;
      }
      dim = target == 0 ? index(tb.dim(input, i))
                        : arith::ConstantIndexOp::create(b, target).getResult();
      known = arith::MulIOp::create(b, known, dim);
      dims.push_back(dim);
    }
    if (inferred >= 0)
      dims[inferred] = arith::DivUIOp::create(b, count, known);
    SmallVector<Value> shapeValues;
    for (Value dim : dims)
      shapeValues.push_back(castInt(b, dim, b.getI64Type()));
    Value shape = tensor::FromElementsOp::create(
        b, RankedTensorType::get({static_cast<int64_t>(dims.size())},
                                 b.getI64Type()),
        shapeValues);
    rewriter.replaceOpWithNewOp<tensor::ReshapeOp>(op, resultType, input,
                                                   shape);
    return success();
  }
};

} // namespace

void onnx_lowering::populateShapePatterns(RewritePatternSet &patterns) {
  patterns.add<TransposeLowering, ReshapeLowering>(patterns.getContext());
}
