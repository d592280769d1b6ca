# Llama-4-style layer: sigmoid top-1 whose score scales the expert's input,
# not its output, plus an ungated shared expert.
# RUN: %python %s | FileCheck %s
# CHECK: OK: llama4 T=1
# CHECK: OK: llama4 T=7
# CHECK: OK: llama4 T=33

from layer_cases import run_layer_case

run_layer_case("llama4", d=16, f=24, num_experts=4,
               routing=dict(kind="sigmoid_topk", k=1), act="swiglu",
               gate_on_input=True, shared_f=24, seed=7)
