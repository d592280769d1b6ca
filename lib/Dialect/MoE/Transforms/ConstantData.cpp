//===- ConstantData.cpp - Bytes of constant tensors -----------------------===//

#include "moe/Dialect/MoE/Transforms/ConstantData.h"

#include "llvm/ADT/APFloat.h"

#include <cstring>

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::moe;

std::optional<int64_t> moe::elementByteWidth(Type type) {
  if (!type.isIntOrFloat())
    return std::nullopt;
  unsigned bits = type.getIntOrFloatBitWidth();
  if (bits == 0 || bits % 8 != 0)
    return std::nullopt;
  return bits / 8;
}

/// The stored bytes of `attr` (one element for a splat) and whether it is
/// a splat; nullopt when unreadable.
static std::optional<std::pair<ArrayRef<char>, bool>> storage(ElementsAttr attr) {
  auto type = cast<ShapedType>(attr.getType());
  std::optional<int64_t> width = elementByteWidth(type.getElementType());
  if (!width)
    return std::nullopt;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr))
    return std::make_pair(dense.getRawData(), dense.isSplat());
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  AsmResourceBlob *blob = resource ? resource.getRawHandle().getBlob() : nullptr;
  if (!blob ||
      static_cast<int64_t>(blob->getData().size()) !=
          type.getNumElements() * *width)
    return std::nullopt;
  return std::make_pair(blob->getData(), false);
}

bool moe::hasElementBytes(ElementsAttr attr) {
  return storage(attr).has_value();
}

std::optional<std::vector<char>> moe::elementBytes(ElementsAttr attr) {
  auto stored = storage(attr);
  if (!stored)
    return std::nullopt;
  auto [raw, splat] = *stored;
  if (!splat)
    return std::vector<char>(raw.begin(), raw.end());
  int64_t count = cast<ShapedType>(attr.getType()).getNumElements();
  std::vector<char> bytes;
  bytes.reserve(count * raw.size());
  for (int64_t i = 0; i < count; ++i)
    bytes.insert(bytes.end(), raw.begin(), raw.end());
  return bytes;
}

Value moe::makeConstant(OpBuilder &builder, Location loc,
                        RankedTensorType type, ArrayRef<char> bytes,
                        StringRef name) {
  // Small ones (scalars: an epsilon, a mask's fill) inline: patterns read
  // their values (m_Constant of a DenseElementsAttr), and the LLVM lowering
  // of a 0-D memref.global cannot read a resource blob.
  if (type.getNumElements() <= kInlineElements)
    return arith::ConstantOp::create(
        builder, loc, DenseElementsAttr::getFromRawBuffer(type, bytes));
  AsmResourceBlob blob =
      HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(double));
  return arith::ConstantOp::create(
      builder, loc, DenseResourceElementsAttr::get(type, name, std::move(blob)));
}

std::vector<char> mlir::moe::widenToF32(ArrayRef<char> bytes, bool bf16) {
  size_t count = bytes.size() / 2;
  std::vector<char> wide(count * sizeof(float));
  for (size_t i = 0; i < count; ++i) {
    uint16_t bits;
    std::memcpy(&bits, bytes.data() + 2 * i, 2);
    float value;
    if (bf16) {
      uint32_t word = uint32_t(bits) << 16;
      std::memcpy(&value, &word, sizeof(value));
    } else {
      llvm::APFloat half(llvm::APFloat::IEEEhalf(), llvm::APInt(16, bits));
      value = half.convertToFloat();
    }
    std::memcpy(wide.data() + i * sizeof(float), &value, sizeof(value));
  }
  return wide;
}

bool mlir::moe::isHalfFloat(Type type) {
  Type element = getElementTypeOrSelf(type);
  return element.isF16() || element.isBF16();
}

Value mlir::moe::widenToF32(OpBuilder &builder, Location loc, Value value) {
  auto tensor = cast<RankedTensorType>(value.getType());
  auto wideType = RankedTensorType::get(tensor.getShape(),
                                        Float32Type::get(value.getContext()));
  ElementsAttr attr;
  if (matchPattern(value, m_Constant(&attr)))
    if (std::optional<std::vector<char>> bytes = elementBytes(attr))
      return makeConstant(builder, loc, wideType,
                          widenToF32(*bytes, tensor.getElementType().isBF16()),
                          "widened");
  return onnx::CastOp::create(builder, loc, wideType, value);
}
