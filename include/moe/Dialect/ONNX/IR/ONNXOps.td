//===- ONNXOps.td - The onnx mirror dialect ----------------*- tablegen -*-===//
//
// One op per ONNX node type the importer supports, with ONNX semantics
// (numpy broadcasting, opset-normalized attributes). The importer builds
// these faithfully; convert-onnx-to-linalg lowers them; the raising pass
// matches MoE layers on them.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_ONNX_IR_ONNXOPS_TD
#define MOE_DIALECT_ONNX_IR_ONNXOPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def ONNX_Dialect : Dialect {
  let name = "onnx";
  let cppNamespace = "::mlir::moe::onnx";
  let summary = "ONNX operators as imported, before any MoE reasoning";
  let description = [{
    A small mirror of the ONNX operator set: one op per supported ONNX
    operator, with ONNX's semantics (numpy-style broadcasting, negative axes
    normalized at import, attributes that later opsets moved to inputs
    folded back into attributes when they are constants). Every op carries
    the location of its node (`"node_name"("op_type")`) so diagnostics name
    the user's node. Initializers are `arith.constant` with
    `dense_resource` data.

    Why a mirror dialect rather than linalg straight away: raising MoE
    layers matches node-level math far more reliably on named ops with
    known semantics, ONNX's shape rules live in one place (the verifiers),
    and unsupported or malformed nodes fail with the node's name.
  }];
}

class ONNX_Op<string mnemonic, list<Trait> traits = []>
    : Op<ONNX_Dialect, mnemonic, !listconcat(traits, [Pure])>;

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class ONNX_BinaryOp<string mnemonic, string onnxName, string math>
    : ONNX_Op<mnemonic> {
  let summary = "ONNX " # onnxName # " with numpy broadcasting";
  let description = [{
    `result = }] # math # [{`, elementwise, with the operands broadcast to the
    result shape numpy-style (trailing dims aligned, size-1 dims stretched).
    A dynamic dim is assumed not to broadcast at run time.

    ```mlir
    %z = onnx.}] # mnemonic # [{ %x, %y : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def ONNX_AddOp : ONNX_BinaryOp<"add", "Add", "lhs + rhs">;
def ONNX_SubOp : ONNX_BinaryOp<"sub", "Sub", "lhs - rhs">;
def ONNX_MulOp : ONNX_BinaryOp<"mul", "Mul", "lhs * rhs"> {
  // x * 1.0 (a scalar constant, x already the result's shape) folds to x:
  // HF's rotary embedding scales its tables by attention_scaling, 1.0 for
  // the default rotary type.
  let hasFolder = 1;
}
def ONNX_DivOp : ONNX_BinaryOp<"div", "Div", "lhs / rhs">;
def ONNX_PowOp : ONNX_BinaryOp<"pow", "Pow", "lhs ^ rhs">;
def ONNX_MaxOp : ONNX_BinaryOp<"max", "Max", "max(lhs, rhs)">;
def ONNX_MinOp : ONNX_BinaryOp<"min", "Min", "min(lhs, rhs)">;

class ONNX_UnaryOp<string mnemonic, string onnxName, string math>
    : ONNX_Op<mnemonic, [SameOperandsAndResultType]> {
  let summary = "ONNX " # onnxName;
  let description = [{
    `result = }] # math # [{`, elementwise.

    ```mlir
    %y = onnx.}] # mnemonic # [{ %x : tensor<?x16xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def ONNX_NegOp : ONNX_UnaryOp<"neg", "Neg", "-x">;
def ONNX_SigmoidOp : ONNX_UnaryOp<"sigmoid", "Sigmoid", "1 / (1 + exp(-x))">;
def ONNX_ReluOp : ONNX_UnaryOp<"relu", "Relu", "max(x, 0)">;
def ONNX_TanhOp : ONNX_UnaryOp<"tanh", "Tanh", "tanh(x)">;
def ONNX_ErfOp : ONNX_UnaryOp<"erf", "Erf", "erf(x)">;
def ONNX_SqrtOp : ONNX_UnaryOp<"sqrt", "Sqrt", "sqrt(x)">;
def ONNX_ExpOp : ONNX_UnaryOp<"exp", "Exp", "exp(x)">;
def ONNX_CosOp : ONNX_UnaryOp<"cos", "Cos", "cos(x)">;
def ONNX_SinOp : ONNX_UnaryOp<"sin", "Sin", "sin(x)">;

def ONNX_CastOp : ONNX_Op<"cast"> {
  let summary = "ONNX Cast between float and integer element types";
  let description = [{
    Converts every element to the result's element type (float <-> float,
    float <-> signless integer, integer <-> integer; float to integer
    truncates toward zero as ONNX does).

    ```mlir
    %y = onnx.cast %x : tensor<?x8xf32> to tensor<?x8xi64>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def ONNX_MatMulOp : ONNX_Op<"matmul"> {
  let summary = "ONNX MatMul (numpy matmul)";
  let description = [{
    numpy `matmul`: the last two dims multiply, leading (batch) dims
    broadcast. Rank-1 operands are not supported (the importer reports
    them).

    ```mlir
    %y = onnx.matmul %x, %w : (tensor<?x16xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$lhs,
                       RankedTensorOf<[AnyFloat]>:$rhs);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def ONNX_GemmOp : ONNX_Op<"gemm"> {
  let summary = "ONNX Gemm: alpha * op(A) @ op(B) + beta * C";
  let description = [{
    2-D matrices; `op` transposes when `trans_a` / `trans_b` is set; the
    optional `c` broadcasts to the result.

    ```mlir
    %y = onnx.gemm %a, %b, %c {trans_b} : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$a,
                       RankedTensorOf<[AnyFloat]>:$b,
                       Optional<RankedTensorOf<[AnyFloat]>>:$c,
                       DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                       DefaultValuedAttr<F32Attr, "1.0">:$beta,
                       UnitAttr:$trans_a, UnitAttr:$trans_b);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);
  let assemblyFormat = [{
    $a `,` $b (`,` $c^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Normalization and layout
//===----------------------------------------------------------------------===//

def ONNX_SoftmaxOp : ONNX_Op<"softmax", [SameOperandsAndResultType]> {
  let summary = "ONNX Softmax (opset >= 13: along one axis)";
  let description = [{
    `exp(x - max) / sum(exp(x - max))` along `axis` (normalized to be
    non-negative at import).

    ```mlir
    %p = onnx.softmax %x {axis = 1 : i64} : tensor<?x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input, I64Attr:$axis);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def ONNX_TransposeOp : ONNX_Op<"transpose"> {
  let summary = "ONNX Transpose";
  let description = [{
    `result` dim `i` is `input` dim `perm[i]`.

    ```mlir
    %y = onnx.transpose %x {perm = array<i64: 1, 0>} : tensor<?x8xf32> -> tensor<8x?xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def ONNX_ReshapeOp : ONNX_Op<"reshape"> {
  let summary = "ONNX Reshape";
  let description = [{
    Reshapes to the target shape, given either as the `shape` attribute
    (known at import) or as the 1-D i64 `shape_tensor` computed at run
    time; exactly one is present. Entries follow ONNX (allowzero = 0): `0`
    copies the input dim at that position, `-1` is inferred from the
    element count. With a run-time shape, a static result dim states what
    the importer read from the shape's constant entries (a Concat of
    pieces, `view(b, t, -1, head_dim)`): the shape must agree at run time.

    ```mlir
    %y = onnx.reshape %x {shape = array<i64: -1, 16>} : tensor<?x4x16xf32> -> tensor<?x16xf32>
    %z = onnx.reshape %x, %s : (tensor<?x4x16xf32>, tensor<2xi64>) -> tensor<?x?xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       Optional<RankedTensorOf<[I64]>>:$shape_tensor,
                       OptionalAttr<DenseI64ArrayAttr>:$shape);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input (`,` $shape_tensor^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def ONNX_UnsqueezeOp : ONNX_Op<"unsqueeze"> {
  let summary = "ONNX Unsqueeze: insert size-1 dims";
  let description = [{
    Inserts a size-1 dim at each of `axes` (sorted, non-negative positions
    in the result).

    ```mlir
    %y = onnx.unsqueeze %x {axes = array<i64: 0>} : tensor<?x8xf32> -> tensor<1x?x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def ONNX_SqueezeOp : ONNX_Op<"squeeze"> {
  let summary = "ONNX Squeeze: drop size-1 dims";
  let description = [{
    Drops the dims at `axes` (sorted, non-negative), which must have size
    1 (a dynamic dim is assumed to be 1 at run time).

    ```mlir
    %y = onnx.squeeze %x {axes = array<i64: 0>} : tensor<1x?xi64> -> tensor<?xi64>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def ONNX_FlattenOp : ONNX_Op<"flatten"> {
  let summary = "ONNX Flatten to 2-D around `axis`";
  let description = [{
    `[d0 * ... * d(axis-1), d(axis) * ... * d(n-1)]`.

    ```mlir
    %y = onnx.flatten %x {axis = 1 : i64} : tensor<?x4x8xf32> -> tensor<?x32xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Shapes as values
//===----------------------------------------------------------------------===//

def ONNX_ShapeOp : ONNX_Op<"shape"> {
  let summary = "ONNX Shape: the dims [start, end) of the input as i64";
  let description = [{
    ```mlir
    %s = onnx.shape %x {start = 0 : i64, end = 2 : i64} : tensor<?x8xf32> -> tensor<2xi64>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$start, I64Attr:$end);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def ONNX_RangeOp : ONNX_Op<"range"> {
  let summary = "ONNX Range: start, start + delta, ... before limit";
  let description = [{
    `max(ceil((limit - start) / delta), 0)` elements `start + i * delta`;
    start, limit and delta are 0-D tensors of the result's element type
    (f32, i32 or i64), known at run time (torch's `arange(t)` of a
    sequence length). A delta of 0 yields no elements (ONNX leaves it
    undefined; a constant 0 is refused at import).

    ```mlir
    %r = onnx.range %start, %limit, %delta : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32, I32, I64]>:$start,
                       RankedTensorOf<[F32, I32, I64]>:$limit,
                       RankedTensorOf<[F32, I32, I64]>:$delta);
  let results = (outs RankedTensorOf<[F32, I32, I64]>:$result);
  let assemblyFormat = [{
    $start `,` $limit `,` $delta attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def ONNX_ConstantOfShapeOp : ONNX_Op<"constant_of_shape"> {
  let summary = "ONNX ConstantOfShape: a tensor of a run-time shape filled with one value";
  let description = [{
    ```mlir
    %z = onnx.constant_of_shape %s {value = 0.0 : f32} : (tensor<2xi64>) -> tensor<?x?xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I64]>:$shape, TypedAttrInterface:$value);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$shape attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def ONNX_ExpandOp : ONNX_Op<"expand"> {
  let summary = "ONNX Expand: broadcast to a run-time shape";
  let description = [{
    numpy broadcast of `input` with `shape`; a dim of the input that is
    statically 1 is stretched.

    ```mlir
    %y = onnx.expand %x, %s : (tensor<1x8xf32>, tensor<2xi64>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, RankedTensorOf<[I64]>:$shape);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `,` $shape attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def ONNX_ConcatOp : ONNX_Op<"concat"> {
  let summary = "ONNX Concat along `axis`";
  let description = [{
    ```mlir
    %y = onnx.concat %a, %b {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>) -> tensor<2xi64>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def ONNX_SliceOp : ONNX_Op<"slice", [AttrSizedOperandSegments]> {
  let summary = "ONNX Slice with constant axes and steps";
  let description = [{
    For each of `axes`: elements `start, start + step, ...` before `end`,
    with ONNX's rules: negative starts/ends count from the end and both are
    clamped to the dim (evaluated at run time for dynamic dims). Steps are
    positive. Starts and ends are attributes when known at import, or 1-D
    i64 operands (`starts_tensor`, `ends_tensor`) computed at run time, as
    exporters do from Shape chains.

    ```mlir
    %y = onnx.slice %x {axes = array<i64: 0>, starts = array<i64: 1>, ends = array<i64: 9223372036854775807>, steps = array<i64: 1>} : (tensor<?xi64>) -> tensor<?xi64>
    %z = onnx.slice %x ends %e {axes = array<i64: 0>, starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<?x8xf32>, tensor<1xi64>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       Optional<RankedTensorOf<[I64]>>:$starts_tensor,
                       Optional<RankedTensorOf<[I64]>>:$ends_tensor,
                       OptionalAttr<DenseI64ArrayAttr>:$starts,
                       OptionalAttr<DenseI64ArrayAttr>:$ends,
                       DenseI64ArrayAttr:$axes, DenseI64ArrayAttr:$steps);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input (`starts` $starts_tensor^)? (`ends` $ends_tensor^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def ONNX_SplitOp : ONNX_Op<"split"> {
  let summary = "ONNX Split along `axis` into pieces of static sizes";
  let description = [{
    ```mlir
    %a, %b = onnx.split %x {axis = 0 : i64, sizes = array<i64: 1, 1>} : tensor<2x?xi64> -> (tensor<1x?xi64>, tensor<1x?xi64>)
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$axis,
                       DenseI64ArrayAttr:$sizes);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Indexing
//===----------------------------------------------------------------------===//

def ONNX_GatherOp : ONNX_Op<"gather"> {
  let summary = "ONNX Gather along `axis`";
  let description = [{
    `result[i..., j..., k...] = input[i..., indices[j...], k...]` with the
    gathered axis replaced by the indices' dims; negative indices count
    from the end of the axis.

    ```mlir
    %y = onnx.gather %x, %i {axis = 0 : i64} : (tensor<?x8xf32>, tensor<?xi64>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       RankedTensorOf<[I32, I64]>:$indices, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def ONNX_NonZeroOp : ONNX_Op<"nonzero"> {
  let summary = "ONNX NonZero: coordinates of the non-zero elements";
  let description = [{
    `[rank, N]` i64, one column per non-zero element in row-major order.

    ```mlir
    %c = onnx.nonzero %m : tensor<?x2xi64> -> tensor<2x?xi64>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def ONNX_ScatterElementsOp : ONNX_Op<"scatter_elements"> {
  let summary = "ONNX ScatterElements with reduction none or add";
  let description = [{
    A copy of `input` where, for each element of `updates`, the position
    that replaces its `axis` coordinate by `indices` is set to (or, with
    `reduction = "add"`, incremented by) the update. `index_add_` exports
    as the add form.

    ```mlir
    %y = onnx.scatter_elements %x, %i, %u {axis = 0 : i64, reduction = "add"} : (tensor<?x8xf32>, tensor<?x8xi64>, tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       RankedTensorOf<[I32, I64]>:$indices,
                       AnyRankedTensor:$updates, I64Attr:$axis,
                       StrAttr:$reduction);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `,` $indices `,` $updates attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def ONNX_OneHotOp : ONNX_Op<"one_hot"> {
  let summary = "ONNX OneHot with a constant depth";
  let description = [{
    A new dim of size `depth` at `axis`: `on_value` where the index equals
    the position (negative indices count from depth), `off_value`
    elsewhere.

    ```mlir
    %m = onnx.one_hot %i {axis = 2 : i64, depth = 4 : i64, off_value = 0 : i64, on_value = 1 : i64} : tensor<?x2xi64> -> tensor<?x2x4xi64>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I32, I64]>:$indices, I64Attr:$depth,
                       I64Attr:$axis, TypedAttrInterface:$off_value,
                       TypedAttrInterface:$on_value);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$indices attr-dict `:` type($indices) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Reductions and selection
//===----------------------------------------------------------------------===//

class ONNX_ReduceOp<string mnemonic, string onnxName, string math>
    : ONNX_Op<mnemonic> {
  let summary = "ONNX " # onnxName # " over constant axes";
  let description = [{
    }] # math # [{ over `axes` (sorted, non-negative); `keepdims` keeps them
    as size-1 dims.

    ```mlir
    %s = onnx.}] # mnemonic # [{ %x {axes = array<i64: 1>, keepdims = true} : tensor<?x2xf32> -> tensor<?x1xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat, I32, I64]>:$input,
                       DenseI64ArrayAttr:$axes, BoolAttr:$keepdims);
  let results = (outs RankedTensorOf<[AnyFloat, I32, I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def ONNX_ReduceSumOp : ONNX_ReduceOp<"reduce_sum", "ReduceSum", "The sum">;
def ONNX_ReduceMaxOp : ONNX_ReduceOp<"reduce_max", "ReduceMax", "The maximum">;
def ONNX_ReduceMeanOp : ONNX_ReduceOp<"reduce_mean", "ReduceMean", "The mean">;

def ONNX_TopKOp : ONNX_Op<"topk"> {
  let summary = "ONNX TopK with a constant k";
  let description = [{
    The `k` largest (or smallest) values along `axis` and their indices,
    sorted, ties broken by the lower index (ONNX TopK's order).

    ```mlir
    %v, %i = onnx.topk %p {axis = 1 : i64, k = 2 : i64, largest = true} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input, I64Attr:$k,
                       I64Attr:$axis, BoolAttr:$largest);
  let results = (outs RankedTensorOf<[AnyFloat]>:$values,
                      RankedTensorOf<[I64]>:$indices);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($values) `,` type($indices)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Comparison and selection
//===----------------------------------------------------------------------===//

class ONNX_CompareOp<string mnemonic, string onnxName, string math>
    : ONNX_Op<mnemonic> {
  let summary = "ONNX " # onnxName # " with numpy broadcasting (i1 result)";
  let description = [{
    `result = }] # math # [{`, elementwise, the operands (one element
    type) broadcast numpy-style; floats compare ordered (false when either
    is NaN), integers signed. Exporters build attention masks with these
    (transformers' causal mask: `arange(total) > cache_position`).

    ```mlir
    %m = onnx.}] # mnemonic # [{ %a, %b : (tensor<?x2xi64>, tensor<i64>) -> tensor<?x2xi1>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs);
  let results = (outs RankedTensorOf<[I1]>:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def ONNX_EqualOp : ONNX_CompareOp<"equal", "Equal", "lhs == rhs">;
def ONNX_GreaterOp : ONNX_CompareOp<"greater", "Greater", "lhs > rhs">;
def ONNX_LessOp : ONNX_CompareOp<"less", "Less", "lhs < rhs">;
def ONNX_GreaterOrEqualOp
    : ONNX_CompareOp<"greater_or_equal", "GreaterOrEqual", "lhs >= rhs">;
def ONNX_LessOrEqualOp
    : ONNX_CompareOp<"less_or_equal", "LessOrEqual", "lhs <= rhs">;

def ONNX_WhereOp : ONNX_Op<"where"> {
  let summary = "ONNX Where: condition ? x : y, broadcast";
  let description = [{
    ```mlir
    %r = onnx.where %c, %x, %y : (tensor<?x8xi1>, tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I1]>:$condition, AnyRankedTensor:$x,
                       AnyRankedTensor:$y);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $condition `,` $x `,` $y attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def ONNX_NotOp : ONNX_Op<"not", [SameOperandsAndResultType]> {
  let summary = "ONNX Not";
  let description = [{
    ```mlir
    %n = onnx.not %m : tensor<?x8xi1>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I1]>:$input);
  let results = (outs RankedTensorOf<[I1]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def ONNX_TriluOp : ONNX_Op<"trilu"> {
  let summary = "ONNX Trilu: the upper or lower triangle of the last two dims";
  let description = [{
    Keeps `x[..., i, j]` where `j - i >= k` (`upper`, ONNX's default) or
    `j - i <= k` (not `upper`) and zeroes the rest; `k` is an optional
    one-element i64 tensor (default 0). What torch exports for
    `triu`/`tril`, e.g. a causal attention mask (`full(-inf).triu(1)`).

    ```mlir
    %m = onnx.trilu %x, %k : (tensor<?x?xf32>, tensor<i64>) -> tensor<?x?xf32>
    %l = onnx.trilu %x {upper = false} : (tensor<?x?xf32>) -> tensor<?x?xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       Optional<RankedTensorOf<[I64]>>:$k,
                       DefaultValuedAttr<BoolAttr, "true">:$upper);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input (`,` $k^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def ONNX_ClipOp : ONNX_Op<"clip", [AttrSizedOperandSegments]> {
  let summary = "ONNX Clip to optional scalar bounds";
  let description = [{
    `min(max(x, min), max)`; each bound is an optional 0-D tensor.

    ```mlir
    %y = onnx.clip %x min %lo max %hi : (tensor<?x8xf32>, tensor<f32>, tensor<f32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       Optional<AnyRankedTensor>:$min,
                       Optional<AnyRankedTensor>:$max);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input (`min` $min^)? (`max` $max^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def ONNX_GeluOp : ONNX_Op<"gelu", [SameOperandsAndResultType]> {
  let summary = "ONNX Gelu (opset 20), exact or tanh-approximated";
  let description = [{
    ```mlir
    %y = onnx.gelu %x {approximate = "tanh"} : tensor<?x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input, StrAttr:$approximate);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def ONNX_SwishOp : ONNX_Op<"swish", [SameOperandsAndResultType]> {
  let summary = "ONNX Swish (opset 24): x * sigmoid(alpha * x)";
  let description = [{
    SiLU when `alpha` is 1.

    ```mlir
    %y = onnx.swish %x {alpha = 1.0 : f32} : tensor<?x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input, F32Attr:$alpha);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def ONNX_ArgMaxOp : ONNX_Op<"argmax"> {
  let summary = "ONNX ArgMax along `axis`";
  let description = [{
    The index of the largest element (the first one among equals, or the
    last with `select_last_index`); `keepdims` keeps the axis as size 1.

    ```mlir
    %i = onnx.argmax %p {axis = 1 : i64, keepdims = false, select_last_index = false} : tensor<?x8xf32> -> tensor<?xi64>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat, I32, I64]>:$input,
                       I64Attr:$axis, BoolAttr:$keepdims,
                       BoolAttr:$select_last_index);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def ONNX_GatherElementsOp : ONNX_Op<"gather_elements"> {
  let summary = "ONNX GatherElements along `axis`";
  let description = [{
    `result[p] = input[p with its axis coordinate replaced by indices[p]]`.

    ```mlir
    %y = onnx.gather_elements %x, %i {axis = 1 : i64} : (tensor<?x8xf32>, tensor<?x2xi64>) -> tensor<?x2xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       RankedTensorOf<[I32, I64]>:$indices, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def ONNX_GatherNDOp : ONNX_Op<"gather_nd"> {
  let summary = "ONNX GatherND (batch_dims = 0)";
  let description = [{
    Each row `indices[i..., :]` (length m) selects `input[idx..., :]`; the
    result is `indices.shape[:-1] + input.shape[m:]`.

    ```mlir
    %y = onnx.gather_nd %x, %i : (tensor<?x8xf32>, tensor<?x2xi64>) -> tensor<?xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, RankedTensorOf<[I64]>:$indices);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def ONNX_ScatterNDOp : ONNX_Op<"scatter_nd"> {
  let summary = "ONNX ScatterND with reduction none or add";
  let description = [{
    A copy of `input` where the slice at each index row of `indices`
    (`[..., m]`) is replaced by (or incremented by) the matching slice of
    `updates` (`indices.shape[:-1] + input.shape[m:]`).

    ```mlir
    %y = onnx.scatter_nd %x, %i, %u {reduction = "add"} : (tensor<?x8xf32>, tensor<?x1xi64>, tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, RankedTensorOf<[I64]>:$indices,
                       AnyRankedTensor:$updates, StrAttr:$reduction);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `,` $indices `,` $updates attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def ONNX_EinsumOp : ONNX_Op<"einsum"> {
  let summary = "ONNX Einsum: explicit equations without ellipsis or diagonals";
  let description = [{
    A sum of products over the letters missing from the output, e.g.
    `"bsd,ed->bse"`. Each letter appears at most once per operand; the
    output letters are given explicitly (`->`).

    ```mlir
    %y = onnx.einsum %x, %w {equation = "td,ed->te"} : (tensor<?x16xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins Variadic<RankedTensorOf<[AnyFloat]>>:$inputs,
                       StrAttr:$equation);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The letters of each input and of the output, or failure.
    ::llvm::FailureOr<::llvm::SmallVector<std::string>> parseEquation();
  }];
}

#endif // MOE_DIALECT_ONNX_IR_ONNXOPS_TD
