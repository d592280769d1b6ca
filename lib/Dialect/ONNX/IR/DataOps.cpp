//===- DataOps.cpp - Verifiers of the shape, indexing and reduction ops ---===//
//
// The onnx ops that move data rather than compute on it: reshapes, shapes
// as values, slicing, gathering and scattering, reductions, TopK.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "VerifyUtils.h"

#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::moe::onnx;

static constexpr int64_t kDyn = ShapedType::kDynamic;

static int64_t rankOf(Value value) {
  return cast<ShapedType>(value.getType()).getRank();
}
static ArrayRef<int64_t> shapeOf(Value value) {
  return cast<ShapedType>(value.getType()).getShape();
}

/// Sorted, unique, in [0, bound).
static LogicalResult verifyAxes(Operation *op, ArrayRef<int64_t> axes,
                                int64_t bound, StringRef what = "axes") {
  for (auto [i, axis] : llvm::enumerate(axes))
    if (axis < 0 || axis >= bound || (i > 0 && axes[i - 1] >= axis))
      return op->emitOpError() << what
                               << " must be sorted, unique and in [0, "
                               << bound << ")";
  return success();
}

static LogicalResult verifyAxis(Operation *op, int64_t axis, int64_t bound) {
  if (axis < 0 || axis >= bound)
    return op->emitOpError() << "axis " << axis << " is out of range [0, "
                             << bound << ")";
  return success();
}

/// A 1-D i64 shape operand whose static length is the result rank.
static LogicalResult verifyShapeOperand(Operation *op, Value shape,
                                        int64_t rank) {
  auto type = cast<ShapedType>(shape.getType());
  if (type.getRank() != 1 || type.getDimSize(0) != rank)
    return op->emitOpError() << "the shape operand must be 1-D with a static "
                                "length equal to the result rank ("
                             << rank << "), but is " << shape.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Reshapes
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::verify() {
  if ((getShapeTensor() != nullptr) == getShape().has_value())
    return emitOpError("exactly one of the 'shape' attribute and a shape "
                       "operand must be given");
  Type elementType = getElementTypeOrSelf(getInput().getType());
  if (getElementTypeOrSelf(getType()) != elementType)
    return emitOpError("the result must keep the input's element type");
  if (getShapeTensor())
    return verifyShapeOperand(*this, getShapeTensor(), rankOf(getResult()));
  std::string error;
  FailureOr<SmallVector<int64_t>> shape =
      reshapeShape(shapeOf(getInput()), *getShape(), error);
  if (failed(shape))
    return emitOpError() << "invalid target shape: " << error;
  return verifyResultShape(*this, *shape);
}

LogicalResult UnsqueezeOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  int64_t rank = in.size() + getAxes().size();
  if (failed(verifyAxes(*this, getAxes(), rank)))
    return failure();
  SmallVector<int64_t> shape;
  const int64_t *next = in.begin();
  for (int64_t d = 0; d < rank; ++d)
    shape.push_back(llvm::is_contained(getAxes(), d) ? 1 : *next++);
  if (failed(verifySameElementTypes(*this)))
    return failure();
  return verifyResultShape(*this, shape);
}

LogicalResult SqueezeOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  if (failed(verifyAxes(*this, getAxes(), in.size())))
    return failure();
  SmallVector<int64_t> shape;
  for (auto [d, dim] : llvm::enumerate(in)) {
    if (!llvm::is_contained(getAxes(), static_cast<int64_t>(d))) {
      shape.push_back(dim);
      continue;
    }
    if (!ShapedType::isDynamic(dim) && dim != 1)
      return emitOpError() << "cannot squeeze dim " << d << " of size " << dim;
  }
  if (failed(verifySameElementTypes(*this)))
    return failure();
  return verifyResultShape(*this, shape);
}

LogicalResult FlattenOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  auto axis = static_cast<int64_t>(getAxis());
  if (axis > static_cast<int64_t>(in.size()))
    return emitOpError() << "axis " << axis << " is out of range [0, "
                         << in.size() << "]";
  if (failed(verifySameElementTypes(*this)))
    return failure();
  FailureOr<SmallVector<int64_t>> shape = flattenShape(in, axis);
  if (failed(shape))
    return emitOpError() << "the flattened sizes overflow int64";
  return verifyResultShape(*this, *shape);
}

//===----------------------------------------------------------------------===//
// Shapes as values
//===----------------------------------------------------------------------===//

LogicalResult ShapeOp::verify() {
  auto start = static_cast<int64_t>(getStart());
  auto end = static_cast<int64_t>(getEnd());
  int64_t rank = rankOf(getInput());
  if (start < 0 || start > end || end > rank)
    return emitOpError() << "need 0 <= start <= end <= rank, got start "
                         << start << ", end " << end << ", rank " << rank;
  return verifyResultShape(*this, {end - start});
}

LogicalResult RangeOp::verify() {
  Type element = getElementTypeOrSelf(getType());
  for (Value scalar : {getStart(), getLimit(), getDelta()})
    if (cast<RankedTensorType>(scalar.getType()).getRank() != 0 ||
        getElementTypeOrSelf(scalar.getType()) != element)
      return emitOpError() << "start, limit and delta must be 0-D tensors of "
                           << element;
  if (cast<RankedTensorType>(getType()).getRank() != 1)
    return emitOpError("the result must be 1-D");
  return success();
}

LogicalResult ConstantOfShapeOp::verify() {
  if (getValue().getType() != getElementTypeOrSelf(getType()))
    return emitOpError() << "value of type " << getValue().getType()
                         << " does not match the result element type";
  return verifyShapeOperand(*this, getShape(), rankOf(getResult()));
}

LogicalResult ExpandOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  ArrayRef<int64_t> out = shapeOf(getResult());
  if (out.size() < in.size())
    return emitOpError("the result rank must be at least the input rank");
  if (failed(verifyShapeOperand(*this, getShape(), out.size())))
    return failure();
  size_t offset = out.size() - in.size();
  for (auto [i, dim] : llvm::enumerate(in)) {
    int64_t o = out[i + offset];
    if (dim != 1 && !ShapedType::isDynamic(dim) && !ShapedType::isDynamic(o) &&
        o != dim)
      return emitOpError() << "input dim " << i << " of size " << dim
                           << " cannot broadcast to " << o;
  }
  if (getElementTypeOrSelf(getType()) !=
      getElementTypeOrSelf(getInput().getType()))
    return emitOpError("the result must keep the input's element type");
  return success();
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  int64_t rank = rankOf(getInputs().front());
  if (failed(verifyAxis(*this, getAxis(), rank)))
    return failure();
  auto axis = static_cast<int64_t>(getAxis());
  SmallVector<int64_t> shape(shapeOf(getInputs().front()));
  shape[axis] = 0;
  for (Value input : getInputs()) {
    ArrayRef<int64_t> dims = shapeOf(input);
    if (static_cast<int64_t>(dims.size()) != rank)
      return emitOpError("all inputs must have the same rank");
    for (int64_t d = 0; d < rank; ++d) {
      if (d == axis) {
        shape[d] = ShapedType::isDynamic(shape[d]) ||
                           ShapedType::isDynamic(dims[d])
                       ? kDyn
                       : shape[d] + dims[d];
      } else if (!ShapedType::isDynamic(dims[d])) {
        if (!ShapedType::isDynamic(shape[d]) && shape[d] != dims[d])
          return emitOpError() << "inputs differ in dim " << d
                               << " outside the concatenation axis";
        shape[d] = dims[d];
      }
    }
  }
  if (failed(verifySameElementTypes(*this)))
    return failure();
  return verifyResultShape(*this, shape);
}

//===----------------------------------------------------------------------===//
// Slicing
//===----------------------------------------------------------------------===//

/// The size of ONNX slice [start, end) step `step` of a static dim.
static int64_t sliceSize(int64_t dim, int64_t start, int64_t end,
                         int64_t step) {
  auto clampIndex = [&](int64_t index) {
    if (index < 0)
      index += dim;
    return std::clamp<int64_t>(index, 0, dim);
  };
  int64_t first = clampIndex(start), last = clampIndex(end);
  return last <= first ? 0 : (last - first + step - 1) / step;
}

LogicalResult SliceOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  size_t n = getAxes().size();
  if (getStarts().has_value() == (getStartsTensor() != nullptr) ||
      getEnds().has_value() == (getEndsTensor() != nullptr))
    return emitOpError("starts and ends must each be given once, as an "
                       "attribute or as an operand");
  for (Value bounds : {getStartsTensor(), getEndsTensor()})
    if (bounds && cast<ShapedType>(bounds.getType()).getShape() !=
                      ArrayRef<int64_t>{static_cast<int64_t>(n)})
      return emitOpError() << "run-time starts and ends must be 1-D with "
                           << n << " entries";
  if ((getStarts() && getStarts()->size() != n) ||
      (getEnds() && getEnds()->size() != n) || getSteps().size() != n)
    return emitOpError("starts, ends, axes and steps must have one entry "
                       "per sliced axis");
  SmallVector<int64_t> shape(in);
  SmallVector<bool> seen(in.size(), false);
  for (size_t i = 0; i < n; ++i) {
    int64_t axis = getAxes()[i];
    if (axis < 0 || axis >= static_cast<int64_t>(in.size()) || seen[axis])
      return emitOpError() << "axes must be unique and in [0, " << in.size()
                           << ")";
    seen[axis] = true;
    if (getSteps()[i] < 1)
      return emitOpError() << "steps must be positive, got " << getSteps()[i];
    if (!ShapedType::isDynamic(in[axis]) && getStarts() && getEnds())
      shape[axis] = sliceSize(in[axis], (*getStarts())[i], (*getEnds())[i],
                              getSteps()[i]);
    else
      shape[axis] = kDyn;
  }
  if (getElementTypeOrSelf(getType()) !=
      getElementTypeOrSelf(getInput().getType()))
    return emitOpError("the result must keep the input's element type");
  return verifyResultShape(*this, shape);
}

LogicalResult SplitOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  if (failed(verifyAxis(*this, getAxis(), in.size())))
    return failure();
  auto axis = static_cast<int64_t>(getAxis());
  if (getSizes().size() != getResults().size())
    return emitOpError() << "has " << getResults().size() << " results but "
                         << getSizes().size() << " sizes";
  int64_t total = 0;
  for (auto [size, result] : llvm::zip(getSizes(), getResults())) {
    if (size < 0)
      return emitOpError("sizes must be non-negative");
    total += size;
    SmallVector<int64_t> shape(in);
    shape[axis] = size;
    if (!isCompatible(cast<ShapedType>(result.getType()), shape))
      return emitOpError() << "result type " << result.getType()
                           << " does not match the piece shape "
                           << formatShape(shape);
    if (getElementTypeOrSelf(result.getType()) !=
        getElementTypeOrSelf(getInput().getType()))
      return emitOpError("results must keep the input's element type");
  }
  if (!ShapedType::isDynamic(in[axis]) && total != in[axis])
    return emitOpError() << "sizes add up to " << total << ", but the dim is "
                         << in[axis];
  return success();
}

//===----------------------------------------------------------------------===//
// Indexing
//===----------------------------------------------------------------------===//

LogicalResult GatherOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  if (failed(verifyAxis(*this, getAxis(), in.size())))
    return failure();
  auto axis = static_cast<int64_t>(getAxis());
  SmallVector<int64_t> shape(in.take_front(axis));
  llvm::append_range(shape, shapeOf(getIndices()));
  llvm::append_range(shape, in.drop_front(axis + 1));
  if (getElementTypeOrSelf(getType()) !=
      getElementTypeOrSelf(getInput().getType()))
    return emitOpError("the result must keep the input's element type");
  return verifyResultShape(*this, shape);
}

LogicalResult NonZeroOp::verify() {
  return verifyResultShape(*this, {rankOf(getInput()), kDyn});
}

LogicalResult ScatterElementsOp::verify() {
  if (getReduction() != "none" && getReduction() != "add")
    return emitOpError() << "reduction '" << getReduction()
                         << "' is not supported (none, add)";
  int64_t rank = rankOf(getInput());
  if (failed(verifyAxis(*this, getAxis(), rank)))
    return failure();
  if (rankOf(getIndices()) != rank ||
      !isCompatible(cast<ShapedType>(getUpdates().getType()),
                    shapeOf(getIndices())))
    return emitOpError("indices and updates must have the input's rank and "
                       "one shape");
  if (getType() != getInput().getType() ||
      getElementTypeOrSelf(getUpdates().getType()) !=
          getElementTypeOrSelf(getInput().getType()))
    return emitOpError("the result and the updates must have the input's "
                       "type and element type");
  return success();
}

LogicalResult OneHotOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getIndices());
  auto depth = static_cast<int64_t>(getDepth());
  auto axis = static_cast<int64_t>(getAxis());
  if (depth < 1)
    return emitOpError() << "depth must be positive, got " << depth;
  if (axis < 0 || axis > static_cast<int64_t>(in.size()))
    return emitOpError() << "axis " << axis << " is out of range [0, "
                         << in.size() << "]";
  Type elementType = getElementTypeOrSelf(getType());
  if (getOnValue().getType() != elementType ||
      getOffValue().getType() != elementType)
    return emitOpError("on_value and off_value must have the result's "
                       "element type");
  SmallVector<int64_t> shape(in);
  shape.insert(shape.begin() + axis, depth);
  return verifyResultShape(*this, shape);
}

//===----------------------------------------------------------------------===//
// Reductions and selection
//===----------------------------------------------------------------------===//

static LogicalResult verifyReduce(Operation *op, ArrayRef<int64_t> axes,
                                  bool keepdims) {
  ArrayRef<int64_t> in = shapeOf(op->getOperand(0));
  if (failed(verifyAxes(op, axes, in.size())))
    return failure();
  SmallVector<int64_t> shape;
  for (auto [d, dim] : llvm::enumerate(in)) {
    if (!llvm::is_contained(axes, static_cast<int64_t>(d)))
      shape.push_back(dim);
    else if (keepdims)
      shape.push_back(1);
  }
  if (failed(verifySameElementTypes(op)))
    return failure();
  return verifyResultShape(op, shape);
}

LogicalResult ReduceSumOp::verify() {
  return verifyReduce(*this, getAxes(), getKeepdims());
}
LogicalResult ReduceMaxOp::verify() {
  return verifyReduce(*this, getAxes(), getKeepdims());
}
LogicalResult ReduceMeanOp::verify() {
  return verifyReduce(*this, getAxes(), getKeepdims());
}

LogicalResult TopKOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  if (failed(verifyAxis(*this, getAxis(), in.size())))
    return failure();
  auto axis = static_cast<int64_t>(getAxis());
  auto k = static_cast<int64_t>(getK());
  if (k < 1)
    return emitOpError() << "k must be positive, got " << k;
  if (!ShapedType::isDynamic(in[axis]) && k > in[axis])
    return emitOpError() << "k = " << k << " exceeds the axis size "
                         << in[axis];
  SmallVector<int64_t> shape(in);
  shape[axis] = k;
  for (Value result : {getValues(), getIndices()})
    if (!isCompatible(cast<ShapedType>(result.getType()), shape))
      return emitOpError() << "results must have shape " << formatShape(shape);
  if (getElementTypeOrSelf(getValues().getType()) !=
      getElementTypeOrSelf(getInput().getType()))
    return emitOpError("values must keep the input's element type");
  return success();
}
