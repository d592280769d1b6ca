//===- ElementwiseToCuda.cpp - The graph's binary ops to CUDA calls -------===//
//
// convert-elementwise-to-cuda: the graph's f32 elementwise ops and means
// over the last axis become moe_cuda_cc_{binary,unary,mean_rows}_f32 calls
// (Passes.td); first, an RMS norm's seven ops become one
// moe_cuda_cc_rms_norm_f32 call (decode runs one launch instead of seven). It
// runs on the ONNX ops, before convert-onnx-to-linalg, because their
// broadcasting is still one op there (the linalg form reads operands whose dims
// may stretch at run time through tensor.extract); the runtime broadcasts from
// the operands' actual dims and refuses shapes that do not broadcast.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToRuntime/MoEToRuntime.h"

#include "GraphOpsToCuda.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTELEMENTWISETOCUDAPASS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

std::string mlir::moe::describeGraphOp(Operation *op, StringRef needs) {
  std::string text = op->getName().getStringRef().str();
  if (std::string node = onnxNodeName(op->getLoc()); !node.empty())
    text += " '" + node + "'";
  if (!needs.empty())
    text += " (" + needs.str() + ")";
  return text;
}

SmallVector<Value> mlir::moe::dimSizes(RuntimeCall &call, Value tensor) {
  SmallVector<Value> sizes;
  auto type = cast<RankedTensorType>(tensor.getType());
  for (int64_t d = 0; d < type.getRank(); ++d)
    sizes.push_back(type.isDynamicDim(d) ? call.dim(tensor, d)
                                         : call.index(type.getDimSize(d)));
  return sizes;
}

Value mlir::moe::product(RuntimeCall &call, ArrayRef<Value> sizes) {
  Value result = call.index(1);
  for (Value size : sizes)
    result = arith::MulIOp::create(call.builder(), result, size);
  return result;
}

void mlir::moe::addRankAndDims(RuntimeCall &call, ArrayRef<Value> sizes) {
  call.addI64(static_cast<int64_t>(sizes.size()));
  for (int64_t d = 0; d < kMaxCudaRank; ++d)
    if (d < static_cast<int64_t>(sizes.size()))
      call.addI64(sizes[d]);
    else
      call.addI64(1);
}

Value mlir::moe::broadcastSize(RuntimeCall &call, ArrayRef<Value> operands,
                               ArrayRef<int64_t> operandRanks, int64_t rank,
                               int64_t d) {
  ImplicitLocOpBuilder &b = call.builder();
  Value size;
  for (auto [operand, operandRank] : llvm::zip_equal(operands, operandRanks)) {
    auto type = cast<RankedTensorType>(operand.getType());
    int64_t i = d - (rank - operandRank);
    if (i < 0 || type.getDimSize(i) == 1)
      continue;
    Value dim = call.dim(operand, i);
    if (size) {
      Value one = call.index(1);
      Value stretched =
          arith::CmpIOp::create(b, arith::CmpIPredicate::eq, size, one);
      dim = arith::SelectOp::create(b, stretched, dim, size);
    }
    size = dim;
  }
  return size ? size : call.index(1);
}

bool mlir::moe::onlyConstants(Value value) {
  SmallVector<Value> pending = {value};
  llvm::SmallPtrSet<Operation *, 16> seen;
  while (!pending.empty()) {
    Value v = pending.pop_back_val();
    Operation *def = v.getDefiningOp();
    if (!def)
      return false; // a block argument: a graph input
    if (!seen.insert(def).second)
      continue;
    if (def->getNumRegions() != 0 && !isa<linalg::LinalgOp>(def))
      return false;
    llvm::append_range(pending, def->getOperands());
  }
  return true;
}

bool mlir::moe::isHostScalar(Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  if (!isF32(value) || !type.hasStaticShape() || type.getNumElements() != 1)
    return false;
  SmallVector<Value> pending = {value};
  llvm::SmallPtrSet<Operation *, 16> seen;
  while (!pending.empty()) {
    Operation *def = pending.pop_back_val().getDefiningOp();
    if (!def)
      return false; // a graph input
    if (!seen.insert(def).second || isa<onnx::ShapeOp, tensor::DimOp>(def))
      continue; // a shape reads no data
    // Host ops only: a CUDA call's result (a tensor over the buffer the
    // call wrote) may be device memory.
    if (def->getNumRegions() != 0 ||
        !(isa<onnx::ONNXDialect, arith::ArithDialect>(def->getDialect()) ||
          isa<tensor::FromElementsOp, tensor::ExtractOp>(def)))
      return false;
    llvm::append_range(pending, def->getOperands());
  }
  return true;
}

std::optional<double> mlir::moe::scalarConstant(Value value) {
  DenseElementsAttr attr;
  if (!matchPattern(value, m_Constant(&attr)) || attr.getNumElements() != 1 ||
      !isa<FloatType>(attr.getElementType()))
    return std::nullopt;
  return (*attr.value_begin<APFloat>()).convertToDouble();
}

namespace {

template <typename OpTy, int32_t Code>
struct BinaryToCuda : RuntimePattern<OpTy> {
  using RuntimePattern<OpTy>::RuntimePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    auto resultType = cast<RankedTensorType>(op.getType());
    Value lhs = op.getLhs(), rhs = op.getRhs();
    if (!isF32(lhs) || !isF32(rhs) || !isF32(op.getResult()))
      return rewriter.notifyMatchFailure(op, "needs f32 operands");
    if (isHostScalar(op.getResult()))
      return rewriter.notifyMatchFailure(op, "a scalar of shape arithmetic");
    if (resultType.getRank() > kMaxCudaRank)
      return rewriter.notifyMatchFailure(op, "rank beyond the runtime's");
    RuntimeCall call(rewriter, op, this->numThreads, this->target);
    call.addI32(Code);
    int64_t rank = resultType.getRank();
    // The operands, each with its rank and dims.
    for (Value operand : {lhs, rhs}) {
      preloadIfConstant(rewriter, op, operand, this->numThreads);
      call.addInput(operand);
      addRankAndDims(call, dimSizes(call, operand));
    }
    // The result's dims: static, or numpy's.
    SmallVector<Value> sizes;
    int64_t lhsRank = cast<RankedTensorType>(lhs.getType()).getRank(),
            rhsRank = cast<RankedTensorType>(rhs.getType()).getRank();
    for (int64_t d = 0; d < rank; ++d)
      sizes.push_back(
          resultType.isDynamicDim(d)
              ? broadcastSize(call, {lhs, rhs}, {lhsRank, rhsRank}, rank, d)
              : call.index(resultType.getDimSize(d)));
    addRankAndDims(call, sizes);
    call.addOutput(op.getResult(), sizes);
    rewriter.replaceOp(
        op,
        call.emit("moe_cc_binary_f32",
                  describeGraphOp(op, "its operands' shapes must broadcast")));
    return success();
  }
};

/// Replaces `op` (one result, x's shape) by `callee`(code, x, x's element
/// count, the result): the one-operand elementwise calls.
void replaceByElementwiseCall(PatternRewriter &rewriter, Operation *op,
                              int32_t numThreads, int32_t code, Value x,
                              StringRef callee) {
  RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
  SmallVector<Value> sizes = dimSizes(call, x);
  call.addI32(code);
  call.addInput(x);
  call.addI64(product(call, sizes));
  call.addOutput(op->getResult(0), sizes);
  rewriter.replaceOp(op, call.emit(callee, describeGraphOp(op, "")));
}

template <typename OpTy, int32_t Code>
struct UnaryToCuda : RuntimePattern<OpTy> {
  using RuntimePattern<OpTy>::RuntimePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getInput();
    if (!isF32(x))
      return rewriter.notifyMatchFailure(op, "needs an f32 operand");
    if (isHostScalar(op.getResult()))
      return rewriter.notifyMatchFailure(op, "a scalar of shape arithmetic");
    replaceByElementwiseCall(rewriter, op, this->numThreads, Code, x,
                             "moe_cc_unary_f32");
    return success();
  }
};

/// onnx.reduce_mean over the last axis (a norm's mean square).
struct MeanRowsToCuda : RuntimePattern<onnx::ReduceMeanOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::ReduceMeanOp op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    if (!isF32(x) || type.getRank() < 1 ||
        op.getAxes() != ArrayRef<int64_t>{type.getRank() - 1})
      return rewriter.notifyMatchFailure(op, "needs f32, the last axis");
    if (type.getDimSize(type.getRank() - 1) == 0)
      return rewriter.notifyMatchFailure(op, "an empty mean");
    RuntimeCall call(rewriter, op, this->numThreads, this->target);
    SmallVector<Value> sizes = dimSizes(call, x);
    Value cols = sizes.pop_back_val();
    call.addInput(x);
    call.addI64(product(call, sizes));
    call.addI64(cols);
    if (op.getKeepdims())
      sizes.push_back(call.index(1));
    call.addOutput(op.getResult(), sizes);
    rewriter.replaceOp(
        op, call.emit("moe_cc_mean_rows_f32", describeGraphOp(op, "")));
    return success();
  }
};

/// Whether `value` is a graph input's data, maybe (un)squeezed or reshaped
/// (not shape arithmetic, which stays on the host).
bool isInputData(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    if (!isa<onnx::UnsqueezeOp, onnx::SqueezeOp, onnx::ReshapeOp>(def))
      return false;
    value = def->getOperand(0);
  }
  return true;
}

/// onnx.cast between f32 and f16 or bf16 (a 16-bit model's layers
/// computed in f32: moe-widen-half), or from an int64 / int32 graph input
/// to f32 (HF's rotary embedding casts its position_ids: on the device,
/// the input stays there).
struct CastToCuda : RuntimePattern<onnx::CastOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(onnx::CastOp op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getInput();
    Type from = getElementTypeOrSelf(x.getType()),
         to = getElementTypeOrSelf(op.getType());
    int32_t kind = from.isF16() && to.isF32()    ? MOE_CUDA_CAST_F16_TO_F32
                   : from.isF32() && to.isF16()  ? MOE_CUDA_CAST_F32_TO_F16
                   : from.isBF16() && to.isF32() ? MOE_CUDA_CAST_BF16_TO_F32
                   : from.isF32() && to.isBF16() ? MOE_CUDA_CAST_F32_TO_BF16
                   : from.isInteger(64) && to.isF32() ? MOE_CUDA_CAST_I64_TO_F32
                   : from.isInteger(32) && to.isF32() ? MOE_CUDA_CAST_I32_TO_F32
                                                      : -1;
    if (kind < 0 || ((kind == MOE_CUDA_CAST_I64_TO_F32 ||
                      kind == MOE_CUDA_CAST_I32_TO_F32) &&
                     !isInputData(x)))
      return rewriter.notifyMatchFailure(
          op, "not between f32 and 16 bits, nor int64/int32 input to f32");
    if (onlyConstants(x))
      return rewriter.notifyMatchFailure(
          op, "weights: moe-fold-weights widens them at compile time");
    replaceByElementwiseCall(rewriter, op, this->numThreads, kind, x,
                             "moe_cc_cast");
    return success();
  }
};

/// `mean` = reduce_mean(x * x or x ^ 2) over x's last axis, keeping it.
bool isMeanSquareOf(Value mean, Value x) {
  auto reduce = mean.getDefiningOp<onnx::ReduceMeanOp>();
  auto type = cast<RankedTensorType>(x.getType());
  if (!reduce || !reduce.getKeepdims() || type.getRank() < 1 ||
      reduce.getAxes() != ArrayRef<int64_t>{type.getRank() - 1})
    return false;
  Value square = reduce.getInput();
  if (auto pow = square.getDefiningOp<onnx::PowOp>())
    return pow.getLhs() == x && scalarConstant(pow.getRhs()) == 2.0;
  if (auto mul = square.getDefiningOp<onnx::MulOp>())
    return mul.getLhs() == x && mul.getRhs() == x;
  return false;
}

/// `root` = RMS normalization of x over its last axis, as exporters write
/// it: x * (1 / sqrt(mean(x^2) + eps)) (either operand order) or
/// x / sqrt(mean(x^2) + eps). Returns x and eps.
std::optional<std::pair<Value, double>> matchRmsNorm(Value root) {
  auto sqrtOfMeanPlusEps = [](Value value, Value x) -> std::optional<double> {
    auto sqrt = value.getDefiningOp<onnx::SqrtOp>();
    auto add =
        sqrt ? sqrt.getInput().getDefiningOp<onnx::AddOp>() : onnx::AddOp();
    if (!add)
      return std::nullopt;
    for (auto [mean, eps] : {std::pair(add.getLhs(), add.getRhs()),
                             std::pair(add.getRhs(), add.getLhs())})
      if (std::optional<double> value = scalarConstant(eps);
          value && isMeanSquareOf(mean, x))
        return value;
    return std::nullopt;
  };
  if (auto div = root.getDefiningOp<onnx::DivOp>()) {
    if (std::optional<double> eps =
            sqrtOfMeanPlusEps(div.getRhs(), div.getLhs()))
      return std::pair(div.getLhs(), *eps);
    return std::nullopt;
  }
  auto mul = root.getDefiningOp<onnx::MulOp>();
  if (!mul)
    return std::nullopt;
  for (auto [x, scale] : {std::pair(mul.getLhs(), mul.getRhs()),
                          std::pair(mul.getRhs(), mul.getLhs())}) {
    auto reciprocal = scale.getDefiningOp<onnx::DivOp>();
    if (!reciprocal || scalarConstant(reciprocal.getLhs()) != 1.0)
      continue;
    if (std::optional<double> eps = sqrtOfMeanPlusEps(reciprocal.getRhs(), x))
      return std::pair(x, *eps);
  }
  return std::nullopt;
}

/// A constant that scales x's last axis: f32, [cols] or [1, .., cols] of
/// rank at most x's.
bool isRowScale(Value weight, Value x) {
  auto type = cast<RankedTensorType>(weight.getType());
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t cols = xType.getDimSize(xType.getRank() - 1);
  if (!matchPattern(weight, m_Constant()) || !isF32(weight) ||
      ShapedType::isDynamic(cols) || type.getRank() < 1 ||
      type.getRank() > xType.getRank() || type.getNumElements() != cols)
    return false;
  return type.getDimSize(type.getRank() - 1) == cols;
}

/// An RMS norm (and the weight that scales its result, when one does) at
/// `op` (a mul or div) to moe_cuda_cc_rms_norm_f32 (_bf16 / _f16 when its
/// readers round it: roundedByReaders): rows = the product of x's leading
/// dims.
LogicalResult rewriteRmsNorm(Operation *op, PatternRewriter &rewriter,
                             int32_t numThreads, const MatmulWeights &weights) {
  Value root = op->getResult(0), weight;
  std::optional<std::pair<Value, double>> norm = matchRmsNorm(root);
  if (auto mul = dyn_cast<onnx::MulOp>(op); !norm && mul) {
    // weight * norm(x): the weight rides in the call.
    for (auto [w, normed] : {std::pair(mul.getLhs(), mul.getRhs()),
                             std::pair(mul.getRhs(), mul.getLhs())})
      if ((norm = matchRmsNorm(normed)) && normed.hasOneUse() &&
          isRowScale(w, norm->first)) {
        weight = w;
        break;
      }
    if (!weight)
      norm.reset();
  } else if (norm && root.hasOneUse()) {
    // Leave a norm that a weight scales to the weight's match.
    auto user = dyn_cast<onnx::MulOp>(*root.getUsers().begin());
    if (user &&
        isRowScale(user.getLhs() == root ? user.getRhs() : user.getLhs(),
                   norm->first))
      return failure();
  }
  if (!norm)
    return failure();
  Value x = norm->first;
  if (!isF32(x) || root.getType() != x.getType())
    return rewriter.notifyMatchFailure(op, "needs f32, x's shape");
  if (weight)
    preloadIfConstant(rewriter, op, weight, numThreads);
  // x = a + b of x's shape (a residual add before the norm): one call
  // computes both, placed at the add so that its other users (the
  // residual stream) read the call's sum. The weight, a constant, is
  // defined there already: the greedy driver hoists constants to the top.
  auto add = x.getDefiningOp<onnx::AddOp>();
  if (add && (add.getLhs().getType() != x.getType() ||
              add.getRhs().getType() != x.getType()))
    add = nullptr;
  if (add)
    rewriter.setInsertionPoint(add);
  RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
  SmallVector<Value> sizes = dimSizes(call, add ? add.getLhs() : x);
  SmallVector<Value> leading(sizes.begin(), sizes.end() - 1);
  call.addInput(add ? add.getLhs() : x);
  call.addInput(add ? add.getRhs() : Value());
  call.addI64(product(call, leading));
  call.addI64(sizes.back());
  call.addF32(norm->second);
  call.addInput(weight);
  if (add)
    call.addOutput(x, sizes);
  else
    call.addInput(Value()); // no sum
  Value normed = op->getResult(0);
  Type rounded = roundedByReaders(normed, weights);
  auto type = cast<RankedTensorType>(normed.getType());
  call.addOutput(
      rounded ? RankedTensorType::get(type.getShape(), rounded) : type, sizes);
  SmallVector<Value> results =
      call.emit(!rounded           ? "moe_cc_rms_norm_f32"
                : rounded.isBF16() ? "moe_cc_rms_norm_bf16"
                                   : "moe_cc_rms_norm_f16",
                describeGraphOp(op, ""));
  if (add)
    rewriter.replaceOp(add, results.front());
  if (!rounded) {
    rewriter.replaceOp(op, results.back());
    return success();
  }
  rewriter.replaceOp(
      op, roundedForReaders(rewriter, weights, normed, results.back()));
  return success();
}

template <typename OpTy> struct RmsNormToCuda : RuntimePattern<OpTy> {
  RmsNormToCuda(MLIRContext *context, int32_t numThreads,
                const MatmulWeights &weights)
      : RuntimePattern<OpTy>(context, numThreads, RuntimeTarget::CUDA),
        weights(weights) {}

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    return rewriteRmsNorm(op, rewriter, this->numThreads, weights);
  }

  MatmulWeights weights;
};

struct ConvertElementwiseToCudaPass
    : mlir::moe::impl::ConvertElementwiseToCudaPassBase<
          ConvertElementwiseToCudaPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *context = &getContext();
    // int8 is the grouped matmuls' CPU storage (convert-moe-to-runtime
    // refuses it for CUDA); the graph's matmuls keep f32 then.
    std::optional<WeightStorage> storage = parseWeightStorage(weightType);
    if (!storage) {
      getOperation()->emitError()
          << "weight-type must be f32, bf16 or f16, not '" << weightType << "'";
      return signalPassFailure();
    }
    if (*storage == WeightStorage::Int8)
      storage = WeightStorage::F32;
    MatmulWeights weights{*storage};
    // Attention cores first (one call for scores, softmax and values),
    // then norms and scaled matmuls, while their ops are whole.
    RewritePatternSet attention(context);
    populateFusedAttentionPatterns(attention, numThreads, weights);
    if (failed(applyPatternsGreedily(getOperation(), std::move(attention))))
      return signalPassFailure();
    RewritePatternSet norms(context);
    norms.add<RmsNormToCuda<onnx::MulOp>, RmsNormToCuda<onnx::DivOp>>(
        context, numThreads, weights);
    populateFusedAttentionToCudaPatterns(norms, numThreads, weights);
    if (failed(applyPatternsGreedily(getOperation(), std::move(norms))))
      return signalPassFailure();
    RewritePatternSet patterns(context);
    patterns.add<BinaryToCuda<onnx::AddOp, MOE_CUDA_BINARY_ADD>,
                 BinaryToCuda<onnx::SubOp, MOE_CUDA_BINARY_SUB>,
                 BinaryToCuda<onnx::MulOp, MOE_CUDA_BINARY_MUL>,
                 BinaryToCuda<onnx::DivOp, MOE_CUDA_BINARY_DIV>,
                 BinaryToCuda<onnx::PowOp, MOE_CUDA_BINARY_POW>,
                 BinaryToCuda<onnx::MaxOp, MOE_CUDA_BINARY_MAX>,
                 BinaryToCuda<onnx::MinOp, MOE_CUDA_BINARY_MIN>,
                 UnaryToCuda<onnx::NegOp, MOE_CUDA_UNARY_NEG>,
                 UnaryToCuda<onnx::SqrtOp, MOE_CUDA_UNARY_SQRT>,
                 UnaryToCuda<onnx::ExpOp, MOE_CUDA_UNARY_EXP>,
                 UnaryToCuda<onnx::TanhOp, MOE_CUDA_UNARY_TANH>,
                 UnaryToCuda<onnx::SigmoidOp, MOE_CUDA_UNARY_SIGMOID>,
                 UnaryToCuda<onnx::ReluOp, MOE_CUDA_UNARY_RELU>,
                 UnaryToCuda<onnx::ErfOp, MOE_CUDA_UNARY_ERF>,
                 UnaryToCuda<onnx::CosOp, MOE_CUDA_UNARY_COS>,
                 UnaryToCuda<onnx::SinOp, MOE_CUDA_UNARY_SIN>, MeanRowsToCuda>(
        context, numThreads, RuntimeTarget::CUDA);
    populateAttentionToCudaPatterns(patterns, numThreads, weights);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // Casts last: the calls before look through the ones they fold (a
    // 16-bit concat's rounded inputs, a norm's widened rounded output),
    // which are gone by now unless something else reads them.
    RewritePatternSet casts(context);
    casts.add<CastToCuda>(context, numThreads, RuntimeTarget::CUDA);
    if (failed(applyPatternsGreedily(getOperation(), std::move(casts))))
      return signalPassFailure();
  }
};

} // namespace
