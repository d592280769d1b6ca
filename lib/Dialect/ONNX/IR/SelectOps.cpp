//===- SelectOps.cpp - Verifiers of comparison, selection and einsum ------===//

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "VerifyUtils.h"

#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace mlir::moe::onnx;

static ArrayRef<int64_t> shapeOf(Value value) {
  return cast<ShapedType>(value.getType()).getShape();
}

/// The comparisons: one element type, shapes that broadcast to the
/// result's.
template <typename OpTy> static LogicalResult verifyCompare(OpTy op) {
  if (getElementTypeOrSelf(op.getLhs().getType()) !=
      getElementTypeOrSelf(op.getRhs().getType()))
    return op.emitOpError("operands must share one element type");
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(shapeOf(op.getLhs()), shapeOf(op.getRhs()));
  if (failed(shape))
    return op.emitOpError()
           << "operand shapes " << formatShape(shapeOf(op.getLhs())) << " and "
           << formatShape(shapeOf(op.getRhs())) << " do not broadcast";
  return verifyResultShape(op, *shape);
}

LogicalResult EqualOp::verify() { return verifyCompare(*this); }
LogicalResult GreaterOp::verify() { return verifyCompare(*this); }
LogicalResult LessOp::verify() { return verifyCompare(*this); }
LogicalResult GreaterOrEqualOp::verify() { return verifyCompare(*this); }
LogicalResult LessOrEqualOp::verify() { return verifyCompare(*this); }

LogicalResult WhereOp::verify() {
  Type elementType = getElementTypeOrSelf(getX().getType());
  if (getElementTypeOrSelf(getY().getType()) != elementType ||
      getElementTypeOrSelf(getType()) != elementType)
    return emitOpError("x, y and the result must share one element type");
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(shapeOf(getCondition()), shapeOf(getX()));
  if (succeeded(shape))
    shape = broadcastShapes(*shape, shapeOf(getY()));
  if (failed(shape))
    return emitOpError("condition, x and y do not broadcast");
  return verifyResultShape(*this, *shape);
}

LogicalResult TriluOp::verify() {
  if (cast<ShapedType>(getInput().getType()).getRank() < 2)
    return emitOpError("the input must have at least two dims");
  if (getType() != getInput().getType())
    return emitOpError("the result type must equal the input type");
  if (Value k = getK()) {
    auto type = cast<RankedTensorType>(k.getType());
    if (type.getRank() > 1 || type.getNumElements() != 1)
      return emitOpError() << "k must be a one-element tensor, got " << type;
  }
  return success();
}

LogicalResult ClipOp::verify() {
  Type elementType = getElementTypeOrSelf(getInput().getType());
  for (Value bound : {getMin(), getMax()})
    if (bound && (cast<ShapedType>(bound.getType()).getRank() != 0 ||
                  getElementTypeOrSelf(bound.getType()) != elementType))
      return emitOpError() << "bounds must be 0-D tensors of " << elementType;
  if (getType() != getInput().getType())
    return emitOpError("the result type must equal the input type");
  return success();
}

LogicalResult GeluOp::verify() {
  if (getApproximate() != "none" && getApproximate() != "tanh")
    return emitOpError() << "approximate must be \"none\" or \"tanh\", got \""
                         << getApproximate() << "\"";
  return success();
}

LogicalResult ArgMaxOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  auto axis = static_cast<int64_t>(getAxis());
  if (axis < 0 || axis >= static_cast<int64_t>(in.size()))
    return emitOpError() << "axis " << axis << " is out of range [0, "
                         << in.size() << ")";
  SmallVector<int64_t> shape(in);
  if (getKeepdims())
    shape[axis] = 1;
  else
    shape.erase(shape.begin() + axis);
  return verifyResultShape(*this, shape);
}

LogicalResult GatherElementsOp::verify() {
  int64_t rank = shapeOf(getInput()).size();
  auto axis = static_cast<int64_t>(getAxis());
  if (axis < 0 || axis >= rank)
    return emitOpError() << "axis " << axis << " is out of range [0, " << rank
                         << ")";
  if (static_cast<int64_t>(shapeOf(getIndices()).size()) != rank)
    return emitOpError("indices must have the input's rank");
  if (getElementTypeOrSelf(getType()) !=
      getElementTypeOrSelf(getInput().getType()))
    return emitOpError("the result must keep the input's element type");
  return verifyResultShape(*this, shapeOf(getIndices()));
}

/// indices.shape[:-1] + input.shape[m:], with m the static last index dim.
static FailureOr<SmallVector<int64_t>> ndShape(Operation *op, Value input,
                                               Value indices) {
  ArrayRef<int64_t> in = shapeOf(input), idx = shapeOf(indices);
  if (idx.empty() || ShapedType::isDynamic(idx.back()) || idx.back() < 1 ||
      idx.back() > static_cast<int64_t>(in.size()))
    return op->emitOpError() << "the last dim of indices must be static and "
                                "in [1, "
                             << in.size() << "]";
  SmallVector<int64_t> shape(idx.drop_back());
  llvm::append_range(shape, in.drop_front(idx.back()));
  return shape;
}

LogicalResult GatherNDOp::verify() {
  FailureOr<SmallVector<int64_t>> shape = ndShape(*this, getInput(), getIndices());
  if (failed(shape))
    return failure();
  if (getElementTypeOrSelf(getType()) !=
      getElementTypeOrSelf(getInput().getType()))
    return emitOpError("the result must keep the input's element type");
  return verifyResultShape(*this, *shape);
}

LogicalResult ScatterNDOp::verify() {
  if (getReduction() != "none" && getReduction() != "add")
    return emitOpError() << "reduction '" << getReduction()
                         << "' is not supported (none, add)";
  FailureOr<SmallVector<int64_t>> shape = ndShape(*this, getInput(), getIndices());
  if (failed(shape))
    return failure();
  if (!isCompatible(cast<ShapedType>(getUpdates().getType()), *shape))
    return emitOpError() << "updates must have shape " << formatShape(*shape);
  if (getType() != getInput().getType() ||
      getElementTypeOrSelf(getUpdates().getType()) !=
          getElementTypeOrSelf(getInput().getType()))
    return emitOpError("the result and the updates must have the input's "
                       "type and element type");
  return success();
}

FailureOr<SmallVector<std::string>> EinsumOp::parseEquation() {
  StringRef equation = getEquation();
  std::string compact;
  for (char c : equation)
    if (c != ' ')
      compact += c;
  auto [lhs, rhs] = StringRef(compact).split("->");
  if (!StringRef(compact).contains("->") || StringRef(compact).contains("."))
    return failure();
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  SmallVector<std::string> result;
  for (StringRef term : terms)
    result.push_back(term.str());
  result.push_back(rhs.str());
  for (const std::string &term : result) {
    for (auto [i, c] : llvm::enumerate(term))
      if (!llvm::isAlpha(c) || term.find(c, i + 1) != std::string::npos)
        return failure();
  }
  return result;
}

LogicalResult EinsumOp::verify() {
  FailureOr<SmallVector<std::string>> terms = parseEquation();
  if (failed(terms))
    return emitOpError() << "unsupported equation \"" << getEquation()
                         << "\" (explicit '->', letters only, each at most "
                            "once per term)";
  if (terms->size() != getInputs().size() + 1)
    return emitOpError() << "the equation has " << terms->size() - 1
                         << " input terms for " << getInputs().size()
                         << " inputs";
  llvm::StringMap<int64_t> sizes;
  for (auto [term, input] : llvm::zip(*terms, getInputs())) {
    ArrayRef<int64_t> shape = shapeOf(input);
    if (term.size() != shape.size())
      return emitOpError() << "term \"" << term << "\" does not match an input "
                           << "of rank " << shape.size();
    for (auto [c, dim] : llvm::zip(term, shape)) {
      auto [it, inserted] = sizes.try_emplace(StringRef(&c, 1), dim);
      if (!inserted && !ShapedType::isDynamic(dim)) {
        if (!ShapedType::isDynamic(it->second) && it->second != dim)
          return emitOpError() << "letter '" << c << "' has sizes "
                               << it->second << " and " << dim;
        it->second = dim;
      }
    }
  }
  SmallVector<int64_t> shape;
  for (char c : terms->back()) {
    auto it = sizes.find(StringRef(&c, 1));
    if (it == sizes.end())
      return emitOpError() << "output letter '" << c
                           << "' appears in no input";
    shape.push_back(it->second);
  }
  if (failed(verifySameElementTypes(*this)))
    return failure();
  return verifyResultShape(*this, shape);
}
