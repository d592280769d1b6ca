// RUN: moe-opt %s -moe-mark-device-io -split-input-file | FileCheck %s
// RUN: moe-opt %s -moe-mark-device-io -split-input-file | grep -c moe.device_io | FileCheck %s --check-prefix=ONCE
// ONCE: 1

// Before: bufferized code. After: `moe.device_io` on the module when the
// graph's data is touched by CUDA runtime calls only.

// Allocation, pointer plumbing, the CUDA call and the status check: marked.
// CHECK: module attributes {moe.device_io} {
// CHECK-NEXT: llvm.func @moe_cuda_cc_combine_f32
module {
  llvm.func @moe_cuda_cc_combine_f32(i32, !llvm.ptr, i64, i64, !llvm.ptr, !llvm.ptr, i64, i64, !llvm.ptr) -> i32
  func.func @main_graph(%rows: memref<8x4xf32>, %w: memref<4x2xf32>) -> memref<4x4xf32> {
    %c0 = arith.constant 0 : i32
    %c8 = arith.constant 8 : i64
    %c4 = arith.constant 4 : i64
    %c2 = arith.constant 2 : i64
    %out = memref.alloc() : memref<4x4xf32>
    %r = memref.extract_aligned_pointer_as_index %rows : memref<8x4xf32> -> index
    %o = memref.extract_aligned_pointer_as_index %out : memref<4x4xf32> -> index
    %ri = arith.index_cast %r : index to i64
    %oi = arith.index_cast %o : index to i64
    %rp = llvm.inttoptr %ri : i64 to !llvm.ptr
    %op = llvm.inttoptr %oi : i64 to !llvm.ptr
    %null = llvm.mlir.zero : !llvm.ptr
    %s = llvm.call @moe_cuda_cc_combine_f32(%c0, %rp, %c8, %c4, %rp, %null, %c4, %c2, %op) : (i32, !llvm.ptr, i64, i64, !llvm.ptr, !llvm.ptr, i64, i64, !llvm.ptr) -> i32
    return %out : memref<4x4xf32>
  }
}

// -----

// A copy touches data on the host: not marked.
// CHECK: module {
// CHECK-NEXT: func.func @main_graph(%arg0: memref<4x4xf32>)
module {
  func.func @main_graph(%x: memref<4x4xf32>) -> memref<4x4xf32> {
    %out = memref.alloc() : memref<4x4xf32>
    memref.copy %x, %out : memref<4x4xf32> to memref<4x4xf32>
    return %out : memref<4x4xf32>
  }
}

// -----

// Integer inputs could be indices reaching the kernels unchecked: not
// marked, even without any op touching data.
// CHECK: module {
// CHECK-NEXT: func.func @main_graph(%arg0: memref<4x2xi32>)
module {
  func.func @main_graph(%ids: memref<4x2xi32>) -> memref<4x2xi32> {
    return %ids : memref<4x2xi32>
  }
}

// -----

// A call to anything but the CUDA runtime: not marked.
// CHECK: module {
// CHECK-NEXT: llvm.func @moe_cc_combine_f32
module {
  llvm.func @moe_cc_combine_f32(i32) -> i32
  func.func @main_graph(%x: memref<4xf32>) -> memref<4xf32> {
    %c0 = arith.constant 0 : i32
    %s = llvm.call @moe_cc_combine_f32(%c0) : (i32) -> i32
    return %x : memref<4xf32>
  }
}
