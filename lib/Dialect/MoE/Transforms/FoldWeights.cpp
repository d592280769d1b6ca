//===- FoldWeights.cpp - Data movement on constants at compile time -------===//
//
// moe-fold-weights: slices, transposes, insertions and reshapes whose
// operands are constants become constants, so weights are stored in the
// layout the kernels read (prepacked) instead of being rearranged on every
// run. Element data is moved as raw bytes, so any whole-byte element type
// works.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "moe/Dialect/MoE/Transforms/ConstantData.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cstring>

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFOLDWEIGHTSPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Results up to this many elements stay inline (readable in tests and
/// cheap to fold further by upstream patterns).
constexpr int64_t kInlineElements = 16;

/// A constant operand's bytes, or nullopt when `value` is not a readable
/// constant.
std::optional<std::vector<char>> constantBytes(Value value) {
  ElementsAttr attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  return elementBytes(attr);
}

/// Row-major strides (in elements) of `shape`.
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/// Calls body(srcIndex, dstIndex) for every element of an N-d box of
/// `sizes`, where the element at box position p is at
/// sum_i (srcOffsets[i] + p[i] * srcSteps[i]) * srcStrides[i] in the source
/// and likewise in the destination.
template <typename Body>
void forEachInBox(ArrayRef<int64_t> sizes, ArrayRef<int64_t> srcOffsets,
                  ArrayRef<int64_t> srcSteps, ArrayRef<int64_t> srcStrides,
                  ArrayRef<int64_t> dstOffsets, ArrayRef<int64_t> dstSteps,
                  ArrayRef<int64_t> dstStrides, const Body &body) {
  size_t rank = sizes.size();
  for (int64_t size : sizes)
    if (size == 0)
      return;
  SmallVector<int64_t> position(rank, 0);
  while (true) {
    int64_t src = 0, dst = 0;
    for (size_t i = 0; i < rank; ++i) {
      src += (srcOffsets[i] + position[i] * srcSteps[i]) * srcStrides[i];
      dst += (dstOffsets[i] + position[i] * dstSteps[i]) * dstStrides[i];
    }
    body(src, dst);
    int64_t i = static_cast<int64_t>(rank) - 1;
    for (; i >= 0; --i) {
      if (++position[i] < sizes[i])
        break;
      position[i] = 0;
    }
    if (i < 0)
      return;
  }
}

/// Copies the box (see forEachInBox) of `width`-byte elements from
/// `source` into `out`.
void copyBox(ArrayRef<int64_t> sizes, ArrayRef<int64_t> srcOffsets,
             ArrayRef<int64_t> srcSteps, ArrayRef<int64_t> srcStrides,
             ArrayRef<int64_t> dstOffsets, ArrayRef<int64_t> dstSteps,
             ArrayRef<int64_t> dstStrides, int64_t width,
             const std::vector<char> &source, std::vector<char> &out) {
  forEachInBox(sizes, srcOffsets, srcSteps, srcStrides, dstOffsets, dstSteps,
               dstStrides, [&](int64_t src, int64_t dst) {
                 std::memcpy(&out[dst * width], &source[src * width], width);
               });
}

/// Whether a slice's offsets, sizes and strides are all static.
template <typename SliceOp>
bool hasStaticSlice(SliceOp op) {
  return !ShapedType::isDynamicShape(op.getStaticOffsets()) &&
         !ShapedType::isDynamicShape(op.getStaticSizes()) &&
         !ShapedType::isDynamicShape(op.getStaticStrides());
}

/// Whether `type` is a static tensor of whole-byte elements; its width.
std::optional<int64_t> foldableWidth(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return std::nullopt;
  return elementByteWidth(tensor.getElementType());
}

/// Replaces `op` (one result) with a constant of its type holding `bytes`.
Value constantFor(PatternRewriter &rewriter, Operation *op,
                  ArrayRef<char> bytes) {
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  if (type.getNumElements() <= kInlineElements)
    return arith::ConstantOp::create(
        rewriter, op->getLoc(), DenseElementsAttr::getFromRawBuffer(type, bytes));
  return makeConstant(rewriter, op->getLoc(), type, bytes, "moe_prepacked");
}

/// A pattern that counts the ops it folds.
template <typename OpTy>
struct FoldPattern : OpRewritePattern<OpTy> {
  FoldPattern(MLIRContext *context, int64_t &folded)
      : OpRewritePattern<OpTy>(context), folded(folded) {}

  void replace(PatternRewriter &rewriter, Operation *op,
               ArrayRef<char> bytes) const {
    rewriter.replaceOp(op, constantFor(rewriter, op, bytes));
    ++folded;
  }

  /// out[p] = in[p permuted]: `inputDims[j]` is the output dim that
  /// indexes input dim j.
  LogicalResult foldPermutation(PatternRewriter &rewriter, Operation *op,
                                Value input,
                                ArrayRef<int64_t> inputDims) const;

  int64_t &folded;
};

struct FoldExtractSlice : FoldPattern<tensor::ExtractSliceOp> {
  using FoldPattern::FoldPattern;
  LogicalResult matchAndRewrite(tensor::ExtractSliceOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<int64_t> width = foldableWidth(op.getType());
    auto sourceType = op.getSourceType();
    if (!width || !sourceType.hasStaticShape() || !hasStaticSlice(op))
      return failure();
    std::optional<std::vector<char>> source = constantBytes(op.getSource());
    if (!source)
      return failure();
    // Rank-reducing slices drop unit dims: the order of elements stays.
    ArrayRef<int64_t> sizes = op.getStaticSizes();
    SmallVector<int64_t> zeros(sizes.size(), 0), ones(sizes.size(), 1);
    std::vector<char> out(op.getType().getNumElements() * *width);
    copyBox(sizes, op.getStaticOffsets(), op.getStaticStrides(),
            stridesOf(sourceType.getShape()), zeros, ones, stridesOf(sizes),
            *width, *source, out);
    replace(rewriter, op, out);
    return success();
  }
};

struct FoldInsertSlice : FoldPattern<tensor::InsertSliceOp> {
  using FoldPattern::FoldPattern;
  LogicalResult matchAndRewrite(tensor::InsertSliceOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<int64_t> width = foldableWidth(op.getType());
    if (!width || !op.getSourceType().hasStaticShape() || !hasStaticSlice(op))
      return failure();
    std::optional<std::vector<char>> source = constantBytes(op.getSource());
    if (!source)
      return failure();
    // The destination: a constant, or an empty tensor (its contents are
    // undefined; zeros stand in where nothing is inserted).
    std::vector<char> out;
    if (op.getDest().getDefiningOp<tensor::EmptyOp>()) {
      out.assign(op.getType().getNumElements() * *width, 0);
    } else if (std::optional<std::vector<char>> dest =
                   constantBytes(op.getDest())) {
      out = std::move(*dest);
    } else {
      return failure();
    }
    ArrayRef<int64_t> sizes = op.getStaticSizes();
    SmallVector<int64_t> zeros(sizes.size(), 0), ones(sizes.size(), 1);
    copyBox(sizes, zeros, ones, stridesOf(sizes), op.getStaticOffsets(),
            op.getStaticStrides(), stridesOf(op.getType().getShape()), *width,
            *source, out);
    replace(rewriter, op, out);
    return success();
  }
};

template <typename OpTy>
LogicalResult
FoldPattern<OpTy>::foldPermutation(PatternRewriter &rewriter, Operation *op,
                                   Value input,
                                   ArrayRef<int64_t> inputDims) const {
  std::optional<int64_t> width = foldableWidth(op->getResult(0).getType());
  auto inputType = dyn_cast<RankedTensorType>(input.getType());
  if (!width || !inputType || !inputType.hasStaticShape())
    return failure();
  std::optional<std::vector<char>> source = constantBytes(input);
  if (!source)
    return failure();
  auto outType = cast<RankedTensorType>(op->getResult(0).getType());
  SmallVector<int64_t> inStrides = stridesOf(inputType.getShape());
  // Input stride seen from each output dim.
  SmallVector<int64_t> srcStrides(outType.getRank(), 0);
  for (auto [j, dim] : llvm::enumerate(inputDims))
    srcStrides[dim] = inStrides[j];
  SmallVector<int64_t> zeros(outType.getRank(), 0), ones(outType.getRank(), 1);
  std::vector<char> out(outType.getNumElements() * *width);
  copyBox(outType.getShape(), zeros, ones, srcStrides, zeros, ones,
          stridesOf(outType.getShape()), *width, *source, out);
  replace(rewriter, op, out);
  return success();
}

struct FoldTranspose : FoldPattern<linalg::TransposeOp> {
  using FoldPattern::FoldPattern;
  LogicalResult matchAndRewrite(linalg::TransposeOp op,
                                PatternRewriter &rewriter) const override {
    if (op->getNumResults() != 1)
      return failure();
    // result[i] = input[perm-applied]: input dim perm[i] is indexed by
    // output dim i.
    ArrayRef<int64_t> perm = op.getPermutation();
    SmallVector<int64_t> inputDims(perm.size());
    for (auto [i, p] : llvm::enumerate(perm))
      inputDims[p] = i;
    return foldPermutation(rewriter, op, op.getInput(), inputDims);
  }
};

/// Whether `op` maps one input to one result, every loop parallel: the
/// generics that move or convert a constant element by element.
bool isOneToOneParallel(linalg::GenericOp op) {
  return op.getNumDpsInputs() == 1 && op.getNumDpsInits() == 1 &&
         op->getNumResults() == 1 &&
         op.getNumParallelLoops() == op.getNumLoops();
}

/// A linalg.generic that only copies its one input through a permutation
/// (what convert-onnx-to-linalg makes of onnx.transpose).
struct FoldPermutingGeneric : FoldPattern<linalg::GenericOp> {
  using FoldPattern::FoldPattern;
  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!isOneToOneParallel(op))
      return failure();
    auto yield = cast<linalg::YieldOp>(op.getBody()->getTerminator());
    if (yield.getNumOperands() != 1 ||
        yield.getOperand(0) != op.getBody()->getArgument(0))
      return failure();
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    if (!maps[1].isIdentity() || !maps[0].isPermutation())
      return failure();
    SmallVector<int64_t> inputDims;
    for (AffineExpr expr : maps[0].getResults())
      inputDims.push_back(cast<AffineDimExpr>(expr).getPosition());
    return foldPermutation(rewriter, op, op.getDpsInputs()[0], inputDims);
  }
};

/// A linalg.generic that only widens its one input from f16 or bf16 to f32
/// (what convert-onnx-to-linalg makes of moe-widen-half's onnx.cast of a
/// 16-bit model's weights that were not yet constants: data movement of
/// constants).
struct FoldWidening : FoldPattern<linalg::GenericOp> {
  using FoldPattern::FoldPattern;
  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!isOneToOneParallel(op) ||
        !llvm::all_of(op.getIndexingMapsArray(),
                      [](AffineMap map) { return map.isIdentity(); }) ||
        !foldableWidth(op->getResult(0).getType()))
      return failure();
    auto yield = cast<linalg::YieldOp>(op.getBody()->getTerminator());
    auto extend = yield.getNumOperands() == 1
                      ? yield.getOperand(0).getDefiningOp<arith::ExtFOp>()
                      : nullptr;
    Type from = op.getBody()->getArgument(0).getType();
    if (!extend || extend.getIn() != op.getBody()->getArgument(0) ||
        !extend.getType().isF32() || !(from.isF16() || from.isBF16()))
      return failure();
    std::optional<std::vector<char>> source =
        constantBytes(op.getDpsInputs()[0]);
    if (!source)
      return failure();
    replace(rewriter, op, widenToF32(*source, from.isBF16()));
    return success();
  }
};

/// Reshapes and casts keep the bytes; only the type changes.
template <typename OpTy>
struct FoldSameBytes : FoldPattern<OpTy> {
  using FoldPattern<OpTy>::FoldPattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    if (!foldableWidth(op->getResult(0).getType()))
      return failure();
    std::optional<std::vector<char>> source =
        constantBytes(op->getOperand(0));
    if (!source)
      return failure();
    this->replace(rewriter, op, *source);
    return success();
  }
};

struct MoEFoldWeightsPass
    : moe::impl::MoEFoldWeightsPassBase<MoEFoldWeightsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    int64_t folded = 0;
    patterns.add<
        FoldExtractSlice, FoldInsertSlice, FoldTranspose, FoldPermutingGeneric,
        FoldWidening, FoldSameBytes<tensor::CollapseShapeOp>,
        FoldSameBytes<tensor::ExpandShapeOp>, FoldSameBytes<tensor::CastOp>>(
        &getContext(), folded);
    // Constants left without users go away with the folding.
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    numFolded += folded;
  }
};

} // namespace
