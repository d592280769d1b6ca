//===- NodeContext.h - What an ONNX node builder sees -----------*- C++ -*-===//
//
// The importer dispatches every node to a small builder function through
// a table keyed by (domain, op_type, since-opset). A builder reads its
// inputs and attributes through NodeContext, which reports every problem
// naming the node, and builds ops at the node's location.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_IMPORT_ONNX_NODECONTEXT_H
#define MOE_LIB_IMPORT_ONNX_NODECONTEXT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/StringMap.h"

#include <onnx/onnx_pb.h>

#include <optional>

namespace mlir::moe::onnx_import {

/// Values and constants known while importing one graph.
struct GraphState {
  /// Every tensor name defined so far.
  llvm::StringMap<Value> values;
  /// Values whose contents are known at import time (initializers and
  /// Constant nodes), for builders that need constant inputs.
  llvm::StringMap<ElementsAttr> constants;
};

class NodeContext {
public:
  NodeContext(const ::onnx::NodeProto &node, ImplicitLocOpBuilder &builder,
              GraphState &state, int64_t opsetVersion)
      : node(node), b(builder), state(state), opsetVersion(opsetVersion) {}

  const ::onnx::NodeProto &node;
  ImplicitLocOpBuilder &b;
  GraphState &state;
  /// The opset version of the node's domain declared by the model.
  int64_t opsetVersion;

  /// An error at the node's location, its text prefixed with the node.
  InFlightDiagnostic emitError();

  unsigned numInputs() const { return node.input_size(); }
  /// Input `i`, or null when it is absent or empty (an omitted optional).
  Value input(unsigned i);
  /// Input `i`, which must be present; emits an error otherwise.
  FailureOr<Value> requiredInput(unsigned i);
  /// Every input of a variadic node (Concat, Einsum): all must be present,
  /// and there must be at least one.
  FailureOr<SmallVector<Value>> variadicInputs();
  /// Input `i` as a ranked tensor type (null when absent).
  RankedTensorType inputType(unsigned i);
  /// The contents of input `i` when known at import time.
  std::optional<ElementsAttr> constantInput(unsigned i);
  /// Input `i` as a constant list of integers (e.g. axes, shape, k).
  FailureOr<SmallVector<int64_t>> constantInts(unsigned i, StringRef what);

  const ::onnx::AttributeProto *attribute(StringRef name) const;
  /// Attribute accessors: the default when absent, an error when the
  /// attribute has the wrong type.
  FailureOr<int64_t> intAttr(StringRef name, int64_t dflt);
  FailureOr<float> floatAttr(StringRef name, float dflt);
  FailureOr<std::string> stringAttr(StringRef name, StringRef dflt);
  FailureOr<SmallVector<int64_t>> intsAttr(StringRef name);
  std::optional<float> optionalFloatAttr(StringRef name);

  /// Normalizes a possibly negative `axis` for `rank`; errors when out of
  /// range.
  FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank,
                                   StringRef what = "axis");

  /// Binds output `i` of the node to `value`.
  LogicalResult setOutput(unsigned i, Value value);

private:
  std::string describe() const;
};

using NodeBuilder = LogicalResult (*)(NodeContext &);

/// One row of the dispatch table.
struct OpEntry {
  llvm::StringLiteral domain; // "" is the default ONNX domain
  llvm::StringLiteral opType;
  int64_t sinceVersion;
  NodeBuilder build;
};

/// The rows of each op family, defined in their own files.
ArrayRef<OpEntry> getStandardOpEntries();
ArrayRef<OpEntry> getDataOpEntries();
ArrayRef<OpEntry> getSelectOpEntries();
ArrayRef<OpEntry> getMicrosoftOpEntries();

/// The builder for `opType` in `domain` at `opsetVersion`: the row with the
/// largest sinceVersion not above it. Null when unsupported.
NodeBuilder lookupBuilder(StringRef domain, StringRef opType,
                          int64_t opsetVersion);

/// "[4, ?, 8]" for messages.
std::string formatShape(ArrayRef<int64_t> shape);

/// Converts an ONNX element type to MLIR; failure for unsupported ones.
FailureOr<Type> convertElementType(int32_t onnxType, MLIRContext *context);
StringRef onnxTypeName(int32_t onnxType);

} // namespace mlir::moe::onnx_import

#endif // MOE_LIB_IMPORT_ONNX_NODECONTEXT_H
