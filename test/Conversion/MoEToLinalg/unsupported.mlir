// RUN: moe-opt %s -convert-moe-to-linalg -split-input-file -verify-diagnostics

// Routing the reference lowering does not cover yet fails with an error at
// the op instead of being lowered wrongly.

func.func @expert_choice(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                         %w2: tensor<4x8x16xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{expert_choice routing is not supported by convert-moe-to-linalg yet}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <expert_choice, k = 1, capacity_factor = 1.0> activation <relu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

func.func @capacity(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                    %w2: tensor<4x8x16xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{capacity limits (capacity_factor > 0) are not supported by convert-moe-to-linalg yet}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <softmax_topk, k = 1, capacity_factor = 1.25> activation <relu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
