// RUN: moe-opt %s -convert-elementwise-to-cuda -split-input-file | FileCheck %s
// RUN: moe-opt %s -convert-elementwise-to-cuda="weight-type=bf16" -split-input-file | FileCheck %s --check-prefix=BF16
// RUN: moe-opt %s -convert-elementwise-to-cuda="weight-type=f16" -split-input-file | FileCheck %s --check-prefix=F16

// Before: an attention core - q . k^T, scaled, maybe a causal mask added,
// softmax over the last axis, times v. After: one moe_cuda_cc_attention_f32
// call (alpha; the precision - MOE_CUDA_ATTENTION_F32, or with 16-bit
// weights the model's 16-bit type; q, k^T and v: each buffer's rank and dims padded to 4 with
// 1s, then the view the call reads - the heads' transposes and k^T read in
// place; causal flag, diagonal, the mask's rows and cols; an additive
// mask's buffer, rank and dims - null, rank 0 without one; the result's
// buffer and its view), the scores never written out.

// q, k and v split from [b, t, 2, 8] (views 0, 2, 1, 3; k^T 0, 2, 3, 1),
// 1/2 as alpha, the result written merged back into [b, t, 2, 8].
// CHECK-LABEL: func.func @heads
// BF16-LABEL: func.func @heads
// BF16: llvm.call @moe_cuda_cc_attention_f32(%c0_i32, %{{.*}}, %c1_i32, %c0_i32, %{{.*}}, %c4_i64,
// F16-LABEL: func.func @heads
// F16: llvm.call @moe_cuda_cc_attention_f32(%c0_i32, %{{.*}}, %c2_i32, %c0_i32, %{{.*}}, %c4_i64,
// CHECK-DAG: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK-DAG: %[[ALPHA:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[B:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG: %[[T:.*]] = tensor.dim %arg0, %c1
// CHECK: %[[OUT:.*]] = memref.alloc(%[[B]], %[[T]]) : memref<?x?x2x8xf32>
// CHECK: llvm.call @moe_cuda_cc_attention_f32(%c0_i32, %[[ALPHA]], %c0_i32, %c0_i32, %{{.*}}, %c4_i64, %{{.*}}, %{{.*}}, %c2_i64, %c8_i64, %c0_i64, %c2_i64, %c1_i64, %c3_i64, %{{.*}}, %c4_i64, %{{.*}}, %{{.*}}, %c2_i64, %c8_i64, %c0_i64, %c2_i64, %c3_i64, %c1_i64, %{{.*}}, %c4_i64, %{{.*}}, %{{.*}}, %c2_i64, %c8_i64, %c0_i64, %c2_i64, %c1_i64, %c3_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %[[NULL]], %c0_i64, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %c0_i32, %c4_i64, %{{.*}}, %{{.*}}, %c2_i64, %c8_i64, %c0_i64, %c2_i64, %c1_i64, %c3_i64, %{{.*}})
// CHECK-NOT: moe_cuda_cc_matmul_f32
// CHECK-NOT: moe_cuda_cc_softmax_f32
// CHECK-NOT: moe_cuda_cc_transpose_f32
// CHECK-NOT: = onnx.
// CHECK: ("onnx.matmul (attention: q, k and v's heads and the causal mask must agree) (moe_cuda_cc_attention_f32)\00")
func.func @heads(%x: tensor<?x?x2x8xf32>, %y: tensor<?x?x2x8xf32>, %z: tensor<?x?x2x8xf32>) -> tensor<?x?x2x8xf32> {
  %q = onnx.transpose %x {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x8xf32> -> tensor<?x2x?x8xf32>
  %kt = onnx.transpose %y {perm = array<i64: 0, 2, 3, 1>} : tensor<?x?x2x8xf32> -> tensor<?x2x8x?xf32>
  %v = onnx.transpose %z {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x8xf32> -> tensor<?x2x?x8xf32>
  %s = onnx.matmul %q, %kt : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %c = arith.constant dense<2.0> : tensor<f32>
  %d = onnx.div %s, %c : (tensor<?x2x?x?xf32>, tensor<f32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %d {axis = 3 : i64} : tensor<?x2x?x?xf32>
  %o = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  %m = onnx.transpose %o {perm = array<i64: 0, 2, 1, 3>} : tensor<?x2x?x8xf32> -> tensor<?x?x2x8xf32>
  return %m : tensor<?x?x2x8xf32>
}

// -----

// Grouped-query attention with a KV cache: k and v repeated by repeat_kv
// are read as their 2 kv heads (the call groups q's 4 heads), after a
// run-time check of both repeats that fails the run by name - and passes
// k's kv heads as -1 then, which the call refuses; alpha from a Mul with
// the scalar first; the causal mask's run-time diagonal (the cache's
// length + 1) and its [rows, cols] passed, the mask never built.
// CHECK-LABEL: func.func @grouped_causal
// CHECK-DAG: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK-DAG: %[[ALPHA:.*]] = arith.constant 2.500000e-01 : f32
// CHECK: %[[STATUS:.*]] = arith.select %[[OK:.*]], %c0_i32, %c1_i32 : i32
// CHECK: llvm.call @moe_cc_check_status(%[[STATUS]], %{{.*}})
// CHECK: %[[KV:.*]] = arith.select %[[OK]], %c2, %c-1 : index
// CHECK: %[[KV64:.*]] = arith.index_cast %[[KV]] : index to i64
// CHECK: %[[DIAG:.*]] = tensor.extract %arg6[] : tensor<i64>
// CHECK: tensor.extract %arg5[%c0] : tensor<2xi64>
// CHECK: tensor.extract %arg5[%c1] : tensor<2xi64>
// CHECK: llvm.call @moe_cuda_cc_attention_f32(%c0_i32, %[[ALPHA]], %c0_i32, %c0_i32, %{{.*}}, %c4_i64, %{{.*}}, %c4_i64, %{{.*}}, %c8_i64, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %{{.*}}, %c4_i64, %{{.*}}, %[[KV64]], %{{.*}}, %c8_i64, %c0_i64, %c1_i64, %c3_i64, %c2_i64, %{{.*}}, %c4_i64, %{{.*}}, %c2_i64, %{{.*}}, %c8_i64, %c0_i64, %c1_i64, %c2_i64, %c3_i64, %c1_i64, %[[DIAG]], %{{.*}}, %{{.*}}, %[[NULL]], %c0_i64, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %c0_i32, %c4_i64,
// CHECK-NOT: moe_cuda_cc_expand_f32
// CHECK-NOT: moe_cuda_cc_matmul_f32
// CHECK-NOT: = onnx.
// CHECK: ("onnx.matmul (grouped-query attention: its repeated k/v heads must be repeat_kv's)\00")
func.func @grouped_causal(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>, %v: tensor<?x2x?x8xf32>, %s5: tensor<5xi64>, %s4: tensor<4xi64>, %shape: tensor<2xi64>, %diag: tensor<i64>) -> tensor<?x4x?x8xf32> {
  %ku = onnx.unsqueeze %k {axes = array<i64: 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x1x?x8xf32>
  %ke = onnx.expand %ku, %s5 : (tensor<?x2x1x?x8xf32>, tensor<5xi64>) -> tensor<?x2x?x?x8xf32>
  %kr = onnx.reshape %ke, %s4 : (tensor<?x2x?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x?x8xf32>
  %kt = onnx.transpose %kr {perm = array<i64: 0, 1, 3, 2>} : tensor<?x?x?x8xf32> -> tensor<?x?x8x?xf32>
  %s = onnx.matmul %q, %kt : (tensor<?x4x?x8xf32>, tensor<?x?x8x?xf32>) -> tensor<?x4x?x?xf32>
  %c = arith.constant dense<0.25> : tensor<f32>
  %d = onnx.mul %c, %s : (tensor<f32>, tensor<?x4x?x?xf32>) -> tensor<?x4x?x?xf32>
  %fill = onnx.constant_of_shape %shape {value = 0xFF800000 : f32} : (tensor<2xi64>) -> tensor<?x?xf32>
  %mask = onnx.trilu %fill, %diag : (tensor<?x?xf32>, tensor<i64>) -> tensor<?x?xf32>
  %a = onnx.add %d, %mask : (tensor<?x4x?x?xf32>, tensor<?x?xf32>) -> tensor<?x4x?x?xf32>
  %p = onnx.softmax %a {axis = 3 : i64} : tensor<?x4x?x?xf32>
  %vu = onnx.unsqueeze %v {axes = array<i64: 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x1x?x8xf32>
  %ve = onnx.expand %vu, %s5 : (tensor<?x2x1x?x8xf32>, tensor<5xi64>) -> tensor<?x2x?x?x8xf32>
  %vr = onnx.reshape %ve, %s4 : (tensor<?x2x?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x?x8xf32>
  %o = onnx.matmul %p, %vr : (tensor<?x4x?x?xf32>, tensor<?x?x?x8xf32>) -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// -----

// Any other mask added to the scores (a padding mask [b, 1, 1, keys], as
// HF prepares it): passed to the call, which adds it as it scores - its
// rank and dims after the causal arguments (0: no causal mask).
// CHECK-LABEL: func.func @padding_mask
// CHECK: %[[MASK:.*]] = bufferization.to_buffer %arg3 read_only
// CHECK-DAG: %[[MB:.*]] = tensor.dim %arg3, %c0
// CHECK-DAG: %[[MK:.*]] = tensor.dim %arg3, %c3
// CHECK: %[[MB64:.*]] = arith.index_cast %[[MB]] : index to i64
// CHECK: %[[MK64:.*]] = arith.index_cast %[[MK]] : index to i64
// CHECK: llvm.call @moe_cuda_cc_attention_f32({{.*}}, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %{{.*}}, %c4_i64, %[[MB64]], %c1_i64, %c1_i64, %[[MK64]], %c0_i32, %c4_i64,
// CHECK-NOT: moe_cuda_cc_binary_f32
// CHECK-NOT: llvm.call @moe_cuda_cc_softmax_f32
func.func @padding_mask(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>, %v: tensor<?x2x?x8xf32>, %m: tensor<?x1x1x?xf32>) -> tensor<?x2x?x8xf32> {
  %kt = onnx.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x8x?xf32>
  %s = onnx.matmul %q, %kt : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %c = arith.constant dense<2.0> : tensor<f32>
  %d = onnx.div %s, %c : (tensor<?x2x?x?xf32>, tensor<f32>) -> tensor<?x2x?x?xf32>
  %a = onnx.add %m, %d : (tensor<?x1x1x?xf32>, tensor<?x2x?x?xf32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %a {axis = 3 : i64} : tensor<?x2x?x?xf32>
  %o = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}

// -----

// A causal mask and a padding mask, added in either order: one call with
// both (causal 1 and its diagonal, the padding mask's buffer and dims).
// CHECK-LABEL: func.func @causal_and_padding
// CHECK-COUNT-2: llvm.call @moe_cuda_cc_attention_f32({{.*}}, %c1_i64, %c1_i64, %{{.*}}, %{{.*}}, %{{.*}}, %c4_i64, %{{.*}}, %c1_i64, %c1_i64, %{{.*}}, %c0_i32, %c4_i64,
// CHECK-NOT: llvm.call @moe_cuda_cc_softmax_f32
// CHECK-NOT: = onnx.
func.func @causal_and_padding(%q: tensor<?x2x?x8xf32>, %kt: tensor<?x2x8x?xf32>, %v: tensor<?x2x?x8xf32>, %m: tensor<?x1x1x?xf32>, %shape: tensor<2xi64>) -> (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) {
  %k = onnx.transpose %kt {perm = array<i64: 0, 1, 3, 2>} : tensor<?x2x8x?xf32> -> tensor<?x2x?x8xf32>
  %ktt = onnx.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x8x?xf32>
  %one = arith.constant dense<1> : tensor<i64>
  %fill = onnx.constant_of_shape %shape {value = 0xFF800000 : f32} : (tensor<2xi64>) -> tensor<?x?xf32>
  %causal = onnx.trilu %fill, %one : (tensor<?x?xf32>, tensor<i64>) -> tensor<?x?xf32>
  %s = onnx.matmul %q, %ktt : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %a = onnx.add %s, %causal : (tensor<?x2x?x?xf32>, tensor<?x?xf32>) -> tensor<?x2x?x?xf32>
  %b = onnx.add %a, %m : (tensor<?x2x?x?xf32>, tensor<?x1x1x?xf32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %b {axis = 3 : i64} : tensor<?x2x?x?xf32>
  %o = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  %s2 = onnx.matmul %q, %ktt : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %a2 = onnx.add %m, %s2 : (tensor<?x1x1x?xf32>, tensor<?x2x?x?xf32>) -> tensor<?x2x?x?xf32>
  %b2 = onnx.add %causal, %a2 : (tensor<?x?xf32>, tensor<?x2x?x?xf32>) -> tensor<?x2x?x?xf32>
  %p2 = onnx.softmax %b2 {axis = 3 : i64} : tensor<?x2x?x?xf32>
  %o2 = onnx.matmul %p2, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  return %o, %o2 : tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>
}

// -----

// Rank 3 ([heads, t, d], as exports that fold the batch into the heads
// write it), no scale (alpha 1), k^T a transpose of k (view 0, 2, 1): k's
// heads, not static, checked against q's (or 1: numpy's broadcast) - -1
// otherwise.
// CHECK-LABEL: func.func @rank3
// CHECK-DAG: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK-DAG: %[[ALPHA:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[QH:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG: %[[KH:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[KH]], %[[QH]] : index
// CHECK: %[[ONE:.*]] = arith.cmpi eq, %[[KH]], %c1 : index
// CHECK: %[[OK:.*]] = arith.ori %[[SAME]], %[[ONE]] : i1
// CHECK: %[[KV:.*]] = arith.select %[[OK]], %[[KH]], %c-1 : index
// CHECK: %[[KV64:.*]] = arith.index_cast %[[KV]] : index to i64
// CHECK: llvm.call @moe_cuda_cc_attention_f32(%c0_i32, %[[ALPHA]], %c0_i32, %c0_i32, %{{.*}}, %c3_i64, %{{.*}}, %{{.*}}, %c16_i64, %c1_i64, %c0_i64, %c1_i64, %c2_i64, %c0_i64, %{{.*}}, %c3_i64, %[[KV64]], %{{.*}}, %c16_i64, %c1_i64, %c0_i64, %c2_i64, %c1_i64, %c0_i64, %{{.*}}, %c3_i64, %{{.*}}, %{{.*}}, %c16_i64, %c1_i64, %c0_i64, %c1_i64, %c2_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %[[NULL]], %c0_i64, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %c0_i32, %c3_i64,
// CHECK-NOT: = onnx.
func.func @rank3(%q: tensor<?x?x16xf32>, %k: tensor<?x?x16xf32>, %v: tensor<?x?x16xf32>) -> tensor<?x?x16xf32> {
  %kt = onnx.transpose %k {perm = array<i64: 0, 2, 1>} : tensor<?x?x16xf32> -> tensor<?x16x?xf32>
  %s = onnx.matmul %q, %kt : (tensor<?x?x16xf32>, tensor<?x16x?xf32>) -> tensor<?x?x?xf32>
  %p = onnx.softmax %s {axis = 2 : i64} : tensor<?x?x?xf32>
  %o = onnx.matmul %p, %v : (tensor<?x?x?xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return %o : tensor<?x?x16xf32>
}

// -----

// Near misses, left to the separate calls (two matmuls and a softmax
// each): the probabilities used elsewhere too, q's batch a static 1 against k's
// (broadcast: the result's batch would be k's), v's rows not its buffer's
// (a transpose moving its last dim: the call reads rows in place), k^T
// given as a buffer (its head dim not its rows). Each k^T but that one is
// a transpose of k, as in the cores here that are fused: a head dim past
// 256 and one unknown at compile time (the runtime takes any head dim),
// and the same core as the near misses.
// CHECK-LABEL: func.func @near_misses
// CHECK-COUNT-2: llvm.call @moe_cuda_cc_attention_f32(
// CHECK-NOT: llvm.call @moe_cuda_cc_attention_f32
// CHECK-COUNT-4: llvm.call @moe_cuda_cc_softmax_f32(
// CHECK-NOT: moe_cuda_cc_softmax_f32(
// CHECK: llvm.call @moe_cuda_cc_attention_f32(
// CHECK-NOT: moe_cuda_cc_softmax_f32(
func.func @near_misses(%wq: tensor<2x4x512xf32>, %wk: tensor<2x4x512xf32>, %wv: tensor<2x4x512xf32>,
                       %dq: tensor<2x4x?xf32>, %dk: tensor<2x4x?xf32>, %dv: tensor<2x4x?xf32>,
                       %q: tensor<2x4x8xf32>, %k: tensor<2x4x8xf32>, %v: tensor<2x4x8xf32>,
                       %q1: tensor<1x4x8xf32>, %kb: tensor<?x4x8xf32>, %vb: tensor<?x4x8xf32>,
                       %vt: tensor<2x8x4xf32>, %ktb: tensor<2x8x4xf32>)
    -> (tensor<2x4x512xf32>, tensor<2x4x?xf32>, tensor<2x4x8xf32>, tensor<2x4x4xf32>, tensor<?x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) {
  %wkt = onnx.transpose %wk {perm = array<i64: 0, 2, 1>} : tensor<2x4x512xf32> -> tensor<2x512x4xf32>
  %s0 = onnx.matmul %wq, %wkt : (tensor<2x4x512xf32>, tensor<2x512x4xf32>) -> tensor<2x4x4xf32>
  %p0 = onnx.softmax %s0 {axis = 2 : i64} : tensor<2x4x4xf32>
  %o0 = onnx.matmul %p0, %wv : (tensor<2x4x4xf32>, tensor<2x4x512xf32>) -> tensor<2x4x512xf32>
  %dkt = onnx.transpose %dk {perm = array<i64: 0, 2, 1>} : tensor<2x4x?xf32> -> tensor<2x?x4xf32>
  %s1 = onnx.matmul %dq, %dkt : (tensor<2x4x?xf32>, tensor<2x?x4xf32>) -> tensor<2x4x4xf32>
  %p1 = onnx.softmax %s1 {axis = 2 : i64} : tensor<2x4x4xf32>
  %o1 = onnx.matmul %p1, %dv : (tensor<2x4x4xf32>, tensor<2x4x?xf32>) -> tensor<2x4x?xf32>
  %kt = onnx.transpose %k {perm = array<i64: 0, 2, 1>} : tensor<2x4x8xf32> -> tensor<2x8x4xf32>
  %s2 = onnx.matmul %q, %kt : (tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<2x4x4xf32>
  %p2 = onnx.softmax %s2 {axis = 2 : i64} : tensor<2x4x4xf32>
  %o2 = onnx.matmul %p2, %v : (tensor<2x4x4xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %kbt = onnx.transpose %kb {perm = array<i64: 0, 2, 1>} : tensor<?x4x8xf32> -> tensor<?x8x4xf32>
  %s3 = onnx.matmul %q1, %kbt : (tensor<1x4x8xf32>, tensor<?x8x4xf32>) -> tensor<?x4x4xf32>
  %p3 = onnx.softmax %s3 {axis = 2 : i64} : tensor<?x4x4xf32>
  %o3 = onnx.matmul %p3, %vb : (tensor<?x4x4xf32>, tensor<?x4x8xf32>) -> tensor<?x4x8xf32>
  %s4 = onnx.matmul %q, %kt : (tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<2x4x4xf32>
  %p4 = onnx.softmax %s4 {axis = 2 : i64} : tensor<2x4x4xf32>
  %v4 = onnx.transpose %vt {perm = array<i64: 0, 2, 1>} : tensor<2x8x4xf32> -> tensor<2x4x8xf32>
  %o4 = onnx.matmul %p4, %v4 : (tensor<2x4x4xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %s5 = onnx.matmul %q, %ktb : (tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<2x4x4xf32>
  %p5 = onnx.softmax %s5 {axis = 2 : i64} : tensor<2x4x4xf32>
  %o5 = onnx.matmul %p5, %v : (tensor<2x4x4xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %s6 = onnx.matmul %q, %kt : (tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<2x4x4xf32>
  %p6 = onnx.softmax %s6 {axis = 2 : i64} : tensor<2x4x4xf32>
  %o6 = onnx.matmul %p6, %v : (tensor<2x4x4xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %o0, %o1, %o2, %p2, %o3, %o4, %o5, %o6 : tensor<2x4x512xf32>, tensor<2x4x?xf32>, tensor<2x4x8xf32>, tensor<2x4x4xf32>, tensor<?x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
}

// -----

// A 16-bit KV cache widened for the graph (moe-widen-half: onnx.cast of
// bfloat16 k and v to f32): the call reads the bf16 tensors as they are
// (k/v type MOE_CUDA_ELEMENT_BF16, 1), the casts gone. Only one of them
// 16-bit: both read in f32 (type 0), the cast a call of its own.
// CHECK-LABEL: func.func @cache16
// CHECK-NOT: moe_cuda_cc_cast
// CHECK: llvm.call @moe_cuda_cc_attention_f32(%c0_i32, %{{.*}}, %c0_i32, %c1_i32,
// CHECK-NOT: moe_cuda_cc_cast
// CHECK-LABEL: func.func @mixed
// CHECK: llvm.call @moe_cuda_cc_cast(
// CHECK: llvm.call @moe_cuda_cc_attention_f32(%c0_i32, %{{.*}}, %c0_i32, %c0_i32,
func.func @cache16(%q: tensor<?x2x?x8xf32>, %k16: tensor<?x2x?x8xbf16>, %v16: tensor<?x2x?x8xbf16>) -> tensor<?x2x?x8xf32> {
  %k = onnx.cast %k16 : tensor<?x2x?x8xbf16> to tensor<?x2x?x8xf32>
  %v = onnx.cast %v16 : tensor<?x2x?x8xbf16> to tensor<?x2x?x8xf32>
  %kt = onnx.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x8x?xf32>
  %s = onnx.matmul %q, %kt : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %s {axis = 3 : i64} : tensor<?x2x?x?xf32>
  %o = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}
func.func @mixed(%q: tensor<?x2x?x8xf32>, %k16: tensor<?x2x?x8xbf16>, %v: tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32> {
  %k = onnx.cast %k16 : tensor<?x2x?x8xbf16> to tensor<?x2x?x8xf32>
  %kt = onnx.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x8x?xf32>
  %s = onnx.matmul %q, %kt : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %s {axis = 3 : i64} : tensor<?x2x?x?xf32>
  %o = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}

// -----

// With bf16 weights, an attention whose result only the output projection
// reads (the heads merged by a transpose the call writes and a reshape)
// writes it in bf16 (out type MOE_CUDA_ELEMENT_BF16, 1, before the out
// view): the projection reads it as it is (moe_cuda_cc_matmul_bf16), no
// cast call. Near miss: the result also added to something stays f32
// (out type 0), the projection rounding it itself (_bf16w).
// BF16-LABEL: func.func @projected_out
// BF16-NOT: moe_cuda_cc_cast(
// BF16: llvm.call @moe_cuda_cc_attention_f32(%c0_i32, %{{.*}}, %c1_i32, %c0_i32, {{.*}}, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %c1_i32, %c4_i64,
// BF16-NOT: moe_cuda_cc_cast(
// BF16: llvm.call @moe_cuda_cc_matmul_bf16(
// BF16-LABEL: func.func @also_added_out
// BF16: llvm.call @moe_cuda_cc_attention_f32(%c0_i32, %{{.*}}, %c1_i32, %c0_i32, {{.*}}, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %c0_i32, %c4_i64,
// BF16: llvm.call @moe_cuda_cc_matmul_bf16w(
func.func @projected_out(%x: tensor<?x?x2x8xf32>, %y: tensor<?x?x2x8xf32>, %z: tensor<?x?x2x8xf32>, %shape: tensor<3xi64>) -> tensor<?x?x4xf32> {
  %w = arith.constant dense<0.5> : tensor<16x4xf32>
  %q = onnx.transpose %x {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x8xf32> -> tensor<?x2x?x8xf32>
  %kt = onnx.transpose %y {perm = array<i64: 0, 2, 3, 1>} : tensor<?x?x2x8xf32> -> tensor<?x2x8x?xf32>
  %v = onnx.transpose %z {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x8xf32> -> tensor<?x2x?x8xf32>
  %s = onnx.matmul %q, %kt : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %s {axis = 3 : i64} : tensor<?x2x?x?xf32>
  %o = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  %t = onnx.transpose %o {perm = array<i64: 0, 2, 1, 3>} : tensor<?x2x?x8xf32> -> tensor<?x?x2x8xf32>
  %r = onnx.reshape %t, %shape : (tensor<?x?x2x8xf32>, tensor<3xi64>) -> tensor<?x?x16xf32>
  %out = onnx.matmul %r, %w : (tensor<?x?x16xf32>, tensor<16x4xf32>) -> tensor<?x?x4xf32>
  return %out : tensor<?x?x4xf32>
}
func.func @also_added_out(%x: tensor<?x?x2x8xf32>, %y: tensor<?x?x2x8xf32>, %z: tensor<?x?x2x8xf32>, %shape: tensor<3xi64>) -> (tensor<?x?x4xf32>, tensor<?x?x16xf32>) {
  %w = arith.constant dense<0.5> : tensor<16x4xf32>
  %q = onnx.transpose %x {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x8xf32> -> tensor<?x2x?x8xf32>
  %kt = onnx.transpose %y {perm = array<i64: 0, 2, 3, 1>} : tensor<?x?x2x8xf32> -> tensor<?x2x8x?xf32>
  %v = onnx.transpose %z {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x2x8xf32> -> tensor<?x2x?x8xf32>
  %s = onnx.matmul %q, %kt : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %s {axis = 3 : i64} : tensor<?x2x?x?xf32>
  %o = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  %t = onnx.transpose %o {perm = array<i64: 0, 2, 1, 3>} : tensor<?x2x?x8xf32> -> tensor<?x?x2x8xf32>
  %r = onnx.reshape %t, %shape : (tensor<?x?x2x8xf32>, tensor<3xi64>) -> tensor<?x?x16xf32>
  %out = onnx.matmul %r, %w : (tensor<?x?x16xf32>, tensor<16x4xf32>) -> tensor<?x?x4xf32>
  %a = onnx.add %r, %r : (tensor<?x?x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return %out, %a : tensor<?x?x4xf32>, tensor<?x?x16xf32>
}

// -----

// torch's scaled_dot_product_attention export: q and k^T each times
// sqrt(scale), a scalar the host computes from q's shape (1 / sqrt(8)):
// both factors read at run time into alpha (f * f: the constant 1 folds
// away), the muls gone. Scaled by a graph input's scalar instead (data,
// maybe on the device), q keeps its mul, a call of its own.
// CHECK-LABEL: func.func @sdpa
// CHECK: %[[F1:.*]] = tensor.extract %[[ROOT:.*]][] : tensor<f32>
// CHECK: %[[F2:.*]] = tensor.extract %[[ROOT]][] : tensor<f32>
// CHECK: %[[A:.*]] = arith.mulf %[[F1]], %[[F2]] : f32
// CHECK: llvm.call @moe_cuda_cc_attention_f32(%c0_i32, %[[A]],
// CHECK-NOT: moe_cuda_cc_binary_f32
// CHECK-LABEL: func.func @scaled_by_input
// CHECK: llvm.call @moe_cuda_cc_binary_f32
// CHECK: llvm.call @moe_cuda_cc_attention_f32(
func.func @sdpa(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>, %v: tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32> {
  %shape = onnx.shape %q {end = 4 : i64, start = 3 : i64} : tensor<?x2x?x8xf32> -> tensor<1xi64>
  %d = onnx.cast %shape : tensor<1xi64> to tensor<1xf32>
  %sd = onnx.sqrt %d : tensor<1xf32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %scale = onnx.div %one, %sd : (tensor<f32>, tensor<1xf32>) -> tensor<1xf32>
  %root1 = onnx.sqrt %scale : tensor<1xf32>
  %root = onnx.reshape %root1 {shape = array<i64>} : (tensor<1xf32>) -> tensor<f32>
  %kt = onnx.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x8x?xf32>
  %qr = onnx.mul %q, %root : (tensor<?x2x?x8xf32>, tensor<f32>) -> tensor<?x2x?x8xf32>
  %kr = onnx.mul %kt, %root : (tensor<?x2x8x?xf32>, tensor<f32>) -> tensor<?x2x8x?xf32>
  %s = onnx.matmul %qr, %kr : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %s {axis = 3 : i64} : tensor<?x2x?x?xf32>
  %o = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}

func.func @scaled_by_input(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>, %v: tensor<?x2x?x8xf32>, %f: tensor<f32>) -> tensor<?x2x?x8xf32> {
  %kt = onnx.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<?x2x?x8xf32> -> tensor<?x2x8x?xf32>
  %qr = onnx.mul %q, %f : (tensor<?x2x?x8xf32>, tensor<f32>) -> tensor<?x2x?x8xf32>
  %s = onnx.matmul %qr, %kt : (tensor<?x2x?x8xf32>, tensor<?x2x8x?xf32>) -> tensor<?x2x?x?xf32>
  %p = onnx.softmax %s {axis = 3 : i64} : tensor<?x2x?x?xf32>
  %o = onnx.matmul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}
