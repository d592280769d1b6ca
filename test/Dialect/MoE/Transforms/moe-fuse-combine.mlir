// RUN: moe-opt %s -moe-fuse-combine -split-input-file | FileCheck %s

// Before: the down projection's rows [T * k, d] feed moe.combine. After:
// one grouped matmul with a combine clause whose result has the tokens'
// rows; the separate combine and its input rows are gone. Annotations of
// the matmul (profiled loads) stay.

// CHECK-LABEL: func @down_then_combine
// CHECK-SAME: (%[[H:.*]]: tensor<?x32xf32>, %[[W2:.*]]: tensor<8x32x16xf32>, %[[O:.*]]: tensor<9xi32>, %[[B:.*]]: tensor<8x16xf32>, %[[W:.*]]: tensor<?x2xf32>, %[[INV:.*]]: tensor<?x2xi32>)
// CHECK-NEXT: %[[Y:.*]] = moe.grouped_matmul %[[H]], %[[W2]], %[[O]] bias %[[B]] : tensor<8x16xf32> combine %[[W]], %[[INV]] : tensor<?x2xf32>, tensor<?x2xi32> {moe.expert_loads = array<i64: 1, 2, 3, 4, 5, 6, 7, 8>} : tensor<?x32xf32>, tensor<8x32x16xf32>, tensor<9xi32> -> tensor<?x16xf32>
// CHECK-NEXT: return %[[Y]]
func.func @down_then_combine(%h: tensor<?x32xf32>, %w2: tensor<8x32x16xf32>, %offsets: tensor<9xi32>, %b: tensor<8x16xf32>, %w: tensor<?x2xf32>, %inverse: tensor<?x2xi32>) -> tensor<?x16xf32> {
  %z = moe.grouped_matmul %h, %w2, %offsets bias %b : tensor<8x16xf32> {moe.expert_loads = array<i64: 1, 2, 3, 4, 5, 6, 7, 8>}
      : tensor<?x32xf32>, tensor<8x32x16xf32>, tensor<9xi32> -> tensor<?x16xf32>
  %y = moe.combine %z, %w, %inverse : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Rows that something else also reads stay stored: no fusion.
// CHECK-LABEL: func @rows_also_returned
// CHECK: %[[Z:.*]] = moe.grouped_matmul
// CHECK-NOT: combine %
// CHECK: moe.combine %[[Z]]
func.func @rows_also_returned(%h: tensor<?x32xf32>, %w2: tensor<8x32x16xf32>, %offsets: tensor<9xi32>, %w: tensor<?x2xf32>, %inverse: tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %z = moe.grouped_matmul %h, %w2, %offsets : tensor<?x32xf32>, tensor<8x32x16xf32>, tensor<9xi32> -> tensor<?x16xf32>
  %y = moe.combine %z, %w, %inverse : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<?x16xf32>
  return %y, %z : tensor<?x16xf32>, tensor<?x16xf32>
}
