//===- DataMovementToCuda.cpp - Rotary and GQA data movement to CUDA ------===//
//
// Part of convert-elementwise-to-cuda (Passes.td), next to the attention
// ops (AttentionToCuda.cpp): the data movement an attention block's rotary
// embeddings and grouped-query attention export to, on f32, so that it
// stays on the device:
//   - x * cos + rotate_half(x) * sin (rotate_half: Concat(Neg(Slice),
//     Slice)), the rotary embedding of q or k: one moe_cuda_cc_rotary_f32
//     call instead of seven (matched first, while its ops are whole);
//   - the shape of a transpose read from its input (so that a transpose
//     a matmul reads in place is not computed for its shape alone);
//   - onnx.slice along one axis and onnx.concat of up to 4 inputs (rotary
//     embeddings' rotate_half, a KV cache's extension): moe_cuda_cc_slice_f32
//     / _concat_f32, blocks of columns moved (a concat's input read through
//     its transpose in place); their tables' f32 onnx.range
//     (moe_cuda_cc_range_f32) and outer-product onnx.einsum (a broadcast binary
//     mul), so that the cos/sin tables are built where they are used (not
//     uploaded by each mul that applies them, every run);
//   - onnx.expand (grouped-query attention's repeated k/v heads):
//     moe_cuda_cc_expand_f32, a gather with zero strides.
//
//===----------------------------------------------------------------------===//

#include "GraphOpsToCuda.h"

#include "moe/Conversion/Utils/TensorBuilder.h"
#include "moe/Dialect/ONNX/IR/ONNXOps.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The product of `sizes` [from, to) (1 when empty).
Value productOf(RuntimeCall &call, ArrayRef<Value> sizes, size_t from,
                size_t to) {
  return product(call, sizes.slice(from, to - from));
}

/// Slice along one axis with step 1 (rotary embeddings' halves): a block
/// of columns of x seen as [dims before the axis, the rest], bounds by
/// ONNX's rules at run time.
struct SliceToCuda : RuntimePattern<onnx::SliceOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::SliceOp op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    if (!isF32(x) || type.getRank() > kMaxCudaRank ||
        op.getAxes().size() != 1 || op.getSteps()[0] != 1 || onlyConstants(x))
      return rewriter.notifyMatchFailure(op, "needs f32, one axis, step 1");
    auto axis = static_cast<size_t>(op.getAxes()[0]);
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    ImplicitLocOpBuilder &b = call.builder();
    SmallVector<Value> sizes = dimSizes(call, x);
    auto [first, size] = sliceBounds(
        b, sizes[axis], sliceBound(b, op.getStarts(), op.getStartsTensor(), 0),
        sliceBound(b, op.getEnds(), op.getEndsTensor(), 0), 1);
    Value inner = productOf(call, sizes, axis + 1, sizes.size());
    call.addInput(x);
    call.addI64(productOf(call, sizes, 0, axis));
    call.addI64(arith::MulIOp::create(b, sizes[axis], inner));
    call.addI64(arith::MulIOp::create(b, first, inner));
    call.addI64(arith::MulIOp::create(b, size, inner));
    SmallVector<Value> outSizes(sizes);
    outSizes[axis] = size;
    call.addOutput(op.getResult(), outSizes);
    rewriter.replaceOp(op,
                       call.emit("moe_cc_slice_f32", describeGraphOp(op, "")));
    return success();
  }
};

/// Concat of 1 to 4 f32 inputs (rotary embeddings' halves swapped) or of
/// 16-bit ones (a KV cache a 16-bit model keeps in its type, see
/// moe-widen-half): each input a block of the result's columns, [dims
/// before the axis, the rest]. A 16-bit concat reads an input rounded from
/// f32 (onnx.cast) as the f32 value, rounding as it copies.
struct ConcatToCuda : RuntimePattern<onnx::ConcatOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::ConcatOp op,
                                PatternRewriter &rewriter) const override {
    auto inputs = op.getInputs();
    auto type = cast<RankedTensorType>(op.getType());
    Type element = type.getElementType();
    bool half = element.isBF16() || element.isF16();
    if (!(element.isF32() || half) || type.getRank() > kMaxCudaRank ||
        inputs.empty() || inputs.size() > 4 ||
        llvm::all_of(inputs, [](Value v) { return onlyConstants(v); }))
      return rewriter.notifyMatchFailure(
          op, "needs f32, bf16 or f16, 1 to 4 inputs");
    auto axis = static_cast<int64_t>(op.getAxis());
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    ImplicitLocOpBuilder &b = call.builder();
    SmallVector<Value> outSizes;
    call.addI64(static_cast<int64_t>(inputs.size()));
    call.addI64(axis);
    // 16-bit: which inputs are f32 values rounded to the result's type.
    SmallVector<Value> sources(inputs.begin(), inputs.end());
    int64_t f32Inputs = 0;
    if (half) {
      for (auto [i, source] : llvm::enumerate(sources))
        if (auto rounding = source.getDefiningOp<onnx::CastOp>();
            rounding && isF32(rounding.getInput())) {
          source = rounding.getInput();
          f32Inputs |= int64_t(1) << i;
        }
      call.addI64(f32Inputs);
    }
    Value total = call.index(0);
    for (size_t i = 0; i < 4; ++i) {
      if (i >= inputs.size()) {
        call.addInput(Value());
        addView(call, {}, {});
        continue;
      }
      // A transpose of an input (the heads' [b, t, kv, d] -> [b, kv, t, d]
      // before a KV cache's concat) is read in place.
      Value input = sources[i];
      SmallVector<int64_t, 4> perm = identityPerm(rankOf(input));
      if (auto transpose = input.getDefiningOp<onnx::TransposeOp>();
          transpose && !onlyConstants(transpose.getInput())) {
        input = transpose.getInput();
        perm = llvm::to_vector<4>(transpose.getPerm());
      }
      SmallVector<Value> sizes = dimSizes(call, input);
      preloadIfConstant(rewriter, op, input, numThreads);
      call.addInput(input);
      addView(call, sizes, perm);
      SmallVector<Value> view = viewDims(sizes, perm);
      if (i == 0)
        outSizes = view;
      total = arith::AddIOp::create(b, total, view[axis]);
    }
    outSizes[axis] = total;
    call.addOutput(op.getResult(), outSizes);
    rewriter.replaceOp(
        op,
        call.emit(!half              ? "moe_cc_concat_f32"
                  : element.isBF16() ? "moe_cc_concat_bf16"
                                     : "moe_cc_concat_f16",
                  describeGraphOp(op, "its inputs' other dims must agree")));
    return success();
  }
};

/// Expand (grouped-query attention's repeat_kv: [b, kv, 1, t, dh] to
/// [b, kv, n_rep, t, dh]): the result's dims grouped into runs where x is
/// copied (its dim is the result's) or repeated (x's dim is statically 1,
/// or absent), each run one dim of the call - rank 5 fits in 4 that way.
/// The result's dims as the linalg lowering computes them (the shape's
/// entry, or x's dim when larger).
struct ExpandToCuda : RuntimePattern<onnx::ExpandOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::ExpandOp op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getInput();
    auto type = cast<RankedTensorType>(op.getType());
    auto xType = cast<RankedTensorType>(x.getType());
    // A constant expanded to a run-time shape (HF's rotary embedding
    // expands inv_freq to the batch) is a call too, reading the constant
    // uploaded once: computed on the host, the matmul after it would
    // upload it every run. A constant shape leaves it to folding.
    if (!isF32(x) || (onlyConstants(x) && onlyConstants(op.getShape())))
      return rewriter.notifyMatchFailure(op, "needs f32 data");
    int64_t offset = type.getRank() - xType.getRank();
    auto repeats = [&](int64_t d) {
      return d < offset || xType.getDimSize(d - offset) == 1;
    };
    // The runs of dims of one kind.
    SmallVector<std::pair<int64_t, int64_t>> runs; // [first, end)
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (runs.empty() || repeats(d) != repeats(runs.back().first))
        runs.push_back({d, d + 1});
      else
        runs.back().second = d + 1;
    if (static_cast<int64_t>(runs.size()) > kMaxCudaRank)
      return rewriter.notifyMatchFailure(op, "more than 4 runs of dims");
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    ImplicitLocOpBuilder &b = call.builder();
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (!type.isDynamicDim(d)) {
        sizes.push_back(call.index(type.getDimSize(d)));
        continue;
      }
      Value entry = tensor::ExtractOp::create(b, op.getShape(),
                                              ValueRange{call.index(d)});
      Value dim = arith::IndexCastOp::create(b, b.getIndexType(), entry);
      if (d >= offset)
        dim = arith::MaxUIOp::create(b, dim, call.dim(x, d - offset));
      sizes.push_back(dim);
    }
    SmallVector<Value> xDims, outDims;
    for (auto [first, end] : runs) {
      Value size = productOf(call, sizes, first, end);
      outDims.push_back(size);
      xDims.push_back(repeats(first) ? call.index(1) : size);
    }
    preloadIfConstant(rewriter, op, x, numThreads);
    call.addInput(x);
    addRankAndDims(call, xDims);
    for (int64_t d = 0; d < kMaxCudaRank; ++d)
      if (d < static_cast<int64_t>(outDims.size()))
        call.addI64(outDims[d]);
      else
        call.addI64(int64_t(1));
    call.addOutput(op.getResult(), sizes);
    rewriter.replaceOp(
        op,
        call.emit("moe_cc_expand_f32",
                  describeGraphOp(op, "x's dims must be the result's or 1")));
    return success();
  }
};

/// An f32 Range (rotary embeddings' positions): its scalars read on the
/// host (shape arithmetic), the elements written by the call - on the
/// device when its buffer is there, so that the tables built from it are.
struct RangeToCuda : RuntimePattern<onnx::RangeOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::RangeOp op,
                                PatternRewriter &rewriter) const override {
    if (!isF32(op.getResult()))
      return rewriter.notifyMatchFailure(op, "needs f32");
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    ImplicitLocOpBuilder &b = call.builder();
    auto scalar = [&](Value tensor) {
      return tensor::ExtractOp::create(b, tensor, ValueRange{}).getResult();
    };
    Value start = scalar(op.getStart()), delta = scalar(op.getDelta());
    Value count = rangeCount(b, start, scalar(op.getLimit()), delta);
    call.addValue(start);
    call.addValue(delta);
    call.addI64(count);
    call.addOutput(op.getResult(), {count});
    rewriter.replaceOp(op,
                       call.emit("moe_cc_range_f32", describeGraphOp(op, "")));
    return success();
  }
};

/// Einsum "i,j->ij" of f32 vectors (rotary embeddings' positions times
/// frequencies): the broadcast product a[:, None] * b[None, :], one
/// binary call (op code mul) reading a as [n, 1] and b as [1, m].
struct OuterProductToCuda : RuntimePattern<onnx::EinsumOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::EinsumOp op,
                                PatternRewriter &rewriter) const override {
    StringRef equation = op.getEquation();
    if (op.getInputs().size() != 2 || equation.size() != 7 ||
        equation[1] != ',' || equation.substr(3, 2) != "->" ||
        equation[0] == equation[2] || equation[5] != equation[0] ||
        equation[6] != equation[2] || !isF32(op.getResult()) ||
        !isF32(op.getInputs()[0]) || !isF32(op.getInputs()[1]))
      return rewriter.notifyMatchFailure(op, "not an f32 outer product");
    Value a = op.getInputs()[0], c = op.getInputs()[1];
    RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
    Value n = dimSizes(call, a).front(), m = dimSizes(call, c).front();
    Value one = call.index(1);
    call.addI32(MOE_CUDA_BINARY_MUL);
    preloadIfConstant(rewriter, op, a, numThreads);
    call.addInput(a);
    addRankAndDims(call, {n, one});
    preloadIfConstant(rewriter, op, c, numThreads);
    call.addInput(c);
    addRankAndDims(call, {one, m});
    addRankAndDims(call, {n, m});
    call.addOutput(op.getResult(), {n, m});
    rewriter.replaceOp(op,
                       call.emit("moe_cc_binary_f32", describeGraphOp(op, "")));
    return success();
  }
};

/// rotate_half(x) as HF writes it: Concat(Neg(x[..., a:]), x[..., :b])
/// along x's last axis - or any two blocks of x's last axis (slices with
/// step 1), the first negated: the call reads them where the slices would
/// (their bounds computed at run time; it checks that they make up a row).
struct RotateHalfMatch {
  Value x;
  onnx::SliceOp negated, kept;
};

/// Whether `slice` takes a block of its input's last axis with step 1.
bool isLastAxisSlice(onnx::SliceOp slice) {
  int64_t rank = cast<RankedTensorType>(slice.getInput().getType()).getRank();
  if (slice.getAxes().size() != 1 || slice.getSteps()[0] != 1)
    return false;
  int64_t axis = slice.getAxes()[0];
  return (axis < 0 ? axis + rank : axis) == rank - 1;
}

std::optional<RotateHalfMatch> matchRotateHalf(Value rotated) {
  auto concat = rotated.getDefiningOp<onnx::ConcatOp>();
  if (!concat || concat.getInputs().size() != 2)
    return std::nullopt;
  int64_t rank = cast<RankedTensorType>(concat.getType()).getRank();
  auto axis = static_cast<int64_t>(concat.getAxis());
  auto neg = concat.getInputs()[0].getDefiningOp<onnx::NegOp>();
  auto negated =
      neg ? neg.getInput().getDefiningOp<onnx::SliceOp>() : onnx::SliceOp();
  auto kept = concat.getInputs()[1].getDefiningOp<onnx::SliceOp>();
  if ((axis < 0 ? axis + rank : axis) != rank - 1 || !negated || !kept ||
      negated.getInput() != kept.getInput() || !isLastAxisSlice(negated) ||
      !isLastAxisSlice(kept))
    return std::nullopt;
  return RotateHalfMatch{kept.getInput(), negated, kept};
}

/// x * cos + rotate_half(x) * sin at an add.
struct RotaryMatch {
  onnx::AddOp add;
  RotateHalfMatch half;
  Value cos, sin;
};

/// The rotary embedding `op` computes (Llama's, Mixtral's, Qwen's
/// apply_rotary_pos_emb; either operand order of each op), if the call
/// can take it.
std::optional<RotaryMatch> matchRotary(onnx::AddOp op) {
  for (auto [direct, rotated] : {std::pair(op.getLhs(), op.getRhs()),
                                 std::pair(op.getRhs(), op.getLhs())}) {
    auto directMul = direct.getDefiningOp<onnx::MulOp>();
    auto rotatedMul = rotated.getDefiningOp<onnx::MulOp>();
    if (!directMul || !rotatedMul)
      continue;
    for (auto [half, sin] :
         {std::pair(rotatedMul.getLhs(), rotatedMul.getRhs()),
          std::pair(rotatedMul.getRhs(), rotatedMul.getLhs())}) {
      std::optional<RotateHalfMatch> match = matchRotateHalf(half);
      if (!match)
        continue;
      Value x = match->x;
      Value cos = directMul.getLhs() == x   ? directMul.getRhs()
                  : directMul.getRhs() == x ? directMul.getLhs()
                                            : Value();
      int64_t rank = rankOf(x);
      if (!cos || !isF32(x) || !isF32(cos) || !isF32(sin) ||
          !isF32(op.getResult()) || rank < 1 || rank > kMaxCudaRank ||
          rankOf(cos) > rank || rankOf(sin) > rank ||
          rankOf(op.getResult()) != rank || onlyConstants(x))
        continue;
      return RotaryMatch{op, *match, cos, sin};
    }
  }
  return std::nullopt;
}

/// Another rotary embedding with `m`'s tables (k's beside q's) and rows of
/// its width, at an add in the same block, which one call at the later add
/// can take: the earlier add's result used only after it. The earlier of
/// the two first. (Their halves, which exporters compute from each x's
/// shape, are checked to agree at run time.)
std::optional<std::pair<RotaryMatch, RotaryMatch>>
matchRotaryPair(const RotaryMatch &m) {
  auto xType = cast<RankedTensorType>(m.half.x.getType());
  for (Operation *mul : m.cos.getUsers()) {
    if (!isa<onnx::MulOp>(mul))
      continue;
    for (Operation *user : mul->getUsers()) {
      auto add = dyn_cast<onnx::AddOp>(user);
      if (!add || add == m.add || add->getBlock() != m.add->getBlock())
        continue;
      std::optional<RotaryMatch> other = matchRotary(add);
      auto otherType = other ? cast<RankedTensorType>(other->half.x.getType())
                             : RankedTensorType();
      if (!other || other->cos != m.cos || other->sin != m.sin ||
          otherType.getRank() != xType.getRank() ||
          ShapedType::isDynamic(xType.getShape().back()) ||
          otherType.getShape().back() != xType.getShape().back())
        continue;
      bool mFirst = m.add->isBeforeInBlock(add);
      const RotaryMatch &first = mFirst ? m : *other;
      Operation *later = mFirst ? add.getOperation() : &*m.add;
      if (llvm::all_of(first.add->getUsers(), [&](Operation *u) {
            return u->getBlock() == later->getBlock() &&
                   later->isBeforeInBlock(u);
          }))
        return mFirst ? std::pair(m, *other) : std::pair(*other, m);
    }
  }
  return std::nullopt;
}

/// x * cos + rotate_half(x) * sin: one moe_cuda_cc_rotary_f32 call for the
/// seven ops, at the add - and for the heads' transpose before them, read
/// in place; q's and k's with the same tables one moe_cuda_cc_rotary_pair_f32
/// call, at the later add (one launch). The tables must broadcast to x's
/// shape (checked at run time; rotary tables do).
struct RotaryToCuda : RuntimePattern<onnx::AddOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::AddOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<RotaryMatch> m = matchRotary(op);
    if (!m)
      return rewriter.notifyMatchFailure(op,
                                         "not x * cos + rotate_half(x) * sin");
    if (std::optional<std::pair<RotaryMatch, RotaryMatch>> pair =
            matchRotaryPair(*m)) {
      emitRotary(rewriter, {pair->first, pair->second});
      return success();
    }
    emitRotary(rewriter, {*m});
    return success();
  }

  /// One call for `rotaries` (one, or q's and k's: its tables and halves
  /// the first's), at the last one's add.
  void emitRotary(PatternRewriter &rewriter,
                  ArrayRef<RotaryMatch> rotaries) const {
    onnx::AddOp at = rotaries.back().add;
    const RotaryMatch &first = rotaries.front();
    RuntimeCall call(rewriter, at, numThreads, RuntimeTarget::CUDA);
    ImplicitLocOpBuilder &b = call.builder();
    SmallVector<SmallVector<Value>> allSizes;
    for (const RotaryMatch &m : rotaries) {
      // x the heads' transpose of its buffer ([b, t, h, d] -> [b, h, t,
      // d]): read in place (the rows stay whole).
      Value buffer = m.half.x;
      int64_t rank = rankOf(buffer);
      SmallVector<int64_t, 4> perm = identityPerm(rank);
      if (auto transpose = m.half.x.getDefiningOp<onnx::TransposeOp>();
          transpose && transpose.getPerm().back() == rank - 1 &&
          !onlyConstants(transpose.getInput())) {
        buffer = transpose.getInput();
        perm = llvm::to_vector<4>(transpose.getPerm());
      }
      SmallVector<Value> bufferDims = dimSizes(call, buffer), sizes;
      for (int64_t d : perm)
        sizes.push_back(bufferDims[d]);
      call.addInput(buffer);
      if (&m == &first)
        addRankAndDims(call, bufferDims);
      else // the pair's rank is the first's
        for (int64_t d = 0; d < kMaxCudaRank; ++d)
          call.addI64(d < rank ? bufferDims[d] : call.index(1));
      for (int64_t d = 0; d < kMaxCudaRank; ++d)
        call.addI64(d < rank ? perm[d] : 0);
      allSizes.push_back(sizes);
    }
    for (Value table : {first.cos, first.sin}) {
      preloadIfConstant(rewriter, at, table, numThreads);
      call.addInput(table);
      addRankAndDims(call, dimSizes(call, table));
    }
    // The halves' bounds: the first's, which a pair's second must share.
    SmallVector<SmallVector<Value, 4>> bounds;
    for (auto [m, sizes] : llvm::zip(rotaries, allSizes)) {
      bounds.emplace_back();
      for (onnx::SliceOp slice : {m.half.negated, m.half.kept}) {
        auto [start, size] = sliceBounds(
            b, sizes.back(),
            sliceBound(b, slice.getStarts(), slice.getStartsTensor(), 0),
            sliceBound(b, slice.getEnds(), slice.getEndsTensor(), 0), 1);
        bounds.back().append({start, size});
      }
    }
    if (rotaries.size() > 1) {
      Value ok = arith::ConstantIntOp::create(b, 1, 1);
      for (auto [x, y] : llvm::zip(bounds.front(), bounds.back()))
        ok = arith::AndIOp::create(
            b, ok, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, x, y));
      emitRunTimeCheck(b, at, ok,
                       describeGraphOp(at, "q's and k's rotate_half halves "
                                           "must agree"));
    }
    for (Value bound : bounds.front())
      call.addI64(bound);
    for (auto [m, sizes] : llvm::zip(rotaries, allSizes))
      call.addOutput(m.add->getResult(0), sizes);
    SmallVector<Value> results = call.emit(
        rotaries.size() == 1 ? "moe_cc_rotary_f32" : "moe_cc_rotary_pair_f32",
        describeGraphOp(at, "rotary tables must broadcast to x's shape, its "
                            "halves make up x's last dim"));
    for (auto [m, result] : llvm::zip(rotaries, results))
      rewriter.replaceOp(m.add, result);
  }
};

/// The shape of a transpose, read from its input (the transpose's dims
/// are its input's permuted): a transpose a matmul reads in place is then
/// not computed only for its shape (HF's repeat_kv reads the shape of the
/// heads it repeats). As the linalg lowering would: the dims as i64.
struct ShapeOfTranspose : OpRewritePattern<onnx::ShapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(onnx::ShapeOp op,
                                PatternRewriter &rewriter) const override {
    auto transpose = op.getInput().getDefiningOp<onnx::TransposeOp>();
    if (!transpose)
      return rewriter.notifyMatchFailure(op, "not the shape of a transpose");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    ArrayRef<int64_t> perm = transpose.getPerm();
    SmallVector<Value> dims;
    for (int64_t d = op.getStart(); d < static_cast<int64_t>(op.getEnd()); ++d)
      dims.push_back(arith::IndexCastOp::create(
          b, b.getI64Type(),
          tensor::DimOp::create(b, transpose.getInput(), perm[d])));
    rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(op, op.getType(), dims);
    return success();
  }
};

} // namespace

void mlir::moe::populateFusedDataMovementToCudaPatterns(
    RewritePatternSet &patterns, int32_t numThreads) {
  patterns.add<RotaryToCuda>(patterns.getContext(), numThreads,
                             RuntimeTarget::CUDA);
  patterns.add<ShapeOfTranspose>(patterns.getContext());
}

void mlir::moe::populateDataMovementToCudaPatterns(RewritePatternSet &patterns,
                                                   int32_t numThreads) {
  patterns.add<SliceToCuda, ConcatToCuda, ExpandToCuda, RangeToCuda,
               OuterProductToCuda>(patterns.getContext(), numThreads,
                                   RuntimeTarget::CUDA);
}
