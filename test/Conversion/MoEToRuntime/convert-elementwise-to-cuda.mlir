// RUN: moe-opt %s -convert-elementwise-to-cuda -split-input-file | FileCheck %s

// Before: onnx binary ops. After: moe_cuda_cc_binary_f32 calls with each
// operand's rank and dims (padded to 4 with 1s) and the result's dims -
// static, or numpy's: the aligned dim that is not a 1.

// A residual add of a [B, S, 16] input and a [B, S, ?] layer output: op
// code 0, ranks 3, the result's dynamic dims h's where x's are 1, else x's.
// CHECK-LABEL: func.func @residual
// CHECK-DAG: %[[ADD:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[R3:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : i64
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK: tensor.dim %arg1, %c2
// CHECK: %[[XD0:.*]] = tensor.dim %arg0, %c0
// CHECK-NEXT: %[[HD0:.*]] = tensor.dim %arg1, %c0
// CHECK-NEXT: %[[X1:.*]] = arith.cmpi eq, %[[XD0]], %c1
// CHECK-NEXT: %[[B:.*]] = arith.select %[[X1]], %[[HD0]], %[[XD0]] : index
// CHECK-NEXT: %[[XD1:.*]] = tensor.dim %arg0, %c1
// CHECK-NEXT: %[[HD1:.*]] = tensor.dim %arg1, %c1
// CHECK-NEXT: %[[X2:.*]] = arith.cmpi eq, %[[XD1]], %c1
// CHECK-NEXT: %[[S:.*]] = arith.select %[[X2]], %[[HD1]], %[[XD1]] : index
// CHECK: %[[OUT:.*]] = memref.alloc(%[[B]], %[[S]]) : memref<?x?x16xf32>
// CHECK: %[[STATUS:.*]] = llvm.call @moe_cuda_cc_binary_f32(%{{.*}}, %[[ADD]], %{{.*}}, %[[R3]], %{{.*}}, %{{.*}}, %[[C16]], %[[ONE]], %{{.*}}, %[[R3]], %{{.*}}, %{{.*}}, %{{.*}}, %[[ONE]], %[[R3]], %{{.*}}, %{{.*}}, %[[C16]], %[[ONE]], %{{.*}})
// CHECK: llvm.call @moe_cc_check_status_detail(%[[STATUS]]
// CHECK: %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict
// CHECK: return %[[Y]]
// CHECK-NOT: = onnx.add
func.func @residual(%x: tensor<?x?x16xf32>, %h: tensor<?x?x?xf32>) -> tensor<?x?x16xf32> {
  %y = onnx.add %x, %h : (tensor<?x?x16xf32>, tensor<?x?x?xf32>) -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// A scale by a constant [16] vector (rank 1, its dims padded): op code 2
// (mul), the constant preloaded with the weights at model creation.
// CHECK-LABEL: func.func @scale
// CHECK-DAG: %[[MUL:.*]] = arith.constant 2 : i32
// CHECK-DAG: %[[R1:.*]] = arith.constant 1 : i64
// CHECK: llvm.call @moe_cuda_cc_binary_f32(%{{.*}}, %[[MUL]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[R1]], %{{.*}}, %[[R1]], %[[R1]], %[[R1]], %{{.*}}
// CHECK-LABEL: func.func @__moe_cuda_preload
// CHECK: llvm.call @moe_cuda_cc_preload
func.func @scale(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %s = arith.constant dense<2.0> : tensor<16xf32>
  %y = onnx.mul %x, %s : (tensor<8x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// -----

// Sub and div take codes 1 and 3.
// CHECK-LABEL: func.func @sub_div
// CHECK-DAG: %[[SUB:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[DIV:.*]] = arith.constant 3 : i32
// CHECK: llvm.call @moe_cuda_cc_binary_f32(%{{.*}}, %[[SUB]],
// CHECK: llvm.call @moe_cuda_cc_binary_f32(%{{.*}}, %[[DIV]],
func.func @sub_div(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %d = onnx.sub %a, %b : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %q = onnx.div %d, %b : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %q : tensor<4xf32>
}

// -----

// Left for convert-onnx-to-linalg: integer ops (shape arithmetic) and
// ranks beyond the runtime's 4.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: moe_cuda_cc_binary_f32
// CHECK: onnx.add %arg0, %arg0 : (tensor<2xi64>, tensor<2xi64>)
// CHECK: onnx.mul %arg1, %arg1 : (tensor<1x2x3x4x5xf32>, tensor<1x2x3x4x5xf32>)
func.func @left_alone(%i: tensor<2xi64>, %x: tensor<1x2x3x4x5xf32>) -> (tensor<2xi64>, tensor<1x2x3x4x5xf32>) {
  %j = onnx.add %i, %i : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  %y = onnx.mul %x, %x : (tensor<1x2x3x4x5xf32>, tensor<1x2x3x4x5xf32>) -> tensor<1x2x3x4x5xf32>
  return %j, %y : tensor<2xi64>, tensor<1x2x3x4x5xf32>
}

// -----

// An RMS norm's pieces: pow (code 4) and the mean over the last axis
// (rows = the product of the other dims, cols = the last; keepdims gives
// the result its trailing 1), sqrt (unary code 1) over every element.
// CHECK-LABEL: func.func @rms_norm
// CHECK-DAG: %[[POW:.*]] = arith.constant 4 : i32
// CHECK-DAG: %[[SQRT:.*]] = arith.constant 1 : i32
// CHECK: llvm.call @moe_cuda_cc_binary_f32(%{{.*}}, %[[POW]],
// CHECK: %[[ROWS:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// CHECK: %[[ROWS64:.*]] = arith.index_cast %[[ROWS]] : index to i64
// CHECK: %[[MEAN:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?x1xf32>
// CHECK: llvm.call @moe_cuda_cc_mean_rows_f32(%{{.*}}, %{{.*}}, %[[ROWS64]], %{{.*}}, %{{.*}})
// CHECK: llvm.call @moe_cuda_cc_unary_f32(%{{.*}}, %[[SQRT]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK-NOT: = onnx.
func.func @rms_norm(%x: tensor<?x?x16xf32>) -> tensor<?x?x1xf32> {
  %two = arith.constant dense<2.0> : tensor<f32>
  %p = onnx.pow %x, %two : (tensor<?x?x16xf32>, tensor<f32>) -> tensor<?x?x16xf32>
  %m = onnx.reduce_mean %p {axes = array<i64: 2>, keepdims = true} : tensor<?x?x16xf32> -> tensor<?x?x1xf32>
  %r = onnx.sqrt %m : tensor<?x?x1xf32>
  return %r : tensor<?x?x1xf32>
}

// -----

// Means over other axes stay host code.
// CHECK-LABEL: func.func @mean_first_axis
// CHECK-NOT: moe_cuda_cc_mean_rows_f32
// CHECK: onnx.reduce_mean
func.func @mean_first_axis(%x: tensor<4x16xf32>) -> tensor<16xf32> {
  %m = onnx.reduce_mean %x {axes = array<i64: 0>, keepdims = false} : tensor<4x16xf32> -> tensor<16xf32>
  return %m : tensor<16xf32>
}

// -----

// The casts around a float16 layer (moe-widen-half): f16 -> f32 (kind 0)
// and back (kind 1) are CUDA calls; a cast of constant weights is left for
// moe-fold-weights (widened at compile time, not every run).
// CHECK-LABEL: func.func @half_casts
// CHECK-DAG: %[[WIDEN:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[NARROW:.*]] = arith.constant 1 : i32
// CHECK: llvm.call @moe_cuda_cc_cast(%{{.*}}, %[[WIDEN]],
// CHECK: onnx.cast %{{.*}} : tensor<2x4xf16> to tensor<2x4xf32>
// CHECK: llvm.call @moe_cuda_cc_cast(%{{.*}}, %[[NARROW]],
func.func @half_casts(%x: tensor<?x4xf16>) -> (tensor<?x4xf16>, tensor<2x4xf32>) {
  %w = arith.constant dense<1.0> : tensor<4x2xf16>
  %e = tensor.empty() : tensor<2x4xf16>
  %t = linalg.transpose ins(%w : tensor<4x2xf16>) outs(%e : tensor<2x4xf16>) permutation = [1, 0]
  %x32 = onnx.cast %x : tensor<?x4xf16> to tensor<?x4xf32>
  %w32 = onnx.cast %t : tensor<2x4xf16> to tensor<2x4xf32>
  %y = onnx.cast %x32 : tensor<?x4xf32> to tensor<?x4xf16>
  return %y, %w32 : tensor<?x4xf16>, tensor<2x4xf32>
}

// -----

// Integer graph inputs converted to f32 (HF's rotary embedding casts its
// position_ids, unsqueezed first): int64 kind 4, int32 kind 5, so that
// the input can stay on the device. A cast of shape arithmetic (a rotary
// range's bound from a dim) is host work: left as it is.
// CHECK-LABEL: func.func @integer_casts
// CHECK-DAG: %[[I64:.*]] = arith.constant 4 : i32
// CHECK-DAG: %[[I32:.*]] = arith.constant 5 : i32
// CHECK: llvm.call @moe_cuda_cc_cast(%{{.*}}, %[[I64]],
// CHECK: llvm.call @moe_cuda_cc_cast(%{{.*}}, %[[I32]],
// CHECK: onnx.cast %{{.*}} : tensor<i64> to tensor<f32>
func.func @integer_casts(%ids: tensor<?x?xi64>, %mask: tensor<?xi32>)
    -> (tensor<?x1x?xf32>, tensor<?xf32>, tensor<f32>) {
  %u = onnx.unsqueeze %ids {axes = array<i64: 1>} : tensor<?x?xi64> -> tensor<?x1x?xi64>
  %p = onnx.cast %u : tensor<?x1x?xi64> to tensor<?x1x?xf32>
  %m = onnx.cast %mask : tensor<?xi32> to tensor<?xf32>
  %shape = onnx.shape %ids {end = 2 : i64, start = 1 : i64} : tensor<?x?xi64> -> tensor<1xi64>
  %zero = arith.constant dense<0> : tensor<i64>
  %len = onnx.gather %shape, %zero {axis = 0 : i64} : (tensor<1xi64>, tensor<i64>) -> tensor<i64>
  %f = onnx.cast %len : tensor<i64> to tensor<f32>
  return %p, %m, %f : tensor<?x1x?xf32>, tensor<?xf32>, tensor<f32>
}

// -----

// A scalar computed from shapes and constants (torch's attention scale,
// 1 / sqrt(head_dim) from q's shape) is host arithmetic: its sqrt and div
// stay onnx ops (no CUDA call would have anything to do but copy it
// across); the same ops on a graph input's data are calls.
// CHECK-LABEL: func.func @shape_scalar
// CHECK: onnx.sqrt
// CHECK: onnx.div
// CHECK-NOT: llvm.call @moe_cuda_cc_unary_f32
// CHECK-NOT: llvm.call @moe_cuda_cc_binary_f32
// CHECK-LABEL: func.func @data_scalar
// CHECK: llvm.call @moe_cuda_cc_unary_f32
// CHECK: llvm.call @moe_cuda_cc_binary_f32
func.func @shape_scalar(%q: tensor<?x8xf32>) -> tensor<1xf32> {
  %shape = onnx.shape %q {end = 2 : i64, start = 1 : i64} : tensor<?x8xf32> -> tensor<1xi64>
  %d = onnx.cast %shape : tensor<1xi64> to tensor<1xf32>
  %sd = onnx.sqrt %d : tensor<1xf32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %scale = onnx.div %one, %sd : (tensor<f32>, tensor<1xf32>) -> tensor<1xf32>
  return %scale : tensor<1xf32>
}

func.func @data_scalar(%x: tensor<1xf32>) -> tensor<1xf32> {
  %sx = onnx.sqrt %x : tensor<1xf32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %y = onnx.div %one, %sx : (tensor<f32>, tensor<1xf32>) -> tensor<1xf32>
  return %y : tensor<1xf32>
}
