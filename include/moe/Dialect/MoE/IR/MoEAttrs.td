//===- MoEAttrs.td - Routing and activation attributes -----*- tablegen -*-===//
//
// The typed attributes that say which routing rule and which expert FFN a
// layer uses. Every variant of ../shared/MOE_SEMANTICS.md is stated here,
// including those that no lowering handles yet.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEATTRS_TD
#define MOE_DIALECT_MOE_IR_MOEATTRS_TD

include "moe/Dialect/MoE/IR/MoEDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def MoE_RoutingKind : I32EnumAttr<"RoutingKind",
    "how router logits become expert choices and gate weights", [
  // p = softmax(logits); pick the top-k of p; weight = p (optionally
  // renormalized over the k picks). Mixtral, Qwen, OLMoE, DeepSeek-V2,
  // and Switch's top-1 (k = 1).
  I32EnumAttrCase<"SoftmaxTopK", 0, "softmax_topk">,
  // Pick the top-k logits; weight = softmax over the k picked logits.
  // gpt-oss.
  I32EnumAttrCase<"TopKSoftmax", 1, "topk_softmax">,
  // s = sigmoid(logits); pick the top-k of s + correction_bias, only within
  // the topk_group best of n_group groups; weight = s. DeepSeek-V3, Llama-4.
  I32EnumAttrCase<"SigmoidTopK", 2, "sigmoid_topk">,
  // Every expert, weight = softmax(logits) (k = E). Soft mixtures.
  I32EnumAttrCase<"Dense", 3, "dense">,
  // p = softmax(logits) per token; each expert takes its top-C tokens by p,
  // C = ceil(capacity_factor * T * k / E). Zhou et al. 2022.
  I32EnumAttrCase<"ExpertChoice", 4, "expert_choice">
]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_DropPolicy : I32EnumAttr<"DropPolicy",
    "what a token dropped by the expert capacity contributes", [
  // Dropped assignments contribute nothing.
  I32EnumAttrCase<"Zero", 0, "zero">,
  // A token whose every assignment was dropped outputs its input unchanged.
  I32EnumAttrCase<"Passthrough", 1, "passthrough">
]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_GroupMask : I32EnumAttr<"GroupMask",
    "the choice score of experts outside a token's chosen groups", [
  // -inf: such an expert is never picked (DeepSeek-V3's reference code).
  I32EnumAttrCase<"NegInf", 0, "neg_inf">,
  // 0.0: such an expert still wins over chosen-group experts whose choice
  // score (sigmoid + correction bias) is negative (Hugging Face's
  // DeepseekV3, `masked_fill(..., 0.0)`).
  I32EnumAttrCase<"Zero", 1, "zero">
]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_ActivationKind : I32EnumAttr<"ActivationKind",
    "the nonlinearity of an expert FFN", [
  I32EnumAttrCase<"Identity", 0, "identity">,
  I32EnumAttrCase<"Relu", 1, "relu">,
  // Exact (erf) GELU.
  I32EnumAttrCase<"Gelu", 2, "gelu">,
  I32EnumAttrCase<"Silu", 3, "silu">,
  // Gated: silu(gate) * up.
  I32EnumAttrCase<"SwiGLU", 4, "swiglu">,
  // Gated, gpt-oss: g = min(gate, limit), u = clamp(up, -limit, limit),
  // (u + beta) * g * sigmoid(alpha * g).
  I32EnumAttrCase<"ClampedSwiGLU", 5, "clamped_swiglu">,
  // GELU with the tanh approximation:
  // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). ONNX Runtime's MoE
  // "gelu", ONNX Gelu with approximate = "tanh".
  I32EnumAttrCase<"GeluTanh", 6, "gelu_tanh">
]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

// A floating-point parameter with a default, printed only when it differs.
// Stored as APFloat (hashable); `get<Name>Value()` accessors give doubles.
class MoE_FloatParam<string default, string desc>
    : AttrParameter<"::llvm::APFloat", desc> {
  let defaultValue = "::llvm::APFloat(" # default # ")";
  let comparator = "$_lhs.bitwiseIsEqual($_rhs)";
  let parser = [{ [&]() -> ::mlir::FailureOr<::llvm::APFloat> {
      double value;
      if ($_parser.parseFloat(value))
        return ::mlir::failure();
      return ::llvm::APFloat(value);
    }() }];
  let printer = [{ ::mlir::moe::printShortFloat($_printer, $_self) }];
}

class MoE_BoolParam<string default, string desc>
    : AttrParameter<"bool", desc> {
  let defaultValue = default;
  let parser = [{ [&]() -> ::mlir::FailureOr<bool> {
      if (succeeded($_parser.parseOptionalKeyword("true")))
        return true;
      if (succeeded($_parser.parseOptionalKeyword("false")))
        return false;
      return $_parser.emitError($_parser.getCurrentLocation(),
                                "expected 'true' or 'false'");
    }() }];
  let printer = [{ $_printer << ($_self ? "true" : "false") }];
}

class MoE_DefaultedEnumParam<EnumAttrInfo info, string default>
    : EnumParameter<info> {
  let defaultValue = default;
}

class MoE_I64Param<string default, string desc>
    : AttrParameter<"int64_t", desc> {
  let defaultValue = default;
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

class MoE_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<MoE_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def MoE_RoutingAttr : MoE_Attr<"Routing", "routing"> {
  let summary = "the routing rule of an MoE layer";
  let description = [{
    States how router logits `[T, E]` become, per token, the chosen experts
    and their gate weights. `kind` selects the rule (see `RoutingKind`);
    the other parameters refine it and are printed only when they differ
    from their defaults:

    * `k`: experts per token (for `expert_choice`: the average, which sets
      the per-expert capacity);
    * `renormalize`: divide the k weights by their sum (sigmoid routing adds
      1e-20 to the sum, as DeepSeek-V3 does);
    * `scale`: multiply the final weights (DeepSeek-V3's
      `routed_scaling_factor`);
    * `n_group`, `topk_group`: group-limited selection; experts form
      `n_group` equal groups, a group scores the sum of its best two choice
      scores, and only experts of the `topk_group` best groups compete;
    * `capacity_factor`: 0 means dropless; otherwise each expert takes at
      most C = ceil(capacity_factor * T * k / E) assignments, earlier tokens
      first, and `drop_policy` says what a dropped token gets.

    Ties are broken as ONNX TopK does: among equal scores the lower expert
    index wins. A NaN score ranks above every number.

    Examples:

    ```mlir
    #moe.routing<softmax_topk, k = 2, renormalize = true>      // Mixtral
    #moe.routing<softmax_topk, k = 1>                          // Switch
    #moe.routing<sigmoid_topk, k = 8, renormalize = true, scale = 2.5,
                 n_group = 8, topk_group = 4>                  // DeepSeek-V3
    #moe.routing<softmax_topk, k = 1, capacity_factor = 1.25,
                 drop_policy = passthrough>                    // Switch, capacity
    ```
  }];
  let parameters = (ins
    EnumParameter<MoE_RoutingKind>:$kind,
    "int64_t":$k,
    MoE_BoolParam<"false", "renormalize the selected weights">:$renormalize,
    MoE_FloatParam<"1.0", "factor applied to the final weights">:$scale,
    MoE_I64Param<"1", "number of expert groups">:$n_group,
    MoE_I64Param<"1", "groups a token may choose from">:$topk_group,
    MoE_DefaultedEnumParam<MoE_GroupMask, "::mlir::moe::GroupMask::NegInf">:
      $group_mask,
    MoE_FloatParam<"0.0", "expert capacity factor (0: dropless)">:
      $capacity_factor,
    MoE_DefaultedEnumParam<MoE_DropPolicy, "::mlir::moe::DropPolicy::Zero">:
      $drop_policy
  );
  let assemblyFormat = [{
    `<` $kind `,` struct($k, $renormalize, $scale, $n_group, $topk_group,
                         $group_mask, $capacity_factor, $drop_policy) `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Checks the parameters against a layer with `numExperts` experts and
    /// reports through `emitError`.
    ::llvm::LogicalResult verifyForExperts(
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError,
        int64_t numExperts) const;
    /// True when the rule selects every expert with softmax weights.
    bool isDenseEquivalent(int64_t numExperts) const;
    double getScaleValue() const { return getScale().convertToDouble(); }
    double getCapacityFactorValue() const {
      return getCapacityFactor().convertToDouble();
    }
    /// Builds a rule from plain values.
    static RoutingAttr get(::mlir::MLIRContext *context, RoutingKind kind,
                           int64_t k, bool renormalize, double scale = 1.0,
                           int64_t nGroup = 1, int64_t topkGroup = 1,
                           double capacityFactor = 0.0,
                           DropPolicy dropPolicy = DropPolicy::Zero,
                           GroupMask groupMask = GroupMask::NegInf);
  }];
}

def MoE_ActivationAttr : MoE_Attr<"Activation", "activation"> {
  let summary = "the activation of an expert FFN";
  let description = [{
    Gated kinds (`swiglu`, `clamped_swiglu`) use two input projections,
    gate and up; the others one. `alpha`, `beta` and `limit` parameterize
    `clamped_swiglu` only (defaults are gpt-oss's):
    `g = min(gate, limit)`, `u = clamp(up, -limit, limit)`,
    `out = (u + beta) * g * sigmoid(alpha * g)`.

    ```mlir
    #moe.activation<swiglu>
    #moe.activation<clamped_swiglu, alpha = 1.702, limit = 7.0>
    ```
  }];
  let parameters = (ins
    EnumParameter<MoE_ActivationKind>:$kind,
    MoE_FloatParam<"1.702", "sigmoid slope of clamped_swiglu">:$alpha,
    MoE_FloatParam<"1.0", "offset added to up in clamped_swiglu">:$beta,
    MoE_FloatParam<"7.0", "clamp limit of clamped_swiglu">:$limit
  );
  // `<kind(, name = value)*>` with the parameters in any order, printed only
  // when they differ from their defaults.
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True for activations that combine a gate and an up projection.
    bool isGated() const;
    double getAlphaValue() const { return getAlpha().convertToDouble(); }
    double getBetaValue() const { return getBeta().convertToDouble(); }
    double getLimitValue() const { return getLimit().convertToDouble(); }
  }];
}

#endif // MOE_DIALECT_MOE_IR_MOEATTRS_TD
