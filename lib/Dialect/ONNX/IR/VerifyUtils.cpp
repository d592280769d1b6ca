//===- VerifyUtils.cpp - Helpers shared by the onnx op verifiers ----------===//

#include "VerifyUtils.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;

/// Whether `type`'s static dims agree with `expected` (dynamic matches any).
bool mlir::moe::onnx::isCompatible(ShapedType type, ArrayRef<int64_t> expected) {
  if (type.getRank() != static_cast<int64_t>(expected.size()))
    return false;
  for (auto [actual, want] : llvm::zip(type.getShape(), expected))
    if (!ShapedType::isDynamic(actual) && !ShapedType::isDynamic(want) &&
        actual != want)
      return false;
  return true;
}

std::string mlir::moe::onnx::formatShape(ArrayRef<int64_t> shape) {
  std::string text = "[";
  for (auto [i, dim] : llvm::enumerate(shape)) {
    if (i)
      text += ", ";
    text += ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
  }
  return text + "]";
}

LogicalResult mlir::moe::onnx::verifyResultShape(Operation *op, ArrayRef<int64_t> want) {
  auto type = cast<ShapedType>(op->getResult(0).getType());
  if (isCompatible(type, want))
    return success();
  return op->emitOpError() << "result type " << type
                           << " does not match the inferred shape "
                           << formatShape(want);
}

LogicalResult mlir::moe::onnx::verifySameElementTypes(Operation *op) {
  Type elementType = getElementTypeOrSelf(op->getOperand(0).getType());
  for (Value value : llvm::concat<Value>(op->getOperands(), op->getResults()))
    if (getElementTypeOrSelf(value.getType()) != elementType)
      return op->emitOpError() << "operands and result must share one "
                                  "element type, found "
                               << elementType << " and "
                               << getElementTypeOrSelf(value.getType());
  return success();
}

