//===- Elementwise.cpp - Elementwise onnx ops to linalg.generic -----------===//

#include "Patterns.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_lowering;

namespace {

/// The scalar math of a binary op; null when the element type is not
/// supported.
using BinaryFn = Value (*)(ImplicitLocOpBuilder &, Value, Value);

template <typename OpTy>
struct BinaryLowering : OpRewritePattern<OpTy> {
  BinaryLowering(MLIRContext *context, BinaryFn floatFn, BinaryFn intFn)
      : OpRewritePattern<OpTy>(context), floatFn(floatFn), intFn(intFn) {}

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    auto resultType = cast<RankedTensorType>(op.getType());
    Type elementType = resultType.getElementType();
    BinaryFn fn = isa<FloatType>(elementType) ? floatFn : intFn;
    if (!fn)
      return rewriter.notifyMatchFailure(op, "unsupported element type");
    TensorBuilder tb(rewriter, op.getLoc());
    Value result = broadcastElementwise(
        tb, {op.getLhs(), op.getRhs()}, resultType,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          return fn(nb, args[0], args[1]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }

  BinaryFn floatFn, intFn;
};

template <typename ArithOp>
Value binary(ImplicitLocOpBuilder &b, Value x, Value y) {
  return ArithOp::create(b, x, y);
}

/// Unary float ops: one scalar function each.
template <typename OpTy>
struct UnaryLowering : OpRewritePattern<OpTy> {
  using Fn = Value (*)(ImplicitLocOpBuilder &, Value);
  UnaryLowering(MLIRContext *context, Fn fn)
      : OpRewritePattern<OpTy>(context), fn(fn) {}

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    auto type = cast<RankedTensorType>(op.getType());
    unsigned rank = type.getRank();
    SmallVector<unsigned> identity = llvm::to_vector(llvm::seq(0u, rank));
    Value result = tb.map({op.getInput()}, {identity},
                          tb.empty(mixedSizes(tb, op.getInput()),
                                   type.getElementType()),
                          [&](ImplicitLocOpBuilder &nb, ValueRange args) {
                            return fn(nb, args[0]);
                          });
    rewriter.replaceOp(op, result);
    return success();
  }

  Fn fn;
};

template <typename MathOp>
Value unary(ImplicitLocOpBuilder &b, Value x) {
  return MathOp::create(b, x);
}

Value relu(ImplicitLocOpBuilder &b, Value x) {
  return arith::MaximumFOp::create(b, x, constF(b, x.getType(), 0.0));
}

Value sigmoidFn(ImplicitLocOpBuilder &b, Value x) { return sigmoid(b, x); }

struct CastLowering : OpRewritePattern<onnx::CastOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::CastOp op,
                                PatternRewriter &rewriter) const override {
    TensorBuilder tb(rewriter, op.getLoc());
    auto type = cast<RankedTensorType>(op.getType());
    Type from = getElementTypeOrSelf(op.getInput().getType());
    Type to = type.getElementType();
    unsigned rank = type.getRank();
    SmallVector<unsigned> identity = llvm::to_vector(llvm::seq(0u, rank));
    Value result = tb.map(
        {op.getInput()}, {identity},
        tb.empty(mixedSizes(tb, op.getInput()), to),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value x = args[0];
          bool fromFloat = isa<FloatType>(from), toFloat = isa<FloatType>(to);
          // Bool: non-zero is true; true is 1.
          if (to.isInteger(1))
            return fromFloat
                       ? Value(arith::CmpFOp::create(nb, arith::CmpFPredicate::UNE,
                                                     x, constF(nb, from, 0.0)))
                       : Value(arith::CmpIOp::create(nb, arith::CmpIPredicate::ne,
                                                     x, constI(nb, from, 0)));
          if (from.isInteger(1))
            return toFloat ? Value(arith::UIToFPOp::create(nb, to, x))
                           : Value(arith::ExtUIOp::create(nb, to, x));
          if (fromFloat && toFloat)
            return from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth()
                       ? Value(arith::ExtFOp::create(nb, to, x))
                       : Value(arith::TruncFOp::create(nb, to, x));
          if (fromFloat)
            return arith::FPToSIOp::create(nb, to, x);
          if (toFloat)
            return arith::SIToFPOp::create(nb, to, x);
          return castInt(nb, x, to);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void onnx_lowering::populateElementwisePatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  patterns.add<BinaryLowering<onnx::AddOp>>(context, binary<arith::AddFOp>,
                                            binary<arith::AddIOp>);
  patterns.add<BinaryLowering<onnx::SubOp>>(context, binary<arith::SubFOp>,
                                            binary<arith::SubIOp>);
  patterns.add<BinaryLowering<onnx::MulOp>>(context, binary<arith::MulFOp>,
                                            binary<arith::MulIOp>);
  patterns.add<BinaryLowering<onnx::DivOp>>(context, binary<arith::DivFOp>,
                                            binary<arith::DivSIOp>);
  patterns.add<BinaryLowering<onnx::PowOp>>(context, binary<math::PowFOp>,
                                            nullptr);
  patterns.add<BinaryLowering<onnx::MaxOp>>(
      context, binary<arith::MaximumFOp>, binary<arith::MaxSIOp>);
  patterns.add<BinaryLowering<onnx::MinOp>>(
      context, binary<arith::MinimumFOp>, binary<arith::MinSIOp>);
  patterns.add<UnaryLowering<onnx::NegOp>>(context, unary<arith::NegFOp>);
  patterns.add<UnaryLowering<onnx::SigmoidOp>>(context, sigmoidFn);
  patterns.add<UnaryLowering<onnx::ReluOp>>(context, relu);
  patterns.add<UnaryLowering<onnx::TanhOp>>(context, unary<math::TanhOp>);
  patterns.add<UnaryLowering<onnx::ErfOp>>(context, unary<math::ErfOp>);
  patterns.add<UnaryLowering<onnx::SqrtOp>>(context, unary<math::SqrtOp>);
  patterns.add<UnaryLowering<onnx::ExpOp>>(context, unary<math::ExpOp>);
  patterns.add<UnaryLowering<onnx::CosOp>>(context, unary<math::CosOp>);
  patterns.add<UnaryLowering<onnx::SinOp>>(context, unary<math::SinOp>);
  patterns.add<CastLowering>(context);
}
