// RUN: moe-opt %s -split-input-file -verify-diagnostics

// Every verifier message of the moe dialect: attributes, then each op.

//===----------------------------------------------------------------------===//
// #moe.routing and #moe.activation
//===----------------------------------------------------------------------===//

// expected-error @+1 {{routing k must be at least 1, got 0}}
func.func @f() attributes {r = #moe.routing<softmax_topk, k = 0>} { return }

// -----

// expected-error @+1 {{routing scale must be a positive finite number}}
func.func @f() attributes {r = #moe.routing<softmax_topk, k = 1, scale = -2.0>} { return }

// -----

// expected-error @+1 {{routing n_group must be at least 1, got 0}}
func.func @f() attributes {r = #moe.routing<sigmoid_topk, k = 1, n_group = 0>} { return }

// -----

// expected-error @+1 {{routing topk_group must be in [1, n_group = 2], got 3}}
func.func @f() attributes {r = #moe.routing<sigmoid_topk, k = 1, n_group = 2, topk_group = 3>} { return }

// -----

// expected-error @+1 {{group-limited selection (n_group > 1) is only defined for sigmoid_topk routing}}
func.func @f() attributes {r = #moe.routing<softmax_topk, k = 1, n_group = 2>} { return }

// -----

// expected-error @+1 {{group_mask only applies to group-limited selection (n_group > 1)}}
func.func @f() attributes {r = #moe.routing<sigmoid_topk, k = 1, group_mask = zero>} { return }

// -----

// expected-error @+1 {{routing capacity_factor must be non-negative and finite}}
func.func @f() attributes {r = #moe.routing<softmax_topk, k = 1, capacity_factor = -1.0>} { return }

// -----

// expected-error @+1 {{expert_choice routing needs capacity_factor > 0 (it sets how many tokens each expert takes)}}
func.func @f() attributes {r = #moe.routing<expert_choice, k = 1>} { return }

// -----

// expected-error @+1 {{expert_choice routing does not renormalize}}
func.func @f() attributes {r = #moe.routing<expert_choice, k = 1, renormalize = true, capacity_factor = 1.0>} { return }

// -----

// expected-error @+1 {{drop_policy only applies to token-choice routing with capacity_factor > 0}}
func.func @f() attributes {r = #moe.routing<softmax_topk, k = 1, drop_policy = passthrough>} { return }

// -----

// expected-error @+2 {{expected 'true' or 'false'}}
// expected-error @+1 {{failed to parse MoE_RoutingAttr parameter 'renormalize'}}
func.func @f() attributes {r = #moe.routing<softmax_topk, k = 1, renormalize = 1>} { return }

// -----

// expected-error @+1 {{alpha, beta and limit only apply to the clamped_swiglu activation, not swiglu}}
func.func @f() attributes {a = #moe.activation<swiglu, limit = 3.0>} { return }

// -----

// expected-error @+1 {{clamped_swiglu alpha and beta must be finite}}
func.func @f() attributes {a = #moe.activation<clamped_swiglu, alpha = 0x7FF0000000000000>} { return }

// -----

// expected-error @+1 {{clamped_swiglu limit must be positive}}
func.func @f() attributes {a = #moe.activation<clamped_swiglu, limit = 0.0>} { return }

// -----

// expected-error @+1 {{unknown activation parameter 'gamma'; expected alpha, beta or limit}}
func.func @f() attributes {a = #moe.activation<clamped_swiglu, gamma = 1.0>} { return }

// -----

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

func.func @f(%x: tensor<16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{'input' must be [T, d] = [?, ?], but is 'tensor<16xf32>'}}
  %y = moe.layer %x : tensor<16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<12x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{'router_weight' must be [d, E] = [16, ?], but is 'tensor<12x8xf32>'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<12x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x?xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{the number of experts (dim 1 of 'router_weight') must be static}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x?xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<4x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{'w1' must be [E, d, f] = [8, 16, ?], but is 'tensor<4x16x32xf32>'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<4x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>) {
  // expected-error @+1 {{the swiglu activation is gated and needs 'w3' (the up projection)}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{'w3' is only valid with a gated activation, not relu}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <relu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %b3: tensor<8x32xf32>) {
  // expected-error @+1 {{'b3' needs 'w3'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> b3 %b3 : tensor<8x32xf32> routing <softmax_topk, k = 2> activation <relu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>, %cb: tensor<8xf32>) {
  // expected-error @+1 {{'correction_bias' is only valid with sigmoid_topk routing}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> correction_bias %cb : tensor<8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>, %br: tensor<4xf32>) {
  // expected-error @+1 {{'router_bias' must be [E] = [8], but is 'tensor<4xf32>'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> router_bias %br : tensor<4xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x24xf32>) {
  // expected-error @+1 {{'w3' must be [E, d, f] = [8, 16, 32], but is 'tensor<8x16x24xf32>'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x24xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x8xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{'w2' must be [E, f, d] = [8, 32, 16], but is 'tensor<8x32x8xf32>'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x8xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>, %b2: tensor<8x32xf32>) {
  // expected-error @+1 {{'b2' must be [E, d] = [8, 16], but is 'tensor<8x32xf32>'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> b2 %b2 : tensor<8x32xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf16>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{'w2' has element type 'f16', but 'input' has 'f32'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf16> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xbf16>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{'w1' has element type 'bf16', but 'input' has 'f32'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xbf16> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>, %s1: tensor<16x8xf32>, %s3: tensor<16x8xf32>) {
  // expected-error @+1 {{a shared expert needs both 'shared_w1' and 'shared_w2'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> shared_w1 %s1 : tensor<16x8xf32> shared_w3 %s3 : tensor<16x8xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>, %s1: tensor<16x8xf32>, %s2: tensor<8x16xf32>) {
  // expected-error @+1 {{'shared_w3' must be given exactly when the activation is gated}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> shared_w1 %s1 : tensor<16x8xf32> shared_w2 %s2 : tensor<8x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>, %s1: tensor<16x8xf32>, %s3: tensor<16x8xf32>, %s2: tensor<8x16xf32>, %sg: tensor<16x2xf32>) {
  // expected-error @+1 {{'shared_gate' must be [d, 1] = [16, 1], but is 'tensor<16x2xf32>'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> shared_w1 %s1 : tensor<16x8xf32> shared_w3 %s3 : tensor<16x8xf32> shared_w2 %s2 : tensor<8x16xf32> shared_gate %sg : tensor<16x2xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>, %s1: tensor<16x8xf32>, %s3: tensor<16x8xf32>, %s2: tensor<4x16xf32>) {
  // expected-error @+1 {{'shared_w2' must be [fs, d] = [8, 16], but is 'tensor<4x16xf32>'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> shared_w1 %s1 : tensor<16x8xf32> shared_w3 %s3 : tensor<16x8xf32> shared_w2 %s2 : tensor<4x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{routing k = 9 exceeds the number of experts (8)}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 9> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{dense routing selects every expert: k must be 8, got 2}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <dense, k = 2> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{routing n_group = 3 does not divide the number of experts (8)}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <sigmoid_topk, k = 2, n_group = 3> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{routing topk_group = 1 groups of 2 experts hold fewer than k = 4 experts}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <sigmoid_topk, k = 4, n_group = 4, topk_group = 1> activation <swiglu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) {
  // expected-error @+1 {{result type 'tensor<?x8xf32>' must equal the input type 'tensor<?x16xf32>'}}
  %y = moe.layer %x : tensor<?x16xf32> router %wr : tensor<16x8xf32> w1 %w1 : tensor<8x16x32xf32> w3 %w3 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <swiglu> -> tensor<?x8xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>) {
  // expected-error @+1 {{exactly one of 'router_weight' and 'router_logits' must be given}}
  %y = moe.layer %x : tensor<?x16xf32> w1 %w1 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <relu> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<5x16xf32>, %l: tensor<4x8xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>) {
  // expected-error @+1 {{'router_logits' must be [T, E] = [5, ?], but is 'tensor<4x8xf32>'}}
  %y = moe.layer %x : tensor<5x16xf32> logits %l : tensor<4x8xf32> w1 %w1 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <relu> -> tensor<5x16xf32>
  return
}

// -----

func.func @f(%x: tensor<5x16xf32>, %l: tensor<5x?xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>) {
  // expected-error @+1 {{the number of experts (dim 1 of 'router_logits') must be static}}
  %y = moe.layer %x : tensor<5x16xf32> logits %l : tensor<5x?xf32> w1 %w1 : tensor<8x16x32xf32> w2 %w2 : tensor<8x32x16xf32> routing <softmax_topk, k = 2> activation <relu> -> tensor<5x16xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

func.func @f(%l: tensor<8xf32>) {
  // expected-error @+1 {{'input' must be [T, E] = [?, ?], but is 'tensor<8xf32>'}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> : tensor<8xf32> -> tensor<?x2xi64>, tensor<?x2xf32>
  return
}

// -----

func.func @f(%l: tensor<?x?xf32>) {
  // expected-error @+1 {{the number of experts (dim 1 of the logits) must be static}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> : tensor<?x?xf32> -> tensor<?x2xi64>, tensor<?x2xf32>
  return
}

// -----

func.func @f(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{expert_choice routing picks tokens per expert, not experts per token; it is only valid on moe.layer}}
  %ids, %w = moe.route %l routing <expert_choice, k = 2, capacity_factor = 1.0> : tensor<?x8xf32> -> tensor<?x2xi64>, tensor<?x2xf32>
  return
}

// -----

func.func @f(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{capacity limits drop assignments across tokens; they are only valid on moe.layer}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2, capacity_factor = 1.0> : tensor<?x8xf32> -> tensor<?x2xi64>, tensor<?x2xf32>
  return
}

// -----

func.func @f(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{routing k = 9 exceeds the number of experts (8)}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 9> : tensor<?x8xf32> -> tensor<?x9xi64>, tensor<?x9xf32>
  return
}

// -----

func.func @f(%l: tensor<?x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'correction_bias' is only valid with sigmoid_topk routing}}
  %ids, %w = moe.route %l correction_bias %b : tensor<8xf32> routing <softmax_topk, k = 2> : tensor<?x8xf32> -> tensor<?x2xi64>, tensor<?x2xf32>
  return
}

// -----

func.func @f(%l: tensor<?x8xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'correction_bias' must be [E] = [8], but is 'tensor<4xf32>'}}
  %ids, %w = moe.route %l correction_bias %b : tensor<4xf32> routing <sigmoid_topk, k = 2> : tensor<?x8xf32> -> tensor<?x2xi64>, tensor<?x2xf32>
  return
}

// -----

func.func @f(%l: tensor<?x8xf32>, %b: tensor<8xf16>) {
  // expected-error @+1 {{'correction_bias' has element type 'f16', but 'input' has 'f32'}}
  %ids, %w = moe.route %l correction_bias %b : tensor<8xf16> routing <sigmoid_topk, k = 2> : tensor<?x8xf32> -> tensor<?x2xi64>, tensor<?x2xf32>
  return
}

// -----

func.func @f(%l: tensor<5x8xf32>) {
  // expected-error @+1 {{'expert_ids' must be [T, k] = [5, 2], but is 'tensor<5x3xi64>'}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> : tensor<5x8xf32> -> tensor<5x3xi64>, tensor<5x2xf32>
  return
}

// -----

func.func @f(%l: tensor<5x8xf32>) {
  // expected-error @+1 {{'weights' must be [T, k] = [5, 2], but is 'tensor<4x2xf32>'}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> : tensor<5x8xf32> -> tensor<5x2xi64>, tensor<4x2xf32>
  return
}

// -----

func.func @f(%l: tensor<5x8xf32>) {
  // expected-error @+1 {{'weights' has element type 'f16', but 'input' has 'f32'}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> : tensor<5x8xf32> -> tensor<5x2xi64>, tensor<5x2xf16>
  return
}

// -----

func.func @f(%l: tensor<5x8xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of signless integer values}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> : tensor<5x8xf32> -> tensor<5x2xf32>, tensor<5x2xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.permute
//===----------------------------------------------------------------------===//

func.func @f(%x: tensor<16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'input' must be [T, d] = [?, ?], but is 'tensor<16xf32>'}}
  %r, %a, %o, %i = moe.permute %x, %ids : tensor<16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<?xi64>, tensor<9xi64>, tensor<?x2xi64>
  return
}

// -----

func.func @f(%x: tensor<5x16xf32>, %ids: tensor<4x2xi64>) {
  // expected-error @+1 {{'expert_ids' must be [T, k] = [5, ?], but is 'tensor<4x2xi64>'}}
  %r, %a, %o, %i = moe.permute %x, %ids : tensor<5x16xf32>, tensor<4x2xi64> -> tensor<10x16xf32>, tensor<10xi64>, tensor<9xi64>, tensor<5x2xi64>
  return
}

// -----

func.func @f(%x: tensor<5x16xf32>, %ids: tensor<5x2xi64>) {
  // expected-error @+1 {{'offsets' must be [E + 1] = [?], but is 'tensor<3x3xi64>'}}
  %r, %a, %o, %i = moe.permute %x, %ids : tensor<5x16xf32>, tensor<5x2xi64> -> tensor<10x16xf32>, tensor<10xi64>, tensor<3x3xi64>, tensor<5x2xi64>
  return
}

// -----

func.func @f(%x: tensor<5x16xf32>, %ids: tensor<5x2xi64>) {
  // expected-error @+1 {{'offsets' must have a static size E + 1 >= 2, but is 'tensor<?xi64>'}}
  %r, %a, %o, %i = moe.permute %x, %ids : tensor<5x16xf32>, tensor<5x2xi64> -> tensor<10x16xf32>, tensor<10xi64>, tensor<?xi64>, tensor<5x2xi64>
  return
}

// -----

func.func @f(%x: tensor<5x16xf32>, %ids: tensor<5x2xi64>) {
  // expected-error @+1 {{'rows' must be [T * k, d] = [10, 16], but is 'tensor<5x16xf32>'}}
  %r, %a, %o, %i = moe.permute %x, %ids : tensor<5x16xf32>, tensor<5x2xi64> -> tensor<5x16xf32>, tensor<10xi64>, tensor<9xi64>, tensor<5x2xi64>
  return
}

// -----

func.func @f(%x: tensor<5x16xf32>, %ids: tensor<5x2xi64>) {
  // expected-error @+1 {{'assignments' must be [T * k] = [10], but is 'tensor<5xi64>'}}
  %r, %a, %o, %i = moe.permute %x, %ids : tensor<5x16xf32>, tensor<5x2xi64> -> tensor<10x16xf32>, tensor<5xi64>, tensor<9xi64>, tensor<5x2xi64>
  return
}

// -----

func.func @f(%x: tensor<5x16xf32>, %ids: tensor<5x2xi64>) {
  // expected-error @+1 {{'inverse' must be [T, k] = [5, 2], but is 'tensor<2x5xi64>'}}
  %r, %a, %o, %i = moe.permute %x, %ids : tensor<5x16xf32>, tensor<5x2xi64> -> tensor<10x16xf32>, tensor<10xi64>, tensor<9xi64>, tensor<2x5xi64>
  return
}

// -----

func.func @f(%x: tensor<5x16xf32>, %ids: tensor<5x2xi64>) {
  // expected-error @+1 {{'rows' has element type 'f16', but 'input' has 'f32'}}
  %r, %a, %o, %i = moe.permute %x, %ids : tensor<5x16xf32>, tensor<5x2xi64> -> tensor<10x16xf16>, tensor<10xi64>, tensor<9xi64>, tensor<5x2xi64>
  return
}

// -----

func.func @f(%x: tensor<5x16xf32>, %ids: tensor<5x2xi64>) {
  // expected-error @+1 {{'offsets' has element type 'i32', but 'expert_ids' has 'i64'}}
  %r, %a, %o, %i = moe.permute %x, %ids : tensor<5x16xf32>, tensor<5x2xi64> -> tensor<10x16xf32>, tensor<10xi64>, tensor<9xi32>, tensor<5x2xi64>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.grouped_matmul
//===----------------------------------------------------------------------===//

func.func @f(%r: tensor<16xf32>, %w: tensor<8x16x32xf32>, %o: tensor<9xi64>) {
  // expected-error @+1 {{'rows' must be [N, K] = [?, ?], but is 'tensor<16xf32>'}}
  %y = moe.grouped_matmul %r, %w, %o : tensor<16xf32>, tensor<8x16x32xf32>, tensor<9xi64> -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%r: tensor<?x16xf32>, %w: tensor<8x12x32xf32>, %o: tensor<9xi64>) {
  // expected-error @+1 {{'weights' must be [E, K, M] = [?, 16, ?], but is 'tensor<8x12x32xf32>'}}
  %y = moe.grouped_matmul %r, %w, %o : tensor<?x16xf32>, tensor<8x12x32xf32>, tensor<9xi64> -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%r: tensor<6x16xf32>, %w: tensor<8x16x32xf32>, %o: tensor<9xi64>, %cw: tensor<3x2xf32>) {
  // expected-error @+1 {{a combine needs both its weights and its inverse}}
  %y = "moe.grouped_matmul"(%r, %w, %o, %cw) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 0>}> : (tensor<6x16xf32>, tensor<8x16x32xf32>, tensor<9xi64>, tensor<3x2xf32>) -> tensor<3x32xf32>
  return
}

// -----

// A fused combine: inverse shaped like the weights, result [T, M].
func.func @f(%r: tensor<?x16xf32>, %w: tensor<8x16x32xf32>, %o: tensor<9xi64>, %cw: tensor<?x2xf32>, %ci: tensor<?x3xi64>) {
  // expected-error @+1 {{'combine inverse' must be [T, k] = [?, 2], but is 'tensor<?x3xi64>'}}
  %y = moe.grouped_matmul %r, %w, %o combine %cw, %ci : tensor<?x2xf32>, tensor<?x3xi64> : tensor<?x16xf32>, tensor<8x16x32xf32>, tensor<9xi64> -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%r: tensor<6x16xf32>, %w: tensor<8x16x32xf32>, %o: tensor<9xi64>, %cw: tensor<3x2xf32>, %ci: tensor<3x2xi64>) {
  // expected-error @+1 {{'result' must be [T, M] = [3, 32], but is 'tensor<6x32xf32>'}}
  %y = moe.grouped_matmul %r, %w, %o combine %cw, %ci : tensor<3x2xf32>, tensor<3x2xi64> : tensor<6x16xf32>, tensor<8x16x32xf32>, tensor<9xi64> -> tensor<6x32xf32>
  return
}

// -----

func.func @f(%r: tensor<5x16xf32>, %w: tensor<8x16x32xf32>, %o: tensor<9xi64>, %cw: tensor<3x2xf32>, %ci: tensor<3x2xi64>) {
  // expected-error @+1 {{'rows' must be [T * k, K] = [6, 16], but is 'tensor<5x16xf32>'}}
  %y = moe.grouped_matmul %r, %w, %o combine %cw, %ci : tensor<3x2xf32>, tensor<3x2xi64> : tensor<5x16xf32>, tensor<8x16x32xf32>, tensor<9xi64> -> tensor<3x32xf32>
  return
}

// -----

func.func @f(%r: tensor<6x16xf32>, %w: tensor<8x16x32xf32>, %o: tensor<9xi64>, %cw: tensor<3x2xf16>, %ci: tensor<3x2xi64>) {
  // expected-error @+1 {{'combine weights' has element type 'f16', but 'rows' has 'f32'}}
  %y = moe.grouped_matmul %r, %w, %o combine %cw, %ci : tensor<3x2xf16>, tensor<3x2xi64> : tensor<6x16xf32>, tensor<8x16x32xf32>, tensor<9xi64> -> tensor<3x32xf32>
  return
}

// -----

func.func @f(%r: tensor<?x16xf32>, %w: tensor<?x16x32xf32>, %o: tensor<9xi64>) {
  // expected-error @+1 {{the number of experts (dim 0 of 'weights') must be static}}
  %y = moe.grouped_matmul %r, %w, %o : tensor<?x16xf32>, tensor<?x16x32xf32>, tensor<9xi64> -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%r: tensor<?x16xf32>, %w: tensor<8x16x32xf32>, %o: tensor<8xi64>) {
  // expected-error @+1 {{'offsets' must be [E + 1] = [9], but is 'tensor<8xi64>'}}
  %y = moe.grouped_matmul %r, %w, %o : tensor<?x16xf32>, tensor<8x16x32xf32>, tensor<8xi64> -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%r: tensor<?x16xf32>, %w: tensor<8x16x32xf32>, %o: tensor<9xi64>, %b: tensor<8x16xf32>) {
  // expected-error @+1 {{'bias' must be [E, M] = [8, 32], but is 'tensor<8x16xf32>'}}
  %y = moe.grouped_matmul %r, %w, %o bias %b : tensor<8x16xf32> : tensor<?x16xf32>, tensor<8x16x32xf32>, tensor<9xi64> -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%r: tensor<?x16xf32>, %w: tensor<8x16x33xf32>, %o: tensor<9xi64>) {
  // expected-error @+1 {{a gated activation needs a static, even number of weight columns (gate then up), got [33]}}
  %y = moe.grouped_matmul %r, %w, %o activation <swiglu> : tensor<?x16xf32>, tensor<8x16x33xf32>, tensor<9xi64> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%r: tensor<?x16xf32>, %w: tensor<8x16x32xf32>, %o: tensor<9xi64>) {
  // expected-error @+1 {{'result' must be [N, M / 2] = [?, 16], but is 'tensor<?x32xf32>'}}
  %y = moe.grouped_matmul %r, %w, %o activation <swiglu> : tensor<?x16xf32>, tensor<8x16x32xf32>, tensor<9xi64> -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%r: tensor<?x16xf32>, %w: tensor<8x16x32xf32>, %o: tensor<9xi64>) {
  // expected-error @+1 {{'result' must be [N, M] = [?, 32], but is 'tensor<?x16xf32>'}}
  %y = moe.grouped_matmul %r, %w, %o activation <relu> : tensor<?x16xf32>, tensor<8x16x32xf32>, tensor<9xi64> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%r: tensor<?x16xf32>, %w: tensor<8x16x32xbf16>, %o: tensor<9xi64>) {
  // expected-error @+1 {{'weights' has element type 'bf16', but 'rows' has 'f32'}}
  %y = moe.grouped_matmul %r, %w, %o : tensor<?x16xf32>, tensor<8x16x32xbf16>, tensor<9xi64> -> tensor<?x32xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

func.func @f(%y: tensor<?x16xf32>, %w: tensor<2xf32>, %i: tensor<?x2xi64>) {
  // expected-error @+1 {{'weights' must be [T, k] = [?, ?], but is 'tensor<2xf32>'}}
  %o = moe.combine %y, %w, %i : tensor<?x16xf32>, tensor<2xf32>, tensor<?x2xi64> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%y: tensor<9x16xf32>, %w: tensor<5x2xf32>, %i: tensor<5x2xi64>) {
  // expected-error @+1 {{'rows' must be [T * k, d] = [10, ?], but is 'tensor<9x16xf32>'}}
  %o = moe.combine %y, %w, %i : tensor<9x16xf32>, tensor<5x2xf32>, tensor<5x2xi64> -> tensor<5x16xf32>
  return
}

// -----

func.func @f(%y: tensor<10x16xf32>, %w: tensor<5x2xf32>, %i: tensor<5x3xi64>) {
  // expected-error @+1 {{'inverse' must be [T, k] = [5, 2], but is 'tensor<5x3xi64>'}}
  %o = moe.combine %y, %w, %i : tensor<10x16xf32>, tensor<5x2xf32>, tensor<5x3xi64> -> tensor<5x16xf32>
  return
}

// -----

func.func @f(%y: tensor<10x16xf32>, %w: tensor<5x2xf32>, %i: tensor<5x2xi64>) {
  // expected-error @+1 {{'output' must be [T, d] = [5, 16], but is 'tensor<5x8xf32>'}}
  %o = moe.combine %y, %w, %i : tensor<10x16xf32>, tensor<5x2xf32>, tensor<5x2xi64> -> tensor<5x8xf32>
  return
}

// -----

func.func @f(%y: tensor<10x16xf32>, %w: tensor<5x2xf16>, %i: tensor<5x2xi64>) {
  // expected-error @+1 {{'weights' has element type 'f16', but 'rows' has 'f32'}}
  %o = moe.combine %y, %w, %i : tensor<10x16xf32>, tensor<5x2xf16>, tensor<5x2xi64> -> tensor<5x16xf32>
  return
}

// -----

func.func @f(%y: tensor<10x16xf32>, %w: tensor<5x2xf32>, %i: tensor<5x2xi64>) {
  // expected-error @+1 {{'output' has element type 'bf16', but 'rows' has 'f32'}}
  %o = moe.combine %y, %w, %i : tensor<10x16xf32>, tensor<5x2xf32>, tensor<5x2xi64> -> tensor<5x16xbf16>
  return
}

// -----

// Fused gating: hidden states [T, d] . router [d, E].
func.func @route_router_dims(%x: tensor<?x16xf32>, %wr: tensor<8x4xf32>) {
  // expected-error @+1 {{'router' must be [d, E] = [16, ?], but is 'tensor<8x4xf32>'}}
  %ids, %w = moe.route %x router %wr : tensor<8x4xf32> routing <softmax_topk, k = 2>
      : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_router_dynamic_experts(%x: tensor<?x16xf32>, %wr: tensor<16x?xf32>) {
  // expected-error @+1 {{the number of experts (dim 1 of 'router') must be static}}
  %ids, %w = moe.route %x router %wr : tensor<16x?xf32> routing <softmax_topk, k = 2>
      : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_router_bias_alone(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'router_bias' needs 'router' (add a bias to given logits before routing)}}
  %ids, %w = moe.route %l router_bias %b : tensor<4xf32> routing <softmax_topk, k = 2>
      : tensor<?x4xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_router_bias_shape(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>, %b: tensor<5xf32>) {
  // expected-error @+1 {{'router_bias' must be [E] = [4], but is 'tensor<5xf32>'}}
  %ids, %w = moe.route %x router %wr : tensor<16x4xf32> router_bias %b : tensor<5xf32>
      routing <softmax_topk, k = 2> : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_router_type(%x: tensor<?x16xf32>, %wr: tensor<16x4xf16>) {
  // expected-error @+1 {{'router' has element type 'f16', but 'input' has 'f32'}}
  %ids, %w = moe.route %x router %wr : tensor<16x4xf16> routing <softmax_topk, k = 2>
      : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_router_input(%x: tensor<16xf32>, %wr: tensor<16x4xf32>) {
  // expected-error @+1 {{'input' must be [T, d] = [?, ?], but is 'tensor<16xf32>'}}
  %ids, %w = moe.route %x router %wr : tensor<16x4xf32> routing <softmax_topk, k = 2>
      : tensor<16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

// Shared experts' slots.
func.func @route_shared_negative(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'shared_experts' must be non-negative, but is -1}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> shared(-1)
      : tensor<?x8xf32> -> tensor<?x1xi32>, tensor<?x1xf32>
  return
}

// -----

func.func @route_gated_alone(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'gated' needs shared experts (shared(m), m >= 1)}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> gated
      : tensor<?x8xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_gated_one_column(%l: tensor<?x1xf32>) {
  // expected-error @+1 {{with a shared gate the logits need E + 1 >= 2 columns, but have 1}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 1> shared(1) gated
      : tensor<?x1xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_shared_slots(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'expert_ids' must be [T, k + m] = [?, 4], but is 'tensor<?x2xi32>'}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> shared(2)
      : tensor<?x8xf32> -> tensor<?x2xi32>, tensor<?x4xf32>
  return
}

// -----

func.func @route_gated_router_bias(%x: tensor<?x16xf32>, %wr: tensor<16x5xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'router_bias' must be [E + 1] = [5], but is 'tensor<4xf32>'}}
  %ids, %w = moe.route %x router %wr : tensor<16x5xf32> router_bias %b : tensor<4xf32>
      routing <softmax_topk, k = 2> shared(1) gated
      : tensor<?x16xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
  return
}

// -----

func.func @route_gated_router(%x: tensor<?x16xf32>, %wr: tensor<8x5xf32>) {
  // expected-error @+1 {{'router' must be [d, E + 1] = [16, ?], but is 'tensor<8x5xf32>'}}
  %ids, %w = moe.route %x router %wr : tensor<8x5xf32> routing <softmax_topk, k = 2>
      shared(1) gated : tensor<?x16xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
  return
}

// -----

func.func @route_gated_logits(%l: tensor<8xf32>) {
  // expected-error @+1 {{'input' must be [T, E + 1] = [?, ?], but is 'tensor<8xf32>'}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 2> shared(1) gated
      : tensor<8xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
  return
}

// -----

// The routing's k counts the routed experts only: E + 1 columns with a gate
// leave E = 4 to choose from.
func.func @route_gated_k(%l: tensor<?x5xf32>) {
  // expected-error @+1 {{k = 5 exceeds the number of experts (4)}}
  %ids, %w = moe.route %l routing <softmax_topk, k = 5> shared(1) gated
      : tensor<?x5xf32> -> tensor<?x6xi32>, tensor<?x6xf32>
  return
}
