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

// A shared expert of width 12 over routed width 8 runs as 2 more experts
// (ids 4 and 5, columns padded to 16): weights chunked and appended; its
// gate is a fifth router column, and moe.route gives each token 2 more
// slots weighted by sigmoid of that column's logit.
// CHECK-LABEL: func @shared
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[WR:.*]]: tensor<16x4xf32>, %[[W1:.*]]: tensor<4x16x8xf32>, %[[W3:.*]]: tensor<4x16x8xf32>, %[[W2:.*]]: tensor<4x8x16xf32>, %[[S1:.*]]: tensor<16x12xf32>, %[[S3:.*]]: tensor<16x12xf32>, %[[S2:.*]]: tensor<12x16xf32>, %[[SG:.*]]: tensor<16x1xf32>)
// CHECK: %[[P1:.*]] = tensor.insert_slice %[[S1]] into %{{.*}}[0, 0] [16, 12] [1, 1] : tensor<16x12xf32> into tensor<16x16xf32>
// CHECK: %[[E1:.*]] = tensor.expand_shape %[[P1]] {{\[}}[0], [1, 2]] output_shape [16, 2, 8]
// CHECK: %[[C1:.*]] = linalg.transpose ins(%[[E1]] : tensor<16x2x8xf32>) outs(%{{.*}} : tensor<2x16x8xf32>) permutation = [1, 0, 2]
// CHECK: %[[P2:.*]] = tensor.insert_slice %[[S2]] into %{{.*}}[0, 0] [12, 16] [1, 1] : tensor<12x16xf32> into tensor<16x16xf32>
// CHECK: %[[C2:.*]] = tensor.expand_shape %[[P2]] {{\[}}[0, 1], [2]] output_shape [2, 8, 16]
// CHECK: %[[A1:.*]] = tensor.insert_slice %[[W1]] into %{{.*}}[0, 0, 0] [4, 16, 8] [1, 1, 1] : tensor<4x16x8xf32> into tensor<6x16x8xf32>
// CHECK: tensor.insert_slice %[[C1]] into %[[A1]][4, 0, 0] [2, 16, 8] [1, 1, 1]
// CHECK: %[[A2:.*]] = tensor.insert_slice %[[W2]] into %{{.*}}[0, 0, 0] [4, 8, 16] [1, 1, 1] : tensor<4x8x16xf32> into tensor<6x8x16xf32>
// CHECK: %[[W2S:.*]] = tensor.insert_slice %[[C2]] into %[[A2]][4, 0, 0] [2, 8, 16] [1, 1, 1]
// CHECK: %[[R:.*]] = tensor.insert_slice %[[WR]] into %{{.*}}[0, 0] [16, 4] [1, 1] : tensor<16x4xf32> into tensor<16x5xf32>
// CHECK: %[[RG:.*]] = tensor.insert_slice %[[SG]] into %[[R]][0, 4] [16, 1] [1, 1] : tensor<16x1xf32> into tensor<16x5xf32>
// CHECK: %[[LOGITS:.*]] = linalg.matmul ins(%[[X]], %[[RG]] : tensor<?x16xf32>, tensor<16x5xf32>)
// CHECK: %[[IDS:.*]], %[[W:.*]] = moe.route %[[LOGITS]] routing <softmax_topk, k = 2> shared(2) gated : tensor<?x5xf32> -> tensor<?x4xi32>, tensor<?x4xf32>
// CHECK: %[[ROWS:.*]], %{{.*}}, %[[OFF:.*]], %[[INV:.*]] = moe.permute %[[X]], %[[IDS]] : tensor<?x16xf32>, tensor<?x4xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<7xi32>, tensor<?x4xi32>
// CHECK: moe.grouped_matmul %[[ROWS]], %{{.*}}, %[[OFF]] activation <swiglu> : tensor<?x16xf32>, tensor<6x16x16xf32>, tensor<7xi32> -> tensor<?x8xf32>
// CHECK: %[[Y:.*]] = moe.grouped_matmul %{{.*}}, %[[W2S]], %[[OFF]] : tensor<?x8xf32>, tensor<6x8x16xf32>, tensor<7xi32> -> tensor<?x16xf32>
// CHECK: moe.combine %[[Y]], %[[W]], %[[INV]] : tensor<?x16xf32>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<?x16xf32>
// CHECK-NOT: moe.layer
func.func @shared(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>, %w3: tensor<4x16x8xf32>,
                  %w2: tensor<4x8x16xf32>, %s1: tensor<16x12xf32>, %s3: tensor<16x12xf32>, %s2: tensor<12x16xf32>,
                  %sg: tensor<16x1xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w3 %w3 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         shared_w1 %s1 : tensor<16x12xf32> shared_w3 %s3 : tensor<16x12xf32> shared_w2 %s2 : tensor<12x16xf32>
         shared_gate %sg : tensor<16x1xf32>
         routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Given logits with a router bias and a gated shared expert: the gate's
// logit (x . gate) becomes a fifth logits column and the bias gets a zero
// for it; an ungated shared expert (below) needs no column.
// CHECK-LABEL: func @logits_shared_gate
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[L:.*]]: tensor<?x4xf32>, %[[BR:.*]]: tensor<4xf32>
// CHECK: %[[GL:.*]] = linalg.matmul ins(%[[X]], %{{.*}} : tensor<?x16xf32>, tensor<16x1xf32>)
// CHECK: tensor.extract %[[GL]]
// CHECK: %[[WIDE:.*]] = tensor.insert_slice %[[L]] into %{{.*}}[0, 0] [%{{.*}}, 4] [1, 1] : tensor<?x4xf32> into tensor<?x5xf32>
// CHECK: %[[LOGITS:.*]] = tensor.insert_slice %{{.*}} into %[[WIDE]][0, 4] [%{{.*}}, 1] [1, 1] : tensor<?x1xf32> into tensor<?x5xf32>
// CHECK: %[[BIAS:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[4] [1] [1] : tensor<1xf32> into tensor<5xf32>
// CHECK: %[[BIASED:.*]] = linalg.generic {{.*}} ins(%[[LOGITS]], %[[BIAS]] : tensor<?x5xf32>, tensor<5xf32>)
// CHECK: moe.route %[[BIASED]] routing <topk_softmax, k = 2> shared(1) gated : tensor<?x5xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
// CHECK-LABEL: func @shared_ungated
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x16xf32>, tensor<16x4xf32>)
// CHECK: moe.route %{{.*}} routing <softmax_topk, k = 2> shared(1) : tensor<?x4xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
func.func @logits_shared_gate(%x: tensor<?x16xf32>, %l: tensor<?x4xf32>, %br: tensor<4xf32>,
                              %w1: tensor<4x16x8xf32>, %w2: tensor<4x8x16xf32>, %s1: tensor<16x8xf32>,
                              %s2: tensor<8x16xf32>, %sg: tensor<16x1xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> logits %l : tensor<?x4xf32> router_bias %br : tensor<4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         shared_w1 %s1 : tensor<16x8xf32> shared_w2 %s2 : tensor<8x16xf32> shared_gate %sg : tensor<16x1xf32>
         routing <topk_softmax, k = 2> activation <relu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
func.func @shared_ungated(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                          %w2: tensor<4x8x16xf32>, %s1: tensor<16x8xf32>, %s2: tensor<8x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         shared_w1 %s1 : tensor<16x8xf32> shared_w2 %s2 : tensor<8x16xf32>
         routing <softmax_topk, k = 2> activation <relu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// The compiler driver's layer number goes to the routing op, profiled loads
// to both grouped matmuls (with the shared chunks busiest of all).
// CHECK-LABEL: func @annotated
// CHECK: moe.route {{.*}} {moe.layer_index = 3 : i64}
// CHECK: moe.grouped_matmul {{.*}} {moe.expert_loads = array<i64: 7, 1, 0, 4, 9223372036854775807>}
// CHECK: moe.grouped_matmul {{.*}} {moe.expert_loads = array<i64: 7, 1, 0, 4, 9223372036854775807>}
func.func @annotated(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                     %w2: tensor<4x8x16xf32>, %s1: tensor<16x8xf32>, %s2: tensor<8x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         shared_w1 %s1 : tensor<16x8xf32> shared_w2 %s2 : tensor<8x16xf32>
         routing <softmax_topk, k = 2> activation <relu>
         {moe.layer_index = 3 : i64, moe.expert_loads = array<i64: 7, 1, 0, 4>} -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Layers the decomposed ops cannot state stay whole.
// CHECK-LABEL: func @kept
// CHECK-COUNT-2: moe.layer
// CHECK-NOT: moe.route
func.func @kept(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                %w2: tensor<4x8x16xf32>) -> tensor<?x16xf32> {
  %1 = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32> w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <sigmoid_topk, k = 1> activation <relu> gate_on_input -> tensor<?x16xf32>
  %2 = moe.layer %1 : tensor<?x16xf32> router %wr : tensor<16x4xf32> w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <softmax_topk, k = 1, capacity_factor = 1.0> activation <relu> -> tensor<?x16xf32>
  return %2 : tensor<?x16xf32>
}
