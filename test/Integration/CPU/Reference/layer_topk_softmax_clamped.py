# gpt-oss-style layer: router with bias, top-4 of the logits then softmax,
# experts with biases on every projection and the clamped SwiGLU.
# RUN: %python %s | FileCheck %s
# CHECK: OK: gpt_oss T=1
# CHECK: OK: gpt_oss T=7
# CHECK: OK: gpt_oss T=33

from layer_cases import run_layer_case

run_layer_case("gpt_oss", d=16, f=16, num_experts=8,
               routing=dict(kind="topk_softmax", k=4),
               act="clamped_swiglu", act_params=dict(alpha=1.702, limit=1.5),
               biases=True, router_bias=True, seed=4)
