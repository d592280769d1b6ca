//===- Select.cpp - Comparison, selection, gathers and Einsum to linalg ---===//

#include "Patterns.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/StringMap.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_lowering;

using utils::IteratorType;

namespace {

/// The comparisons: floats ordered (NaN compares false), integers signed.
template <typename OpTy, arith::CmpFPredicate FloatPredicate,
          arith::CmpIPredicate IntPredicate>
struct CompareLowering : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    rewriter.replaceOp(
        op, broadcastElementwise(
                tb, {op.getLhs(), op.getRhs()}, op.getType(),
                [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                  if (isa<FloatType>(args[0].getType()))
                    return arith::CmpFOp::create(nb, FloatPredicate, args[0],
                                                 args[1]);
                  return arith::CmpIOp::create(nb, IntPredicate, args[0],
                                               args[1]);
                }));
    return success();
  }
};
using EqualLowering = CompareLowering<onnx::EqualOp, arith::CmpFPredicate::OEQ,
                                      arith::CmpIPredicate::eq>;
using GreaterLowering =
    CompareLowering<onnx::GreaterOp, arith::CmpFPredicate::OGT,
                    arith::CmpIPredicate::sgt>;
using LessLowering = CompareLowering<onnx::LessOp, arith::CmpFPredicate::OLT,
                                     arith::CmpIPredicate::slt>;
using GreaterOrEqualLowering =
    CompareLowering<onnx::GreaterOrEqualOp, arith::CmpFPredicate::OGE,
                    arith::CmpIPredicate::sge>;
using LessOrEqualLowering =
    CompareLowering<onnx::LessOrEqualOp, arith::CmpFPredicate::OLE,
                    arith::CmpIPredicate::sle>;

struct WhereLowering : OpRewritePattern<onnx::WhereOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::WhereOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    rewriter.replaceOp(
        op, broadcastElementwise(
                tb, {op.getCondition(), op.getX(), op.getY()}, op.getType(),
                [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                  return arith::SelectOp::create(nb, args[0], args[1], args[2]);
                }));
    return success();
  }
};

/// Trilu: x where the column minus the row is >= k (upper) or <= k (lower),
/// else 0.
struct TriluLowering : OpRewritePattern<onnx::TriluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::TriluOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    auto type = cast<RankedTensorType>(op.getType());
    unsigned rank = type.getRank();
    Type elementType = type.getElementType();
    ImplicitLocOpBuilder &b = tb.builder();
    Value k = arith::ConstantIndexOp::create(b, 0);
    if (Value given = op.getK()) {
      auto kType = cast<RankedTensorType>(given.getType());
      SmallVector<Value> at(kType.getRank(),
                            arith::ConstantIndexOp::create(b, 0));
      k = arith::IndexCastOp::create(b, b.getIndexType(),
                                     tensor::ExtractOp::create(b, given, at));
    }
    auto predicate =
        op.getUpper() ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle;
    Value result =
        tb.map({op.getInput()}, {llvm::to_vector(llvm::seq(0u, rank))},
               tb.empty(mixedSizes(tb, op.getInput()), elementType),
               [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                 Value diagonal = arith::SubIOp::create(
                     nb, loopIndex(nb, rank - 1), loopIndex(nb, rank - 2));
                 Value keep = arith::CmpIOp::create(nb, predicate, diagonal, k);
                 Value zero = arith::ConstantOp::create(
                     nb, cast<TypedAttr>(nb.getZeroAttr(elementType)));
                 return arith::SelectOp::create(nb, keep, args[0], zero);
               });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Elementwise ops over one input with a scalar body.
template <typename OpTy>
struct MapLowering : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    auto type = cast<RankedTensorType>(op.getType());
    unsigned rank = type.getRank();
    Value lo, hi;
    prepare(tb, op, lo, hi);
    Value result = tb.map(
        {op.getInput()}, {llvm::to_vector(llvm::seq(0u, rank))},
        tb.empty(mixedSizes(tb, op.getInput()), type.getElementType()),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          return scalar(nb, op, args[0], lo, hi);
        });
    rewriter.replaceOp(op, result);
    return success();
  }

  static void prepare(TensorBuilder &, onnx::NotOp, Value &, Value &) {}
  static void prepare(TensorBuilder &, onnx::GeluOp, Value &, Value &) {}
  static void prepare(TensorBuilder &, onnx::SwishOp, Value &, Value &) {}
  static void prepare(TensorBuilder &tb, onnx::ClipOp op, Value &lo,
                      Value &hi) {
    if (op.getMin())
      lo = tensor::ExtractOp::create(tb.builder(), op.getMin(), ValueRange{});
    if (op.getMax())
      hi = tensor::ExtractOp::create(tb.builder(), op.getMax(), ValueRange{});
  }

  static Value scalar(ImplicitLocOpBuilder &b, onnx::NotOp, Value x, Value,
                      Value) {
    return arith::XOrIOp::create(b, x, constI(b, b.getI1Type(), 1));
  }
  static Value scalar(ImplicitLocOpBuilder &b, onnx::ClipOp, Value x,
                      Value lo, Value hi) {
    bool isFloat = isa<FloatType>(x.getType());
    if (lo)
      x = isFloat ? Value(arith::MaximumFOp::create(b, x, lo))
                  : Value(arith::MaxSIOp::create(b, x, lo));
    if (hi)
      x = isFloat ? Value(arith::MinimumFOp::create(b, x, hi))
                  : Value(arith::MinSIOp::create(b, x, hi));
    return x;
  }
  static Value scalar(ImplicitLocOpBuilder &b, onnx::SwishOp op, Value x,
                      Value, Value) {
    Type type = x.getType();
    Value ax = arith::MulFOp::create(
        b, x, constF(b, type, op.getAlpha().convertToDouble()));
    return arith::MulFOp::create(b, x, sigmoid(b, ax));
  }
  static Value scalar(ImplicitLocOpBuilder &b, onnx::GeluOp op, Value x, Value,
                      Value) {
    Type type = x.getType();
    Value half = arith::MulFOp::create(b, x, constF(b, type, 0.5));
    Value inner;
    if (op.getApproximate() == "tanh") {
      Value cube = arith::MulFOp::create(b, x, arith::MulFOp::create(b, x, x));
      Value poly = arith::AddFOp::create(
          b, x, arith::MulFOp::create(b, cube, constF(b, type, 0.044715)));
      inner = math::TanhOp::create(
          b, arith::MulFOp::create(b, poly,
                                   constF(b, type, std::sqrt(2.0 / M_PI))));
    } else {
      inner = math::ErfOp::create(
          b, arith::MulFOp::create(b, x, constF(b, type, 1.0 / std::sqrt(2.0))));
    }
    return arith::MulFOp::create(
        b, half, arith::AddFOp::create(b, constF(b, type, 1.0), inner));
  }
};

struct GatherElementsLowering : OpRewritePattern<onnx::GatherElementsOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::GatherElementsOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto type = cast<RankedTensorType>(op.getType());
    unsigned rank = type.getRank();
    auto axis = static_cast<unsigned>(op.getAxis());
    Value axisDim = toIndex(b, tb.dim(op.getInput(), axis));
    Value result = tb.map(
        {op.getIndices()}, {llvm::to_vector(llvm::seq(0u, rank))},
        tb.empty(mixedSizes(tb, op.getIndices()), type.getElementType()),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          SmallVector<Value> coords;
          CheckedIndex index = checkedIndex(nb, op, args[0], axisDim);
          for (unsigned d = 0; d < rank; ++d)
            coords.push_back(d == axis ? index.index : loopIndex(nb, d));
          return extractIfValid(nb, op.getInput(), coords, index.inRange);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Coordinates of an index row of GatherND/ScatterND: indices[r..., j] for
/// j < m, normalized against the data dims and range-checked (`valid`: all
/// in range).
SmallVector<Value> indexRow(ImplicitLocOpBuilder &b, Operation *op,
                            Value indices, ArrayRef<Value> rowLoops,
                            ArrayRef<Value> dataDims, int64_t m,
                            Value &valid) {
  SmallVector<Value> coords;
  valid = arith::ConstantIntOp::create(b, 1, 1);
  for (int64_t j = 0; j < m; ++j) {
    SmallVector<Value> at(rowLoops);
    at.push_back(arith::ConstantIndexOp::create(b, j));
    CheckedIndex index = checkedIndex(
        b, op, tensor::ExtractOp::create(b, indices, at), dataDims[j]);
    coords.push_back(index.index);
    valid = arith::AndIOp::create(b, valid, index.inRange);
  }
  return coords;
}

struct GatherNDLowering : OpRewritePattern<onnx::GatherNDOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::GatherNDOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto type = cast<RankedTensorType>(op.getType());
    auto indexType = cast<RankedTensorType>(op.getIndices().getType());
    int64_t m = indexType.getShape().back();
    unsigned rows = indexType.getRank() - 1;
    SmallVector<Value> dataDims;
    for (OpFoldResult size : mixedSizes(tb, op.getInput()))
      dataDims.push_back(toIndex(b, size));
    SmallVector<OpFoldResult> inputSizes = mixedSizes(tb, op.getInput());
    SmallVector<OpFoldResult> sizes =
        llvm::to_vector(ArrayRef(mixedSizes(tb, op.getIndices())).drop_back());
    llvm::append_range(sizes, ArrayRef(inputSizes).drop_front(m));
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               IteratorType::parallel);
    Value result = tb.generic(
        {}, tb.empty(sizes, type.getElementType()),
        ArrayRef<AffineMap>{b.getMultiDimIdentityMap(type.getRank())},
        iterators, [&](ImplicitLocOpBuilder &nb, ValueRange) -> Value {
          SmallVector<Value> rowLoops;
          for (unsigned d = 0; d < rows; ++d)
            rowLoops.push_back(loopIndex(nb, d));
          Value valid;
          SmallVector<Value> coords =
              indexRow(nb, op, op.getIndices(), rowLoops, dataDims, m, valid);
          for (unsigned d = rows; d < type.getRank(); ++d)
            coords.push_back(loopIndex(nb, d));
          return extractIfValid(nb, op.getInput(), coords, valid);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// out[p] = input[p] (+)= updates[r, p[m:]] for every index row r equal to
/// p[:m]. Loops (p..., r...) with the r loops reductions.
struct ScatterNDLowering : OpRewritePattern<onnx::ScatterNDOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ScatterNDOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    auto type = cast<RankedTensorType>(op.getType());
    auto indexType = cast<RankedTensorType>(op.getIndices().getType());
    int64_t m = indexType.getShape().back();
    unsigned rank = type.getRank(), rows = indexType.getRank() - 1;
    bool add = op.getReduction() == "add";
    SmallVector<Value> dataDims;
    for (OpFoldResult size : mixedSizes(tb, op.getInput()))
      dataDims.push_back(toIndex(b, size));
    // The row loops range over the indices' leading dims: read them through
    // a map so linalg knows their bounds.
    Value rowShape = tb.empty(
        llvm::to_vector(ArrayRef(mixedSizes(tb, op.getIndices())).drop_back()),
        b.getI1Type());
    SmallVector<unsigned> rowDims = llvm::to_vector(llvm::seq(rank, rank + rows));
    SmallVector<IteratorType> iterators(rank, IteratorType::parallel);
    iterators.append(rows, IteratorType::reduction);
    MLIRContext *context = b.getContext();
    SmallVector<AffineMap> maps = {
        AffineMap::getMultiDimMapWithTargets(rank + rows, rowDims, context),
        AffineMap::getMultiDimMapWithTargets(
            rank + rows, llvm::to_vector(llvm::seq(0u, rank)), context)};
    Value result = tb.generic(
        {rowShape}, op.getInput(), maps, iterators,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          SmallVector<Value> rowLoops;
          for (unsigned d = 0; d < rows; ++d)
            rowLoops.push_back(loopIndex(nb, rank + d));
          // An out-of-range row is reported and matches nothing.
          Value match;
          SmallVector<Value> target =
              indexRow(nb, op, op.getIndices(), rowLoops, dataDims, m, match);
          for (int64_t j = 0; j < m; ++j)
            match = arith::AndIOp::create(
                nb, match,
                arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, target[j],
                                      loopIndex(nb, j)));
          SmallVector<Value> at(rowLoops);
          for (unsigned d = m; d < rank; ++d)
            at.push_back(loopIndex(nb, d));
          Value update = tensor::ExtractOp::create(nb, op.getUpdates(), at);
          Value acc = args[1];
          return arith::SelectOp::create(
              nb, match, scatterValue(nb, acc, update, add), acc);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Loops: the output letters, then the summed letters; each input is read
/// through the map of its letters.
struct EinsumLowering : OpRewritePattern<onnx::EinsumOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::EinsumOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<SmallVector<std::string>> terms = op.parseEquation();
    if (failed(terms))
      return rewriter.notifyMatchFailure(op, "unsupported equation");
    TensorBuilder tb(rewriter, op.getLoc());
    std::string letters = terms->back();
    for (size_t i = 0; i + 1 < terms->size(); ++i)
      for (char c : (*terms)[i])
        if (letters.find(c) == std::string::npos)
          letters += c;
    size_t numOut = terms->back().size();
    llvm::StringMap<OpFoldResult> sizeOf;
    for (auto [term, input] : llvm::zip(*terms, op.getInputs()))
      for (auto [i, c] : llvm::enumerate(term))
        sizeOf.try_emplace(StringRef(&c, 1), tb.dim(input, i));
    SmallVector<OpFoldResult> sizes;
    for (char c : terms->back())
      sizes.push_back(sizeOf.lookup(StringRef(&c, 1)));
    SmallVector<AffineMap> maps;
    for (size_t i = 0; i + 1 < terms->size(); ++i) {
      SmallVector<unsigned> dims;
      for (char c : (*terms)[i])
        dims.push_back(letters.find(c));
      maps.push_back(AffineMap::getMultiDimMapWithTargets(
          letters.size(), dims, rewriter.getContext()));
    }
    maps.push_back(AffineMap::getMultiDimMapWithTargets(
        letters.size(), llvm::to_vector(llvm::seq<unsigned>(0, numOut)),
        rewriter.getContext()));
    SmallVector<IteratorType> iterators(numOut, IteratorType::parallel);
    iterators.append(letters.size() - numOut, IteratorType::reduction);
    Type elementType = getElementTypeOrSelf(op.getType());
    Value result = tb.generic(
        op.getInputs(), tb.filled(sizes, elementType, 0.0), maps, iterators,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value product = args[0];
          for (Value factor : args.drop_front().drop_back())
            product = arith::MulFOp::create(nb, product, factor);
          return arith::AddFOp::create(nb, args.back(), product);
        });
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, op.getType(), result);
    return success();
  }
};

} // namespace

void onnx_lowering::populateSelectPatterns(RewritePatternSet &patterns) {
  patterns.add<EqualLowering, GreaterLowering, LessLowering,
               GreaterOrEqualLowering, LessOrEqualLowering, WhereLowering,
               TriluLowering, MapLowering<onnx::NotOp>,
               MapLowering<onnx::ClipOp>, MapLowering<onnx::GeluOp>,
               MapLowering<onnx::SwishOp>, GatherElementsLowering,
               GatherNDLowering, ScatterNDLowering, EinsumLowering>(
      patterns.getContext());
}
