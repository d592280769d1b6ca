# DeepSeek-V3-style layer: sigmoid scores, correction bias for the choice,
# top-8 within the 4 best of 8 groups, renormalized, scaled by 2.5, plus a
# shared expert.
# RUN: %python %s | FileCheck %s
# CHECK: OK: deepseek_v3 T=1
# CHECK: OK: deepseek_v3 T=7
# CHECK: OK: deepseek_v3 T=33
# Hugging Face's DeepseekV3 masks the other groups with 0 instead of -inf.
# CHECK: OK: deepseek_v3_hf T=1
# CHECK: OK: deepseek_v3_hf T=7
# CHECK: OK: deepseek_v3_hf T=33

from layer_cases import run_layer_case

run_layer_case("deepseek_v3", d=16, f=8, num_experts=32,
               routing=dict(kind="sigmoid_topk", k=8, renormalize=True,
                            scale=2.5, n_group=8, topk_group=4),
               act="swiglu", correction_bias=True, shared_f=16, seed=3)
run_layer_case("deepseek_v3_hf", d=16, f=8, num_experts=32,
               routing=dict(kind="sigmoid_topk", k=8, renormalize=True,
                            scale=2.5, n_group=8, topk_group=4,
                            group_mask="zero"),
               act="swiglu", correction_bias=True, shared_f=16, seed=3)
