//===- TensorBuilder.cpp - linalg.generic building blocks -----------------===//

#include "moe/Conversion/Utils/TensorBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::moe;

Value moe::constF(ImplicitLocOpBuilder &b, Type type, double value) {
  return arith::ConstantOp::create(b, b.getFloatAttr(type, value));
}

Value moe::constI(ImplicitLocOpBuilder &b, Type type, int64_t value) {
  if (type.isIndex())
    return arith::ConstantIndexOp::create(b, value);
  return arith::ConstantOp::create(b, b.getIntegerAttr(type, value));
}

Value moe::loopIndex(ImplicitLocOpBuilder &b, unsigned dim) {
  return linalg::IndexOp::create(b, dim);
}

Value moe::sigmoid(ImplicitLocOpBuilder &b, Value x) {
  Type type = x.getType();
  Value negExp = math::ExpOp::create(b, arith::NegFOp::create(b, x));
  Value denom = arith::AddFOp::create(b, constF(b, type, 1.0), negExp);
  return arith::DivFOp::create(b, constF(b, type, 1.0), denom);
}

Value moe::beats(ImplicitLocOpBuilder &b, Value x, Value y) {
  Value greater = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, x, y);
  Value xNaN = arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, x, x);
  Value yNumber = arith::CmpFOp::create(b, arith::CmpFPredicate::ORD, y, y);
  return arith::OrIOp::create(b, greater,
                              arith::AndIOp::create(b, xNaN, yNumber));
}

Value moe::castInt(ImplicitLocOpBuilder &b, Value value, Type type) {
  if (value.getType() == type)
    return value;
  if (value.getType().isIndex() || type.isIndex())
    return arith::IndexCastOp::create(b, type, value);
  if (value.getType().getIntOrFloatBitWidth() < type.getIntOrFloatBitWidth())
    return arith::ExtSIOp::create(b, type, value);
  return arith::TruncIOp::create(b, type, value);
}

OpFoldResult TensorBuilder::dim(Value tensor, int64_t d) {
  return tensor::getMixedSize(b, b.getLoc(), tensor, d);
}

Value TensorBuilder::empty(ArrayRef<OpFoldResult> sizes, Type elementType) {
  return tensor::EmptyOp::create(b, sizes, elementType);
}

Value TensorBuilder::filled(ArrayRef<OpFoldResult> sizes, Type elementType,
                            double value) {
  Value scalar = constF(b, elementType, value);
  return linalg::FillOp::create(b, scalar, empty(sizes, elementType))
      .getResult(0);
}

Value TensorBuilder::filledInt(ArrayRef<OpFoldResult> sizes, Type elementType,
                               int64_t value) {
  Value scalar = constI(b, elementType, value);
  return linalg::FillOp::create(b, scalar, empty(sizes, elementType))
      .getResult(0);
}

Value TensorBuilder::generic(ValueRange inputs, Value init,
                             ArrayRef<SmallVector<unsigned>> maps,
                             ArrayRef<utils::IteratorType> iterators,
                             ScalarBody body) {
  SmallVector<AffineMap> affineMaps;
  for (ArrayRef<unsigned> targets : maps)
    affineMaps.push_back(AffineMap::getMultiDimMapWithTargets(
        iterators.size(), targets, b.getContext()));
  return generic(inputs, init, ArrayRef<AffineMap>(affineMaps), iterators,
                 body);
}

Value TensorBuilder::generic(ValueRange inputs, Value init,
                             ArrayRef<AffineMap> maps,
                             ArrayRef<utils::IteratorType> iterators,
                             ScalarBody body) {
  auto op = linalg::GenericOp::create(
      b, TypeRange{init.getType()}, inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        ImplicitLocOpBuilder nb(loc, nested);
        linalg::YieldOp::create(nb, body(nb, args));
      });
  return op.getResult(0);
}

Value TensorBuilder::map(ValueRange inputs,
                         ArrayRef<SmallVector<unsigned>> inputMaps,
                         Value init, ScalarBody body) {
  unsigned rank = cast<RankedTensorType>(init.getType()).getRank();
  SmallVector<SmallVector<unsigned>> maps(inputMaps);
  maps.push_back(llvm::to_vector(llvm::seq<unsigned>(0, rank)));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return generic(inputs, init, maps, iterators, body);
}

Value TensorBuilder::reduceRows(
    Value x, double init,
    function_ref<Value(ImplicitLocOpBuilder &, Value, Value)> combine) {
  Type elementType = getElementTypeOrSelf(x.getType());
  Value acc = filled({dim(x, 0)}, elementType, init);
  return generic(x, acc, {{0, 1}, {0}},
                 {utils::IteratorType::parallel,
                  utils::IteratorType::reduction},
                 [&](ImplicitLocOpBuilder &nb, ValueRange args) {
                   return combine(nb, args[1], args[0]);
                 });
}

Value TensorBuilder::softmaxRows(Value x) {
  Type elementType = getElementTypeOrSelf(x.getType());
  Value rowMax =
      reduceRows(x, -std::numeric_limits<double>::infinity(),
                 [](ImplicitLocOpBuilder &nb, Value acc, Value v) -> Value {
                   return arith::MaximumFOp::create(nb, acc, v);
                 });
  Value init = empty({dim(x, 0), dim(x, 1)}, elementType);
  Value exps = map({x, rowMax}, {{0, 1}, {0}}, init,
                   [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                     return math::ExpOp::create(
                         nb, arith::SubFOp::create(nb, args[0], args[1]));
                   });
  Value sums =
      reduceRows(exps, 0.0,
                 [](ImplicitLocOpBuilder &nb, Value acc, Value v) -> Value {
                   return arith::AddFOp::create(nb, acc, v);
                 });
  return map({exps, sums}, {{0, 1}, {0}}, init,
             [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
               return arith::DivFOp::create(nb, args[0], args[1]);
             });
}

/// i1: whether score `other` (at index `otherIndex`) ranks above `self` (at
/// `selfIndex`) in ONNX TopK order: it beats it, or ties at a lower index.
static Value ranksAbove(ImplicitLocOpBuilder &nb, Value other, Value self,
                        Value otherIndex, Value selfIndex) {
  Value i1True = constI(nb, nb.getI1Type(), 1);
  Value otherBeats = beats(nb, other, self);
  Value tie = arith::AndIOp::create(
      nb, arith::XOrIOp::create(nb, otherBeats, i1True),
      arith::XOrIOp::create(nb, beats(nb, self, other), i1True));
  Value earlier = arith::CmpIOp::create(nb, arith::CmpIPredicate::ult,
                                        otherIndex, selfIndex);
  return arith::OrIOp::create(nb, otherBeats,
                              arith::AndIOp::create(nb, tie, earlier));
}

Value TensorBuilder::rankRows(Value scores, int64_t groupSize) {
  Type i64 = b.getI64Type();
  Value init = filledInt({dim(scores, 0), dim(scores, 1)}, i64, 0);
  // Loops (row, col, other): count the `other` columns that rank above
  // `col`.
  return generic(
      {scores, scores}, init, {{0, 2}, {0, 1}, {0, 1}},
      {utils::IteratorType::parallel, utils::IteratorType::parallel,
       utils::IteratorType::reduction},
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value col = loopIndex(nb, 1), otherCol = loopIndex(nb, 2);
        Value above = ranksAbove(nb, args[0], args[1], otherCol, col);
        if (groupSize > 0) {
          Value size = constI(nb, nb.getIndexType(), groupSize);
          Value sameGroup = arith::CmpIOp::create(
              nb, arith::CmpIPredicate::eq,
              arith::DivUIOp::create(nb, otherCol, size),
              arith::DivUIOp::create(nb, col, size));
          above = arith::AndIOp::create(nb, above, sameGroup);
        }
        return arith::AddIOp::create(nb, args[2],
                                     arith::ExtUIOp::create(nb, i64, above));
      });
}

Value TensorBuilder::rankColumns(Value scores) {
  Type i64 = b.getI64Type();
  Value init = filledInt({dim(scores, 0), dim(scores, 1)}, i64, 0);
  // Loops (row, col, otherRow): count the rows that rank above `row`.
  return generic(
      {scores, scores}, init, {{2, 1}, {0, 1}, {0, 1}},
      {utils::IteratorType::parallel, utils::IteratorType::parallel,
       utils::IteratorType::reduction},
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value above = ranksAbove(nb, args[0], args[1], loopIndex(nb, 2),
                                 loopIndex(nb, 0));
        return arith::AddIOp::create(nb, args[2],
                                     arith::ExtUIOp::create(nb, i64, above));
      });
}

std::pair<Value, Value> mlir::moe::sliceBounds(ImplicitLocOpBuilder &b,
                                               Value dim, Value start,
                                               Value end, int64_t step) {
  Value zero = arith::ConstantIndexOp::create(b, 0);
  auto clampIndex = [&](Value v) -> Value {
    Value wrapped = arith::SelectOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::slt, v, zero),
        arith::AddIOp::create(b, v, dim), v);
    return arith::MinSIOp::create(b, arith::MaxSIOp::create(b, wrapped, zero),
                                  dim);
  };
  Value first = clampIndex(start), last = clampIndex(end);
  Value span =
      arith::MaxSIOp::create(b, arith::SubIOp::create(b, last, first), zero);
  Value size = arith::DivUIOp::create(
      b,
      arith::AddIOp::create(b, span,
                            arith::ConstantIndexOp::create(b, step - 1)),
      arith::ConstantIndexOp::create(b, step));
  return {first, size};
}

Value mlir::moe::sliceBound(ImplicitLocOpBuilder &b,
                            std::optional<ArrayRef<int64_t>> attr, Value tensor,
                            int64_t i) {
  if (attr)
    return arith::ConstantIndexOp::create(
        b,
        std::clamp<int64_t>((*attr)[i], -(int64_t(1) << 40), int64_t(1) << 40));
  Value element = tensor::ExtractOp::create(
      b, tensor, ValueRange{arith::ConstantIndexOp::create(b, i)});
  Value saturated = arith::MaxSIOp::create(
      b,
      arith::MinSIOp::create(
          b, element,
          arith::ConstantOp::create(b, b.getI64IntegerAttr(int64_t(1) << 40))),
      arith::ConstantOp::create(b, b.getI64IntegerAttr(-(int64_t(1) << 40))));
  return castInt(b, saturated, b.getIndexType());
}

Value mlir::moe::rangeCount(ImplicitLocOpBuilder &b, Value start, Value limit,
                            Value delta) {
  Type element = start.getType();
  Value count;
  if (isa<FloatType>(element)) {
    Value steps = math::CeilOp::create(
        b, arith::DivFOp::create(b, arith::SubFOp::create(b, limit, start),
                                 delta));
    Value finite = arith::CmpFOp::create(
        b, arith::CmpFPredicate::OLT, math::AbsFOp::create(b, steps),
        arith::ConstantOp::create(b, b.getFloatAttr(element, 9.0e18)));
    count = arith::SelectOp::create(
        b, finite, arith::FPToSIOp::create(b, b.getI64Type(), steps),
        arith::ConstantIntOp::create(b, b.getI64Type(), 0));
  } else {
    Value nonzero =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ne, delta,
                              arith::ConstantIntOp::create(b, element, 0));
    Value safe = arith::SelectOp::create(
        b, nonzero, delta, arith::ConstantIntOp::create(b, element, 1));
    count = arith::SelectOp::create(
        b, nonzero,
        arith::CeilDivSIOp::create(b, arith::SubIOp::create(b, limit, start),
                                   safe),
        arith::ConstantIntOp::create(b, element, 0));
  }
  return arith::MaxSIOp::create(
      b, arith::IndexCastOp::create(b, b.getIndexType(), count),
      arith::ConstantIndexOp::create(b, 0));
}
