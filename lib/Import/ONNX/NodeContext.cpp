//===- NodeContext.cpp - What an ONNX node builder sees -------------------===//

#include "NodeContext.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::moe::onnx_import;

std::string NodeContext::describe() const {
  std::string name = node.name().empty() ? "<unnamed>" : node.name();
  std::string type = node.domain().empty()
                         ? node.op_type()
                         : node.domain() + "." + node.op_type();
  return "node '" + name + "' (" + type + "): ";
}

InFlightDiagnostic NodeContext::emitError() {
  return mlir::emitError(b.getLoc()) << describe();
}

Value NodeContext::input(unsigned i) {
  if (i >= static_cast<unsigned>(node.input_size()) || node.input(i).empty())
    return {};
  return state.values.lookup(node.input(i));
}

FailureOr<Value> NodeContext::requiredInput(unsigned i) {
  if (Value value = input(i))
    return value;
  return emitError() << "required input #" << i << " is missing";
}

FailureOr<SmallVector<Value>> NodeContext::variadicInputs() {
  SmallVector<Value> inputs;
  for (unsigned i = 0; i < numInputs(); ++i) {
    FailureOr<Value> value = requiredInput(i);
    if (failed(value))
      return failure();
    inputs.push_back(*value);
  }
  if (inputs.empty())
    return emitError() << "needs at least one input";
  return inputs;
}

RankedTensorType NodeContext::inputType(unsigned i) {
  Value value = input(i);
  return value ? cast<RankedTensorType>(value.getType()) : RankedTensorType();
}

std::optional<ElementsAttr> NodeContext::constantInput(unsigned i) {
  if (i >= static_cast<unsigned>(node.input_size()) || node.input(i).empty())
    return std::nullopt;
  auto it = state.constants.find(node.input(i));
  if (it == state.constants.end())
    return std::nullopt;
  return it->second;
}

FailureOr<SmallVector<int64_t>> NodeContext::constantInts(unsigned i,
                                                         StringRef what) {
  std::optional<ElementsAttr> attr = constantInput(i);
  if (!attr)
    return emitError() << what << " (input #" << i
                       << ") must be a constant known at import time";
  if (!attr->getElementType().isInteger())
    return emitError() << what << " (input #" << i
                       << ") must hold integers";
  auto dense = dyn_cast<DenseIntElementsAttr>(*attr);
  if (!dense)
    return emitError() << what << " (input #" << i
                       << ") must be a small inline constant";
  SmallVector<int64_t> values;
  for (const APInt &v : dense.getValues<APInt>())
    values.push_back(v.getSExtValue());
  return values;
}

const ::onnx::AttributeProto *NodeContext::attribute(StringRef name) const {
  for (const ::onnx::AttributeProto &attr : node.attribute())
    if (attr.name() == name)
      return &attr;
  return nullptr;
}

FailureOr<int64_t> NodeContext::intAttr(StringRef name, int64_t dflt) {
  const ::onnx::AttributeProto *attr = attribute(name);
  if (!attr)
    return dflt;
  if (attr->type() != ::onnx::AttributeProto::INT)
    return emitError() << "attribute '" << name << "' must be an int";
  return attr->i();
}

FailureOr<float> NodeContext::floatAttr(StringRef name, float dflt) {
  const ::onnx::AttributeProto *attr = attribute(name);
  if (!attr)
    return dflt;
  if (attr->type() != ::onnx::AttributeProto::FLOAT)
    return emitError() << "attribute '" << name << "' must be a float";
  return attr->f();
}

std::optional<float> NodeContext::optionalFloatAttr(StringRef name) {
  const ::onnx::AttributeProto *attr = attribute(name);
  if (!attr || attr->type() != ::onnx::AttributeProto::FLOAT)
    return std::nullopt;
  return attr->f();
}

FailureOr<std::string> NodeContext::stringAttr(StringRef name,
                                               StringRef dflt) {
  const ::onnx::AttributeProto *attr = attribute(name);
  if (!attr)
    return dflt.str();
  if (attr->type() != ::onnx::AttributeProto::STRING)
    return emitError() << "attribute '" << name << "' must be a string";
  return attr->s();
}

FailureOr<SmallVector<int64_t>> NodeContext::intsAttr(StringRef name) {
  const ::onnx::AttributeProto *attr = attribute(name);
  if (!attr)
    return SmallVector<int64_t>();
  if (attr->type() != ::onnx::AttributeProto::INTS)
    return emitError() << "attribute '" << name << "' must be a list of ints";
  return SmallVector<int64_t>(attr->ints().begin(), attr->ints().end());
}

FailureOr<int64_t> NodeContext::normalizeAxis(int64_t axis, int64_t rank,
                                              StringRef what) {
  if (axis < -rank || axis >= rank)
    return emitError() << what << " " << axis << " is out of range for rank "
                       << rank;
  return axis < 0 ? axis + rank : axis;
}

LogicalResult NodeContext::setOutput(unsigned i, Value value) {
  if (i >= static_cast<unsigned>(node.output_size()))
    return emitError() << "has no output #" << i;
  const std::string &name = node.output(i);
  if (name.empty())
    return success();
  if (state.values.count(name))
    return emitError() << "output '" << name
                       << "' is already defined by another node or input";
  state.values[name] = value;
  return success();
}

NodeBuilder mlir::moe::onnx_import::lookupBuilder(StringRef domain,
                                                  StringRef opType,
                                                  int64_t opsetVersion) {
  if (domain == "ai.onnx")
    domain = "";
  const OpEntry *best = nullptr;
  for (ArrayRef<OpEntry> family :
       {getStandardOpEntries(), getDataOpEntries(), getSelectOpEntries(),
        getMicrosoftOpEntries()})
    for (const OpEntry &entry : family)
      if (entry.domain == domain && entry.opType == opType &&
          entry.sinceVersion <= opsetVersion &&
          (!best || entry.sinceVersion > best->sinceVersion))
        best = &entry;
  return best ? best->build : nullptr;
}

FailureOr<Type> mlir::moe::onnx_import::convertElementType(
    int32_t onnxType, MLIRContext *context) {
  Builder b(context);
  switch (onnxType) {
  case ::onnx::TensorProto::FLOAT:
    return Type(b.getF32Type());
  case ::onnx::TensorProto::FLOAT16:
    return Type(b.getF16Type());
  case ::onnx::TensorProto::BFLOAT16:
    return Type(b.getBF16Type());
  case ::onnx::TensorProto::DOUBLE:
    return Type(b.getF64Type());
  case ::onnx::TensorProto::INT64:
    return Type(b.getI64Type());
  case ::onnx::TensorProto::INT32:
    return Type(b.getI32Type());
  case ::onnx::TensorProto::INT8:
    return Type(b.getI8Type());
  case ::onnx::TensorProto::UINT8:
    // Quantized weights (QMoE); the onnx ops work on signless types.
    return Type(b.getIntegerType(8, /*isSigned=*/false));
  case ::onnx::TensorProto::BOOL:
    return Type(b.getI1Type());
  default:
    return failure();
  }
}

StringRef mlir::moe::onnx_import::onnxTypeName(int32_t onnxType) {
  if (::onnx::TensorProto::DataType_IsValid(onnxType))
    return ::onnx::TensorProto::DataType_Name(
        static_cast<::onnx::TensorProto::DataType>(onnxType));
  return "<invalid>";
}

std::string mlir::moe::onnx_import::formatShape(ArrayRef<int64_t> shape) {
  std::string text = "[";
  for (auto [i, dim] : llvm::enumerate(shape))
    text += (i ? ", " : "") + (ShapedType::isDynamic(dim)
                                   ? std::string("?")
                                   : std::to_string(dim));
  return text + "]";
}
