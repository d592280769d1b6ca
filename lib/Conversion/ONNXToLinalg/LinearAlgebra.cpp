//===- LinearAlgebra.cpp - MatMul, Gemm and Softmax to linalg -------------===//

#include "Patterns.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_lowering;

using utils::IteratorType;

namespace {

Value multiplyAdd(ImplicitLocOpBuilder &b, ValueRange args) {
  return arith::AddFOp::create(b, args[2],
                               arith::MulFOp::create(b, args[0], args[1]));
}

/// numpy matmul: loops (batch..., m, n, k); batch dims broadcast.
struct MatMulLowering : OpRewritePattern<onnx::MatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::MatMulOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    auto resultType = cast<RankedTensorType>(op.getType());
    auto lhsType = cast<RankedTensorType>(op.getLhs().getType());
    auto rhsType = cast<RankedTensorType>(op.getRhs().getType());
    int64_t rank = resultType.getRank(), batch = rank - 2;
    MLIRContext *context = rewriter.getContext();
    auto dim = [&](int64_t d) { return getAffineDimExpr(d, context); };
    AffineExpr k = dim(rank);

    // Batch dims of an operand read the loop dim, or 0 when stretched.
    auto operandMap = [&](RankedTensorType type, AffineExpr row,
                          AffineExpr col) {
      SmallVector<AffineExpr> exprs;
      int64_t offset = batch - (type.getRank() - 2);
      for (int64_t i = 0; i < type.getRank() - 2; ++i)
        exprs.push_back(type.getDimSize(i) == 1 &&
                                resultType.getDimSize(i + offset) != 1
                            ? getAffineConstantExpr(0, context)
                            : dim(i + offset));
      exprs.push_back(row);
      exprs.push_back(col);
      return AffineMap::get(rank + 1, 0, exprs, context);
    };
    SmallVector<AffineExpr> outExprs;
    for (int64_t d = 0; d < rank; ++d)
      outExprs.push_back(dim(d));
    SmallVector<AffineMap> maps = {
        operandMap(lhsType, dim(rank - 2), k),
        operandMap(rhsType, k, dim(rank - 1)),
        AffineMap::get(rank + 1, 0, outExprs, context)};

    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < rank; ++d) {
      if (!resultType.isDynamicDim(d)) {
        sizes.push_back(rewriter.getIndexAttr(resultType.getDimSize(d)));
      } else if (d == rank - 2) {
        sizes.push_back(tb.dim(op.getLhs(), lhsType.getRank() - 2));
      } else if (d == rank - 1) {
        sizes.push_back(tb.dim(op.getRhs(), rhsType.getRank() - 1));
      } else {
        int64_t li = d - (batch - (lhsType.getRank() - 2));
        bool fromLhs = li >= 0 && lhsType.getDimSize(li) != 1;
        sizes.push_back(
            fromLhs ? tb.dim(op.getLhs(), li)
                    : tb.dim(op.getRhs(), d - (batch - (rhsType.getRank() - 2))));
      }
    }
    SmallVector<IteratorType> iterators(rank, IteratorType::parallel);
    iterators.push_back(IteratorType::reduction);
    Value init = tb.filled(sizes, resultType.getElementType(), 0.0);
    rewriter.replaceOp(op, tb.generic({op.getLhs(), op.getRhs()}, init, maps,
                                      iterators, multiplyAdd));
    return success();
  }
};

/// alpha * op(A) @ op(B) + beta * C.
struct GemmLowering : OpRewritePattern<onnx::GemmOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::GemmOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    auto resultType = cast<RankedTensorType>(op.getType());
    Type elementType = resultType.getElementType();
    SmallVector<OpFoldResult> sizes = {
        tb.dim(op.getA(), op.getTransA() ? 1 : 0),
        tb.dim(op.getB(), op.getTransB() ? 0 : 1)};
    // Loops (m, n, k).
    SmallVector<unsigned> aDims = op.getTransA() ? SmallVector<unsigned>{2, 0}
                                                 : SmallVector<unsigned>{0, 2};
    SmallVector<unsigned> bDims = op.getTransB() ? SmallVector<unsigned>{1, 2}
                                                 : SmallVector<unsigned>{2, 1};
    Value product = tb.generic(
        {op.getA(), op.getB()}, tb.filled(sizes, elementType, 0.0),
        {aDims, bDims, {0, 1}},
        {IteratorType::parallel, IteratorType::parallel,
         IteratorType::reduction},
        multiplyAdd);
    double alpha = op.getAlpha().convertToDouble();
    double beta = op.getBeta().convertToDouble();
    Value c = op.getC();
    SmallVector<Value> inputs = {product};
    SmallVector<AffineMap> maps = {rewriter.getMultiDimIdentityMap(2)};
    if (c) {
      inputs.push_back(c);
      maps.push_back(broadcastMap(cast<ShapedType>(c.getType()), resultType));
    }
    maps.push_back(rewriter.getMultiDimIdentityMap(2));
    Value result = tb.generic(
        inputs, tb.empty(sizes, elementType), maps,
        {IteratorType::parallel, IteratorType::parallel},
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value acc = arith::MulFOp::create(nb, args[0],
                                            constF(nb, elementType, alpha));
          if (!c)
            return acc;
          Value scaled = arith::MulFOp::create(nb, args[1],
                                               constF(nb, elementType, beta));
          return arith::AddFOp::create(nb, acc, scaled);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// exp(x - max) / sum(exp(x - max)) along one axis.
struct SoftmaxLowering : OpRewritePattern<onnx::SoftmaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::SoftmaxOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    Value x = op.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    Type elementType = type.getElementType();
    unsigned rank = type.getRank();
    auto axis = static_cast<unsigned>(op.getAxis());
    SmallVector<unsigned> all = llvm::to_vector(llvm::seq(0u, rank));
    SmallVector<unsigned> reduced;
    SmallVector<OpFoldResult> sizes = mixedSizes(tb, x), reducedSizes;
    for (unsigned d = 0; d < rank; ++d)
      if (d != axis) {
        reduced.push_back(d);
        reducedSizes.push_back(sizes[d]);
      }
    SmallVector<IteratorType> iterators(rank, IteratorType::parallel);
    iterators[axis] = IteratorType::reduction;
    auto reduce = [&](Value input, double init,
                      Value (*combine)(ImplicitLocOpBuilder &, Value, Value)) {
      return tb.generic({input}, tb.filled(reducedSizes, elementType, init),
                        {all, reduced}, iterators,
                        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
                          return combine(nb, args[1], args[0]);
                        });
    };
    Value max = reduce(x, -std::numeric_limits<double>::infinity(),
                       [](ImplicitLocOpBuilder &nb, Value a, Value v) -> Value {
                         return arith::MaximumFOp::create(nb, a, v);
                       });
    Value exps = tb.map({x, max}, {all, reduced}, tb.empty(sizes, elementType),
                        [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                          return math::ExpOp::create(
                              nb, arith::SubFOp::create(nb, args[0], args[1]));
                        });
    Value sum = reduce(exps, 0.0,
                       [](ImplicitLocOpBuilder &nb, Value a, Value v) -> Value {
                         return arith::AddFOp::create(nb, a, v);
                       });
    Value result =
        tb.map({exps, sum}, {all, reduced}, tb.empty(sizes, elementType),
               [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                 return arith::DivFOp::create(nb, args[0], args[1]);
               });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void onnx_lowering::populateLinearAlgebraPatterns(RewritePatternSet &patterns) {
  patterns.add<MatMulLowering, GemmLowering, SoftmaxLowering>(
      patterns.getContext());
}
