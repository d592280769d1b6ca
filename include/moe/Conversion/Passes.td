//===- Passes.td - Conversion passes of the MoE compiler ---*- tablegen -*-===//
//
// Every conversion pass, one per folder under lib/Conversion.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_PASSES_TD
#define MOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

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
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // MOE_CONVERSION_PASSES_TD
