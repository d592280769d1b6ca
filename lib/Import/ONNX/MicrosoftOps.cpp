//===- MicrosoftOps.cpp - Builders for the com.microsoft domain -----------===//
//
// ONNX Runtime's com.microsoft.MoE imports straight to moe.layer: it is one
// MoE layer by definition. Its weights are stored [E, out, in] (each row
// an output feature), so they are transposed to the dialect's [E, in, out]
// and fused gate/up projections are split; the installed onnxruntime is
// the arbiter of these semantics (test/Import/ONNX/microsoft_moe_*.py).
//
//===----------------------------------------------------------------------===//

#include "NodeContext.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/TypeUtilities.h"

#include <cstdio>
#include <cstdlib>
#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_import;

namespace {

/// [E, a, b] -> [E, b, a].
Value transposeExperts(ImplicitLocOpBuilder &b, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> perm = type.getRank() == 3 ? SmallVector<int64_t>{0, 2, 1}
                                                  : SmallVector<int64_t>{0, 1};
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(type.getDimSize(p));
  return moe::onnx::TransposeOp::create(b, type.clone(shape), value,
                                   b.getDenseI64ArrayAttr(perm));
}

/// Rows [start, start + count * stride) step `stride` of dim 1.
Value sliceDim1(ImplicitLocOpBuilder &b, Value value, int64_t start,
                int64_t count, int64_t stride) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  SmallVector<OpFoldResult> sizes;
  for (int64_t dim : type.getShape())
    sizes.push_back(b.getIndexAttr(dim));
  offsets[1] = b.getIndexAttr(start);
  sizes[1] = b.getIndexAttr(count);
  strides[1] = b.getIndexAttr(stride);
  return tensor::ExtractSliceOp::create(b, value, offsets, sizes, strides);
}

/// ONNX stores float attributes in single precision; the dialect states
/// them as doubles. Take the shortest decimal that reads back as the same
/// float (1.702f -> 1.702), so IR shows what the model author wrote.
double shortestDouble(float value) {
  char text[32];
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, value);
    if (std::strtof(text, nullptr) == value)
      return std::strtod(text, nullptr);
  }
  return static_cast<double>(value);
}

LogicalResult checkShape(NodeContext &ctx, StringRef name, Value value,
                         ArrayRef<int64_t> expected, StringRef dims) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == expected)
    return success();
  auto diag = ctx.emitError() << "input '" << name << "' must have shape "
                              << dims << " = [";
  llvm::interleaveComma(expected, diag);
  return diag << "], got " << type;
}

LogicalResult buildMoE(NodeContext &ctx) {
  FailureOr<Value> input = ctx.requiredInput(0), logits = ctx.requiredInput(1),
                   fc1 = ctx.requiredInput(2), fc2 = ctx.requiredInput(4);
  if (failed(input) || failed(logits) || failed(fc1) || failed(fc2))
    return failure();
  Value fc1Bias = ctx.input(3), fc2Bias = ctx.input(5), fc3 = ctx.input(6),
        fc3Bias = ctx.input(7);
  FailureOr<int64_t> k = ctx.intAttr("k", 1),
                     normalize = ctx.intAttr("normalize_routing_weights", 0),
                     sparseMixer = ctx.intAttr("use_sparse_mixer", 0),
                     fusion = ctx.intAttr("swiglu_fusion", 0),
                     limitAfter = ctx.intAttr("swiglu_limit_after_activation", 0);
  FailureOr<float> alpha = ctx.floatAttr("activation_alpha", 1.0f),
                   beta = ctx.floatAttr("activation_beta", 0.0f);
  FailureOr<std::string> activationName =
      ctx.stringAttr("activation_type", "relu");
  if (failed(k) || failed(normalize) || failed(sparseMixer) ||
      failed(fusion) || failed(limitAfter) || failed(alpha) || failed(beta) ||
      failed(activationName))
    return failure();
  std::optional<float> limit = ctx.optionalFloatAttr("swiglu_limit");

  if (*sparseMixer != 0)
    return ctx.emitError() << "use_sparse_mixer = 1 (Phi-3.5's sparse mixer "
                              "routing) is not supported";
  if (*limitAfter != 0)
    return ctx.emitError() << "swiglu_limit_after_activation = 1 is not "
                              "supported";
  std::optional<ActivationKind> kind =
      llvm::StringSwitch<std::optional<ActivationKind>>(*activationName)
          .Case("relu", ActivationKind::Relu)
          // onnxruntime's MoE kernels use the tanh approximation.
          .Case("gelu", ActivationKind::GeluTanh)
          .Case("silu", ActivationKind::Silu)
          .Case("identity", ActivationKind::Identity)
          .Case("swiglu", ActivationKind::SwiGLU)
          .Default(std::nullopt);
  if (!kind)
    return ctx.emitError() << "activation_type '" << *activationName
                           << "' is not supported (relu, gelu, silu, "
                              "identity, swiglu)";
  bool gated = *kind == ActivationKind::SwiGLU;
  if (*fusion < 0 || *fusion > 2)
    return ctx.emitError() << "swiglu_fusion must be 0, 1 or 2, got "
                           << *fusion;
  if (gated && *fusion == 0 && !fc3)
    return ctx.emitError() << "swiglu with swiglu_fusion = 0 needs "
                              "fc3_experts_weights";
  if ((!gated || *fusion != 0) && (fc3 || fc3Bias))
    return ctx.emitError() << "fc3 inputs are only valid for swiglu with "
                              "swiglu_fusion = 0";

  // Shapes: input [T, d] or [B, S, d]; fc1 [E, F1, d]; fc2 [E, d, f].
  auto inputType = cast<RankedTensorType>(input->getType());
  if (inputType.getRank() != 2 && inputType.getRank() != 3)
    return ctx.emitError() << "input must be 2-D [T, d] or 3-D [B, S, d], got "
                           << inputType;
  auto fc1Type = cast<RankedTensorType>(fc1->getType());
  auto fc2Type = cast<RankedTensorType>(fc2->getType());
  if (fc1Type.getRank() != 3 || !fc1Type.hasStaticShape() ||
      fc2Type.getRank() != 3 || !fc2Type.hasStaticShape())
    return ctx.emitError() << "expert weights must be static 3-D tensors";
  int64_t d = inputType.getShape().back();
  int64_t numExperts = fc1Type.getDimSize(0);
  int64_t fused = fc1Type.getDimSize(1);
  bool splitFc1 = gated && *fusion != 0;
  if (splitFc1 && fused % 2 != 0)
    return ctx.emitError() << "fused fc1 needs an even number of rows, got "
                           << fused;
  int64_t f = splitFc1 ? fused / 2 : fused;
  Type elementType = inputType.getElementType();
  for (Value v : {*logits, *fc1, *fc2, fc1Bias, fc2Bias, fc3, fc3Bias})
    if (v && getElementTypeOrSelf(v.getType()) != elementType)
      return ctx.emitError() << "every input must have the element type of "
                                "'input' ("
                             << elementType << ")";
  if (failed(checkShape(ctx, "fc1_experts_weights", *fc1,
                        {numExperts, fused, d}, "[E, F1, d]")) ||
      failed(checkShape(ctx, "fc2_experts_weights", *fc2, {numExperts, d, f},
                        "[E, d, f]")) ||
      (fc1Bias && failed(checkShape(ctx, "fc1_experts_bias", fc1Bias,
                                    {numExperts, fused}, "[E, F1]"))) ||
      (fc2Bias && failed(checkShape(ctx, "fc2_experts_bias", fc2Bias,
                                    {numExperts, d}, "[E, d]"))) ||
      (fc3 && failed(checkShape(ctx, "fc3_experts_weights", fc3,
                                {numExperts, f, d}, "[E, f, d]"))) ||
      (fc3Bias && failed(checkShape(ctx, "fc3_experts_bias", fc3Bias,
                                    {numExperts, f}, "[E, f]"))))
    return failure();
  auto logitsType = cast<RankedTensorType>(logits->getType());
  if (logitsType.getRank() != 2 || logitsType.getDimSize(1) != numExperts)
    return ctx.emitError() << "router_probs must be [T, E = " << numExperts
                           << "], got " << logitsType;
  if (*k < 1 || *k > numExperts)
    return ctx.emitError() << "k = " << *k << " must be in [1, "
                           << numExperts << "] (the number of experts)";

  ImplicitLocOpBuilder &b = ctx.b;
  // Tokens as rows.
  Value x = *input;
  if (inputType.getRank() == 3) {
    int64_t b0 = inputType.getDimSize(0), b1 = inputType.getDimSize(1);
    int64_t rows = ShapedType::isDynamic(b0) || ShapedType::isDynamic(b1)
                       ? ShapedType::kDynamic
                       : b0 * b1;
    x = tensor::CollapseShapeOp::create(
        b, RankedTensorType::get({rows, d}, elementType), x,
        ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  }

  // Gate (or only) projection, up projection and their biases.
  Value w1 = *fc1, b1 = fc1Bias, w3 = fc3, b3 = fc3Bias;
  if (splitFc1) {
    // 1: rows interleave gate and up; 2: gate rows, then up rows.
    int64_t stride = *fusion == 1 ? 2 : 1;
    int64_t upStart = *fusion == 1 ? 1 : f;
    w3 = sliceDim1(b, *fc1, upStart, f, stride);
    w1 = sliceDim1(b, *fc1, 0, f, stride);
    if (fc1Bias) {
      b3 = sliceDim1(b, fc1Bias, upStart, f, stride);
      b1 = sliceDim1(b, fc1Bias, 0, f, stride);
    }
  }
  w1 = transposeExperts(b, w1);
  if (w3)
    w3 = transposeExperts(b, w3);
  Value w2 = transposeExperts(b, *fc2);

  MLIRContext *context = b.getContext();
  ActivationAttr activation = ActivationAttr::get(
      context, *kind, APFloat(1.702), APFloat(1.0), APFloat(7.0));
  if (gated && (*alpha != 1.0f || *beta != 0.0f || limit)) {
    double limitValue = limit ? shortestDouble(*limit)
                              : std::numeric_limits<double>::infinity();
    if (!(limitValue > 0.0))
      return ctx.emitError() << "swiglu_limit must be positive";
    activation = ActivationAttr::get(context, ActivationKind::ClampedSwiGLU,
                                     APFloat(shortestDouble(*alpha)),
                                     APFloat(shortestDouble(*beta)),
                                     APFloat(limitValue));
  }
  auto routing = RoutingAttr::get(context, RoutingKind::SoftmaxTopK, *k,
                                  *normalize != 0);
  auto layer = moe::LayerOp::create(
      b, x.getType(), x, /*router_weight=*/Value(), *logits,
      /*router_bias=*/Value(), /*correction_bias=*/Value(), w1, w3, w2, b1,
      b3, fc2Bias, /*shared_w1=*/Value(), /*shared_w3=*/Value(),
      /*shared_w2=*/Value(), /*shared_gate=*/Value(), routing, activation,
      /*gate_on_input=*/false);
  Value output = layer;
  if (inputType.getRank() == 3) {
    // tensor.reshape rather than tensor.expand_shape: LLVM 22's
    // expand-strided-metadata crashes on a memref.expand_shape with dynamic
    // output dims (docs/Notes.md).
    SmallVector<Value> dims;
    for (int64_t i = 0; i < 2; ++i)
      dims.push_back(arith::IndexCastOp::create(
          b, b.getI64Type(), tensor::DimOp::create(b, *input, i)));
    dims.push_back(arith::ConstantOp::create(b, b.getI64IntegerAttr(d)));
    Value shape = tensor::FromElementsOp::create(
        b, RankedTensorType::get({3}, b.getI64Type()), dims);
    output = tensor::ReshapeOp::create(b, inputType, output, shape);
  }
  return ctx.setOutput(0, output);
}

} // namespace

ArrayRef<OpEntry> mlir::moe::onnx_import::getMicrosoftOpEntries() {
  static const OpEntry entries[] = {
      {"com.microsoft", "MoE", 1, buildMoE},
  };
  return entries;
}
