# Routing statistics of a layer with a gated shared expert (Qwen2-MoE,
# exported by torch): the routing op appends the shared expert's slots and
# reads its gate from an extra router column, but the statistics describe
# the routed experts only - their count, top-k, tokens per expert (against
# the torch module's own router and top-k) and mean probabilities (the
# softmax over the routed logits, not the gate's).
# REQUIRES: torch
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: shared-expert layer: 6 experts, top-2
# CHECK: OK: tokens per expert
# CHECK: OK: mean probability

import os
import subprocess
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
import torch  # noqa: E402

import compiled_model  # noqa: E402
import hf_moe_blocks as blocks  # noqa: E402
import moe_reference as ref  # noqa: E402

out = sys.argv[1]
E, k, d, T = 6, 2, 16, 41
module = blocks.Qwen2MoeSparseMoeBlock(d=d, f=16, num_experts=E, top_k=k, shared_f=24)
path = os.path.join(out, "qwen2.onnx")
blocks.export(module, path, d=d, seed=3)
library = os.path.join(out, "qwen2.so")
subprocess.run(["moe-compile", path, "-o", library], check=True)

x = np.random.default_rng(4).standard_normal((1, T, d)).astype(np.float32)
model = compiled_model.Model(library)
model.record_stats()
model.run([x])
(layer,) = model.stats()["layers"]
assert layer["experts"] == E and layer["top_k"] == k, layer
print(f"OK: shared-expert layer: {layer['experts']} experts, top-{layer['top_k']}")

with torch.no_grad():
    logits = module.gate(torch.from_numpy(x.reshape(T, d))).double().numpy()
ids, _ = ref.route(logits, "softmax_topk", k)
counts = np.bincount(ids.reshape(-1), minlength=E)
assert layer["tokens"] == T and layer["tokens_per_expert"] == list(counts), (layer, counts)
print("OK: tokens per expert")
np.testing.assert_allclose(layer["mean_probability"], ref.softmax(logits).mean(axis=0),
                           rtol=1e-4, atol=1e-6)
print("OK: mean probability")
