# Dense (soft) mixture over every expert with GELU experts, a plain SiLU
# FFN with top-3 renormalized routing, and tanh-approximated GELU experts.
# RUN: %python %s | FileCheck %s
# CHECK: OK: dense_gelu T=1
# CHECK: OK: dense_gelu T=7
# CHECK: OK: dense_gelu T=33
# CHECK: OK: silu_top3 T=1
# CHECK: OK: silu_top3 T=7
# CHECK: OK: silu_top3 T=33
# CHECK: OK: gelu_tanh_top2 T=1
# CHECK: OK: gelu_tanh_top2 T=7
# CHECK: OK: gelu_tanh_top2 T=33

from layer_cases import run_layer_case

run_layer_case("dense_gelu", d=8, f=16, num_experts=4,
               routing=dict(kind="dense", k=4), act="gelu", seed=5)
run_layer_case("silu_top3", d=8, f=16, num_experts=6,
               routing=dict(kind="softmax_topk", k=3, renormalize=True),
               act="silu", seed=6)
run_layer_case("gelu_tanh_top2", d=8, f=16, num_experts=6,
               routing=dict(kind="softmax_topk", k=2), act="gelu_tanh",
               biases=True, seed=8)
