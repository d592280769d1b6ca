//===- Indexing.cpp - Gather, NonZero, ScatterElements, OneHot ------------===//
//
// Written as gathers (every output element reads what it needs) rather than
// scatters, so that each is a plain linalg.generic: ScatterElements sums,
// per output element, the updates aimed at it; NonZero finds, per output
// column, the element whose prefix count of non-zeros equals the column.
// Quadratic, and meant for the reference path.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_lowering;

using utils::IteratorType;

namespace {

AffineMap dimsMap(MLIRContext *context, unsigned numLoops,
                  ArrayRef<unsigned> dims) {
  return AffineMap::getMultiDimMapWithTargets(numLoops, dims, context);
}

struct GatherLowering : OpRewritePattern<onnx::GatherOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::GatherOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto type = cast<RankedTensorType>(op.getType());
    Value input = op.getInput(), indices = op.getIndices();
    auto axis = static_cast<unsigned>(op.getAxis());
    unsigned indexRank = cast<RankedTensorType>(indices.getType()).getRank();
    unsigned rank = type.getRank();
    SmallVector<OpFoldResult> inputSizes = mixedSizes(tb, input), sizes;
    llvm::append_range(sizes, ArrayRef(inputSizes).take_front(axis));
    llvm::append_range(sizes, mixedSizes(tb, indices));
    llvm::append_range(sizes, ArrayRef(inputSizes).drop_front(axis + 1));
    Value axisDim = toIndex(b, inputSizes[axis]);
    SmallVector<unsigned> indexDims =
        llvm::to_vector(llvm::seq(axis, axis + indexRank));
    SmallVector<AffineMap> maps = {
        dimsMap(b.getContext(), rank, indexDims),
        b.getMultiDimIdentityMap(rank)};
    SmallVector<IteratorType> iterators(rank, IteratorType::parallel);
    Value result = tb.generic(
        {indices}, tb.empty(sizes, type.getElementType()), maps, iterators,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          SmallVector<Value> coords;
          for (unsigned d = 0; d < axis; ++d)
            coords.push_back(loopIndex(nb, d));
          CheckedIndex index = checkedIndex(nb, op, args[0], axisDim);
          coords.push_back(index.index);
          for (unsigned d = axis + indexRank; d < rank; ++d)
            coords.push_back(loopIndex(nb, d));
          return extractIfValid(nb, input, coords, index.inRange);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct NonZeroLowering : OpRewritePattern<onnx::NonZeroOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::NonZeroOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Value input = op.getInput();
    auto inputType = cast<RankedTensorType>(input.getType());
    Type elementType = inputType.getElementType();
    int64_t rank = inputType.getRank();
    Type i64 = b.getI64Type();

    // Flatten to 1-D [n].
    SmallVector<Value> dims;
    Value n = arith::ConstantIndexOp::create(b, 1);
    for (OpFoldResult size : mixedSizes(tb, input)) {
      dims.push_back(toIndex(b, size));
      n = arith::MulIOp::create(b, n, dims.back());
    }
    Value flatShape = tensor::FromElementsOp::create(
        b, RankedTensorType::get({1}, i64), ValueRange{castInt(b, n, i64)});
    Value flat = tensor::ReshapeOp::create(
        b, RankedTensorType::get({ShapedType::kDynamic}, elementType), input,
        flatShape);
    auto isNonZero = [&](ImplicitLocOpBuilder &nb, Value x) -> Value {
      if (isa<FloatType>(elementType))
        return arith::CmpFOp::create(nb, arith::CmpFPredicate::UNE, x,
                                     constF(nb, elementType, 0.0));
      return arith::CmpIOp::create(nb, arith::CmpIPredicate::ne, x,
                                   constI(nb, elementType, 0));
    };
    auto count = [&](ImplicitLocOpBuilder &nb, Value acc, Value cond) -> Value {
      return arith::AddIOp::create(nb, acc, arith::ExtUIOp::create(nb, i64, cond));
    };
    // total (a 1-element tensor) and prefix[i] = non-zeros before i.
    Value total = tb.generic(
        {flat}, tb.filledInt({b.getIndexAttr(1)}, i64, 0),
        {dimsMap(b.getContext(), 1, {0}),
         AffineMap::get(1, 0, {getAffineConstantExpr(0, b.getContext())},
                        b.getContext())},
        {IteratorType::reduction},
        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          return count(nb, args[1], isNonZero(nb, args[0]));
        });
    Value prefix = tb.generic(
        {flat}, tb.filledInt({n}, i64, 0), {{1}, {0}},
        {IteratorType::parallel, IteratorType::reduction},
        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value before = arith::CmpIOp::create(nb, arith::CmpIPredicate::ult,
                                               loopIndex(nb, 1),
                                               loopIndex(nb, 0));
          return count(nb, args[1],
                       arith::AndIOp::create(nb, before,
                                             isNonZero(nb, args[0])));
        });
    Value columns = castInt(
        b, tensor::ExtractOp::create(b, total,
                                     ValueRange{arith::ConstantIndexOp::create(b, 0)}),
        b.getIndexType());
    // Row-major strides of the input dims, for coordinates.
    SmallVector<Value> strides(rank);
    Value stride = arith::ConstantIndexOp::create(b, 1);
    for (int64_t d = rank - 1; d >= 0; --d) {
      strides[d] = stride;
      stride = arith::MulIOp::create(b, stride, dims[d]);
    }
    Value strideTensor = tensor::FromElementsOp::create(
        b, RankedTensorType::get({rank}, b.getIndexType()), strides);
    Value dimTensor = tensor::FromElementsOp::create(
        b, RankedTensorType::get({rank}, b.getIndexType()), dims);
    // out[d, s] = coordinate d of the element whose prefix is s. Loops
    // (d, s, i).
    Value result = tb.generic(
        {flat, prefix},
        tb.filledInt({b.getIndexAttr(rank), columns}, i64, 0), {{2}, {2}, {0, 1}},
        {IteratorType::parallel, IteratorType::parallel,
         IteratorType::reduction},
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value s = castInt(nb, loopIndex(nb, 1), i64);
          Value hit = arith::AndIOp::create(
              nb, isNonZero(nb, args[0]),
              arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, args[1], s));
          Value d = loopIndex(nb, 0);
          Value coord = arith::RemUIOp::create(
              nb,
              arith::DivUIOp::create(
                  nb, loopIndex(nb, 2),
                  tensor::ExtractOp::create(nb, strideTensor, ValueRange{d})),
              tensor::ExtractOp::create(nb, dimTensor, ValueRange{d}));
          return arith::AddIOp::create(
              nb, args[2],
              arith::SelectOp::create(nb, hit, castInt(nb, coord, i64),
                                      constI(nb, i64, 0)));
        });
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, op.getType(), result);
    return success();
  }
};

/// result[p] = input[p] (+)= updates[q] for every q aimed at p. Loops are
/// (p..., q...) with the q loops reductions.
struct ScatterElementsLowering : OpRewritePattern<onnx::ScatterElementsOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ScatterElementsOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto type = cast<RankedTensorType>(op.getType());
    unsigned rank = type.getRank();
    auto axis = static_cast<unsigned>(op.getAxis());
    bool add = op.getReduction() == "add";
    Value axisDim = toIndex(b, tb.dim(op.getInput(), axis));
    SmallVector<unsigned> pDims = llvm::to_vector(llvm::seq(0u, rank));
    SmallVector<unsigned> qDims = llvm::to_vector(llvm::seq(rank, 2 * rank));
    SmallVector<AffineMap> maps = {dimsMap(b.getContext(), 2 * rank, qDims),
                                   dimsMap(b.getContext(), 2 * rank, qDims),
                                   dimsMap(b.getContext(), 2 * rank, pDims)};
    SmallVector<IteratorType> iterators(rank, IteratorType::parallel);
    iterators.append(rank, IteratorType::reduction);
    Value result = tb.generic(
        {op.getIndices(), op.getUpdates()}, op.getInput(), maps, iterators,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          // An out-of-range target is reported and matches nothing.
          CheckedIndex checked = checkedIndex(nb, op, args[0], axisDim);
          Value target = checked.index;
          Value match = checked.inRange;
          for (unsigned d = 0; d < rank; ++d) {
            Value coord = d == axis ? target : loopIndex(nb, rank + d);
            match = arith::AndIOp::create(
                nb, match,
                arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, coord,
                                      loopIndex(nb, d)));
          }
          Value acc = args[2];
          return arith::SelectOp::create(
              nb, match, scatterValue(nb, acc, args[1], add), acc);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct OneHotLowering : OpRewritePattern<onnx::OneHotOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::OneHotOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto type = cast<RankedTensorType>(op.getType());
    unsigned rank = type.getRank();
    auto axis = static_cast<unsigned>(op.getAxis());
    SmallVector<OpFoldResult> sizes = mixedSizes(tb, op.getIndices());
    sizes.insert(sizes.begin() + axis, b.getIndexAttr(op.getDepth()));
    SmallVector<unsigned> indexDims;
    for (unsigned d = 0; d < rank; ++d)
      if (d != axis)
        indexDims.push_back(d);
    Value depth = arith::ConstantIndexOp::create(b, op.getDepth());
    Value on = arith::ConstantOp::create(b, op.getOnValue());
    Value off = arith::ConstantOp::create(b, op.getOffValue());
    Value result = tb.map(
        {op.getIndices()}, {indexDims}, tb.empty(sizes, type.getElementType()),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value index = normalizedIndex(nb, args[0], depth);
          Value hit = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq,
                                            index, loopIndex(nb, axis));
          return arith::SelectOp::create(nb, hit, on, off);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void onnx_lowering::populateIndexingPatterns(RewritePatternSet &patterns) {
  patterns.add<GatherLowering, NonZeroLowering, ScatterElementsLowering,
               OneHotLowering>(patterns.getContext());
}
