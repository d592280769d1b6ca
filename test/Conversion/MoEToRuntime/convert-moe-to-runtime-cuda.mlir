// RUN: moe-opt %s -convert-moe-to-runtime=target=cuda -split-input-file | FileCheck %s
// RUN: moe-opt %s -convert-moe-to-runtime="target=cuda weight-type=bf16" -split-input-file | FileCheck %s --check-prefix=BF16
// RUN: moe-opt %s -convert-moe-to-runtime="target=cuda weight-type=f16" -split-input-file | FileCheck %s --check-prefix=F16
// RUN: not moe-opt %s -convert-moe-to-runtime="target=cuda weight-type=int8" -split-input-file 2>&1 | FileCheck %s --check-prefix=INT8
// RUN: not moe-opt %s -convert-moe-to-runtime=target=tpu -split-input-file 2>&1 | FileCheck %s --check-prefix=TARGET

// With target=cuda the decomposed ops call the CUDA runtime's twins of the
// moe_cc_* entry points (same arguments, host buffers), and each status
// check carries the CUDA runtime's text of a device error.
// INT8: error: weight-type=int8 is not supported with target=cuda
// TARGET: error: target must be cpu or cuda, not 'tpu'

// Weights that are not constants are passed row-major and flagged as not
// constant (copied to the device on every call).
// CHECK-LABEL: func @runtime_weights
// CHECK: %[[NOT_CONST:.*]] = arith.constant 0 : i32
// CHECK: %[[W:.*]] = bufferization.to_buffer %arg1 read_only : tensor<8x16x64xf32> to memref<8x16x64xf32>
// CHECK: %[[STATUS:.*]] = llvm.call @moe_cuda_cc_grouped_matmul_f32(
// CHECK-SAME: %[[NOT_CONST]]) : (i32, !llvm.ptr, i64, i64, !llvm.ptr, i64, i64, !llvm.ptr, !llvm.ptr, i32, f32, f32, f32, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i32) -> i32
// CHECK: %[[TEXT:.*]] = llvm.call @moe_cuda_last_error() : () -> !llvm.ptr
// CHECK: llvm.call @moe_cc_check_status_detail(%[[STATUS]], %{{.*}}, %[[TEXT]])
// Nothing to upload at model creation then.
// CHECK-NOT: func.func @__moe_cuda_preload
// BF16-LABEL: func @runtime_weights
// BF16: llvm.call @moe_cuda_cc_grouped_matmul_f32(
func.func @runtime_weights(%rows: tensor<?x16xf32>, %w: tensor<8x16x64xf32>, %offsets: tensor<9xi32>) -> tensor<?x32xf32> {
  %h = moe.grouped_matmul %rows, %w, %offsets activation <swiglu>
      : tensor<?x16xf32>, tensor<8x16x64xf32>, tensor<9xi32> -> tensor<?x32xf32>
  return %h : tensor<?x32xf32>
}

// -----

// Constant weights stay row-major [E, K, M] (no CPU panels) and are flagged
// constant: uploaded once. With weight-type=bf16 they become a row-major
// bfloat16 constant (0.5 = 0x3F00) for the tensor-core kernel.
// CHECK-LABEL: func @constant_weights
// CHECK-DAG: %[[CONST:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[W:.*]] = arith.constant dense<5.000000e-01> : tensor<2x3x8xf32>
// CHECK: bufferization.to_buffer %[[W]] read_only
// CHECK: llvm.call @moe_cuda_cc_grouped_matmul_f32(
// CHECK-SAME: %[[CONST]]) :
// CHECK-NOT: moe_panels
// The model uploads them when it is created: @__moe_cuda_preload (called
// by moe_model_create) hands each constant (2 x 3 x 8 floats: 192 bytes;
// bf16: 96) to the device cache.
// CHECK: func.func @__moe_cuda_preload() {
// CHECK: %[[COPY:.*]] = arith.constant dense<5.000000e-01> : tensor<2x3x8xf32>
// CHECK: bufferization.to_buffer %[[COPY]] read_only
// CHECK: %[[STATUS:.*]] = llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c192_i64) : (i32, !llvm.ptr, i64) -> i32
// CHECK: llvm.call @moe_cc_check_status_detail(%[[STATUS]]
// BF16-LABEL: func @constant_weights
// BF16: %[[W:.*]] = arith.constant dense_resource<moe_weights_bf16{{.*}}> : tensor<2x3x8xbf16>
// BF16: bufferization.to_buffer %[[W]] read_only
// BF16: llvm.call @moe_cuda_cc_grouped_matmul_bf16w(
// BF16: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c96_i64)
// BF16: moe_weights_bf16{{.*}}: "0x08000000003F003F003F003F003F003F
// With weight-type=f16, IEEE half (0.5 = 0x3800) for the fp16 kernels.
// F16-LABEL: func @constant_weights
// F16: %[[W:.*]] = arith.constant dense_resource<moe_weights_f16{{.*}}> : tensor<2x3x8xf16>
// F16: llvm.call @moe_cuda_cc_grouped_matmul_f16w(
// F16: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c96_i64)
// F16: moe_weights_f16{{.*}}: "0x080000000038003800380038003800380038
func.func @constant_weights(%rows: tensor<?x3xf32>, %offsets: tensor<3xi32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<0.5> : tensor<2x3x8xf32>
  %h = moe.grouped_matmul %rows, %w, %offsets activation <swiglu>
      : tensor<?x3xf32>, tensor<2x3x8xf32>, tensor<3xi32> -> tensor<?x4xf32>
  return %h : tensor<?x4xf32>
}

// -----

// The fused gating, permutation, a grouped matmul with the combine in its
// epilogue, and the combine: each one call of the CUDA runtime.
// CHECK-LABEL: func @layer
// CHECK: llvm.call @moe_cuda_cc_route_fused_f32(
// CHECK: llvm.call @moe_cuda_cc_permute_f32(
// CHECK: llvm.call @moe_cuda_cc_grouped_matmul_f32(
// CHECK: llvm.call @moe_cuda_cc_combine_f32(
// CHECK-NOT: llvm.call @moe_cc_{{route|permute|grouped|combine}}
func.func @layer(%x: tensor<?x16xf32>, %wr: tensor<16x8xf32>, %w: tensor<8x16x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %ids, %g = moe.route %x router %wr : tensor<16x8xf32>
      routing <softmax_topk, k = 2> : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids {num_experts = 8 : i64}
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>
  %fused = moe.grouped_matmul %rows, %w, %offsets combine %g, %inverse : tensor<?x2xf32>, tensor<?x2xi32>
      : tensor<?x16xf32>, tensor<8x16x16xf32>, tensor<9xi32> -> tensor<?x16xf32>
  %y = moe.combine %rows, %g, %inverse
      : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<?x16xf32>
  return %fused, %y : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// A self-contained chain permute -> grouped_matmul -> grouped_matmul with
// the combine becomes one call that keeps the permuted rows and hidden
// activations on the device: input, ids, gate weights, k = 2, E = 4, then
// each projection's weights, width, bias, activation and constant flag.
// CHECK-LABEL: func @experts_chain
// CHECK: llvm.call @moe_cuda_cc_route_f32(
// CHECK: %[[STATUS:.*]] = llvm.call @moe_cuda_cc_experts_f32(
// CHECK-SAME: %c2_i64, %c4_i64, %{{.*}}, %c64_i64, %{{.*}}, %c4_i32, {{.*}}, %c1_i32, %{{.*}}, %c16_i64, %{{.*}}, %c0_i32, {{.*}}, %c1_i32, %{{.*}}) : (i32, !llvm.ptr, i64, i64, !llvm.ptr, !llvm.ptr, i64, i64, !llvm.ptr, i64, !llvm.ptr, i32, f32, f32, f32, i32, !llvm.ptr, i64, !llvm.ptr, i32, f32, f32, f32, i32, !llvm.ptr) -> i32
// CHECK: llvm.call @moe_cc_check_status_detail(%[[STATUS]]
// CHECK-NOT: llvm.call @moe_cuda_cc_permute_f32
// CHECK-NOT: llvm.call @moe_cuda_cc_grouped_matmul_f32
// BF16-LABEL: func @experts_chain
// F16-LABEL: func @experts_chain
// F16: llvm.call @moe_cuda_cc_experts_f16w(
// BF16: llvm.call @moe_cuda_cc_experts_bf16w(
func.func @experts_chain(%x: tensor<?x16xf32>, %logits: tensor<?x4xf32>) -> tensor<?x16xf32> {
  %w1 = arith.constant dense<0.25> : tensor<4x16x64xf32>
  %w2 = arith.constant dense<0.5> : tensor<4x32x16xf32>
  %ids, %g = moe.route %logits routing <softmax_topk, k = 2> : tensor<?x4xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids {num_experts = 4 : i64}
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>
  %h = moe.grouped_matmul %rows, %w1, %offsets activation <swiglu>
      : tensor<?x16xf32>, tensor<4x16x64xf32>, tensor<5xi32> -> tensor<?x32xf32>
  %y = moe.grouped_matmul %h, %w2, %offsets combine %g, %inverse : tensor<?x2xf32>, tensor<?x2xi32>
      : tensor<?x32xf32>, tensor<4x32x16xf32>, tensor<5xi32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Not self-contained (the hidden activations are also returned): one call
// per op, as the chain's values are needed on the host.
// CHECK-LABEL: func @experts_chain_escapes
// CHECK: llvm.call @moe_cuda_cc_permute_f32(
// CHECK: llvm.call @moe_cuda_cc_grouped_matmul_f32(
// CHECK: llvm.call @moe_cuda_cc_grouped_matmul_f32(
// CHECK-NOT: llvm.call @moe_cuda_cc_experts
func.func @experts_chain_escapes(%x: tensor<?x16xf32>, %ids: tensor<?x2xi32>, %g: tensor<?x2xf32>) -> (tensor<?x16xf32>, tensor<?x32xf32>) {
  %w1 = arith.constant dense<0.25> : tensor<4x16x64xf32>
  %w2 = arith.constant dense<0.5> : tensor<4x32x16xf32>
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids {num_experts = 4 : i64}
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>
  %h = moe.grouped_matmul %rows, %w1, %offsets activation <swiglu>
      : tensor<?x16xf32>, tensor<4x16x64xf32>, tensor<5xi32> -> tensor<?x32xf32>
  %y = moe.grouped_matmul %h, %w2, %offsets combine %g, %inverse : tensor<?x2xf32>, tensor<?x2xi32>
      : tensor<?x32xf32>, tensor<4x32x16xf32>, tensor<5xi32> -> tensor<?x16xf32>
  return %y, %h : tensor<?x16xf32>, tensor<?x32xf32>
}

// -----

// With fused gating whose ids and weights only the chain reads, the routing
// joins the call: one moe_cuda_cc_layer_* per layer (input, T, d, router,
// router bias, E = 4, softmax, k = 2, no renormalization, groups 1/1,
// mask, no shared experts nor gate, scale, correction bias, the layer's
// number and name for the
// routing statistics, then the experts' arguments as in the chain). The
// constant router is uploaded at model creation with the expert weights
// (16 x 4 floats: 256 bytes).
// CHECK-LABEL: func @layer_chain
// CHECK-NOT: llvm.call @moe_cuda_cc_route_fused_f32
// CHECK: %[[STATUS:.*]] = llvm.call @moe_cuda_cc_layer_f32(
// CHECK-SAME: %c4_i64, %c0_i32, %c2_i32, %c0_i32, %c1_i32, %c1_i32, %c0_i32, %c0_i32, %c0_i32, %{{.*}}, %{{.*}}, %c0_i32, %[[NAME:.*]], %{{.*}}, %c64_i64, %{{.*}}, %c4_i32, {{.*}}, %c1_i32, %{{.*}}, %c16_i64, %{{.*}}, %c0_i32, {{.*}}, %c1_i32, %{{.*}}) : (i32, !llvm.ptr, i64, i64, !llvm.ptr, !llvm.ptr, i64, i32, i32, i32, i32, i32, i32, i32, i32, f32, !llvm.ptr, i32, !llvm.ptr, !llvm.ptr, i64, !llvm.ptr, i32, f32, f32, f32, i32, !llvm.ptr, i64, !llvm.ptr, i32, f32, f32, f32, i32, !llvm.ptr) -> i32
// CHECK: llvm.call @moe_cc_check_status_detail(%[[STATUS]]
// CHECK-NOT: llvm.call @moe_cuda_cc_permute_f32
// CHECK-NOT: llvm.call @moe_cuda_cc_experts_f32
// CHECK: func.func @__moe_cuda_preload() {
// CHECK-DAG: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c256_i64)
// CHECK-DAG: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c16384_i64)
// CHECK-DAG: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c8192_i64)
// BF16-LABEL: func @layer_chain
// BF16: llvm.call @moe_cuda_cc_layer_bf16w(
// F16-LABEL: func @layer_chain
// F16: llvm.call @moe_cuda_cc_layer_f16w(
func.func @layer_chain(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %wr = arith.constant dense<0.125> : tensor<16x4xf32>
  %w1 = arith.constant dense<0.25> : tensor<4x16x64xf32>
  %w2 = arith.constant dense<0.5> : tensor<4x32x16xf32>
  %ids, %g = moe.route %x router %wr : tensor<16x4xf32>
      routing <softmax_topk, k = 2> : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids {num_experts = 4 : i64}
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>
  %h = moe.grouped_matmul %rows, %w1, %offsets activation <swiglu>
      : tensor<?x16xf32>, tensor<4x16x64xf32>, tensor<5xi32> -> tensor<?x32xf32>
  %y = moe.grouped_matmul %h, %w2, %offsets combine %g, %inverse : tensor<?x2xf32>, tensor<?x2xi32>
      : tensor<?x32xf32>, tensor<4x32x16xf32>, tensor<5xi32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Constant biases (router bias 16 bytes, gate|up bias 1024, down bias 256,
// next to the router's 256 and the weights') are uploaded at model creation with the weights: the calls carry no
// constant flag for them, and the runtime finds them in its device cache
// instead of copying them every call.
// CHECK-LABEL: func @layer_biases
// CHECK: llvm.call @moe_cuda_cc_layer_f32(
// CHECK: func.func @__moe_cuda_preload() {
// CHECK-DAG: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c16_i64)
// CHECK-DAG: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c1024_i64)
// CHECK-DAG: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c16384_i64)
// CHECK-DAG: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c8192_i64)
// CHECK-DAG: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c256_i64)
// CHECK-DAG: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c256_i64)
// CHECK-NOT: llvm.call @moe_cuda_cc_preload(
// CHECK: return
func.func @layer_biases(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %wr = arith.constant dense<0.125> : tensor<16x4xf32>
  %br = arith.constant dense<[0.5, 0.25, 0.0, -0.25]> : tensor<4xf32>
  %w1 = arith.constant dense<0.25> : tensor<4x16x64xf32>
  %b1 = arith.constant dense<0.75> : tensor<4x64xf32>
  %w2 = arith.constant dense<0.5> : tensor<4x32x16xf32>
  %b2 = arith.constant dense<-0.5> : tensor<4x16xf32>
  %ids, %g = moe.route %x router %wr : tensor<16x4xf32> router_bias %br : tensor<4xf32>
      routing <softmax_topk, k = 2> : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>
  %h = moe.grouped_matmul %rows, %w1, %offsets bias %b1 : tensor<4x64xf32> activation <swiglu>
      : tensor<?x16xf32>, tensor<4x16x64xf32>, tensor<5xi32> -> tensor<?x32xf32>
  %y = moe.grouped_matmul %h, %w2, %offsets bias %b2 : tensor<4x16xf32> combine %g, %inverse : tensor<?x2xf32>, tensor<?x2xi32>
      : tensor<?x32xf32>, tensor<4x32x16xf32>, tensor<5xi32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Qwen2-MoE's shape: E = 4 routed experts, one shared expert (expert 4,
// every token's third slot) gated by the router's fifth column. The
// whole layer is still one call: E = 4, k = 2, 1 shared, gated; the
// weights hold 5 experts.
// CHECK-LABEL: func @layer_shared
// CHECK: llvm.call @moe_cuda_cc_layer_f32(
// CHECK-SAME: %c4_i64, %c0_i32, %c2_i32, %c0_i32, %c1_i32, %c1_i32, %c0_i32, %c1_i32, %c1_i32,
// CHECK-NOT: llvm.call @moe_cuda_cc_permute_f32
// CHECK: func.func @__moe_cuda_preload() {
// CHECK-DAG: llvm.call @moe_cuda_cc_preload(%{{.*}}, %{{.*}}, %c320_i64)
func.func @layer_shared(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %wr = arith.constant dense<0.125> : tensor<16x5xf32>
  %w1 = arith.constant dense<0.25> : tensor<5x16x64xf32>
  %w2 = arith.constant dense<0.5> : tensor<5x32x16xf32>
  %ids, %g = moe.route %x router %wr : tensor<16x5xf32>
      routing <softmax_topk, k = 2> shared(1) gated : tensor<?x16xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids
      : tensor<?x16xf32>, tensor<?x3xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<6xi32>, tensor<?x3xi32>
  %h = moe.grouped_matmul %rows, %w1, %offsets activation <swiglu>
      : tensor<?x16xf32>, tensor<5x16x64xf32>, tensor<6xi32> -> tensor<?x32xf32>
  %y = moe.grouped_matmul %h, %w2, %offsets combine %g, %inverse : tensor<?x3xf32>, tensor<?x3xi32>
      : tensor<?x32xf32>, tensor<5x32x16xf32>, tensor<6xi32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Beyond the CUDA routing kernel's limits (600 > 512 routed experts): the
// routing runs on the host (the CPU runtime's fused kernel), the experts
// on the GPU with the ids it made.
// CHECK-LABEL: func @layer_many_experts
// CHECK: llvm.call @moe_cc_route_fused_f32(
// CHECK: llvm.call @moe_cc_check_status(
// CHECK: llvm.call @moe_cuda_cc_experts_f32(
// CHECK-NOT: llvm.call @moe_cuda_cc_layer_f32
// CHECK-NOT: llvm.call @moe_cuda_cc_route
func.func @layer_many_experts(%x: tensor<?x16xf32>, %wr: tensor<16x600xf32>) -> tensor<?x16xf32> {
  %w1 = arith.constant dense<0.25> : tensor<600x16x8xf32>
  %w2 = arith.constant dense<0.5> : tensor<600x4x16xf32>
  %ids, %g = moe.route %x router %wr : tensor<16x600xf32>
      routing <softmax_topk, k = 2> : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<601xi32>, tensor<?x2xi32>
  %h = moe.grouped_matmul %rows, %w1, %offsets activation <swiglu>
      : tensor<?x16xf32>, tensor<600x16x8xf32>, tensor<601xi32> -> tensor<?x4xf32>
  %y = moe.grouped_matmul %h, %w2, %offsets combine %g, %inverse : tensor<?x2xf32>, tensor<?x2xi32>
      : tensor<?x4xf32>, tensor<600x4x16xf32>, tensor<601xi32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Near miss: the routing weights are also returned, so the gating stays its
// own call (its results are needed on the host) and the experts one call.
// CHECK-LABEL: func @layer_chain_weights_escape
// CHECK: llvm.call @moe_cuda_cc_route_fused_f32(
// CHECK: llvm.call @moe_cuda_cc_experts_f32(
// CHECK-NOT: llvm.call @moe_cuda_cc_layer_f32
func.func @layer_chain_weights_escape(%x: tensor<?x16xf32>, %wr: tensor<16x4xf32>) -> (tensor<?x16xf32>, tensor<?x2xf32>) {
  %w1 = arith.constant dense<0.25> : tensor<4x16x64xf32>
  %w2 = arith.constant dense<0.5> : tensor<4x32x16xf32>
  %ids, %g = moe.route %x router %wr : tensor<16x4xf32>
      routing <softmax_topk, k = 2> : tensor<?x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids {num_experts = 4 : i64}
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>
  %h = moe.grouped_matmul %rows, %w1, %offsets activation <swiglu>
      : tensor<?x16xf32>, tensor<4x16x64xf32>, tensor<5xi32> -> tensor<?x32xf32>
  %y = moe.grouped_matmul %h, %w2, %offsets combine %g, %inverse : tensor<?x2xf32>, tensor<?x2xi32>
      : tensor<?x32xf32>, tensor<4x32x16xf32>, tensor<5xi32> -> tensor<?x16xf32>
  return %y, %g : tensor<?x16xf32>, tensor<?x2xf32>
}
