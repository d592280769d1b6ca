# Qwen2-MoE-style layer: softmax -> top-4 without renormalization, SwiGLU
# experts, plus a shared expert scaled by sigmoid(x @ shared_gate).
# RUN: %python %s | FileCheck %s
# CHECK: OK: qwen2 T=1
# CHECK: OK: qwen2 T=7
# CHECK: OK: qwen2 T=33

from layer_cases import run_layer_case

run_layer_case("qwen2", d=16, f=12, num_experts=8,
               routing=dict(kind="softmax_topk", k=4),
               act="swiglu", shared_f=20, shared_gate=True, seed=1)
