//===- ONNXOps.cpp - The onnx mirror dialect ------------------------------===//
//
// Shape rules and verifiers of the onnx ops. The importer uses the same
// shape functions to type the ops it builds, so a model the importer
// accepts always verifies.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "llvm/Support/MathExtras.h"

#include "VerifyUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CheckedArithmetic.h"

using namespace mlir;
using namespace mlir::moe::onnx;

#include "moe/Dialect/ONNX/IR/ONNXOpsDialect.cpp.inc"

void ONNXDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "moe/Dialect/ONNX/IR/ONNXOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Shape rules
//===----------------------------------------------------------------------===//

FailureOr<SmallVector<int64_t>>
mlir::moe::onnx::broadcastShapes(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs) {
  size_t rank = std::max(lhs.size(), rhs.size());
  SmallVector<int64_t> result(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t l = i < rank - lhs.size() ? 1 : lhs[i - (rank - lhs.size())];
    int64_t r = i < rank - rhs.size() ? 1 : rhs[i - (rank - rhs.size())];
    if (l == 1)
      result[i] = r;
    else if (r == 1)
      result[i] = l;
    else if (ShapedType::isDynamic(l))
      result[i] = r;
    else if (ShapedType::isDynamic(r) || l == r)
      result[i] = l;
    else
      return failure();
  }
  return result;
}

FailureOr<SmallVector<int64_t>>
mlir::moe::onnx::matmulShape(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs) {
  if (lhs.size() < 2 || rhs.size() < 2)
    return failure();
  int64_t k1 = lhs[lhs.size() - 1], k2 = rhs[rhs.size() - 2];
  if (!ShapedType::isDynamic(k1) && !ShapedType::isDynamic(k2) && k1 != k2)
    return failure();
  FailureOr<SmallVector<int64_t>> batch =
      broadcastShapes(lhs.drop_back(2), rhs.drop_back(2));
  if (failed(batch))
    return failure();
  SmallVector<int64_t> result = *batch;
  result.push_back(lhs[lhs.size() - 2]);
  result.push_back(rhs[rhs.size() - 1]);
  return result;
}

/// The product of `dims` (dynamic if any is), nullopt on overflow.
static std::optional<int64_t> product(ArrayRef<int64_t> dims) {
  int64_t result = 1;
  bool dynamic = false;
  for (int64_t dim : dims) {
    if (ShapedType::isDynamic(dim)) {
      dynamic = true;
      continue;
    }
    std::optional<int64_t> next = llvm::checkedMul(result, dim);
    if (!next)
      return std::nullopt;
    result = *next;
  }
  return dynamic ? ShapedType::kDynamic : result;
}

FailureOr<SmallVector<int64_t>>
mlir::moe::onnx::flattenShape(ArrayRef<int64_t> input, int64_t axis) {
  std::optional<int64_t> outer = product(input.take_front(axis));
  std::optional<int64_t> inner = product(input.drop_front(axis));
  if (!outer || !inner)
    return failure();
  return SmallVector<int64_t>{*outer, *inner};
}

FailureOr<SmallVector<int64_t>>
mlir::moe::onnx::reshapeShape(ArrayRef<int64_t> input,
                              ArrayRef<int64_t> target, std::string &error) {
  SmallVector<int64_t> result;
  int inferred = -1;
  bool inputStatic = llvm::none_of(input, ShapedType::isDynamic);
  int64_t known = 1;
  bool knownStatic = true;
  for (auto [i, entry] : llvm::enumerate(target)) {
    int64_t dim = entry;
    if (dim == 0) {
      if (i >= input.size()) {
        error = "shape entry " + std::to_string(i) +
                " is 0 (copy) but the input has rank " +
                std::to_string(input.size());
        return failure();
      }
      dim = input[i];
    } else if (dim == -1) {
      if (inferred >= 0) {
        error = "more than one -1 in the target shape";
        return failure();
      }
      inferred = i;
      result.push_back(ShapedType::kDynamic);
      continue;
    } else if (dim < -1) {
      error = "negative target dim " + std::to_string(dim);
      return failure();
    }
    result.push_back(dim);
    if (ShapedType::isDynamic(dim)) {
      knownStatic = false;
    } else if (std::optional<int64_t> next = llvm::checkedMul(known, dim)) {
      known = *next;
    } else {
      error = "the target shape's element count overflows";
      return failure();
    }
  }
  if (inputStatic) {
    std::optional<int64_t> total = product(input);
    if (!total) {
      error = "the input's element count overflows";
      return failure();
    }
    int64_t count = *total;
    if (inferred >= 0 && knownStatic) {
      if (known == 0 || count % known != 0) {
        error = "cannot infer the -1 dim: " + std::to_string(count) +
                " elements do not divide by " + std::to_string(known);
        return failure();
      }
      result[inferred] = count / known;
    } else if (inferred < 0 && knownStatic && count != known) {
      error = "the input has " + std::to_string(count) +
              " elements, the target shape " + std::to_string(known);
      return failure();
    }
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

static LogicalResult verifyBinary(Operation *op) {
  if (failed(verifySameElementTypes(op)))
    return failure();
  auto lhs = cast<ShapedType>(op->getOperand(0).getType());
  auto rhs = cast<ShapedType>(op->getOperand(1).getType());
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(lhs.getShape(), rhs.getShape());
  if (failed(shape))
    return op->emitOpError() << "operand shapes " << formatShape(lhs.getShape())
                             << " and " << formatShape(rhs.getShape())
                             << " do not broadcast";
  return verifyResultShape(op, *shape);
}

LogicalResult AddOp::verify() { return verifyBinary(*this); }
LogicalResult SubOp::verify() { return verifyBinary(*this); }
LogicalResult MulOp::verify() { return verifyBinary(*this); }

OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  auto isOne = [](Attribute attr) {
    auto dense = dyn_cast_or_null<DenseFPElementsAttr>(attr);
    return dense && dense.getNumElements() == 1 &&
           (*dense.value_begin<APFloat>()).isExactlyValue(1.0);
  };
  if (isOne(adaptor.getRhs()) && getLhs().getType() == getType())
    return getLhs();
  if (isOne(adaptor.getLhs()) && getRhs().getType() == getType())
    return getRhs();
  return {};
}
LogicalResult DivOp::verify() { return verifyBinary(*this); }
LogicalResult PowOp::verify() { return verifyBinary(*this); }
LogicalResult MaxOp::verify() { return verifyBinary(*this); }
LogicalResult MinOp::verify() { return verifyBinary(*this); }

LogicalResult CastOp::verify() {
  auto in = cast<ShapedType>(getInput().getType());
  auto out = cast<ShapedType>(getResult().getType());
  if (!isCompatible(out, in.getShape()))
    return emitOpError() << "result shape " << formatShape(out.getShape())
                         << " must equal the input shape "
                         << formatShape(in.getShape());
  for (Type type : {in.getElementType(), out.getElementType()})
    if (!isa<FloatType>(type) && !type.isSignlessInteger())
      return emitOpError() << "only casts between float and signless integer "
                              "types are supported, not "
                           << type;
  return success();
}

LogicalResult MatMulOp::verify() {
  if (failed(verifySameElementTypes(*this)))
    return failure();
  auto lhs = cast<ShapedType>(getLhs().getType());
  auto rhs = cast<ShapedType>(getRhs().getType());
  FailureOr<SmallVector<int64_t>> shape =
      matmulShape(lhs.getShape(), rhs.getShape());
  if (failed(shape))
    return emitOpError() << "cannot multiply " << formatShape(lhs.getShape())
                         << " by " << formatShape(rhs.getShape())
                         << " (rank >= 2, inner dims equal, batch dims "
                            "broadcastable)";
  return verifyResultShape(*this, *shape);
}

LogicalResult GemmOp::verify() {
  if (failed(verifySameElementTypes(*this)))
    return failure();
  auto a = cast<ShapedType>(getA().getType());
  auto b = cast<ShapedType>(getB().getType());
  if (a.getRank() != 2 || b.getRank() != 2)
    return emitOpError("operands 'a' and 'b' must be 2-D");
  int64_t m = a.getDimSize(getTransA() ? 1 : 0);
  int64_t ka = a.getDimSize(getTransA() ? 0 : 1);
  int64_t kb = b.getDimSize(getTransB() ? 1 : 0);
  int64_t n = b.getDimSize(getTransB() ? 0 : 1);
  if (!ShapedType::isDynamic(ka) && !ShapedType::isDynamic(kb) && ka != kb)
    return emitOpError() << "inner dims differ: " << ka << " vs " << kb;
  if (getC()) {
    auto c = cast<ShapedType>(getC().getType());
    FailureOr<SmallVector<int64_t>> shape =
        broadcastShapes({m, n}, c.getShape());
    if (failed(shape) || shape->size() != 2 ||
        !isCompatible(RankedTensorType::get(*shape, c.getElementType()),
                      {m, n}))
      return emitOpError() << "'c' of shape " << formatShape(c.getShape())
                           << " does not broadcast to "
                           << formatShape({m, n});
  }
  return verifyResultShape(*this, {m, n});
}

LogicalResult SoftmaxOp::verify() {
  int64_t rank = cast<ShapedType>(getInput().getType()).getRank();
  auto axis = static_cast<int64_t>(getAxis());
  if (axis < 0 || axis >= rank)
    return emitOpError() << "axis " << axis << " is out of range for rank "
                         << rank;
  return success();
}

LogicalResult TransposeOp::verify() {
  auto in = cast<ShapedType>(getInput().getType());
  ArrayRef<int64_t> perm = getPerm();
  SmallVector<bool> seen(in.getRank(), false);
  if (static_cast<int64_t>(perm.size()) != in.getRank())
    return emitOpError() << "perm has " << perm.size()
                         << " entries for an input of rank " << in.getRank();
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= in.getRank() || seen[p])
      return emitOpError() << "perm must be a permutation of [0, "
                           << in.getRank() << ")";
    seen[p] = true;
    shape.push_back(in.getDimSize(p));
  }
  if (failed(verifySameElementTypes(*this)))
    return failure();
  return verifyResultShape(*this, shape);
}

#define GET_OP_CLASSES
#include "moe/Dialect/ONNX/IR/ONNXOps.cpp.inc"
