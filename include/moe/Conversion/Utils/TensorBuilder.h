//===- TensorBuilder.h - linalg.generic building blocks ---------*- C++ -*-===//
//
// Small helpers that build the plain linalg.generic ops of the reference
// lowering: empty/filled tensors, generics with a scalar body, row-wise
// softmax and the ONNX-TopK-compatible rank of every score in its row.
// Shared by the conversions to linalg (moe and onnx).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_UTILS_TENSORBUILDER_H
#define MOE_CONVERSION_UTILS_TENSORBUILDER_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/TypeUtilities.h"

namespace mlir::moe {

/// The scalar body of a generic: block arguments (inputs then the output
/// accumulator) in, the value to yield out.
using ScalarBody =
    function_ref<Value(ImplicitLocOpBuilder &b, ValueRange args)>;

// Scalar helpers for generic bodies; `b` is the body's builder.
Value constF(ImplicitLocOpBuilder &b, Type type, double value);
Value constI(ImplicitLocOpBuilder &b, Type type, int64_t value);
/// linalg.index of loop `dim`, as an index value.
Value loopIndex(ImplicitLocOpBuilder &b, unsigned dim);
Value sigmoid(ImplicitLocOpBuilder &b, Value x);
/// True when `x` ranks above `y`: larger, or NaN against a number.
Value beats(ImplicitLocOpBuilder &b, Value x, Value y);
/// Converts an integer or index value to `type` (integer or index).
Value castInt(ImplicitLocOpBuilder &b, Value value, Type type);

/// ONNX Range's element count for scalar start, limit and delta (f32 or
/// integers): max(ceil((limit - start) / delta), 0) as an index, 0 for a
/// delta of 0 (or a float count beyond int64).
Value rangeCount(ImplicitLocOpBuilder &b, Value start, Value limit,
                 Value delta);

/// ONNX Slice bounds of one axis at run time (index values): negative
/// indices count from the end, both clamp to [0, dim]; returns the first
/// index and the size, ceil((end - start) / step) >= 0.
std::pair<Value, Value> sliceBounds(ImplicitLocOpBuilder &b, Value dim,
                                    Value start, Value end, int64_t step);
/// Slice start or end `i` as an index: from the attribute (saturated,
/// since INT64_MAX means "to the end") or read from the run-time operand.
Value sliceBound(ImplicitLocOpBuilder &b, std::optional<ArrayRef<int64_t>> attr,
                 Value tensor, int64_t i);

class TensorBuilder {
public:
  TensorBuilder(OpBuilder &builder, Location loc) : b(loc, builder) {}

  ImplicitLocOpBuilder &builder() { return b; }

  /// Size of dim `d` of a ranked tensor (static or a tensor.dim).
  OpFoldResult dim(Value tensor, int64_t d);
  /// tensor.empty of the given sizes.
  Value empty(ArrayRef<OpFoldResult> sizes, Type elementType);
  /// A tensor of the given sizes filled with `value`.
  Value filled(ArrayRef<OpFoldResult> sizes, Type elementType, double value);
  Value filledInt(ArrayRef<OpFoldResult> sizes, Type elementType,
                  int64_t value);

  /// linalg.generic with one output. `maps` lists the input maps then the
  /// output map, each selecting loop dims (projected permutations).
  Value generic(ValueRange inputs, Value init,
                ArrayRef<SmallVector<unsigned>> maps,
                ArrayRef<utils::IteratorType> iterators, ScalarBody body);
  /// The same with arbitrary affine maps (e.g. constant 0 for a broadcast
  /// dim).
  Value generic(ValueRange inputs, Value init, ArrayRef<AffineMap> maps,
                ArrayRef<utils::IteratorType> iterators, ScalarBody body);
  /// Elementwise generic over the loops of `init` (identity output map);
  /// `inputMaps` place each input in those loops.
  Value map(ValueRange inputs, ArrayRef<SmallVector<unsigned>> inputMaps,
            Value init, ScalarBody body);

  /// Row-wise softmax of a 2-D float tensor (last dim).
  Value softmaxRows(Value x);
  /// Row-wise reduction of a 2-D tensor to 1-D with `combine(acc, x)`.
  Value reduceRows(Value x, double init,
                   function_ref<Value(ImplicitLocOpBuilder &, Value, Value)>
                       combine);
  /// For a 2-D score tensor, the i64 rank of every score within its row
  /// (0 = best), with ONNX TopK's order: larger first, NaN above numbers,
  /// equal scores by lower index. With `groupSize` > 0, ranks within
  /// consecutive groups of that many columns.
  Value rankRows(Value scores, int64_t groupSize = 0);
  /// The same within each column (over rows): for expert-choice routing,
  /// the rank of each token's score among all tokens for one expert.
  Value rankColumns(Value scores);

private:
  ImplicitLocOpBuilder b;
};

} // namespace mlir::moe

#endif // MOE_CONVERSION_UTILS_TENSORBUILDER_H
