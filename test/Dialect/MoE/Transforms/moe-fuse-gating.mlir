// RUN: moe-opt %s -moe-fuse-gating -split-input-file | FileCheck %s

// Before: the router matmul from zeros (+ a per-expert bias, as
// moe-decompose writes them) feeding moe.route. After: moe.route of the
// hidden states with the router operands; the matmul, fill and add go.

// CHECK-LABEL: func @with_bias
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[WR:.*]]: tensor<16x4xf32>, %[[B:.*]]: tensor<4xf32>)
// CHECK-NOT: linalg
// CHECK: %[[IDS:.*]], %[[W:.*]] = moe.route %[[X]] router %[[WR]] : tensor<16x4xf32> router_bias %[[B]] : tensor<4xf32> routing <topk_softmax, k = 2> {moe.layer_index = 1 : i64} : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
// CHECK: return %[[IDS]], %[[W]]
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @with_bias(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %b: tensor<4xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x16xf32>
  %e = tensor.empty(%t) : tensor<?x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<?x4xf32>) -> tensor<?x4xf32>
  %l = linalg.matmul ins(%x, %wr : tensor<?x16xf32>, tensor<16x4xf32>) outs(%init : tensor<?x4xf32>) -> tensor<?x4xf32>
  %e2 = tensor.empty(%t) : tensor<?x4xf32>
  %lb = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%l, %b : tensor<?x4xf32>, tensor<4xf32>) outs(%e2 : tensor<?x4xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<?x4xf32>
  %ids, %w = moe.route %lb routing <topk_softmax, k = 2> {moe.layer_index = 1 : i64} : tensor<?x4xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %ids, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// Sigmoid routing keeps its correction bias.
// CHECK-LABEL: func @no_bias
// CHECK: moe.route %arg0 router %arg1 : tensor<16x8xf32> correction_bias %arg2 : tensor<8xf32> routing <sigmoid_topk
func.func @no_bias(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %cb: tensor<8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x16xf32>
  %e = tensor.empty(%t) : tensor<?x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
  %l = linalg.matmul ins(%x, %wr : tensor<?x16xf32>, tensor<16x8xf32>) outs(%init : tensor<?x8xf32>) -> tensor<?x8xf32>
  %ids, %w = moe.route %l correction_bias %cb : tensor<8xf32> routing <sigmoid_topk, k = 2, renormalize = true>
      : tensor<?x8xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %ids, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// Left alone: logits given to the graph, and a matmul that accumulates
// onto something other than zeros.
// CHECK-LABEL: func @not_fused
// CHECK: moe.route %arg0 routing
// CHECK: linalg.matmul
// CHECK: moe.route %{{.*}} routing
func.func @not_fused(%l: tensor<?x4xf32>, %x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %acc: tensor<?x4xf32>)
    -> (tensor<?x2xi32>, tensor<?x2xi32>) {
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> : tensor<?x4xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %m = linalg.matmul ins(%x, %wr : tensor<?x16xf32>, tensor<16x4xf32>) outs(%acc : tensor<?x4xf32>) -> tensor<?x4xf32>
  %ids2, %w2 = moe.route %m routing <softmax_topk, k = 2> : tensor<?x4xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %ids, %ids2 : tensor<?x2xi32>, tensor<?x2xi32>
}

// -----

// A route with shared experts keeps its slots and gate when fused (the
// gate rides in the router's last column).
// CHECK-LABEL: func @shared_gate
// CHECK: moe.route %{{.*}} router %{{.*}} : tensor<16x5xf32> routing <softmax_topk, k = 2> shared(1) gated : tensor<?x16xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
func.func @shared_gate(%x: tensor<?x16xf32>, %wr: tensor<16x5xf32>) -> (tensor<?x3xi32>, tensor<?x3xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x16xf32>
  %e = tensor.empty(%t) : tensor<?x5xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<?x5xf32>) -> tensor<?x5xf32>
  %l = linalg.matmul ins(%x, %wr : tensor<?x16xf32>, tensor<16x5xf32>) outs(%init : tensor<?x5xf32>) -> tensor<?x5xf32>
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> shared(1) gated : tensor<?x5xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
  return %ids, %w : tensor<?x3xi32>, tensor<?x3xf32>
}
