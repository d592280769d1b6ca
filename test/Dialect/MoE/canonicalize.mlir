// RUN: moe-opt %s -canonicalize -split-input-file | FileCheck %s

// Softmax routing over every expert is the dense mixture.

// CHECK-LABEL: func @layer_topk_all
// CHECK: moe.layer {{.*}} routing <dense, k = 4> activation <relu>
func.func @layer_topk_all(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                          %w2: tensor<4x8x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <softmax_topk, k = 4, renormalize = true> activation <relu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// The scale survives; topk_softmax over all experts is dense too.
// CHECK-LABEL: func @route_topk_softmax_all
// CHECK: moe.route %{{.*}} routing <dense, k = 4, scale = 2.0>
func.func @route_topk_softmax_all(%l: tensor<?x4xf32>) -> (tensor<?x4xi64>, tensor<?x4xf32>) {
  %ids, %w = moe.route %l routing <topk_softmax, k = 4, scale = 2.0>
             : tensor<?x4xf32> -> tensor<?x4xi64>, tensor<?x4xf32>
  return %ids, %w : tensor<?x4xi64>, tensor<?x4xf32>
}

// -----

// Not dense: fewer picks, sigmoid scores, or a capacity limit.
// CHECK-LABEL: func @not_dense
// CHECK: routing <softmax_topk, k = 3>
// CHECK: routing <sigmoid_topk, k = 4>
// CHECK: routing <softmax_topk, k = 4, capacity_factor = 1.0>
func.func @not_dense(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                     %w2: tensor<4x8x16xf32>, %l: tensor<?x4xf32>) -> (tensor<?x16xf32>, tensor<?x3xi64>, tensor<?x4xi64>) {
  %ids, %w = moe.route %l routing <softmax_topk, k = 3> : tensor<?x4xf32> -> tensor<?x3xi64>, tensor<?x3xf32>
  %ids2, %w2s = moe.route %l routing <sigmoid_topk, k = 4> : tensor<?x4xf32> -> tensor<?x4xi64>, tensor<?x4xf32>
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <softmax_topk, k = 4, capacity_factor = 1.0> activation <relu> -> tensor<?x16xf32>
  return %y, %ids, %ids2 : tensor<?x16xf32>, tensor<?x3xi64>, tensor<?x4xi64>
}
