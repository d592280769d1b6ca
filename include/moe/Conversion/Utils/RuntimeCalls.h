//===- RuntimeCalls.h - What generated code needs to call the runtime -*- C++ -*-=//
//
// Shared by the conversions that emit calls of the runtime's C entry points
// (convert-moe-to-runtime, the index checks of convert-onnx-to-linalg).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_UTILS_RUNTIMECALLS_H
#define MOE_CONVERSION_UTILS_RUNTIMECALLS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::moe {

/// The address of a NUL-terminated constant string held by an internal
/// global `symbol` of `module` (made on first use; `symbol` names one
/// text).
Value stringAddress(OpBuilder &builder, Location loc, ModuleOp module,
                    StringRef symbol, StringRef text);

} // namespace mlir::moe

#endif // MOE_CONVERSION_UTILS_RUNTIMECALLS_H
