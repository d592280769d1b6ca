// RUN: moe-opt %s -convert-moe-to-runtime=target=cuda -verify-diagnostics -split-input-file
// RUN: sed 's/expected-warning.*//' %s | moe-opt -convert-moe-to-runtime=target=cpu -split-input-file 2>&1 | FileCheck %s --check-prefix=CPU

// With target=cuda, an op no pattern takes runs on the host through the
// reference lowering: a warning says so, once per layer, with the reason.
// The CPU target stays quiet (the reference lowering runs on the CPU too).
// CPU-NOT: warning
// CPU: func.func @half_activations

func.func @half_activations(%rows: tensor<?x16xf16>, %w: tensor<8x16x64xf16>, %offsets: tensor<9xi32>) -> tensor<?x64xf16> {
  // expected-warning @+1 {{runs on the host (the reference lowering), not on the GPU: its data is 'f16' and the CUDA kernels take f32 activations}}
  %h = moe.grouped_matmul %rows, %w, %offsets
      : tensor<?x16xf16>, tensor<8x16x64xf16>, tensor<9xi32> -> tensor<?x64xf16>
  return %h : tensor<?x64xf16>
}

// -----

// f32 data: the CUDA call, no warning.
func.func @f32_activations(%rows: tensor<?x16xf32>, %w: tensor<8x16x64xf32>, %offsets: tensor<9xi32>) -> tensor<?x64xf32> {
  %h = moe.grouped_matmul %rows, %w, %offsets
      : tensor<?x16xf32>, tensor<8x16x64xf32>, tensor<9xi32> -> tensor<?x64xf32>
  return %h : tensor<?x64xf32>
}
