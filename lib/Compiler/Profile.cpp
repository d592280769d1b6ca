//===- Profile.cpp - Routing profiles for profile-guided compilation ------===//

#include "Profile.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace mlir;
using namespace mlir::moe;

LogicalResult mlir::moe::annotateLayers(ModuleOp module,
                                        StringRef profilePath) {
  SmallVector<LayerOp> layers;
  module.walk([&](LayerOp layer) { layers.push_back(layer); });
  Builder b(module.getContext());
  for (auto [index, layer] : llvm::enumerate(layers))
    layer->setAttr("moe.layer_index", b.getI64IntegerAttr(index));
  if (profilePath.empty())
    return success();

  Location loc = FileLineColLoc::get(module.getContext(), profilePath, 0, 0);
  auto buffer = llvm::MemoryBuffer::getFile(profilePath);
  if (!buffer)
    return emitError(loc) << "cannot read the profile: "
                          << buffer.getError().message();
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return emitError(loc) << "the profile is not JSON: "
                          << llvm::toString(json.takeError());
  const llvm::json::Object *root = json->getAsObject();
  const llvm::json::Array *entries = root ? root->getArray("layers") : nullptr;
  if (!entries)
    return emitError(loc) << "the profile has no 'layers' list (write it with "
                             "moe-run --profile)";
  DenseMap<int64_t, SmallVector<int64_t>> loads;
  for (const llvm::json::Value &entry : *entries) {
    const llvm::json::Object *object = entry.getAsObject();
    std::optional<int64_t> index =
        object ? object->getInteger("layer") : std::nullopt;
    const llvm::json::Array *counts =
        object ? object->getArray("tokens_per_expert") : nullptr;
    if (!index || !counts)
      return emitError(loc) << "a profile layer lacks 'layer' or "
                               "'tokens_per_expert'";
    SmallVector<int64_t> values;
    for (const llvm::json::Value &count : *counts) {
      std::optional<int64_t> value = count.getAsInteger();
      if (!value || *value < 0)
        return emitError(loc) << "layer " << *index
                              << ": 'tokens_per_expert' must hold counts";
      values.push_back(*value);
    }
    loads[*index] = std::move(values);
  }
  for (auto [index, layer] : llvm::enumerate(layers)) {
    auto it = loads.find(static_cast<int64_t>(index));
    if (it == loads.end())
      return emitError(loc) << "the profile has no layer " << index
                            << " (the model has " << layers.size()
                            << " MoE layers); was it recorded on this model?";
    if (static_cast<int64_t>(it->second.size()) != layer.getNumExperts())
      return emitError(loc) << "layer " << index << " of the profile has "
                            << it->second.size() << " experts, the model's "
                            << layer.getNumExperts();
    layer->setAttr("moe.expert_loads", b.getDenseI64ArrayAttr(it->second));
  }
  return success();
}
