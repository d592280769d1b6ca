# Capacity limits: each expert keeps the first C = ceil(cf * T * k / E)
# tokens that chose it. Dropped assignments contribute 0, or, with
# drop_policy = passthrough, a token that lost every expert outputs its
# input. Small capacity factors make sure tokens are dropped at T = 7, 33.
# RUN: %python %s | FileCheck %s
# CHECK: OK: capacity_zero T=1
# CHECK: OK: capacity_zero T=7
# CHECK: OK: capacity_zero T=33
# CHECK: OK: capacity_passthrough T=1
# CHECK: OK: capacity_passthrough T=7
# CHECK: OK: capacity_passthrough T=33
# CHECK: OK: capacity_top2_renorm T=7
# CHECK: OK: capacity_top2_renorm T=33

from layer_cases import run_layer_case

run_layer_case("capacity_zero", d=16, f=32, num_experts=4,
               routing=dict(kind="softmax_topk", k=1, capacity_factor=0.5),
               act="relu", biases=True, seed=11)
run_layer_case("capacity_passthrough", d=16, f=32, num_experts=4,
               routing=dict(kind="softmax_topk", k=1, capacity_factor=0.75,
                            drop_policy="passthrough"),
               act="relu", biases=True, seed=12)
run_layer_case("capacity_top2_renorm", d=16, f=24, num_experts=8,
               routing=dict(kind="softmax_topk", k=2, renormalize=True,
                            capacity_factor=1.0, drop_policy="passthrough"),
               act="swiglu", token_counts=(7, 33), seed=13)
