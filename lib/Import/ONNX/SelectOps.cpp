//===- SelectOps.cpp - Builders for comparison, selection and einsum ------===//

#include "NodeContext.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_import;

static FailureOr<SmallVector<int64_t>>
broadcastInputs(NodeContext &ctx, ArrayRef<unsigned> inputs) {
  SmallVector<int64_t> shape;
  for (unsigned i : inputs) {
    FailureOr<SmallVector<int64_t>> next =
        moe::onnx::broadcastShapes(shape, ctx.inputType(i).getShape());
    if (failed(next))
      return ctx.emitError() << "input shapes do not broadcast (input #" << i
                             << " is " << formatShape(ctx.inputType(i).getShape())
                             << ")";
    shape = *next;
  }
  return shape;
}

/// Equal, Greater, Less, GreaterOrEqual, LessOrEqual.
template <typename OpTy> static LogicalResult buildCompare(NodeContext &ctx) {
  FailureOr<Value> lhs = ctx.requiredInput(0), rhs = ctx.requiredInput(1);
  if (failed(lhs) || failed(rhs))
    return failure();
  Type element = ctx.inputType(0).getElementType();
  if (element != ctx.inputType(1).getElementType())
    return ctx.emitError() << "input element types differ: " << element
                           << " and " << ctx.inputType(1).getElementType();
  // The lowering compares floats and signless (signed) integers; unsigned
  // ones (uint8: quantized weights) would compare as signed.
  if (element.isUnsignedInteger())
    return ctx.emitError() << "unsupported element type " << element
                           << " (comparisons take floats, signed integers "
                              "and bool)";
  FailureOr<SmallVector<int64_t>> shape = broadcastInputs(ctx, {0, 1});
  if (failed(shape))
    return failure();
  return ctx.setOutput(
      0, OpTy::create(ctx.b, RankedTensorType::get(*shape, ctx.b.getI1Type()),
                      *lhs, *rhs));
}

static LogicalResult buildWhere(NodeContext &ctx) {
  FailureOr<Value> cond = ctx.requiredInput(0), x = ctx.requiredInput(1),
                   y = ctx.requiredInput(2);
  if (failed(cond) || failed(x) || failed(y))
    return failure();
  if (!ctx.inputType(0).getElementType().isInteger(1))
    return ctx.emitError() << "condition must be bool";
  if (ctx.inputType(1).getElementType() != ctx.inputType(2).getElementType())
    return ctx.emitError() << "x and y must have one element type";
  FailureOr<SmallVector<int64_t>> shape = broadcastInputs(ctx, {0, 1, 2});
  if (failed(shape))
    return failure();
  return ctx.setOutput(0, moe::onnx::WhereOp::create(
                              ctx.b, ctx.inputType(1).clone(*shape), *cond, *x, *y));
}

static LogicalResult buildNot(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  if (failed(input))
    return failure();
  if (!ctx.inputType(0).getElementType().isInteger(1))
    return ctx.emitError() << "input must be bool";
  return ctx.setOutput(0, moe::onnx::NotOp::create(ctx.b, *input));
}

static LogicalResult buildClip(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  if (failed(input))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  Value lo, hi;
  if (ctx.opsetVersion < 11) {
    auto scalar = [&](float value) -> Value {
      auto scalarType = RankedTensorType::get({}, type.getElementType());
      return arith::ConstantOp::create(
          ctx.b, DenseElementsAttr::get(scalarType,
                                        ctx.b.getFloatAttr(type.getElementType(), value)));
    };
    FailureOr<float> minValue =
        ctx.floatAttr("min", -std::numeric_limits<float>::max());
    FailureOr<float> maxValue =
        ctx.floatAttr("max", std::numeric_limits<float>::max());
    if (failed(minValue) || failed(maxValue))
      return failure();
    lo = scalar(*minValue);
    hi = scalar(*maxValue);
  } else {
    lo = ctx.input(1);
    hi = ctx.input(2);
  }
  for (Value bound : {lo, hi})
    if (bound && (cast<RankedTensorType>(bound.getType()).getRank() != 0 ||
                  getElementTypeOrSelf(bound.getType()) != type.getElementType()))
      return ctx.emitError() << "min and max must be scalars of the input's "
                                "element type";
  return ctx.setOutput(0, moe::onnx::ClipOp::create(ctx.b, type, *input, lo, hi));
}

static LogicalResult buildTrilu(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<int64_t> upper = ctx.intAttr("upper", 1);
  if (failed(input) || failed(upper))
    return failure();
  if (ctx.inputType(0).getRank() < 2)
    return ctx.emitError() << "the input must have at least two dims";
  Value k = ctx.input(1);
  if (k) {
    auto type = cast<RankedTensorType>(k.getType());
    if (!type.getElementType().isInteger(64) || type.getRank() > 1 ||
        type.getNumElements() != 1)
      return ctx.emitError() << "k (input #1) must be one i64 value";
  }
  return ctx.setOutput(
      0, moe::onnx::TriluOp::create(ctx.b, ctx.inputType(0), *input, k,
                                    ctx.b.getBoolAttr(*upper != 0)));
}

static LogicalResult buildGelu(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<std::string> approximate = ctx.stringAttr("approximate", "none");
  if (failed(input) || failed(approximate))
    return failure();
  if (*approximate != "none" && *approximate != "tanh")
    return ctx.emitError() << "approximate must be \"none\" or \"tanh\"";
  return ctx.setOutput(0, moe::onnx::GeluOp::create(
                              ctx.b, *input, ctx.b.getStringAttr(*approximate)));
}

static LogicalResult buildSwish(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<float> alpha = ctx.floatAttr("alpha", 1.0f);
  if (failed(input) || failed(alpha))
    return failure();
  return ctx.setOutput(0, moe::onnx::SwishOp::create(
                              ctx.b, *input, ctx.b.getF32FloatAttr(*alpha)));
}

static LogicalResult buildArgMax(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<int64_t> axisAttr = ctx.intAttr("axis", 0),
                     keepdims = ctx.intAttr("keepdims", 1),
                     last = ctx.intAttr("select_last_index", 0);
  if (failed(input) || failed(axisAttr) || failed(keepdims) || failed(last))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(*axisAttr, type.getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(type.getShape());
  if (*keepdims)
    shape[*axis] = 1;
  else
    shape.erase(shape.begin() + *axis);
  return ctx.setOutput(0, moe::onnx::ArgMaxOp::create(
                              ctx.b, RankedTensorType::get(shape, ctx.b.getI64Type()),
                              *input, ctx.b.getI64IntegerAttr(*axis),
                              ctx.b.getBoolAttr(*keepdims), ctx.b.getBoolAttr(*last)));
}

static LogicalResult buildGatherElements(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0), indices = ctx.requiredInput(1);
  FailureOr<int64_t> axisAttr = ctx.intAttr("axis", 0);
  if (failed(input) || failed(indices) || failed(axisAttr))
    return failure();
  RankedTensorType type = ctx.inputType(0), indexType = ctx.inputType(1);
  FailureOr<int64_t> axis = ctx.normalizeAxis(*axisAttr, type.getRank());
  if (failed(axis))
    return failure();
  if (indexType.getRank() != type.getRank())
    return ctx.emitError() << "indices must have the data's rank";
  if (!indexType.getElementType().isInteger(32) &&
      !indexType.getElementType().isInteger(64))
    return ctx.emitError() << "indices must be int32 or int64";
  return ctx.setOutput(0, moe::onnx::GatherElementsOp::create(
                              ctx.b, type.clone(indexType.getShape()), *input,
                              *indices, ctx.b.getI64IntegerAttr(*axis)));
}

/// indices.shape[:-1] + data.shape[m:] for GatherND/ScatterND.
static FailureOr<SmallVector<int64_t>> ndShape(NodeContext &ctx) {
  FailureOr<int64_t> batchDims = ctx.intAttr("batch_dims", 0);
  if (failed(batchDims))
    return failure();
  if (*batchDims != 0)
    return ctx.emitError() << "batch_dims = " << *batchDims
                           << " is not supported (0 only)";
  RankedTensorType type = ctx.inputType(0), indexType = ctx.inputType(1);
  if (!indexType.getElementType().isInteger(64))
    return ctx.emitError() << "indices must be int64";
  if (indexType.getRank() < 1 || indexType.isDynamicDim(indexType.getRank() - 1))
    return ctx.emitError() << "the last dim of indices must be static";
  int64_t m = indexType.getShape().back();
  if (m < 1 || m > type.getRank())
    return ctx.emitError() << "index rows of length " << m
                           << " do not fit data of rank " << type.getRank();
  SmallVector<int64_t> shape(indexType.getShape().drop_back());
  llvm::append_range(shape, type.getShape().drop_front(m));
  return shape;
}

static LogicalResult buildGatherND(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0), indices = ctx.requiredInput(1);
  if (failed(input) || failed(indices))
    return failure();
  FailureOr<SmallVector<int64_t>> shape = ndShape(ctx);
  if (failed(shape))
    return failure();
  return ctx.setOutput(0, moe::onnx::GatherNDOp::create(
                              ctx.b, ctx.inputType(0).clone(*shape), *input, *indices));
}

static LogicalResult buildScatterND(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0), indices = ctx.requiredInput(1),
                   updates = ctx.requiredInput(2);
  FailureOr<std::string> reduction = ctx.stringAttr("reduction", "none");
  if (failed(input) || failed(indices) || failed(updates) || failed(reduction))
    return failure();
  if (*reduction != "none" && *reduction != "add")
    return ctx.emitError() << "reduction '" << *reduction
                           << "' is not supported (none, add)";
  FailureOr<SmallVector<int64_t>> shape = ndShape(ctx);
  if (failed(shape))
    return failure();
  if (ctx.inputType(2).getRank() != static_cast<int64_t>(shape->size()) ||
      ctx.inputType(2).getElementType() != ctx.inputType(0).getElementType())
    return ctx.emitError() << "updates must be " << formatShape(*shape)
                           << " of the data's element type";
  return ctx.setOutput(0, moe::onnx::ScatterNDOp::create(
                              ctx.b, ctx.inputType(0), *input, *indices, *updates,
                              ctx.b.getStringAttr(*reduction)));
}

static LogicalResult buildEinsum(NodeContext &ctx) {
  FailureOr<std::string> equation = ctx.stringAttr("equation", "");
  if (failed(equation))
    return failure();
  FailureOr<SmallVector<Value>> variadic = ctx.variadicInputs();
  if (failed(variadic))
    return failure();
  SmallVector<Value> &inputs = *variadic;
  // Type the result from the equation: output letters take their sizes
  // from the inputs.
  std::string compact;
  for (char c : *equation)
    if (c != ' ')
      compact += c;
  StringRef eq(compact);
  if (!eq.contains("->") || eq.contains("."))
    return ctx.emitError() << "equation \"" << *equation
                           << "\" is not supported (an explicit '->' and no "
                              "ellipsis are required)";
  auto [lhs, rhs] = eq.split("->");
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (terms.size() != inputs.size())
    return ctx.emitError() << "equation has " << terms.size()
                           << " input terms for " << inputs.size() << " inputs";
  SmallVector<int64_t> shape;
  for (char c : rhs) {
    int64_t size = ShapedType::kDynamic;
    for (auto [term, input] : llvm::zip(terms, inputs)) {
      size_t pos = term.find(c);
      auto type = cast<RankedTensorType>(input.getType());
      if (pos != StringRef::npos && pos < static_cast<size_t>(type.getRank()) &&
          !type.isDynamicDim(pos))
        size = type.getDimSize(pos);
    }
    shape.push_back(size);
  }
  return ctx.setOutput(0, moe::onnx::EinsumOp::create(
                              ctx.b, ctx.inputType(0).clone(shape), inputs,
                              ctx.b.getStringAttr(compact)));
}

ArrayRef<OpEntry> mlir::moe::onnx_import::getSelectOpEntries() {
  static const OpEntry entries[] = {
      {"", "Equal", 7, buildCompare<moe::onnx::EqualOp>},
      {"", "Greater", 7, buildCompare<moe::onnx::GreaterOp>},
      {"", "Less", 7, buildCompare<moe::onnx::LessOp>},
      {"", "GreaterOrEqual", 12, buildCompare<moe::onnx::GreaterOrEqualOp>},
      {"", "LessOrEqual", 12, buildCompare<moe::onnx::LessOrEqualOp>},
      {"", "Where", 9, buildWhere},
      {"", "Not", 1, buildNot},
      {"", "Clip", 6, buildClip},
      {"", "Gelu", 20, buildGelu},
      {"", "Trilu", 14, buildTrilu},
      {"", "Swish", 24, buildSwish},
      {"", "ArgMax", 1, buildArgMax},
      {"", "GatherElements", 11, buildGatherElements},
      {"", "GatherND", 11, buildGatherND},
      {"", "ScatterND", 11, buildScatterND},
      {"", "Einsum", 12, buildEinsum},
  };
  return entries;
}
