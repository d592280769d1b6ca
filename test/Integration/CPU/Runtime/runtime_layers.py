# The runtime path (moe-runtime-to-llvm): layers decomposed and lowered to
# calls of the CPU kernel runtime (oneTBB), against numpy, for every
# per-token routing kind, both FFN kinds, biases, shared experts (run as
# always-selected experts: widths that are, and are not, a multiple of the
# routed width; with and without the sigmoid gate), and a layer the
# runtime does not cover (capacity) that falls back to the reference
# lowering.
# RUN: %python %s | FileCheck %s
# CHECK: OK: mixtral T=1
# CHECK: OK: mixtral T=7
# CHECK: OK: mixtral T=33
# CHECK: OK: gpt_oss T=7
# CHECK: OK: deepseek_v3 T=33
# CHECK: OK: switch T=1
# CHECK: OK: dense_gelu T=7
# CHECK: OK: qwen2_shared T=1
# CHECK: OK: qwen2_shared T=7
# CHECK: OK: qwen2_shared T=33
# CHECK: OK: shared_relu_no_gate T=7
# CHECK: OK: shared_gate_given_logits T=7
# CHECK: OK: shared_gate_router_bias T=33
# CHECK: OK: deepseek_shared T=33
# CHECK: OK: deepseek_hf_zero_mask T=33
# CHECK: OK: capacity_fallback T=33
# CHECK: OK: single_thread T=33

from layer_cases import run_layer_case

runtime = dict(pipeline="moe-runtime-to-llvm")
run_layer_case("mixtral", d=16, f=24, num_experts=8,
               routing=dict(kind="softmax_topk", k=2, renormalize=True),
               act="swiglu", **runtime)
run_layer_case("gpt_oss", d=16, f=16, num_experts=8,
               routing=dict(kind="topk_softmax", k=4), act="clamped_swiglu",
               act_params=dict(alpha=1.702, limit=1.5), biases=True,
               router_bias=True, seed=4, token_counts=(7,), **runtime)
run_layer_case("deepseek_v3", d=16, f=8, num_experts=32,
               routing=dict(kind="sigmoid_topk", k=8, renormalize=True,
                            scale=2.5, n_group=8, topk_group=4),
               act="swiglu", correction_bias=True, seed=3,
               token_counts=(33,), **runtime)
run_layer_case("switch", d=16, f=32, num_experts=4,
               routing=dict(kind="softmax_topk", k=1), act="relu",
               biases=True, seed=2, token_counts=(1,), **runtime)
run_layer_case("dense_gelu", d=8, f=16, num_experts=4,
               routing=dict(kind="dense", k=4), act="gelu", seed=5,
               token_counts=(7,), **runtime)
# fs = 20 over f = 12: two chunks, the second padded with 4 zero columns.
run_layer_case("qwen2_shared", d=16, f=12, num_experts=8,
               routing=dict(kind="softmax_topk", k=4), act="swiglu",
               shared_f=20, shared_gate=True, seed=1, **runtime)
run_layer_case("shared_relu_no_gate", d=16, f=8, num_experts=4,
               routing=dict(kind="softmax_topk", k=2, renormalize=True),
               act="relu", biases=True, shared_f=24, seed=8,
               token_counts=(7,), **runtime)
# The shared gate as one more logits column: given logits (the routing
# kernel reads it), and a router with a bias (fused gating, a zero bias for
# the gate's column).
run_layer_case("shared_gate_given_logits", d=16, f=12, num_experts=8,
               routing=dict(kind="softmax_topk", k=2), act="swiglu",
               shared_f=12, shared_gate=True, given_logits=True, seed=2,
               token_counts=(7,), **runtime)
run_layer_case("shared_gate_router_bias", d=16, f=12, num_experts=8,
               routing=dict(kind="softmax_topk", k=2, renormalize=True), act="swiglu",
               shared_f=20, shared_gate=True, router_bias=True, seed=3,
               token_counts=(33,), **runtime)
run_layer_case("deepseek_shared", d=16, f=8, num_experts=16,
               routing=dict(kind="sigmoid_topk", k=4, renormalize=True,
                            scale=2.5, n_group=4, topk_group=2),
               act="swiglu", correction_bias=True, shared_f=8, seed=9,
               token_counts=(33,), **runtime)
run_layer_case("deepseek_hf_zero_mask", d=16, f=8, num_experts=16,
               routing=dict(kind="sigmoid_topk", k=4, renormalize=True,
                            scale=2.5, n_group=4, topk_group=2,
                            group_mask="zero"),
               act="swiglu", correction_bias=True, seed=9,
               token_counts=(33,), **runtime)
run_layer_case("capacity_fallback", d=16, f=32, num_experts=4,
               routing=dict(kind="softmax_topk", k=1, capacity_factor=0.5),
               act="relu", seed=11, token_counts=(33,), **runtime)
run_layer_case("single_thread", d=16, f=24, num_experts=8,
               routing=dict(kind="softmax_topk", k=2, renormalize=True),
               act="swiglu", seed=6, token_counts=(33,),
               pipeline="moe-runtime-to-llvm=num-threads=1")
