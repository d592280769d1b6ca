//===- Patterns.h - onnx-to-linalg pattern families -------------*- C++ -*-===//
//
// Each file of this conversion adds one family of patterns.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_ONNXTOLINALG_PATTERNS_H
#define MOE_LIB_CONVERSION_ONNXTOLINALG_PATTERNS_H

#include "moe/Conversion/Utils/TensorBuilder.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::moe::onnx_lowering {

/// An index value for a size.
Value toIndex(ImplicitLocOpBuilder &b, OpFoldResult size);
/// An index read from an indices tensor, negative values counting from
/// `dim` (ONNX gather/scatter semantics).
Value normalizedIndex(ImplicitLocOpBuilder &b, Value raw, Value dim);

/// normalizedIndex, range-checked at run time: an index outside
/// [-dim, dim) is reported to the runtime (moe_cc_index_error, naming the
/// node of `op`; the compiled model's run then fails with that message)
/// and replaced by 0. `inRange` (i1) says whether it was valid.
struct CheckedIndex {
  Value index;
  Value inRange;
};
CheckedIndex checkedIndex(ImplicitLocOpBuilder &b, Operation *op, Value raw,
                          Value dim);
/// tensor.extract of `coords` when `valid`, else a zero: reads never leave
/// the tensor, even for an empty dimension.
Value extractIfValid(ImplicitLocOpBuilder &b, Value tensor,
                     ArrayRef<Value> coords, Value valid);
/// The value a scatter writes where an update lands: the update, or with
/// `add` (reduction = "add") the accumulator plus the update.
Value scatterValue(ImplicitLocOpBuilder &b, Value acc, Value update, bool add);
/// tensor.reshape of `input` to `dims` (index values), built from an i64
/// shape tensor: bufferizes to memref.reshape whatever the dims.
Value reshapeTo(ImplicitLocOpBuilder &b, Value input, ArrayRef<Value> dims,
                Type resultType);

/// Sizes of every dim of `tensor`.
SmallVector<OpFoldResult> mixedSizes(TensorBuilder &tb, Value tensor);

/// The map reading `operand` inside loops over `resultType`'s dims under
/// numpy broadcasting: trailing dims aligned, size-1 dims read index 0.
AffineMap broadcastMap(ShapedType operand, ShapedType resultType);

/// An elementwise linalg.generic over `resultType` applying `body` to the
/// broadcast `operands` (numpy rules). A statically stretched dim reads
/// index 0 through the indexing map; a dynamic operand dim may still be 1
/// at run time, so such operands are read with tensor.extract at
/// `dim == 1 ? 0 : i`, and dynamic result dims are the max over operands.
Value broadcastElementwise(TensorBuilder &tb, ValueRange operands,
                           RankedTensorType resultType, ScalarBody body);

void populateElementwisePatterns(RewritePatternSet &patterns);
void populateLinearAlgebraPatterns(RewritePatternSet &patterns);
void populateShapePatterns(RewritePatternSet &patterns);
void populateIndexingPatterns(RewritePatternSet &patterns);
void populateReductionPatterns(RewritePatternSet &patterns);
void populateSelectPatterns(RewritePatternSet &patterns);

} // namespace mlir::moe::onnx_lowering

#endif // MOE_LIB_CONVERSION_ONNXTOLINALG_PATTERNS_H
