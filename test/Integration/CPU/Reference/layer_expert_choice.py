# Expert-choice routing (Zhou et al. 2022): p = softmax(logits) per token,
# each expert takes its C = min(T, ceil(cf * T * k / E)) best tokens by p.
# Some tokens get no expert and output 0 (drop_policy applies to token
# choice only).
# RUN: %python %s | FileCheck %s
# CHECK: OK: expert_choice T=1
# CHECK: OK: expert_choice T=7
# CHECK: OK: expert_choice T=33
# CHECK: OK: expert_choice_cf2_scaled T=1
# CHECK: OK: expert_choice_cf2_scaled T=7
# CHECK: OK: expert_choice_cf2_scaled T=33

from layer_cases import run_layer_case

run_layer_case("expert_choice", d=16, f=32, num_experts=4,
               routing=dict(kind="expert_choice", k=1, capacity_factor=1.0),
               act="gelu", seed=21)
run_layer_case("expert_choice_cf2_scaled", d=16, f=24, num_experts=8,
               routing=dict(kind="expert_choice", k=2, capacity_factor=2.0,
                            scale=1.5),
               act="swiglu", seed=22)
