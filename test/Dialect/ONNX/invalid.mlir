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

// -----

func.func @f(%x: tensor<4x16xf32>, %s: tensor<2xi64>) {
  // expected-error @+1 {{exactly one of the 'shape' attribute and a shape operand must be given}}
  %0 = onnx.reshape %x, %s {shape = array<i64: 4, 16>} : (tensor<4x16xf32>, tensor<2xi64>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{exactly one of the 'shape' attribute and a shape operand must be given}}
  %0 = onnx.reshape %x : (tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{the result must keep the input's element type}}
  %0 = onnx.reshape %x {shape = array<i64: 64>} : (tensor<4x16xf32>) -> tensor<64xf16>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %s: tensor<3xi64>) {
  // expected-error @+1 {{the shape operand must be 1-D with a static length equal to the result rank (2), but is 'tensor<3xi64>'}}
  %0 = onnx.reshape %x, %s : (tensor<4x16xf32>, tensor<3xi64>) -> tensor<?x?xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{axes must be sorted, unique and in [0, 3)}}
  %0 = onnx.unsqueeze %x {axes = array<i64: 3>} : tensor<4x16xf32> -> tensor<4x16x1xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{result type 'tensor<4x1x16xf32>' does not match the inferred shape [1, 4, 16]}}
  %0 = onnx.unsqueeze %x {axes = array<i64: 0>} : tensor<4x16xf32> -> tensor<4x1x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{cannot squeeze dim 0 of size 4}}
  %0 = onnx.squeeze %x {axes = array<i64: 0>} : tensor<4x16xf32> -> tensor<16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{axis 3 is out of range [0, 2]}}
  %0 = onnx.flatten %x {axis = 3 : i64} : tensor<4x16xf32> -> tensor<64x1xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{need 0 <= start <= end <= rank, got start 1, end 3, rank 2}}
  %0 = onnx.shape %x {start = 1 : i64, end = 3 : i64} : tensor<4x16xf32> -> tensor<2xi64>
  return
}

// -----

func.func @f(%s: tensor<2xi64>) {
  // expected-error @+1 {{value of type 'i64' does not match the result element type}}
  %0 = onnx.constant_of_shape %s {value = 0 : i64} : (tensor<2xi64>) -> tensor<?x?xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %s: tensor<2xi64>) {
  // expected-error @+1 {{the result rank must be at least the input rank}}
  %0 = onnx.expand %x, %s : (tensor<4x16xf32>, tensor<2xi64>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %s: tensor<2xi64>) {
  // expected-error @+1 {{input dim 1 of size 16 cannot broadcast to 8}}
  %0 = onnx.expand %x, %s : (tensor<4x16xf32>, tensor<2xi64>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %s: tensor<2xi64>) {
  // expected-error @+1 {{the result must keep the input's element type}}
  %0 = onnx.expand %x, %s : (tensor<4x16xf32>, tensor<2xi64>) -> tensor<4x16xf16>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{needs at least one input}}
  %0 = onnx.concat {axis = 0 : i64} : () -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{axis 2 is out of range [0, 2)}}
  %0 = onnx.concat %x {axis = 2 : i64} : (tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %y: tensor<16xf32>) {
  // expected-error @+1 {{all inputs must have the same rank}}
  %0 = onnx.concat %x, %y {axis = 0 : i64} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<5x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %y: tensor<4x8xf32>) {
  // expected-error @+1 {{inputs differ in dim 1 outside the concatenation axis}}
  %0 = onnx.concat %x, %y {axis = 0 : i64} : (tensor<4x16xf32>, tensor<4x8xf32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{starts, ends, axes and steps must have one entry per sliced axis}}
  %0 = onnx.slice %x {axes = array<i64: 0>, starts = array<i64: 0, 1>, ends = array<i64: 2>, steps = array<i64: 1>} : (tensor<4x16xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{axes must be unique and in [0, 2)}}
  %0 = onnx.slice %x {axes = array<i64: 2>, starts = array<i64: 0>, ends = array<i64: 2>, steps = array<i64: 1>} : (tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{steps must be positive, got -1}}
  %0 = onnx.slice %x {axes = array<i64: 0>, starts = array<i64: 3>, ends = array<i64: 0>, steps = array<i64: -1>} : (tensor<4x16xf32>) -> tensor<3x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{result type 'tensor<4x7xf32>' does not match the inferred shape [4, 8]}}
  %0 = onnx.slice %x {axes = array<i64: 1>, starts = array<i64: 1>, ends = array<i64: 100>, steps = array<i64: 2>} : (tensor<4x16xf32>) -> tensor<4x7xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{axis 2 is out of range [0, 2)}}
  %0:2 = onnx.split %x {axis = 2 : i64, sizes = array<i64: 2, 2>} : tensor<4x16xf32> -> tensor<2x16xf32>, tensor<2x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{has 2 results but 1 sizes}}
  %0:2 = onnx.split %x {axis = 0 : i64, sizes = array<i64: 4>} : tensor<4x16xf32> -> tensor<2x16xf32>, tensor<2x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{sizes must be non-negative}}
  %0:2 = onnx.split %x {axis = 0 : i64, sizes = array<i64: -1, 5>} : tensor<4x16xf32> -> tensor<?x16xf32>, tensor<5x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{result type 'tensor<2x8xf32>' does not match the piece shape [2, 16]}}
  %0:2 = onnx.split %x {axis = 0 : i64, sizes = array<i64: 2, 2>} : tensor<4x16xf32> -> tensor<2x16xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{results must keep the input's element type}}
  %0:2 = onnx.split %x {axis = 0 : i64, sizes = array<i64: 2, 2>} : tensor<4x16xf32> -> tensor<2x16xf32>, tensor<2x16xf16>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{sizes add up to 5, but the dim is 4}}
  %0:2 = onnx.split %x {axis = 0 : i64, sizes = array<i64: 2, 3>} : tensor<4x16xf32> -> tensor<2x16xf32>, tensor<3x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{axis 2 is out of range [0, 2)}}
  %0 = onnx.gather %x, %i {axis = 2 : i64} : (tensor<4x16xf32>, tensor<3xi64>) -> tensor<3x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{the result must keep the input's element type}}
  %0 = onnx.gather %x, %i {axis = 0 : i64} : (tensor<4x16xf32>, tensor<3xi64>) -> tensor<3x16xf16>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{result type 'tensor<3x16xf32>' does not match the inferred shape [4, 3]}}
  %0 = onnx.gather %x, %i {axis = 1 : i64} : (tensor<4x16xf32>, tensor<3xi64>) -> tensor<3x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{result type 'tensor<3x?xi64>' does not match the inferred shape [2, ?]}}
  %0 = onnx.nonzero %x : tensor<4x16xf32> -> tensor<3x?xi64>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %i: tensor<4x16xi64>) {
  // expected-error @+1 {{reduction 'mul' is not supported (none, add)}}
  %0 = onnx.scatter_elements %x, %i, %x {axis = 0 : i64, reduction = "mul"} : (tensor<4x16xf32>, tensor<4x16xi64>, tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %i: tensor<4x16xi64>) {
  // expected-error @+1 {{axis 3 is out of range [0, 2)}}
  %0 = onnx.scatter_elements %x, %i, %x {axis = 3 : i64, reduction = "add"} : (tensor<4x16xf32>, tensor<4x16xi64>, tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %i: tensor<4xi64>, %u: tensor<4xf32>) {
  // expected-error @+1 {{indices and updates must have the input's rank and one shape}}
  %0 = onnx.scatter_elements %x, %i, %u {axis = 0 : i64, reduction = "add"} : (tensor<4x16xf32>, tensor<4xi64>, tensor<4xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %i: tensor<4x16xi64>, %u: tensor<4x16xf16>) {
  // expected-error @+1 {{the result and the updates must have the input's type and element type}}
  %0 = onnx.scatter_elements %x, %i, %u {axis = 0 : i64, reduction = "none"} : (tensor<4x16xf32>, tensor<4x16xi64>, tensor<4x16xf16>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%i: tensor<4xi64>) {
  // expected-error @+1 {{depth must be positive, got 0}}
  %0 = onnx.one_hot %i {axis = 1 : i64, depth = 0 : i64, off_value = 0 : i64, on_value = 1 : i64} : tensor<4xi64> -> tensor<4x0xi64>
  return
}

// -----

func.func @f(%i: tensor<4xi64>) {
  // expected-error @+1 {{axis 2 is out of range [0, 1]}}
  %0 = onnx.one_hot %i {axis = 2 : i64, depth = 3 : i64, off_value = 0 : i64, on_value = 1 : i64} : tensor<4xi64> -> tensor<4x3xi64>
  return
}

// -----

func.func @f(%i: tensor<4xi64>) {
  // expected-error @+1 {{on_value and off_value must have the result's element type}}
  %0 = onnx.one_hot %i {axis = 1 : i64, depth = 3 : i64, off_value = 0 : i64, on_value = 1.0 : f32} : tensor<4xi64> -> tensor<4x3xi64>
  return
}

// -----

func.func @f(%i: tensor<4xi64>) {
  // expected-error @+1 {{result type 'tensor<4x3xi64>' does not match the inferred shape [3, 4]}}
  %0 = onnx.one_hot %i {axis = 0 : i64, depth = 3 : i64, off_value = 0 : i64, on_value = 1 : i64} : tensor<4xi64> -> tensor<4x3xi64>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{axes must be sorted, unique and in [0, 2)}}
  %0 = onnx.reduce_sum %x {axes = array<i64: 1, 0>, keepdims = false} : tensor<4x16xf32> -> tensor<f32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{result type 'tensor<4xf32>' does not match the inferred shape [4, 1]}}
  %0 = onnx.reduce_max %x {axes = array<i64: 1>, keepdims = true} : tensor<4x16xf32> -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{operands and result must share one element type, found 'f32' and 'f16'}}
  %0 = onnx.reduce_mean %x {axes = array<i64: 1>, keepdims = false} : tensor<4x16xf32> -> tensor<4xf16>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{axis 2 is out of range [0, 2)}}
  %0:2 = onnx.topk %x {axis = 2 : i64, k = 2 : i64, largest = true} : tensor<4x16xf32> -> tensor<4x2xf32>, tensor<4x2xi64>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{k must be positive, got 0}}
  %0:2 = onnx.topk %x {axis = 1 : i64, k = 0 : i64, largest = true} : tensor<4x16xf32> -> tensor<4x0xf32>, tensor<4x0xi64>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{k = 17 exceeds the axis size 16}}
  %0:2 = onnx.topk %x {axis = 1 : i64, k = 17 : i64, largest = true} : tensor<4x16xf32> -> tensor<4x17xf32>, tensor<4x17xi64>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{results must have shape [4, 2]}}
  %0:2 = onnx.topk %x {axis = 1 : i64, k = 2 : i64, largest = true} : tensor<4x16xf32> -> tensor<4x3xf32>, tensor<4x2xi64>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{values must keep the input's element type}}
  %0:2 = onnx.topk %x {axis = 1 : i64, k = 2 : i64, largest = true} : tensor<4x16xf32> -> tensor<4x2xf16>, tensor<4x2xi64>
  return
}

// -----

func.func @f(%a: tensor<4xi64>, %b: tensor<4xi32>) {
  // expected-error @+1 {{operands must share one element type}}
  %0 = onnx.equal %a, %b : (tensor<4xi64>, tensor<4xi32>) -> tensor<4xi1>
  return
}

// -----

func.func @f(%a: tensor<4xi64>, %b: tensor<3xi64>) {
  // expected-error @+1 {{operand shapes [4] and [3] do not broadcast}}
  %0 = onnx.equal %a, %b : (tensor<4xi64>, tensor<3xi64>) -> tensor<4xi1>
  return
}

// -----

// The ordered comparisons share Equal's checks.
func.func @f(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{operands must share one element type}}
  %0 = onnx.greater %a, %b : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xi1>
  return
}

// -----

func.func @f(%a: tensor<4xi64>, %b: tensor<3xi64>) {
  // expected-error @+1 {{operand shapes [4] and [3] do not broadcast}}
  %0 = onnx.less_or_equal %a, %b : (tensor<4xi64>, tensor<3xi64>) -> tensor<4xi1>
  return
}

// -----

func.func @f(%a: tensor<4xi64>, %b: tensor<i64>) {
  // expected-error @+1 {{result type 'tensor<3xi1>' does not match the inferred shape [4]}}
  %0 = onnx.less %a, %b : (tensor<4xi64>, tensor<i64>) -> tensor<3xi1>
  return
}

// -----

func.func @f(%c: tensor<4xi1>, %x: tensor<4xf32>, %y: tensor<4xf16>) {
  // expected-error @+1 {{x, y and the result must share one element type}}
  %0 = onnx.where %c, %x, %y : (tensor<4xi1>, tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%c: tensor<3xi1>, %x: tensor<4xf32>, %y: tensor<4xf32>) {
  // expected-error @+1 {{condition, x and y do not broadcast}}
  %0 = onnx.where %c, %x, %y : (tensor<3xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%a: tensor<f32>, %b: tensor<1xf32>) {
  // expected-error @+1 {{start, limit and delta must be 0-D tensors of 'f32'}}
  %0 = onnx.range %a, %b, %a : (tensor<f32>, tensor<1xf32>, tensor<f32>) -> tensor<?xf32>
  return
}

// -----

func.func @f(%a: tensor<i64>) {
  // expected-error @+1 {{the result must be 1-D}}
  %0 = onnx.range %a, %a, %a : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?x1xi64>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{the input must have at least two dims}}
  %0 = onnx.trilu %x : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x4xf32>) {
  // expected-error @+1 {{the result type must equal the input type}}
  %0 = onnx.trilu %x : (tensor<4x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x4xf32>, %k: tensor<2xi64>) {
  // expected-error @+1 {{k must be a one-element tensor, got 'tensor<2xi64>'}}
  %0 = onnx.trilu %x, %k : (tensor<4x4xf32>, tensor<2xi64>) -> tensor<4x4xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>, %lo: tensor<1xf32>) {
  // expected-error @+1 {{bounds must be 0-D tensors of 'f32'}}
  %0 = onnx.clip %x min %lo : (tensor<4xf32>, tensor<1xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>, %lo: tensor<f32>) {
  // expected-error @+1 {{the result type must equal the input type}}
  %0 = onnx.clip %x min %lo : (tensor<4xf32>, tensor<f32>) -> tensor<?xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{approximate must be "none" or "tanh", got "fast"}}
  %0 = onnx.gelu %x {approximate = "fast"} : tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range [0, 2)}}
  %0 = onnx.argmax %x {axis = 2 : i64, keepdims = false, select_last_index = false} : tensor<4x8xf32> -> tensor<4xi64>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result type 'tensor<4xi64>' does not match the inferred shape [4, 1]}}
  %0 = onnx.argmax %x {axis = 1 : i64, keepdims = true, select_last_index = false} : tensor<4x8xf32> -> tensor<4xi64>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %i: tensor<4x2xi64>) {
  // expected-error @+1 {{axis 2 is out of range [0, 2)}}
  %0 = onnx.gather_elements %x, %i {axis = 2 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %i: tensor<4xi64>) {
  // expected-error @+1 {{indices must have the input's rank}}
  %0 = onnx.gather_elements %x, %i {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %i: tensor<4x2xi64>) {
  // expected-error @+1 {{the result must keep the input's element type}}
  %0 = onnx.gather_elements %x, %i {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf16>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %i: tensor<3x3xi64>) {
  // expected-error @+1 {{the last dim of indices must be static and in [1, 2]}}
  %0 = onnx.gather_nd %x, %i : (tensor<4x8xf32>, tensor<3x3xi64>) -> tensor<3xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %i: tensor<3x1xi64>) {
  // expected-error @+1 {{the result must keep the input's element type}}
  %0 = onnx.gather_nd %x, %i : (tensor<4x8xf32>, tensor<3x1xi64>) -> tensor<3x8xf16>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %i: tensor<3x1xi64>, %u: tensor<3x8xf32>) {
  // expected-error @+1 {{reduction 'max' is not supported (none, add)}}
  %0 = onnx.scatter_nd %x, %i, %u {reduction = "max"} : (tensor<4x8xf32>, tensor<3x1xi64>, tensor<3x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %i: tensor<3x1xi64>, %u: tensor<3x4xf32>) {
  // expected-error @+1 {{updates must have shape [3, 8]}}
  %0 = onnx.scatter_nd %x, %i, %u {reduction = "add"} : (tensor<4x8xf32>, tensor<3x1xi64>, tensor<3x4xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %i: tensor<3x1xi64>, %u: tensor<3x8xf16>) {
  // expected-error @+1 {{the result and the updates must have the input's type and element type}}
  %0 = onnx.scatter_nd %x, %i, %u {reduction = "add"} : (tensor<4x8xf32>, tensor<3x1xi64>, tensor<3x8xf16>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{unsupported equation "ii->i" (explicit '->', letters only, each at most once per term)}}
  %0 = onnx.einsum %x {equation = "ii->i"} : (tensor<4x8xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{the equation has 2 input terms for 1 inputs}}
  %0 = onnx.einsum %x {equation = "ij,jk->ik"} : (tensor<4x8xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{term "ijk" does not match an input of rank 2}}
  %0 = onnx.einsum %x {equation = "ijk->i"} : (tensor<4x8xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %y: tensor<6x5xf32>) {
  // expected-error @+1 {{letter 'j' has sizes 8 and 6}}
  %0 = onnx.einsum %x, %y {equation = "ij,jk->ik"} : (tensor<4x8xf32>, tensor<6x5xf32>) -> tensor<4x5xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{output letter 'z' appears in no input}}
  %0 = onnx.einsum %x {equation = "ij->iz"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %e: tensor<1xi64>) {
  // expected-error @+1 {{starts and ends must each be given once, as an attribute or as an operand}}
  %0 = onnx.slice %x ends %e {axes = array<i64: 0>, starts = array<i64: 0>, ends = array<i64: 2>, steps = array<i64: 1>} : (tensor<4x16xf32>, tensor<1xi64>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>, %e: tensor<2xi64>) {
  // expected-error @+1 {{run-time starts and ends must be 1-D with 1 entries}}
  %0 = onnx.slice %x ends %e {axes = array<i64: 0>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<4x16xf32>, tensor<2xi64>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{the result must keep the input's element type}}
  %0 = onnx.slice %x {axes = array<i64: 0>, starts = array<i64: 0>, ends = array<i64: 2>, steps = array<i64: 1>} : (tensor<4x16xf32>) -> tensor<2x16xf16>
  return
}

// -----

func.func @flatten_overflow(%x: tensor<4294967296x4294967296xf32>) {
  // expected-error @+1 {{the flattened sizes overflow int64}}
  %0 = onnx.flatten %x {axis = 0 : i64} : tensor<4294967296x4294967296xf32> -> tensor<1x?xf32>
  return
}
