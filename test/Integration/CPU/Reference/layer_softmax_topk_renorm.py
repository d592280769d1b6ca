# Mixtral-style layer: softmax -> top-2 -> renormalize, SwiGLU experts.
# RUN: %python %s | FileCheck %s
# CHECK: OK: mixtral T=1
# CHECK: OK: mixtral T=7
# CHECK: OK: mixtral T=33

from layer_cases import run_layer_case

run_layer_case("mixtral", d=16, f=24, num_experts=8,
               routing=dict(kind="softmax_topk", k=2, renormalize=True),
               act="swiglu")
