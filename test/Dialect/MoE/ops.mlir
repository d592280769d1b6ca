// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// Every op and every attribute form round-trips through the custom and the
// generic syntax.

// CHECK-LABEL: func @mixtral
// CHECK: moe.layer %{{.*}} : tensor<?x16xf32> router %{{.*}} : tensor<16x8xf32>
// CHECK-SAME: w1 %{{.*}} : tensor<8x16x32xf32> w3 %{{.*}} : tensor<8x16x32xf32> w2 %{{.*}} : tensor<8x32x16xf32>
// CHECK-SAME: routing <softmax_topk, k = 2, renormalize = true> activation <swiglu> -> tensor<?x16xf32>
func.func @mixtral(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>,
                   %w3: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32>
         w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32>
         routing <softmax_topk, k = 2, renormalize = true> activation <swiglu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func @deepseek_v3
// CHECK: moe.layer
// CHECK-SAME: correction_bias %{{.*}} : tensor<8xf32>
// CHECK-SAME: shared_w1 %{{.*}} : tensor<16x24xf32> shared_w3 %{{.*}} : tensor<16x24xf32> shared_w2 %{{.*}} : tensor<24x16xf32>
// CHECK-SAME: routing <sigmoid_topk, k = 4, renormalize = true, scale = 2.5, n_group = 4, topk_group = 2>
func.func @deepseek_v3(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %cb: tensor<8xf32>,
                       %w1: tensor<8x16x32xf32>, %w3: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>,
                       %s1: tensor<16x24xf32>, %s3: tensor<16x24xf32>, %s2: tensor<24x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> correction_bias %cb : tensor<8xf32>
         w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32>
         shared_w1 %s1 : tensor<16x24xf32> shared_w3 %s3 : tensor<16x24xf32> shared_w2 %s2 : tensor<24x16xf32>
         routing <sigmoid_topk, k = 4, renormalize = true, scale = 2.5, n_group = 4, topk_group = 2>
         activation <swiglu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// Hugging Face's DeepseekV3 masks the other groups with 0.0, not -inf.
// CHECK-LABEL: func @deepseek_v3_hf
// CHECK: routing <sigmoid_topk, k = 4, renormalize = true, scale = 2.5, n_group = 4, topk_group = 2, group_mask = zero>
func.func @deepseek_v3_hf(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %cb: tensor<8xf32>,
                          %w1: tensor<8x16x32xf32>, %w3: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> correction_bias %cb : tensor<8xf32>
         w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32>
         routing <sigmoid_topk, k = 4, renormalize = true, scale = 2.5, n_group = 4, topk_group = 2, group_mask = zero>
         activation <swiglu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func @gpt_oss
// CHECK: moe.layer
// CHECK-SAME: router_bias %{{.*}} : tensor<4xf32>
// CHECK-SAME: b1 %{{.*}} : tensor<4x8xf32> b3 %{{.*}} : tensor<4x8xf32> b2 %{{.*}} : tensor<4x16xf32>
// CHECK-SAME: routing <topk_softmax, k = 2> activation <clamped_swiglu, limit = 5.5>
func.func @gpt_oss(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %br: tensor<4xf32>,
                   %w1: tensor<4x16x8xf32>, %w3: tensor<4x16x8xf32>, %w2: tensor<4x8x16xf32>,
                   %b1: tensor<4x8xf32>, %b3: tensor<4x8xf32>, %b2: tensor<4x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32> router_bias %br : tensor<4xf32>
         w1 %w1 : tensor<4x16x8xf32> w3 %w3 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         b1 %b1 : tensor<4x8xf32> b3 %b3 : tensor<4x8xf32> b2 %b2 : tensor<4x16xf32>
         routing <topk_softmax, k = 2> activation <clamped_swiglu, limit = 5.5> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func @qwen2_llama4_switch
// CHECK: moe.layer {{.*}} shared_gate %{{.*}} : tensor<16x1xf32> routing <softmax_topk, k = 2> activation <silu>
// CHECK: moe.layer {{.*}} routing <sigmoid_topk, k = 1> activation <gelu> gate_on_input
// CHECK: moe.layer {{.*}} routing <softmax_topk, k = 1, capacity_factor = 1.25, drop_policy = passthrough> activation <relu>
// CHECK: moe.layer {{.*}} routing <expert_choice, k = 2, capacity_factor = 2.0> activation <identity>
// CHECK: moe.layer {{.*}} routing <dense, k = 4> activation <relu>
func.func @qwen2_llama4_switch(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %w1: tensor<4x16x8xf32>,
                               %w2: tensor<4x8x16xf32>, %s1: tensor<16x8xf32>, %s2: tensor<8x16xf32>,
                               %sg: tensor<16x1xf32>) -> tensor<?x16xf32> {
  %0 = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         shared_w1 %s1 : tensor<16x8xf32> shared_w2 %s2 : tensor<8x16xf32> shared_gate %sg : tensor<16x1xf32>
         routing <softmax_topk, k = 2> activation <silu> -> tensor<?x16xf32>
  %1 = moe.layer %0 : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <sigmoid_topk, k = 1> activation <gelu> gate_on_input -> tensor<?x16xf32>
  %2 = moe.layer %1 : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <softmax_topk, k = 1, capacity_factor = 1.25, drop_policy = passthrough>
         activation <relu> -> tensor<?x16xf32>
  %3 = moe.layer %2 : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <expert_choice, k = 2, capacity_factor = 2.0> activation <identity> -> tensor<?x16xf32>
  %4 = moe.layer %3 : tensor<?x16xf32> router %wr : tensor<16x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <dense, k = 4> activation <relu> -> tensor<?x16xf32>
  return %4 : tensor<?x16xf32>
}

// CHECK-LABEL: func @given_logits
// CHECK: moe.layer %{{.*}} : tensor<?x16xf32> logits %{{.*}} : tensor<?x4xf32> w1
func.func @given_logits(%x: tensor<?x16xf32>, %l: tensor<?x4xf32>, %w1: tensor<4x16x8xf32>,
                        %w2: tensor<4x8x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x : tensor<?x16xf32> logits %l : tensor<?x4xf32>
         w1 %w1 : tensor<4x16x8xf32> w2 %w2 : tensor<4x8x16xf32>
         routing <softmax_topk, k = 2> activation <relu> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func @bf16_layer
// CHECK: moe.layer {{.*}} -> tensor<3x16xbf16>
func.func @bf16_layer(%x: tensor<3x16xbf16>, %wr: tensor<16x4xbf16>, %w1: tensor<4x16x8xbf16>,
                      %w2: tensor<4x8x16xbf16>) -> tensor<3x16xbf16> {
  %y = moe.layer %x : tensor<3x16xbf16> router %wr : tensor<16x4xbf16>
         w1 %w1 : tensor<4x16x8xbf16> w2 %w2 : tensor<4x8x16xbf16>
         routing <softmax_topk, k = 2> activation <relu> -> tensor<3x16xbf16>
  return %y : tensor<3x16xbf16>
}

// CHECK-LABEL: func @decomposed
// CHECK: %[[IDS:.*]], %[[W:.*]] = moe.route %{{.*}} routing <softmax_topk, k = 2, renormalize = true> : tensor<?x8xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
// CHECK: %[[ROWS:.*]], %{{.*}}, %[[OFF:.*]], %[[INV:.*]] = moe.permute %{{.*}}, %[[IDS]] : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>
// CHECK: %[[H:.*]] = moe.grouped_matmul %[[ROWS]], %{{.*}}, %[[OFF]] activation <swiglu> : tensor<?x16xf32>, tensor<8x16x64xf32>, tensor<9xi32> -> tensor<?x32xf32>
// CHECK: %[[Y:.*]] = moe.grouped_matmul %[[H]], %{{.*}}, %[[OFF]] bias %{{.*}} : tensor<8x16xf32> : tensor<?x32xf32>, tensor<8x32x16xf32>, tensor<9xi32> -> tensor<?x16xf32>
// CHECK: moe.combine %[[Y]], %[[W]], %[[INV]] : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<?x16xf32>
func.func @decomposed(%x: tensor<?x16xf32>, %logits: tensor<?x8xf32>, %w13: tensor<8x16x64xf32>,
                      %w2: tensor<8x32x16xf32>, %b2: tensor<8x16xf32>) -> tensor<?x16xf32> {
  %ids, %w = moe.route %logits routing <softmax_topk, k = 2, renormalize = true>
             : tensor<?x8xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>
  %h = moe.grouped_matmul %rows, %w13, %offsets activation <swiglu>
       : tensor<?x16xf32>, tensor<8x16x64xf32>, tensor<9xi32> -> tensor<?x32xf32>
  %y = moe.grouped_matmul %h, %w2, %offsets bias %b2 : tensor<8x16xf32>
       : tensor<?x32xf32>, tensor<8x32x16xf32>, tensor<9xi32> -> tensor<?x16xf32>
  %out = moe.combine %y, %w, %inverse
         : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<?x16xf32>
  return %out : tensor<?x16xf32>
}

// CHECK-LABEL: func @route_sigmoid_bias
// CHECK: moe.route %{{.*}} correction_bias %{{.*}} : tensor<8xf32> routing <sigmoid_topk, k = 2, n_group = 2> :
func.func @route_sigmoid_bias(%logits: tensor<5x8xf32>, %b: tensor<8xf32>) -> (tensor<5x2xi64>, tensor<5x2xf32>) {
  %ids, %w = moe.route %logits correction_bias %b : tensor<8xf32>
             routing <sigmoid_topk, k = 2, n_group = 2, topk_group = 1>
             : tensor<5x8xf32> -> tensor<5x2xi64>, tensor<5x2xf32>
  return %ids, %w : tensor<5x2xi64>, tensor<5x2xf32>
}

// CHECK-LABEL: func @attributes
// CHECK-SAME: a = #moe.activation<clamped_swiglu, alpha = 1.5, beta = 0.5, limit = 7.5>
// CHECK-SAME: b = #moe.activation<clamped_swiglu>
// CHECK-SAME: c = #moe.routing<softmax_topk, k = 2, capacity_factor = 1.0>
func.func @attributes() attributes {
    a = #moe.activation<clamped_swiglu, limit = 7.5, alpha = 1.5, beta = 0.5>,
    b = #moe.activation<clamped_swiglu, alpha = 1.702, limit = 7.0>,
    c = #moe.routing<softmax_topk, capacity_factor = 1.0, k = 2>} {
  return
}

// Fused gating: the router matmul (and its bias) inside moe.route.
// CHECK-LABEL: func @route_fused
// CHECK: moe.route %arg0 router %arg1 : tensor<16x8xf32> router_bias %arg2 : tensor<8xf32> routing <softmax_topk, k = 2, renormalize = true> : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
func.func @route_fused(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %b: tensor<8xf32>)
    -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %ids, %w = moe.route %x router %wr : tensor<16x8xf32> router_bias %b : tensor<8xf32>
      routing <softmax_topk, k = 2, renormalize = true>
      : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %ids, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// Shared experts' slots after the routed ones: ungated on given logits;
// gated (the gate the router's last column) with fused gating.
// CHECK-LABEL: func @route_shared
// CHECK: moe.route %arg0 routing <softmax_topk, k = 2> shared(2) : tensor<?x8xf32> -> tensor<?x4xi32>, tensor<?x4xf32>
// CHECK: moe.route %arg1 router %arg2 : tensor<16x9xf32> routing <softmax_topk, k = 2> shared(1) gated : tensor<?x16xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
func.func @route_shared(%l: tensor<?x8xf32>, %x: tensor<?x16xf32>, %wr: tensor<16x9xf32>)
    -> (tensor<?x4xi32>, tensor<?x3xf32>) {
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> shared(2)
      : tensor<?x8xf32> -> tensor<?x4xi32>, tensor<?x4xf32>
  %ids2, %w2 = moe.route %x router %wr : tensor<16x9xf32> routing <softmax_topk, k = 2>
      shared(1) gated : tensor<?x16xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
  return %ids, %w2 : tensor<?x4xi32>, tensor<?x3xf32>
}

// The combine fused into the down projection (moe-fuse-combine).
// CHECK-LABEL: func @grouped_matmul_combine
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}}, %{{.*}} combine %{{.*}}, %{{.*}} : tensor<?x2xf32>, tensor<?x2xi64> : tensor<?x32xf32>, tensor<8x32x16xf32>, tensor<9xi64> -> tensor<?x16xf32>
func.func @grouped_matmul_combine(%h: tensor<?x32xf32>, %w2: tensor<8x32x16xf32>, %o: tensor<9xi64>, %w: tensor<?x2xf32>, %inv: tensor<?x2xi64>) -> tensor<?x16xf32> {
  %y = moe.grouped_matmul %h, %w2, %o combine %w, %inv : tensor<?x2xf32>, tensor<?x2xi64>
      : tensor<?x32xf32>, tensor<8x32x16xf32>, tensor<9xi64> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

