//===- TensorImport.cpp - ONNX tensors to MLIR attributes -----------------===//
//
// Every size is checked against the declared shape x dtype with
// overflow-checked arithmetic before data is read, and external data is
// confined to the model's directory (no absolute paths, no "..", no
// symlinks resolving outside it): the places where ONNX loaders have had
// vulnerabilities.
//
//===----------------------------------------------------------------------===//

#include "TensorImport.h"
#include "NodeContext.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cstring>

using namespace mlir;
using namespace mlir::moe::onnx_import;

static int64_t elementByteSize(Type type) {
  return type.isInteger(1) ? 1 : type.getIntOrFloatBitWidth() / 8;
}

static std::string formatDims(const ::onnx::TensorProto &tensor) {
  std::string text = "[";
  for (int i = 0; i < tensor.dims_size(); ++i)
    text += (i ? ", " : "") + std::to_string(tensor.dims(i));
  return text + "]";
}

FailureOr<uint64_t> mlir::moe::onnx_import::tensorByteSize(
    const ::onnx::TensorProto &tensor, Location loc, StringRef what) {
  FailureOr<Type> elementType =
      convertElementType(tensor.data_type(), loc.getContext());
  if (failed(elementType))
    return emitError(loc) << what << ": unsupported element type "
                          << onnxTypeName(tensor.data_type());
  int64_t count = 1;
  for (int64_t dim : tensor.dims()) {
    if (dim < 0)
      return emitError(loc) << what << ": negative dimension in shape "
                            << formatDims(tensor);
    if (llvm::MulOverflow(count, dim, count))
      return emitError(loc) << what << ": element count of shape "
                            << formatDims(tensor) << " overflows";
  }
  int64_t bytes;
  if (llvm::MulOverflow(count, elementByteSize(*elementType), bytes))
    return emitError(loc) << what << ": byte size of shape "
                          << formatDims(tensor) << " overflows";
  return static_cast<uint64_t>(bytes);
}

/// Whether `path` contains a ".." component.
static bool hasParentComponent(StringRef path) {
  for (auto it = llvm::sys::path::begin(path),
            end = llvm::sys::path::end(path);
       it != end; ++it)
    if (*it == "..")
      return true;
  return false;
}

/// Reads the external data of `tensor` (exactly `bytes` bytes) into `out`.
static LogicalResult readExternalData(const ::onnx::TensorProto &tensor,
                                      uint64_t bytes, Location loc,
                                      StringRef what, StringRef dataDir,
                                      std::vector<char> &out) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const ::onnx::StringStringEntryProto &entry : tensor.external_data()) {
    auto parseInt = [&](StringRef text, int64_t &value) -> LogicalResult {
      if (StringRef(text).getAsInteger(10, value) || value < 0)
        return emitError(loc) << what << ": external data " << entry.key()
                              << " '" << text
                              << "' is not a non-negative integer";
      return success();
    };
    if (entry.key() == "location")
      location = entry.value();
    else if (entry.key() == "offset" && failed(parseInt(entry.value(), offset)))
      return failure();
    else if (entry.key() == "length" && failed(parseInt(entry.value(), length)))
      return failure();
  }
  if (location.empty())
    return emitError(loc) << what << ": external data has no location";
  if (llvm::sys::path::is_absolute(location) || hasParentComponent(location))
    return emitError(loc) << what << ": external data location '" << location
                          << "' must be a relative path inside the model's "
                             "directory (no absolute paths, no '..')";

  SmallString<256> dirReal, fileReal, joined(dataDir);
  llvm::sys::path::append(joined, location);
  if (llvm::sys::fs::real_path(dataDir, dirReal) ||
      llvm::sys::fs::real_path(joined, fileReal))
    return emitError(loc) << what << ": cannot open external data file '"
                          << joined << "'";
  SmallString<256> prefix(dirReal);
  llvm::sys::path::append(prefix, "");
  if (!StringRef(fileReal).starts_with(prefix))
    return emitError(loc) << what << ": external data '" << location
                          << "' resolves to '" << fileReal
                          << "', outside the model's directory";
  llvm::sys::fs::file_status status;
  if (llvm::sys::fs::status(fileReal, status) ||
      status.type() != llvm::sys::fs::file_type::regular_file)
    return emitError(loc) << what << ": external data '" << location
                          << "' is not a regular file";
  // A hard link inside the directory may name any file of the filesystem
  // (ONNX's CVE-2025-51480 class); regular data files have one name.
  if (status.getLinkCount() > 1)
    return emitError(loc) << what << ": external data '" << location
                          << "' is a hard link (" << status.getLinkCount()
                          << " names); copy the data into the model's "
                             "directory";
  uint64_t fileSize = status.getSize();
  if (static_cast<uint64_t>(offset) > fileSize)
    return emitError(loc) << what << ": external data offset " << offset
                          << " is beyond the end of '" << location << "' ("
                          << fileSize << " bytes)";
  uint64_t available = fileSize - offset;
  uint64_t wanted = length < 0 ? available : static_cast<uint64_t>(length);
  if (wanted > available)
    return emitError(loc) << what << ": external data range [" << offset
                          << ", " << offset << " + " << wanted
                          << ") is beyond the end of '" << location << "' ("
                          << fileSize << " bytes)";
  if (wanted != bytes)
    return emitError(loc) << what << ": external data has " << wanted
                          << " bytes, but shape " << formatDims(tensor)
                          << " of " << onnxTypeName(tensor.data_type())
                          << " needs " << bytes;
  auto buffer = llvm::MemoryBuffer::getFileSlice(fileReal, bytes, offset);
  if (!buffer)
    return emitError(loc) << what << ": cannot read external data '"
                          << location << "': " << buffer.getError().message();
  out.assign((*buffer)->getBufferStart(), (*buffer)->getBufferEnd());
  return success();
}

/// Copies a typed repeated field into little-endian bytes of `elementType`.
template <typename Repeated>
static void copyTyped(const Repeated &field, Type elementType,
                      std::vector<char> &out) {
  int64_t size = elementByteSize(elementType);
  out.resize(field.size() * size);
  char *dst = out.data();
  for (auto value : field) {
    if (elementType.isF32()) {
      float v = static_cast<float>(value);
      std::memcpy(dst, &v, 4);
    } else if (elementType.isF64()) {
      double v = static_cast<double>(value);
      std::memcpy(dst, &v, 8);
    } else {
      // Integers, and the raw bits of f16/bf16 kept in int32_data.
      int64_t v = static_cast<int64_t>(value);
      std::memcpy(dst, &v, size);
    }
    dst += size;
  }
}

/// A resource blob name that the MLIR parser reads back.
static std::string blobName(StringRef name) {
  std::string result = "onnx_";
  for (char c : name)
    result += llvm::isAlnum(c) ? c : '_';
  return result;
}

FailureOr<ElementsAttr> mlir::moe::onnx_import::importTensor(
    const ::onnx::TensorProto &tensor, Location loc, StringRef what,
    const TensorImportOptions &options) {
  FailureOr<uint64_t> bytes = tensorByteSize(tensor, loc, what);
  if (failed(bytes))
    return failure();
  Type elementType = *convertElementType(tensor.data_type(), loc.getContext());
  SmallVector<int64_t> shape(tensor.dims().begin(), tensor.dims().end());
  auto type = RankedTensorType::get(shape, elementType);
  int64_t count = type.getNumElements();

  std::vector<char> data;
  if (tensor.data_location() == ::onnx::TensorProto::EXTERNAL) {
    if (failed(readExternalData(tensor, *bytes, loc, what,
                                options.externalDataDir, data)))
      return failure();
  } else if (tensor.has_raw_data()) {
    if (tensor.raw_data().size() != *bytes)
      return emitError(loc) << what << ": raw_data has "
                            << tensor.raw_data().size()
                            << " bytes, but shape " << formatDims(tensor)
                            << " of " << onnxTypeName(tensor.data_type())
                            << " needs " << *bytes;
    data.assign(tensor.raw_data().begin(), tensor.raw_data().end());
  } else {
    int64_t have = 0;
    switch (tensor.data_type()) {
    case ::onnx::TensorProto::FLOAT:
      have = tensor.float_data_size();
      copyTyped(tensor.float_data(), elementType, data);
      break;
    case ::onnx::TensorProto::DOUBLE:
      have = tensor.double_data_size();
      copyTyped(tensor.double_data(), elementType, data);
      break;
    case ::onnx::TensorProto::INT64:
      have = tensor.int64_data_size();
      copyTyped(tensor.int64_data(), elementType, data);
      break;
    default: // int32, int8, bool, f16 and bf16 bits live in int32_data.
      have = tensor.int32_data_size();
      copyTyped(tensor.int32_data(), elementType, data);
      break;
    }
    if (have != count)
      return emitError(loc) << what << ": has " << have
                            << " values, but shape " << formatDims(tensor)
                            << " needs " << count;
  }

  if (elementType.isInteger(1)) {
    SmallVector<bool> values;
    for (char c : data)
      values.push_back(c != 0);
    return ElementsAttr(DenseElementsAttr::get(type, values));
  }
  if (count < options.resourceThreshold) {
    bool detectedSplat = false;
    if (!DenseElementsAttr::isValidRawBuffer(type, data, detectedSplat))
      return emitError(loc) << what << ": invalid data buffer";
    return ElementsAttr(DenseElementsAttr::getFromRawBuffer(type, data));
  }
  AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
      data, alignof(double));
  return ElementsAttr(
      DenseResourceElementsAttr::get(
          type, blobName(tensor.name().empty() ? what : tensor.name()),
          std::move(blob)));
}
