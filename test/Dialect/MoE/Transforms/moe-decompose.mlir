// RUN: moe-opt %s -moe-decompose -split-input-file | FileCheck %s

// A gated layer: router matmul, route, permute, one grouped matmul for
// [gate | up] with the SwiGLU epilogue and the fused bias, the down
// projection with its bias, combine.

// CHECK-LABEL: func @gated
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[WR:.*]]: tensor<16x4xf32>, %[[W1:.*]]: tensor<4x16x8xf32>, %[[W3:.*]]: tensor<4x16x8xf32>, %[[W2:.*]]: tensor<4x8x16xf32>, %[[B1:.*]]: tensor<4x8xf32>, %[[B3:.*]]: tensor<4x8xf32>, %[[B2:.*]]: tensor<4x16xf32>)
// CHECK: %[[LOGITS:.*]] = linalg.matmul ins(%[[X]], %[[WR]] : tensor<?x16xf32>, tensor<16x4xf32>)
// CHECK: %[[IDS:.*]], %[[W:.*]] = moe.route %[[LOGITS]] routing <softmax_topk, k = 2, renormalize = true> : tensor<?x4xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
// CHECK: %[[ROWS:.*]], %{{.*}}, %[[OFF:.*]], %[[INV:.*]] = moe.permute %[[X]], %[[IDS]]
// CHECK: %[[G:.*]] = tensor.insert_slice %[[W1]] into %{{.*}}[0, 0, 0] [4, 16, 8] [1, 1, 1] : tensor<4x16x8xf32> into tensor<4x16x16xf32>
// CHECK: %[[W13:.*]] = tensor.insert_slice %[[W3]] into %[[G]][0, 0, 8] [4, 16, 8] [1, 1, 1]
// CHECK: %[[GB:.*]] = tensor.insert_slice %[[B1]] into %{{.*}}[0, 0] [4, 8] [1, 1] : tensor<4x8xf32> into tensor<4x16xf32>
// CHECK: %[[B13:.*]] = tensor.insert_slice %[[B3]] into %[[GB]][0, 8] [4, 8] [1, 1]
// CHECK: %[[H:.*]] = moe.grouped_matmul %[[ROWS]], %[[W13]], %[[OFF]] bias %[[B13]] : tensor<4x16xf32> activation <swiglu> : tensor<?x16xf32>, tensor<4x16x16xf32>, tensor<5xi32> -> tensor<?x8xf32>
// CHECK: %[[Y:.*]] = moe.grouped_matmul %[[H]], %[[W2]], %[[OFF]] bias %[[B2]] : tensor<4x16xf32> : tensor<?x8xf32>, tensor<4x8x16xf32>, tensor<5xi32> -> tensor<?x16xf32>
// CHECK: %[[OUT:.*]] = moe.combine %[[Y]], %[[W]], %[[INV]]
// CHECK: return %[[OUT]]
func.func @gated(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>, %w3: tensor<4x16x8xf32>,
                 %w2: tensor<4x8x16xf32>, %b1: tensor<4x8xf32>, %b3: tensor<4x8xf32>, %b2: tensor<4x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w3 %w3 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         b1 %b1 : tensor<4x8xf32> b3 %b3 : tensor<4x8xf32> b2 %b2 : tensor<4x16xf32>
         routing <softmax_topk, k = 2, renormalize = true> activation <swiglu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Given logits with a router bias: the bias is added before routing; a
// plain FFN keeps one projection with its activation.
// CHECK-LABEL: func @logits_plain
// CHECK: %[[BIASED:.*]] = linalg.generic {{.*}} ins(%arg1, %arg2 : tensor<?x4xf32>, tensor<4xf32>)
// CHECK: arith.addf
// CHECK: moe.route %[[BIASED]] routing <topk_softmax, k = 2>
// CHECK: moe.grouped_matmul %{{.*}}, %arg3, %{{.*}} activation <relu> : tensor<?x16xf32>, tensor<4x16x8xf32>, tensor<5xi32> -> tensor<?x8xf32>
// CHECK-NOT: moe.layer
func.func @logits_plain(%x: tensor<?x16xf32>, %l: tensor<?x4xf32>, %br: tensor<4xf32>, %w1: tensor<4x16x8xf32>,
                        %w2: tensor<4x8x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> logits %l : tensor<?x4xf32> router_bias %br : tensor<4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <topk_softmax, k = 2> activation <relu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Layers the decomposed ops cannot state stay whole.
// CHECK-LABEL: func @kept
// CHECK-COUNT-3: moe.layer
// CHECK-NOT: moe.route
func.func @kept(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                %w2: tensor<4x8x16xf32>, %s1: tensor<16x8xf32>, %s2: tensor<8x16xf32>) -> tensor<?x16xf32> {
  %0 = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32> w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         shared_w1 %s1 : tensor<16x8xf32> shared_w2 %s2 : tensor<8x16xf32>
         routing <softmax_topk, k = 2> activation <relu> -> tensor<?x16xf32>
  %1 = moe.layer %0 : tensor<?x16xf32> router %wr : tensor<16x4xf32> w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <sigmoid_topk, k = 1> activation <relu> gate_on_input -> tensor<?x16xf32>
  %2 = moe.layer %1 : tensor<?x16xf32> router %wr : tensor<16x4xf32> w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <softmax_topk, k = 1, capacity_factor = 1.0> activation <relu> -> tensor<?x16xf32>
  return %2 : tensor<?x16xf32>
}
