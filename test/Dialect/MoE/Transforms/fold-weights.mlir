// RUN: moe-opt %s -moe-fold-weights -split-input-file | FileCheck %s

// Before: layout changes on constant weights (what the importer and
// moe-decompose leave). After: one constant in the final layout.

// A transpose written as a permuting linalg.generic (onnx.transpose after
// convert-onnx-to-linalg): [[1, 2, 3], [4, 5, 6]] -> [[1, 4], [2, 5], [3, 6]].
// CHECK-LABEL: func @generic_transpose
// CHECK-NEXT: %[[C:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 4.000000e+00], [2.000000e+00, 5.000000e+00], [3.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
// CHECK-NEXT: return %[[C]]
#in = affine_map<(d0, d1) -> (d1, d0)>
#out = affine_map<(d0, d1) -> (d0, d1)>
func.func @generic_transpose() -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) {
  ^bb0(%a: f32, %b: f32):
    linalg.yield %a : f32
  } -> tensor<3x2xf32>
  return %t : tensor<3x2xf32>
}

// -----

// linalg.transpose of a rank-3 i32 constant, permutation [0, 2, 1].
// CHECK-LABEL: func @named_transpose
// CHECK-NEXT: arith.constant dense<{{\[}}{{\[}}[0, 2], [1, 3]], {{\[}}[4, 6], [5, 7]]]> : tensor<2x2x2xi32>
func.func @named_transpose() -> tensor<2x2x2xi32> {
  %w = arith.constant dense<[[[0, 1], [2, 3]], [[4, 5], [6, 7]]]> : tensor<2x2x2xi32>
  %e = tensor.empty() : tensor<2x2x2xi32>
  %t = linalg.transpose ins(%w : tensor<2x2x2xi32>) outs(%e : tensor<2x2x2xi32>) permutation = [0, 2, 1]
  return %t : tensor<2x2x2xi32>
}

// -----

// Interleaved gate/up rows split by strided slices (com.microsoft.MoE's
// swiglu_fusion = 1) and concatenated again side by side (moe-decompose).
// CHECK-LABEL: func @split_and_concat
// CHECK-NEXT: %[[C:.*]] = arith.constant dense<{{\[}}[0.000000e+00, 2.000000e+00, 1.000000e+00, 3.000000e+00], [4.000000e+00, 6.000000e+00, 5.000000e+00, 7.000000e+00]]> : tensor<2x4xf32>
// CHECK-NEXT: return %[[C]]
func.func @split_and_concat() -> tensor<2x4xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]> : tensor<2x4xf32>
  %gate = tensor.extract_slice %w[0, 0] [2, 2] [1, 2] : tensor<2x4xf32> to tensor<2x2xf32>
  %up = tensor.extract_slice %w[0, 1] [2, 2] [1, 2] : tensor<2x4xf32> to tensor<2x2xf32>
  %e = tensor.empty() : tensor<2x4xf32>
  %a = tensor.insert_slice %gate into %e[0, 0] [2, 2] [1, 1] : tensor<2x2xf32> into tensor<2x4xf32>
  %b = tensor.insert_slice %up into %a[0, 2] [2, 2] [1, 1] : tensor<2x2xf32> into tensor<2x4xf32>
  return %b : tensor<2x4xf32>
}

// -----

// Rank-reducing slices, reshapes and casts keep the element order.
// CHECK-LABEL: func @reshapes
// CHECK-NEXT: %[[C:.*]] = arith.constant dense<[4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00]> : tensor<4xf32>
// CHECK-NEXT: return %[[C]]
func.func @reshapes() -> tensor<4xf32> {
  %w = arith.constant dense<[[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]]> : tensor<2x2x2xf32>
  %s = tensor.extract_slice %w[1, 0, 0] [1, 2, 2] [1, 1, 1] : tensor<2x2x2xf32> to tensor<2x2xf32>
  %c = tensor.collapse_shape %s [[0, 1]] : tensor<2x2xf32> into tensor<4xf32>
  %d = tensor.cast %c : tensor<4xf32> to tensor<?xf32>
  %x = tensor.expand_shape %c [[0, 1]] output_shape [1, 4] : tensor<4xf32> into tensor<1x4xf32>
  %y = tensor.collapse_shape %x [[0, 1]] : tensor<1x4xf32> into tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Large results become dense_resource blobs.
// CHECK-LABEL: func @large
// CHECK-NEXT: arith.constant dense_resource<moe_prepacked> : tensor<8x4xf32>
func.func @large() -> tensor<8x4xf32> {
  %w = arith.constant dense<1.5> : tensor<4x8xf32>
  %e = tensor.empty() : tensor<8x4xf32>
  %t = linalg.transpose ins(%w : tensor<4x8xf32>) outs(%e : tensor<8x4xf32>) permutation = [1, 0]
  return %t : tensor<8x4xf32>
}

// -----

// Not folded: a transpose of a function argument, a generic that computes,
// a slice with dynamic offsets.
// CHECK-LABEL: func @not_constant
// CHECK: linalg.transpose
// CHECK: linalg.generic
// CHECK: arith.addf
// CHECK: tensor.extract_slice
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @not_constant(%arg: tensor<2x3xf32>, %i: index) -> (tensor<3x2xf32>, tensor<2x3xf32>, tensor<1x3xf32>) {
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.transpose ins(%arg : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = [1, 0]
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %e2 = tensor.empty() : tensor<2x3xf32>
  %g = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<2x3xf32>) outs(%e2 : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  %s = tensor.extract_slice %w[%i, 0] [1, 3] [1, 1] : tensor<2x3xf32> to tensor<1x3xf32>
  return %t, %g, %s : tensor<3x2xf32>, tensor<2x3xf32>, tensor<1x3xf32>
}

// -----

// A widening of 16-bit constant weights (moe-widen-half's onnx.cast after
// convert-onnx-to-linalg) becomes an f32 constant: f16 1.5 and bf16 -2.0
// exactly.
// CHECK-LABEL: func @widen
// CHECK-DAG: arith.constant dense<1.500000e+00> : tensor<2x3xf32>
// CHECK-DAG: arith.constant dense<-2.000000e+00> : tensor<3xf32>
// CHECK-NOT: linalg.generic
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#id1 = affine_map<(d0) -> (d0)>
func.func @widen() -> (tensor<2x3xf32>, tensor<3xf32>) {
  %h = arith.constant dense<1.5> : tensor<2x3xf16>
  %e = tensor.empty() : tensor<2x3xf32>
  %w = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%h : tensor<2x3xf16>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f16, %b: f32):
    %x = arith.extf %a : f16 to f32
    linalg.yield %x : f32
  } -> tensor<2x3xf32>
  %bh = arith.constant dense<-2.0> : tensor<3xbf16>
  %be = tensor.empty() : tensor<3xf32>
  %bw = linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]}
      ins(%bh : tensor<3xbf16>) outs(%be : tensor<3xf32>) {
  ^bb0(%a: bf16, %b: f32):
    %x = arith.extf %a : bf16 to f32
    linalg.yield %x : f32
  } -> tensor<3xf32>
  return %w, %bw : tensor<2x3xf32>, tensor<3xf32>
}
