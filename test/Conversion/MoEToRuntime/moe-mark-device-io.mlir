// RUN: moe-opt %s -moe-mark-device-io -split-input-file | FileCheck %s
// RUN: moe-opt %s -moe-mark-device-io -split-input-file | grep -c "module attributes {moe.device_io" | FileCheck %s --check-prefix=MARKED
// MARKED: 6

// Before: bufferized code. After: `moe.device_io` on the module unless an
// integer input reaches a CUDA call other than the conversion to floats,
// the inputs touched on the host listed in `moe.device_io_host_inputs`
// (a run copies them there first), and `alignment = 256` (the device
// tag) on every allocation only CUDA runtime calls touch.

// Inputs and the output reach only the CUDA call: marked, the output on
// the device.
// CHECK: module attributes {moe.device_io} {
// CHECK-NEXT: llvm.func @moe_cuda_cc_combine_f32
// CHECK: memref.alloc() {alignment = 256 : i64} : memref<4x4xf32>
module {
  llvm.func @moe_cuda_cc_combine_f32(i32, !llvm.ptr, i64, i64, !llvm.ptr, !llvm.ptr, i64, i64, !llvm.ptr) -> i32
  func.func @main_graph(%rows: memref<8x4xf32>, %w: memref<4x2xf32>) -> memref<4x4xf32> {
    %c0 = arith.constant 0 : i32
    %c8 = arith.constant 8 : i64
    %c4 = arith.constant 4 : i64
    %c2 = arith.constant 2 : i64
    %out = memref.alloc() {alignment = 64 : i64} : memref<4x4xf32>
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

// Host work on a buffer of its own (a shape) does not keep the graph off
// the device: marked, the shape stays on the host, the CUDA output and its
// reshaped view go to the device.
// CHECK: module attributes {moe.device_io} {
// CHECK: %[[SHAPE:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1xi64>
// CHECK: memref.store %{{.*}}, %[[SHAPE]]
// CHECK: memref.alloc() {alignment = 256 : i64} : memref<4xf32>
module {
  llvm.func @moe_cuda_cc_copy(!llvm.ptr, !llvm.ptr, i64, !llvm.ptr) -> i32
  func.func @main_graph(%x: memref<4xf32>) -> memref<4xf32> {
    %c0 = arith.constant 0 : index
    %c4 = arith.constant 4 : i64
    %shape = memref.alloc() {alignment = 64 : i64} : memref<1xi64>
    memref.store %c4, %shape[%c0] : memref<1xi64>
    %out = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
    %x1 = memref.extract_aligned_pointer_as_index %x : memref<4xf32> -> index
    %o1 = memref.extract_aligned_pointer_as_index %out : memref<4xf32> -> index
    %xi = arith.index_cast %x1 : index to i64
    %oi = arith.index_cast %o1 : index to i64
    %xp = llvm.inttoptr %xi : i64 to !llvm.ptr
    %op = llvm.inttoptr %oi : i64 to !llvm.ptr
    %null = llvm.mlir.zero : !llvm.ptr
    %s = llvm.call @moe_cuda_cc_copy(%op, %xp, %c4, %null) : (!llvm.ptr, !llvm.ptr, i64, !llvm.ptr) -> i32
    %view = memref.reshape %out(%shape) : (memref<4xf32>, memref<1xi64>) -> memref<4xf32>
    memref.dealloc %shape : memref<1xi64>
    return %view : memref<4xf32>
  }
}

// -----

// A copy reads the input on the host: marked, the input listed as read on
// the host, the copy's buffer on the host (not tagged).
// CHECK: module attributes {moe.device_io, moe.device_io_host_inputs = array<i32: 0>} {
// CHECK-NEXT: func.func @main_graph(%arg0: memref<4x4xf32>)
// CHECK-NOT: alignment = 256
module {
  func.func @main_graph(%x: memref<4x4xf32>) -> memref<4x4xf32> {
    %out = memref.alloc() : memref<4x4xf32>
    memref.copy %x, %out : memref<4x4xf32> to memref<4x4xf32>
    return %out : memref<4x4xf32>
  }
}

// -----

// Integer inputs could be indices reaching the kernels unchecked: one
// whose pointer reaches another entry point than the conversion to
// floats is not marked.
// CHECK: module {
// CHECK-NEXT: llvm.func @moe_cuda_cc_combine_f32
module {
  llvm.func @moe_cuda_cc_combine_f32(!llvm.ptr) -> i32
  func.func @main_graph(%ids: memref<4x2xi32>) -> memref<4x2xi32> {
    %x1 = memref.extract_aligned_pointer_as_index %ids : memref<4x2xi32> -> index
    %xi = arith.index_cast %x1 : index to i64
    %xp = llvm.inttoptr %xi : i64 to !llvm.ptr
    %s = llvm.call @moe_cuda_cc_combine_f32(%xp) : (!llvm.ptr) -> i32
    return %ids : memref<4x2xi32>
  }
}

// -----

// An integer input only converted to floats by CUDA calls (HF's
// position_ids, through a view) is read as numbers, never as indices:
// marked, the conversion's output on the device.
// CHECK: module attributes {moe.device_io} {
// CHECK-NEXT: llvm.func @moe_cuda_cc_cast
// CHECK: memref.alloc() {alignment = 256 : i64} : memref<2x1x3xf32>
module {
  llvm.func @moe_cuda_cc_cast(i32, i32, !llvm.ptr, i64, !llvm.ptr) -> i32
  func.func @main_graph(%ids: memref<2x3xi64>) -> memref<2x1x3xf32> {
    %c0 = arith.constant 0 : i32
    %c4 = arith.constant 4 : i32
    %c6 = arith.constant 6 : i64
    %view = memref.expand_shape %ids [[0, 1], [2]] output_shape [2, 1, 3] : memref<2x3xi64> into memref<2x1x3xi64>
    %out = memref.alloc() {alignment = 64 : i64} : memref<2x1x3xf32>
    %x1 = memref.extract_aligned_pointer_as_index %view : memref<2x1x3xi64> -> index
    %o1 = memref.extract_aligned_pointer_as_index %out : memref<2x1x3xf32> -> index
    %xi = arith.index_cast %x1 : index to i64
    %oi = arith.index_cast %o1 : index to i64
    %xp = llvm.inttoptr %xi : i64 to !llvm.ptr
    %op = llvm.inttoptr %oi : i64 to !llvm.ptr
    %s = llvm.call @moe_cuda_cc_cast(%c0, %c4, %xp, %c6, %op) : (i32, i32, !llvm.ptr, i64, !llvm.ptr) -> i32
    return %out : memref<2x1x3xf32>
  }
}

// -----

// The first input's pointer reaches a call that is not a CUDA entry point
// (host code), the second's only a CUDA call: the first listed as read on
// the host, the second stays on the device, and so does the CUDA call's
// output.
// CHECK: module attributes {moe.device_io, moe.device_io_host_inputs = array<i32: 0>} {
// CHECK: memref.alloc() {alignment = 256 : i64} : memref<4xf32>
module {
  llvm.func @moe_cc_combine_f32(!llvm.ptr) -> i32
  llvm.func @moe_cuda_cc_copy(!llvm.ptr, !llvm.ptr, i64, !llvm.ptr) -> i32
  func.func @main_graph(%x: memref<4xf32>, %y: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>) {
    %c4 = arith.constant 4 : i64
    %x1 = memref.extract_aligned_pointer_as_index %x : memref<4xf32> -> index
    %xi = arith.index_cast %x1 : index to i64
    %xp = llvm.inttoptr %xi : i64 to !llvm.ptr
    %s = llvm.call @moe_cc_combine_f32(%xp) : (!llvm.ptr) -> i32
    %out = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
    %y1 = memref.extract_aligned_pointer_as_index %y : memref<4xf32> -> index
    %o1 = memref.extract_aligned_pointer_as_index %out : memref<4xf32> -> index
    %yi = arith.index_cast %y1 : index to i64
    %oi = arith.index_cast %o1 : index to i64
    %yp = llvm.inttoptr %yi : i64 to !llvm.ptr
    %op = llvm.inttoptr %oi : i64 to !llvm.ptr
    %null = llvm.mlir.zero : !llvm.ptr
    %t = llvm.call @moe_cuda_cc_copy(%op, %yp, %c4, %null) : (!llvm.ptr, !llvm.ptr, i64, !llvm.ptr) -> i32
    return %x, %out : memref<4xf32>, memref<4xf32>
  }
}

// -----

// An integer input indexing on the host only (a gather's ids read by host
// code) is listed as read on the host: marked.
// CHECK: module attributes {moe.device_io, moe.device_io_host_inputs = array<i32: 0>} {
module {
  func.func @main_graph(%ids: memref<4xi64>) -> memref<4xi64> {
    %out = memref.alloc() : memref<4xi64>
    memref.copy %ids, %out : memref<4xi64> to memref<4xi64>
    return %out : memref<4xi64>
  }
}
