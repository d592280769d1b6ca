// RUN: moe-opt %s | moe-opt | FileCheck %s

// CHECK-LABEL: func @ops
func.func @ops(%x: tensor<?x16xf32>, %b: tensor<16xf32>, %w: tensor<16x8xf32>,
               %g: tensor<8x6xf32>, %c: tensor<6xf32>, %i: tensor<?x16xi64>) {
  // CHECK: onnx.add %{{.*}}, %{{.*}} : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  %0 = onnx.add %x, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // CHECK: onnx.sub
  %1 = onnx.sub %0, %x : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  // CHECK: onnx.mul
  %2 = onnx.mul %1, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // CHECK: onnx.div
  %3 = onnx.div %2, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // CHECK: onnx.pow
  %4 = onnx.pow %3, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // CHECK: onnx.max
  %5 = onnx.max %4, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // CHECK: onnx.min
  %6 = onnx.min %5, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // CHECK: onnx.neg %{{.*}} : tensor<?x16xf32>
  %7 = onnx.neg %6 : tensor<?x16xf32>
  // CHECK: onnx.sigmoid
  %8 = onnx.sigmoid %7 : tensor<?x16xf32>
  // CHECK: onnx.relu
  %9 = onnx.relu %8 : tensor<?x16xf32>
  // CHECK: onnx.tanh
  %10 = onnx.tanh %9 : tensor<?x16xf32>
  // CHECK: onnx.erf
  %11 = onnx.erf %10 : tensor<?x16xf32>
  // CHECK: onnx.sqrt
  %12 = onnx.sqrt %11 : tensor<?x16xf32>
  // CHECK: onnx.exp
  %13 = onnx.exp %12 : tensor<?x16xf32>
  // CHECK: onnx.matmul %{{.*}}, %{{.*}} : (tensor<?x16xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  %14 = onnx.matmul %13, %w : (tensor<?x16xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  // CHECK: onnx.gemm %{{.*}}, %{{.*}}, %{{.*}} {alpha = 2.000000e+00 : f32} : (tensor<?x8xf32>, tensor<8x6xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  %15 = onnx.gemm %14, %g, %c {alpha = 2.0 : f32} : (tensor<?x8xf32>, tensor<8x6xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  // CHECK: onnx.softmax %{{.*}} {axis = 1 : i64} : tensor<?x6xf32>
  %16 = onnx.softmax %15 {axis = 1 : i64} : tensor<?x6xf32>
  // CHECK: onnx.transpose %{{.*}} {perm = array<i64: 1, 0>} : tensor<?x6xf32> -> tensor<6x?xf32>
  %17 = onnx.transpose %16 {perm = array<i64: 1, 0>} : tensor<?x6xf32> -> tensor<6x?xf32>
  // CHECK: onnx.reshape %{{.*}} {shape = array<i64: -1>} : (tensor<6x?xf32>) -> tensor<?xf32>
  %18 = onnx.reshape %17 {shape = array<i64: -1>} : (tensor<6x?xf32>) -> tensor<?xf32>
  // CHECK: onnx.cast %{{.*}} : tensor<?x16xi64> to tensor<?x16xf32>
  %19 = onnx.cast %i : tensor<?x16xi64> to tensor<?x16xf32>
  return
}
