# moe-decompose keeps the math: layers split into route, permute, grouped
# matmuls (gate|up fused with the activation epilogue) and combine, lowered
# by the reference path, against numpy for every routing kind the
# decomposed ops state and both FFN kinds, with router and expert biases.
# RUN: %python %s | FileCheck %s
# CHECK: OK: mixtral T=1
# CHECK: OK: mixtral T=33
# CHECK: OK: gpt_oss T=7
# CHECK: OK: deepseek_v3 T=33
# CHECK: OK: switch T=7
# CHECK: OK: dense_gelu T=33
# Shared experts: slots moe.route appends, gated by one more router column
# (with a router bias: a zero for that column), or by one more logits
# column (x . gate) when the layer is given its logits.
# CHECK: OK: shared_gated T=33
# CHECK: OK: shared_given_logits T=33
# CHECK: OK: shared_ungated T=7
# CHECK: OK: up_bias_only T=7
# moe-fuse-combine: the combine in the down projection's clause, lowered.
# CHECK: OK: fused_combine T=1
# CHECK: OK: fused_combine T=33
# CHECK: OK: fused_combine_bias T=7

from layer_cases import run_layer_case

decompose = dict(passes=["moe-decompose"])
run_layer_case("mixtral", d=16, f=24, num_experts=8,
               routing=dict(kind="softmax_topk", k=2, renormalize=True),
               act="swiglu", **decompose)
run_layer_case("gpt_oss", d=16, f=16, num_experts=8,
               routing=dict(kind="topk_softmax", k=4), act="clamped_swiglu",
               act_params=dict(alpha=1.702, limit=1.5), biases=True,
               router_bias=True, seed=4, **decompose)
run_layer_case("deepseek_v3", d=16, f=8, num_experts=32,
               routing=dict(kind="sigmoid_topk", k=8, renormalize=True,
                            scale=2.5, n_group=8, topk_group=4),
               act="swiglu", correction_bias=True, seed=3, **decompose)
run_layer_case("switch", d=16, f=32, num_experts=4,
               routing=dict(kind="softmax_topk", k=1), act="relu",
               biases=True, seed=2, **decompose)
run_layer_case("dense_gelu", d=8, f=16, num_experts=4,
               routing=dict(kind="dense", k=4), act="gelu", seed=5, **decompose)
run_layer_case("shared_gated", d=16, f=8, num_experts=6,
               routing=dict(kind="softmax_topk", k=2), act="swiglu", shared_f=20,
               shared_gate=True, router_bias=True, seed=6, **decompose)
run_layer_case("shared_given_logits", d=16, f=8, num_experts=6,
               routing=dict(kind="topk_softmax", k=2), act="swiglu", shared_f=12,
               shared_gate=True, router_bias=True, given_logits=True, seed=7,
               **decompose)
run_layer_case("shared_ungated", d=16, f=8, num_experts=8,
               routing=dict(kind="sigmoid_topk", k=2, renormalize=True, n_group=4,
                            topk_group=2),
               act="relu", shared_f=8, correction_bias=True, seed=8, **decompose)

# Only the gate bias given: the fused bias is [b1 | 0].
import numpy as np  # noqa: E402

import mlir_harness as mh  # noqa: E402
import moe_reference as ref  # noqa: E402

rng = np.random.default_rng(9)
d, f, E = 8, 6, 4
wr, w1, w3 = (rng.standard_normal(s).astype(np.float32) for s in [(d, E), (E, d, f), (E, d, f)])
w2, b1 = rng.standard_normal((E, f, d)).astype(np.float32), rng.standard_normal((E, f)).astype(np.float32)
t = dict(x=mh.tensor_type((None, d), "f32"), wr=mh.tensor_type(wr.shape, "f32"),
         w=mh.tensor_type(w1.shape, "f32"), w2=mh.tensor_type(w2.shape, "f32"),
         b1=mh.tensor_type(b1.shape, "f32"))
kernel = f"""func.func @kernel(%x: {t['x']}, %wr: {t['wr']}, %w1: {t['w']}, %w3: {t['w']}, %w2: {t['w2']}, %b1: {t['b1']}) -> {t['x']} {{
  %y = moe.layer %x : {t['x']} router %wr : {t['wr']} w1 %w1 : {t['w']} w3 %w3 : {t['w']} w2 %w2 : {t['w2']} b1 %b1 : {t['b1']} routing <softmax_topk, k = 2> activation <swiglu> -> {t['x']}
  return %y : {t['x']}
}}"""
x = rng.standard_normal((7, d)).astype(np.float32)
[(out,)] = mh.run(kernel, [t["x"], t["wr"], t["w"], t["w"], t["w2"], t["b1"]], [t["x"]],
                  [[x, wr, w1, w3, w2, b1]], passes=["moe-decompose"])
want = ref.moe_layer(x, wr, w1, w2, dict(kind="softmax_topk", k=2), "swiglu", w3=w3, b1=b1)
mh.check_close("up_bias_only T=7", out, want)

fused = dict(passes=["moe-decompose", "moe-fuse-combine"])
run_layer_case("fused_combine", d=16, f=24, num_experts=8,
               routing=dict(kind="softmax_topk", k=2, renormalize=True),
               act="swiglu", token_counts=(1, 33), **fused)
run_layer_case("fused_combine_bias", d=16, f=32, num_experts=4,
               routing=dict(kind="softmax_topk", k=2), act="relu",
               biases=True, seed=12, token_counts=(7,), **fused)

