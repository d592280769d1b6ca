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

// CHECK-LABEL: func @data_ops
func.func @data_ops(%x: tensor<?x8xf32>, %s: tensor<2xi64>, %i: tensor<?xi64>, %m: tensor<?x4xi64>,
                    %u: tensor<?x8xf32>, %ix: tensor<?x8xi64>) {
  // CHECK: onnx.reshape %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  %0 = onnx.reshape %x, %s : (tensor<?x8xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  // CHECK: onnx.unsqueeze %{{.*}} {axes = array<i64: 0>} : tensor<?x8xf32> -> tensor<1x?x8xf32>
  %1 = onnx.unsqueeze %x {axes = array<i64: 0>} : tensor<?x8xf32> -> tensor<1x?x8xf32>
  // CHECK: onnx.squeeze %{{.*}} {axes = array<i64: 0>} : tensor<1x?x8xf32> -> tensor<?x8xf32>
  %2 = onnx.squeeze %1 {axes = array<i64: 0>} : tensor<1x?x8xf32> -> tensor<?x8xf32>
  // CHECK: onnx.flatten %{{.*}} {axis = 1 : i64} : tensor<1x?x8xf32> -> tensor<1x?xf32>
  %3 = onnx.flatten %1 {axis = 1 : i64} : tensor<1x?x8xf32> -> tensor<1x?xf32>
  // CHECK: onnx.shape %{{.*}} {end = 2 : i64, start = 0 : i64} : tensor<?x8xf32> -> tensor<2xi64>
  %4 = onnx.shape %x {start = 0 : i64, end = 2 : i64} : tensor<?x8xf32> -> tensor<2xi64>
  // CHECK: onnx.constant_of_shape %{{.*}} {value = 0.000000e+00 : f32} : (tensor<2xi64>) -> tensor<?x?xf32>
  %5 = onnx.constant_of_shape %4 {value = 0.0 : f32} : (tensor<2xi64>) -> tensor<?x?xf32>
  // CHECK: onnx.expand %{{.*}}, %{{.*}} : (tensor<1x8xf32>, tensor<2xi64>) -> tensor<?x8xf32>
  %row = arith.constant dense<1.0> : tensor<1x8xf32>
  %6 = onnx.expand %row, %4 : (tensor<1x8xf32>, tensor<2xi64>) -> tensor<?x8xf32>
  // CHECK: onnx.concat %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %7 = onnx.concat %x, %6 {axis = 0 : i64} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  // CHECK: onnx.slice %{{.*}} {axes = array<i64: 1>, ends = array<i64: 8>, starts = array<i64: -7>, steps = array<i64: 2>} : (tensor<?x8xf32>) -> tensor<?x4xf32>
  %8 = onnx.slice %x {axes = array<i64: 1>, starts = array<i64: -7>, ends = array<i64: 8>, steps = array<i64: 2>} : (tensor<?x8xf32>) -> tensor<?x4xf32>
  // CHECK: onnx.slice %{{.*}} ends %{{.*}} {axes = array<i64: 0>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<?x8xf32>, tensor<1xi64>) -> tensor<?x8xf32>
  %t = onnx.shape %x {start = 0 : i64, end = 1 : i64} : tensor<?x8xf32> -> tensor<1xi64>
  %s1 = onnx.slice %x ends %t {axes = array<i64: 0>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<?x8xf32>, tensor<1xi64>) -> tensor<?x8xf32>
  // CHECK: onnx.split %{{.*}} {axis = 1 : i64, sizes = array<i64: 3, 5>} : tensor<?x8xf32> -> tensor<?x3xf32>, tensor<?x5xf32>
  %9:2 = onnx.split %x {axis = 1 : i64, sizes = array<i64: 3, 5>} : tensor<?x8xf32> -> tensor<?x3xf32>, tensor<?x5xf32>
  // CHECK: onnx.gather %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<?x8xf32>, tensor<?xi64>) -> tensor<?x8xf32>
  %10 = onnx.gather %x, %i {axis = 0 : i64} : (tensor<?x8xf32>, tensor<?xi64>) -> tensor<?x8xf32>
  // CHECK: onnx.nonzero %{{.*}} : tensor<?x4xi64> -> tensor<2x?xi64>
  %11 = onnx.nonzero %m : tensor<?x4xi64> -> tensor<2x?xi64>
  // CHECK: onnx.scatter_elements %{{.*}}, %{{.*}}, %{{.*}} {axis = 0 : i64, reduction = "add"}
  %12 = onnx.scatter_elements %x, %ix, %u {axis = 0 : i64, reduction = "add"} : (tensor<?x8xf32>, tensor<?x8xi64>, tensor<?x8xf32>) -> tensor<?x8xf32>
  // CHECK: onnx.one_hot %{{.*}} {axis = 2 : i64, depth = 6 : i64, off_value = 0 : i64, on_value = 1 : i64} : tensor<?x4xi64> -> tensor<?x4x6xi64>
  %13 = onnx.one_hot %m {axis = 2 : i64, depth = 6 : i64, off_value = 0 : i64, on_value = 1 : i64} : tensor<?x4xi64> -> tensor<?x4x6xi64>
  // CHECK: onnx.reduce_sum %{{.*}} {axes = array<i64: 1>, keepdims = true} : tensor<?x8xf32> -> tensor<?x1xf32>
  %14 = onnx.reduce_sum %x {axes = array<i64: 1>, keepdims = true} : tensor<?x8xf32> -> tensor<?x1xf32>
  // CHECK: onnx.reduce_max %{{.*}} {axes = array<i64: 0>, keepdims = false} : tensor<?x8xf32> -> tensor<8xf32>
  %15 = onnx.reduce_max %x {axes = array<i64: 0>, keepdims = false} : tensor<?x8xf32> -> tensor<8xf32>
  // CHECK: onnx.reduce_mean
  %16 = onnx.reduce_mean %x {axes = array<i64: 0, 1>, keepdims = false} : tensor<?x8xf32> -> tensor<f32>
  // CHECK: onnx.topk %{{.*}} {axis = 1 : i64, k = 2 : i64, largest = true} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %17:2 = onnx.topk %x {axis = 1 : i64, k = 2 : i64, largest = true} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// CHECK-LABEL: func @select_ops
func.func @select_ops(%x: tensor<?x8xf32>, %ids: tensor<?x8xi64>, %one: tensor<i64>, %lo: tensor<f32>,
                      %w: tensor<6x8xf32>, %rows: tensor<3x1xi64>, %upd: tensor<3x8xf32>) {
  // CHECK: onnx.equal %{{.*}}, %{{.*}} : (tensor<?x8xi64>, tensor<i64>) -> tensor<?x8xi1>
  %0 = onnx.equal %ids, %one : (tensor<?x8xi64>, tensor<i64>) -> tensor<?x8xi1>
  // CHECK: onnx.greater %{{.*}}, %{{.*}} : (tensor<?x8xi64>, tensor<i64>) -> tensor<?x8xi1>
  %gt = onnx.greater %ids, %one : (tensor<?x8xi64>, tensor<i64>) -> tensor<?x8xi1>
  // CHECK: onnx.less %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xi1>
  %lt = onnx.less %x, %lo : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xi1>
  // CHECK: onnx.greater_or_equal %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xi1>
  %ge = onnx.greater_or_equal %x, %lo : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xi1>
  // CHECK: onnx.less_or_equal %{{.*}}, %{{.*}} : (tensor<?x8xi64>, tensor<i64>) -> tensor<?x8xi1>
  %le = onnx.less_or_equal %ids, %one : (tensor<?x8xi64>, tensor<i64>) -> tensor<?x8xi1>
  // CHECK: onnx.not %{{.*}} : tensor<?x8xi1>
  %1 = onnx.not %0 : tensor<?x8xi1>
  // CHECK: onnx.where %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x8xi1>, tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %2 = onnx.where %1, %x, %lo : (tensor<?x8xi1>, tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  // CHECK: onnx.clip %{{.*}} min %{{.*}} : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %3 = onnx.clip %2 min %lo : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  // CHECK: onnx.clip %{{.*}} max %{{.*}} : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %4 = onnx.clip %3 max %lo : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  // CHECK: onnx.range %{{.*}}, %{{.*}}, %{{.*}} : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<?xf32>
  %range = onnx.range %lo, %lo, %lo : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<?xf32>
  // CHECK: onnx.cos %{{.*}} : tensor<?xf32>
  %cos = onnx.cos %range : tensor<?xf32>
  // CHECK: onnx.sin %{{.*}} : tensor<?xf32>
  %sin = onnx.sin %range : tensor<?xf32>
  // CHECK: onnx.trilu %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<i64>) -> tensor<?x8xf32>
  %t = onnx.trilu %x, %one : (tensor<?x8xf32>, tensor<i64>) -> tensor<?x8xf32>
  // CHECK: onnx.trilu %{{.*}} {upper = false} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %l = onnx.trilu %x {upper = false} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  // CHECK: onnx.gelu %{{.*}} {approximate = "tanh"} : tensor<?x8xf32>
  %5 = onnx.gelu %4 {approximate = "tanh"} : tensor<?x8xf32>
  // CHECK: onnx.argmax %{{.*}} {axis = 1 : i64, keepdims = false, select_last_index = true} : tensor<?x8xf32> -> tensor<?xi64>
  %6 = onnx.argmax %5 {axis = 1 : i64, keepdims = false, select_last_index = true} : tensor<?x8xf32> -> tensor<?xi64>
  // CHECK: onnx.gather_elements %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<?x8xf32>, tensor<?x8xi64>) -> tensor<?x8xf32>
  %7 = onnx.gather_elements %x, %ids {axis = 1 : i64} : (tensor<?x8xf32>, tensor<?x8xi64>) -> tensor<?x8xf32>
  // CHECK: onnx.gather_nd %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<3x1xi64>) -> tensor<3x8xf32>
  %8 = onnx.gather_nd %x, %rows : (tensor<?x8xf32>, tensor<3x1xi64>) -> tensor<3x8xf32>
  // CHECK: onnx.scatter_nd %{{.*}}, %{{.*}}, %{{.*}} {reduction = "add"} : (tensor<?x8xf32>, tensor<3x1xi64>, tensor<3x8xf32>) -> tensor<?x8xf32>
  %9 = onnx.scatter_nd %x, %rows, %upd {reduction = "add"} : (tensor<?x8xf32>, tensor<3x1xi64>, tensor<3x8xf32>) -> tensor<?x8xf32>
  // CHECK: onnx.einsum %{{.*}}, %{{.*}} {equation = "td,ed->te"} : (tensor<?x8xf32>, tensor<6x8xf32>) -> tensor<?x6xf32>
  %10 = onnx.einsum %x, %w {equation = "td,ed->te"} : (tensor<?x8xf32>, tensor<6x8xf32>) -> tensor<?x6xf32>
  return
}
