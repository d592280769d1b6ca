//===- Shape.cpp - Reshapes, shapes as values, slicing to tensor ----------===//
//
// Every reshape-like op becomes tensor.reshape with its target dims
// computed at run time (dynamic dims come from tensor.dim, run-time shape
// operands from tensor.extract), which bufferizes to memref.reshape.
// Concat and Slice/Split become insert_slice / extract_slice.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_lowering;

namespace {

/// Element `i` of a 1-D i64 tensor, as an index.
Value extractIndex(ImplicitLocOpBuilder &b, Value tensor, int64_t i) {
  Value element = tensor::ExtractOp::create(
      b, tensor, ValueRange{arith::ConstantIndexOp::create(b, i)});
  return castInt(b, element, b.getIndexType());
}

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

/// ONNX Reshape: 0 copies the input dim, -1 is the element count over the
/// product of the others; evaluated at run time from the attribute or the
/// shape operand.
struct ReshapeLowering : OpRewritePattern<onnx::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ReshapeOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Value input = op.getInput();
    auto resultType = cast<RankedTensorType>(op.getType());
    int64_t inputRank = cast<RankedTensorType>(input.getType()).getRank();
    Value count = arith::ConstantIndexOp::create(b, 1);
    for (OpFoldResult size : mixedSizes(tb, input))
      count = arith::MulIOp::create(b, count, toIndex(b, size));
    Value zero = arith::ConstantIndexOp::create(b, 0);
    Value minusOne = arith::ConstantIndexOp::create(b, -1);
    Value one = arith::ConstantIndexOp::create(b, 1);

    // Each target entry as an index value, with 0 resolved.
    SmallVector<Value> entries, dims;
    for (int64_t i = 0; i < resultType.getRank(); ++i) {
      Value entry = op.getShape()
                        ? arith::ConstantIndexOp::create(b, (*op.getShape())[i])
                              .getResult()
                        : extractIndex(b, op.getShapeTensor(), i);
      Value copied = i < inputRank ? toIndex(b, tb.dim(input, i)) : entry;
      Value isZero = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, entry,
                                           zero);
      entries.push_back(entry);
      dims.push_back(arith::SelectOp::create(b, isZero, copied, entry));
    }
    // -1: the element count over the product of the other entries.
    Value known = one;
    for (Value dim : dims) {
      Value isInferred =
          arith::CmpIOp::create(b, arith::CmpIPredicate::eq, dim, minusOne);
      known = arith::MulIOp::create(
          b, known, arith::SelectOp::create(b, isInferred, one, dim));
    }
    // Evaluated even without a -1, so never divide by zero (a zero-size
    // dim among the others makes the inferred dim 0).
    Value inferred = arith::DivUIOp::create(
        b, count, arith::MaxUIOp::create(b, known, one));
    for (Value &dim : dims) {
      Value isInferred =
          arith::CmpIOp::create(b, arith::CmpIPredicate::eq, dim, minusOne);
      dim = arith::SelectOp::create(b, isInferred, inferred, dim);
    }
    rewriter.replaceOp(op, reshapeTo(b, input, dims, resultType));
    return success();
  }
};

/// Unsqueeze, Squeeze and Flatten: the result dims from the input dims.
template <typename OpTy>
struct ReshapeLikeLowering : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Value input = op.getInput();
    SmallVector<Value> inputDims;
    for (OpFoldResult size : mixedSizes(tb, input))
      inputDims.push_back(toIndex(b, size));
    SmallVector<Value> dims = resultDims(b, op, inputDims);
    rewriter.replaceOp(op, reshapeTo(b, input, dims, op.getType()));
    return success();
  }

  static SmallVector<Value> resultDims(ImplicitLocOpBuilder &b,
                                       onnx::UnsqueezeOp op,
                                       ArrayRef<Value> in) {
    SmallVector<Value> dims;
    const Value *next = in.begin();
    int64_t rank = in.size() + op.getAxes().size();
    for (int64_t d = 0; d < rank; ++d)
      dims.push_back(llvm::is_contained(op.getAxes(), d)
                         ? arith::ConstantIndexOp::create(b, 1).getResult()
                         : *next++);
    return dims;
  }
  static SmallVector<Value> resultDims(ImplicitLocOpBuilder &,
                                       onnx::SqueezeOp op,
                                       ArrayRef<Value> in) {
    SmallVector<Value> dims;
    for (auto [d, dim] : llvm::enumerate(in))
      if (!llvm::is_contained(op.getAxes(), static_cast<int64_t>(d)))
        dims.push_back(dim);
    return dims;
  }
  static SmallVector<Value> resultDims(ImplicitLocOpBuilder &b,
                                       onnx::FlattenOp op,
                                       ArrayRef<Value> in) {
    Value outer = arith::ConstantIndexOp::create(b, 1), inner = outer;
    for (auto [d, dim] : llvm::enumerate(in)) {
      Value &acc = static_cast<int64_t>(d) < static_cast<int64_t>(op.getAxis())
                       ? outer
                       : inner;
      acc = arith::MulIOp::create(b, acc, dim);
    }
    return {outer, inner};
  }
};

struct ShapeLowering : OpRewritePattern<onnx::ShapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ShapeOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    SmallVector<Value> dims;
    for (int64_t d = op.getStart(); d < static_cast<int64_t>(op.getEnd()); ++d)
      dims.push_back(castInt(b, toIndex(b, tb.dim(op.getInput(), d)),
                             b.getI64Type()));
    rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(op, op.getType(),
                                                        dims);
    return success();
  }
};

/// Result dims of ops that take a run-time shape operand: static where the
/// result type knows them, read from the shape otherwise.
SmallVector<OpFoldResult> dimsFromShape(ImplicitLocOpBuilder &b, Value shape,
                                        RankedTensorType resultType) {
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < resultType.getRank(); ++d)
    sizes.push_back(resultType.isDynamicDim(d)
                        ? OpFoldResult(extractIndex(b, shape, d))
                        : OpFoldResult(b.getIndexAttr(resultType.getDimSize(d))));
  return sizes;
}

struct ConstantOfShapeLowering : OpRewritePattern<onnx::ConstantOfShapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ConstantOfShapeOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto type = cast<RankedTensorType>(op.getType());
    Value value = arith::ConstantOp::create(b, op.getValue());
    Value empty =
        tb.empty(dimsFromShape(b, op.getShape(), type), type.getElementType());
    rewriter.replaceOp(op,
                       linalg::FillOp::create(b, value, empty).getResult(0));
    return success();
  }
};

/// Range: n = max(ceil((limit - start) / delta), 0) elements start + i *
/// delta (n = 0 for delta 0).
struct RangeLowering : OpRewritePattern<onnx::RangeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::RangeOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Type element = getElementTypeOrSelf(op.getType());
    Value start = tensor::ExtractOp::create(b, op.getStart(), ValueRange{});
    Value limit = tensor::ExtractOp::create(b, op.getLimit(), ValueRange{});
    Value delta = tensor::ExtractOp::create(b, op.getDelta(), ValueRange{});
    Value n = rangeCount(b, start, limit, delta);
    Value result = tb.generic(
        {}, tb.empty({OpFoldResult(n)}, element),
        {AffineMap::getMultiDimIdentityMap(1, b.getContext())},
        {utils::IteratorType::parallel},
        [&](ImplicitLocOpBuilder &nb, ValueRange) -> Value {
          Value i = linalg::IndexOp::create(nb, 0);
          Value step =
              isa<FloatType>(element)
                  ? arith::SIToFPOp::create(
                        nb, element,
                        arith::IndexCastOp::create(nb, nb.getI64Type(), i))
                        .getResult()
                  : arith::IndexCastOp::create(nb, element, i).getResult();
          return isa<FloatType>(element)
                     ? arith::AddFOp::create(
                           nb, start, arith::MulFOp::create(nb, step, delta))
                           .getResult()
                     : arith::AddIOp::create(
                           nb, start, arith::MulIOp::create(nb, step, delta))
                           .getResult();
        });
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, op.getType(), result);
    return success();
  }
};

/// Expand: result dim = max(input dim, shape entry) (they are equal or one
/// is 1); input dims that are statically 1 are stretched.
struct ExpandLowering : OpRewritePattern<onnx::ExpandOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ExpandOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto type = cast<RankedTensorType>(op.getType());
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    int64_t offset = type.getRank() - inputType.getRank();
    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (!type.isDynamicDim(d)) {
        sizes.push_back(b.getIndexAttr(type.getDimSize(d)));
        continue;
      }
      Value dim = extractIndex(b, op.getShape(), d);
      if (d >= offset)
        dim = arith::MaxUIOp::create(
            b, dim, toIndex(b, tb.dim(op.getInput(), d - offset)));
      sizes.push_back(dim);
    }
    SmallVector<AffineMap> maps = {broadcastMap(inputType, type),
                                   rewriter.getMultiDimIdentityMap(type.getRank())};
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               utils::IteratorType::parallel);
    rewriter.replaceOp(
        op, tb.generic({op.getInput()}, tb.empty(sizes, type.getElementType()),
                       maps, iterators,
                       [](ImplicitLocOpBuilder &, ValueRange args) {
                         return args[0];
                       }));
    return success();
  }
};

struct ConcatLowering : OpRewritePattern<onnx::ConcatOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ConcatOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto type = cast<RankedTensorType>(op.getType());
    auto axis = static_cast<int64_t>(op.getAxis());
    SmallVector<OpFoldResult> sizes = mixedSizes(tb, op.getInputs().front());
    Value total = arith::ConstantIndexOp::create(b, 0);
    for (Value input : op.getInputs())
      total = arith::AddIOp::create(b, total, toIndex(b, tb.dim(input, axis)));
    sizes[axis] = total;
    Value result = tb.empty(sizes, type.getElementType());
    Value offset = arith::ConstantIndexOp::create(b, 0);
    SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
    for (Value input : op.getInputs()) {
      SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
      offsets[axis] = offset;
      result = tensor::InsertSliceOp::create(b, input, result, offsets,
                                             mixedSizes(tb, input), strides);
      offset = arith::AddIOp::create(b, offset, toIndex(b, tb.dim(input, axis)));
    }
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, type, result);
    return success();
  }
};

struct SliceLowering : OpRewritePattern<onnx::SliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::SliceOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto type = cast<RankedTensorType>(op.getType());
    SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = mixedSizes(tb, op.getInput());
    SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
    for (auto [i, axis] : llvm::enumerate(op.getAxes())) {
      auto [first, size] = sliceBounds(
          b, toIndex(b, sizes[axis]),
          sliceBound(b, op.getStarts(), op.getStartsTensor(), i),
          sliceBound(b, op.getEnds(), op.getEndsTensor(), i), op.getSteps()[i]);
      offsets[axis] = first;
      sizes[axis] = size;
      strides[axis] = b.getIndexAttr(op.getSteps()[i]);
    }
    Value slice = tensor::ExtractSliceOp::create(b, op.getInput(), offsets,
                                                 sizes, strides);
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, type, slice);
    return success();
  }
};

struct SplitLowering : OpRewritePattern<onnx::SplitOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::SplitOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto axis = static_cast<int64_t>(op.getAxis());
    int64_t rank = cast<RankedTensorType>(op.getInput().getType()).getRank();
    SmallVector<Value> pieces;
    int64_t offset = 0;
    for (auto [size, result] : llvm::zip(op.getSizes(), op.getResults())) {
      SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
      SmallVector<OpFoldResult> sizes = mixedSizes(tb, op.getInput());
      SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
      offsets[axis] = b.getIndexAttr(offset);
      sizes[axis] = b.getIndexAttr(size);
      Value piece = tensor::ExtractSliceOp::create(b, op.getInput(), offsets,
                                                   sizes, strides);
      pieces.push_back(tensor::CastOp::create(b, result.getType(), piece));
      offset += size;
    }
    rewriter.replaceOp(op, pieces);
    return success();
  }
};

} // namespace

void onnx_lowering::populateShapePatterns(RewritePatternSet &patterns) {
  patterns.add<TransposeLowering, ReshapeLowering,
               ReshapeLikeLowering<onnx::UnsqueezeOp>,
               ReshapeLikeLowering<onnx::SqueezeOp>,
               ReshapeLikeLowering<onnx::FlattenOp>, ShapeLowering,
               ConstantOfShapeLowering, RangeLowering, ExpandLowering,
               ConcatLowering, SliceLowering, SplitLowering>(
      patterns.getContext());
}
