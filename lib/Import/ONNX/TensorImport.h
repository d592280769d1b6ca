//===- TensorImport.h - ONNX tensors to MLIR attributes ---------*- C++ -*-===//
//
// Converts TensorProto data (inline, typed fields or external files) to
// ElementsAttr, checking every size before reading anything.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_IMPORT_ONNX_TENSORIMPORT_H
#define MOE_LIB_IMPORT_ONNX_TENSORIMPORT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"

#include <onnx/onnx_pb.h>

namespace mlir::moe::onnx_import {

struct TensorImportOptions {
  /// Directory external data files must resolve inside.
  std::string externalDataDir;
  /// Tensors with at least this many elements become dense_resource blobs.
  int64_t resourceThreshold = 64;
};

/// The declared byte size of `tensor` (element count x element size), or
/// failure with an error at `loc` for negative dims, overflow or an
/// unsupported element type. `what` names the tensor in messages.
FailureOr<uint64_t> tensorByteSize(const ::onnx::TensorProto &tensor,
                                   Location loc, StringRef what);

/// The contents of `tensor` as an attribute, or failure with an error at
/// `loc` naming `what`.
FailureOr<ElementsAttr> importTensor(const ::onnx::TensorProto &tensor,
                                     Location loc, StringRef what,
                                     const TensorImportOptions &options);

} // namespace mlir::moe::onnx_import

#endif // MOE_LIB_IMPORT_ONNX_TENSORIMPORT_H
