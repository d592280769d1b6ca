//===- StandardOps.cpp - Builders for default-domain ONNX ops -------------===//
//
// One small builder per ONNX operator, registered in the table at the end
// by (op_type, since-opset). Builders type their results with the shape
// rules of the onnx dialect and report bad input naming the node.
//
//===----------------------------------------------------------------------===//

#include "NodeContext.h"
#include "TensorImport.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_import;

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// Builds `OpTy` over all inputs, folding left (Max and Min are variadic).
template <typename OpTy>
static LogicalResult buildBinary(NodeContext &ctx) {
  FailureOr<Value> acc = ctx.requiredInput(0);
  if (failed(acc))
    return failure();
  if (ctx.numInputs() < 2 && !std::is_same_v<OpTy, moe::onnx::MaxOp> &&
      !std::is_same_v<OpTy, moe::onnx::MinOp>)
    return ctx.emitError() << "expects 2 inputs, got " << ctx.numInputs();
  Value result = *acc;
  for (unsigned i = 1; i < ctx.numInputs(); ++i) {
    FailureOr<Value> rhs = ctx.requiredInput(i);
    if (failed(rhs))
      return failure();
    auto lhsType = cast<RankedTensorType>(result.getType());
    auto rhsType = cast<RankedTensorType>(rhs->getType());
    if (lhsType.getElementType() != rhsType.getElementType())
      return ctx.emitError() << "input element types differ: "
                             << lhsType.getElementType() << " and "
                             << rhsType.getElementType();
    if (std::is_same_v<OpTy, moe::onnx::PowOp> &&
        !isa<FloatType>(lhsType.getElementType()))
      return ctx.emitError() << "integer Pow is not supported";
    FailureOr<SmallVector<int64_t>> shape =
        moe::onnx::broadcastShapes(lhsType.getShape(), rhsType.getShape());
    if (failed(shape))
      return ctx.emitError() << "input shapes "
                             << formatShape(lhsType.getShape()) << " and "
                             << formatShape(rhsType.getShape())
                             << " do not broadcast";
    result = OpTy::create(ctx.b,
                          RankedTensorType::get(*shape, lhsType.getElementType()),
                          result, *rhs);
  }
  return ctx.setOutput(0, result);
}

template <typename OpTy>
static LogicalResult buildUnary(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  if (failed(input))
    return failure();
  if (!isa<FloatType>(ctx.inputType(0).getElementType()))
    return ctx.emitError() << "expects a floating-point input, got "
                           << ctx.inputType(0).getElementType();
  return ctx.setOutput(0, OpTy::create(ctx.b, *input));
}

static LogicalResult buildIdentity(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  if (failed(input))
    return failure();
  return ctx.setOutput(0, *input);
}

static LogicalResult buildCast(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<int64_t> to = ctx.intAttr("to", -1);
  if (failed(input) || failed(to))
    return failure();
  FailureOr<Type> elementType =
      convertElementType(static_cast<int32_t>(*to), ctx.b.getContext());
  if (failed(elementType))
    return ctx.emitError() << "unsupported target type 'to' = "
                           << onnxTypeName(static_cast<int32_t>(*to));
  RankedTensorType type = ctx.inputType(0);
  if (type.getElementType() == *elementType)
    return ctx.setOutput(0, *input);
  return ctx.setOutput(
      0, moe::onnx::CastOp::create(ctx.b, type.clone(*elementType), *input));
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

static LogicalResult buildConstant(NodeContext &ctx) {
  if (ctx.node.attribute_size() != 1)
    return ctx.emitError() << "expects exactly one attribute holding the value";
  const ::onnx::AttributeProto &attr = ctx.node.attribute(0);
  Builder &b = ctx.b;
  ElementsAttr value;
  if (attr.name() == "value" && attr.type() == ::onnx::AttributeProto::TENSOR) {
    TensorImportOptions options; // Constant nodes hold no external data.
    FailureOr<ElementsAttr> imported = importTensor(
        attr.t(), ctx.b.getLoc(),
        "node '" + ctx.node.name() + "' (Constant) value", options);
    if (failed(imported))
      return failure();
    value = *imported;
  } else if (attr.name() == "value_float") {
    value = DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                                   attr.f());
  } else if (attr.name() == "value_floats") {
    SmallVector<float> values(attr.floats().begin(), attr.floats().end());
    value = DenseElementsAttr::get(
        RankedTensorType::get({static_cast<int64_t>(values.size())},
                              b.getF32Type()),
        ArrayRef<float>(values));
  } else if (attr.name() == "value_int") {
    value = DenseElementsAttr::get(RankedTensorType::get({}, b.getI64Type()),
                                   static_cast<int64_t>(attr.i()));
  } else if (attr.name() == "value_ints") {
    SmallVector<int64_t> values(attr.ints().begin(), attr.ints().end());
    value = DenseElementsAttr::get(
        RankedTensorType::get({static_cast<int64_t>(values.size())},
                              b.getI64Type()),
        ArrayRef<int64_t>(values));
  } else {
    return ctx.emitError() << "unsupported constant attribute '" << attr.name()
                           << "'";
  }
  Value constant = arith::ConstantOp::create(ctx.b, cast<TypedAttr>(value));
  if (failed(ctx.setOutput(0, constant)))
    return failure();
  if (!ctx.node.output(0).empty())
    ctx.state.constants[ctx.node.output(0)] = value;
  return success();
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

static LogicalResult buildMatMul(NodeContext &ctx) {
  FailureOr<Value> lhs = ctx.requiredInput(0), rhs = ctx.requiredInput(1);
  if (failed(lhs) || failed(rhs))
    return failure();
  RankedTensorType lt = ctx.inputType(0), rt = ctx.inputType(1);
  if (lt.getRank() < 2 || rt.getRank() < 2)
    return ctx.emitError() << "1-D MatMul operands are not supported yet";
  if (lt.getElementType() != rt.getElementType() ||
      !isa<FloatType>(lt.getElementType()))
    return ctx.emitError() << "expects two inputs of one floating-point type";
  FailureOr<SmallVector<int64_t>> shape =
      moe::onnx::matmulShape(lt.getShape(), rt.getShape());
  if (failed(shape))
    return ctx.emitError() << "cannot multiply " << formatShape(lt.getShape())
                           << " by " << formatShape(rt.getShape());
  return ctx.setOutput(
      0, moe::onnx::MatMulOp::create(
             ctx.b, RankedTensorType::get(*shape, lt.getElementType()), *lhs,
             *rhs));
}

static LogicalResult buildGemm(NodeContext &ctx) {
  FailureOr<Value> a = ctx.requiredInput(0), b = ctx.requiredInput(1);
  FailureOr<int64_t> transA = ctx.intAttr("transA", 0),
                     transB = ctx.intAttr("transB", 0);
  FailureOr<float> alpha = ctx.floatAttr("alpha", 1.0f),
                   beta = ctx.floatAttr("beta", 1.0f);
  if (failed(a) || failed(b) || failed(transA) || failed(transB) ||
      failed(alpha) || failed(beta))
    return failure();
  RankedTensorType at = ctx.inputType(0), bt = ctx.inputType(1);
  if (at.getRank() != 2 || bt.getRank() != 2)
    return ctx.emitError() << "inputs A and B must be 2-D";
  int64_t m = at.getDimSize(*transA ? 1 : 0), ka = at.getDimSize(*transA ? 0 : 1);
  int64_t kb = bt.getDimSize(*transB ? 1 : 0), n = bt.getDimSize(*transB ? 0 : 1);
  if (!ShapedType::isDynamic(ka) && !ShapedType::isDynamic(kb) && ka != kb)
    return ctx.emitError() << "inner dims differ: " << ka << " vs " << kb;
  Value c = ctx.input(2);
  if (c) {
    FailureOr<SmallVector<int64_t>> shape =
        moe::onnx::broadcastShapes({m, n}, ctx.inputType(2).getShape());
    if (failed(shape) || shape->size() != 2)
      return ctx.emitError() << "input C of shape "
                             << formatShape(ctx.inputType(2).getShape())
                             << " does not broadcast to " << formatShape({m, n});
  }
  auto op = moe::onnx::GemmOp::create(
      ctx.b, RankedTensorType::get({m, n}, at.getElementType()), *a, *b, c,
      ctx.b.getF32FloatAttr(*alpha), ctx.b.getF32FloatAttr(*beta),
      *transA ? ctx.b.getUnitAttr() : UnitAttr(),
      *transB ? ctx.b.getUnitAttr() : UnitAttr());
  return ctx.setOutput(0, op);
}

//===----------------------------------------------------------------------===//
// Normalization and layout
//===----------------------------------------------------------------------===//

static LogicalResult buildSoftmax(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  if (failed(input))
    return failure();
  int64_t rank = ctx.inputType(0).getRank();
  // Opsets before 13 default to axis 1 and flatten to 2-D around it; that
  // matches the single-axis form only when the axis is the last one.
  FailureOr<int64_t> axis =
      ctx.intAttr("axis", ctx.opsetVersion >= 13 ? -1 : 1);
  if (failed(axis))
    return failure();
  FailureOr<int64_t> normalized = ctx.normalizeAxis(*axis, rank);
  if (failed(normalized))
    return failure();
  if (ctx.opsetVersion < 13 && *normalized != rank - 1)
    return ctx.emitError() << "opset " << ctx.opsetVersion
                           << " Softmax over a non-last axis (flattening "
                              "semantics) is not supported";
  return ctx.setOutput(0, moe::onnx::SoftmaxOp::create(
                              ctx.b, *input,
                              ctx.b.getI64IntegerAttr(*normalized)));
}

static LogicalResult buildTranspose(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<SmallVector<int64_t>> perm = ctx.intsAttr("perm");
  if (failed(input) || failed(perm))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  if (perm->empty())
    for (int64_t i = type.getRank() - 1; i >= 0; --i)
      perm->push_back(i);
  if (static_cast<int64_t>(perm->size()) != type.getRank())
    return ctx.emitError() << "perm has " << perm->size()
                           << " entries for an input of rank "
                           << type.getRank();
  SmallVector<int64_t> shape;
  SmallVector<bool> seen(type.getRank(), false);
  for (int64_t p : *perm) {
    if (p < 0 || p >= type.getRank() || seen[p])
      return ctx.emitError() << "perm is not a permutation of [0, "
                             << type.getRank() << ")";
    seen[p] = true;
    shape.push_back(type.getDimSize(p));
  }
  return ctx.setOutput(
      0, moe::onnx::TransposeOp::create(ctx.b, type.clone(shape), *input,
                                   ctx.b.getDenseI64ArrayAttr(*perm)));
}

/// The dims a run-time reshape target still fixes: exporters write
/// view(b, t, -1, head_dim) as a Concat of 1-element pieces, the constant
/// ones a dim (> 0) or the input's (0, when static). Dims the rest of the
/// graph can rely on (a head norm's weight, the heads' width).
static SmallVector<int64_t>
knownReshapeDims(Value shape, RankedTensorType input, int64_t rank) {
  SmallVector<int64_t> dims(rank, ShapedType::kDynamic);
  auto concat = shape.getDefiningOp<moe::onnx::ConcatOp>();
  if (!concat || static_cast<int64_t>(concat.getInputs().size()) != rank)
    return dims;
  for (auto [d, piece] : llvm::enumerate(concat.getInputs())) {
    DenseIntElementsAttr value;
    if (!matchPattern(piece, m_Constant(&value)) || value.getNumElements() != 1)
      continue;
    int64_t entry = (*value.begin()).getSExtValue();
    if (entry > 0)
      dims[d] = entry;
    else if (entry == 0 && static_cast<int64_t>(d) < input.getRank())
      dims[d] = input.getDimSize(d);
  }
  return dims;
}

static LogicalResult buildReshape(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0), shapeInput = ctx.requiredInput(1);
  FailureOr<int64_t> allowZero = ctx.intAttr("allowzero", 0);
  if (failed(input) || failed(shapeInput) || failed(allowZero))
    return failure();
  if (*allowZero != 0)
    return ctx.emitError() << "allowzero = 1 is not supported";
  RankedTensorType type = ctx.inputType(0);
  RankedTensorType shapeType = ctx.inputType(1);
  if (shapeType.getRank() != 1 || shapeType.isDynamicDim(0) ||
      !shapeType.getElementType().isInteger(64))
    return ctx.emitError() << "shape (input #1) must be a 1-D i64 tensor of "
                              "static length, got "
                           << shapeType;
  if (std::optional<ElementsAttr> known = ctx.constantInput(1)) {
    FailureOr<SmallVector<int64_t>> target = ctx.constantInts(1, "shape");
    if (failed(target))
      return failure();
    std::string error;
    FailureOr<SmallVector<int64_t>> shape =
        moe::onnx::reshapeShape(type.getShape(), *target, error);
    if (failed(shape))
      return ctx.emitError() << "cannot reshape "
                             << formatShape(type.getShape()) << " to "
                             << formatShape(*target) << ": " << error;
    return ctx.setOutput(
        0, moe::onnx::ReshapeOp::create(ctx.b, type.clone(*shape), *input,
                                        Value(),
                                        ctx.b.getDenseI64ArrayAttr(*target)));
  }
  // A shape computed at run time: its rank, and the dims its constant
  // entries fix.
  SmallVector<int64_t> shape =
      knownReshapeDims(*shapeInput, type, shapeType.getDimSize(0));
  return ctx.setOutput(0, moe::onnx::ReshapeOp::create(
                              ctx.b, type.clone(shape), *input, *shapeInput,
                              DenseI64ArrayAttr()));
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

/// Y = X / sqrt(mean(X^2 over dims [axis, rank)) + epsilon) * scale,
/// computed in f32 (the norms' stash_type 1), built as the ops exporters
/// write for it - pow, reduce_mean, add, sqrt, 1 / ., mul, mul - which the
/// CPU lowering fuses like any elementwise chain and --target=cuda matches
/// back into one call. `inverse` receives the 1 / sqrt(...) factor.
static FailureOr<Value> buildRmsNorm(NodeContext &ctx, Value x, Value scale,
                                     int64_t axisAttr, float epsilon,
                                     Value &inverse) {
  auto type = cast<RankedTensorType>(x.getType());
  auto scaleType = cast<RankedTensorType>(scale.getType());
  if (!isa<FloatType>(type.getElementType()) ||
      !isa<FloatType>(scaleType.getElementType()))
    return ctx.emitError() << "expects floating-point inputs";
  FailureOr<int64_t> axis = ctx.normalizeAxis(axisAttr, type.getRank());
  if (failed(axis))
    return failure();
  FailureOr<SmallVector<int64_t>> scaled =
      moe::onnx::broadcastShapes(type.getShape(), scaleType.getShape());
  if (failed(scaled) || ArrayRef<int64_t>(*scaled) != type.getShape())
    return ctx.emitError() << "scale " << formatShape(scaleType.getShape())
                           << " does not broadcast to X "
                           << formatShape(type.getShape());

  ImplicitLocOpBuilder &b = ctx.b;
  Type f32 = b.getF32Type();
  auto toF32 = [&](Value value) -> Value {
    auto valueType = cast<RankedTensorType>(value.getType());
    if (valueType.getElementType() == f32)
      return value;
    return moe::onnx::CastOp::create(b, valueType.clone(f32), value);
  };
  auto scalar = [&](float value) -> Value {
    return arith::ConstantOp::create(
        b, DenseElementsAttr::get(RankedTensorType::get({}, f32), value));
  };
  Value wide = toF32(x);
  auto wideType = cast<RankedTensorType>(wide.getType());
  SmallVector<int64_t> axes, reducedShape(type.getShape());
  for (int64_t d = *axis; d < type.getRank(); ++d) {
    axes.push_back(d);
    reducedShape[d] = 1;
  }
  auto reducedType = wideType.clone(reducedShape);
  Value square = moe::onnx::PowOp::create(b, wideType, wide, scalar(2.0f));
  Value mean = moe::onnx::ReduceMeanOp::create(b, reducedType, square,
                                               b.getDenseI64ArrayAttr(axes),
                                               b.getBoolAttr(true));
  Value variance =
      moe::onnx::AddOp::create(b, reducedType, mean, scalar(epsilon));
  Value root = moe::onnx::SqrtOp::create(b, variance);
  inverse = moe::onnx::DivOp::create(b, reducedType, scalar(1.0f), root);
  Value normed = moe::onnx::MulOp::create(b, wideType, wide, inverse);
  Value y = moe::onnx::MulOp::create(b, wideType, normed, toF32(scale));
  if (type.getElementType() != f32)
    y = moe::onnx::CastOp::create(b, type, y);
  return y;
}

/// RMSNormalization (opset 23) and ONNX Runtime's
/// SimplifiedLayerNormalization (what its graph optimizer fuses an RMS norm
/// into; its optional second output is the 1 / sqrt(...) factor).
static LogicalResult buildRmsNormalization(NodeContext &ctx) {
  FailureOr<Value> x = ctx.requiredInput(0), scale = ctx.requiredInput(1);
  FailureOr<int64_t> axis = ctx.intAttr("axis", -1),
                     stash = ctx.intAttr("stash_type", 1);
  FailureOr<float> epsilon = ctx.floatAttr("epsilon", 1e-5f);
  if (failed(x) || failed(scale) || failed(axis) || failed(stash) ||
      failed(epsilon))
    return failure();
  if (*stash != 1)
    return ctx.emitError() << "only stash_type 1 (float32) is supported, not "
                           << *stash;
  Value inverse;
  FailureOr<Value> y = buildRmsNorm(ctx, *x, *scale, *axis, *epsilon, inverse);
  if (failed(y) || failed(ctx.setOutput(0, *y)))
    return failure();
  return ctx.node.output_size() > 1 ? ctx.setOutput(1, inverse) : success();
}

/// com.microsoft.SkipSimplifiedLayerNormalization (ONNX Runtime's residual
/// add fused with the RMS norm after it): sum = input + skip (+ bias), the
/// norm of sum over its last axis; outputs (y, mean: unused, 1 / sqrt(...),
/// sum).
static LogicalResult buildSkipRmsNormalization(NodeContext &ctx) {
  FailureOr<Value> x = ctx.requiredInput(0), skip = ctx.requiredInput(1),
                   gamma = ctx.requiredInput(2);
  FailureOr<float> epsilon = ctx.floatAttr("epsilon", 1e-5f);
  if (failed(x) || failed(skip) || failed(gamma) || failed(epsilon))
    return failure();
  auto type = cast<RankedTensorType>(x->getType());
  Value sum = *x;
  for (Value addend : {*skip, ctx.input(3)}) {
    if (!addend)
      continue;
    auto addendType = cast<RankedTensorType>(addend.getType());
    FailureOr<SmallVector<int64_t>> shape =
        moe::onnx::broadcastShapes(type.getShape(), addendType.getShape());
    if (addendType.getElementType() != type.getElementType() || failed(shape) ||
        ArrayRef<int64_t>(*shape) != type.getShape())
      return ctx.emitError()
             << "skip or bias " << formatShape(addendType.getShape())
             << " does not broadcast to the input "
             << formatShape(type.getShape());
    sum = moe::onnx::AddOp::create(ctx.b, type, sum, addend);
  }
  Value inverse;
  FailureOr<Value> y = buildRmsNorm(ctx, sum, *gamma, -1, *epsilon, inverse);
  if (failed(y) || failed(ctx.setOutput(0, *y)))
    return failure();
  if (ctx.node.output_size() > 1 && !ctx.node.output(1).empty())
    return ctx.emitError() << "output 1 (mean) is not computed by an RMS norm";
  if (ctx.node.output_size() > 2 && failed(ctx.setOutput(2, inverse)))
    return failure();
  return ctx.node.output_size() > 3 ? ctx.setOutput(3, sum) : success();
}

//===----------------------------------------------------------------------===//
// The table
//===----------------------------------------------------------------------===//

ArrayRef<OpEntry> mlir::moe::onnx_import::getStandardOpEntries() {
  static const OpEntry entries[] = {
      {"", "Add", 7, buildBinary<moe::onnx::AddOp>},
      {"", "Sub", 7, buildBinary<moe::onnx::SubOp>},
      {"", "Mul", 7, buildBinary<moe::onnx::MulOp>},
      {"", "Div", 7, buildBinary<moe::onnx::DivOp>},
      {"", "Pow", 7, buildBinary<moe::onnx::PowOp>},
      {"", "Max", 8, buildBinary<moe::onnx::MaxOp>},
      {"", "Min", 8, buildBinary<moe::onnx::MinOp>},
      {"", "Neg", 6, buildUnary<moe::onnx::NegOp>},
      {"", "Sigmoid", 6, buildUnary<moe::onnx::SigmoidOp>},
      {"", "Relu", 6, buildUnary<moe::onnx::ReluOp>},
      {"", "Tanh", 6, buildUnary<moe::onnx::TanhOp>},
      {"", "Erf", 9, buildUnary<moe::onnx::ErfOp>},
      {"", "Sqrt", 6, buildUnary<moe::onnx::SqrtOp>},
      {"", "Exp", 6, buildUnary<moe::onnx::ExpOp>},
      {"", "Cos", 7, buildUnary<moe::onnx::CosOp>},
      {"", "Sin", 7, buildUnary<moe::onnx::SinOp>},
      {"", "Identity", 1, buildIdentity},
      {"", "Cast", 6, buildCast},
      {"", "Constant", 1, buildConstant},
      {"", "MatMul", 1, buildMatMul},
      {"", "Gemm", 7, buildGemm},
      {"", "Softmax", 1, buildSoftmax},
      {"", "Transpose", 1, buildTranspose},
      {"", "Reshape", 5, buildReshape},
      {"", "RMSNormalization", 23, buildRmsNormalization},
      {"", "SimplifiedLayerNormalization", 1, buildRmsNormalization},
      {"com.microsoft", "SkipSimplifiedLayerNormalization", 1,
       buildSkipRmsNormalization},
  };
  return entries;
}
