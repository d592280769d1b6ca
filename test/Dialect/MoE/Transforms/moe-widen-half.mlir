// RUN: moe-opt %s -moe-widen-half -split-input-file | FileCheck %s

// Before: a float16 moe.layer. After: the layer in f32 - the constant
// weights widened at compile time, the input and the (non-constant)
// logits cast with onnx.cast, the result cast back to f16.

// CHECK-LABEL: func @half_layer
// CHECK: %[[X:.*]] = onnx.cast %arg0 : tensor<?x4xf16> to tensor<?x4xf32>
// CHECK: %[[L:.*]] = onnx.cast %arg1 : tensor<?x2xf16> to tensor<?x2xf32>
// CHECK-DAG: %[[W1:.*]] = arith.constant dense_resource<[[B1:widened.*]]> : tensor<2x4x8xf32>
// CHECK-DAG: %[[W2:.*]] = arith.constant dense_resource<[[B2:widened.*]]> : tensor<2x8x4xf32>
// CHECK: %[[Y:.*]] = moe.layer %[[X]] : tensor<?x4xf32> logits %[[L]] : tensor<?x2xf32> w1 %[[W1]] : tensor<2x4x8xf32> w2 %[[W2]] : tensor<2x8x4xf32> routing <softmax_topk, k = 1> activation <relu> -> tensor<?x4xf32>
// CHECK: %[[H:.*]] = onnx.cast %[[Y]] : tensor<?x4xf32> to tensor<?x4xf16>
// CHECK: return %[[H]]
// f16 0.5 and 0.25 as f32 bits (0x3F000000, 0x3E800000), little-endian:
// CHECK: [[B1]]: "0x08000000{{(0000003F)+}}"
// CHECK: [[B2]]: "0x08000000{{(0000803E)+}}"
func.func @half_layer(%x: tensor<?x4xf16>, %logits: tensor<?x2xf16>) -> tensor<?x4xf16> {
  %w1 = arith.constant dense<0.5> : tensor<2x4x8xf16>
  %w2 = arith.constant dense<0.25> : tensor<2x8x4xf16>
  %y = moe.layer %x : tensor<?x4xf16> logits %logits : tensor<?x2xf16>
      w1 %w1 : tensor<2x4x8xf16> w2 %w2 : tensor<2x8x4xf16>
      routing <softmax_topk, k = 1> activation <relu> -> tensor<?x4xf16>
  return %y : tensor<?x4xf16>
}

// -----

// f32 layers are left as they are.
// CHECK-LABEL: func @f32_layer
// CHECK-NOT: onnx.cast
func.func @f32_layer(%x: tensor<?x4xf32>, %logits: tensor<?x2xf32>, %w1: tensor<2x4x8xf32>, %w2: tensor<2x8x4xf32>) -> tensor<?x4xf32> {
  %y = moe.layer %x : tensor<?x4xf32> logits %logits : tensor<?x2xf32>
      w1 %w1 : tensor<2x4x8xf32> w2 %w2 : tensor<2x8x4xf32>
      routing <softmax_topk, k = 1> activation <relu> -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}
