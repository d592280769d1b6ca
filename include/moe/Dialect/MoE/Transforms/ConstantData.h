//===- ConstantData.h - Bytes of constant tensors ----------------*- C++ -*-===//
//
// Read and make constant tensors as raw little-endian element bytes: what
// raising (stacking per-expert weights) and weight folding (transposes,
// slices, concatenations of weights at compile time) both need; and 16-bit
// values widened to f32 (moe-widen-half, and raising a layer of mixed
// float types).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_TRANSFORMS_CONSTANTDATA_H
#define MOE_DIALECT_MOE_TRANSFORMS_CONSTANTDATA_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributeInterfaces.h"

#include <optional>
#include <vector>

namespace mlir::moe {

/// The bytes of one element of `type`, when elements are whole bytes
/// (not i1, whose dense storage is bit-packed).
std::optional<int64_t> elementByteWidth(Type type);

/// The raw bytes of every element of a dense or dense_resource constant
/// (splats expanded); nullopt when the data is unavailable (an elided
/// resource) or the element type is not whole bytes.
std::optional<std::vector<char>> elementBytes(ElementsAttr attr);

/// Whether elementBytes(attr) has a value (without copying anything).
bool hasElementBytes(ElementsAttr attr);

/// f32 bytes of 16-bit float elements (f16, or bf16 when `bf16`): exact.
std::vector<char> widenToF32(ArrayRef<char> bytes, bool bf16);

/// Constants of at most this many elements are made inline (dense).
constexpr int64_t kInlineElements = 16;

/// An arith.constant of `type` holding `bytes`: inline when small, else a
/// dense_resource blob named after `name` (uniqued by the context).
Value makeConstant(OpBuilder &builder, Location loc, RankedTensorType type,
                   ArrayRef<char> bytes, StringRef name);

/// Whether `type` (or its elements) is f16 or bf16.
bool isHalfFloat(Type type);

/// `value` (a tensor of f16 or bf16) as f32: a constant widened at compile
/// time when its data is readable (exact: f32 holds every f16 and bf16
/// value), else an onnx.cast.
Value widenToF32(OpBuilder &builder, Location loc, Value value);

} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_TRANSFORMS_CONSTANTDATA_H
