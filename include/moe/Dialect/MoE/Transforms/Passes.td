//===- Passes.td - Transformations of the moe dialect ------*- tablegen -*-===//

#ifndef MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD
#define MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoERaisePass : Pass<"moe-raise", "func::FuncOp"> {
  let summary = "Recognise MoE layers in imported ONNX graphs as moe.layer";
  let description = [{
    Finds MoE layers by their dataflow in onnx-dialect IR and replaces each
    with one `moe.layer`, extracting the stacked expert weights from the
    per-expert constants. A candidate is raised only when every piece of
    the math checks out: the router (MatMul with a constant weight), the
    scoring and selection (Softmax, TopK, optional renormalization), the
    per-expert token selection (OneHot mask, NonZero), the expert FFNs
    (constant weights of one shape, one activation), the gate-weighted
    combine (ScatterElements into zeros, summed in the expert order), and
    that all of them read the same tokens. Anything else is left alone;
    with `report-failures` a remark says which check failed.

    Recognised so far: the Hugging Face per-expert loop as torch.onnx.export
    writes it (Mixtral-style softmax -> top-k -> renormalize, SwiGLU, SiLU,
    ReLU or GELU experts).

    Before (per expert, unrolled E times):
    ```mlir
    %mask = onnx.transpose (onnx.one_hot %ids) ...   // [E, k, T]
    %nz = onnx.nonzero (onnx.cast (onnx.gather %mask, %e)) ...
    %rows = onnx.gather %h, %token ...
    %y = onnx.matmul (onnx.mul (silu (onnx.matmul %rows, %w1)), ...), %w2
    %acc1 = onnx.add %acc0, (onnx.scatter_elements %zeros, %token, %y * %gate)
    ```
    After:
    ```mlir
    %out = moe.layer %h : tensor<?x16xf32> router %wr : tensor<16x4xf32>
             w1 %w1s : tensor<4x16x32xf32> w3 %w3s : ... w2 %w2s : ...
             routing <softmax_topk, k = 2, renormalize = true>
             activation <swiglu> -> tensor<?x16xf32>
    ```
  }];
  let options = [
    Option<"reportFailures", "report-failures", "bool", "false",
           "Emit a remark at each candidate that is not raised, saying why">,
  ];
  let statistics = [
    Statistic<"numRaised", "num-raised", "Number of MoE layers raised">,
  ];
  let dependentDialects = [
    "::mlir::moe::MoEDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect",
  ];
}

def MoEDecomposePass : Pass<"moe-decompose", "func::FuncOp"> {
  let summary = "Split moe.layer into route, permute, grouped matmuls and combine";
  let description = [{
    Rewrites each `moe.layer` into the steps the kernels implement:

    ```mlir
    %logits = linalg.matmul ins(%x, %wr) ...          // + router bias
    %ids, %w = moe.route %logits routing <...>        // [T, k] i32, [T, k]
    %rows, %assign, %offsets, %inverse = moe.permute %x, %ids
    %h = moe.grouped_matmul %rows, %w13, %offsets activation <swiglu>
    %y = moe.grouped_matmul %h, %w2, %offsets
    %out = moe.combine %y, %w, %inverse
    ```

    Gate and up weights of gated activations are concatenated into one
    `[E, d, 2f]` constant (and their biases into `[E, 2f]`), so one grouped
    matmul computes both with the activation in its epilogue.

    A shared expert of width `fs` runs inside the same grouped matmuls as
    `m = ceil(fs / f)` extra experts of the routed width `f` that every
    token selects: its weights are split into `f`-column chunks (the last
    padded with zeros) appended after the routed experts, and `moe.route`
    gives each token `m` more routing slots (`shared(m)`) with ids
    `E .. E+m-1` and weight 1, or `sigmoid(x . shared_gate)` with the gate
    as one more router column (`gated`): the whole gating stays one op,
    which `moe-fuse-gating` then fuses with the router matmul. The
    activations act elementwise over `f`, so the chunks sum to the shared
    FFN exactly.

    Layers the decomposed ops cannot state yet stay whole: expert-choice
    routing, capacity limits and `gate_on_input`.
  }];
  let statistics = [
    Statistic<"numDecomposed", "num-decomposed", "Number of layers decomposed">,
  ];
  let dependentDialects = [
    "::mlir::moe::MoEDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def MoEFuseGatingPass : Pass<"moe-fuse-gating", "func::FuncOp"> {
  let summary = "Fuse the router matmul into moe.route (one gating kernel)";
  let description = [{
    `moe.route` of logits computed by a router matmul from zeros (plus an
    optional per-expert bias, the form `moe-decompose` emits) becomes
    `moe.route` of the hidden states with `router` / `router_bias`: router
    matmul, scoring, selection, normalization and scaling run as one
    kernel, and the `[T, E]` logits are never stored.

    ```mlir
    %l = linalg.matmul ins(%x, %wr : tensor<?x16xf32>, tensor<16x8xf32>)
                       outs(%zeros : tensor<?x8xf32>) -> tensor<?x8xf32>
    %ids, %w = moe.route %l routing <softmax_topk, k = 2> : ...
    // becomes
    %ids, %w = moe.route %x router %wr : tensor<16x8xf32>
               routing <softmax_topk, k = 2> : ...
    ```

    Logits that come from elsewhere (given to the model, a matmul with
    transposed maps or a non-zero start) are left alone.
  }];
  let statistics = [
    Statistic<"numFused", "num-fused", "Number of routing ops fused">,
  ];
  let dependentDialects = ["::mlir::moe::MoEDialect"];
}

def MoEFuseCombinePass : Pass<"moe-fuse-combine", "func::FuncOp"> {
  let summary = "Fuse moe.combine into the grouped matmul that feeds it";
  let description = [{
    `moe.combine` of a `moe.grouped_matmul` result that nothing else reads
    becomes the grouped matmul with a `combine` clause: one kernel call
    that scales each row by its gate weight and adds it to its token's
    output row, the k contributions summed in the same fixed order as
    `moe.combine`. How is the runtime's choice: the CPU kernel does it in
    the epilogue for k = 1 (the `[T, d]` expert rows never stored) and
    combines scratch rows after the matmul for k > 1 (faster than a pass
    per top-k slot, the same bits); the CUDA chain combines on the device.

    ```mlir
    %z = moe.grouped_matmul %h, %w2, %offsets : ... -> tensor<?x16xf32>
    %y = moe.combine %z, %w, %inverse : ... -> tensor<?x16xf32>
    // becomes
    %y = moe.grouped_matmul %h, %w2, %offsets
         combine %w, %inverse : tensor<?x2xf32>, tensor<?x2xi32>
         : ... -> tensor<?x16xf32>
    ```
  }];
  let statistics = [
    Statistic<"numFused", "num-fused", "Number of combines fused">,
  ];
  let dependentDialects = ["::mlir::moe::MoEDialect"];
}

def MoEFoldWeightsPass : Pass<"moe-fold-weights", "func::FuncOp"> {
  let summary = "Move constant weights into the kernels' layout at compile time";
  let description = [{
    Evaluates data movement whose operands are all constants: strided
    `tensor.extract_slice`, `tensor.insert_slice` into a constant or
    `tensor.empty`, transposes (`linalg.transpose`, and `linalg.generic`
    copies through a permutation map), `tensor.collapse_shape` /
    `tensor.expand_shape` and static `tensor.cast`. Each becomes one
    constant, so the layout changes that importing and `moe-decompose` put
    on the weights (ONNX Runtime's `[E, out, in]` transposed to `[E, in,
    out]`, gate and up interleaved or concatenated into one `[E, d, 2f]`
    weight) cost nothing at run time: the weights are stored prepacked.

    ```mlir
    %w = arith.constant dense<...> : tensor<2x3xf32>
    %e = tensor.empty() : tensor<3x2xf32>
    %t = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>)
           permutation = [1, 0]
    // becomes
    %t = arith.constant dense<...> : tensor<3x2xf32>
    ```

    Results of up to 16 elements stay inline `dense<...>`; larger ones are
    `dense_resource` blobs. Element types of whole bytes only (not `i1`).
  }];
  let statistics = [
    Statistic<"numFolded", "num-folded", "Number of ops folded into constants">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
  ];
}

def MoEWidenHalfPass : Pass<"moe-widen-half", "func::FuncOp"> {
  let summary = "Compute float16/bfloat16 MoE layers in f32";
  let description = [{
    The kernel runtimes take f32 activations (with f32, bf16, f16 or int8
    expert weights, `--weights`). A `moe.layer` of a model exported in
    float16 or bfloat16 is rebuilt in f32: its constant operands (router,
    expert weights, biases) are widened at compile time (exactly), any
    other operand is converted with `onnx.cast`, and the result is cast
    back to the layer's type. The layer then takes the runtime's kernels
    instead of the reference lowering; results are rounded to the model's
    type once, at the end (more accurate than 16-bit arithmetic
    throughout). A round trip through 16 bits between two widened ops
    (one layer's result cast down and straight back up for the next) is
    dropped; one the model itself wrote is kept.

    ```mlir
    %y = moe.layer %x, router_weight %r, ... : (tensor<?x16xf16>, ...) -> tensor<?x16xf16>
    // becomes
    %x32 = onnx.cast %x : tensor<?x16xf16> to tensor<?x16xf32>
    %y32 = moe.layer %x32, router_weight %r32, ... -> tensor<?x16xf32>
    %y = onnx.cast %y32 : tensor<?x16xf32> to tensor<?x16xf16>
    ```

    With `graph` (`--target=cuda`, whose graph-op kernels take f32), the
    graph's 16-bit ops that CUDA calls compute - elementwise arithmetic,
    last-axis means, softmax, transpose, matmul, gemm, a causal mask's
    constant_of_shape and trilu, and the views between them (reshape,
    unsqueeze, squeeze, flatten) - are rebuilt in f32 the same way, and a
    16-bit round trip between two widened ops (`onnx.cast` to f16/bf16 and
    straight back) is dropped: a bfloat16 decoder layer runs in f32 from
    its input's cast to its output's, rounded once (closer to the f32
    model than bf16 arithmetic throughout, as for the layers). A concat
    the graph returns (a KV cache's present keys or values) stays 16-bit:
    its new rows are rounded into it and the ops reading it read it
    widened (the fused attention reads the 16-bit cache as it is), so the
    cache is never cast whole. Shapes are read from before casts.
  }];
  let options = [
    Option<"graph", "graph", "bool", /*default=*/"false",
           "also widen the graph's 16-bit ops the CUDA runtime computes">
  ];
  let statistics = [
    Statistic<"numWidened", "num-widened", "Number of layers widened to f32">,
    Statistic<"numGraphOps", "num-graph-ops",
              "Number of graph ops widened to f32">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::moe::onnx::ONNXDialect",
  ];
}

#endif // MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD
