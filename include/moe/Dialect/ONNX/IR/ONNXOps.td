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
def ONNX_MulOp : ONNX_BinaryOp<"mul", "Mul", "lhs * rhs">;
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
  let summary = "ONNX Reshape with a constant target shape";
  let description = [{
    Reshapes to `shape`, whose entries follow ONNX: `0` copies the input
    dim at that position (allowzero = 0), `-1` is inferred from the element
    count. The importer folds the constant shape input into the attribute;
    a shape computed at run time is not supported yet.

    ```mlir
    %y = onnx.reshape %x {shape = array<i64: -1, 16>} : tensor<?x4x16xf32> -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

#endif // MOE_DIALECT_ONNX_IR_ONNXOPS_TD
