//===- ModelInterface.h - What the model C API needs from the graph -*- C++ -*-=//
//
// The compiled graph provides two symbols to runtime/model/Model.cpp:
// `__moe_model_signature` (inputs and outputs as text) and
// `__moe_model_entry(void *results, void **inputs)`.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_COMPILER_MODELINTERFACE_H
#define MOE_LIB_COMPILER_MODELINTERFACE_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace llvm {
class Module;
} // namespace llvm

namespace mlir::moe {

/// The signature text of `func` (the imported @main_graph, with its
/// onnx.inputs/onnx.outputs names); an error for an element type the C API
/// has no dtype for.
FailureOr<std::string> describeModelSignature(func::FuncOp func);

/// Marks the arguments of `func` read-only for bufferization: the C API
/// promises callers that inputs are never written.
void markInputsReadOnly(func::FuncOp func);

/// Adds `__moe_model_signature` and `__moe_model_entry` (over
/// `_mlir_ciface_<name>`) to `module`, `__moe_model_prepare`, and with
/// `deviceIO` (moe-mark-device-io marked the graph) `__moe_model_device_io`
/// and, when some inputs are read on the host (`hostInputs`, their
/// indices), `__moe_model_host_inputs` = {count, indices...}.
LogicalResult addModelInterface(llvm::Module &module, StringRef funcName,
                                unsigned numInputs, StringRef signature,
                                bool deviceIO = false,
                                ArrayRef<int32_t> hostInputs = {});

} // namespace mlir::moe

#endif // MOE_LIB_COMPILER_MODELINTERFACE_H
