// RUN: moe-opt %s -convert-onnx-to-linalg -split-input-file | FileCheck %s

// Broadcasting: the [16] operand reads only the trailing loop, the [1, 16]
// one reads index 0 for the stretched dim; the dynamic dim comes from %x.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[STRETCH:.*]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-LABEL: func @broadcast
// CHECK-NOT: onnx.
// CHECK: %[[T:.*]] = tensor.dim %{{.*}}, %c0
// CHECK: tensor.empty(%[[T]]) : tensor<?x16xf32>
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ID]]]
// CHECK: arith.addf
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[STRETCH]], #[[ID]]]
// CHECK: arith.mulf
func.func @broadcast(%x: tensor<?x16xf32>, %b: tensor<16xf32>, %s: tensor<1x16xf32>) -> tensor<?x16xf32> {
  %0 = onnx.add %x, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  %1 = onnx.mul %0, %s : (tensor<?x16xf32>, tensor<1x16xf32>) -> tensor<?x16xf32>
  return %1 : tensor<?x16xf32>
}

// -----

// MatMul: batch dim broadcast from a size-1 rhs batch, reduction last.
// CHECK-DAG: #[[LHS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[RHS:.*]] = affine_map<(d0, d1, d2, d3) -> (0, d3, d2)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func @matmul
// CHECK: linalg.generic {indexing_maps = [#[[LHS]], #[[RHS]], #[[OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
func.func @matmul(%x: tensor<2x?x16xf32>, %w: tensor<1x16x8xf32>) -> tensor<2x?x8xf32> {
  %0 = onnx.matmul %x, %w : (tensor<2x?x16xf32>, tensor<1x16x8xf32>) -> tensor<2x?x8xf32>
  return %0 : tensor<2x?x8xf32>
}

// -----

// Softmax along axis 0: the reductions drop loop 0.
// CHECK-DAG: #[[ALL:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[KEPT:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func @softmax
// CHECK: linalg.generic {indexing_maps = [#[[ALL]], #[[KEPT]]], iterator_types = ["reduction", "parallel"]}
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: arith.divf
func.func @softmax(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = onnx.softmax %x {axis = 0 : i64} : tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Transpose: result loop d reads input dim perm[d].
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1, d2) -> (d1, d2, d0)>
// CHECK-DAG: #[[ID3:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func @transpose
// CHECK: linalg.generic {indexing_maps = [#[[IN]], #[[ID3]]]
// CHECK-SAME: outs(%{{.*}} : tensor<8x?x4xf32>)
func.func @transpose(%x: tensor<?x4x8xf32>) -> tensor<8x?x4xf32> {
  %0 = onnx.transpose %x {perm = array<i64: 2, 0, 1>} : tensor<?x4x8xf32> -> tensor<8x?x4xf32>
  return %0 : tensor<8x?x4xf32>
}

// -----

// Reshape: 0 copies the input dim, -1 is the element count over the rest.
// CHECK-LABEL: func @reshape
// CHECK: %[[D0:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[COUNT:.*]] = arith.muli
// CHECK: arith.divui
// CHECK: %[[SHAPE:.*]] = tensor.from_elements %{{.*}}, %{{.*}}, %{{.*}} : tensor<3xi64>
// CHECK: tensor.reshape %arg0(%[[SHAPE]]) : (tensor<?x8xf32>, tensor<3xi64>) -> tensor<?x?x2xf32>
func.func @reshape(%x: tensor<?x8xf32>) -> tensor<?x?x2xf32> {
  %0 = onnx.reshape %x {shape = array<i64: 0, -1, 2>} : (tensor<?x8xf32>) -> tensor<?x?x2xf32>
  return %0 : tensor<?x?x2xf32>
}

// -----

// CHECK-DAG: #[[A:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[B:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[C:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func @cast_and_gemm
// CHECK: arith.fptosi %{{.*}} : f32 to i64
// CHECK: arith.sitofp %{{.*}} : i64 to f32
// Gemm with trans_b reads b as (n, k); alpha and beta scale in an epilogue.
// CHECK: linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[C]]]
// CHECK: arith.constant 5.000000e-01 : f32
// CHECK: arith.constant 2.000000e+00 : f32
func.func @cast_and_gemm(%x: tensor<?x8xf32>, %w: tensor<6x8xf32>, %c: tensor<6xf32>) -> tensor<?x6xf32> {
  %0 = onnx.cast %x : tensor<?x8xf32> to tensor<?x8xi64>
  %1 = onnx.cast %0 : tensor<?x8xi64> to tensor<?x8xf32>
  %2 = onnx.gemm %1, %w, %c {alpha = 0.5 : f32, beta = 2.0 : f32, trans_b} : (tensor<?x8xf32>, tensor<6x8xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  return %2 : tensor<?x6xf32>
}

// -----

// Trilu: an elementwise select on the last two loop indices - kept where
// column - row >= k (upper; k read from its tensor) or <= 0 (lower, no k),
// else zero.
// CHECK-LABEL: func @trilu
// CHECK: %[[KRAW:.*]] = tensor.extract %arg1[] : tensor<i64>
// CHECK: %[[K:.*]] = arith.index_cast %[[KRAW]] : i64 to index
// CHECK: linalg.generic
// CHECK: %[[COL:.*]] = linalg.index 2 : index
// CHECK: %[[ROW:.*]] = linalg.index 1 : index
// CHECK: %[[DIAG:.*]] = arith.subi %[[COL]], %[[ROW]] : index
// CHECK: %[[KEEP:.*]] = arith.cmpi sge, %[[DIAG]], %[[K]] : index
// CHECK: arith.select %[[KEEP]], %{{.*}}, %{{.*}} : f32
// CHECK: linalg.generic
// CHECK: arith.subi
// CHECK: arith.cmpi sle, %{{.*}}, %c0{{.*}} : index
func.func @trilu(%x: tensor<2x?x?xf32>, %k: tensor<i64>) -> (tensor<2x?x?xf32>, tensor<2x?x?xf32>) {
  %0 = onnx.trilu %x, %k : (tensor<2x?x?xf32>, tensor<i64>) -> tensor<2x?x?xf32>
  %1 = onnx.trilu %x {upper = false} : (tensor<2x?x?xf32>) -> tensor<2x?x?xf32>
  return %0, %1 : tensor<2x?x?xf32>, tensor<2x?x?xf32>
}

// -----

// Range: the count max(ceil((limit - start) / delta), 0) at run time (f32:
// through ceil; i64: a ceiling division, 0 for delta 0), then start + i *
// delta per element.
// CHECK-LABEL: func @range
// CHECK: %[[START:.*]] = tensor.extract %arg0[] : tensor<f32>
// CHECK: %[[LIMIT:.*]] = tensor.extract %arg1[] : tensor<f32>
// CHECK: %[[DELTA:.*]] = tensor.extract %arg2[] : tensor<f32>
// CHECK: %[[SPAN:.*]] = arith.subf %[[LIMIT]], %[[START]]
// CHECK: %[[STEPS:.*]] = arith.divf %[[SPAN]], %[[DELTA]]
// CHECK: math.ceil %[[STEPS]]
// CHECK: arith.fptosi
// CHECK: %[[N:.*]] = arith.maxsi
// CHECK: tensor.empty(%[[N]]) : tensor<?xf32>
// CHECK: linalg.generic
// CHECK: linalg.index 0
// CHECK: arith.sitofp
// CHECK: arith.mulf %{{.*}}, %[[DELTA]]
// CHECK: arith.addf %[[START]]
// CHECK: arith.ceildivsi
// CHECK: linalg.generic
// CHECK: arith.muli
// CHECK: arith.addi
func.func @range(%a: tensor<f32>, %b: tensor<f32>, %c: tensor<f32>, %i: tensor<i64>) -> (tensor<?xf32>, tensor<?xi64>) {
  %0 = onnx.range %a, %b, %c : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<?xf32>
  %1 = onnx.range %i, %i, %i : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  return %0, %1 : tensor<?xf32>, tensor<?xi64>
}

// -----

// The comparisons: floats ordered (NaN compares false), integers signed,
// each a linalg.generic over the broadcast operands.
// CHECK-LABEL: func.func @comparisons
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpf olt
// CHECK: arith.cmpf oge
// CHECK: arith.cmpf ole
// CHECK: arith.cmpi sgt
// CHECK: arith.cmpi slt
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi sle
// CHECK-NOT: onnx.
func.func @comparisons(%x: tensor<?x4xf32>, %b: tensor<4xf32>, %i: tensor<5xi64>, %p: tensor<?x1xi64>)
    -> (tensor<?x4xi1>, tensor<?x4xi1>, tensor<?x4xi1>, tensor<?x4xi1>,
        tensor<?x5xi1>, tensor<?x5xi1>, tensor<?x5xi1>, tensor<?x5xi1>) {
  %0 = onnx.greater %x, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xi1>
  %1 = onnx.less %x, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xi1>
  %2 = onnx.greater_or_equal %x, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xi1>
  %3 = onnx.less_or_equal %x, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xi1>
  %4 = onnx.greater %i, %p : (tensor<5xi64>, tensor<?x1xi64>) -> tensor<?x5xi1>
  %5 = onnx.less %i, %p : (tensor<5xi64>, tensor<?x1xi64>) -> tensor<?x5xi1>
  %6 = onnx.greater_or_equal %i, %p : (tensor<5xi64>, tensor<?x1xi64>) -> tensor<?x5xi1>
  %7 = onnx.less_or_equal %i, %p : (tensor<5xi64>, tensor<?x1xi64>) -> tensor<?x5xi1>
  return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<?x4xi1>, tensor<?x4xi1>, tensor<?x4xi1>, tensor<?x4xi1>,
      tensor<?x5xi1>, tensor<?x5xi1>, tensor<?x5xi1>, tensor<?x5xi1>
}
