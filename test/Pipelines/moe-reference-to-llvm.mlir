// RUN: moe-opt %s --moe-reference-to-llvm | FileCheck %s

// The reference pipeline leaves only the LLVM dialect, with a C interface
// for every function and erf from libm.

// CHECK-NOT: moe.
// CHECK-NOT: linalg.
// CHECK-NOT: tensor.
// CHECK-NOT: memref.
// CHECK-DAG: llvm.func @erff(f32) -> f32
// CHECK-DAG: llvm.func @layer(
// CHECK-DAG: llvm.func @_mlir_ciface_layer(
func.func @layer(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                 %w2: tensor<4x8x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <softmax_topk, k = 2> activation <gelu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
