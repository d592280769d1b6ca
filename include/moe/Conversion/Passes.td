//===- Passes.td - Conversion passes of the MoE compiler ---*- tablegen -*-===//
//
// Every conversion pass, one per folder under lib/Conversion.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_PASSES_TD
#define MOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMoEToRuntimePass : Pass<"convert-moe-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower decomposed moe ops to calls of the kernel runtime";
  let description = [{
    Turns `moe.route`, `moe.permute`, `moe.grouped_matmul` and
    `moe.combine` with f32 data and i32 indices into calls of the runtime's
    scalar-only entry points (`moe_cc_*` in runtime/include/moe_runtime.h),
    still on tensors: each operand becomes a buffer
    (`bufferization.to_buffer ... read_only`) whose aligned pointer is
    passed, each result a fresh `memref.alloc` the kernel writes and
    `bufferization.to_tensor ... restrict` wraps, so one-shot bufferization
    of the rest of the function is unchanged. The kernel's status is
    checked with `cf.assert`. Ops of other element types and `moe.layer`
    are left for `convert-moe-to-linalg`; with `target=cuda` each layer
    left that way gets a warning (it runs on the host, not the GPU) with
    the reason.

    Before:
    ```mlir
    %y = moe.combine %rows, %w, %inverse
         : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<?x16xf32>
    ```
    After (abridged):
    ```mlir
    %out = memref.alloc(%t) : memref<?x16xf32>
    %status = llvm.call @moe_cc_combine_f32(%threads, %rows_ptr, ...)
    cf.assert %ok, "moe runtime: moe.combine failed"
    %y = bufferization.to_tensor %out restrict : memref<?x16xf32> to tensor<?x16xf32>
    ```
  }];
  let options = [
    Option<"numThreads", "num-threads", "int32_t", /*default=*/"0",
           "threads each kernel may use (0: all available)">,
    Option<"weightType", "weight-type", "std::string", /*default=*/"\"f32\"",
           "Element type constant grouped-matmul weights are stored in: f32, "
           "bf16 (half the bytes, fp32 accumulation), f16 (IEEE half, "
           "target=cuda only) or int8 (a quarter, one scale per expert and "
           "output column, fp32 accumulation; target=cpu only)">,
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "Runtime the calls go to: cpu (moe_cc_*, weights packed into the "
           "micro-kernels' panels) or cuda (moe_cuda_cc_* on host buffers, "
           "row-major f32, bf16 or f16 weights uploaded to the GPU once)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def ConvertMoEToLinalgPass : Pass<"convert-moe-to-linalg"> {
  let summary = "Lower moe ops to linalg/tensor/arith/math (the reference)";
  let description = [{
    Lowers every op of the `moe` dialect in the plainest correct way, so that
    the result is the oracle the optimized CPU and CUDA paths are checked
    against:

    * `moe.layer` runs densely: every expert on every token, mixed by the
      dense gate weights (0 for experts a token did not choose);
    * routing computes, per token, the rank of every expert's choice score
      (ONNX TopK order: larger first, lower index on ties, NaN first) and
      keeps the experts ranked below k;
    * `moe.permute` is a counting sort written as reductions,
      `moe.grouped_matmul` finds each row's expert from the offsets and
      `moe.combine` gathers rows by the inverse permutation.

    Before:
    ```mlir
    %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
           w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
           routing <softmax_topk, k = 1> activation <relu>
           -> tensor<?x16xf32>
    ```
    After: only `linalg.generic`, `linalg.fill`, `tensor.empty`,
    `tensor.dim`, `tensor.extract` and scalar arith/math ops.

    Capacity limits count, per expert, the earlier tokens that chose it;
    expert-choice routing ranks each expert's column of probabilities.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def ConvertONNXToLinalgPass : Pass<"convert-onnx-to-linalg"> {
  let summary = "Lower onnx-dialect ops to linalg/tensor/arith/math";
  let description = [{
    Lowers the onnx mirror dialect to upstream tensor-level dialects:
    elementwise ops become `linalg.generic` with numpy broadcasting in the
    indexing maps (a size-1 dim reads index 0), MatMul a batched contraction,
    Softmax max/exp/sum/divide reductions along its axis, Transpose a
    permuted generic and Reshape `tensor.reshape` with the target dims
    computed at run time (`0` copies an input dim, `-1` is inferred).

    Before:
    ```mlir
    %z = onnx.add %x, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
    ```
    After:
    ```mlir
    %z = linalg.generic {indexing_maps = [(d0, d1) -> (d0, d1), (d0, d1) -> (d1),
                                          (d0, d1) -> (d0, d1)], ...}
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def ConvertElementwiseToCudaPass
    : Pass<"convert-elementwise-to-cuda", "::mlir::ModuleOp"> {
  let summary = "Lower the graph's f32 elementwise ops, norms, matmuls, softmax, rotary embeddings and transposes to CUDA runtime calls";
  let description = [{
    For `--target=cuda`, before `convert-onnx-to-linalg`: on f32 tensors,
    `onnx.add`, `sub`, `mul`, `div`, `pow`, `max` and `min` of rank at
    most 4 (MOE_CUDA_MAX_ELEMENTWISE_RANK) become calls of
    `moe_cuda_cc_binary_f32`, which broadcasts numpy-style at run time;
    `onnx.neg`, `sqrt`, `exp`, `tanh`, `sigmoid`, `relu` and `erf` calls of
    `moe_cuda_cc_unary_f32`; `onnx.reduce_mean` over the last axis a call
    of `moe_cuda_cc_mean_rows_f32` - not a one-element result computed from
    shapes and constants (an attention scale from q's shape: host
    arithmetic, which a call would only copy across). First, an RMS norm
    over the last axis as
    exporters write it - x * (1 / sqrt(mean(x^2) + eps)) or
    x / sqrt(mean(x^2) + eps), times a constant row weight when one
    follows - becomes one `moe_cuda_cc_rms_norm_f32` call (one launch for
    its seven ops); when x is a same-shape add (a residual stream), the
    add joins the call, which writes the sum too. Each computes on the GPU when a buffer
    is device memory, else on the host. Graphs whose host work on their
    inputs was only such ops (a residual add around an MoE layer, the
    RMS norm before it) then run device-resident (`moe-mark-device-io`). The result's dims are numpy's (per dim, the
    operands' aligned dim that is not a 1); shapes that do not broadcast
    fail the run, naming the op. A constant operand is uploaded once, with the weights.

    An attention block's ops too. First, before everything else, an
    attention core - `onnx.matmul` of q and k^T, maybe scaled by a scalar
    constant (its alpha), maybe plus a causal mask or any other f32 mask
    (added as the call scores: padding), `onnx.softmax` over the
    last axis (used only there), `onnx.matmul` by v, ranks 3 or 4 - becomes
    one `moe_cuda_cc_attention_f32` call (the scores never written out;
    q and k^T each multiplied by a scalar the host computes from shapes
    and constants - torch's scaled_dot_product_attention export, sqrt of
    1/sqrt(head_dim) on each - fold into alpha, read at run time):
    q, k^T, v and the result read and written through the views below
    (each view's rows its buffer's; k^T's head dim its buffer's last), k's
    and v's repeat_kv read as their kv heads (both repeats checked at run
    time; k's heads otherwise must be q's or 1, else the call refuses).
    Then `onnx.matmul` (ranks 2 to 4, batch dims
    broadcast) and `onnx.gemm` (its bias, beta 1, an `onnx.add` the
    patterns above take) become `moe_cuda_cc_matmul_f32` calls (cuBLAS,
    always on the GPU); a scalar constant dividing or multiplying a
    matmul's only use (1/sqrt(head_dim)) becomes its alpha, matched in the
    first phase with the norms. A transpose of a matmul's operand (the
    heads' split, k^T) or of its result (the heads' merge) is a view the
    call reads or writes in place (each operand passed as its buffer and
    the transpose), when one of the view's last two dims is its buffer's
    last (the result's: the last); grouped-query attention's repeat_kv
    (unsqueeze at 2, expand, reshape) of b is read as its kv heads, q's
    heads sharing one a single matrix, after a run-time check that the
    repeat is repeat_kv's (the run fails naming the matmul otherwise).
    `onnx.softmax` over the last axis becomes `moe_cuda_cc_softmax_f32`
    (of scores plus a causal mask - `onnx.trilu` of a -inf
    `onnx.constant_of_shape`, upper, its k read at run time (a KV cache's
    length + 1) - one call that leaves the masked columns out, the mask
    never built); x * cos + rotate_half(x) * sin (a concat of a negated
    slice and a slice of x's last axis) one `moe_cuda_cc_rotary_f32`,
    reading the heads' transpose of x in place (q's and k's, with the
    same tables and rows of one width, one `moe_cuda_cc_rotary_pair_f32`
    at the later add when the earlier's result is read only after it;
    their halves checked to agree at run time); `onnx.transpose` of rank
    at most 4 otherwise `moe_cuda_cc_transpose_f32` (not a transpose of
    constants: moe-fold-weights does those at compile time), its shape
    read from its input. So a decoder layer's
    attention keeps its buffers on the device too. With `weight-type=bf16`
    (or `f16`), a matmul's constant right operand (a projection's weight)
    is stored in that type at compile time and the call is
    `moe_cuda_cc_matmul_bf16w` (`_f16w`): activations rounded to it on the
    device, fp32 accumulation - half the weight bytes, tensor cores - and
    the attention call asks for the same 16-bit precision (tensor cores
    at prefill); an RMS norm or an attention only such projections read
    writes their rounded activations itself (`moe_cuda_cc_rms_norm_bf16`,
    the attention call's out type). Last, `onnx.cast` between f32 and
    bf16/f16 (not of constants: moe-fold-weights widens those), or of an
    int64/int32 graph input (maybe reshaped; not shape arithmetic) to f32
    - transformers' position_ids - becomes `moe_cuda_cc_cast`; an
    `onnx.expand`, of a constant too when the shape is not one (inv_freq
    expanded to the batch), `moe_cuda_cc_expand_f32`.

    Before:
    ```mlir
    %y = onnx.add %x, %h : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
    ```
    After (abridged):
    ```mlir
    %out = memref.alloc(%t) : memref<?x16xf32>
    %status = llvm.call @moe_cuda_cc_binary_f32(%threads, %c0_i32, %x_ptr,
        %c2, %t, %c16, ..., %h_ptr, ..., %out_ptr)
    %y = bufferization.to_tensor %out restrict : memref<?x16xf32> to tensor<?x16xf32>
    ```
  }];
  let options = [
    Option<"numThreads", "num-threads", "int32_t", /*default=*/"0",
           "threads each call may use on the host (0: all available)">,
    Option<"weightType", "weight-type", "std::string", /*default=*/"\"f32\"",
           "how constant matmul weights are stored: f32, or bf16 / f16 for "
           "cuBLAS's tensor-core GEMMs (f16: weights within its range); "
           "16-bit also runs prefill attention on tensor cores">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def MoEMarkDeviceIOPass : Pass<"moe-mark-device-io", "ModuleOp"> {
  let summary = "Place on the device the buffers only CUDA runtime calls touch";
  let description = [{
    Runs on bufferized code (after bufferization-to-memref, before the
    loops and LLVM; target cuda). A buffer (a graph input or a
    `memref.alloc`, with its views) is host-touched when anything but a
    view, a metadata query, a deallocation or a return uses it, or when its
    pointer reaches anything but a `moe_cuda_cc_*` call (or a pointer
    comparison). When the integer inputs of `main_graph` (option
    `function`) reach no CUDA call but the conversion to floats
    (`moe_cuda_cc_cast`: transformers' position_ids; indices from the
    caller would reach other kernels unchecked), the module gets
    `moe.device_io`, its host-touched inputs are listed in
    `moe.device_io_host_inputs` (a device-resident run copies those to
    the host first; CUDA calls stage them from there), and every
    allocation that is not host-touched gets `alignment = 256`: in a
    device-resident run (moe_model_run_device on a model with
    `__moe_model_device_io`) the runtime's allocator hook puts exactly
    those in device memory, and host work on other buffers (shape
    arithmetic) stays on the host.

    Before (abridged):
    ```mlir
    func.func @main_graph(%x: memref<?x16xf32>) -> memref<?x16xf32> {
      %shape = memref.alloc() {alignment = 64 : i64} : memref<2xi64>
      memref.store %t, %shape[%c0] : memref<2xi64>
      %out = memref.alloc(%t) {alignment = 64 : i64} : memref<?x16xf32>
      %status = llvm.call @moe_cuda_cc_layer_f32(..., %x_ptr, ..., %out_ptr)
      ...
    }
    ```
    After: `module attributes {moe.device_io}`, `%out` allocated with
    `alignment = 256`, `%shape` unchanged. A `memref.copy` or load of an
    input leaves the module unmarked and nothing tagged.
  }];
  let options = [
    Option<"function", "function", "std::string",
           /*default=*/"\"main_graph\"", "the graph's function">
  ];
}

#endif // MOE_CONVERSION_PASSES_TD
