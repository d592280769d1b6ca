// RUN: moe-opt %s -convert-moe-to-linalg -split-input-file | FileCheck %s

// Before: one moe op per function. After: only linalg/tensor/arith/math; the
// numerics are checked against numpy in test/Integration/CPU/Reference.

// CHECK-LABEL: func @layer
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[WR:.*]]: tensor<16x4xf32>
// CHECK-NOT: moe.
// The router logits: x @ router_weight.
// CHECK: %[[LOGITS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[WR]] : tensor<?x16xf32>, tensor<16x4xf32>)
// Softmax of the logits: max, exp, sum, divide.
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.divf
// The rank of each expert's score in its row, counted over the other experts.
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<?x4xf32>) outs(%{{.*}} : tensor<?x4xi64>)
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpi ult
// The experts on every token: [E, T, f] projections with the ReLU epilogue.
// CHECK: linalg.generic {{.*}} ins(%[[X]], %{{.*}} : tensor<?x16xf32>, tensor<4x16x8xf32>)
// CHECK: } -> tensor<4x?x8xf32>
// CHECK: arith.maximumf
// CHECK-NOT: moe.
// CHECK: return %{{.*}} : tensor<?x16xf32>
func.func @layer(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                 %w2: tensor<4x8x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <softmax_topk, k = 1> activation <relu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Group-limited sigmoid routing masks experts outside the best groups with
// -inf before ranking.
// CHECK-LABEL: func @route_grouped
// CHECK-NOT: moe.route
// CHECK: tensor.extract %{{.*}} : tensor<?x4xi64>
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: arith.select
// CHECK: return %{{.*}}, %{{.*}} : tensor<?x2xi32>, tensor<?x2xf32>
func.func @route_grouped(%l: tensor<?x8xf32>, %b: tensor<8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %ids, %w = moe.route %l correction_bias %b : tensor<8xf32>
             routing <sigmoid_topk, k = 2, renormalize = true, n_group = 4, topk_group = 2>
             : tensor<?x8xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %ids, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// CHECK-LABEL: func @permute_matmul_combine
// CHECK-NOT: moe.
// The counting sort: positions, offsets, sorted assignments, gathered rows.
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction"]
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<5xi64>)
// CHECK: tensor.extract %{{.*}} : tensor<?x16xf32>
// The grouped matmul reads each row's expert weights, then splits gate | up.
// CHECK: tensor.extract %{{.*}} : tensor<4x16x64xf32>
// CHECK: tensor.extract_slice %{{.*}}[0, 0] [%{{.*}}, 32] [1, 1]
// CHECK: tensor.extract_slice %{{.*}}[0, 32] [%{{.*}}, 32] [1, 1]
// The combine gathers rows through the inverse permutation.
// CHECK: tensor.extract %{{.*}} : tensor<?x32xf32>
// CHECK: return %{{.*}} : tensor<?x32xf32>
func.func @permute_matmul_combine(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>, %w: tensor<?x2xf32>,
                                  %w13: tensor<4x16x64xf32>) -> tensor<?x32xf32> {
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<?xi64>, tensor<5xi64>, tensor<?x2xi64>
  %h = moe.grouped_matmul %rows, %w13, %offsets activation <swiglu>
       : tensor<?x16xf32>, tensor<4x16x64xf32>, tensor<5xi64> -> tensor<?x32xf32>
  %out = moe.combine %h, %w, %inverse
         : tensor<?x32xf32>, tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x32xf32>
  return %out : tensor<?x32xf32>
}

// -----

// A capacity limit: C = ceil(cf * T * k / E) from the run-time token count,
// each (token, expert) pair's position among the earlier tokens that chose
// the expert, and passthrough of the tokens that lost every expert.
// CHECK-LABEL: func @capacity_passthrough
// CHECK: %[[T:.*]] = tensor.dim %{{.*}}, %c0
// CHECK: math.ceil
// Position: loops (token, expert, earlier token), a count of i1 choices.
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}} : tensor<?x4xi1>) outs(%{{.*}} : tensor<?x4xi64>)
// CHECK: arith.cmpi ult
// CHECK: arith.extui
// Tokens with any kept assignment; the others add their input.
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<?x4xi1>) outs(%{{.*}} : tensor<?xi1>)
// CHECK: arith.ori
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x16xf32>, tensor<?xi1>, tensor<?x16xf32>)
// CHECK: arith.select
func.func @capacity_passthrough(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>,
                                %w1: tensor<4x16x8xf32>,
                                %w2: tensor<4x8x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <softmax_topk, k = 1, capacity_factor = 1.25, drop_policy = passthrough>
         activation <relu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Expert choice ranks each expert's column over the tokens and keeps the
// best min(T, C) of it.
// CHECK-LABEL: func @expert_choice
// CHECK: math.ceil
// CHECK: arith.minui
// The column rank: loops (token, expert, other token).
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<?x4xf32>) outs(%{{.*}} : tensor<?x4xi64>)
// CHECK: arith.cmpi ult
// CHECK: arith.cmpi slt
// CHECK-NOT: moe.
func.func @expert_choice(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>,
                         %w1: tensor<4x16x8xf32>,
                         %w2: tensor<4x8x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <expert_choice, k = 1, capacity_factor = 1.0> activation <relu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Fused gating: the reference lowering computes the logits first.
// CHECK-LABEL: func @route_fused
// CHECK: linalg.generic
// CHECK-SAME: ins(%arg0, %arg1 : tensor<?x16xf32>, tensor<16x4xf32>)
// CHECK: arith.mulf
// CHECK-NOT: moe.route
func.func @route_fused(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %ids, %w = moe.route %x router %wr : tensor<16x4xf32> routing <softmax_topk, k = 2>
      : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %ids, %w : tensor<?x2xi32>, tensor<?x2xf32>
}
