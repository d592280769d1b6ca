// RUN: moe-opt %s -canonicalize -split-input-file | FileCheck %s

// Before: onnx.mul by a scalar constant. After: x * 1.0 folded to x when x
// already has the result's shape (HF's rotary tables times their
// attention_scaling, 1.0 by default); any other factor, or a 1.0 that
// broadcasts x to a larger shape, stays.

// CHECK-LABEL: func.func @times_one
// CHECK-NOT: onnx.mul
// CHECK: return %arg0, %arg0
func.func @times_one(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %one = arith.constant dense<1.0> : tensor<f32>
  %y = onnx.mul %x, %one : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
  %z = onnx.mul %one, %x : (tensor<f32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %y, %z : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func.func @not_one
// CHECK: onnx.mul %arg0, %{{.*}} : (tensor<?x4xf32>, tensor<f32>)
// CHECK: onnx.mul %arg0, %{{.*}} : (tensor<?x4xf32>, tensor<1x1x1xf32>) -> tensor<1x?x4xf32>
// CHECK: onnx.mul %arg0, %{{.*}} : (tensor<?x4xf32>, tensor<4xf32>)
func.func @not_one(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<1x?x4xf32>, tensor<?x4xf32>) {
  %two = arith.constant dense<2.0> : tensor<f32>
  %y = onnx.mul %x, %two : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
  %one3 = arith.constant dense<1.0> : tensor<1x1x1xf32>
  %z = onnx.mul %x, %one3 : (tensor<?x4xf32>, tensor<1x1x1xf32>) -> tensor<1x?x4xf32>
  %ones = arith.constant dense<[1.0, 1.0, 2.0, 1.0]> : tensor<4xf32>
  %w = onnx.mul %x, %ones : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return %y, %z, %w : tensor<?x4xf32>, tensor<1x?x4xf32>, tensor<?x4xf32>
}
