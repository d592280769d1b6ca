# The decomposed ops, one at a time and chained into a whole layer, against
# numpy: moe.route (with exact ties, which must go to the lower expert;
# with shared experts' slots, weighted 1 or by a gate logit's sigmoid),
# moe.permute (with an expert that gets no token), moe.grouped_matmul (with
# a fused SwiGLU epilogue and bias) and moe.combine.
# RUN: %python %s | FileCheck %s
# CHECK: OK: route ties ids
# CHECK: OK: route ties weights
# CHECK: OK: route deepseek ids
# CHECK: OK: route deepseek weights
# CHECK: OK: route shared gated ids
# CHECK: OK: route shared gated weights
# CHECK: OK: route shared ids
# CHECK: OK: route shared weights
# CHECK: OK: permute rows
# CHECK: OK: permute assignments
# CHECK: OK: permute offsets
# CHECK: OK: permute inverse
# CHECK: OK: grouped_matmul swiglu
# CHECK: OK: combine
# CHECK: OK: chained layer T=1
# CHECK: OK: chained layer T=9

import numpy as np

import mlir_harness as mh
import moe_reference as ref

rng = np.random.default_rng(11)
f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
T = None  # dynamic token count in the kernels


def route_case(name, logits, routing_text, k, bias=None, shared=0,
               shared_gate=False, **routing):
    E = logits.shape[1]
    args = [mh.tensor_type((T, E), "f32")]
    params = f"%l: {args[0]}"
    clause = ""
    if bias is not None:
        args.append(mh.tensor_type((E,), "f32"))
        params += f", %b: {args[1]}"
        clause = f"correction_bias %b : {args[1]} "
    slots = k + shared
    ids_t, w_t = mh.tensor_type((T, slots), "i64"), mh.tensor_type((T, slots), "f32")
    extra = (f" shared({shared})" if shared else "") + (" gated" if shared_gate else "")
    kernel = f"""func.func @kernel({params}) -> ({ids_t}, {w_t}) {{
  %ids, %w = moe.route %l {clause}routing {routing_text}{extra} : {args[0]} -> {ids_t}, {w_t}
  return %ids, %w : {ids_t}, {w_t}
}}"""
    inputs = [logits] + ([] if bias is None else [bias])
    [(ids, w)] = mh.run(kernel, args, [ids_t, w_t], [inputs])
    want_ids, want_w = ref.route(logits, k=k, correction_bias=bias, shared=shared,
                                 shared_gate=shared_gate, **routing)
    mh.check_close(f"route {name} ids", ids, want_ids, rtol=0, atol=0)
    mh.check_close(f"route {name} weights", w, want_w)


# Integer logits: many exact ties, which ONNX TopK breaks by lower index.
ties = rng.integers(0, 3, size=(6, 8)).astype(np.float32)
route_case("ties", ties, "<softmax_topk, k = 3, renormalize = true>", 3,
           kind="softmax_topk", renormalize=True)
route_case("deepseek", f32(5, 16),
           "<sigmoid_topk, k = 4, renormalize = true, scale = 2.5, n_group = 4, topk_group = 2>",
           4, bias=(0.1 * f32(16)), kind="sigmoid_topk", renormalize=True,
           scale=2.5, n_group=4, topk_group=2)
# Qwen2-MoE: 6 routed experts, the shared expert's gate the 7th column, its
# 2 chunks (experts 6 and 7) in every token's last slots; and ungated
# shared slots after group-limited sigmoid routing.
route_case("shared gated", f32(7, 7), "<softmax_topk, k = 2>", 2, shared=2,
           shared_gate=True, kind="softmax_topk")
route_case("shared", f32(5, 8),
           "<sigmoid_topk, k = 2, renormalize = true, n_group = 4, topk_group = 2>", 2,
           bias=(0.1 * f32(8)), shared=1, kind="sigmoid_topk", renormalize=True,
           n_group=4, topk_group=2)

# moe.permute: 5 tokens, k = 2, 4 experts; expert 2 gets nothing.
x = f32(5, 6)
ids = np.array([[1, 0], [3, 1], [0, 3], [1, 0], [3, 1]], dtype=np.int64)
types = dict(x=mh.tensor_type((T, 6), "f32"), ids=mh.tensor_type((T, 2), "i64"),
             rows=mh.tensor_type((T, 6), "f32"), assign=mh.tensor_type((T,), "i64"),
             offsets=mh.tensor_type((5,), "i64"), inv=mh.tensor_type((T, 2), "i64"))
kernel = f"""func.func @kernel(%x: {types['x']}, %ids: {types['ids']}) -> ({types['rows']}, {types['assign']}, {types['offsets']}, {types['inv']}) {{
  %rows, %assign, %offsets, %inv = moe.permute %x, %ids : {types['x']}, {types['ids']} -> {types['rows']}, {types['assign']}, {types['offsets']}, {types['inv']}
  return %rows, %assign, %offsets, %inv : {types['rows']}, {types['assign']}, {types['offsets']}, {types['inv']}
}}"""
[(rows, assign, offsets, inv)] = mh.run(
    kernel, [types["x"], types["ids"]],
    [types["rows"], types["assign"], types["offsets"], types["inv"]], [[x, ids]])
flat = ids.reshape(-1)
want_assign = np.argsort(flat, kind="stable")
want_inv = np.empty_like(want_assign)
want_inv[want_assign] = np.arange(flat.size)
want_offsets = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=4))])
# Printed with 6 significant digits: compare floats to that precision.
mh.check_close("permute rows", rows, x[want_assign // 2], rtol=1e-5, atol=1e-6)
mh.check_close("permute assignments", assign, want_assign, rtol=0, atol=0)
mh.check_close("permute offsets", offsets, want_offsets, rtol=0, atol=0)
mh.check_close("permute inverse", inv, want_inv.reshape(5, 2), rtol=0, atol=0)

# moe.grouped_matmul with gate|up weights [E, K, 2F], bias, SwiGLU epilogue.
E, K, F = 4, 6, 5
w = f32(E, K, 2 * F)
b = f32(E, 2 * F)
segs = np.array([0, 3, 3, 7, 10], dtype=np.int64)  # expert 1 is empty
r = f32(10, K)
gt = dict(r=mh.tensor_type((T, K), "f32"), w=mh.tensor_type(w.shape, "f32"),
          o=mh.tensor_type((5,), "i64"), b=mh.tensor_type(b.shape, "f32"),
          y=mh.tensor_type((T, F), "f32"))
kernel = f"""func.func @kernel(%r: {gt['r']}, %w: {gt['w']}, %o: {gt['o']}, %b: {gt['b']}) -> {gt['y']} {{
  %y = moe.grouped_matmul %r, %w, %o bias %b : {gt['b']} activation <swiglu> : {gt['r']}, {gt['w']}, {gt['o']} -> {gt['y']}
  return %y : {gt['y']}
}}"""
[(y,)] = mh.run(kernel, [gt["r"], gt["w"], gt["o"], gt["b"]], [gt["y"]],
                [[r, w, segs, b]])
want = np.zeros((10, F))
for e in range(E):
    for row in range(segs[e], segs[e + 1]):
        z = r[row].astype(np.float64) @ w[e] + b[e]
        want[row] = ref.activation("swiglu", z[:F], z[F:])
mh.check_close("grouped_matmul swiglu", y, want)

# moe.combine.
yrows, cw = f32(10, 3), f32(5, 2)
cinv = rng.permutation(10).reshape(5, 2).astype(np.int64)
ct = dict(y=mh.tensor_type((T, 3), "f32"), w=mh.tensor_type((T, 2), "f32"),
          i=mh.tensor_type((T, 2), "i64"), o=mh.tensor_type((T, 3), "f32"))
kernel = f"""func.func @kernel(%y: {ct['y']}, %w: {ct['w']}, %i: {ct['i']}) -> {ct['o']} {{
  %o = moe.combine %y, %w, %i : {ct['y']}, {ct['w']}, {ct['i']} -> {ct['o']}
  return %o : {ct['o']}
}}"""
[(out,)] = mh.run(kernel, [ct["y"], ct["w"], ct["i"]], [ct["o"]], [[yrows, cw, cinv]])
want = (cw[:, :, None].astype(np.float64) * yrows[cinv]).sum(axis=1)
mh.check_close("combine", out, want)

# The four ops chained into a Mixtral-style layer (router matmul in linalg),
# against the numpy layer.
d, f, E, k = 8, 6, 4, 2
wr, w1, w3, w2 = f32(d, E), f32(E, d, f), f32(E, d, f), f32(E, f, d)
w13 = np.concatenate([w1, w3], axis=2)
lt = dict(x=mh.tensor_type((T, d), "f32"), wr=mh.tensor_type(wr.shape, "f32"),
          w13=mh.tensor_type(w13.shape, "f32"), w2=mh.tensor_type(w2.shape, "f32"))
kernel = f"""func.func @kernel(%x: {lt['x']}, %wr: {lt['wr']}, %w13: {lt['w13']}, %w2: {lt['w2']}) -> {lt['x']} {{
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : {lt['x']}
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty(%t) : tensor<?x{E}xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x{E}xf32>) -> tensor<?x{E}xf32>
  %logits = linalg.matmul ins(%x, %wr : {lt['x']}, {lt['wr']}) outs(%init : tensor<?x{E}xf32>) -> tensor<?x{E}xf32>
  %ids, %w = moe.route %logits routing <softmax_topk, k = {k}, renormalize = true> : tensor<?x{E}xf32> -> tensor<?x{k}xi32>, tensor<?x{k}xf32>
  %rows, %assign, %offsets, %inv = moe.permute %x, %ids : {lt['x']}, tensor<?x{k}xi32> -> tensor<?x{d}xf32>, tensor<?xi32>, tensor<{E + 1}xi32>, tensor<?x{k}xi32>
  %h = moe.grouped_matmul %rows, %w13, %offsets activation <swiglu> : tensor<?x{d}xf32>, {lt['w13']}, tensor<{E + 1}xi32> -> tensor<?x{f}xf32>
  %yr = moe.grouped_matmul %h, %w2, %offsets : tensor<?x{f}xf32>, {lt['w2']}, tensor<{E + 1}xi32> -> tensor<?x{d}xf32>
  %y = moe.combine %yr, %w, %inv : tensor<?x{d}xf32>, tensor<?x{k}xf32>, tensor<?x{k}xi32> -> {lt['x']}
  return %y : {lt['x']}
}}"""
sets = [[f32(n, d), wr, w13, w2] for n in (1, 9)]
results = mh.run(kernel, [lt["x"], lt["wr"], lt["w13"], lt["w2"]], [lt["x"]], sets)
routing = dict(kind="softmax_topk", k=k, renormalize=True)
for inputs, (actual,) in zip(sets, results):
    want = ref.moe_layer(inputs[0], wr, w1, w2, routing, "swiglu", w3=w3)
    mh.check_close(f"chained layer T={inputs[0].shape[0]}", actual, want)
