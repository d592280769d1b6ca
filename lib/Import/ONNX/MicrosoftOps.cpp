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
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/StringExtras.h"

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

/// The float weights and biases of an MoE or (dequantized) QMoE node.
struct ExpertOperands {
  Value fc1, fc1Bias, fc2, fc2Bias, fc3, fc3Bias;
};

/// The layer of com.microsoft.MoE and QMoE: attributes, layout and shape
/// checks, and the moe.layer with its weights in the dialect's layout.
LogicalResult buildLayer(NodeContext &ctx, FailureOr<Value> input,
                         FailureOr<Value> logits, FailureOr<Value> fc1Weights,
                         FailureOr<Value> fc2Weights,
                         const ExpertOperands &experts) {
  if (failed(input) || failed(logits) || failed(fc1Weights) ||
      failed(fc2Weights))
    return failure();
  FailureOr<Value> fc1 = fc1Weights, fc2 = fc2Weights;
  Value fc1Bias = experts.fc1Bias, fc2Bias = experts.fc2Bias,
        fc3 = experts.fc3, fc3Bias = experts.fc3Bias;
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
    double limitValue = limit ? floatParameter(*limit)
                              : std::numeric_limits<double>::infinity();
    if (!(limitValue > 0.0))
      return ctx.emitError() << "swiglu_limit must be positive";
    activation = ActivationAttr::get(context, ActivationKind::ClampedSwiGLU,
                                     APFloat(floatParameter(*alpha)),
                                     APFloat(floatParameter(*beta)),
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

LogicalResult buildMoE(NodeContext &ctx) {
  ExpertOperands experts{Value(),       ctx.input(3), Value(),
                         ctx.input(5), ctx.input(6), ctx.input(7)};
  return buildLayer(ctx, ctx.requiredInput(0), ctx.requiredInput(1),
                    ctx.requiredInput(2), ctx.requiredInput(4), experts);
}

//===----------------------------------------------------------------------===//
// QMoE: integer weight-only quantization, dequantized at import
//===----------------------------------------------------------------------===//

/// The raw little-endian bytes of a constant.
ArrayRef<char> rawBytes(ElementsAttr attr) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr))
    return dense.getRawData();
  auto resource = cast<DenseResourceElementsAttr>(attr);
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  return blob ? blob->getData() : ArrayRef<char>();
}

/// Dequantizes the constant QMoE weight at input `index` ([E, N, K * bits /
/// 8] uint8, K packed low nibble first for 4 bits) to f32 [E, N, K]:
/// (q - zero_point) * scale, with per-row scales [E, N] or per-block scales
/// [E, N, K / block], and zero points (packed like the weights) defaulting
/// to 2^(bits - 1), as onnxruntime's kernel computes it.
FailureOr<Value> dequantize(NodeContext &ctx, unsigned index,
                            unsigned scaleIndex, unsigned zeroIndex,
                            int64_t bits, int64_t blockSize, StringRef name) {
  if (!ctx.input(index))
    return Value();
  std::optional<ElementsAttr> weights = ctx.constantInput(index);
  std::optional<ElementsAttr> scales = ctx.constantInput(scaleIndex);
  if (!weights || !scales)
    return ctx.emitError() << name << " weights and scales must be "
                                      "initializers (constants)";
  auto weightType = cast<RankedTensorType>(weights->getType());
  auto scaleType = cast<RankedTensorType>(scales->getType());
  if (weightType.getRank() != 3 || !weightType.getElementType().isInteger(8))
    return ctx.emitError() << name << " weights must be 3-D uint8, got "
                           << weightType;
  if (!scaleType.getElementType().isF32())
    return ctx.emitError() << name << " scales must be float32";
  int64_t numExperts = weightType.getDimSize(0), n = weightType.getDimSize(1);
  int64_t packed = weightType.getDimSize(2);
  int64_t kDim = packed * 8 / bits;
  int64_t blocks = blockSize > 0 ? kDim / blockSize : 1;
  if (blockSize > 0 && kDim % blockSize != 0)
    return ctx.emitError() << name << " K = " << kDim
                           << " is not a multiple of block_size " << blockSize;
  SmallVector<int64_t> scaleShape = {numExperts, n};
  if (blockSize > 0)
    scaleShape.push_back(blocks);
  if (scaleType.getShape() != ArrayRef<int64_t>(scaleShape))
    return ctx.emitError() << name << " scales must be "
                           << formatShape(scaleShape) << ", got " << scaleType;
  ArrayRef<char> q = rawBytes(*weights), scaleBytes = rawBytes(*scales);
  if (static_cast<int64_t>(q.size()) != numExperts * n * packed ||
      static_cast<int64_t>(scaleBytes.size()) !=
          numExperts * n * blocks * 4)
    return ctx.emitError() << name << " data does not match its shape";
  // Zero points, packed like the weights: per expert ceil(N * bits / 8)
  // bytes for per-row scales, per row ceil(blocks * bits / 8) bytes for
  // block scales.
  ArrayRef<char> zeros;
  int64_t zeroStride = blockSize > 0 ? (blocks * bits + 7) / 8
                                     : (n * bits + 7) / 8;
  int64_t zeroGroups = blockSize > 0 ? numExperts * n : numExperts;
  if (ctx.input(zeroIndex)) {
    std::optional<ElementsAttr> zeroAttr = ctx.constantInput(zeroIndex);
    if (!zeroAttr)
      return ctx.emitError() << name << " zero points must be an initializer";
    zeros = rawBytes(*zeroAttr);
    if (static_cast<int64_t>(zeros.size()) != zeroGroups * zeroStride)
      return ctx.emitError() << name << " zero points have " << zeros.size()
                             << " bytes, expected " << zeroGroups * zeroStride;
  }
  auto unpack = [&](ArrayRef<char> data, int64_t byteOffset,
                    int64_t i) -> int64_t {
    if (bits == 8)
      return static_cast<uint8_t>(data[byteOffset + i]);
    auto byte = static_cast<uint8_t>(data[byteOffset + i / 2]);
    return i % 2 == 0 ? (byte & 0xF) : (byte >> 4);
  };
  std::vector<float> values(numExperts * n * kDim);
  const auto *scaleData = reinterpret_cast<const float *>(scaleBytes.data());
  int64_t defaultZero = int64_t(1) << (bits - 1);
  for (int64_t e = 0; e < numExperts; ++e)
    for (int64_t row = 0; row < n; ++row)
      for (int64_t col = 0; col < kDim; ++col) {
        int64_t block = blockSize > 0 ? col / blockSize : 0;
        int64_t zero = defaultZero;
        if (!zeros.empty())
          zero = blockSize > 0 ? unpack(zeros, (e * n + row) * zeroStride, block)
                               : unpack(zeros, e * zeroStride, row);
        int64_t qv = unpack(q, (e * n + row) * packed, col);
        values[(e * n + row) * kDim + col] =
            static_cast<float>(qv - zero) *
            scaleData[(e * n + row) * blocks + block];
      }
  auto type = RankedTensorType::get({numExperts, n, kDim},
                                    ctx.b.getF32Type());
  AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(
      ArrayRef<float>(values));
  std::string blobName = "qmoe_" + ctx.node.input(index);
  for (char &c : blobName)
    if (!llvm::isAlnum(c))
      c = '_';
  Value constant = arith::ConstantOp::create(
      ctx.b, DenseResourceElementsAttr::get(type, blobName, std::move(blob)));
  return constant;
}

LogicalResult buildQMoE(NodeContext &ctx) {
  FailureOr<int64_t> bits = ctx.intAttr("expert_weight_bits", 4),
                     blockSize = ctx.intAttr("block_size", 0),
                     prepacked = ctx.intAttr("weights_prepacked", 0);
  FailureOr<std::string> quantType = ctx.stringAttr("quant_type", "int");
  if (failed(bits) || failed(blockSize) || failed(prepacked) ||
      failed(quantType))
    return failure();
  if (*quantType != "int")
    return ctx.emitError() << "quant_type '" << *quantType
                           << "' is not supported (int)";
  if (*bits != 4 && *bits != 8)
    return ctx.emitError() << "expert_weight_bits = " << *bits
                           << " is not supported (4 or 8)";
  for (StringRef attr : {"fc1_expert_weight_bits", "fc2_expert_weight_bits",
                         "fc3_expert_weight_bits"})
    if (const ::onnx::AttributeProto *override = ctx.attribute(attr))
      if (override->i() != *bits)
        return ctx.emitError() << attr << " different from "
                                          "expert_weight_bits is not supported";
  if (*prepacked != 0)
    return ctx.emitError() << "weights_prepacked = " << *prepacked
                           << " is not supported (raw [E, N, K] weights only)";
  for (unsigned i = 14; i < ctx.numInputs(); ++i)
    if (ctx.input(i))
      return ctx.emitError() << "input #" << i
                             << " (router weights, global or activation "
                                "scales) is not supported";
  if (ctx.inputType(0) && !ctx.inputType(0).getElementType().isF32())
    return ctx.emitError() << "only float32 activations are supported";
  FailureOr<Value> fc1 = dequantize(ctx, 2, 3, 11, *bits, *blockSize, "fc1");
  FailureOr<Value> fc2 = dequantize(ctx, 5, 6, 12, *bits, *blockSize, "fc2");
  FailureOr<Value> fc3 = dequantize(ctx, 8, 9, 13, *bits, *blockSize, "fc3");
  if (failed(fc1) || failed(fc2) || failed(fc3))
    return failure();
  if (!*fc1 || !*fc2)
    return ctx.emitError() << "fc1 and fc2 weights are required";
  ExpertOperands experts{*fc1, ctx.input(4), *fc2, ctx.input(7), *fc3,
                         ctx.input(10)};
  return buildLayer(ctx, ctx.requiredInput(0), ctx.requiredInput(1), *fc1,
                    *fc2, experts);
}

} // namespace

ArrayRef<OpEntry> mlir::moe::onnx_import::getMicrosoftOpEntries() {
  static const OpEntry entries[] = {
      {"com.microsoft", "MoE", 1, buildMoE},
      {"com.microsoft", "QMoE", 1, buildQMoE},
  };
  return entries;
}
