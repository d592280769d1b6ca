//===- MoEToRuntime.cpp - Decomposed moe ops to runtime calls -------------===//
//
// Each decomposed op becomes one call of a moe_cc_* entry point (CPU) or
// its moe_cuda_cc_* twin (CUDA, same arguments), made at the tensor level:
// operands are passed as the aligned pointers of their buffers, results
// are fresh allocations wrapped back into tensors. Doing it
// before bufferization keeps one-shot bufferization (and its deallocation)
// the only place that decides buffers for the rest of the graph.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToRuntime/MoEToRuntime.h"

#include "RuntimeCall.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "moe/Conversion/Utils/RuntimeCalls.h"
#include "moe/Dialect/MoE/Transforms/ConstantData.h"

#include "moe_packing.h"
#include "moe_runtime.h"
#include "moe_runtime_cuda.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/ADT/DenseSet.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETORUNTIMEPASS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

// The runtime's enums mirror the dialect's; calls pass the dialect's values.
static_assert(static_cast<int>(RoutingKind::SoftmaxTopK) ==
                  MOE_ROUTING_SOFTMAX_TOPK &&
              static_cast<int>(RoutingKind::TopKSoftmax) ==
                  MOE_ROUTING_TOPK_SOFTMAX &&
              static_cast<int>(RoutingKind::SigmoidTopK) ==
                  MOE_ROUTING_SIGMOID_TOPK &&
              static_cast<int>(RoutingKind::Dense) == MOE_ROUTING_DENSE);
static_assert(
    static_cast<int>(ActivationKind::Identity) == MOE_ACTIVATION_NONE &&
    static_cast<int>(ActivationKind::Relu) == MOE_ACTIVATION_RELU &&
    static_cast<int>(ActivationKind::Gelu) == MOE_ACTIVATION_GELU &&
    static_cast<int>(ActivationKind::Silu) == MOE_ACTIVATION_SILU &&
    static_cast<int>(ActivationKind::SwiGLU) == MOE_ACTIVATION_SWIGLU &&
    static_cast<int>(ActivationKind::ClampedSwiGLU) ==
        MOE_ACTIVATION_CLAMPED_SWIGLU &&
    static_cast<int>(ActivationKind::GeluTanh) == MOE_ACTIVATION_GELU_TANH);

namespace {

/// Globals holding layer names for the statistics: __moe_layer_<n>.
constexpr llvm::StringLiteral kLayerPrefix = "__moe_layer_";

bool isI32(Value v) {
  return getElementTypeOrSelf(v.getType()).isSignlessInteger(32);
}

/// The routing arguments every routing entry point takes after its
/// logits or router: E (routed experts), the routing parameters in
/// moe_routing_params' order (scale last), the correction bias.
void addRoutingArgs(RuntimeCall &call, RouteOp op) {
  RoutingAttr routing = op.getRouting();
  call.addI64(op.getNumExperts());
  call.addI32(static_cast<int32_t>(routing.getKind()));
  call.addI32(routing.getK());
  call.addI32(routing.getRenormalize());
  call.addI32(routing.getNGroup());
  call.addI32(routing.getTopkGroup());
  call.addI32(static_cast<int32_t>(routing.getGroupMask()));
  call.addI32(op.getSharedExperts());
  call.addI32(op.getSharedGate());
  call.addF32(routing.getScaleValue());
  call.addInput(op.getCorrectionBias());
}

/// Whether the CUDA routing kernel takes this routing (its scores live in
/// shared memory: at most MOE_CUDA_MAX_ROUTED_EXPERTS experts and
/// MOE_CUDA_MAX_EXPERT_GROUPS groups). Others route on the host.
bool fitsCudaRouting(RouteOp op) {
  return op.getNumExperts() <= MOE_CUDA_MAX_ROUTED_EXPERTS &&
         op.getRouting().getNGroup() <= MOE_CUDA_MAX_EXPERT_GROUPS;
}

/// CUDA: the constant small operands of a call (biases, the correction
/// bias) uploaded with the weights at model creation too; the runtime then
/// takes them from its device cache instead of copying them every call.
void preloadConstants(PatternRewriter &rewriter, Operation *user,
                      ValueRange operands, int32_t numThreads) {
  for (Value operand : operands)
    preloadIfConstant(rewriter, user, operand, numThreads);
}

/// The layer's number (routing calls in module order) and name, for the
/// runtime's routing statistics.
void addLayerArgs(RuntimeCall &call, RouteOp op) {
  auto module = op->getParentOfType<ModuleOp>();
  int32_t layer = 0;
  if (auto index = op->getAttrOfType<IntegerAttr>("moe.layer_index"))
    layer = static_cast<int32_t>(index.getInt());
  else
    for (auto global : module.getOps<LLVM::GlobalOp>())
      layer += global.getSymName().starts_with(kLayerPrefix);
  call.addI32(layer);
  call.addString((kLayerPrefix + Twine(layer)).str(),
                 onnxNodeName(op.getLoc()));
}

/// moe_cc_route_f32 (given logits) or moe_cc_route_fused_f32 (hidden
/// states and router: the whole gating in one kernel). For CUDA, routings
/// beyond the device kernel's limits call the CPU runtime's kernel.
struct RouteToRuntime : RuntimePattern<RouteOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    Value router = op.getRouter(), routerBias = op.getRouterBias();
    if (!isF32(op.getInput()) || !isF32(op.getWeights()) ||
        !isI32(op.getExpertIds()))
      return rewriter.notifyMatchFailure(op, "needs f32 data, i32 ids");
    // Beyond the CUDA kernel's limits: routed on the host.
    RuntimeTarget callTarget =
        target == RuntimeTarget::CUDA && !fitsCudaRouting(op)
            ? RuntimeTarget::CPU
            : target;
    RuntimeCall call(rewriter, op, numThreads, callTarget);
    Value input = op.getInput();
    Value tokens = call.dim(input, 0);
    call.addInput(input);
    call.addI64(tokens);
    // CUDA: a constant router (bias, correction bias) is uploaded at model
    // creation, and the call finds it in the device cache.
    if (callTarget == RuntimeTarget::CUDA)
      preloadConstants(rewriter, op,
                       {router, routerBias, op.getCorrectionBias()},
                       numThreads);
    if (router) {
      call.addI64(call.dim(input, 1));
      call.addInput(router);
      call.addInput(routerBias);
    }
    addRoutingArgs(call, op);
    Value slots = call.index(op.getNumSlots());
    call.addOutput(op.getExpertIds(), {tokens, slots});
    call.addOutput(op.getWeights(), {tokens, slots});
    addLayerArgs(call, op);
    rewriter.replaceOp(op, call.emit(router ? "moe_cc_route_fused_f32"
                                            : "moe_cc_route_f32"));
    return success();
  }
};

struct PermuteToRuntime : RuntimePattern<PermuteOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(PermuteOp op,
                                PatternRewriter &rewriter) const override {
    if (!isF32(op.getInput()) || !isI32(op.getExpertIds()))
      return rewriter.notifyMatchFailure(op, "needs f32 data, i32 ids");
    Value input = op.getInput(), ids = op.getExpertIds();
    int64_t k = cast<RankedTensorType>(ids.getType()).getDimSize(1);
    if (ShapedType::isDynamic(k))
      return rewriter.notifyMatchFailure(op, "needs a static k");
    RuntimeCall call(rewriter, op, numThreads, target);
    ImplicitLocOpBuilder &b = call.builder();
    Value tokens = call.dim(input, 0), d = call.dim(input, 1);
    Value numRows = arith::MulIOp::create(b, tokens, call.index(k));
    call.addInput(input);
    call.addI64(tokens);
    call.addI64(d);
    call.addInput(ids);
    call.addI64(k);
    call.addI64(op.getNumExperts());
    call.addOutput(op.getRows(), {numRows, d});
    call.addOutput(op.getAssignments(), {numRows});
    call.addOutput(op.getOffsets(), {call.index(op.getNumExperts() + 1)});
    call.addOutput(op.getInverse(), {tokens, call.index(k)});
    rewriter.replaceOp(op, call.emit("moe_cc_permute_f32"));
    return success();
  }
};

/// The suffix of the CUDA entry points for 16-bit constant weights.
StringRef cudaWeightSuffix(WeightStorage storage) {
  return storage == WeightStorage::F16 ? "f16w" : "bf16w";
}

bool is16Bit(WeightStorage storage) {
  return storage == WeightStorage::BF16 || storage == WeightStorage::F16;
}

/// Constant weights are packed into the runtime's panels (moe_packing.h)
/// here, at compile time, and go to the packed kernel; others are passed
/// row-major.
struct GroupedMatmulToRuntime : RuntimePattern<GroupedMatmulOp> {
  GroupedMatmulToRuntime(MLIRContext *context, int32_t numThreads,
                         WeightStorage storage, RuntimeTarget target)
      : RuntimePattern(context, numThreads, target), storage(storage) {}

  /// Constant `weights` packed at compile time in `storage`'s element type
  /// (and, for int8, their scales); null when the weights are not constant.
  std::pair<Value, Value> packedWeights(PatternRewriter &rewriter,
                                        Location loc, Value weights,
                                        bool gated) const {
    std::optional<std::vector<char>> bytes = constantBytes(weights);
    if (!bytes)
      return {};
    auto type = cast<RankedTensorType>(weights.getType());
    int64_t e = type.getDimSize(0), k = type.getDimSize(1),
            m = type.getDimSize(2);
    int64_t perExpert = ::moe::packing::packedExpertElements(k, m, gated);
    const auto *data = reinterpret_cast<const float *>(bytes->data());
    switch (storage) {
    case WeightStorage::BF16: {
      perExpert = ::moe::packing::packedExpertElementsBF16(k, m, gated);
      std::vector<uint16_t> packed(static_cast<size_t>(e * perExpert));
      ::moe::packing::packWeightsBF16(data, e, k, m, gated, packed.data());
      return {makeConstant(rewriter, loc,
                           RankedTensorType::get({e, perExpert},
                                                 rewriter.getBF16Type()),
                           asBytes(packed), "moe_panels_bf16"),
              Value()};
    }
    case WeightStorage::Int8: {
      int64_t columns = ::moe::packing::packedExpertColumns(m, gated);
      std::vector<int8_t> packed(static_cast<size_t>(e * perExpert));
      std::vector<float> scales(static_cast<size_t>(e * columns));
      ::moe::packing::packWeightsInt8(data, e, k, m, gated, packed.data(),
                                      scales.data());
      return {makeConstant(rewriter, loc,
                           RankedTensorType::get({e, perExpert},
                                                 rewriter.getI8Type()),
                           asBytes(packed), "moe_panels_i8"),
              makeConstant(rewriter, loc,
                           RankedTensorType::get({e, columns},
                                                 rewriter.getF32Type()),
                           asBytes(scales), "moe_panel_scales")};
    }
    case WeightStorage::F16:
      llvm_unreachable("f16 weights are CUDA-only: the pass refuses them for "
                       "the CPU target");
    case WeightStorage::F32:
      break;
    }
    std::vector<char> packed(static_cast<size_t>(e * perExpert) *
                             sizeof(float));
    ::moe::packing::packWeights(bytes->data(), e, k, m, gated, sizeof(float),
                              packed.data());
    auto packedType =
        RankedTensorType::get({e, perExpert}, type.getElementType());
    return {makeConstant(rewriter, loc, packedType, packed, "moe_panels"),
            Value()};
  }

  WeightStorage storage;

  LogicalResult matchAndRewrite(GroupedMatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!isF32(op.getRows()) || !isF32(op.getWeights()) ||
        !isI32(op.getOffsets()) ||
        (op.getCombineInverse() && !isI32(op.getCombineInverse())))
      return rewriter.notifyMatchFailure(op, "needs f32 data, i32 offsets");
    auto weightsType = cast<RankedTensorType>(op.getWeights().getType());
    if (!weightsType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "needs static weight shapes");
    ActivationAttr activation = op.getActivationAttr();
    bool gated = activation && activation.isGated();
    bool cuda = target == RuntimeTarget::CUDA;
    // CPU: constants packed into panels. CUDA: row-major, f32 as they are
    // or converted to bf16.
    Value packed, scales;
    if (!cuda)
      std::tie(packed, scales) =
          packedWeights(rewriter, op.getLoc(), op.getWeights(), gated);
    else if (is16Bit(storage))
      packed = rowMajor16(rewriter, op.getLoc(), op.getWeights(), storage);
    bool weightsConstant =
        cuda && preloadIfConstant(rewriter, op,
                                  packed ? packed : op.getWeights(), numThreads);
    if (cuda)
      preloadConstants(rewriter, op, {op.getBias()}, numThreads);
    RuntimeCall call(rewriter, op, numThreads, target);
    Value rows = op.getRows();
    Value numRows = call.dim(rows, 0);
    call.addInput(rows);
    call.addI64(numRows);
    call.addI64(weightsType.getDimSize(1));
    call.addInput(packed ? packed : op.getWeights());
    if (scales)
      call.addInput(scales);
    call.addI64(weightsType.getDimSize(0));
    call.addI64(weightsType.getDimSize(2));
    call.addInput(op.getOffsets());
    call.addInput(op.getBias());
    call.addActivation(activation);
    // With a fused combine the result has the combine's token rows.
    Value combineWeights = op.getCombineWeights();
    Value resultRows =
        combineWeights ? call.dim(combineWeights, 0) : numRows;
    call.addOutput(op.getResult(),
                   {resultRows, call.index(weightsType.getDimSize(2) /
                                           (gated ? 2 : 1))});
    // Profiled loads (moe-compile --profile): the busiest experts' work is
    // scheduled first, so no thread is left with a big segment at the end.
    Value order;
    if (auto loads = op->getAttrOfType<DenseI64ArrayAttr>("moe.expert_loads");
        loads && static_cast<int64_t>(loads.size()) ==
                     weightsType.getDimSize(0)) {
      SmallVector<int32_t> experts(loads.size());
      std::iota(experts.begin(), experts.end(), 0);
      ArrayRef<int64_t> counts = loads.asArrayRef();
      std::stable_sort(experts.begin(), experts.end(),
                       [&](int32_t a, int32_t b) {
                         return counts[a] > counts[b];
                       });
      order = arith::ConstantOp::create(
          rewriter, op.getLoc(),
          DenseElementsAttr::get(
              RankedTensorType::get({static_cast<int64_t>(experts.size())},
                                    rewriter.getI32Type()),
              ArrayRef<int32_t>(experts)));
    }
    call.addInput(order);
    call.addInput(combineWeights);
    call.addInput(op.getCombineInverse());
    if (combineWeights) {
      call.addI64(resultRows);
      call.addI64(call.dim(combineWeights, 1));
    } else {
      call.addI64(int64_t{0});
      call.addI64(int64_t{0});
    }
    std::string callee = "moe_cc_grouped_matmul_f32";
    if (cuda) {
      // Constants are uploaded once and kept on the device.
      call.addI32(weightsConstant);
      if (packed)
        callee = ("moe_cc_grouped_matmul_" + cudaWeightSuffix(storage)).str();
    } else if (packed) {
      callee = storage == WeightStorage::BF16
                   ? "moe_cc_grouped_matmul_packed_bf16w"
               : storage == WeightStorage::Int8
                   ? "moe_cc_grouped_matmul_packed_i8w"
                   : "moe_cc_grouped_matmul_packed_f32";
    }
    rewriter.replaceOp(op, call.emit(callee));
    return success();
  }
};

/// CUDA: a layer's experts in one call (moe_cuda_cc_experts_*) when the
/// chain permute -> grouped_matmul -> grouped_matmul with the combine fused
/// is self-contained (its intermediates have no other users), so that the
/// permuted rows and hidden activations stay on the device. When the ids
/// and weights come from a fused-gating moe.route of the same input that
/// nothing else reads, the routing joins the call (moe_cuda_cc_layer_*):
/// the layer's hidden states go up once. Matched at the down projection;
/// applied before the per-op patterns.
struct ExpertsToCuda : RuntimePattern<GroupedMatmulOp> {
  ExpertsToCuda(MLIRContext *context, int32_t numThreads,
                WeightStorage storage)
      : RuntimePattern(context, numThreads, RuntimeTarget::CUDA),
        storage(storage) {}
  WeightStorage storage;

  LogicalResult matchAndRewrite(GroupedMatmulOp down,
                                PatternRewriter &rewriter) const override {
    auto up = down.getRows().getDefiningOp<GroupedMatmulOp>();
    Value combineWeights = down.getCombineWeights();
    if (!combineWeights || !up || up.getCombineWeights() ||
        !down.getRows().hasOneUse())
      return rewriter.notifyMatchFailure(down, "not up -> down + combine");
    auto permute = up.getRows().getDefiningOp<PermuteOp>();
    if (!permute || up.getRows() != permute.getRows() ||
        up.getOffsets() != permute.getOffsets() ||
        down.getOffsets() != permute.getOffsets() ||
        down.getCombineInverse() != permute.getInverse() ||
        !permute.getRows().hasOneUse() || !permute.getInverse().hasOneUse() ||
        !permute.getAssignments().use_empty() ||
        llvm::any_of(permute.getOffsets().getUsers(), [&](Operation *user) {
          return user != up && user != down;
        }))
      return rewriter.notifyMatchFailure(down, "not one permutation's chain");
    auto w1Type = cast<RankedTensorType>(up.getWeights().getType());
    auto w2Type = cast<RankedTensorType>(down.getWeights().getType());
    auto idsType = cast<RankedTensorType>(permute.getExpertIds().getType());
    if (!isF32(permute.getInput()) || !isI32(permute.getExpertIds()) ||
        !isF32(up.getWeights()) || !isF32(down.getWeights()) ||
        !isF32(combineWeights) || !w1Type.hasStaticShape() ||
        !w2Type.hasStaticShape() || ShapedType::isDynamic(idsType.getDimSize(1)))
      return rewriter.notifyMatchFailure(down, "needs f32 data, static shapes");
    // bf16 / fp16 when both weights are constants converted at compile
    // time.
    Value w1 = up.getWeights(), w2 = down.getWeights();
    bool w1Constant = matchPattern(w1, m_Constant()),
         w2Constant = matchPattern(w2, m_Constant());
    bool half = is16Bit(storage) && w1Constant && w2Constant;
    if (half) {
      w1 = rowMajor16(rewriter, up.getLoc(), w1, storage);
      w2 = rowMajor16(rewriter, down.getLoc(), w2, storage);
      if (!w1 || !w2)
        return rewriter.notifyMatchFailure(down, "unreadable constants");
    }
    w1Constant = preloadIfConstant(rewriter, down, w1, numThreads);
    w2Constant = preloadIfConstant(rewriter, down, w2, numThreads);
    Value input = permute.getInput();
    RouteOp route = fusedRouting(permute, combineWeights);
    preloadConstants(rewriter, down, {up.getBias(), down.getBias()},
                     numThreads);
    if (route)
      preloadConstants(rewriter, down,
                       {route.getRouter(), route.getRouterBias(),
                        route.getCorrectionBias()},
                       numThreads);
    RuntimeCall call(rewriter, down, numThreads, target);
    Value tokens = call.dim(input, 0);
    call.addInput(input);
    call.addI64(tokens);
    call.addI64(call.dim(input, 1));
    if (route) {
      call.addInput(route.getRouter());
      call.addInput(route.getRouterBias());
      addRoutingArgs(call, route);
      addLayerArgs(call, route);
    } else {
      call.addInput(permute.getExpertIds());
      call.addInput(combineWeights);
      call.addI64(idsType.getDimSize(1));
      call.addI64(w1Type.getDimSize(0));
    }
    call.addInput(w1);
    call.addI64(w1Type.getDimSize(2));
    call.addInput(up.getBias());
    call.addActivation(up.getActivationAttr());
    call.addI32(w1Constant);
    call.addInput(w2);
    call.addI64(w2Type.getDimSize(2));
    call.addInput(down.getBias());
    call.addActivation(down.getActivationAttr());
    call.addI32(w2Constant);
    ActivationAttr act2 = down.getActivationAttr();
    call.addOutput(down.getResult(),
                   {tokens, call.index(w2Type.getDimSize(2) /
                                       (act2 && act2.isGated() ? 2 : 1))});
    StringRef suffix = half ? cudaWeightSuffix(storage) : "f32";
    rewriter.replaceOp(
        down, call.emit(((route ? "moe_cc_layer_" : "moe_cc_experts_") + suffix)
                            .str()));
    return success();
  }

  /// The moe.route with fused gating (a router) of the chain's input whose
  /// ids and weights only this chain reads; null otherwise.
  static RouteOp fusedRouting(PermuteOp permute, Value combineWeights) {
    auto route = permute.getExpertIds().getDefiningOp<RouteOp>();
    if (!route || !route.getRouter() || !isF32(route.getRouter()) ||
        !fitsCudaRouting(route) ||
        route.getInput() != permute.getInput() ||
        route.getWeights() != combineWeights ||
        !route.getExpertIds().hasOneUse() || !route.getWeights().hasOneUse())
      return nullptr;
    return route;
  }
};

struct CombineToRuntime : RuntimePattern<CombineOp> {
  using RuntimePattern::RuntimePattern;

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    if (!isF32(op.getRows()) || !isF32(op.getWeights()) ||
        !isI32(op.getInverse()))
      return rewriter.notifyMatchFailure(op, "needs f32 data, i32 indices");
    RuntimeCall call(rewriter, op, numThreads, target);
    Value rows = op.getRows(), weights = op.getWeights();
    Value tokens = call.dim(weights, 0), d = call.dim(rows, 1);
    call.addInput(rows);
    call.addI64(call.dim(rows, 0));
    call.addI64(d);
    call.addInput(weights);
    call.addInput(op.getInverse());
    call.addI64(tokens);
    call.addI64(cast<RankedTensorType>(weights.getType()).getDimSize(1));
    call.addOutput(op.getOutput(), {tokens, d});
    rewriter.replaceOp(op, call.emit("moe_cc_combine_f32"));
    return success();
  }
};

struct ConvertMoEToRuntimePass
    : mlir::moe::impl::ConvertMoEToRuntimePassBase<ConvertMoEToRuntimePass> {
  using Base::Base;

  /// fp16 holds magnitudes up to 65504: a constant weight beyond that
  /// would become an infinity, so it is an error naming the op (bf16 has
  /// fp32's range).
  LogicalResult checkF16Range() {
    WalkResult result = getOperation()->walk([&](GroupedMatmulOp op) {
      std::optional<std::vector<char>> bytes = constantBytes(op.getWeights());
      if (!bytes || !isF32(op.getWeights()))
        return WalkResult::advance();
      const auto *data = reinterpret_cast<const float *>(bytes->data());
      float largest = 0.0f;
      for (size_t i = 0; i < bytes->size() / sizeof(float); ++i)
        largest = std::max(largest, std::fabs(data[i]));
      if (largest <= kMaxF16)
        return WalkResult::advance();
      char text[32];
      std::snprintf(text, sizeof(text), "%g", largest);
      op.emitError() << "weight-type=f16: the weights hold " << text
                     << ", beyond fp16's largest value 65504 (use bf16)";
      return WalkResult::interrupt();
    });
    return failure(result.wasInterrupted());
  }

  void runOnOperation() override {
    std::optional<WeightStorage> parsed = parseWeightStorage(weightType);
    if (!parsed) {
      getOperation()->emitError()
          << "weight-type must be f32, bf16, f16 or int8, not '" << weightType
          << "'";
      return signalPassFailure();
    }
    WeightStorage storage = *parsed;
    if (target != "cpu" && target != "cuda") {
      getOperation()->emitError()
          << "target must be cpu or cuda, not '" << target << "'";
      return signalPassFailure();
    }
    if (target == "cuda" && weightType == "int8") {
      getOperation()->emitError()
          << "weight-type=int8 is not supported with target=cuda (the CUDA "
             "runtime has f32, bf16 and f16 grouped matmuls)";
      return signalPassFailure();
    }
    if (target == "cpu" && weightType == "f16") {
      getOperation()->emitError()
          << "weight-type=f16 needs target=cuda (the CPU runtime has f32, "
             "bf16 and int8 grouped matmuls)";
      return signalPassFailure();
    }
    if (storage == WeightStorage::F16 && failed(checkF16Range()))
      return signalPassFailure();
    if (target == "cuda") {
      // Whole expert chains first, before their ops become separate calls.
      RewritePatternSet chains(&getContext());
      chains.add<ExpertsToCuda>(&getContext(), numThreads, storage);
      if (failed(applyPatternsGreedily(getOperation(), std::move(chains))))
        return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    populateMoEToRuntimePatterns(
        patterns, numThreads, storage,
        target == "cuda" ? RuntimeTarget::CUDA : RuntimeTarget::CPU);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    if (target == "cuda")
      warnHostFallbacks();
  }

  /// CUDA: what no pattern took runs on the host through the reference
  /// lowering, orders of magnitude slower than the GPU - said once per
  /// layer (its ops share the layer's location), never silently.
  void warnHostFallbacks() {
    llvm::SmallDenseSet<Location> warned;
    getOperation()->walk([&](Operation *op) {
      if (!isa<MoEDialect>(op->getDialect()) ||
          !warned.insert(op->getLoc()).second)
        return;
      Type data;
      for (Type type :
           llvm::concat<Type>(op->getOperandTypes(), op->getResultTypes()))
        if (auto element = getElementTypeOrSelf(type);
            isa<FloatType>(element) && !element.isF32())
          data = element;
      InFlightDiagnostic warning = op->emitWarning()
                                   << "runs on the host (the reference "
                                      "lowering), not on the GPU: ";
      if (data)
        warning << "its data is " << data
                << " and the CUDA kernels take f32 activations (export the "
                   "model in float32; --weights=bf16 or f16 keeps the "
                   "expert weights 16-bit on the GPU)";
      else
        warning << "the CUDA runtime has no kernel for this op";
    });
  }
};

} // namespace

void mlir::moe::populateMoEToRuntimePatterns(RewritePatternSet &patterns,
                                             int32_t numThreads,
                                             WeightStorage storage,
                                             RuntimeTarget target) {
  MLIRContext *context = patterns.getContext();
  patterns.add<RouteToRuntime, PermuteToRuntime, CombineToRuntime>(
      context, numThreads, target);
  patterns.add<GroupedMatmulToRuntime>(context, numThreads, storage, target);
}
