//===- Reductions.cpp - ReduceSum/Max/Mean and TopK to linalg -------------===//

#include "Patterns.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_lowering;

using utils::IteratorType;

namespace {

enum class ReduceKind { Sum, Max, Mean };

/// Reduces into the dims that are kept, then reshapes to the keepdims form.
template <typename OpTy, ReduceKind kind>
struct ReduceLowering : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Value input = op.getInput();
    auto inputType = cast<RankedTensorType>(input.getType());
    Type elementType = inputType.getElementType();
    bool isFloat = isa<FloatType>(elementType);
    unsigned rank = inputType.getRank();
    ArrayRef<int64_t> axes = op.getAxes();
    SmallVector<OpFoldResult> inputSizes = mixedSizes(tb, input), keptSizes;
    SmallVector<unsigned> kept;
    SmallVector<IteratorType> iterators;
    Value count = arith::ConstantIndexOp::create(b, 1);
    for (unsigned d = 0; d < rank; ++d) {
      bool reduced = llvm::is_contained(axes, static_cast<int64_t>(d));
      iterators.push_back(reduced ? IteratorType::reduction
                                  : IteratorType::parallel);
      if (reduced) {
        count = arith::MulIOp::create(
            b, count,
            getValueOrCreateConstantIndexOp(b, b.getLoc(), inputSizes[d]));
      } else {
        kept.push_back(d);
        keptSizes.push_back(inputSizes[d]);
      }
    }
    Value init;
    if (kind == ReduceKind::Max)
      init = isFloat ? tb.filled(keptSizes, elementType,
                                 -std::numeric_limits<double>::infinity())
                     : tb.filledInt(keptSizes, elementType,
                                    std::numeric_limits<int64_t>::min());
    else
      init = isFloat ? tb.filled(keptSizes, elementType, 0.0)
                     : tb.filledInt(keptSizes, elementType, 0);
    Value reduced = tb.generic(
        {input}, init, {llvm::to_vector(llvm::seq(0u, rank)), kept}, iterators,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          if (kind == ReduceKind::Max)
            return isFloat ? Value(arith::MaximumFOp::create(nb, args[1], args[0]))
                           : Value(arith::MaxSIOp::create(nb, args[1], args[0]));
          return isFloat ? Value(arith::AddFOp::create(nb, args[1], args[0]))
                         : Value(arith::AddIOp::create(nb, args[1], args[0]));
        });
    if (kind == ReduceKind::Mean) {
      Value divisor = isFloat ? Value(arith::UIToFPOp::create(
                                    b, elementType,
                                    castInt(b, count, b.getI64Type())))
                              : castInt(b, count, elementType);
      unsigned keptRank = kept.size();
      reduced = tb.map({reduced}, {llvm::to_vector(llvm::seq(0u, keptRank))},
                       tb.empty(keptSizes, elementType),
                       [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                         return isFloat ? Value(arith::DivFOp::create(
                                              nb, args[0], divisor))
                                        : Value(arith::DivSIOp::create(
                                              nb, args[0], divisor));
                       });
    }
    if (op.getKeepdims()) {
      SmallVector<Value> dims;
      for (unsigned d = 0; d < rank; ++d)
        dims.push_back(llvm::is_contained(axes, static_cast<int64_t>(d))
                           ? arith::ConstantIndexOp::create(b, 1).getResult()
                           : getValueOrCreateConstantIndexOp(b, b.getLoc(),
                                                             inputSizes[d]));
      reduced = reshapeTo(b, reduced, dims, op.getType());
    }
    rewriter.replaceOp(op, reduced);
    return success();
  }
};

/// The i64 rank of every element of `input` along `axis` (0 = first):
/// larger first (smaller with `largest` false), NaN first, ties by the
/// lower index (the higher with `lastOnTies`).
Value rankAlongAxis(TensorBuilder &tb, Value input, unsigned axis,
                    bool largest, bool lastOnTies) {
  unsigned rank = cast<RankedTensorType>(input.getType()).getRank();
  MLIRContext *context = tb.builder().getContext();
  Type i64 = tb.builder().getI64Type();
  // Loops (d..., other): the input at the other position along the axis.
  auto withAxisAt = [&](unsigned loop) {
    SmallVector<AffineExpr> exprs;
    for (unsigned d = 0; d < rank; ++d)
      exprs.push_back(getAffineDimExpr(d == axis ? loop : d, context));
    return AffineMap::get(rank + 1, 0, exprs, context);
  };
  SmallVector<IteratorType> iterators(rank, IteratorType::parallel);
  iterators.push_back(IteratorType::reduction);
  return tb.generic(
      {input, input}, tb.filledInt(mixedSizes(tb, input), i64, 0),
      {withAxisAt(rank), withAxisAt(axis), withAxisAt(axis)}, iterators,
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value other = args[0], self = args[1];
        Value otherFirst = largest ? beats(nb, other, self) : beats(nb, self, other);
        Value selfFirst = largest ? beats(nb, self, other) : beats(nb, other, self);
        Value i1True = constI(nb, nb.getI1Type(), 1);
        Value tie = arith::AndIOp::create(nb, arith::XOrIOp::create(nb, otherFirst, i1True),
                                          arith::XOrIOp::create(nb, selfFirst, i1True));
        Value wins = arith::CmpIOp::create(
            nb, lastOnTies ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::ult,
            loopIndex(nb, rank), loopIndex(nb, axis));
        Value above = arith::OrIOp::create(nb, otherFirst,
                                           arith::AndIOp::create(nb, tie, wins));
        return arith::AddIOp::create(nb, args[2], arith::ExtUIOp::create(nb, i64, above));
      });
}

/// Map of loops (d..., e) reading a tensor of the input's rank with the
/// axis at loop `loop`.
AffineMap axisAt(MLIRContext *context, unsigned rank, unsigned axis,
                 unsigned loop) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d = 0; d < rank; ++d)
    exprs.push_back(getAffineDimExpr(d == axis ? loop : d, context));
  return AffineMap::get(rank + 1, 0, exprs, context);
}

/// Per output position j along the axis, the element ranked j.
struct TopKLowering : OpRewritePattern<onnx::TopKOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::TopKOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Value input = op.getInput();
    auto inputType = cast<RankedTensorType>(input.getType());
    unsigned rank = inputType.getRank();
    auto axis = static_cast<unsigned>(op.getAxis());
    Type i64 = b.getI64Type();
    Value ranks = rankAlongAxis(tb, input, axis, op.getLargest(), false);
    SmallVector<IteratorType> iterators(rank, IteratorType::parallel);
    iterators.push_back(IteratorType::reduction);
    SmallVector<OpFoldResult> outSizes = mixedSizes(tb, input);
    outSizes[axis] = b.getIndexAttr(op.getK());
    // Loops (d... with the axis loop = j, e).
    MLIRContext *context = b.getContext();
    auto pick = [&](Value init, bool wantIndex) {
      return tb.generic(
          {ranks, input}, init,
          {axisAt(context, rank, axis, rank), axisAt(context, rank, axis, rank),
           axisAt(context, rank, axis, axis)},
          iterators, [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
            Value hit = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, args[0],
                                              castInt(nb, loopIndex(nb, axis), i64));
            if (wantIndex)
              return arith::AddIOp::create(
                  nb, args[2],
                  arith::SelectOp::create(nb, hit, castInt(nb, loopIndex(nb, rank), i64),
                                          constI(nb, i64, 0)));
            return arith::SelectOp::create(nb, hit, args[1], args[2]);
          });
    };
    Value values = pick(tb.filled(outSizes, inputType.getElementType(), 0.0), false);
    Value indices = pick(tb.filledInt(outSizes, i64, 0), true);
    rewriter.replaceOp(op, {values, indices});
    return success();
  }
};

/// The position ranked first along the axis; keepdims reshapes it back.
struct ArgMaxLowering : OpRewritePattern<onnx::ArgMaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ArgMaxOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Value input = op.getInput();
    unsigned rank = cast<RankedTensorType>(input.getType()).getRank();
    auto axis = static_cast<unsigned>(op.getAxis());
    Type i64 = b.getI64Type();
    Value ranks = rankAlongAxis(tb, input, axis, /*largest=*/true,
                                op.getSelectLastIndex());
    SmallVector<OpFoldResult> sizes = mixedSizes(tb, input), kept;
    SmallVector<unsigned> keptDims;
    SmallVector<IteratorType> iterators;
    for (unsigned d = 0; d < rank; ++d) {
      iterators.push_back(d == axis ? IteratorType::reduction
                                    : IteratorType::parallel);
      if (d != axis) {
        kept.push_back(sizes[d]);
        keptDims.push_back(d);
      }
    }
    Value result = tb.generic(
        {ranks}, tb.filledInt(kept, i64, 0),
        {llvm::to_vector(llvm::seq(0u, rank)), keptDims}, iterators,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value first = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, args[0],
                                              constI(nb, i64, 0));
          return arith::AddIOp::create(
              nb, args[1],
              arith::SelectOp::create(nb, first, castInt(nb, loopIndex(nb, axis), i64),
                                      constI(nb, i64, 0)));
        });
    if (op.getKeepdims()) {
      SmallVector<Value> dims;
      for (unsigned d = 0; d < rank; ++d)
        dims.push_back(d == axis
                           ? arith::ConstantIndexOp::create(b, 1).getResult()
                           : toIndex(b, sizes[d]));
      result = reshapeTo(b, result, dims, op.getType());
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void onnx_lowering::populateReductionPatterns(RewritePatternSet &patterns) {
  patterns.add<ReduceLowering<onnx::ReduceSumOp, ReduceKind::Sum>,
               ReduceLowering<onnx::ReduceMaxOp, ReduceKind::Max>,
               ReduceLowering<onnx::ReduceMeanOp, ReduceKind::Mean>,
               TopKLowering, ArgMaxLowering>(patterns.getContext());
}
