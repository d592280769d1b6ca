// RUN: moe-opt %s -moe-widen-half="graph=true" -split-input-file | FileCheck %s
// RUN: moe-opt %s -moe-widen-half -split-input-file | FileCheck %s --check-prefix=LAYERS

// Before: a bfloat16 graph's ops (an RMS norm, a projection, a softmax,
// the reshape and shape read between them). After (graph=true, what
// --target=cuda runs): the same ops in f32 - the input cast once for all
// its readers, constants widened at compile time (a scalar inline, the
// weight a blob), no 16-bit round trip between two ops - and one cast of
// the result back to bf16. Without the option only moe.layer ops widen.

// CHECK-LABEL: func @graph
// CHECK: %[[X:.*]] = onnx.cast %arg0 : tensor<?x16xbf16> to tensor<?x16xf32>
// CHECK-DAG: %[[EPS:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK-DAG: %[[W:.*]] = arith.constant dense_resource<{{widened.*}}> : tensor<16x8xf32>
// CHECK: %[[SQ:.*]] = onnx.mul %[[X]], %[[X]] : (tensor<?x16xf32>, tensor<?x16xf32>)
// CHECK: %[[MEAN:.*]] = onnx.reduce_mean %[[SQ]]
// CHECK: %[[SUM:.*]] = onnx.add %[[MEAN]], %[[EPS]]
// CHECK: %[[ROOT:.*]] = onnx.sqrt %[[SUM]]
// CHECK: %[[N:.*]] = onnx.div %[[X]], %[[ROOT]]
// CHECK: %[[P:.*]] = onnx.matmul %[[N]], %[[W]] : (tensor<?x16xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
// CHECK: %[[S:.*]] = onnx.shape %[[P]] {{.*}} : tensor<?x8xf32> -> tensor<2xi64>
// CHECK: %[[R:.*]] = onnx.reshape %[[P]], %[[S]] : (tensor<?x8xf32>, tensor<2xi64>) -> tensor<?x8xf32>
// CHECK: %[[Y:.*]] = onnx.softmax %[[R]] {axis = 1 : i64} : tensor<?x8xf32>
// CHECK: %[[OUT:.*]] = onnx.cast %[[Y]] : tensor<?x8xf32> to tensor<?x8xbf16>
// CHECK: return %[[OUT]]
// CHECK-NOT: onnx.cast
// LAYERS-LABEL: func @graph
// LAYERS-NOT: onnx.cast
// LAYERS: onnx.softmax %{{.*}} {axis = 1 : i64} : tensor<?x8xbf16>
func.func @graph(%x: tensor<?x16xbf16>) -> tensor<?x8xbf16> {
  %eps = arith.constant dense<1.0> : tensor<bf16>
  %w = arith.constant dense<0.5> : tensor<16x8xbf16>
  %sq = onnx.mul %x, %x : (tensor<?x16xbf16>, tensor<?x16xbf16>) -> tensor<?x16xbf16>
  %mean = onnx.reduce_mean %sq {axes = array<i64: 1>, keepdims = true} : tensor<?x16xbf16> -> tensor<?x1xbf16>
  %sum = onnx.add %mean, %eps : (tensor<?x1xbf16>, tensor<bf16>) -> tensor<?x1xbf16>
  %root = onnx.sqrt %sum : tensor<?x1xbf16>
  %n = onnx.div %x, %root : (tensor<?x16xbf16>, tensor<?x1xbf16>) -> tensor<?x16xbf16>
  %p = onnx.matmul %n, %w : (tensor<?x16xbf16>, tensor<16x8xbf16>) -> tensor<?x8xbf16>
  %s = onnx.shape %p {start = 0 : i64, end = 2 : i64} : tensor<?x8xbf16> -> tensor<2xi64>
  %r = onnx.reshape %p, %s : (tensor<?x8xbf16>, tensor<2xi64>) -> tensor<?x8xbf16>
  %y = onnx.softmax %r {axis = 1 : i64} : tensor<?x8xbf16>
  return %y : tensor<?x8xbf16>
}

// -----

// A causal mask in bf16: its -inf fill and Trilu in f32 too (k stays i64).
// An op the CUDA runtime does not compute (onnx.where) keeps bf16: its
// operand is cast back for it, its result widened after it.
// CHECK-LABEL: func @mask_and_where
// CHECK: %[[FILL:.*]] = onnx.constant_of_shape %arg1 {value = 0xFF800000 : f32} : (tensor<2xi64>) -> tensor<?x?xf32>
// CHECK: %[[MASK:.*]] = onnx.trilu %[[FILL]], %{{.*}} : (tensor<?x?xf32>, tensor<i64>) -> tensor<?x?xf32>
// CHECK: %[[SUM:.*]] = onnx.add %{{.*}}, %[[MASK]] : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
// CHECK: %[[NARROW:.*]] = onnx.cast %[[SUM]] : tensor<?x?xf32> to tensor<?x?xbf16>
// CHECK: %[[PICKED:.*]] = onnx.where %arg2, %[[NARROW]], %{{.*}} : (tensor<?x?xi1>, tensor<?x?xbf16>, tensor<bf16>) -> tensor<?x?xbf16>
// CHECK: %[[WIDE:.*]] = onnx.cast %[[PICKED]] : tensor<?x?xbf16> to tensor<?x?xf32>
// CHECK: onnx.softmax %[[WIDE]] {axis = 1 : i64} : tensor<?x?xf32>
func.func @mask_and_where(%s: tensor<?x?xbf16>, %shape: tensor<2xi64>, %c: tensor<?x?xi1>) -> tensor<?x?xbf16> {
  %k = arith.constant dense<1> : tensor<i64>
  %zero = arith.constant dense<0.0> : tensor<bf16>
  %f = onnx.constant_of_shape %shape {value = 0xFF80 : bf16} : (tensor<2xi64>) -> tensor<?x?xbf16>
  %m = onnx.trilu %f, %k : (tensor<?x?xbf16>, tensor<i64>) -> tensor<?x?xbf16>
  %a = onnx.add %s, %m : (tensor<?x?xbf16>, tensor<?x?xbf16>) -> tensor<?x?xbf16>
  %w = onnx.where %c, %a, %zero : (tensor<?x?xi1>, tensor<?x?xbf16>, tensor<bf16>) -> tensor<?x?xbf16>
  %p = onnx.softmax %w {axis = 1 : i64} : tensor<?x?xbf16>
  return %p : tensor<?x?xbf16>
}

// -----

// A KV cache: the concat the graph returns (present) stays bfloat16 - the
// past as it is, the new rows (an f32 op's result) rounded - and the op
// reading it (an f32 op, here a transpose for the scores) reads it widened;
// the cache's shape is read from the bf16 tensors, not through casts (no
// cast of the whole past kept alive for its length).
// CHECK-LABEL: func @cache
// CHECK: %[[K:.*]] = onnx.neg %{{.*}} : tensor<?x2x?x4xf32>
// CHECK: %[[NEW:.*]] = onnx.cast %[[K]] : tensor<?x2x?x4xf32> to tensor<?x2x?x4xbf16>
// CHECK: %[[PRESENT:.*]] = onnx.concat %arg1, %[[NEW]] {axis = 2 : i64} : (tensor<?x2x?x4xbf16>, tensor<?x2x?x4xbf16>) -> tensor<?x2x?x4xbf16>
// CHECK: %[[WIDE:.*]] = onnx.cast %[[PRESENT]] : tensor<?x2x?x4xbf16> to tensor<?x2x?x4xf32>
// CHECK: onnx.shape %arg1
// CHECK: onnx.transpose %[[WIDE]]
// CHECK: return %{{.*}}, %[[PRESENT]], %{{.*}} :
// CHECK-NOT: onnx.cast %arg1
func.func @cache(%x: tensor<?x2x?x4xbf16>, %past: tensor<?x2x?x4xbf16>) -> (tensor<?x2x4x?xbf16>, tensor<?x2x?x4xbf16>, tensor<4xi64>) {
  %k = onnx.neg %x : tensor<?x2x?x4xbf16>
  %present = onnx.concat %past, %k {axis = 2 : i64} : (tensor<?x2x?x4xbf16>, tensor<?x2x?x4xbf16>) -> tensor<?x2x?x4xbf16>
  %n = onnx.shape %past {start = 0 : i64, end = 4 : i64} : tensor<?x2x?x4xbf16> -> tensor<4xi64>
  %kt = onnx.transpose %present {perm = array<i64: 0, 1, 3, 2>} : tensor<?x2x?x4xbf16> -> tensor<?x2x4x?xbf16>
  return %kt, %present, %n : tensor<?x2x4x?xbf16>, tensor<?x2x?x4xbf16>, tensor<4xi64>
}
