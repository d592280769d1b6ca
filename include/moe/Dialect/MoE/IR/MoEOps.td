//===- MoEOps.td - moe dialect operations ------------------*- tablegen -*-===//
//
// The whole-layer op and the four decomposed ops it lowers into.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEOPS_TD
#define MOE_DIALECT_MOE_IR_MOEOPS_TD

include "moe/Dialect/MoE/IR/MoEAttrs.td"
include "moe/Dialect/MoE/IR/MoEDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Shapes, ranks and element types are checked by the C++ verifiers so that
// every message names the operand and the dimension that disagree.
defvar MoE_FloatTensor = RankedTensorOf<[AnyFloat]>;
defvar MoE_IndexTensor = RankedTensorOf<[AnySignlessInteger]>;

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

def MoE_LayerOp : MoE_Op<"layer", [Pure, AttrSizedOperandSegments]> {
  let summary = "a whole Mixture-of-Experts layer";
  let description = [{
    Computes, for every token `x[t]` of `input` `[T, d]`:

    ```
    logits  = x @ router_weight (+ router_bias)             [E]
              (or router_logits[t] (+ router_bias), given)
    (ids, w) = routing(logits, correction_bias)             k picks
    out[t]  = sum_j w_j * FFN_{ids_j}(x)                    (gate on output)
            = sum_j FFN_{ids_j}(w_j * x)                    (gate_on_input)
            + shared_gate(x) * FFN_shared(x)                 (if present)
    FFN_e(x) = (act(x @ w1[e] + b1[e], x @ w3[e] + b3[e])) @ w2[e] + b2[e]
    ```

    `w1` is the gate projection of gated activations and the only input
    projection otherwise; `w3` (the up projection) is present exactly when
    the activation is gated. The router is either `router_weight` `[d, E]`
    or, when the logits are computed elsewhere (ONNX Runtime's MoE op takes
    them as an input), `router_logits` `[T, E]`; exactly one is given.
    Shapes: biases `[E]`,
    `w1`/`w3` `[E, d, f]`, `w2` `[E, f, d]`, `b1`/`b3` `[E, f]`, `b2`
    `[E, d]`, `shared_w1`/`shared_w3` `[d, fs]`, `shared_w2` `[fs, d]`,
    `shared_gate` `[d, 1]` (its sigmoid scales the shared output per
    token, as in Qwen2-MoE). The shared expert uses the same activation as
    the routed ones. `correction_bias` is only valid for sigmoid routing;
    it changes which experts are chosen, not their weights.

    Example (Mixtral-style, 4 experts, top-2, renormalized SwiGLU):

    ```mlir
    %y = moe.layer %x : tensor<?x16xf32>
           router %wr : tensor<16x4xf32>
           w1 %w1 : tensor<4x16x32xf32> w3 %w3 : tensor<4x16x32xf32>
           w2 %w2 : tensor<4x32x16xf32>
           routing <softmax_topk, k = 2, renormalize = true>
           activation <swiglu> -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins
    MoE_FloatTensor:$input,
    Optional<MoE_FloatTensor>:$router_weight,
    Optional<MoE_FloatTensor>:$router_logits,
    Optional<MoE_FloatTensor>:$router_bias,
    Optional<MoE_FloatTensor>:$correction_bias,
    MoE_FloatTensor:$w1,
    Optional<MoE_FloatTensor>:$w3,
    MoE_FloatTensor:$w2,
    Optional<MoE_FloatTensor>:$b1,
    Optional<MoE_FloatTensor>:$b3,
    Optional<MoE_FloatTensor>:$b2,
    Optional<MoE_FloatTensor>:$shared_w1,
    Optional<MoE_FloatTensor>:$shared_w3,
    Optional<MoE_FloatTensor>:$shared_w2,
    Optional<MoE_FloatTensor>:$shared_gate,
    MoE_RoutingAttr:$routing,
    MoE_ActivationAttr:$activation,
    UnitAttr:$gate_on_input
  );
  let results = (outs MoE_FloatTensor:$output);
  let assemblyFormat = [{
    $input `:` type($input)
    (`router` $router_weight^ `:` type($router_weight))?
    (`logits` $router_logits^ `:` type($router_logits))?
    (`router_bias` $router_bias^ `:` type($router_bias))?
    (`correction_bias` $correction_bias^ `:` type($correction_bias))?
    `w1` $w1 `:` type($w1)
    (`w3` $w3^ `:` type($w3))?
    `w2` $w2 `:` type($w2)
    (`b1` $b1^ `:` type($b1))?
    (`b3` $b3^ `:` type($b3))?
    (`b2` $b2^ `:` type($b2))?
    (`shared_w1` $shared_w1^ `:` type($shared_w1))?
    (`shared_w3` $shared_w3^ `:` type($shared_w3))?
    (`shared_w2` $shared_w2^ `:` type($shared_w2))?
    (`shared_gate` $shared_gate^ `:` type($shared_gate))?
    `routing` $routing
    `activation` $activation
    (`gate_on_input` $gate_on_input^)?
    attr-dict `->` type($output)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// Number of routed experts (E), from the router weight or logits.
    int64_t getNumExperts();
    /// Whether a shared expert is present.
    bool hasSharedExpert() { return getSharedW1() != nullptr; }
  }];
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

def MoE_RouteOp : MoE_Op<"route", [Pure, AttrSizedOperandSegments]> {
  let summary = "router logits to expert ids and gate weights";
  let description = [{
    Applies the routing rule to the router logits `[T, E]` and returns, per
    token, the `k` chosen expert ids `[T, k]` in descending order of their
    choice score (ONNX TopK order and tie-break) and their gate weights
    `[T, k]`. `correction_bias` `[E]` (sigmoid routing only) is added to the
    scores for the choice alone. Expert-choice routing and capacity limits
    do not fit this per-token form; they stay on `moe.layer`.

    Without `router`, `input` is the logits. With `router` `[d, E]` (and
    optionally `router_bias` `[E]`), `input` is the hidden states `[T, d]`
    and the logits are `input . router + router_bias`: the whole gating
    (router matmul, scoring, selection, normalization, scaling) is one op
    and one kernel at run time. `moe-fuse-gating` makes this form.

    `shared(m)` appends `m` always-selected (shared) experts: every token's
    slots `k .. k + m - 1` hold experts `E .. E + m - 1`, so both results
    are `[T, k + m]`, weighted 1. With `gated`, their weight is the sigmoid
    of one more logit, the last of `E + 1` logit columns (router and
    router bias `E + 1` columns wide): Qwen2-MoE's `shared_expert_gate`,
    which then rides along in the router matmul. `moe-decompose` makes
    this form for layers with a shared expert, so the whole gating of such
    a layer stays one kernel and the shared weights never leave it.

    ```mlir
    %ids, %w = moe.route %logits routing <softmax_topk, k = 2, renormalize = true>
               : tensor<?x8xf32> -> tensor<?x2xi64>, tensor<?x2xf32>
    %ids, %w = moe.route %x router %wr : tensor<16x8xf32>
               routing <softmax_topk, k = 2, renormalize = true>
               : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
    // 8 routed experts + 1 shared (expert 8) weighted by sigmoid(logit 8).
    %ids, %w = moe.route %x router %wr : tensor<16x9xf32>
               routing <softmax_topk, k = 2> shared(1) gated
               : tensor<?x16xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
    ```
  }];
  let arguments = (ins
    MoE_FloatTensor:$input,
    Optional<MoE_FloatTensor>:$router,
    Optional<MoE_FloatTensor>:$router_bias,
    Optional<MoE_FloatTensor>:$correction_bias,
    MoE_RoutingAttr:$routing,
    DefaultValuedAttr<I64Attr, "0">:$shared_experts,
    UnitAttr:$shared_gate
  );
  let results = (outs MoE_IndexTensor:$expert_ids, MoE_FloatTensor:$weights);
  let assemblyFormat = [{
    $input (`router` $router^ `:` type($router))?
    (`router_bias` $router_bias^ `:` type($router_bias))?
    (`correction_bias` $correction_bias^ `:` type($correction_bias))?
    `routing` $routing
    (`shared` `(` $shared_experts^ `)`)? (`gated` $shared_gate^)? attr-dict
    `:` type($input) `->` type($expert_ids) `,` type($weights)
  }];
  let extraClassDeclaration = [{
    /// The number of routed experts: dim 1 of `router`, or of the logits,
    /// less the shared gate's column.
    int64_t getNumExperts();
    /// Slots per token in the results: k routed, then the shared experts.
    int64_t getNumSlots() {
      return getRouting().getK() + getSharedExperts();
    }
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// moe.permute
//===----------------------------------------------------------------------===//

def MoE_PermuteOp : MoE_Op<"permute", [Pure]> {
  let summary = "sort token rows by expert";
  let description = [{
    Given `input` `[T, d]` and `expert_ids` `[T, k]` (values in `[0, E)`),
    orders the `N = T * k` assignments by expert, stably (assignment
    `a = t * k + j` before `a + 1` within an expert), and returns:

    * `rows` `[N, d]`: `rows[s] = input[assignments[s] / k]`;
    * `assignments` `[N]`: the flat assignment index at sorted position `s`;
    * `offsets` `[E + 1]`: expert `e` owns sorted rows
      `[offsets[e], offsets[e + 1])`; `offsets[0] = 0`, `offsets[E] = N`;
    * `inverse` `[T, k]`: the sorted position of assignment `(t, j)`.

    The number of experts is the static size of `offsets` minus one. All
    index results share the element type of `expert_ids`.

    ```mlir
    %rows, %assign, %offsets, %inverse = moe.permute %x, %ids
        : tensor<?x16xf32>, tensor<?x2xi64>
        -> tensor<?x16xf32>, tensor<?xi64>, tensor<9xi64>, tensor<?x2xi64>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$input, MoE_IndexTensor:$expert_ids);
  let results = (outs
    MoE_FloatTensor:$rows,
    MoE_IndexTensor:$assignments,
    MoE_IndexTensor:$offsets,
    MoE_IndexTensor:$inverse
  );
  let assemblyFormat = [{
    $input `,` $expert_ids attr-dict `:` type($input) `,` type($expert_ids)
    `->` type($rows) `,` type($assignments) `,` type($offsets) `,`
         type($inverse)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumExperts() {
      return getOffsets().getType().getDimSize(0) - 1;
    }
  }];
}

//===----------------------------------------------------------------------===//
// moe.grouped_matmul
//===----------------------------------------------------------------------===//

def MoE_GroupedMatmulOp : MoE_Op<"grouped_matmul",
                                  [Pure, AttrSizedOperandSegments]> {
  let summary = "one matmul per expert segment of sorted rows";
  let description = [{
    For every row `r` of `rows` `[N, K]` in expert segment `e`
    (`offsets[e] <= r < offsets[e + 1]`), computes
    `z[r] = rows[r] @ weights[e] + bias[e]` with `weights` `[E, K, M]` and
    the optional `bias` `[E, M]`, then applies the optional `activation` as
    an epilogue. A gated activation reads the gate from columns `[0, M/2)`
    and the up projection from `[M/2, M)` (gate and up fused into one
    matmul), so the result is `[N, M/2]`; otherwise it is `[N, M]`.

    With `combine %w, %inverse` (`[T, k]` each; what `moe-fuse-combine`
    makes of a `moe.combine` of the result) the combine is part of the
    epilogue: the result is `[T, M']` with
    `result[t] = sum_{j = 0..k-1} w[t, j] * z[inverse[t, j]]`, summed in
    increasing `j` exactly as `moe.combine` does, and `z` is never stored.

    ```mlir
    %h = moe.grouped_matmul %rows, %w13, %offsets activation <swiglu>
         : tensor<?x16xf32>, tensor<8x16x64xf32>, tensor<9xi64>
         -> tensor<?x32xf32>
    %y = moe.grouped_matmul %h, %w2, %offsets
         combine %w, %inverse : tensor<?x2xf32>, tensor<?x2xi64>
         : tensor<?x32xf32>, tensor<8x32x16xf32>, tensor<9xi64>
         -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins
    MoE_FloatTensor:$rows,
    MoE_FloatTensor:$weights,
    MoE_IndexTensor:$offsets,
    Optional<MoE_FloatTensor>:$bias,
    Optional<MoE_FloatTensor>:$combine_weights,
    Optional<MoE_IndexTensor>:$combine_inverse,
    OptionalAttr<MoE_ActivationAttr>:$activation
  );
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $rows `,` $weights `,` $offsets
    (`bias` $bias^ `:` type($bias))?
    (`activation` $activation^)?
    (`combine` $combine_weights^ `,` $combine_inverse `:`
     type($combine_weights) `,` type($combine_inverse))? attr-dict
    `:` type($rows) `,` type($weights) `,` type($offsets) `->` type($result)
  }];
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$rows,
                   "::mlir::Value":$weights, "::mlir::Value":$offsets,
                   "::mlir::Value":$bias,
                   "::mlir::moe::ActivationAttr":$activation), [{
      build($_builder, $_state, result, rows, weights, offsets, bias,
            /*combine_weights=*/::mlir::Value(),
            /*combine_inverse=*/::mlir::Value(), activation);
    }]>
  ];
}

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

def MoE_CombineOp : MoE_Op<"combine", [Pure]> {
  let summary = "gate-weighted sum of expert rows back into token order";
  let description = [{
    `output[t] = sum_{j = 0..k-1} weights[t, j] * rows[inverse[t, j]]`,
    summed in increasing `j` (a fixed order, so results are deterministic).
    `rows` is `[N, d]` in sorted order, `weights` and `inverse` are
    `[T, k]`, the output is `[T, d]`.

    ```mlir
    %y = moe.combine %rows, %w, %inverse
         : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins
    MoE_FloatTensor:$rows,
    MoE_FloatTensor:$weights,
    MoE_IndexTensor:$inverse
  );
  let results = (outs MoE_FloatTensor:$output);
  let assemblyFormat = [{
    $rows `,` $weights `,` $inverse attr-dict `:` type($rows) `,`
    type($weights) `,` type($inverse) `->` type($output)
  }];
  let hasVerifier = 1;
}

#endif // MOE_DIALECT_MOE_IR_MOEOPS_TD
