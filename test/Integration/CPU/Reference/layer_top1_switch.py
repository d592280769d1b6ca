# Switch-style layer: top-1 of the softmax (weight = p_max), ReLU experts
# with biases.
# RUN: %python %s | FileCheck %s
# CHECK: OK: switch T=1
# CHECK: OK: switch T=7
# CHECK: OK: switch T=33

from layer_cases import run_layer_case

run_layer_case("switch", d=16, f=32, num_experts=4,
               routing=dict(kind="softmax_topk", k=1),
               act="relu", biases=True, seed=2)
