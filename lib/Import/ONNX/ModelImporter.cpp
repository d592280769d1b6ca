//===- ModelImporter.cpp - ONNX ModelProto to MLIR ------------------------===//
//
// Parses the model with the ONNX project's protobuf schema, then builds
// @main_graph: initializers as constants, graph inputs as arguments, one
// builder call per node (looked up by domain, op_type and opset), graph
// outputs as results. Fusion and MoE reasoning are left to the passes.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/ONNX/ImportONNX.h"

#include "NodeContext.h"
#include "TensorImport.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <climits>
#include <map>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_import;

namespace {

/// Highest opset of the default domain whose semantics the builders know.
constexpr int64_t kMaxDefaultOpset = 25;

class GraphImporter {
public:
  GraphImporter(const ::onnx::ModelProto &model, StringRef modelPath,
                MLIRContext *context, const ONNXImportOptions &options)
      : model(model), modelPath(modelPath), context(context),
        options(options) {}

  OwningOpRef<ModuleOp> run();

private:
  Location fileLoc() {
    return FileLineColLoc::get(context, modelPath, 0, 0);
  }
  Location namedLoc(StringRef name) {
    return NameLoc::get(StringAttr::get(context, name), fileLoc());
  }
  InFlightDiagnostic emitError() { return mlir::emitError(fileLoc()); }
  LogicalResult readOpsets();
  FailureOr<RankedTensorType> convertValueInfo(const ::onnx::ValueInfoProto &info);
  /// {name = "...", dims = ["dim_param" or "" per dimension]}.
  DictionaryAttr describeGraphValue(const ::onnx::ValueInfoProto &info);
  LogicalResult importInitializers(ImplicitLocOpBuilder &b);
  LogicalResult importNode(const ::onnx::NodeProto &node, unsigned index,
                           OpBuilder &builder);

  const ::onnx::ModelProto &model;
  StringRef modelPath;
  MLIRContext *context;
  const ONNXImportOptions &options;
  std::map<std::string, int64_t> opsets;
  GraphState state;
};

} // namespace

LogicalResult GraphImporter::readOpsets() {
  for (const ::onnx::OperatorSetIdProto &opset : model.opset_import()) {
    std::string domain = opset.domain() == "ai.onnx" ? "" : opset.domain();
    opsets[domain] = opset.version();
  }
  auto it = opsets.find("");
  if (it == opsets.end())
    return emitError() << "the model imports no opset of the default ONNX "
                          "domain";
  if (it->second < 1 || it->second > kMaxDefaultOpset)
    return emitError() << "default-domain opset " << it->second
                       << " is not supported (1 to " << kMaxDefaultOpset
                       << ")";
  return success();
}

FailureOr<RankedTensorType>
GraphImporter::convertValueInfo(const ::onnx::ValueInfoProto &info) {
  auto loc = namedLoc(info.name());
  if (!info.type().has_tensor_type())
    return mlir::emitError(loc)
           << "graph value '" << info.name() << "' is not a tensor";
  const ::onnx::TypeProto::Tensor &tensor = info.type().tensor_type();
  FailureOr<Type> elementType =
      convertElementType(tensor.elem_type(), context);
  if (failed(elementType))
    return mlir::emitError(loc)
           << "graph value '" << info.name() << "' has unsupported element type "
           << onnxTypeName(tensor.elem_type());
  if (!tensor.has_shape())
    return mlir::emitError(loc) << "graph value '" << info.name()
                                << "' has no shape (its rank is required)";
  SmallVector<int64_t> shape;
  for (const ::onnx::TensorShapeProto::Dimension &dim : tensor.shape().dim()) {
    if (dim.has_dim_value() && dim.dim_value() < 0)
      return mlir::emitError(loc) << "graph value '" << info.name()
                                  << "' has a negative dimension";
    shape.push_back(dim.has_dim_value() ? dim.dim_value()
                                        : ShapedType::kDynamic);
  }
  return RankedTensorType::get(shape, *elementType);
}

DictionaryAttr
GraphImporter::describeGraphValue(const ::onnx::ValueInfoProto &info) {
  Builder b(context);
  SmallVector<Attribute> dims;
  if (info.type().has_tensor_type() && info.type().tensor_type().has_shape())
    for (const auto &dim : info.type().tensor_type().shape().dim())
      dims.push_back(b.getStringAttr(dim.has_dim_param() ? dim.dim_param()
                                                         : ""));
  return b.getDictionaryAttr(
      {b.getNamedAttr("name", b.getStringAttr(info.name())),
       b.getNamedAttr("dims", b.getArrayAttr(dims))});
}

LogicalResult GraphImporter::importInitializers(ImplicitLocOpBuilder &b) {
  const ::onnx::GraphProto &graph = model.graph();
  // Check the declared sizes against the budget before reading anything.
  uint64_t total = 0;
  for (const ::onnx::TensorProto &tensor : graph.initializer()) {
    FailureOr<uint64_t> bytes = tensorByteSize(
        tensor, namedLoc(tensor.name()), "initializer '" + tensor.name() + "'");
    if (failed(bytes))
      return failure();
    total += *bytes;
    if (options.maxWeightBytes && total > options.maxWeightBytes)
      return emitError() << "the initializers need more than "
                         << options.maxWeightBytes
                         << " bytes, the configured memory budget";
  }
  TensorImportOptions tensorOptions;
  tensorOptions.externalDataDir = options.externalDataDir;
  tensorOptions.resourceThreshold = options.resourceThreshold;
  for (const ::onnx::TensorProto &tensor : graph.initializer()) {
    Location loc = namedLoc(tensor.name());
    if (state.values.count(tensor.name()))
      return mlir::emitError(loc)
             << "initializer '" << tensor.name() << "' is defined twice";
    FailureOr<ElementsAttr> attr = importTensor(
        tensor, loc, "initializer '" + tensor.name() + "'", tensorOptions);
    if (failed(attr))
      return failure();
    auto constant = arith::ConstantOp::create(b, loc, cast<TypedAttr>(*attr));
    state.values[tensor.name()] = constant;
    state.constants[tensor.name()] = *attr;
  }
  return success();
}

LogicalResult GraphImporter::importNode(const ::onnx::NodeProto &node,
                                        unsigned index, OpBuilder &builder) {
  std::string name = node.name().empty()
                         ? node.op_type() + "_" + std::to_string(index)
                         : node.name();
  Location loc = namedLoc(name);
  std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
  auto describe = [&] {
    return "node '" + name + "' (" +
           (domain.empty() ? "" : domain + ".") + node.op_type() + "): ";
  };
  for (const std::string &input : node.input())
    if (!input.empty() && !state.values.count(input))
      return mlir::emitError(loc)
             << describe() << "input '" << input
             << "' is not produced by an earlier node, a graph input or an "
                "initializer (dangling input, or the graph is not "
                "topologically sorted)";
  auto opset = opsets.find(domain);
  if (opset == opsets.end())
    return mlir::emitError(loc) << describe() << "the model imports no opset "
                                << "for domain '" << domain << "'";
  NodeBuilder build = lookupBuilder(domain, node.op_type(), opset->second);
  if (!build)
    return mlir::emitError(loc)
           << describe() << "unsupported operator (domain '"
           << (domain.empty() ? "ai.onnx" : domain) << "', opset "
           << opset->second << ")";
  ImplicitLocOpBuilder b(loc, builder);
  NodeContext ctx(node, b, state, opset->second);
  if (failed(build(ctx)))
    return failure();
  for (const std::string &output : node.output())
    if (!output.empty() && !state.values.count(output))
      return mlir::emitError(loc) << describe() << "output '" << output
                                  << "' is not supported by the importer";
  return success();
}

OwningOpRef<ModuleOp> GraphImporter::run() {
  if (!model.has_graph()) {
    emitError() << "the model has no graph";
    return {};
  }
  if (failed(readOpsets()))
    return {};
  const ::onnx::GraphProto &graph = model.graph();

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc());
  OpBuilder builder(context);
  builder.setInsertionPointToEnd(module->getBody());

  // Graph inputs that are not initializers become arguments.
  llvm::StringSet<> initializerNames;
  for (const ::onnx::TensorProto &tensor : graph.initializer())
    initializerNames.insert(tensor.name());
  SmallVector<const ::onnx::ValueInfoProto *> inputs;
  SmallVector<Type> argTypes;
  for (const ::onnx::ValueInfoProto &info : graph.input()) {
    if (initializerNames.contains(info.name()))
      continue;
    FailureOr<RankedTensorType> type = convertValueInfo(info);
    if (failed(type))
      return {};
    inputs.push_back(&info);
    argTypes.push_back(*type);
  }
  auto func = func::FuncOp::create(builder, fileLoc(), "main_graph",
                                   builder.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [info, arg] : llvm::zip(inputs, entry->getArguments())) {
    if (state.values.count(info->name())) {
      mlir::emitError(namedLoc(info->name()))
          << "graph input '" << info->name() << "' is declared twice";
      return {};
    }
    state.values[info->name()] = arg;
    arg.setLoc(namedLoc(info->name()));
  }

  builder.setInsertionPointToStart(entry);
  ImplicitLocOpBuilder b(fileLoc(), builder);
  if (failed(importInitializers(b)))
    return {};
  for (auto [index, node] : llvm::enumerate(graph.node()))
    if (failed(importNode(node, index, builder)))
      return {};

  SmallVector<Value> results;
  for (const ::onnx::ValueInfoProto &output : graph.output()) {
    Value value = state.values.lookup(output.name());
    if (!value) {
      mlir::emitError(namedLoc(output.name()))
          << "graph output '" << output.name()
          << "' is not produced by any node, input or initializer";
      return {};
    }
    results.push_back(value);
  }
  func::ReturnOp::create(builder, fileLoc(), results);
  func.setType(builder.getFunctionType(argTypes, TypeRange(ValueRange(results))));
  // The graph's names and dim_params, for the compiled model's C API.
  SmallVector<Attribute> inputAttrs, outputAttrs;
  for (const ::onnx::ValueInfoProto *info : inputs)
    inputAttrs.push_back(describeGraphValue(*info));
  for (const ::onnx::ValueInfoProto &info : graph.output())
    outputAttrs.push_back(describeGraphValue(info));
  func->setAttr("onnx.inputs", builder.getArrayAttr(inputAttrs));
  func->setAttr("onnx.outputs", builder.getArrayAttr(outputAttrs));
  if (failed(verify(*module)))
    return {};
  return module;
}

OwningOpRef<ModuleOp> mlir::moe::importONNXModel(StringRef bytes,
                                                 StringRef modelPath,
                                                 MLIRContext *context,
                                                 const ONNXImportOptions &options) {
  DialectRegistry registry;
  registerONNXImportDialects(registry);
  context->appendDialectRegistry(registry);
  context->loadAllAvailableDialects();

  Location loc = FileLineColLoc::get(context, modelPath, 0, 0);
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    emitError(loc) << "the model file is over 2 GB; keep large weights in "
                      "external data files";
    return {};
  }
  ::onnx::ModelProto model;
  google::protobuf::io::ArrayInputStream raw(bytes.data(),
                                             static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT_MAX);
  if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
    emitError(loc) << "not a valid ONNX model (protobuf parsing failed)";
    return {};
  }

  ONNXImportOptions resolved = options;
  if (resolved.externalDataDir.empty()) {
    StringRef dir = llvm::sys::path::parent_path(modelPath);
    resolved.externalDataDir = dir.empty() ? "." : dir.str();
  }
  return GraphImporter(model, modelPath, context, resolved).run();
}

OwningOpRef<ModuleOp> mlir::moe::importONNXFile(StringRef path,
                                                MLIRContext *context,
                                                const ONNXImportOptions &options) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer) {
    emitError(FileLineColLoc::get(context, path, 0, 0))
        << "cannot read the model: " << buffer.getError().message();
    return {};
  }
  return importONNXModel((*buffer)->getBuffer(), path, context, options);
}

void mlir::moe::registerONNXImportDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, func::FuncDialect,
                  linalg::LinalgDialect, moe::MoEDialect, moe::onnx::ONNXDialect,
                  tensor::TensorDialect>();
}

void mlir::moe::registerImportONNXTranslation() {
  TranslateToMLIRRegistration registration(
      "import-onnx", "Import an ONNX model (.onnx) into MLIR",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        return importONNXModel(buffer->getBuffer(),
                               buffer->getBufferIdentifier(), context);
      },
      registerONNXImportDialects);
}
