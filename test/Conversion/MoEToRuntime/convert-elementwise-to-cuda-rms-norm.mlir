// RUN: moe-opt %s -convert-elementwise-to-cuda -split-input-file | FileCheck %s
// RUN: moe-opt %s -convert-elementwise-to-cuda="weight-type=bf16" -split-input-file | FileCheck %s --check-prefix=BF16

// Before: an RMS norm as torch.onnx.export writes Mixtral's and Qwen's
// (pow, reduce_mean over the last axis, add eps, sqrt, 1 / ., mul by x,
// mul by the weight). After: one moe_cuda_cc_rms_norm_f32 call - x, no
// residual, rows (the leading dims' product), cols, eps, the weight
// (preloaded at model creation), no sum, the result - and none of the
// seven ops.

// CHECK-LABEL: func.func @weighted
// CHECK-DAG: %[[COLS:.*]] = arith.constant 16 : i64
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999997E-7 : f32
// CHECK-DAG: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK: %[[B:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[S:.*]] = tensor.dim %arg0, %c1
// CHECK: %[[ROWS:.*]] = arith.muli %{{.*}}, %[[S]]
// CHECK: llvm.call @moe_cuda_cc_rms_norm_f32(%{{[^,]*}}, %{{[^,]*}}, %[[NULL]], %[[ROWS_I64:[^,]*]], %[[COLS]], %[[EPS]], %{{[^,]*}}, %[[NULL]], %{{[^,]*}})
// CHECK-NOT: = onnx.
// CHECK: return
// CHECK-LABEL: func.func @__moe_cuda_preload
// CHECK: llvm.call @moe_cuda_cc_preload
func.func @weighted(%x: tensor<?x?x16xf32>) -> tensor<?x?x16xf32> {
  %two = arith.constant dense<2.0> : tensor<f32>
  %eps = arith.constant dense<1.0e-6> : tensor<f32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %w = arith.constant dense<0.5> : tensor<16xf32>
  %sq = onnx.pow %x, %two : (tensor<?x?x16xf32>, tensor<f32>) -> tensor<?x?x16xf32>
  %mean = onnx.reduce_mean %sq {axes = array<i64: 2>, keepdims = true} : tensor<?x?x16xf32> -> tensor<?x?x1xf32>
  %var = onnx.add %mean, %eps : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %root = onnx.sqrt %var : tensor<?x?x1xf32>
  %inv = onnx.div %one, %root : (tensor<f32>, tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %normed = onnx.mul %x, %inv : (tensor<?x?x16xf32>, tensor<?x?x1xf32>) -> tensor<?x?x16xf32>
  %y = onnx.mul %w, %normed : (tensor<16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// x / sqrt(mean(x * x) + eps) without a weight: the weight argument is
// null.
// CHECK-LABEL: func.func @divided
// CHECK: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK: llvm.call @moe_cuda_cc_rms_norm_f32(%{{[^,]*}}, %{{[^,]*}}, %[[NULL]], %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %[[NULL]], %[[NULL]], %{{[^,]*}})
// CHECK-NOT: = onnx.
func.func @divided(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %eps = arith.constant dense<1.0e-5> : tensor<1xf32>
  %sq = onnx.mul %x, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %mean = onnx.reduce_mean %sq {axes = array<i64: 1>, keepdims = true} : tensor<4x8xf32> -> tensor<4x1xf32>
  %var = onnx.add %eps, %mean : (tensor<1xf32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  %root = onnx.sqrt %var : tensor<4x1xf32>
  %y = onnx.div %x, %root : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A residual add before the norm (ONNX Runtime's
// SkipSimplifiedLayerNormalization, a decoder's residual stream): the
// call takes both addends and writes the sum too, which the add's other
// user (the stream going on) reads.
// CHECK-LABEL: func.func @residual_stream
// CHECK: %[[SUM:.*]] = memref.alloc() : memref<4x8xf32>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<4x8xf32>
// CHECK: llvm.call @moe_cuda_cc_rms_norm_f32(
// CHECK-NOT: moe_cuda_cc_binary_f32
// CHECK-NOT: = onnx.
// CHECK: %[[S:.*]] = bufferization.to_tensor %[[SUM]]
// CHECK: %[[N:.*]] = bufferization.to_tensor %[[OUT]]
// CHECK: return %[[S]], %[[N]]
func.func @residual_stream(%h: tensor<4x8xf32>, %r: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %eps = arith.constant dense<1.0e-5> : tensor<f32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %x = onnx.add %h, %r : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %sq = onnx.mul %x, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %mean = onnx.reduce_mean %sq {axes = array<i64: 1>, keepdims = true} : tensor<4x8xf32> -> tensor<4x1xf32>
  %var = onnx.add %mean, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %root = onnx.sqrt %var : tensor<4x1xf32>
  %inv = onnx.div %one, %root : (tensor<f32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  %y = onnx.mul %inv, %x : (tensor<4x1xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %x, %y : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// Near misses stay separate calls: the mean over another axis, the square
// of another tensor, a cube.
// CHECK-LABEL: func.func @near_misses
// CHECK-NOT: moe_cuda_cc_rms_norm_f32
// CHECK: moe_cuda_cc_mean_rows_f32
// CHECK-NOT: moe_cuda_cc_rms_norm_f32
// CHECK: return
func.func @near_misses(%x: tensor<4x8xf32>, %z: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %two = arith.constant dense<2.0> : tensor<f32>
  %three = arith.constant dense<3.0> : tensor<f32>
  %eps = arith.constant dense<1.0e-5> : tensor<f32>
  %sq = onnx.pow %x, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %cols = onnx.reduce_mean %sq {axes = array<i64: 0>, keepdims = true} : tensor<4x8xf32> -> tensor<1x8xf32>
  %v0 = onnx.add %cols, %eps : (tensor<1x8xf32>, tensor<f32>) -> tensor<1x8xf32>
  %r0 = onnx.sqrt %v0 : tensor<1x8xf32>
  %y0 = onnx.div %x, %r0 : (tensor<4x8xf32>, tensor<1x8xf32>) -> tensor<4x8xf32>
  %zsq = onnx.pow %z, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %m1 = onnx.reduce_mean %zsq {axes = array<i64: 1>, keepdims = true} : tensor<4x8xf32> -> tensor<4x1xf32>
  %v1 = onnx.add %m1, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %r1 = onnx.sqrt %v1 : tensor<4x1xf32>
  %y1 = onnx.div %x, %r1 : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %cube = onnx.pow %x, %three : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %m2 = onnx.reduce_mean %cube {axes = array<i64: 1>, keepdims = true} : tensor<4x8xf32> -> tensor<4x1xf32>
  %v2 = onnx.add %m2, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %r2 = onnx.sqrt %v2 : tensor<4x1xf32>
  %y2 = onnx.div %x, %r2 : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %y0, %y1, %y2 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A norm that only projections read (q, k and v's after a decoder's input
// norm; a shape read aside): with bf16 weights (BF16) the norm writes the
// rounded activations itself - moe_cuda_cc_rms_norm_bf16, the projections
// moe_cuda_cc_matmul_bf16 on them, no cast call; with f32 weights the f32
// norm. Near miss: a norm also added to something stays f32, rounded by
// a cast call for its projections.
// CHECK-LABEL: func.func @projected
// CHECK: llvm.call @moe_cuda_cc_rms_norm_f32(
// CHECK-COUNT-2: llvm.call @moe_cuda_cc_matmul_f32(
// BF16-LABEL: func.func @projected
// BF16-NOT: moe_cuda_cc_cast(
// BF16: llvm.call @moe_cuda_cc_rms_norm_bf16(
// BF16-NOT: moe_cuda_cc_cast(
// BF16-COUNT-2: llvm.call @moe_cuda_cc_matmul_bf16(
// BF16-NOT: moe_cuda_cc_cast(
// BF16-LABEL: func.func @also_added
// BF16: llvm.call @moe_cuda_cc_rms_norm_f32(
// BF16: llvm.call @moe_cuda_cc_cast(
// BF16-COUNT-2: llvm.call @moe_cuda_cc_matmul_bf16(
func.func @projected(%x: tensor<?x?x16xf32>) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<3xi64>) {
  %two = arith.constant dense<2.0> : tensor<f32>
  %eps = arith.constant dense<1.0e-6> : tensor<f32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %wq = arith.constant dense<0.25> : tensor<16x8xf32>
  %wk = arith.constant dense<0.75> : tensor<16x8xf32>
  %sq = onnx.pow %x, %two : (tensor<?x?x16xf32>, tensor<f32>) -> tensor<?x?x16xf32>
  %mean = onnx.reduce_mean %sq {axes = array<i64: 2>, keepdims = true} : tensor<?x?x16xf32> -> tensor<?x?x1xf32>
  %var = onnx.add %mean, %eps : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %root = onnx.sqrt %var : tensor<?x?x1xf32>
  %inv = onnx.div %one, %root : (tensor<f32>, tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %normed = onnx.mul %x, %inv : (tensor<?x?x16xf32>, tensor<?x?x1xf32>) -> tensor<?x?x16xf32>
  %shape = onnx.shape %normed {start = 0 : i64, end = 3 : i64} : tensor<?x?x16xf32> -> tensor<3xi64>
  %q = onnx.matmul %normed, %wq : (tensor<?x?x16xf32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  %k = onnx.matmul %normed, %wk : (tensor<?x?x16xf32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  return %q, %k, %shape : tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<3xi64>
}
func.func @also_added(%x: tensor<?x?x16xf32>) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x16xf32>) {
  %two = arith.constant dense<2.0> : tensor<f32>
  %eps = arith.constant dense<1.0e-6> : tensor<f32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %wq = arith.constant dense<0.25> : tensor<16x8xf32>
  %wk = arith.constant dense<0.75> : tensor<16x8xf32>
  %sq = onnx.pow %x, %two : (tensor<?x?x16xf32>, tensor<f32>) -> tensor<?x?x16xf32>
  %mean = onnx.reduce_mean %sq {axes = array<i64: 2>, keepdims = true} : tensor<?x?x16xf32> -> tensor<?x?x1xf32>
  %var = onnx.add %mean, %eps : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %root = onnx.sqrt %var : tensor<?x?x1xf32>
  %inv = onnx.div %one, %root : (tensor<f32>, tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %normed = onnx.mul %x, %inv : (tensor<?x?x16xf32>, tensor<?x?x1xf32>) -> tensor<?x?x16xf32>
  %q = onnx.matmul %normed, %wq : (tensor<?x?x16xf32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  %k = onnx.matmul %normed, %wk : (tensor<?x?x16xf32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  %r = onnx.add %normed, %x : (tensor<?x?x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return %q, %k, %r : tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x16xf32>
}
