//===- MoEToLinalg.cpp - Reference lowering of moe ops --------------------===//
//
// The patterns and the pass of convert-moe-to-linalg. The layer and routing
// math lives in Experts.cpp and Routing.cpp; the decomposed ops are lowered
// here, each as a few reductions over index comparisons.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToLinalg/MoEToLinalg.h"

#include "Lowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOLINALGPASS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

using utils::IteratorType;

namespace {

/// Product of two sizes; folded when both are static.
OpFoldResult mulSizes(ImplicitLocOpBuilder &b, OpFoldResult x,
                      OpFoldResult y) {
  std::optional<int64_t> cx = getConstantIntValue(x);
  std::optional<int64_t> cy = getConstantIntValue(y);
  if (cx && cy)
    return b.getIndexAttr(*cx * *cy);
  return arith::MulIOp::create(b, getValueOrCreateConstantIndexOp(b, b.getLoc(), x),
                               getValueOrCreateConstantIndexOp(b, b.getLoc(), y))
      .getResult();
}

Value asIndex(ImplicitLocOpBuilder &b, Value value) {
  return castInt(b, value, b.getIndexType());
}

struct LayerLowering : OpRewritePattern<LayerOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LayerOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    rewriter.replaceOp(op, buildDenseLayer(tb, op));
    return success();
  }
};

/// ids[t, j] / weights[t, j] = the expert ranked j-th for token t; then
/// the shared experts' slots.
struct RouteLowering : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Value logits = op.getRouter() ? buildRouterLogits(tb, op.getInput(),
                                                      op.getRouter(),
                                                      op.getRouterBias())
                                  : op.getInput();
    int64_t numExperts = op.getNumExperts(), k = op.getRouting().getK();
    OpFoldResult tokens = tb.dim(op.getInput(), 0);
    // The routed experts' logits: all but the shared gate's column.
    Value routedLogits = logits;
    if (op.getSharedGate()) {
      auto type = cast<RankedTensorType>(logits.getType());
      routedLogits = tensor::ExtractSliceOp::create(
          b,
          RankedTensorType::get({type.getDimSize(0), numExperts},
                                type.getElementType()),
          logits, ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{tokens, b.getIndexAttr(numExperts)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
    }
    DenseRouting routing = buildDenseRouting(
        tb, routedLogits, op.getCorrectionBias(), op.getRouting());
    SmallVector<OpFoldResult> sizes = {tokens, b.getIndexAttr(k)};
    Type idType = getElementTypeOrSelf(op.getExpertIds().getType());
    Type weightType = getElementTypeOrSelf(op.getWeights().getType());
    SmallVector<IteratorType> iterators = {
        IteratorType::parallel, IteratorType::parallel, IteratorType::reduction};
    // Loops (t, j, e).
    auto isRankJ = [](ImplicitLocOpBuilder &nb, Value rank) -> Value {
      return arith::CmpIOp::create(
          nb, arith::CmpIPredicate::eq, rank,
          castInt(nb, loopIndex(nb, 1), nb.getI64Type()));
    };
    Value ids = tb.generic(
        {routing.rank}, tb.filledInt(sizes, idType, 0), {{0, 2}, {0, 1}},
        iterators, [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value expert = castInt(nb, loopIndex(nb, 2), idType);
          Value term = arith::SelectOp::create(nb, isRankJ(nb, args[0]),
                                               expert, constI(nb, idType, 0));
          return arith::AddIOp::create(nb, args[1], term);
        });
    Value weights = tb.generic(
        {routing.rank, routing.weights}, tb.filled(sizes, weightType, 0.0),
        {{0, 2}, {0, 2}, {0, 1}}, iterators,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value term =
              arith::SelectOp::create(nb, isRankJ(nb, args[0]), args[1],
                                      constF(nb, weightType, 0.0));
          return arith::AddFOp::create(nb, args[2], term);
        });
    if (int64_t shared = op.getSharedExperts()) {
      // Slot k + i of every token: expert E + i, weighted 1 or by the
      // sigmoid of the gate's logit (column E).
      auto widen = [&](Value routed, Type type,
                       function_ref<Value(ImplicitLocOpBuilder &, Value, Value)>
                           sharedValue) {
        SmallVector<OpFoldResult> wide = {tokens, b.getIndexAttr(k + shared)};
        return tb.generic(
            {}, tb.empty(wide, type), ArrayRef<SmallVector<unsigned>>{{0, 1}},
            {IteratorType::parallel, IteratorType::parallel},
            [&](ImplicitLocOpBuilder &nb, ValueRange) -> Value {
              Value t = loopIndex(nb, 0), j = loopIndex(nb, 1);
              Value kIndex = arith::ConstantIndexOp::create(nb, k);
              Value isRouted =
                  arith::CmpIOp::create(nb, arith::CmpIPredicate::ult, j, kIndex);
              // Both sides are evaluated: the routed read stays in bounds.
              Value column = arith::MinUIOp::create(
                  nb, j, arith::ConstantIndexOp::create(nb, k - 1));
              Value fromRouted =
                  tensor::ExtractOp::create(nb, routed, ValueRange{t, column});
              Value i = arith::SubIOp::create(nb, j, kIndex);
              return arith::SelectOp::create(nb, isRouted, fromRouted,
                                             sharedValue(nb, t, i));
            });
      };
      ids = widen(ids, idType,
                  [&](ImplicitLocOpBuilder &nb, Value, Value i) -> Value {
                    Value id = arith::AddIOp::create(
                        nb, i, arith::ConstantIndexOp::create(nb, numExperts));
                    return castInt(nb, id, idType);
                  });
      bool gated = op.getSharedGate();
      weights = widen(
          weights, weightType,
          [&](ImplicitLocOpBuilder &nb, Value t, Value) -> Value {
            if (!gated)
              return constF(nb, weightType, 1.0);
            Value gate = tensor::ExtractOp::create(
                nb, logits,
                ValueRange{t, arith::ConstantIndexOp::create(nb, numExperts)});
            return sigmoid(nb, gate);
          });
    }
    rewriter.replaceOp(op, {ids, weights});
    return success();
  }
};

/// A stable counting sort of the T * k assignments by expert.
struct PermuteLowering : OpRewritePattern<PermuteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(PermuteOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Value x = op.getInput(), ids = op.getExpertIds();
    Type idType = getElementTypeOrSelf(ids.getType());
    OpFoldResult numTokens = tb.dim(ids, 0), k = tb.dim(ids, 1);
    Value kValue = getValueOrCreateConstantIndexOp(b, b.getLoc(), k);
    OpFoldResult n = mulSizes(b, numTokens, k);
    auto flat = [&](ImplicitLocOpBuilder &nb, unsigned tDim, unsigned jDim) {
      return arith::AddIOp::create(
          nb, arith::MulIOp::create(nb, loopIndex(nb, tDim), kValue),
          loopIndex(nb, jDim));
    };
    auto count = [&](ImplicitLocOpBuilder &nb, Value acc, Value cond) {
      return arith::AddIOp::create(
          nb, acc,
          arith::SelectOp::create(nb, cond, constI(nb, idType, 1),
                                  constI(nb, idType, 0)));
    };
    auto lt = [](ImplicitLocOpBuilder &nb, Value x, Value y) -> Value {
      return arith::CmpIOp::create(nb, arith::CmpIPredicate::slt, x, y);
    };

    // inverse[t, j]: assignments sorting before (t, j). Loops (t, j, t2, j2).
    Value inverse = tb.generic(
        {ids, ids}, tb.filledInt({numTokens, k}, idType, 0),
        {{2, 3}, {0, 1}, {0, 1}},
        {IteratorType::parallel, IteratorType::parallel,
         IteratorType::reduction, IteratorType::reduction},
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value other = args[0], self = args[1];
          Value sameExpert = arith::CmpIOp::create(
              nb, arith::CmpIPredicate::eq, other, self);
          Value before = arith::OrIOp::create(
              nb, lt(nb, other, self),
              arith::AndIOp::create(
                  nb, sameExpert,
                  arith::CmpIOp::create(nb, arith::CmpIPredicate::ult,
                                        flat(nb, 2, 3), flat(nb, 0, 1))));
          return count(nb, args[2], before);
        });

    // offsets[e]: assignments to experts below e. Loops (e, t2, j2).
    int64_t numOffsets = op.getNumExperts() + 1;
    Value offsets = tb.generic(
        {ids}, tb.filledInt({b.getIndexAttr(numOffsets)}, idType, 0),
        {{1, 2}, {0}},
        {IteratorType::parallel, IteratorType::reduction,
         IteratorType::reduction},
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value expert = castInt(nb, loopIndex(nb, 0), idType);
          return count(nb, args[1], lt(nb, args[0], expert));
        });

    // assignments[s]: the flat assignment whose sorted position is s.
    // Loops (s, t2, j2).
    Value assignments = tb.generic(
        {inverse}, tb.filledInt({n}, idType, 0), {{1, 2}, {0}},
        {IteratorType::parallel, IteratorType::reduction,
         IteratorType::reduction},
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value here = arith::CmpIOp::create(
              nb, arith::CmpIPredicate::eq, args[0],
              castInt(nb, loopIndex(nb, 0), idType));
          Value term = arith::SelectOp::create(
              nb, here, castInt(nb, flat(nb, 1, 2), idType),
              constI(nb, idType, 0));
          return arith::AddIOp::create(nb, args[1], term);
        });

    // rows[s] = input[assignments[s] / k]. Loops (s, c).
    Type elementType = getElementTypeOrSelf(x.getType());
    Value rows = tb.map(
        {assignments}, {{0}}, tb.empty({n, tb.dim(x, 1)}, elementType),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value token =
              arith::DivUIOp::create(nb, asIndex(nb, args[0]), kValue);
          return tensor::ExtractOp::create(
              nb, x, ValueRange{token, loopIndex(nb, 1)});
        });
    rewriter.replaceOp(op, {rows, assignments, offsets, inverse});
    return success();
  }
};

/// z[r] = rows[r] @ weights[e(r)] + bias[e(r)], e(r) found from the offsets.
struct GroupedMatmulLowering : OpRewritePattern<GroupedMatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  // A fused combine is rewritten into a plain grouped matmul (no combine),
  // which this pattern then lowers: recursion of depth one.
  void initialize() { setHasBoundedRewriteRecursion(); }
  LogicalResult matchAndRewrite(GroupedMatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getCombineWeights()) {
      // A fused combine is, by definition, the combine of the plain
      // grouped matmul's rows: lowered as those two ops.
      auto rowsType = cast<RankedTensorType>(op.getResult().getType());
      auto plain = GroupedMatmulOp::create(
          rewriter, op.getLoc(),
          RankedTensorType::get({ShapedType::kDynamic, rowsType.getDimSize(1)},
                                rowsType.getElementType()),
          op.getRows(), op.getWeights(), op.getOffsets(), op.getBias(),
          op.getActivationAttr());
      rewriter.replaceOpWithNewOp<CombineOp>(op, rowsType, plain,
                                             op.getCombineWeights(),
                                             op.getCombineInverse());
      return success();
    }
    TensorBuilder tb(rewriter, op.getLoc());
    ImplicitLocOpBuilder &b = tb.builder();
    Value rows = op.getRows(), weights = op.getWeights();
    Type elementType = getElementTypeOrSelf(rows.getType());
    OpFoldResult n = tb.dim(rows, 0), m = tb.dim(weights, 2);

    // expertOf[r] = #{e in [1, E] : offsets[e] <= r}. Loops (r, e).
    Value expertOf = tb.generic(
        {op.getOffsets()}, tb.filledInt({n}, b.getI64Type(), 0), {{1}, {0}},
        {IteratorType::parallel, IteratorType::reduction},
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value e = loopIndex(nb, 1);
          Value notFirst = arith::CmpIOp::create(
              nb, arith::CmpIPredicate::uge, e, constI(nb, nb.getIndexType(), 1));
          Value started = arith::CmpIOp::create(
              nb, arith::CmpIPredicate::sle, asIndex(nb, args[0]),
              loopIndex(nb, 0));
          Value hit = arith::AndIOp::create(nb, notFirst, started);
          return arith::AddIOp::create(
              nb, args[1], arith::ExtUIOp::create(nb, nb.getI64Type(), hit));
        });

    Value init;
    if (Value bias = op.getBias()) {
      init = tb.map({expertOf}, {{0}}, tb.empty({n, m}, elementType),
                    [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                      return tensor::ExtractOp::create(
                          nb, bias,
                          ValueRange{asIndex(nb, args[0]), loopIndex(nb, 1)});
                    });
    } else {
      init = tb.filled({n, m}, elementType, 0.0);
    }
    // Loops (r, c, kk).
    Value z = tb.generic(
        {rows, expertOf}, init, {{0, 2}, {0}, {0, 1}},
        {IteratorType::parallel, IteratorType::parallel,
         IteratorType::reduction},
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value w = tensor::ExtractOp::create(
              nb, weights,
              ValueRange{asIndex(nb, args[1]), loopIndex(nb, 2),
                         loopIndex(nb, 1)});
          return arith::AddFOp::create(
              nb, args[2], arith::MulFOp::create(nb, args[0], w));
        });

    ActivationAttr activation = op.getActivationAttr();
    Value result = z;
    if (activation && activation.isGated()) {
      int64_t half = cast<RankedTensorType>(weights.getType()).getDimSize(2) / 2;
      SmallVector<OpFoldResult> sizes = {n, b.getIndexAttr(half)};
      SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
      auto slice = [&](int64_t col) -> Value {
        return tensor::ExtractSliceOp::create(
            b, z, SmallVector<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(col)},
            sizes, strides);
      };
      result = activateTensor(tb, activation, slice(0), slice(half));
    } else if (activation) {
      result = activateTensor(tb, activation, z, Value());
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// output[t] = sum_j weights[t, j] * rows[inverse[t, j]].
struct CombineLowering : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    Value rows = op.getRows();
    Type elementType = getElementTypeOrSelf(rows.getType());
    Value init = tb.filled({tb.dim(op.getWeights(), 0), tb.dim(rows, 1)},
                           elementType, 0.0);
    // Loops (t, c, j).
    Value out = tb.generic(
        {op.getWeights(), op.getInverse()}, init, {{0, 2}, {0, 2}, {0, 1}},
        {IteratorType::parallel, IteratorType::parallel,
         IteratorType::reduction},
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value row = tensor::ExtractOp::create(
              nb, rows, ValueRange{asIndex(nb, args[1]), loopIndex(nb, 1)});
          return arith::AddFOp::create(
              nb, args[2], arith::MulFOp::create(nb, args[0], row));
        });
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct ConvertMoEToLinalgPass
    : moe::impl::ConvertMoEToLinalgPassBase<ConvertMoEToLinalgPass> {
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addIllegalDialect<MoEDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateMoEToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::moe::populateMoEToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<LayerLowering, RouteLowering, PermuteLowering,
               GroupedMatmulLowering, CombineLowering>(patterns.getContext());
}
