// RUN: moe-opt %s -convert-onnx-to-linalg -split-input-file | FileCheck %s

// A run-time shape: entries are read with tensor.extract, 0 copies the
// input dim and -1 divides the element count (never by zero).
// CHECK-LABEL: func @reshape_runtime
// CHECK-NOT: onnx.
// CHECK: %[[E0:.*]] = tensor.extract %arg1[%{{.*}}] : tensor<2xi64>
// CHECK: arith.select
// CHECK: arith.maxui
// CHECK: arith.divui
// CHECK: tensor.reshape %arg0(%{{.*}}) : (tensor<?x8xf32>, tensor<2xi64>) -> tensor<?x?xf32>
func.func @reshape_runtime(%x: tensor<?x8xf32>, %s: tensor<2xi64>) -> tensor<?x?xf32> {
  %0 = onnx.reshape %x, %s : (tensor<?x8xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// Unsqueeze is a reshape to the input dims with 1 inserted.
// CHECK-LABEL: func @unsqueeze
// CHECK: %[[D:.*]] = tensor.dim %arg0, %c0
// CHECK: tensor.from_elements %{{.*}}, %{{.*}}, %{{.*}} : tensor<3xi64>
// CHECK: tensor.reshape %arg0
func.func @unsqueeze(%x: tensor<?x8xf32>) -> tensor<1x?x8xf32> {
  %0 = onnx.unsqueeze %x {axes = array<i64: 0>} : tensor<?x8xf32> -> tensor<1x?x8xf32>
  return %0 : tensor<1x?x8xf32>
}

// -----

// Gather reads the data with tensor.extract at the (normalized) index.
// Indices are normalized (negative from the end), then range-checked: an
// index outside [0, dim) is reported to the runtime with the node's name
// and the read is skipped (zero), so nothing is read out of bounds.
// The runtime's error entry is declared once per module (first).
// CHECK: llvm.func @moe_cc_index_error(!llvm.ptr, i64, i64)
// CHECK-LABEL: func @gather
// CHECK: linalg.generic
// CHECK-SAME: ins(%arg1 : tensor<?xi64>)
// CHECK: arith.cmpi slt
// CHECK: arith.addi
// CHECK: %[[GE:.*]] = arith.cmpi sge
// CHECK: %[[LT:.*]] = arith.cmpi slt
// CHECK: %[[OK:.*]] = arith.andi %[[GE]], %[[LT]]
// CHECK: %[[BAD:.*]] = arith.xori %[[OK]], %true
// CHECK: scf.if %[[BAD]] {
// CHECK: %[[NAME:.*]] = llvm.mlir.addressof @__moe_node_the_gather
// CHECK: llvm.call @moe_cc_index_error(%[[NAME]], %{{.*}}, %{{.*}}) : (!llvm.ptr, i64, i64) -> ()
// CHECK: scf.if %[[OK]] -> (f32) {
// CHECK: tensor.extract %arg0[%{{.*}}, %{{.*}}] : tensor<?x8xf32>
// CHECK: } else {
// CHECK: arith.constant 0.000000e+00 : f32
// CHECK: llvm.mlir.global internal constant @__moe_node_the_gather("the_gather\00")
func.func @gather(%x: tensor<?x8xf32>, %i: tensor<?xi64>) -> tensor<?x8xf32> {
  %0 = onnx.gather %x, %i {axis = 0 : i64} : (tensor<?x8xf32>, tensor<?xi64>) -> tensor<?x8xf32> loc("the_gather")
  return %0 : tensor<?x8xf32>
}

// -----

// ScatterElements: loops (p, q) with the q loops reductions; the input is
// the accumulator.
// CHECK-LABEL: func @scatter_add
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
// CHECK-SAME: outs(%arg0 : tensor<?x8xf32>)
// CHECK: arith.addf
// CHECK: arith.select
func.func @scatter_add(%x: tensor<?x8xf32>, %i: tensor<?x8xi64>, %u: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = onnx.scatter_elements %x, %i, %u {axis = 0 : i64, reduction = "add"} : (tensor<?x8xf32>, tensor<?x8xi64>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// NonZero: count, prefix counts, then one column per non-zero element.
// CHECK-LABEL: func @nonzero
// CHECK: tensor.reshape
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK: %[[N:.*]] = tensor.extract
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: tensor.cast %{{.*}} : tensor<2x?xi64> to tensor<2x?xi64>
func.func @nonzero(%m: tensor<?x4xi1>) -> tensor<2x?xi64> {
  %0 = onnx.nonzero %m : tensor<?x4xi1> -> tensor<2x?xi64>
  return %0 : tensor<2x?xi64>
}

// -----

// TopK: a rank per element, then the element ranked j at output j.
// CHECK-LABEL: func @topk
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]{{.*}}outs(%{{.*}} : tensor<?x8xi64>)
// CHECK: linalg.generic {{.*}}outs(%{{.*}} : tensor<?x2xf32>)
// CHECK: linalg.generic {{.*}}outs(%{{.*}} : tensor<?x2xi64>)
func.func @topk(%x: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %v, %i = onnx.topk %x {axis = 1 : i64, k = 2 : i64, largest = true} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %v, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// keepdims: reduce into the kept dims, then reshape with the 1s back.
// CHECK-LABEL: func @reduce_keepdims
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK: tensor.reshape %{{.*}} : (tensor<?xf32>, tensor<2xi64>) -> tensor<?x1xf32>
func.func @reduce_keepdims(%x: tensor<?x8xf32>) -> tensor<?x1xf32> {
  %0 = onnx.reduce_sum %x {axes = array<i64: 1>, keepdims = true} : tensor<?x8xf32> -> tensor<?x1xf32>
  return %0 : tensor<?x1xf32>
}

// -----

// Concat: insert_slice at running offsets; Slice: extract_slice with bounds
// clamped at run time.
// CHECK-LABEL: func @concat_slice
// CHECK: tensor.insert_slice %arg0
// CHECK: tensor.insert_slice %arg1
// CHECK: arith.minsi
// CHECK: tensor.extract_slice %{{.*}}[0, %{{.*}}] [%{{.*}}, %{{.*}}] [1, 2]
func.func @concat_slice(%x: tensor<?x8xf32>, %y: tensor<?x8xf32>) -> tensor<?x?xf32> {
  %0 = onnx.concat %x, %y {axis = 0 : i64} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %1 = onnx.slice %0 {axes = array<i64: 1>, starts = array<i64: -7>, ends = array<i64: 100>, steps = array<i64: 2>} : (tensor<?x8xf32>) -> tensor<?x?xf32>
  return %1 : tensor<?x?xf32>
}
