// RUN: moe-opt %s -moe-raise -split-input-file | FileCheck %s
// RUN: moe-opt %s -moe-raise="report-failures=true" -split-input-file -verify-diagnostics -o /dev/null

// Switch Transformers' top-1 routing (argmax of the softmax) with each
// expert overwriting its tokens' rows of a copy of the hidden states, the
// result scaled by the top probability: one moe.layer with top-1
// softmax_topk routing.

// CHECK-LABEL: func @switch
// CHECK-SAME: (%[[H:.*]]: tensor<?x4xf32>
// CHECK: %[[Y:.*]] = moe.layer %[[H]] : tensor<?x4xf32> router %{{.*}} : tensor<4x2xf32> w1 %{{.*}} : tensor<2x4x8xf32> w2 %{{.*}} : tensor<2x8x4xf32> routing <softmax_topk, k = 1> activation <relu>
// CHECK-NEXT: return %[[Y]]
func.func @switch(%h: tensor<?x4xf32>, %rowshape: tensor<2xi64>) -> tensor<?x4xf32> {
  %wr = arith.constant dense<[[1.0, -1.0], [0.5, 0.25], [-0.5, 2.0], [0.0, 1.0]]> : tensor<4x2xf32>
  %w1_0 = arith.constant dense<0.5> : tensor<4x8xf32>
  %w2_0 = arith.constant dense<-1.0> : tensor<8x4xf32>
  %w1_1 = arith.constant dense<1.5> : tensor<4x8xf32>
  %w2_1 = arith.constant dense<3.0> : tensor<8x4xf32>
  %c0 = arith.constant dense<0> : tensor<i64>
  %c1 = arith.constant dense<1> : tensor<i64>
  %zeros = onnx.constant_of_shape %rowshape {value = 0.0 : f32} : (tensor<2xi64>) -> tensor<?x4xf32>
  %logits = onnx.matmul %h, %wr : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %p = onnx.softmax %logits {axis = 1 : i64} : tensor<?x2xf32>
  %ids = onnx.argmax %p {axis = 1 : i64, keepdims = false, select_last_index = false} : tensor<?x2xf32> -> tensor<?xi64>
  %oh = onnx.one_hot %ids {axis = 1 : i64, depth = 2 : i64, off_value = 0 : i64, on_value = 1 : i64} : tensor<?xi64> -> tensor<?x2xi64>
  %pmax = onnx.reduce_max %p {axes = array<i64: 1>, keepdims = true} : tensor<?x2xf32> -> tensor<?x1xf32>
  %col0 = onnx.gather %oh, %c0 {axis = 1 : i64} : (tensor<?x2xi64>, tensor<i64>) -> tensor<?xi64>
  %b0 = onnx.cast %col0 : tensor<?xi64> to tensor<?xi1>
  %nz0 = onnx.nonzero %b0 : tensor<?xi1> -> tensor<1x?xi64>
  %nzt0 = onnx.transpose %nz0 {perm = array<i64: 1, 0>} : tensor<1x?xi64> -> tensor<?x1xi64>
  %tok0 = onnx.squeeze %nzt0 {axes = array<i64: 1>} : tensor<?x1xi64> -> tensor<?xi64>
  %rows0 = onnx.gather %h, %tok0 {axis = 0 : i64} : (tensor<?x4xf32>, tensor<?xi64>) -> tensor<?x4xf32>
  %a0 = onnx.matmul %rows0, %w1_0 : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %r0 = onnx.relu %a0 : tensor<?x8xf32>
  %y0 = onnx.matmul %r0, %w2_0 : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  %ti0 = onnx.unsqueeze %tok0 {axes = array<i64: 1>} : tensor<?xi64> -> tensor<?x1xi64>
  %te0 = onnx.expand %ti0, %rowshape : (tensor<?x1xi64>, tensor<2xi64>) -> tensor<?x4xi64>
  %next0 = onnx.scatter_elements %h, %te0, %y0 {axis = 0 : i64, reduction = "none"} : (tensor<?x4xf32>, tensor<?x4xi64>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %col1 = onnx.gather %oh, %c1 {axis = 1 : i64} : (tensor<?x2xi64>, tensor<i64>) -> tensor<?xi64>
  %b1 = onnx.cast %col1 : tensor<?xi64> to tensor<?xi1>
  %nz1 = onnx.nonzero %b1 : tensor<?xi1> -> tensor<1x?xi64>
  %nzt1 = onnx.transpose %nz1 {perm = array<i64: 1, 0>} : tensor<1x?xi64> -> tensor<?x1xi64>
  %tok1 = onnx.squeeze %nzt1 {axes = array<i64: 1>} : tensor<?x1xi64> -> tensor<?xi64>
  %rows1 = onnx.gather %h, %tok1 {axis = 0 : i64} : (tensor<?x4xf32>, tensor<?xi64>) -> tensor<?x4xf32>
  %a1 = onnx.matmul %rows1, %w1_1 : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %r1 = onnx.relu %a1 : tensor<?x8xf32>
  %y1 = onnx.matmul %r1, %w2_1 : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  %ti1 = onnx.unsqueeze %tok1 {axes = array<i64: 1>} : tensor<?xi64> -> tensor<?x1xi64>
  %te1 = onnx.expand %ti1, %rowshape : (tensor<?x1xi64>, tensor<2xi64>) -> tensor<?x4xi64>
  %next1 = onnx.scatter_elements %next0, %te1, %y1 {axis = 0 : i64, reduction = "none"} : (tensor<?x4xf32>, tensor<?x4xi64>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %out = onnx.mul %pmax, %next1 : (tensor<?x1xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %out : tensor<?x4xf32>
}

// -----

// Near misses stay as they are: an expert missing leaves its tokens'
// rows as they were.
// CHECK-LABEL: func @one_expert_missing
// CHECK-NOT: moe.layer
func.func @one_expert_missing(%h: tensor<?x4xf32>, %rowshape: tensor<2xi64>) -> tensor<?x4xf32> {
  %wr = arith.constant dense<[[1.0, -1.0], [0.5, 0.25], [-0.5, 2.0], [0.0, 1.0]]> : tensor<4x2xf32>
  %w1_0 = arith.constant dense<0.5> : tensor<4x8xf32>
  %w2_0 = arith.constant dense<-1.0> : tensor<8x4xf32>
  %w1_1 = arith.constant dense<1.5> : tensor<4x8xf32>
  %w2_1 = arith.constant dense<3.0> : tensor<8x4xf32>
  %c0 = arith.constant dense<0> : tensor<i64>
  %c1 = arith.constant dense<1> : tensor<i64>
  %zeros = onnx.constant_of_shape %rowshape {value = 0.0 : f32} : (tensor<2xi64>) -> tensor<?x4xf32>
  %logits = onnx.matmul %h, %wr : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %p = onnx.softmax %logits {axis = 1 : i64} : tensor<?x2xf32>
  %ids = onnx.argmax %p {axis = 1 : i64, keepdims = false, select_last_index = false} : tensor<?x2xf32> -> tensor<?xi64>
  %oh = onnx.one_hot %ids {axis = 1 : i64, depth = 2 : i64, off_value = 0 : i64, on_value = 1 : i64} : tensor<?xi64> -> tensor<?x2xi64>
  %pmax = onnx.reduce_max %p {axes = array<i64: 1>, keepdims = true} : tensor<?x2xf32> -> tensor<?x1xf32>
  %col0 = onnx.gather %oh, %c0 {axis = 1 : i64} : (tensor<?x2xi64>, tensor<i64>) -> tensor<?xi64>
  %b0 = onnx.cast %col0 : tensor<?xi64> to tensor<?xi1>
  %nz0 = onnx.nonzero %b0 : tensor<?xi1> -> tensor<1x?xi64>
  %nzt0 = onnx.transpose %nz0 {perm = array<i64: 1, 0>} : tensor<1x?xi64> -> tensor<?x1xi64>
  %tok0 = onnx.squeeze %nzt0 {axes = array<i64: 1>} : tensor<?x1xi64> -> tensor<?xi64>
  %rows0 = onnx.gather %h, %tok0 {axis = 0 : i64} : (tensor<?x4xf32>, tensor<?xi64>) -> tensor<?x4xf32>
  %a0 = onnx.matmul %rows0, %w1_0 : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %r0 = onnx.relu %a0 : tensor<?x8xf32>
  %y0 = onnx.matmul %r0, %w2_0 : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  %ti0 = onnx.unsqueeze %tok0 {axes = array<i64: 1>} : tensor<?xi64> -> tensor<?x1xi64>
  %te0 = onnx.expand %ti0, %rowshape : (tensor<?x1xi64>, tensor<2xi64>) -> tensor<?x4xi64>
  %next0 = onnx.scatter_elements %h, %te0, %y0 {axis = 0 : i64, reduction = "none"} : (tensor<?x4xf32>, tensor<?x4xi64>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // expected-remark @+1 {{MoE layer not raised: the overwrite writes 1 expert outputs, but the mask has 2 experts}}
  %out = onnx.mul %pmax, %next0 : (tensor<?x1xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %out : tensor<?x4xf32>
}

// -----

// Only the form Switch writes is raised: the experts overwrite a copy of
// the hidden states they read.
// CHECK-LABEL: func @overwrites_zeros
// CHECK-NOT: moe.layer
func.func @overwrites_zeros(%h: tensor<?x4xf32>, %rowshape: tensor<2xi64>) -> tensor<?x4xf32> {
  %wr = arith.constant dense<[[1.0, -1.0], [0.5, 0.25], [-0.5, 2.0], [0.0, 1.0]]> : tensor<4x2xf32>
  %w1_0 = arith.constant dense<0.5> : tensor<4x8xf32>
  %w2_0 = arith.constant dense<-1.0> : tensor<8x4xf32>
  %w1_1 = arith.constant dense<1.5> : tensor<4x8xf32>
  %w2_1 = arith.constant dense<3.0> : tensor<8x4xf32>
  %c0 = arith.constant dense<0> : tensor<i64>
  %c1 = arith.constant dense<1> : tensor<i64>
  %zeros = onnx.constant_of_shape %rowshape {value = 0.0 : f32} : (tensor<2xi64>) -> tensor<?x4xf32>
  %logits = onnx.matmul %h, %wr : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %p = onnx.softmax %logits {axis = 1 : i64} : tensor<?x2xf32>
  %ids = onnx.argmax %p {axis = 1 : i64, keepdims = false, select_last_index = false} : tensor<?x2xf32> -> tensor<?xi64>
  %oh = onnx.one_hot %ids {axis = 1 : i64, depth = 2 : i64, off_value = 0 : i64, on_value = 1 : i64} : tensor<?xi64> -> tensor<?x2xi64>
  %pmax = onnx.reduce_max %p {axes = array<i64: 1>, keepdims = true} : tensor<?x2xf32> -> tensor<?x1xf32>
  %col0 = onnx.gather %oh, %c0 {axis = 1 : i64} : (tensor<?x2xi64>, tensor<i64>) -> tensor<?xi64>
  %b0 = onnx.cast %col0 : tensor<?xi64> to tensor<?xi1>
  %nz0 = onnx.nonzero %b0 : tensor<?xi1> -> tensor<1x?xi64>
  %nzt0 = onnx.transpose %nz0 {perm = array<i64: 1, 0>} : tensor<1x?xi64> -> tensor<?x1xi64>
  %tok0 = onnx.squeeze %nzt0 {axes = array<i64: 1>} : tensor<?x1xi64> -> tensor<?xi64>
  %rows0 = onnx.gather %h, %tok0 {axis = 0 : i64} : (tensor<?x4xf32>, tensor<?xi64>) -> tensor<?x4xf32>
  %a0 = onnx.matmul %rows0, %w1_0 : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %r0 = onnx.relu %a0 : tensor<?x8xf32>
  %y0 = onnx.matmul %r0, %w2_0 : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  %ti0 = onnx.unsqueeze %tok0 {axes = array<i64: 1>} : tensor<?xi64> -> tensor<?x1xi64>
  %te0 = onnx.expand %ti0, %rowshape : (tensor<?x1xi64>, tensor<2xi64>) -> tensor<?x4xi64>
  %next0 = onnx.scatter_elements %zeros, %te0, %y0 {axis = 0 : i64, reduction = "none"} : (tensor<?x4xf32>, tensor<?x4xi64>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %col1 = onnx.gather %oh, %c1 {axis = 1 : i64} : (tensor<?x2xi64>, tensor<i64>) -> tensor<?xi64>
  %b1 = onnx.cast %col1 : tensor<?xi64> to tensor<?xi1>
  %nz1 = onnx.nonzero %b1 : tensor<?xi1> -> tensor<1x?xi64>
  %nzt1 = onnx.transpose %nz1 {perm = array<i64: 1, 0>} : tensor<1x?xi64> -> tensor<?x1xi64>
  %tok1 = onnx.squeeze %nzt1 {axes = array<i64: 1>} : tensor<?x1xi64> -> tensor<?xi64>
  %rows1 = onnx.gather %h, %tok1 {axis = 0 : i64} : (tensor<?x4xf32>, tensor<?xi64>) -> tensor<?x4xf32>
  %a1 = onnx.matmul %rows1, %w1_1 : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %r1 = onnx.relu %a1 : tensor<?x8xf32>
  %y1 = onnx.matmul %r1, %w2_1 : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  %ti1 = onnx.unsqueeze %tok1 {axes = array<i64: 1>} : tensor<?xi64> -> tensor<?x1xi64>
  %te1 = onnx.expand %ti1, %rowshape : (tensor<?x1xi64>, tensor<2xi64>) -> tensor<?x4xi64>
  %next1 = onnx.scatter_elements %next0, %te1, %y1 {axis = 0 : i64, reduction = "none"} : (tensor<?x4xf32>, tensor<?x4xi64>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // expected-remark @+1 {{MoE layer not raised: the experts do not overwrite a copy of the hidden states they read}}
  %out = onnx.mul %pmax, %next1 : (tensor<?x1xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %out : tensor<?x4xf32>
}

// -----

// The gate must be the top probability, not the top logit.
// CHECK-LABEL: func @gate_from_logits
// CHECK-NOT: moe.layer
func.func @gate_from_logits(%h: tensor<?x4xf32>, %rowshape: tensor<2xi64>) -> tensor<?x4xf32> {
  %wr = arith.constant dense<[[1.0, -1.0], [0.5, 0.25], [-0.5, 2.0], [0.0, 1.0]]> : tensor<4x2xf32>
  %w1_0 = arith.constant dense<0.5> : tensor<4x8xf32>
  %w2_0 = arith.constant dense<-1.0> : tensor<8x4xf32>
  %w1_1 = arith.constant dense<1.5> : tensor<4x8xf32>
  %w2_1 = arith.constant dense<3.0> : tensor<8x4xf32>
  %c0 = arith.constant dense<0> : tensor<i64>
  %c1 = arith.constant dense<1> : tensor<i64>
  %zeros = onnx.constant_of_shape %rowshape {value = 0.0 : f32} : (tensor<2xi64>) -> tensor<?x4xf32>
  %logits = onnx.matmul %h, %wr : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %p = onnx.softmax %logits {axis = 1 : i64} : tensor<?x2xf32>
  %ids = onnx.argmax %p {axis = 1 : i64, keepdims = false, select_last_index = false} : tensor<?x2xf32> -> tensor<?xi64>
  %oh = onnx.one_hot %ids {axis = 1 : i64, depth = 2 : i64, off_value = 0 : i64, on_value = 1 : i64} : tensor<?xi64> -> tensor<?x2xi64>
  %pmax = onnx.reduce_max %logits {axes = array<i64: 1>, keepdims = true} : tensor<?x2xf32> -> tensor<?x1xf32>
  %col0 = onnx.gather %oh, %c0 {axis = 1 : i64} : (tensor<?x2xi64>, tensor<i64>) -> tensor<?xi64>
  %b0 = onnx.cast %col0 : tensor<?xi64> to tensor<?xi1>
  %nz0 = onnx.nonzero %b0 : tensor<?xi1> -> tensor<1x?xi64>
  %nzt0 = onnx.transpose %nz0 {perm = array<i64: 1, 0>} : tensor<1x?xi64> -> tensor<?x1xi64>
  %tok0 = onnx.squeeze %nzt0 {axes = array<i64: 1>} : tensor<?x1xi64> -> tensor<?xi64>
  %rows0 = onnx.gather %h, %tok0 {axis = 0 : i64} : (tensor<?x4xf32>, tensor<?xi64>) -> tensor<?x4xf32>
  %a0 = onnx.matmul %rows0, %w1_0 : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %r0 = onnx.relu %a0 : tensor<?x8xf32>
  %y0 = onnx.matmul %r0, %w2_0 : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  %ti0 = onnx.unsqueeze %tok0 {axes = array<i64: 1>} : tensor<?xi64> -> tensor<?x1xi64>
  %te0 = onnx.expand %ti0, %rowshape : (tensor<?x1xi64>, tensor<2xi64>) -> tensor<?x4xi64>
  %next0 = onnx.scatter_elements %h, %te0, %y0 {axis = 0 : i64, reduction = "none"} : (tensor<?x4xf32>, tensor<?x4xi64>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %col1 = onnx.gather %oh, %c1 {axis = 1 : i64} : (tensor<?x2xi64>, tensor<i64>) -> tensor<?xi64>
  %b1 = onnx.cast %col1 : tensor<?xi64> to tensor<?xi1>
  %nz1 = onnx.nonzero %b1 : tensor<?xi1> -> tensor<1x?xi64>
  %nzt1 = onnx.transpose %nz1 {perm = array<i64: 1, 0>} : tensor<1x?xi64> -> tensor<?x1xi64>
  %tok1 = onnx.squeeze %nzt1 {axes = array<i64: 1>} : tensor<?x1xi64> -> tensor<?xi64>
  %rows1 = onnx.gather %h, %tok1 {axis = 0 : i64} : (tensor<?x4xf32>, tensor<?xi64>) -> tensor<?x4xf32>
  %a1 = onnx.matmul %rows1, %w1_1 : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %r1 = onnx.relu %a1 : tensor<?x8xf32>
  %y1 = onnx.matmul %r1, %w2_1 : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  %ti1 = onnx.unsqueeze %tok1 {axes = array<i64: 1>} : tensor<?xi64> -> tensor<?x1xi64>
  %te1 = onnx.expand %ti1, %rowshape : (tensor<?x1xi64>, tensor<2xi64>) -> tensor<?x4xi64>
  %next1 = onnx.scatter_elements %next0, %te1, %y1 {axis = 0 : i64, reduction = "none"} : (tensor<?x4xf32>, tensor<?x4xi64>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // expected-remark @+1 {{MoE layer not raised: the gate weight is not the largest score of the argmax}}
  %out = onnx.mul %pmax, %next1 : (tensor<?x1xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %out : tensor<?x4xf32>
}
