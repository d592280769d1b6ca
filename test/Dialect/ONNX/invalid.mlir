// RUN: moe-opt %s -split-input-file -verify-diagnostics

func.func @f(%x: tensor<4x16xf32>, %y: tensor<3x16xf32>) {
  // expected-error @+1 {{operand shapes [4, 16] and [3, 16] do not broadcast}}
  %0 = onnx.add %x, %y : (tensor<4x16xf32>, tensor<3x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %y: tensor<16xf32>) {
  // expected-error @+1 {{result type 'tensor<4x8xf32>' does not match the inferred shape [4, 16]}}
  %0 = onnx.mul %x, %y : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %y: tensor<16xf16>) {
  // expected-error @+1 {{operands and result must share one element type, found 'f32' and 'f16'}}
  %0 = onnx.sub %x, %y : (tensor<4x16xf32>, tensor<16xf16>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{result shape [4, 8] must equal the input shape [4, 16]}}
  %0 = onnx.cast %x : tensor<4x16xf32> to tensor<4x8xi64>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{only casts between float and signless integer types are supported, not 'ui8'}}
  %0 = onnx.cast %x : tensor<4x16xf32> to tensor<4x16xui8>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{cannot multiply [4, 16] by [8, 4] (rank >= 2, inner dims equal, batch dims broadcastable)}}
  %0 = onnx.matmul %x, %w : (tensor<4x16xf32>, tensor<8x4xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @f(%x: tensor<16xf32>, %w: tensor<16x4xf32>) {
  // expected-error @+1 {{operands 'a' and 'b' must be 2-D}}
  %0 = onnx.gemm %x, %w : (tensor<16xf32>, tensor<16x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{inner dims differ: 16 vs 8}}
  %0 = onnx.gemm %x, %w : (tensor<4x16xf32>, tensor<8x4xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>, %c: tensor<3xf32>) {
  // expected-error @+1 {{'c' of shape [3] does not broadcast to [4, 8]}}
  %0 = onnx.gemm %x, %w, %c : (tensor<4x16xf32>, tensor<16x8xf32>, tensor<3xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = onnx.softmax %x {axis = 2 : i64} : tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{perm has 1 entries for an input of rank 2}}
  %0 = onnx.transpose %x {perm = array<i64: 0>} : tensor<4x16xf32> -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{perm must be a permutation of [0, 2)}}
  %0 = onnx.transpose %x {perm = array<i64: 1, 1>} : tensor<4x16xf32> -> tensor<16x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{invalid target shape: the input has 64 elements, the target shape 60}}
  %0 = onnx.reshape %x {shape = array<i64: 6, 10>} : (tensor<4x16xf32>) -> tensor<6x10xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{invalid target shape: more than one -1 in the target shape}}
  %0 = onnx.reshape %x {shape = array<i64: -1, -1>} : (tensor<4x16xf32>) -> tensor<?x?xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{invalid target shape: shape entry 2 is 0 (copy) but the input has rank 2}}
  %0 = onnx.reshape %x {shape = array<i64: 4, -1, 0>} : (tensor<4x16xf32>) -> tensor<4x?x?xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{invalid target shape: cannot infer the -1 dim: 64 elements do not divide by 5}}
  %0 = onnx.reshape %x {shape = array<i64: 5, -1>} : (tensor<4x16xf32>) -> tensor<5x?xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{invalid target shape: negative target dim -3}}
  %0 = onnx.reshape %x {shape = array<i64: -3, 4>} : (tensor<4x16xf32>) -> tensor<4x4xf32>
  return
}
