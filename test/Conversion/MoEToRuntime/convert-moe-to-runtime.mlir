// RUN: moe-opt %s -convert-moe-to-runtime -split-input-file | FileCheck %s
// RUN: moe-opt %s -convert-moe-to-runtime=num-threads=3 -split-input-file | FileCheck %s --check-prefix=THREADS
// RUN: moe-opt %s -convert-moe-to-runtime=weight-type=bf16 -split-input-file | FileCheck %s --check-prefix=BF16
// RUN: moe-opt %s -convert-moe-to-runtime=weight-type=int8 -split-input-file | FileCheck %s --check-prefix=INT8
// RUN: not moe-opt %s -convert-moe-to-runtime=weight-type=fp8 -split-input-file 2>&1 | FileCheck %s --check-prefix=BADTYPE
// BADTYPE: error: weight-type must be f32, bf16, f16 or int8, not 'fp8'
// RUN: not moe-opt %s -convert-moe-to-runtime=weight-type=f16 -split-input-file 2>&1 | FileCheck %s --check-prefix=CPU-F16
// CPU-F16: error: weight-type=f16 needs target=cuda (the CPU runtime has f32, bf16 and int8 grouped matmuls)

// Before: decomposed moe ops on tensors. After: one call of a moe_cc_*
// runtime entry point each, operands passed as buffer pointers, results as
// fresh allocations wrapped back into tensors; numerics are checked against
// numpy in test/Integration/CPU/Runtime.

// CHECK-DAG: llvm.func @moe_cc_check_status(i32, !llvm.ptr)
// CHECK-DAG: llvm.func @moe_cc_route_f32(i32, !llvm.ptr, i64, i64, i32, i32, i32, i32, i32, i32, i32, i32, f32, !llvm.ptr, !llvm.ptr, !llvm.ptr, i32, !llvm.ptr) -> i32
// CHECK-LABEL: func @route
// CHECK-SAME: (%[[LOGITS:.*]]: tensor<?x8xf32>)
// CHECK-NOT: moe.route
// Threads (0: all) and kind (0: softmax_topk) share one constant.
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[K:.*]] = arith.constant 2 : i32
// CHECK-DAG: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// The layer number (0: the module's first routing) and its name (from the
// location) close the call, for the routing statistics.
// CHECK-DAG: %[[NAME:.*]] = llvm.mlir.addressof @__moe_layer_0 : !llvm.ptr
// CHECK-DAG: %[[WHAT:.*]] = llvm.mlir.addressof @__moe_kernel_moe_cc_route_f32 : !llvm.ptr
// CHECK: %[[T:.*]] = tensor.dim %[[LOGITS]], %c0
// CHECK: %[[BUF:.*]] = bufferization.to_buffer %[[LOGITS]] read_only : tensor<?x8xf32> to memref<?x8xf32>
// CHECK: %[[ADDR:.*]] = memref.extract_aligned_pointer_as_index %[[BUF]]
// CHECK: %[[IDS:.*]] = memref.alloc(%[[T]]) : memref<?x2xi32>
// CHECK: %[[W:.*]] = memref.alloc(%[[T]]) : memref<?x2xf32>
// CHECK: %[[STATUS:.*]] = llvm.call @moe_cc_route_f32(%[[ZERO]], %{{.*}}, %{{.*}}, %{{.*}}, %[[ZERO]], %[[K]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[NULL]], %{{.*}}, %{{.*}}, %[[ZERO]], %[[NAME]])
// A failing kernel reports to the runtime instead of aborting.
// CHECK: llvm.call @moe_cc_check_status(%[[STATUS]], %[[WHAT]]) : (i32, !llvm.ptr) -> ()
// CHECK: %[[IDS_T:.*]] = bufferization.to_tensor %[[IDS]] restrict : memref<?x2xi32> to tensor<?x2xi32>
// CHECK: %[[W_T:.*]] = bufferization.to_tensor %[[W]] restrict : memref<?x2xf32> to tensor<?x2xf32>
// CHECK: return %[[IDS_T]], %[[W_T]]
// CHECK: llvm.mlir.global internal constant @__moe_layer_0("router\00")
// CHECK: llvm.mlir.global internal constant @__moe_kernel_moe_cc_route_f32("moe.route (moe_cc_route_f32)\00")
// THREADS-LABEL: func @route
// THREADS: %[[THREADS:.*]] = arith.constant 3 : i32
// THREADS: llvm.call @moe_cc_route_f32(%[[THREADS]],
func.func @route(%logits: tensor<?x8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %ids, %w = moe.route %logits routing <softmax_topk, k = 2, renormalize = true>
      : tensor<?x8xf32> -> tensor<?x2xi32>, tensor<?x2xf32> loc("router")
  return %ids, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// Permute: rows [T*k, d], assignments [T*k], offsets [E+1], inverse [T, k].
// CHECK-LABEL: func @permute
// CHECK: %[[N:.*]] = arith.muli %{{.*}}, %c2 : index
// CHECK: memref.alloc(%[[N]]) : memref<?x16xf32>
// CHECK: memref.alloc(%[[N]]) : memref<?xi32>
// CHECK: memref.alloc() : memref<9xi32>
// CHECK: memref.alloc(%{{.*}}) : memref<?x2xi32>
// CHECK: llvm.call @moe_cc_permute_f32
// CHECK-COUNT-4: bufferization.to_tensor
func.func @permute(%x: tensor<?x16xf32>, %ids: tensor<?x2xi32>)
    -> (tensor<?x16xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>) {
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids
      : tensor<?x16xf32>, tensor<?x2xi32>
      -> tensor<?x16xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>
  return %rows, %assign, %offsets, %inverse
      : tensor<?x16xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>
}

// -----

// A fused gate|up grouped matmul: activation kind 4 (swiglu), output
// [N, M/2].
// CHECK-LABEL: func @grouped_matmul
// CHECK-DAG: %[[SWIGLU:.*]] = arith.constant 4 : i32
// CHECK-DAG: %[[M:.*]] = arith.constant 64 : i64
// CHECK: memref.alloc(%{{.*}}) : memref<?x32xf32>
// CHECK: llvm.call @moe_cc_grouped_matmul_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[M]], %{{.*}}, %{{.*}}, %[[SWIGLU]],
func.func @grouped_matmul(%rows: tensor<?x16xf32>, %w: tensor<8x16x64xf32>,
                          %offsets: tensor<9xi32>, %b: tensor<8x64xf32>) -> tensor<?x32xf32> {
  %h = moe.grouped_matmul %rows, %w, %offsets bias %b : tensor<8x64xf32> activation <swiglu>
       : tensor<?x16xf32>, tensor<8x16x64xf32>, tensor<9xi32> -> tensor<?x32xf32>
  return %h : tensor<?x32xf32>
}

// -----

// CHECK-LABEL: func @combine
// CHECK: llvm.call @moe_cc_combine_f32
// CHECK: bufferization.to_tensor %{{.*}} restrict : memref<?x16xf32> to tensor<?x16xf32>
func.func @combine(%rows: tensor<?x16xf32>, %w: tensor<?x2xf32>,
                   %inverse: tensor<?x2xi32>) -> tensor<?x16xf32> {
  %y = moe.combine %rows, %w, %inverse
       : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// i64 indices have no runtime entry point: the op stays for the reference
// lowering.
// CHECK-LABEL: func @combine_i64
// CHECK: moe.combine
// CHECK-NOT: llvm.call
func.func @combine_i64(%rows: tensor<?x16xf32>, %w: tensor<?x2xf32>,
                       %inverse: tensor<?x2xi64>) -> tensor<?x16xf32> {
  %y = moe.combine %rows, %w, %inverse
       : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Shared experts' slots: 2 more per token ([T, 4] results), gated by the
// logits' last column (E = 8 of 9 columns).
// CHECK-LABEL: func @route_shared
// CHECK: memref.alloc(%{{.*}}) : memref<?x4xi32>
// CHECK: memref.alloc(%{{.*}}) : memref<?x4xf32>
// CHECK: llvm.call @moe_cc_route_f32(%{{.*}}, %{{.*}}, %{{.*}}, %c8_i64, %{{.*}}, %c2_i32, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c2_i32, %c1_i32,
func.func @route_shared(%logits: tensor<?x9xf32>) -> (tensor<?x4xi32>, tensor<?x4xf32>) {
  %ids, %w = moe.route %logits routing <softmax_topk, k = 2> shared(2) gated
             : tensor<?x9xf32> -> tensor<?x4xi32>, tensor<?x4xf32>
  return %ids, %w : tensor<?x4xi32>, tensor<?x4xf32>
}

// -----

// Static token counts allocate static buffers (no dynamic sizes).
// CHECK-LABEL: func @route_static
// CHECK: memref.alloc() : memref<4x2xi32>
// CHECK: memref.alloc() : memref<4x2xf32>
// CHECK: llvm.call @moe_cc_route_f32
func.func @route_static(%logits: tensor<4x8xf32>) -> (tensor<4x2xi32>, tensor<4x2xf32>) {
  %ids, %w = moe.route %logits routing <softmax_topk, k = 2>
      : tensor<4x8xf32> -> tensor<4x2xi32>, tensor<4x2xf32>
  return %ids, %w : tensor<4x2xi32>, tensor<4x2xf32>
}

// -----

// Result types less static than the kernels' sizes (torch exports reach
// here with [?, ?] after shape-losing reshapes): the sizes come from the
// weights and the routing attribute.
// CHECK-LABEL: func @dynamic_result_dims
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK: memref.alloc(%{{.*}}, %[[C2]]) : memref<?x?xi32>
// CHECK: llvm.call @moe_cc_route_f32
// CHECK: llvm.call @moe_cc_permute_f32
// CHECK: memref.alloc(%{{.*}}, %[[C32]]) : memref<?x?xf32>
// CHECK: llvm.call @moe_cc_grouped_matmul_f32
func.func @dynamic_result_dims(%x: tensor<?x?xf32>, %logits: tensor<?x4xf32>,
                               %w: tensor<4x16x32xf32>) -> tensor<?x?xf32> {
  %ids, %weights = moe.route %logits routing <softmax_topk, k = 2>
      : tensor<?x4xf32> -> tensor<?x?xi32>, tensor<?x?xf32>
  %idsk = tensor.cast %ids : tensor<?x?xi32> to tensor<?x2xi32>
  %rows, %assignments, %offsets, %inverse = moe.permute %x, %idsk
      : tensor<?x?xf32>, tensor<?x2xi32>
      -> tensor<?x?xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>
  %h = moe.grouped_matmul %rows, %w, %offsets
      : tensor<?x?xf32>, tensor<4x16x32xf32>, tensor<5xi32> -> tensor<?x?xf32>
  return %h : tensor<?x?xf32>
}

// -----

// Fused gating: hidden states, router and router bias go to one kernel.
// CHECK-LABEL: func @route_fused
// CHECK: llvm.call @moe_cc_route_fused_f32
// CHECK-SAME: : (i32, !llvm.ptr, i64, i64, !llvm.ptr, !llvm.ptr, i64, i32, i32, i32, i32, i32, i32, i32, i32, f32, !llvm.ptr, !llvm.ptr, !llvm.ptr, i32, !llvm.ptr) -> i32
// CHECK: llvm.call @moe_cc_check_status
// CHECK-NOT: moe.route %
func.func @route_fused(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %b: tensor<8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %ids, %w = moe.route %x router %wr : tensor<16x8xf32> router_bias %b : tensor<8xf32>
      routing <softmax_topk, k = 2> : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %ids, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// Constant weights are packed into the runtime's panels at compile time
// (moe_packing.h: gate and up halves each padded to 32 columns, [K][32]
// per panel): [2, 3, 8] gated -> 2 experts x 2 panels x 3 x 32 floats.
// With weight-type=bf16 the panels hold bfloat16 (half the bytes) in row
// pairs, [K / 2][32][2], K = 3 padded to 4: 2 x 2 panels x 4 x 32; the
// first pair holds rows 0 and 1 of columns 0-3 side by side (0.5 =
// 0x3F00), the second row 2 and a zero.
// BF16-LABEL: func @packed_constant
// BF16: arith.constant dense_resource<moe_panels_bf16{{.*}}> : tensor<2x256xbf16>
// BF16: llvm.call @moe_cc_grouped_matmul_packed_bf16w
// BF16: moe_panels_bf16{{.*}}: "0x08000000003F003F003F003F003F003F003F003F00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000003F0000003F0000003F0000003F000000000000
// With weight-type=int8 they hold int8 (a quarter of the bytes) and a
// second constant the scales, one per packed column: 0.5 quantizes to 127
// with scale 0.5 / 127 (0x3B810204), padding columns to 0 with scale 0.
// INT8-LABEL: func @packed_constant
// INT8-DAG: %[[Q:.*]] = arith.constant dense_resource<moe_panels_i8{{.*}}> : tensor<2x192xi8>
// INT8-DAG: %[[S:.*]] = arith.constant dense_resource<moe_panel_scales{{.*}}> : tensor<2x64xf32>
// INT8: llvm.call @moe_cc_grouped_matmul_packed_i8w
// INT8-SAME: : (i32, !llvm.ptr, i64, i64, !llvm.ptr, !llvm.ptr, i64, i64, !llvm.ptr, !llvm.ptr, i32, f32, f32, f32, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64) -> i32
// INT8: moe_panels_i8{{.*}}: "0x{{[0-9A-F]+}}7F7F7F7F00000000000000000000000000000000000000000000000000000000
// INT8: moe_panel_scales{{.*}}: "0x{{[0-9A-F]+}}0402813B0402813B0402813B0402813B00000000
// CHECK-LABEL: func @packed_constant
// CHECK: %[[PANELS:.*]] = arith.constant dense_resource<moe_panels{{.*}}> : tensor<2x192xf32>
// CHECK: bufferization.to_buffer %[[PANELS]] read_only
// CHECK: memref.alloc(%{{.*}}) : memref<?x4xf32>
// CHECK: llvm.call @moe_cc_grouped_matmul_packed_f32
func.func @packed_constant(%rows: tensor<?x3xf32>, %offsets: tensor<3xi32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<0.5> : tensor<2x3x8xf32>
  %h = moe.grouped_matmul %rows, %w, %offsets activation <swiglu>
      : tensor<?x3xf32>, tensor<2x3x8xf32>, tensor<3xi32> -> tensor<?x4xf32>
  return %h : tensor<?x4xf32>
}

// -----

// Profiled loads (moe-compile --profile) become the order in which the
// kernel schedules the experts' work: busiest first, ties in expert order.
// CHECK-LABEL: func @profiled_order
// CHECK: %[[ORDER:.*]] = arith.constant dense<[1, 0, 3, 2]> : tensor<4xi32>
// CHECK: bufferization.to_buffer %[[ORDER]] read_only
// CHECK: llvm.call @moe_cc_grouped_matmul_f32
func.func @profiled_order(%rows: tensor<?x8xf32>, %w: tensor<4x8x16xf32>, %offsets: tensor<5xi32>) -> tensor<?x16xf32> {
  %h = moe.grouped_matmul %rows, %w, %offsets {moe.expert_loads = array<i64: 5, 9, 0, 5>}
      : tensor<?x8xf32>, tensor<4x8x16xf32>, tensor<5xi32> -> tensor<?x16xf32>
  return %h : tensor<?x16xf32>
}

// -----

// A fused combine (moe-fuse-combine): the kernel gets the combine's
// weights and inverse, the token count and k, and its output has the
// tokens' rows [T, 16] (the [T * k, 16] expert rows are never allocated).
// CHECK-LABEL: func @fused_combine
// CHECK-SAME: (%[[H:.*]]: tensor<?x32xf32>, %{{.*}}: tensor<8x32x16xf32>, %{{.*}}: tensor<9xi32>, %[[W:.*]]: tensor<?x2xf32>, %{{.*}}: tensor<?x2xi32>)
// CHECK: %[[T:.*]] = tensor.dim %[[W]], %c0
// CHECK: memref.alloc(%[[T]]) : memref<?x16xf32>
// CHECK: %[[T64:.*]] = arith.index_cast %[[T]] : index to i64
// CHECK: llvm.call @moe_cc_grouped_matmul_f32({{.*}}, %[[T64]], %c2_i64)
// CHECK-NOT: moe_cc_combine_f32
func.func @fused_combine(%h: tensor<?x32xf32>, %w2: tensor<8x32x16xf32>, %offsets: tensor<9xi32>, %w: tensor<?x2xf32>, %inverse: tensor<?x2xi32>) -> tensor<?x16xf32> {
  %y = moe.grouped_matmul %h, %w2, %offsets combine %w, %inverse : tensor<?x2xf32>, tensor<?x2xi32>
      : tensor<?x32xf32>, tensor<8x32x16xf32>, tensor<9xi32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

