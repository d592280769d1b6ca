// RUN: moe-opt %s -convert-elementwise-to-cuda -split-input-file | FileCheck %s
// RUN: moe-opt %s -convert-elementwise-to-cuda="weight-type=bf16" -split-input-file | FileCheck %s --check-prefix=BF16
// RUN: moe-opt %s -convert-elementwise-to-cuda="weight-type=f16" -split-input-file | FileCheck %s --check-prefix=F16
// RUN: not moe-opt %s -convert-elementwise-to-cuda="weight-type=int4" -split-input-file 2>&1 | FileCheck %s --check-prefix=BADTYPE
// BADTYPE: error: weight-type must be f32, bf16 or f16, not 'int4'

// Before: an attention block's onnx.matmul, gemm, softmax and transpose.
// After: moe_cuda_cc_matmul_f32 (trans_a, trans_b, alpha, each operand's
// and the result's buffer: rank and dims padded to 4 with 1s, then the
// view the GEMM reads or writes - 0, 1, .. for the buffer as it is),
// _softmax_f32 (rows, cols) and _transpose_f32 (rank, dims, perm) calls.

// A projection: [B, S, 16] times a constant [16, 8] weight, preloaded with
// the weights at model creation; the result [B, S, 8].
// CHECK-LABEL: func.func @projection
// CHECK-DAG: %[[NO:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[ALPHA:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[R3:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[R2:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : i64
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK: %[[B:.*]] = tensor.dim %arg0, %c0
// CHECK-NEXT: %[[S:.*]] = tensor.dim %arg0, %c1
// CHECK-NOT: tensor.dim %arg0
// CHECK: %[[OUT:.*]] = memref.alloc(%[[B]], %[[S]]) : memref<?x?x8xf32>
// CHECK: %[[STATUS:.*]] = llvm.call @moe_cuda_cc_matmul_f32(%{{.*}}, %[[NO]], %[[NO]], %[[ALPHA]], %{{.*}}, %[[R3]], %{{.*}}, %{{.*}}, %[[C16]], %[[ONE]], %[[Z:.*]], %[[ONE]], %[[R2]], %[[Z]], %{{.*}}, %[[R2]], %[[C16]], %[[C8]], %[[ONE]], %[[ONE]], %[[Z]], %[[ONE]], %[[Z]], %[[Z]], %[[R3]], %{{.*}}, %{{.*}}, %[[C8]], %[[ONE]], %[[Z]], %[[ONE]], %[[R2]], %[[Z]], %{{.*}})
// CHECK: llvm.call @moe_cc_check_status_detail(%[[STATUS]]
// CHECK: %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict
// CHECK: return %[[Y]]
// CHECK-NOT: = onnx.matmul
// CHECK-LABEL: func.func @__moe_cuda_preload
// CHECK: llvm.call @moe_cuda_cc_preload
// With 16-bit weight storage the weight is converted at compile time and
// the call takes it as such (the activations rounded on the device).
// BF16-LABEL: func.func @projection
// BF16: %[[W:.*]] = arith.constant dense_resource<moe_weights_bf16> : tensor<16x8xbf16>
// BF16: bufferization.to_buffer %[[W]] read_only : tensor<16x8xbf16>
// BF16: llvm.call @moe_cuda_cc_matmul_bf16w(
// BF16-NOT: moe_cuda_cc_matmul_f32(
// BF16-LABEL: func.func @__moe_cuda_preload
// F16-LABEL: func.func @projection
// F16: arith.constant dense_resource<moe_weights_f16> : tensor<16x8xf16>
// F16: llvm.call @moe_cuda_cc_matmul_f16w(
func.func @projection(%x: tensor<?x?x16xf32>) -> tensor<?x?x8xf32> {
  %w = arith.constant dense<0.5> : tensor<16x8xf32>
  %y = onnx.matmul %x, %w : (tensor<?x?x16xf32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// Attention scores: q . k^T divided by sqrt(head_dim) = 4 is one call with
// alpha 0.25 (no pass of its own for the division); the result's batch dim
// numpy's (q's unless it is 1); then the softmax over the last axis, rows
// the product of the leading dims. A failure names the matmul.
// CHECK-LABEL: func.func @scores
// CHECK-DAG: %[[QUARTER:.*]] = arith.constant 2.500000e-01 : f32
// CHECK: %[[QB:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[KB:.*]] = tensor.dim %arg1, %c0
// CHECK-NEXT: tensor.dim %arg1, %c3
// CHECK: %[[ISONE:.*]] = arith.cmpi eq, %[[QB]], %c1
// CHECK-NEXT: %[[BATCH:.*]] = arith.select %[[ISONE]], %[[KB]], %[[QB]]
// CHECK: memref.alloc(%[[BATCH]], %{{.*}}, %{{.*}}) : memref<?x2x?x?xf32>
// CHECK: llvm.call @moe_cuda_cc_matmul_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[QUARTER]],
// CHECK-NOT: onnx.div
// CHECK: %[[D0:.*]] = tensor.dim %[[SCORES:.*]], %c0
// CHECK: %[[D2:.*]] = tensor.dim %[[SCORES]], %c2
// CHECK: %[[D3:.*]] = tensor.dim %[[SCORES]], %c3
// CHECK: %[[R:.*]] = arith.muli %[[D0]], %c2
// CHECK: %[[ROWS:.*]] = arith.muli %[[R]], %[[D2]]
// CHECK: %[[ROWS64:.*]] = arith.index_cast %[[ROWS]] : index to i64
// CHECK: %[[COLS64:.*]] = arith.index_cast %[[D3]] : index to i64
// CHECK: llvm.call @moe_cuda_cc_softmax_f32(%{{.*}}, %{{.*}}, %[[ROWS64]], %[[COLS64]], %{{.*}})
// CHECK-NOT: = onnx.softmax
// CHECK: ("onnx.matmul (its operands' shapes must multiply) (moe_cuda_cc_matmul_f32)\00")
// A product of two activations has no weight to store: f32 either way.
// BF16-LABEL: func.func @scores
// BF16: llvm.call @moe_cuda_cc_matmul_f32(
func.func @scores(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32> {
  %s = onnx.matmul %q, %k : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %c = arith.constant dense<4.0> : tensor<f32>
  %d = onnx.div %s, %c : (tensor<?x2x?x?xf32>, tensor<f32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %d {axis = 3 : i64} : tensor<?x2x?x?xf32>
  return %p : tensor<?x2x?x?xf32>
}

// -----

// Scores plus torch's causal mask (a -inf fill of [T, T], its upper
// triangle from k = 1 kept by Trilu) then the softmax: one softmax call
// with the scores' matrix rows and k, the mask's dims (read from its shape
// operand, checked by the runtime) - no fill, no Trilu, no add.
// CHECK-LABEL: func.func @causal
// CHECK-DAG: %[[K:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[MROWS:.*]] = tensor.dim %arg0, %c2
// CHECK: %[[MROWS64:.*]] = arith.index_cast %[[MROWS]] : index to i64
// CHECK: %[[R:.*]] = tensor.extract %arg1[%[[C0]]] : tensor<2xi64>
// CHECK: %[[C:.*]] = tensor.extract %arg1[%[[C1]]] : tensor<2xi64>
// CHECK: llvm.call @moe_cuda_cc_softmax_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[MROWS64]], %[[K]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK-NOT: = onnx.
// CHECK-NOT: moe_cuda_cc_binary_f32
// CHECK: return
func.func @causal(%s: tensor<?x2x?x?xf32>, %shape: tensor<2xi64>) -> tensor<?x2x?x?xf32> {
  %f = onnx.constant_of_shape %shape {value = 0xFF800000 : f32} : (tensor<2xi64>) -> tensor<?x?xf32>
  %k = arith.constant dense<1> : tensor<i64>
  %m = onnx.trilu %f, %k : (tensor<?x?xf32>, tensor<i64>) -> tensor<?x?xf32>
  %a = onnx.add %s, %m : (tensor<?x2x?x?xf32>, tensor<?x?xf32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %a {axis = 3 : i64} : tensor<?x2x?x?xf32>
  return %p : tensor<?x2x?x?xf32>
}

// -----

// With a KV cache the diagonal is the cache's length + 1, a run-time
// value: read from k's tensor and passed as it is.
// CHECK-LABEL: func.func @causal_cached
// CHECK: %[[K:.*]] = tensor.extract %arg2[] : tensor<i64>
// CHECK: llvm.call @moe_cuda_cc_softmax_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[K]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK-NOT: = onnx.
func.func @causal_cached(%s: tensor<?x2x?x?xf32>, %shape: tensor<2xi64>, %k: tensor<i64>) -> tensor<?x2x?x?xf32> {
  %f = onnx.constant_of_shape %shape {value = 0xFF800000 : f32} : (tensor<2xi64>) -> tensor<?x?xf32>
  %m = onnx.trilu %f, %k : (tensor<?x?xf32>, tensor<i64>) -> tensor<?x?xf32>
  %a = onnx.add %m, %s : (tensor<?x?xf32>, tensor<?x2x?x?xf32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %a {axis = 3 : i64} : tensor<?x2x?x?xf32>
  return %p : tensor<?x2x?x?xf32>
}

// -----

// Not a causal mask: the lower triangle kept, a fill that is not -inf, a
// sum the graph reads too. Each is a mask add (a binary call) and a plain
// softmax call (matrix rows 0).
// CHECK-LABEL: func.func @not_causal
// CHECK: onnx.trilu %{{.*}}, %{{.*}} {upper = false}
// CHECK: llvm.call @moe_cuda_cc_binary_f32
// CHECK: llvm.call @moe_cuda_cc_softmax_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[NONE:.*]], %[[NONE]], %[[NONE]], %[[NONE]], %{{.*}})
// CHECK: onnx.trilu %{{.*}}, %{{.*}} :
// CHECK: llvm.call @moe_cuda_cc_binary_f32
// CHECK: llvm.call @moe_cuda_cc_softmax_f32
// CHECK: onnx.trilu %{{.*}}, %{{.*}} :
// CHECK: llvm.call @moe_cuda_cc_binary_f32
// CHECK: llvm.call @moe_cuda_cc_softmax_f32
func.func @not_causal(%s: tensor<2x4x4xf32>, %shape: tensor<2xi64>) -> (tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>) {
  %f = onnx.constant_of_shape %shape {value = 0xFF800000 : f32} : (tensor<2xi64>) -> tensor<?x?xf32>
  %k = arith.constant dense<1> : tensor<1xi64>
  %lower = onnx.trilu %f, %k {upper = false} : (tensor<?x?xf32>, tensor<1xi64>) -> tensor<?x?xf32>
  %a = onnx.add %s, %lower : (tensor<2x4x4xf32>, tensor<?x?xf32>) -> tensor<2x4x4xf32>
  %p = onnx.softmax %a {axis = 2 : i64} : tensor<2x4x4xf32>
  %g = onnx.constant_of_shape %shape {value = -1.0e4 : f32} : (tensor<2xi64>) -> tensor<?x?xf32>
  %big = onnx.trilu %g, %k : (tensor<?x?xf32>, tensor<1xi64>) -> tensor<?x?xf32>
  %b = onnx.add %s, %big : (tensor<2x4x4xf32>, tensor<?x?xf32>) -> tensor<2x4x4xf32>
  %q = onnx.softmax %b {axis = 2 : i64} : tensor<2x4x4xf32>
  %causal = onnx.trilu %f, %k : (tensor<?x?xf32>, tensor<1xi64>) -> tensor<?x?xf32>
  %c = onnx.add %s, %causal : (tensor<2x4x4xf32>, tensor<?x?xf32>) -> tensor<2x4x4xf32>
  %r = onnx.softmax %c {axis = 2 : i64} : tensor<2x4x4xf32>
  return %p, %q, %r, %c : tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>
}

// -----

// A scalar constant times a matmul, on either side: alpha 0.5.
// CHECK-LABEL: func.func @scaled_mul
// CHECK-DAG: %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: llvm.call @moe_cuda_cc_matmul_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[HALF]],
// CHECK-NOT: moe_cuda_cc_binary_f32
// CHECK: return
func.func @scaled_mul(%a: tensor<4x5x6xf32>, %b: tensor<6x7xf32>) -> tensor<4x5x7xf32> {
  %c = arith.constant dense<0.5> : tensor<1xf32>
  %s = onnx.matmul %a, %b : (tensor<4x5x6xf32>, tensor<6x7xf32>) -> tensor<4x5x7xf32>
  %y = onnx.mul %c, %s : (tensor<1xf32>, tensor<4x5x7xf32>) -> tensor<4x5x7xf32>
  return %y : tensor<4x5x7xf32>
}

// -----

// Gemm {trans_b, alpha 2}: the matmul with trans_b 1 and alpha 2, its bias
// a binary add (op code 0) of the product and the [8] constant.
// CHECK-LABEL: func.func @gemm
// CHECK-DAG: %[[NO:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[YES:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[TWO:.*]] = arith.constant 2.000000e+00 : f32
// CHECK: %[[STATUS:.*]] = llvm.call @moe_cuda_cc_matmul_f32(%{{.*}}, %[[NO]], %[[YES]], %[[TWO]],
// CHECK: llvm.call @moe_cc_check_status_detail(%[[STATUS]]
// CHECK: %[[PRODUCT:.*]] = bufferization.to_tensor
// CHECK: tensor.dim %[[PRODUCT]], %c0
// CHECK: llvm.call @moe_cuda_cc_binary_f32(%{{.*}}, %[[NO]],
// CHECK-NOT: = onnx.gemm
// CHECK-NOT: = onnx.add
func.func @gemm(%a: tensor<?x16xf32>) -> tensor<?x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x16xf32>
  %bias = arith.constant dense<1.0> : tensor<8xf32>
  %y = onnx.gemm %a, %w, %bias {trans_b, alpha = 2.0 : f32} : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Heads split: [B, S, 2, 8] to [B, 2, S, 8]: rank 4, x's dims, the perm;
// the result's dims x's permuted.
// CHECK-LABEL: func.func @heads
// CHECK-DAG: %[[R4:.*]] = arith.constant 4 : i64
// CHECK-DAG: %[[P0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[P1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[P2:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[P3:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : i64
// CHECK: %[[B:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[S:.*]] = tensor.dim %arg0, %c1
// CHECK: %[[B64:.*]] = arith.index_cast %[[B]]
// CHECK: %[[S64:.*]] = arith.index_cast %[[S]]
// CHECK: memref.alloc(%[[B]], %[[S]]) : memref<?x2x?x8xf32>
// CHECK: llvm.call @moe_cuda_cc_transpose_f32(%{{.*}}, %{{.*}}, %[[R4]], %[[B64]], %[[S64]], %[[P2]], %[[C8]], %[[P0]], %[[P2]], %[[P1]], %[[P3]], %{{.*}})
// CHECK-NOT: = onnx.transpose
func.func @heads(%x: tensor<?x?x2x8xf32>) -> tensor<?x2x?x8xf32> {
  %y = onnx.transpose %x {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x8xf32> -> tensor<?x2x?x8xf32>
  return %y : tensor<?x2x?x8xf32>
}

// -----

// Near misses, left for convert-onnx-to-linalg: a softmax over another
// axis, a transpose of a constant (moe-fold-weights' job), a 16-bit
// matmul, a Gemm whose bias is scaled (beta 0.5), a rank-5 transpose. A
// scale of a matmul with another user stays a binary op of its own.
// CHECK-LABEL: func.func @left_alone
// CHECK: onnx.softmax %arg0 {axis = 1 : i64}
// CHECK: onnx.transpose %{{.*}} {perm = array<i64: 1, 0>} : tensor<3x4xf32>
// CHECK: onnx.matmul %arg1, %arg2 : (tensor<2x4xf16>, tensor<4x2xf16>)
// CHECK: onnx.gemm %arg3, %arg3, %arg4 {beta = 5.000000e-01 : f32, trans_a}
// CHECK: onnx.transpose %arg5 {perm = array<i64: 4, 3, 2, 1, 0>}
// CHECK-NOT: = onnx.
// CHECK-LABEL: func.func @shared_product
// CHECK: %[[STATUS:.*]] = llvm.call @moe_cuda_cc_matmul_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[ONE:.*]],
// CHECK: llvm.call @moe_cuda_cc_binary_f32
func.func @left_alone(%x: tensor<2x3x4xf32>, %h: tensor<2x4xf16>, %h2: tensor<4x2xf16>, %s: tensor<3x4xf32>, %c: tensor<4x4xf32>, %r: tensor<1x2x3x4x5xf32>) -> (tensor<2x3x4xf32>, tensor<4x3xf32>, tensor<2x2xf16>, tensor<4x4xf32>, tensor<5x4x3x2x1xf32>) {
  %p = onnx.softmax %x {axis = 1 : i64} : tensor<2x3x4xf32>
  %w = arith.constant dense<0.5> : tensor<3x4xf32>
  %t = onnx.transpose %w {perm = array<i64: 1, 0>} : tensor<3x4xf32> -> tensor<4x3xf32>
  %m = onnx.matmul %h, %h2 : (tensor<2x4xf16>, tensor<4x2xf16>) -> tensor<2x2xf16>
  %g = onnx.gemm %s, %s, %c {trans_a, beta = 0.5 : f32} : (tensor<3x4xf32>, tensor<3x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  %u = onnx.transpose %r {perm = array<i64: 4, 3, 2, 1, 0>} : tensor<1x2x3x4x5xf32> -> tensor<5x4x3x2x1xf32>
  return %p, %t, %m, %g, %u : tensor<2x3x4xf32>, tensor<4x3xf32>, tensor<2x2xf16>, tensor<4x4xf32>, tensor<5x4x3x2x1xf32>
}

func.func @shared_product(%a: tensor<4x6xf32>, %b: tensor<6x7xf32>) -> (tensor<4x7xf32>, tensor<4x7xf32>) {
  %s = onnx.matmul %a, %b : (tensor<4x6xf32>, tensor<6x7xf32>) -> tensor<4x7xf32>
  %c = arith.constant dense<4.0> : tensor<f32>
  %d = onnx.div %s, %c : (tensor<4x7xf32>, tensor<f32>) -> tensor<4x7xf32>
  return %s, %d : tensor<4x7xf32>, tensor<4x7xf32>
}

// -----

// A weight beyond fp16's range (65504) keeps f32 under weight-type=f16;
// bf16 has f32's range.
// F16-LABEL: func.func @big_weight
// F16: llvm.call @moe_cuda_cc_matmul_f32(
// BF16-LABEL: func.func @big_weight
// BF16: llvm.call @moe_cuda_cc_matmul_bf16w(
func.func @big_weight(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<1.0e5> : tensor<4x4xf32>
  %y = onnx.matmul %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// Rotary embeddings' rotate_half: slices along the last axis (bounds read
// at run time, clamped as ONNX's: [rows = B * 2 * S, cols = 8], the start
// and width in elements), a neg, and a concat of the two halves (2
// inputs, each with its rows and width; the other two slots null); their
// tables' f32 range (its scalars read on the host, the count computed by
// ONNX's rule) and the outer product of positions and frequencies (a
// binary mul reading them as [n, 1] and [1, 4]).
// CHECK-LABEL: func.func @rotary
// CHECK-DAG: %[[MUL:.*]] = arith.constant 2 : i32
// CHECK-DAG: %[[TWO:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[COLS:.*]] = arith.constant 8 : i64
// CHECK: %[[START:.*]] = tensor.extract %arg1[%{{.*}}] : tensor<1xi64>
// CHECK: llvm.call @moe_cuda_cc_slice_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[COLS]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK: llvm.call @moe_cuda_cc_slice_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[COLS]], %c0_i64, %{{.*}}, %{{.*}})
// CHECK: llvm.call @moe_cuda_cc_unary_f32
// CHECK: llvm.call @moe_cuda_cc_concat_f32(%{{.*}}, %[[TWO]], %c3_i64, %{{.*}}, %c4_i64, %{{.*}}, %[[TWO]], %{{.*}}, %{{.*}}, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %{{.*}}, %c4_i64, %{{.*}}, %[[TWO]], %{{.*}}, %{{.*}}, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %[[NULL:.*]], %c0_i64, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %[[NULL]], %c0_i64, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %{{.*}})
// CHECK: %[[LIMIT:.*]] = tensor.extract %arg2[] : tensor<f32>
// CHECK: math.ceil
// CHECK: llvm.call @moe_cuda_cc_range_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (i32, f32, f32, i64, !llvm.ptr)
// CHECK: llvm.call @moe_cuda_cc_binary_f32(%{{.*}}, %[[MUL]], %{{.*}}, %[[TWO]], %{{.*}}, %c1_i64, %c1_i64, %c1_i64, %{{.*}}, %[[TWO]], %c1_i64, %c4_i64,
// CHECK-NOT: = onnx.
func.func @rotary(%q: tensor<?x2x?x8xf32>, %half: tensor<1xi64>, %t: tensor<f32>, %f: tensor<4xf32>) -> (tensor<?x2x?x?xf32>, tensor<?x4xf32>) {
  %hi = onnx.slice %q starts %half {axes = array<i64: 3>, ends = array<i64: 9223372036854775807>, steps = array<i64: 1>} : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x?x?xf32>
  %lo = onnx.slice %q ends %half {axes = array<i64: 3>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x?x?xf32>
  %n = onnx.neg %hi : tensor<?x2x?x?xf32>
  %r = onnx.concat %n, %lo {axis = 3 : i64} : (tensor<?x2x?x?xf32>, tensor<?x2x?x?xf32>) -> tensor<?x2x?x?xf32>
  %zero = arith.constant dense<0.0> : tensor<f32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %pos = onnx.range %zero, %t, %one : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<?xf32>
  %freqs = onnx.einsum %pos, %f {equation = "i,j->ij"} : (tensor<?xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return %r, %freqs : tensor<?x2x?x?xf32>, tensor<?x4xf32>
}

// -----

// Near misses, left for convert-onnx-to-linalg: a slice with a step of 2,
// a slice of two axes, a concat of 5 inputs, an i64 range (shape
// arithmetic), an einsum that is not an outer product.
// CHECK-LABEL: func.func @data_left_alone
// CHECK: onnx.slice %arg0 {axes = array<i64: 1>
// CHECK: onnx.slice %arg0 {axes = array<i64: 0, 1>
// CHECK: onnx.concat %arg0, %arg0, %arg0, %arg0, %arg0
// CHECK: onnx.range
// CHECK: onnx.einsum %arg0, %arg0 {equation = "ij,jk->ik"}
// CHECK-NOT: llvm.call @moe_cuda_cc
func.func @data_left_alone(%x: tensor<4x4xf32>, %n: tensor<i64>) -> (tensor<4x2xf32>, tensor<2x2xf32>, tensor<4x20xf32>, tensor<?xi64>, tensor<4x4xf32>) {
  %a = onnx.slice %x {axes = array<i64: 1>, starts = array<i64: 0>, ends = array<i64: 4>, steps = array<i64: 2>} : (tensor<4x4xf32>) -> tensor<4x2xf32>
  %b = onnx.slice %x {axes = array<i64: 0, 1>, starts = array<i64: 0, 0>, ends = array<i64: 2, 2>, steps = array<i64: 1, 1>} : (tensor<4x4xf32>) -> tensor<2x2xf32>
  %c = onnx.concat %x, %x, %x, %x, %x {axis = 1 : i64} : (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x20xf32>
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %r = onnx.range %zero, %n, %one : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %e = onnx.einsum %x, %x {equation = "ij,jk->ik"} : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  return %a, %b, %c, %r, %e : tensor<4x2xf32>, tensor<2x2xf32>, tensor<4x20xf32>, tensor<?xi64>, tensor<4x4xf32>
}

// -----

// Grouped-query attention's repeat_kv: [B, 2, 1, S, 8] expanded to
// [B, 2, R, S, 8]: the dims grouped into runs copied (B*2), repeated (R)
// and copied (S*8) - rank 3 for the call, x's repeated run a 1; R read
// from the shape operand (the larger of it and x's 1).
// CHECK-LABEL: func.func @repeat_kv
// CHECK-DAG: %[[R3:.*]] = arith.constant 3 : i64
// CHECK: %[[REP:.*]] = tensor.extract %arg1[%c2] : tensor<5xi64>
// CHECK: llvm.call @moe_cuda_cc_expand_f32(%{{.*}}, %{{.*}}, %[[R3]], %{{.*}}, %c1_i64, %{{.*}}, %c1_i64, %{{.*}}, %{{.*}}, %{{.*}}, %c1_i64, %{{.*}})
// CHECK-NOT: = onnx.expand
// A fifth run (x [2, 1, 3, 1, 4]: copy, repeat, copy, repeat, copy) is
// beyond the call's 4 dims: left for convert-onnx-to-linalg.
// CHECK-LABEL: func.func @five_runs
// CHECK: onnx.expand
func.func @repeat_kv(%k: tensor<?x2x1x?x8xf32>, %shape: tensor<5xi64>) -> tensor<?x2x?x?x8xf32> {
  %y = onnx.expand %k, %shape : (tensor<?x2x1x?x8xf32>, tensor<5xi64>) -> tensor<?x2x?x?x8xf32>
  return %y : tensor<?x2x?x?x8xf32>
}

func.func @five_runs(%x: tensor<2x1x3x1x4xf32>, %shape: tensor<5xi64>) -> tensor<2x2x3x2x4xf32> {
  %y = onnx.expand %x, %shape : (tensor<2x1x3x1x4xf32>, tensor<5xi64>) -> tensor<2x2x3x2x4xf32>
  return %y : tensor<2x2x3x2x4xf32>
}

// -----

// A constant expanded to a run-time shape (HF's rotary embedding: inv_freq
// [1, 2, 1] to the batch of position_ids) is a call reading the constant
// uploaded once at creation; to a constant shape it is left for folding.
// CHECK-LABEL: func.func @constant_to_batch
// CHECK: llvm.call @moe_cuda_cc_expand_f32(
// CHECK-LABEL: func.func @constant_shape
// CHECK: onnx.expand
// CHECK-LABEL: func.func @__moe_cuda_preload
// CHECK: llvm.call @moe_cuda_cc_preload
func.func @constant_to_batch(%shape: tensor<3xi64>) -> tensor<?x2x1xf32> {
  %inv = arith.constant dense<[[[1.0], [0.5]]]> : tensor<1x2x1xf32>
  %y = onnx.expand %inv, %shape : (tensor<1x2x1xf32>, tensor<3xi64>) -> tensor<?x2x1xf32>
  return %y : tensor<?x2x1xf32>
}

func.func @constant_shape() -> tensor<3x2x1xf32> {
  %inv = arith.constant dense<[[[1.0], [0.5]]]> : tensor<1x2x1xf32>
  %shape = arith.constant dense<[3, 1, 1]> : tensor<3xi64>
  %y = onnx.expand %inv, %shape : (tensor<1x2x1xf32>, tensor<3xi64>) -> tensor<3x2x1xf32>
  return %y : tensor<3x2x1xf32>
}

// -----

// A rotary embedding, q * cos + rotate_half(q) * sin: one call for the
// seven ops - q (rank 4, its dims, the view 0, 1, 2, 3: q as it is), the
// tables (rank 2: [S, 8]), then
// the negated half's first column and width, the kept half's (the slices'
// bounds clamped as ONNX's); the result has q's dims. Either operand
// order of the muls and the add (the second with tables of its own: two
// calls).
// CHECK-LABEL: func.func @rotary_fused
// CHECK-DAG: %[[R4:.*]] = arith.constant 4 : i64
// CHECK-DAG: %[[R2:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : i64
// CHECK: %[[B:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[S:.*]] = tensor.dim %arg0, %c2
// CHECK: %[[HALF:.*]] = tensor.extract %arg3[%{{.*}}] : tensor<1xi64>
// CHECK: memref.alloc(%[[B]], %[[S]]) : memref<?x2x?x8xf32>
// CHECK: llvm.call @moe_cuda_cc_rotary_f32(%{{.*}}, %{{.*}}, %[[R4]], %{{.*}}, %c2_i64, %{{.*}}, %[[C8]], %c0_i64, %c1_i64, %c2_i64, %c3_i64, %{{.*}}, %[[R2]], %{{.*}}, %[[C8]], %c1_i64, %c1_i64, %{{.*}}, %[[R2]], %{{.*}}, %[[C8]], %c1_i64, %c1_i64, %{{.*}}, %{{.*}}, %c0_i64, %{{.*}}, %{{.*}})
// CHECK-NOT: = onnx.
// CHECK: llvm.call @moe_cuda_cc_rotary_f32(
// CHECK-NOT: = onnx.
// CHECK: ("onnx.add (rotary tables must broadcast to x's shape, its halves make up x's last dim) (moe_cuda_cc_rotary_f32)\00")
func.func @rotary_fused(%q: tensor<?x2x?x8xf32>, %cos: tensor<?x8xf32>, %sin: tensor<?x8xf32>, %half: tensor<1xi64>, %cos2: tensor<?x8xf32>, %sin2: tensor<?x8xf32>) -> (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) {
  %hi = onnx.slice %q starts %half {axes = array<i64: 3>, ends = array<i64: 9223372036854775807>, steps = array<i64: 1>} : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x?x?xf32>
  %lo = onnx.slice %q ends %half {axes = array<i64: 3>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x?x?xf32>
  %n = onnx.neg %hi : tensor<?x2x?x?xf32>
  %r = onnx.concat %n, %lo {axis = 3 : i64} : (tensor<?x2x?x?xf32>, tensor<?x2x?x?xf32>) -> tensor<?x2x?x?xf32>
  %a = onnx.mul %q, %cos : (tensor<?x2x?x8xf32>, tensor<?x8xf32>) -> tensor<?x2x?x8xf32>
  %b = onnx.mul %r, %sin : (tensor<?x2x?x?xf32>, tensor<?x8xf32>) -> tensor<?x2x?x8xf32>
  %y = onnx.add %a, %b : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  %a2 = onnx.mul %cos2, %q : (tensor<?x8xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  %b2 = onnx.mul %sin2, %r : (tensor<?x8xf32>, tensor<?x2x?x?xf32>) -> tensor<?x2x?x8xf32>
  %y2 = onnx.add %b2, %a2 : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  return %y, %y2 : tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>
}

// -----

// The heads' transpose before a rotary embedding ([b, s, 2, 8] -> [b, 2,
// s, 8]) read in place: the call takes q's buffer and the view 0, 2, 1, 3;
// no transpose call (its shape, for the halves, read from its input).
// CHECK-LABEL: func.func @rotary_of_heads
// CHECK-NOT: moe_cuda_cc_transpose_f32(
// CHECK: llvm.call @moe_cuda_cc_rotary_f32(%{{.*}}, %{{.*}}, %c4_i64, %{{.*}}, %{{.*}}, %c2_i64, %c8_i64, %c0_i64, %c2_i64, %c1_i64, %c3_i64,
// CHECK-NOT: moe_cuda_cc_transpose_f32(
// CHECK-NOT: = onnx.
func.func @rotary_of_heads(%y: tensor<?x?x2x8xf32>, %cos: tensor<?x8xf32>, %sin: tensor<?x8xf32>, %two: tensor<i64>) -> tensor<?x2x?x8xf32> {
  %q = onnx.transpose %y {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x8xf32> -> tensor<?x2x?x8xf32>
  %shape = onnx.shape %q {start = 0 : i64, end = 4 : i64} : tensor<?x2x?x8xf32> -> tensor<4xi64>
  %last = arith.constant dense<3> : tensor<i64>
  %d = onnx.gather %shape, %last {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %h = onnx.div %d, %two : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %half = onnx.unsqueeze %h {axes = array<i64: 0>} : tensor<i64> -> tensor<1xi64>
  %hi = onnx.slice %q starts %half {axes = array<i64: 3>, ends = array<i64: 9223372036854775807>, steps = array<i64: 1>} : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x?x?xf32>
  %lo = onnx.slice %q ends %half {axes = array<i64: 3>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x?x?xf32>
  %n = onnx.neg %hi : tensor<?x2x?x?xf32>
  %r = onnx.concat %n, %lo {axis = 3 : i64} : (tensor<?x2x?x?xf32>, tensor<?x2x?x?xf32>) -> tensor<?x2x?x?xf32>
  %a = onnx.mul %q, %cos : (tensor<?x2x?x8xf32>, tensor<?x8xf32>) -> tensor<?x2x?x8xf32>
  %b = onnx.mul %r, %sin : (tensor<?x2x?x?xf32>, tensor<?x8xf32>) -> tensor<?x2x?x8xf32>
  %out = onnx.add %a, %b : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  return %out : tensor<?x2x?x8xf32>
}

// -----

// q's and k's rotary embeddings with the same tables (k with fewer heads):
// one moe_cuda_cc_rotary_pair_f32 call at k's add - q's buffer, rank,
// dims and view, then k's dims and view, the tables, the halves (q's,
// which a run-time check compares with k's: exporters compute each from
// its own shape), both results. With q's result read before k's add, a
// pair would move its call past that read: two calls.
// CHECK-LABEL: func.func @rotary_pair
// CHECK: arith.andi
// CHECK: llvm.call @moe_cc_check_status(
// CHECK: llvm.call @moe_cuda_cc_rotary_pair_f32(%{{.*}}, %{{.*}}, %c4_i64, %{{.*}}, %c4_i64, %{{.*}}, %c8_i64, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %{{.*}}, %{{.*}}, %c2_i64, %{{.*}}, %c8_i64, %c0_i64, %c1_i64, %c2_i64, %c3_i64,
// CHECK-NOT: moe_cuda_cc_rotary_f32(
// CHECK-LABEL: func.func @rotary_read_between
// CHECK: llvm.call @moe_cuda_cc_rotary_f32(
// CHECK: llvm.call @moe_cuda_cc_binary_f32(
// CHECK: llvm.call @moe_cuda_cc_rotary_f32(
// CHECK-NOT: moe_cuda_cc_rotary_pair_f32(
// CHECK: ("onnx.add (q's and k's rotate_half halves must agree)\00")
func.func @rotary_pair(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>, %cos: tensor<?x8xf32>, %sin: tensor<?x8xf32>, %hq: tensor<1xi64>, %hk: tensor<1xi64>) -> (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>) {
  %qhi = onnx.slice %q starts %hq {axes = array<i64: 3>, ends = array<i64: 9223372036854775807>, steps = array<i64: 1>} : (tensor<?x4x?x8xf32>, tensor<1xi64>) -> tensor<?x4x?x?xf32>
  %qlo = onnx.slice %q ends %hq {axes = array<i64: 3>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<?x4x?x8xf32>, tensor<1xi64>) -> tensor<?x4x?x?xf32>
  %qn = onnx.neg %qhi : tensor<?x4x?x?xf32>
  %qr = onnx.concat %qn, %qlo {axis = 3 : i64} : (tensor<?x4x?x?xf32>, tensor<?x4x?x?xf32>) -> tensor<?x4x?x?xf32>
  %qa = onnx.mul %q, %cos : (tensor<?x4x?x8xf32>, tensor<?x8xf32>) -> tensor<?x4x?x8xf32>
  %qb = onnx.mul %qr, %sin : (tensor<?x4x?x?xf32>, tensor<?x8xf32>) -> tensor<?x4x?x8xf32>
  %qy = onnx.add %qa, %qb : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>) -> tensor<?x4x?x8xf32>
  %khi = onnx.slice %k starts %hk {axes = array<i64: 3>, ends = array<i64: 9223372036854775807>, steps = array<i64: 1>} : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x?x?xf32>
  %klo = onnx.slice %k ends %hk {axes = array<i64: 3>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x?x?xf32>
  %kn = onnx.neg %khi : tensor<?x2x?x?xf32>
  %kr = onnx.concat %kn, %klo {axis = 3 : i64} : (tensor<?x2x?x?xf32>, tensor<?x2x?x?xf32>) -> tensor<?x2x?x?xf32>
  %ka = onnx.mul %k, %cos : (tensor<?x2x?x8xf32>, tensor<?x8xf32>) -> tensor<?x2x?x8xf32>
  %kb = onnx.mul %kr, %sin : (tensor<?x2x?x?xf32>, tensor<?x8xf32>) -> tensor<?x2x?x8xf32>
  %ky = onnx.add %ka, %kb : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  return %qy, %ky : tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>
}

func.func @rotary_read_between(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>, %cos: tensor<?x8xf32>, %sin: tensor<?x8xf32>, %h: tensor<1xi64>) -> (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>) {
  %qhi = onnx.slice %q starts %h {axes = array<i64: 3>, ends = array<i64: 9223372036854775807>, steps = array<i64: 1>} : (tensor<?x4x?x8xf32>, tensor<1xi64>) -> tensor<?x4x?x?xf32>
  %qlo = onnx.slice %q ends %h {axes = array<i64: 3>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<?x4x?x8xf32>, tensor<1xi64>) -> tensor<?x4x?x?xf32>
  %qn = onnx.neg %qhi : tensor<?x4x?x?xf32>
  %qr = onnx.concat %qn, %qlo {axis = 3 : i64} : (tensor<?x4x?x?xf32>, tensor<?x4x?x?xf32>) -> tensor<?x4x?x?xf32>
  %qa = onnx.mul %q, %cos : (tensor<?x4x?x8xf32>, tensor<?x8xf32>) -> tensor<?x4x?x8xf32>
  %qb = onnx.mul %qr, %sin : (tensor<?x4x?x?xf32>, tensor<?x8xf32>) -> tensor<?x4x?x8xf32>
  %qy = onnx.add %qa, %qb : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>) -> tensor<?x4x?x8xf32>
  %k2 = onnx.sub %k, %qy : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>) -> tensor<?x4x?x8xf32>
  %khi = onnx.slice %k2 starts %h {axes = array<i64: 3>, ends = array<i64: 9223372036854775807>, steps = array<i64: 1>} : (tensor<?x4x?x8xf32>, tensor<1xi64>) -> tensor<?x4x?x?xf32>
  %klo = onnx.slice %k2 ends %h {axes = array<i64: 3>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<?x4x?x8xf32>, tensor<1xi64>) -> tensor<?x4x?x?xf32>
  %kn = onnx.neg %khi : tensor<?x4x?x?xf32>
  %kr = onnx.concat %kn, %klo {axis = 3 : i64} : (tensor<?x4x?x?xf32>, tensor<?x4x?x?xf32>) -> tensor<?x4x?x?xf32>
  %ka = onnx.mul %k2, %cos : (tensor<?x4x?x8xf32>, tensor<?x8xf32>) -> tensor<?x4x?x8xf32>
  %kb = onnx.mul %kr, %sin : (tensor<?x4x?x?xf32>, tensor<?x8xf32>) -> tensor<?x4x?x8xf32>
  %ky = onnx.add %ka, %kb : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>) -> tensor<?x4x?x8xf32>
  return %qy, %ky : tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>
}

// -----

// Near misses, separate calls: the negated half second, halves of
// another tensor than the one the tables scale, halves along another axis.
// CHECK-LABEL: func.func @rotary_near_misses
// CHECK-NOT: moe_cuda_cc_rotary_f32
// CHECK: return
func.func @rotary_near_misses(%q: tensor<2x2x3x8xf32>, %k: tensor<2x2x3x8xf32>, %cos: tensor<3x8xf32>, %sin: tensor<3x8xf32>) -> (tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>) {
  %hi = onnx.slice %q {axes = array<i64: 3>, starts = array<i64: 4>, ends = array<i64: 8>, steps = array<i64: 1>} : (tensor<2x2x3x8xf32>) -> tensor<2x2x3x4xf32>
  %lo = onnx.slice %q {axes = array<i64: 3>, starts = array<i64: 0>, ends = array<i64: 4>, steps = array<i64: 1>} : (tensor<2x2x3x8xf32>) -> tensor<2x2x3x4xf32>
  %nhi1 = onnx.neg %hi : tensor<2x2x3x4xf32>
  %r1 = onnx.concat %lo, %nhi1 {axis = 3 : i64} : (tensor<2x2x3x4xf32>, tensor<2x2x3x4xf32>) -> tensor<2x2x3x8xf32>
  %a1 = onnx.mul %q, %cos : (tensor<2x2x3x8xf32>, tensor<3x8xf32>) -> tensor<2x2x3x8xf32>
  %b1 = onnx.mul %r1, %sin : (tensor<2x2x3x8xf32>, tensor<3x8xf32>) -> tensor<2x2x3x8xf32>
  %y1 = onnx.add %a1, %b1 : (tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>) -> tensor<2x2x3x8xf32>
  %nhi = onnx.neg %hi : tensor<2x2x3x4xf32>
  %r2 = onnx.concat %nhi, %lo {axis = 3 : i64} : (tensor<2x2x3x4xf32>, tensor<2x2x3x4xf32>) -> tensor<2x2x3x8xf32>
  %a2 = onnx.mul %k, %cos : (tensor<2x2x3x8xf32>, tensor<3x8xf32>) -> tensor<2x2x3x8xf32>
  %b2 = onnx.mul %r2, %sin : (tensor<2x2x3x8xf32>, tensor<3x8xf32>) -> tensor<2x2x3x8xf32>
  %y2 = onnx.add %a2, %b2 : (tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>) -> tensor<2x2x3x8xf32>
  %top = onnx.slice %q {axes = array<i64: 2>, starts = array<i64: 1>, ends = array<i64: 3>, steps = array<i64: 1>} : (tensor<2x2x3x8xf32>) -> tensor<2x2x2x8xf32>
  %bottom = onnx.slice %q {axes = array<i64: 2>, starts = array<i64: 0>, ends = array<i64: 1>, steps = array<i64: 1>} : (tensor<2x2x3x8xf32>) -> tensor<2x2x1x8xf32>
  %ntop = onnx.neg %top : tensor<2x2x2x8xf32>
  %r3 = onnx.concat %ntop, %bottom {axis = 2 : i64} : (tensor<2x2x2x8xf32>, tensor<2x2x1x8xf32>) -> tensor<2x2x3x8xf32>
  %a3 = onnx.mul %q, %cos : (tensor<2x2x3x8xf32>, tensor<3x8xf32>) -> tensor<2x2x3x8xf32>
  %b3 = onnx.mul %r3, %sin : (tensor<2x2x3x8xf32>, tensor<3x8xf32>) -> tensor<2x2x3x8xf32>
  %y3 = onnx.add %a3, %b3 : (tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>) -> tensor<2x2x3x8xf32>
  return %y1, %y2, %y3 : tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>
}

// -----

// The heads' transposes read in place by the GEMMs: k^T (k's last two
// dims swapped) as k's buffer with the view 0, 1, 3, 2 (the matrices read
// transposed), v's [b, t, h, d] -> [b, h, t, d] split as v's buffer with
// the view 0, 2, 1, 3 (rows h * d apart) - no transpose calls, no trans
// flags (the views carry them).
// CHECK-LABEL: func.func @scores_of_k
// CHECK-NOT: moe_cuda_cc_transpose_f32
// CHECK: llvm.call @moe_cuda_cc_matmul_f32(%c0_i32, %c0_i32, %c0_i32, %{{.*}}, %{{.*}}, %c4_i64, %{{.*}}, %c2_i64, %{{.*}}, %c8_i64, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %{{.*}}, %c4_i64, %{{.*}}, %c2_i64, %{{.*}}, %c8_i64, %c0_i64, %c1_i64, %c3_i64, %c2_i64,
// CHECK: llvm.call @moe_cuda_cc_matmul_f32(%c0_i32, %c0_i32, %c0_i32, %{{.*}}, %{{.*}}, %c4_i64, %{{.*}}, %c2_i64, %{{.*}}, %{{.*}}, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %{{.*}}, %c4_i64, %{{.*}}, %{{.*}}, %c2_i64, %c8_i64, %c0_i64, %c2_i64, %c1_i64, %c3_i64,
// CHECK-NOT: moe_cuda_cc_transpose_f32
// CHECK-NOT: = onnx.
func.func @scores_of_k(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>, %v: tensor<?x?x2x8xf32>) -> (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) {
  %kt = onnx.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x8x?xf32>
  %s = onnx.matmul %q, %kt : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %c = arith.constant dense<4.0> : tensor<f32>
  %d = onnx.div %s, %c : (tensor<?x2x?x?xf32>, tensor<f32>) -> tensor<?x2x?x?xf32>
  %vh = onnx.transpose %v {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x8xf32> -> tensor<?x2x?x8xf32>
  %o = onnx.matmul %d, %vh : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  return %d, %o : tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>
}

// -----

// Grouped-query attention: k and v repeated by repeat_kv (unsqueeze at 2,
// expand to [b, kv, n, t, d], reshape to [b, kv * n, t, d]) are read as
// their kv heads - no expand call. Each product is one call, q seen as
// [b, kv, n * t, 8] against k [b, kv, t, 8] (its view 0, 1, 3, 2: k^T) or
// v, the result [b, kv, n * t, cols] - after a run-time check that the
// repeat is repeat_kv's (the expand keeps k's other dims, the reshape
// merges kv and n, q has kv * n heads). (The probabilities are a result
// too: the core is not one fused call.)
// CHECK-LABEL: func.func @grouped_query
// CHECK: %[[N:.*]] = tensor.extract %arg3[%c2]
// CHECK: arith.andi
// CHECK: %[[STATUS:.*]] = arith.select %{{.*}}, %c0_i32, %c1_i32 : i32
// CHECK: llvm.call @moe_cc_check_status(%[[STATUS]], %{{.*}})
// (q's kv heads -1 when the check fails: the call refuses to run.)
// CHECK: %[[KV:.*]] = arith.select %{{.*}}, %c2, %c-1 : index
// CHECK: %[[KV64:.*]] = arith.index_cast %[[KV]] : index to i64
// CHECK: llvm.call @moe_cuda_cc_matmul_f32(%c0_i32, %c0_i32, %c0_i32, %{{.*}}, %{{.*}}, %c4_i64, %{{.*}}, %[[KV64]], %{{.*}}, %c8_i64, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %{{.*}}, %c4_i64, %{{.*}}, %c2_i64, %{{.*}}, %c8_i64, %c0_i64, %c1_i64, %c3_i64, %c2_i64, %c4_i64, %{{.*}}, %c2_i64,
// CHECK: llvm.call @moe_cc_check_status(
// CHECK: llvm.call @moe_cuda_cc_matmul_f32(%c0_i32, %c0_i32, %c0_i32, %{{.*}}, %{{.*}}, %c4_i64, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %{{.*}}, %c4_i64, %{{.*}}, %c2_i64, %{{.*}}, %c8_i64, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %c4_i64,
// CHECK-NOT: moe_cuda_cc_expand_f32
// CHECK-NOT: = onnx.
// CHECK: ("onnx.matmul (grouped-query attention: its repeated k/v heads must be repeat_kv's)\00")
func.func @grouped_query(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>, %v: tensor<?x2x?x8xf32>, %s5: tensor<5xi64>, %s4: tensor<4xi64>) -> (tensor<?x4x?x8xf32>, tensor<?x4x?x?xf32>) {
  %ku = onnx.unsqueeze %k {axes = array<i64: 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x1x?x8xf32>
  %ke = onnx.expand %ku, %s5 : (tensor<?x2x1x?x8xf32>, tensor<5xi64>) -> tensor<?x2x?x?x8xf32>
  %kr = onnx.reshape %ke, %s4 : (tensor<?x2x?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x?x8xf32>
  %kt = onnx.transpose %kr {perm = array<i64: 0, 1, 3, 2>} : tensor<?x?x?x8xf32> -> tensor<?x?x8x?xf32>
  %s = onnx.matmul %q, %kt : (tensor<?x4x?x8xf32>, tensor<?x?x8x?xf32>) -> tensor<?x4x?x?xf32>
  %c = arith.constant dense<4.0> : tensor<f32>
  %d = onnx.div %s, %c : (tensor<?x4x?x?xf32>, tensor<f32>) -> tensor<?x4x?x?xf32>
  %p = onnx.softmax %d {axis = 3 : i64} : tensor<?x4x?x?xf32>
  %vu = onnx.unsqueeze %v {axes = array<i64: 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x1x?x8xf32>
  %ve = onnx.expand %vu, %s5 : (tensor<?x2x1x?x8xf32>, tensor<5xi64>) -> tensor<?x2x?x?x8xf32>
  %vr = onnx.reshape %ve, %s4 : (tensor<?x2x?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x?x8xf32>
  %o = onnx.matmul %p, %vr : (tensor<?x4x?x?xf32>, tensor<?x?x?x8xf32>) -> tensor<?x4x?x8xf32>
  return %o, %p : tensor<?x4x?x8xf32>, tensor<?x4x?x?xf32>
}

// -----

// A repeat along another axis (unsqueeze at 1) is no repeat_kv: copied by
// an expand call. q transposed before a repeat_kv product is computed by a
// transpose call first (q's heads must be adjacent rows), then read as
// grouped.
// CHECK-LABEL: func.func @not_grouped_query
// CHECK: llvm.call @moe_cuda_cc_expand_f32(
// CHECK-NOT: moe_cc_check_status(
// CHECK: llvm.call @moe_cuda_cc_matmul_f32(
// CHECK: llvm.call @moe_cuda_cc_transpose_f32(
// CHECK: llvm.call @moe_cc_check_status(
// CHECK: llvm.call @moe_cuda_cc_matmul_f32(
// CHECK-NOT: llvm.call @moe_cuda_cc_expand_f32
func.func @not_grouped_query(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>, %s5: tensor<5xi64>, %s4: tensor<4xi64>, %qt: tensor<?x4x8x?xf32>) -> (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>) {
  %ku = onnx.unsqueeze %k {axes = array<i64: 1>} : tensor<?x2x?x8xf32> -> tensor<?x1x2x?x8xf32>
  %ke = onnx.expand %ku, %s5 : (tensor<?x1x2x?x8xf32>, tensor<5xi64>) -> tensor<?x?x2x?x8xf32>
  %kr = onnx.reshape %ke, %s4 : (tensor<?x?x2x?x8xf32>, tensor<4xi64>) -> tensor<?x?x?x8xf32>
  %p = onnx.matmul %q, %kr : (tensor<?x4x?x8xf32>, tensor<?x?x?x8xf32>) -> tensor<?x4x?x8xf32>
  %vu = onnx.unsqueeze %k {axes = array<i64: 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x1x?x8xf32>
  %ve = onnx.expand %vu, %s5 : (tensor<?x2x1x?x8xf32>, tensor<5xi64>) -> tensor<?x2x?x?x8xf32>
  %vr = onnx.reshape %ve, %s4 : (tensor<?x2x?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x?x8xf32>
  %t = onnx.transpose %qt {perm = array<i64: 0, 1, 3, 2>} : tensor<?x4x8x?xf32> -> tensor<?x4x?x8xf32>
  %o = onnx.matmul %t, %vr : (tensor<?x4x?x8xf32>, tensor<?x?x?x8xf32>) -> tensor<?x4x?x8xf32>
  return %p, %o : tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>
}

// -----

// The values' product merged back into [b, t, h, d] (transpose 0, 2, 1, 3
// of the product): the GEMM writes the transpose's buffer in place - its
// dims [b, t, 2, 8], the product its view 0, 2, 1, 3. A transpose moving
// the product's columns (0, 1, 3, 2) stays a call. The shape of a
// transpose is read from its input (the transpose is not computed for it).
// CHECK-LABEL: func.func @merged_heads
// CHECK: %[[B:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[T:.*]] = tensor.dim %arg0, %c2
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?x2x8xf32>
// CHECK: llvm.call @moe_cuda_cc_matmul_f32({{.*}}, %c4_i64, %{{.*}}, %{{.*}}, %c2_i64, %c8_i64, %c0_i64, %c2_i64, %c1_i64, %c3_i64, %{{.*}})
// CHECK: llvm.call @moe_cuda_cc_matmul_f32(
// CHECK: llvm.call @moe_cuda_cc_transpose_f32(
// CHECK: %[[D1:.*]] = tensor.dim %arg2, %c1
// CHECK: %[[D1I:.*]] = arith.index_cast %[[D1]] : index to i64
// CHECK: tensor.from_elements %[[D1I]]
// CHECK-NOT: moe_cuda_cc_transpose_f32(
// CHECK-NOT: = onnx.
func.func @merged_heads(%p: tensor<?x2x?x?xf32>, %v: tensor<?x2x?x8xf32>, %x: tensor<2x?x4xf32>) -> (tensor<?x?x2x8xf32>, tensor<?x2x8x?xf32>, tensor<1xi64>) {
  %o = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  %m = onnx.transpose %o {perm = array<i64: 0, 2, 1, 3>} : tensor<?x2x?x8xf32> -> tensor<?x?x2x8xf32>
  %o2 = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  %t = onnx.transpose %o2 {perm = array<i64: 0, 1, 3, 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x8x?xf32>
  %xt = onnx.transpose %x {perm = array<i64: 2, 0, 1>} : tensor<2x?x4xf32> -> tensor<4x2x?xf32>
  %s = onnx.shape %xt {start = 2 : i64, end = 3 : i64} : tensor<4x2x?xf32> -> tensor<1xi64>
  return %m, %t, %s : tensor<?x?x2x8xf32>, tensor<?x2x8x?xf32>, tensor<1xi64>
}

// -----

// Projections of the same activations (q, k and v's) with 16-bit weights
// share one rounding of them: a cast call (kind 3: f32 to bf16, 1: to
// f16) right after x, then _matmul_bf16 / _f16 calls taking x's 16 bits.
// f32 weights: nothing to round.
// CHECK-LABEL: func.func @shared_rounding
// CHECK-NOT: moe_cuda_cc_cast
// CHECK-COUNT-3: llvm.call @moe_cuda_cc_matmul_f32(
// BF16-LABEL: func.func @shared_rounding
// BF16: %[[X:.*]] = bufferization.to_buffer %arg0 read_only
// BF16: llvm.call @moe_cuda_cc_cast(%{{.*}}, %c3_i32,
// BF16-NOT: moe_cuda_cc_cast(
// BF16-COUNT-3: llvm.call @moe_cuda_cc_matmul_bf16(
// BF16-NOT: moe_cuda_cc_matmul_bf16w(
// F16-LABEL: func.func @shared_rounding
// F16: llvm.call @moe_cuda_cc_cast(%{{.*}}, %c1_i32,
// F16-COUNT-3: llvm.call @moe_cuda_cc_matmul_f16(
func.func @shared_rounding(%x: tensor<?x16xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %wq = arith.constant dense<0.5> : tensor<16x8xf32>
  %wk = arith.constant dense<0.25> : tensor<16x8xf32>
  %wv = arith.constant dense<0.125> : tensor<16x8xf32>
  %q = onnx.matmul %x, %wq : (tensor<?x16xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  %k = onnx.matmul %x, %wk : (tensor<?x16xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  %v = onnx.matmul %x, %wv : (tensor<?x16xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  return %q, %k, %v : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// A KV cache a bfloat16 model keeps in its type (moe-widen-half leaves the
// returned concat bf16): moe_cuda_cc_concat_bf16, the past read as it is,
// the new tokens' f32 heads read through their transpose (view 0, 2, 1, 3)
// and rounded as they are copied - f32_inputs 2 (bit 1) - with no cast
// or transpose call of their own.
// CHECK-LABEL: func.func @cache_bf16
// CHECK-NOT: moe_cuda_cc_cast(
// CHECK-NOT: moe_cuda_cc_transpose_f32(
// CHECK: llvm.call @moe_cuda_cc_concat_bf16(%c0_i32, %c2_i64, %c2_i64, %c2_i64, %{{.*}}, %c4_i64, %{{.*}}, %c2_i64, %{{.*}}, %c4_i64, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %{{.*}}, %c4_i64, %{{.*}}, %{{.*}}, %c2_i64, %c4_i64, %c0_i64, %c2_i64, %c1_i64, %c3_i64,
// CHECK-NOT: moe_cuda_cc_cast(
func.func @cache_bf16(%past: tensor<?x2x?x4xbf16>, %new: tensor<?x?x2x4xf32>) -> tensor<?x2x?x4xbf16> {
  %t = onnx.transpose %new {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x4xf32> -> tensor<?x2x?x4xf32>
  %r = onnx.cast %t : tensor<?x2x?x4xf32> to tensor<?x2x?x4xbf16>
  %c = onnx.concat %past, %r {axis = 2 : i64} : (tensor<?x2x?x4xbf16>, tensor<?x2x?x4xbf16>) -> tensor<?x2x?x4xbf16>
  return %c : tensor<?x2x?x4xbf16>
}
