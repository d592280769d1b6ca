"""Writes the DeepSeek-V3 hand IR cases of moe-raise-sigmoid.mlir."""
import sys

def expert(e):
    return f"""  %m{e} = onnx.gather %mask, %c{e} {{axis = 0 : i64}} : (tensor<4x?x1xi64>, tensor<i64>) -> tensor<?x1xi64>
  %b{e} = onnx.cast %m{e} : tensor<?x1xi64> to tensor<?x1xi1>
  %nz{e} = onnx.nonzero %b{e} : tensor<?x1xi1> -> tensor<2x?xi64>
  %nzt{e} = onnx.transpose %nz{e} {{perm = array<i64: 1, 0>}} : tensor<2x?xi64> -> tensor<?x2xi64>
  %sp{e}:2 = onnx.split %nzt{e} {{axis = 1 : i64, sizes = array<i64: 1, 1>}} : tensor<?x2xi64> -> tensor<?x1xi64>, tensor<?x1xi64>
  %tok{e} = onnx.squeeze %sp{e}#0 {{axes = array<i64: 1>}} : tensor<?x1xi64> -> tensor<?xi64>
  %slot{e} = onnx.squeeze %sp{e}#1 {{axes = array<i64: 1>}} : tensor<?x1xi64> -> tensor<?xi64>
  %rows{e} = onnx.gather %h, %tok{e} {{axis = 0 : i64}} : (tensor<?x4xf32>, tensor<?xi64>) -> tensor<?x4xf32>
  %a{e} = onnx.matmul %rows{e}, %w1_{e} : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %r{e} = onnx.relu %a{e} : tensor<?x8xf32>
  %y{e} = onnx.matmul %r{e}, %w2_{e} : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  %km{e} = onnx.mul %tok{e}, %k : (tensor<?xi64>, tensor<1xi64>) -> tensor<?xi64>
  %fi{e} = onnx.add %slot{e}, %km{e} : (tensor<?xi64>, tensor<?xi64>) -> tensor<?xi64>
  %gw{e} = onnx.gather %wflat, %fi{e} {{axis = 0 : i64}} : (tensor<?x1xf32>, tensor<?xi64>) -> tensor<?x1xf32>
  %upd{e} = onnx.mul %y{e}, %gw{e} : (tensor<?x4xf32>, tensor<?x1xf32>) -> tensor<?x4xf32>
  %ti{e} = onnx.unsqueeze %tok{e} {{axes = array<i64: 1>}} : tensor<?xi64> -> tensor<?x1xi64>
  %te{e} = onnx.expand %ti{e}, %rowshape : (tensor<?x1xi64>, tensor<2xi64>) -> tensor<?x4xi64>
  %sc{e} = onnx.scatter_elements %zeros, %te{e}, %upd{e} {{axis = 0 : i64, reduction = "none"}} : (tensor<?x4xf32>, tensor<?x4xi64>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %acc{e} = onnx.add {f'%acc{e - 1}' if e else '%z'}, %sc{e} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
"""

def layer(name, fill="0.000000e+00", eps="9.99999968E-21", group_reduce="sum", remark=None):
    consts = "\n".join(
        f"  %w1_{e} = arith.constant dense<{0.5 * (e + 1)}> : tensor<4x8xf32>\n"
        f"  %w2_{e} = arith.constant dense<{-0.25 * (e + 1)}> : tensor<8x4xf32>\n"
        f"  %c{e} = arith.constant dense<{e}> : tensor<i64>" for e in range(4))
    if group_reduce == "sum":
        group = """  %best, %besti = onnx.topk %grouped {axis = 2 : i64, k = 2 : i64, largest = true} : tensor<?x2x2xf32> -> tensor<?x2x2xf32>, tensor<?x2x2xi64>
  %gscore = onnx.reduce_sum %best {axes = array<i64: 2>, keepdims = false} : tensor<?x2x2xf32> -> tensor<?x2xf32>"""
    else:
        group = """  %gscore = onnx.reduce_max %grouped {axes = array<i64: 2>, keepdims = false} : tensor<?x2x2xf32> -> tensor<?x2xf32>"""
    rem = f"  // expected-remark @+1 {{{{MoE layer not raised: {remark}}}}}\n" if remark else ""
    body = "".join(expert(e) for e in range(4))
    body = body.replace("  %acc3 = ", rem + "  %acc3 = ")
    return f"""func.func @{name}(%h: tensor<?x4xf32>, %rowshape: tensor<2xi64>) -> tensor<?x4xf32> {{
  %wr = arith.constant dense<[[1.0, -1.0, 0.5, 0.0], [0.5, 0.25, -2.0, 1.0], [-0.5, 2.0, 0.0, 1.5], [0.0, 1.0, 1.0, -1.0]]> : tensor<4x4xf32>
  %bias = arith.constant dense<[[-0.5, -0.4, -0.6, -0.3]]> : tensor<1x4xf32>
{consts}
  %k = arith.constant dense<1> : tensor<1xi64>
  %one = arith.constant dense<1.0> : tensor<f32>
  %fill = arith.constant dense<{fill}> : tensor<f32>
  %eps = arith.constant dense<{eps}> : tensor<f32>
  %scale = arith.constant dense<2.500000e+00> : tensor<f32>
  %rep = arith.constant dense<[1, 2, 2]> : tensor<3xi64>
  %z = onnx.constant_of_shape %rowshape {{value = 0.0 : f32}} : (tensor<2xi64>) -> tensor<?x4xf32>
  %zeros = onnx.constant_of_shape %rowshape {{value = 0.0 : f32}} : (tensor<2xi64>) -> tensor<?x4xf32>
  %logits = onnx.matmul %h, %wr : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %s = onnx.sigmoid %logits : tensor<?x4xf32>
  %choice = onnx.add %s, %bias : (tensor<?x4xf32>, tensor<1x4xf32>) -> tensor<?x4xf32>
  %grouped = onnx.reshape %choice {{shape = array<i64: -1, 2, 2>}} : (tensor<?x4xf32>) -> tensor<?x2x2xf32>
{group}
  %gv, %gi = onnx.topk %gscore {{axis = 1 : i64, k = 1 : i64, largest = true}} : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %gshape = onnx.shape %gscore {{end = 2 : i64, start = 0 : i64}} : tensor<?x2xf32> -> tensor<2xi64>
  %gzeros = onnx.constant_of_shape %gshape {{value = 0.0 : f32}} : (tensor<2xi64>) -> tensor<?x2xf32>
  %ishape = onnx.shape %gi {{end = 2 : i64, start = 0 : i64}} : tensor<?x1xi64> -> tensor<2xi64>
  %ones = onnx.expand %one, %ishape : (tensor<f32>, tensor<2xi64>) -> tensor<?x1xf32>
  %chosen = onnx.scatter_elements %gzeros, %gi, %ones {{axis = 1 : i64, reduction = "none"}} : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
  %cu = onnx.unsqueeze %chosen {{axes = array<i64: 2>}} : tensor<?x2xf32> -> tensor<?x2x1xf32>
  %ce = onnx.expand %cu, %rep : (tensor<?x2x1xf32>, tensor<3xi64>) -> tensor<?x2x2xf32>
  %cm = onnx.reshape %ce {{shape = array<i64: -1, 4>}} : (tensor<?x2x2xf32>) -> tensor<?x4xf32>
  %cb = onnx.cast %cm : tensor<?x4xf32> to tensor<?x4xi1>
  %out = onnx.not %cb : tensor<?x4xi1>
  %masked = onnx.where %out, %fill, %choice : (tensor<?x4xi1>, tensor<f32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %tv, %ids = onnx.topk %masked {{axis = 1 : i64, k = 1 : i64, largest = true}} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %w = onnx.gather_elements %s, %ids {{axis = 1 : i64}} : (tensor<?x4xf32>, tensor<?x1xi64>) -> tensor<?x1xf32>
  %wsum = onnx.reduce_sum %w {{axes = array<i64: 1>, keepdims = true}} : tensor<?x1xf32> -> tensor<?x1xf32>
  %den = onnx.add %wsum, %eps : (tensor<?x1xf32>, tensor<f32>) -> tensor<?x1xf32>
  %wn = onnx.div %w, %den : (tensor<?x1xf32>, tensor<?x1xf32>) -> tensor<?x1xf32>
  %ws = onnx.mul %wn, %scale : (tensor<?x1xf32>, tensor<f32>) -> tensor<?x1xf32>
  %oh = onnx.one_hot %ids {{axis = 2 : i64, depth = 4 : i64, off_value = 0 : i64, on_value = 1 : i64}} : tensor<?x1xi64> -> tensor<?x1x4xi64>
  %mask = onnx.transpose %oh {{perm = array<i64: 2, 0, 1>}} : tensor<?x1x4xi64> -> tensor<4x?x1xi64>
  %wflat = onnx.flatten %ws {{axis = 2 : i64}} : tensor<?x1xf32> -> tensor<?x1xf32>
{body}  return %acc3 : tensor<?x4xf32>
}}
"""

header = """// RUN: moe-opt %s -moe-raise -split-input-file | FileCheck %s
// RUN: moe-opt %s -moe-raise="report-failures=true" -split-input-file -verify-diagnostics -o /dev/null

// Generated by test/lib/gen_raise_sigmoid_ir.py (edit that, not this).

// DeepSeek-V3's routing as Hugging Face writes it (written small by hand:
// 4 ReLU experts in 2 groups, top-1 within the best group): sigmoid
// scores, a correction bias on the choice only, the group scores as the
// sum of each group's best two, the other group's experts masked with 0.0,
// the chosen sigmoid score renormalized with 1e-20 and scaled by 2.5, and
// the experts' loop over the [E, T, k] mask (NonZero gives (token, slot)).

// CHECK-LABEL: func @deepseek_v3
// CHECK-SAME: (%[[H:.*]]: tensor<?x4xf32>
// CHECK-DAG: %[[CB:.*]] = arith.constant dense<[-5.000000e-01, -4.000000e-01, -6.000000e-01, -3.000000e-01]> : tensor<4xf32>
// CHECK: %[[Y:.*]] = moe.layer %[[H]] : tensor<?x4xf32> router %{{.*}} : tensor<4x4xf32> correction_bias %[[CB]] : tensor<4xf32> w1 %{{.*}} : tensor<4x4x8xf32> w2 %{{.*}} : tensor<4x8x4xf32> routing <sigmoid_topk, k = 1, renormalize = true, scale = 2.5, n_group = 2, group_mask = zero> activation <relu>
// CHECK-NEXT: return %[[Y]]
"""
cases = [header + layer("deepseek_v3"),
         """// DeepSeek-V3's reference code masks with -inf.
// CHECK-LABEL: func @deepseek_v3_neg_inf
// CHECK: moe.layer
// CHECK-SAME: n_group = 2> activation <relu>
""" + layer("deepseek_v3_neg_inf", fill="0xFF800000"),
         """// Near misses stay as they are.
// CHECK-LABEL: func @masked_with_half
// CHECK-NOT: moe.layer
""" + layer("masked_with_half", fill="5.000000e-01",
            remark="the experts of the other groups are masked with something other than 0 or -inf"),
         """// CHECK-LABEL: func @other_epsilon
// CHECK-NOT: moe.layer
""" + layer("other_epsilon", eps="9.99999997E-7",
            remark="the sigmoid weights are not renormalized as v / (sum(v) + 1e-20)"),
         """// A group scored by its best expert alone (DeepSeek-V2's rule) is not
// the layer's group score.
// CHECK-LABEL: func @group_max
// CHECK-NOT: moe.layer
""" + layer("group_max", group_reduce="max",
            remark="a group's score is not the sum of its best two choice scores"),
         ]
sys.stdout.write("\n// -----\n\n".join(cases))
