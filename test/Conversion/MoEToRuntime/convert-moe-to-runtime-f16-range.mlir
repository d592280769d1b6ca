// RUN: moe-opt %s -convert-moe-to-runtime="target=cuda weight-type=f16" -verify-diagnostics -split-input-file

// fp16 holds magnitudes up to 65504: a constant weight beyond it would turn
// into an infinity in the converted constant, so the pass refuses it,
// naming the op (bf16 keeps fp32's range).
func.func @too_large(%rows: tensor<?x3xf32>, %offsets: tensor<3xi32>) -> tensor<?x8xf32> {
  %w = arith.constant dense<7.0e4> : tensor<2x3x8xf32>
  // expected-error @+1 {{weight-type=f16: the weights hold 70000, beyond fp16's largest value 65504 (use bf16)}}
  %h = moe.grouped_matmul %rows, %w, %offsets
      : tensor<?x3xf32>, tensor<2x3x8xf32>, tensor<3xi32> -> tensor<?x8xf32>
  return %h : tensor<?x8xf32>
}

// -----

// The largest finite fp16 value itself converts.
func.func @largest(%rows: tensor<?x3xf32>, %offsets: tensor<3xi32>) -> tensor<?x8xf32> {
  %w = arith.constant dense<-65504.0> : tensor<2x3x8xf32>
  %h = moe.grouped_matmul %rows, %w, %offsets
      : tensor<?x3xf32>, tensor<2x3x8xf32>, tensor<3xi32> -> tensor<?x8xf32>
  return %h : tensor<?x8xf32>
}
