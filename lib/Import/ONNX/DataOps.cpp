//===- DataOps.cpp - Builders for shape, indexing and reduction ops -------===//
//
// The ONNX operators that move data: the Shape/Gather/Unsqueeze/Concat
// chains exporters use to compute shapes, slicing and splitting, gathers
// and scatters, one-hot, reductions and TopK. Attributes that later opsets
// turned into inputs (axes, split, k, ...) must be constants and are folded
// back into attributes, one table row per opset form.
//
//===----------------------------------------------------------------------===//

#include "NodeContext.h"

#include "llvm/Support/CheckedArithmetic.h"
#include "TensorImport.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/IR/BuiltinTypes.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_import;

static constexpr int64_t kDyn = ShapedType::kDynamic;

/// Axes normalized against `rank`, sorted; errors on duplicates.
static FailureOr<SmallVector<int64_t>> normalizeAxes(NodeContext &ctx,
                                                     ArrayRef<int64_t> axes,
                                                     int64_t rank) {
  SmallVector<int64_t> result;
  for (int64_t axis : axes) {
    FailureOr<int64_t> normalized = ctx.normalizeAxis(axis, rank);
    if (failed(normalized))
      return failure();
    result.push_back(*normalized);
  }
  llvm::sort(result);
  if (std::adjacent_find(result.begin(), result.end()) != result.end())
    return ctx.emitError() << "axes contain a duplicate";
  return result;
}

/// Axes from the attribute (old opsets) or from constant input `index`.
static FailureOr<SmallVector<int64_t>>
axesFrom(NodeContext &ctx, bool fromInput, unsigned index) {
  if (!fromInput)
    return ctx.intsAttr("axes");
  if (!ctx.input(index))
    return SmallVector<int64_t>();
  return ctx.constantInts(index, "axes");
}

//===----------------------------------------------------------------------===//
// Reshapes
//===----------------------------------------------------------------------===//

static LogicalResult buildUnsqueeze(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<SmallVector<int64_t>> axes =
      axesFrom(ctx, ctx.opsetVersion >= 13, 1);
  if (failed(input) || failed(axes))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  int64_t rank = type.getRank() + axes->size();
  FailureOr<SmallVector<int64_t>> sorted = normalizeAxes(ctx, *axes, rank);
  if (failed(sorted))
    return failure();
  SmallVector<int64_t> shape;
  const int64_t *next = type.getShape().begin();
  for (int64_t d = 0; d < rank; ++d)
    shape.push_back(llvm::is_contained(*sorted, d) ? 1 : *next++);
  return ctx.setOutput(0, moe::onnx::UnsqueezeOp::create(
                              ctx.b, type.clone(shape), *input,
                              ctx.b.getDenseI64ArrayAttr(*sorted)));
}

static LogicalResult buildSqueeze(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<SmallVector<int64_t>> axes =
      axesFrom(ctx, ctx.opsetVersion >= 13, 1);
  if (failed(input) || failed(axes))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  SmallVector<int64_t> sorted;
  if (axes->empty()) {
    for (auto [d, dim] : llvm::enumerate(type.getShape())) {
      if (ShapedType::isDynamic(dim))
        return ctx.emitError() << "cannot squeeze without axes: dim " << d
                               << " is dynamic";
      if (dim == 1)
        sorted.push_back(d);
    }
  } else {
    FailureOr<SmallVector<int64_t>> normalized =
        normalizeAxes(ctx, *axes, type.getRank());
    if (failed(normalized))
      return failure();
    sorted = *normalized;
  }
  SmallVector<int64_t> shape;
  for (auto [d, dim] : llvm::enumerate(type.getShape())) {
    if (!llvm::is_contained(sorted, static_cast<int64_t>(d)))
      shape.push_back(dim);
    else if (!ShapedType::isDynamic(dim) && dim != 1)
      return ctx.emitError() << "cannot squeeze dim " << d << " of size "
                             << dim;
  }
  return ctx.setOutput(0, moe::onnx::SqueezeOp::create(
                              ctx.b, type.clone(shape), *input,
                              ctx.b.getDenseI64ArrayAttr(sorted)));
}

static LogicalResult buildFlatten(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<int64_t> axis = ctx.intAttr("axis", 1);
  if (failed(input) || failed(axis))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  int64_t rank = type.getRank();
  if (*axis < -rank || *axis > rank)
    return ctx.emitError() << "axis " << *axis << " is out of range for rank "
                           << rank;
  int64_t a = *axis < 0 ? *axis + rank : *axis;
  FailureOr<SmallVector<int64_t>> shape =
      moe::onnx::flattenShape(type.getShape(), a);
  if (failed(shape))
    return ctx.emitError() << "the flattened sizes overflow int64";
  return ctx.setOutput(0, moe::onnx::FlattenOp::create(
                              ctx.b, type.clone(*shape), *input,
                              ctx.b.getI64IntegerAttr(a)));
}

//===----------------------------------------------------------------------===//
// Shapes as values
//===----------------------------------------------------------------------===//

static LogicalResult buildShape(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  int64_t rank = ctx.inputType(0) ? ctx.inputType(0).getRank() : 0;
  FailureOr<int64_t> start = ctx.intAttr("start", 0),
                     end = ctx.intAttr("end", rank);
  if (failed(input) || failed(start) || failed(end))
    return failure();
  auto clampIndex = [&](int64_t index) {
    return std::clamp<int64_t>(index < 0 ? index + rank : index, 0, rank);
  };
  int64_t first = clampIndex(*start), last = std::max(first, clampIndex(*end));
  return ctx.setOutput(
      0, moe::onnx::ShapeOp::create(
             ctx.b, RankedTensorType::get({last - first}, ctx.b.getI64Type()),
             *input, ctx.b.getI64IntegerAttr(first),
             ctx.b.getI64IntegerAttr(last)));
}

/// A shape operand's static length, and its values when constant.
static FailureOr<int64_t> shapeOperandRank(NodeContext &ctx, unsigned index) {
  RankedTensorType type = ctx.inputType(index);
  if (!type || type.getRank() != 1 || type.isDynamicDim(0) ||
      !type.getElementType().isInteger(64))
    return ctx.emitError() << "shape (input #" << index
                           << ") must be a 1-D i64 tensor of static length";
  return type.getDimSize(0);
}

static LogicalResult buildRange(NodeContext &ctx) {
  SmallVector<Value> scalars;
  for (unsigned i = 0; i < 3; ++i) {
    FailureOr<Value> input = ctx.requiredInput(i);
    if (failed(input))
      return failure();
    scalars.push_back(*input);
  }
  Type element = ctx.inputType(0).getElementType();
  for (unsigned i = 0; i < 3; ++i) {
    RankedTensorType type = ctx.inputType(i);
    if (type.getRank() != 0 || type.getElementType() != element ||
        !(element.isF32() || element.isInteger(32) || element.isInteger(64)))
      return ctx.emitError()
             << "start, limit and delta must be scalars of one type (float, "
                "int32 or int64)";
  }
  if (std::optional<ElementsAttr> delta = ctx.constantInput(2)) {
    Attribute value = *delta->value_begin<Attribute>();
    bool zero = isa<FloatAttr>(value)
                    ? cast<FloatAttr>(value).getValue().isZero()
                    : cast<IntegerAttr>(value).getInt() == 0;
    if (zero)
      return ctx.emitError() << "delta must not be 0";
  }
  auto type = RankedTensorType::get({kDyn}, element);
  return ctx.setOutput(0, moe::onnx::RangeOp::create(ctx.b, type, scalars[0],
                                                     scalars[1], scalars[2]));
}

static LogicalResult buildConstantOfShape(NodeContext &ctx) {
  FailureOr<Value> shape = ctx.requiredInput(0);
  FailureOr<int64_t> rank = shapeOperandRank(ctx, 0);
  if (failed(shape) || failed(rank))
    return failure();
  TypedAttr value = ctx.b.getF32FloatAttr(0.0f);
  if (const ::onnx::AttributeProto *attr = ctx.attribute("value")) {
    TensorImportOptions options;
    FailureOr<ElementsAttr> tensor =
        importTensor(attr->t(), ctx.b.getLoc(), "attribute 'value'", options);
    if (failed(tensor))
      return failure();
    if (tensor->getNumElements() != 1)
      return ctx.emitError() << "attribute 'value' must hold one element";
    value = cast<TypedAttr>(*tensor->value_begin<Attribute>());
  }
  SmallVector<int64_t> dims(*rank, kDyn);
  if (ctx.constantInput(0)) {
    FailureOr<SmallVector<int64_t>> known = ctx.constantInts(0, "shape");
    if (failed(known))
      return failure();
    dims = *known;
  }
  return ctx.setOutput(0, moe::onnx::ConstantOfShapeOp::create(
                              ctx.b, RankedTensorType::get(dims, value.getType()),
                              *shape, value));
}

static LogicalResult buildExpand(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0), shape = ctx.requiredInput(1);
  FailureOr<int64_t> rank = shapeOperandRank(ctx, 1);
  if (failed(input) || failed(shape) || failed(rank))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  SmallVector<int64_t> target(*rank, kDyn);
  if (ctx.constantInput(1)) {
    FailureOr<SmallVector<int64_t>> known = ctx.constantInts(1, "shape");
    if (failed(known))
      return failure();
    target = *known;
  }
  FailureOr<SmallVector<int64_t>> result =
      moe::onnx::broadcastShapes(type.getShape(), target);
  if (failed(result))
    return ctx.emitError() << "cannot expand " << formatShape(type.getShape())
                           << " to " << formatShape(target);
  // A dynamic target dim against an input dim other than 1 is that dim.
  return ctx.setOutput(0, moe::onnx::ExpandOp::create(
                              ctx.b, type.clone(*result), *input, *shape));
}

static LogicalResult buildConcat(NodeContext &ctx) {
  FailureOr<SmallVector<Value>> variadic = ctx.variadicInputs();
  if (failed(variadic))
    return failure();
  SmallVector<Value> &inputs = *variadic;
  FailureOr<int64_t> axisAttr = ctx.intAttr("axis", 0);
  if (failed(axisAttr))
    return failure();
  RankedTensorType first = ctx.inputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(*axisAttr, first.getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(first.getShape());
  shape[*axis] = 0;
  for (unsigned i = 0; i < inputs.size(); ++i) {
    RankedTensorType type = ctx.inputType(i);
    if (type.getRank() != first.getRank() ||
        type.getElementType() != first.getElementType())
      return ctx.emitError() << "inputs must share rank and element type";
    for (int64_t d = 0; d < type.getRank(); ++d) {
      int64_t dim = type.getDimSize(d);
      if (d == *axis)
        shape[d] = ShapedType::isDynamic(shape[d]) || ShapedType::isDynamic(dim)
                       ? kDyn
                       : shape[d] + dim;
      else if (!ShapedType::isDynamic(dim)) {
        if (!ShapedType::isDynamic(shape[d]) && shape[d] != dim)
          return ctx.emitError() << "inputs differ in dim " << d;
        shape[d] = dim;
      }
    }
  }
  return ctx.setOutput(0, moe::onnx::ConcatOp::create(
                              ctx.b, first.clone(shape), inputs,
                              ctx.b.getI64IntegerAttr(*axis)));
}

//===----------------------------------------------------------------------===//
// Slicing
//===----------------------------------------------------------------------===//

static LogicalResult buildSlice(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  if (failed(input))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  // Starts and ends: attributes before opset 10, inputs after; an input
  // that is not a constant stays an operand evaluated at run time.
  SmallVector<int64_t> starts, ends;
  Value startsTensor, endsTensor;
  FailureOr<SmallVector<int64_t>> axes, steps;
  int64_t count;
  if (ctx.opsetVersion < 10) {
    FailureOr<SmallVector<int64_t>> s = ctx.intsAttr("starts"),
                                    e = ctx.intsAttr("ends");
    if (failed(s) || failed(e))
      return failure();
    starts = *s;
    ends = *e;
    axes = ctx.intsAttr("axes");
    steps = SmallVector<int64_t>();
    count = starts.size();
  } else {
    auto bounds = [&](unsigned index, StringRef what,
                      SmallVector<int64_t> &values,
                      Value &tensor) -> FailureOr<int64_t> {
      RankedTensorType boundsType = ctx.inputType(index);
      if (!boundsType || boundsType.getRank() != 1 ||
          boundsType.isDynamicDim(0) ||
          !boundsType.getElementType().isInteger(64))
        return ctx.emitError() << what << " (input #" << index
                               << ") must be a 1-D int64 tensor of static "
                                  "length";
      if (ctx.constantInput(index)) {
        FailureOr<SmallVector<int64_t>> known = ctx.constantInts(index, what);
        if (failed(known))
          return failure();
        values = *known;
      } else {
        tensor = ctx.input(index);
      }
      return boundsType.getDimSize(0);
    };
    FailureOr<int64_t> numStarts = bounds(1, "starts", starts, startsTensor);
    FailureOr<int64_t> numEnds = bounds(2, "ends", ends, endsTensor);
    if (failed(numStarts) || failed(numEnds))
      return failure();
    if (*numStarts != *numEnds)
      return ctx.emitError() << "starts and ends differ in length";
    count = *numStarts;
    axes = ctx.input(3) ? ctx.constantInts(3, "axes") : SmallVector<int64_t>();
    steps = ctx.input(4) ? ctx.constantInts(4, "steps") : SmallVector<int64_t>();
  }
  if (failed(axes) || failed(steps))
    return failure();
  if (axes->empty())
    for (int64_t i = 0; i < count; ++i)
      axes->push_back(i);
  if (steps->empty())
    steps->assign(count, 1);
  if (static_cast<int64_t>(axes->size()) != count ||
      static_cast<int64_t>(steps->size()) != count)
    return ctx.emitError() << "starts, ends, axes and steps differ in length";
  SmallVector<int64_t> shape(type.getShape());
  for (int64_t i = 0; i < count; ++i) {
    FailureOr<int64_t> axis = ctx.normalizeAxis((*axes)[i], type.getRank());
    if (failed(axis))
      return failure();
    (*axes)[i] = *axis;
    if ((*steps)[i] < 1)
      return ctx.emitError() << "only positive steps are supported, got "
                             << (*steps)[i];
    int64_t dim = type.getDimSize(*axis);
    if (ShapedType::isDynamic(dim) || startsTensor || endsTensor) {
      shape[*axis] = ShapedType::kDynamic;
      continue;
    }
    auto clampIndex = [&](int64_t index) {
      return std::clamp<int64_t>(index < 0 ? index + dim : index, 0, dim);
    };
    int64_t first = clampIndex(starts[i]), last = clampIndex(ends[i]);
    shape[*axis] =
        last <= first ? 0 : (last - first + (*steps)[i] - 1) / (*steps)[i];
  }
  Builder &b = ctx.b;
  return ctx.setOutput(
      0, moe::onnx::SliceOp::create(
             ctx.b, type.clone(shape), *input, startsTensor, endsTensor,
             startsTensor ? DenseI64ArrayAttr() : b.getDenseI64ArrayAttr(starts),
             endsTensor ? DenseI64ArrayAttr() : b.getDenseI64ArrayAttr(ends),
             b.getDenseI64ArrayAttr(*axes), b.getDenseI64ArrayAttr(*steps)));
}

static LogicalResult buildSplit(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<int64_t> axisAttr = ctx.intAttr("axis", 0);
  if (failed(input) || failed(axisAttr))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(*axisAttr, type.getRank());
  if (failed(axis))
    return failure();
  FailureOr<SmallVector<int64_t>> sizes =
      ctx.opsetVersion >= 13
          ? (ctx.input(1) ? ctx.constantInts(1, "split") : SmallVector<int64_t>())
          : ctx.intsAttr("split");
  if (failed(sizes))
    return failure();
  int64_t numOutputs = ctx.node.output_size();
  if (numOutputs < 1)
    return ctx.emitError() << "has no outputs";
  int64_t dim = type.getDimSize(*axis);
  if (sizes->empty()) {
    if (ShapedType::isDynamic(dim))
      return ctx.emitError() << "splitting a dynamic dim needs explicit sizes";
    int64_t chunk = (dim + numOutputs - 1) / numOutputs;
    for (int64_t i = 0; i < numOutputs; ++i)
      sizes->push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  }
  if (static_cast<int64_t>(sizes->size()) != numOutputs)
    return ctx.emitError() << "has " << numOutputs << " outputs but "
                           << sizes->size() << " split sizes";
  SmallVector<Type> types;
  int64_t total = 0;
  for (int64_t size : *sizes) {
    if (size < 0)
      return ctx.emitError() << "split size " << size << " is negative";
    SmallVector<int64_t> shape(type.getShape());
    shape[*axis] = size;
    types.push_back(type.clone(shape));
    std::optional<int64_t> sum = llvm::checkedAdd(total, size);
    if (!sum)
      return ctx.emitError() << "split sizes overflow int64";
    total = *sum;
  }
  if (!ShapedType::isDynamic(dim) && total != dim)
    return ctx.emitError() << "split sizes add up to " << total
                           << ", but the dim is " << dim;
  auto op = moe::onnx::SplitOp::create(ctx.b, types, *input,
                                       ctx.b.getI64IntegerAttr(*axis),
                                       ctx.b.getDenseI64ArrayAttr(*sizes));
  for (auto [i, result] : llvm::enumerate(op.getResults()))
    if (failed(ctx.setOutput(i, result)))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// Indexing
//===----------------------------------------------------------------------===//

static LogicalResult checkIndices(NodeContext &ctx, unsigned index) {
  RankedTensorType type = ctx.inputType(index);
  if (!type.getElementType().isInteger(32) &&
      !type.getElementType().isInteger(64))
    return ctx.emitError() << "indices (input #" << index
                           << ") must be int32 or int64";
  return success();
}

static LogicalResult buildGather(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0), indices = ctx.requiredInput(1);
  FailureOr<int64_t> axisAttr = ctx.intAttr("axis", 0);
  if (failed(input) || failed(indices) || failed(axisAttr) ||
      failed(checkIndices(ctx, 1)))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(*axisAttr, type.getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(type.getShape().take_front(*axis));
  llvm::append_range(shape, ctx.inputType(1).getShape());
  llvm::append_range(shape, type.getShape().drop_front(*axis + 1));
  return ctx.setOutput(0, moe::onnx::GatherOp::create(
                              ctx.b, type.clone(shape), *input, *indices,
                              ctx.b.getI64IntegerAttr(*axis)));
}

static LogicalResult buildNonZero(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  if (failed(input))
    return failure();
  return ctx.setOutput(
      0, moe::onnx::NonZeroOp::create(
             ctx.b,
             RankedTensorType::get({ctx.inputType(0).getRank(), kDyn},
                                   ctx.b.getI64Type()),
             *input));
}

static LogicalResult buildScatterElements(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0), indices = ctx.requiredInput(1),
                   updates = ctx.requiredInput(2);
  FailureOr<int64_t> axisAttr = ctx.intAttr("axis", 0);
  FailureOr<std::string> reduction = ctx.stringAttr("reduction", "none");
  if (failed(input) || failed(indices) || failed(updates) ||
      failed(axisAttr) || failed(reduction) || failed(checkIndices(ctx, 1)))
    return failure();
  if (*reduction != "none" && *reduction != "add")
    return ctx.emitError() << "reduction '" << *reduction
                           << "' is not supported (none, add)";
  RankedTensorType type = ctx.inputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(*axisAttr, type.getRank());
  if (failed(axis))
    return failure();
  if (ctx.inputType(1).getRank() != type.getRank() ||
      ctx.inputType(2).getRank() != type.getRank())
    return ctx.emitError() << "data, indices and updates must have one rank";
  if (ctx.inputType(2).getElementType() != type.getElementType())
    return ctx.emitError() << "updates must have the data's element type";
  return ctx.setOutput(0, moe::onnx::ScatterElementsOp::create(
                              ctx.b, type, *input, *indices, *updates,
                              ctx.b.getI64IntegerAttr(*axis),
                              ctx.b.getStringAttr(*reduction)));
}

static LogicalResult buildOneHot(NodeContext &ctx) {
  FailureOr<Value> indices = ctx.requiredInput(0);
  FailureOr<int64_t> axisAttr = ctx.intAttr("axis", -1);
  if (failed(indices) || failed(axisAttr) || failed(checkIndices(ctx, 0)))
    return failure();
  std::optional<ElementsAttr> depth = ctx.constantInput(1);
  std::optional<ElementsAttr> values = ctx.constantInput(2);
  if (!depth || depth->getNumElements() != 1)
    return ctx.emitError() << "depth (input #1) must be a one-element "
                              "constant";
  if (!values || values->getNumElements() != 2)
    return ctx.emitError() << "values (input #2) must be a constant "
                              "[off_value, on_value]";
  Attribute depthValue = *depth->value_begin<Attribute>();
  int64_t depthInt;
  if (auto i = dyn_cast<IntegerAttr>(depthValue))
    depthInt = i.getInt();
  else if (auto f = dyn_cast<FloatAttr>(depthValue))
    depthInt = static_cast<int64_t>(f.getValueAsDouble());
  else
    return ctx.emitError() << "depth must be a number";
  if (depthInt < 1)
    return ctx.emitError() << "depth must be positive, got " << depthInt;
  RankedTensorType type = ctx.inputType(0);
  int64_t rank = type.getRank() + 1;
  if (*axisAttr < -rank || *axisAttr >= rank)
    return ctx.emitError() << "axis " << *axisAttr
                           << " is out of range for rank " << rank;
  int64_t axis = *axisAttr < 0 ? *axisAttr + rank : *axisAttr;
  auto valueList = llvm::to_vector(values->getValues<Attribute>());
  SmallVector<int64_t> shape(type.getShape());
  shape.insert(shape.begin() + axis, depthInt);
  return ctx.setOutput(
      0, moe::onnx::OneHotOp::create(
             ctx.b, RankedTensorType::get(shape, values->getElementType()),
             *indices, ctx.b.getI64IntegerAttr(depthInt),
             ctx.b.getI64IntegerAttr(axis), cast<TypedAttr>(valueList[0]),
             cast<TypedAttr>(valueList[1])));
}

//===----------------------------------------------------------------------===//
// Reductions and selection
//===----------------------------------------------------------------------===//

/// `axesInputSince` is the opset from which the axes are an input.
template <typename OpTy, int64_t axesInputSince>
static LogicalResult buildReduce(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<int64_t> keepdims = ctx.intAttr("keepdims", 1),
                     noop = ctx.intAttr("noop_with_empty_axes", 0);
  FailureOr<SmallVector<int64_t>> axes =
      axesFrom(ctx, ctx.opsetVersion >= axesInputSince, 1);
  if (failed(input) || failed(keepdims) || failed(noop) || failed(axes))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  if (axes->empty()) {
    if (*noop)
      return ctx.setOutput(0, *input);
    for (int64_t d = 0; d < type.getRank(); ++d)
      axes->push_back(d);
  }
  FailureOr<SmallVector<int64_t>> sorted =
      normalizeAxes(ctx, *axes, type.getRank());
  if (failed(sorted))
    return failure();
  SmallVector<int64_t> shape;
  for (auto [d, dim] : llvm::enumerate(type.getShape())) {
    if (!llvm::is_contained(*sorted, static_cast<int64_t>(d)))
      shape.push_back(dim);
    else if (*keepdims)
      shape.push_back(1);
  }
  return ctx.setOutput(0, OpTy::create(ctx.b, type.clone(shape), *input,
                                       ctx.b.getDenseI64ArrayAttr(*sorted),
                                       ctx.b.getBoolAttr(*keepdims != 0)));
}

static LogicalResult buildTopK(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0);
  FailureOr<int64_t> axisAttr = ctx.intAttr("axis", -1),
                     largest = ctx.intAttr("largest", 1);
  if (failed(input) || failed(axisAttr) || failed(largest))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  if (!isa<FloatType>(type.getElementType()))
    return ctx.emitError() << "only floating-point TopK is supported";
  FailureOr<int64_t> axis = ctx.normalizeAxis(*axisAttr, type.getRank());
  if (failed(axis))
    return failure();
  int64_t k;
  if (ctx.opsetVersion < 10) {
    FailureOr<int64_t> attr = ctx.intAttr("k", -1);
    if (failed(attr))
      return failure();
    k = *attr;
  } else {
    FailureOr<SmallVector<int64_t>> values = ctx.constantInts(1, "k");
    if (failed(values))
      return failure();
    if (values->size() != 1)
      return ctx.emitError() << "k must hold one value";
    k = values->front();
  }
  int64_t dim = type.getDimSize(*axis);
  if (k < 1 || (!ShapedType::isDynamic(dim) && k > dim))
    return ctx.emitError() << "k = " << k << " must be in [1, " << dim
                           << "] (the size of axis " << *axis << ")";
  SmallVector<int64_t> shape(type.getShape());
  shape[*axis] = k;
  auto op = moe::onnx::TopKOp::create(
      ctx.b, type.clone(shape),
      RankedTensorType::get(shape, ctx.b.getI64Type()), *input,
      ctx.b.getI64IntegerAttr(k), ctx.b.getI64IntegerAttr(*axis),
      ctx.b.getBoolAttr(*largest != 0));
  if (failed(ctx.setOutput(0, op.getValues())))
    return failure();
  return ctx.node.output_size() > 1 ? ctx.setOutput(1, op.getIndices())
                                    : success();
}

ArrayRef<OpEntry> mlir::moe::onnx_import::getDataOpEntries() {
  static const OpEntry entries[] = {
      {"", "Unsqueeze", 1, buildUnsqueeze},
      {"", "Squeeze", 1, buildSqueeze},
      {"", "Flatten", 1, buildFlatten},
      {"", "Shape", 1, buildShape},
      {"", "ConstantOfShape", 9, buildConstantOfShape},
      {"", "Range", 11, buildRange},
      {"", "Expand", 8, buildExpand},
      {"", "Concat", 4, buildConcat},
      {"", "Slice", 1, buildSlice},
      {"", "Split", 2, buildSplit},
      {"", "Gather", 1, buildGather},
      {"", "NonZero", 9, buildNonZero},
      {"", "ScatterElements", 11, buildScatterElements},
      {"", "OneHot", 9, buildOneHot},
      {"", "ReduceSum", 1, buildReduce<moe::onnx::ReduceSumOp, 13>},
      {"", "ReduceMax", 1, buildReduce<moe::onnx::ReduceMaxOp, 18>},
      {"", "ReduceMean", 1, buildReduce<moe::onnx::ReduceMeanOp, 18>},
      {"", "TopK", 1, buildTopK},
  };
  return entries;
}
