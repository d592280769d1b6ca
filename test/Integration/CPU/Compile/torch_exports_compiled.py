# Real torch.onnx.export files of MoE blocks written as in Hugging Face
# transformers (Mixtral, Qwen2-MoE with a shared expert, ReLU experts, a
# dense mixture, gpt-oss, stacked weights, Switch, DeepSeek-V3; a whole
# decoder layer with causal, rotary, grouped-query attention around
# Mixtral's, again with a KV cache) compiled by moe-compile into
# shared libraries (runtime path and --reference) and run through the model
# C API at 1, 7 and 33 tokens, and once through moe-run, against
# onnxruntime on the same file.
# REQUIRES: torch
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: mixtral runtime T=1
# CHECK: OK: mixtral runtime T=33
# CHECK: OK: mixtral reference T=33
# CHECK: OK: mixtral moe-run
# CHECK: OK: qwen2 runtime T=33
# CHECK: OK: relu runtime T=33
# CHECK: OK: soft runtime T=33
# CHECK: OK: gptoss runtime T=33
# CHECK: OK: stacked runtime T=33
# CHECK: OK: stacked moe-run
# CHECK: OK: switch runtime T=1
# CHECK: OK: switch runtime T=33
# CHECK: OK: switch reference T=33
# CHECK: OK: deepseek runtime T=1
# CHECK: OK: deepseek runtime T=33
# CHECK: OK: deepseek reference T=33
# CHECK: OK: deepseek moe-run
# CHECK: OK: decoder runtime T=1
# CHECK: OK: decoder runtime T=33
# CHECK: OK: decoder reference T=33
# CHECK: OK: decoder moe-run
# CHECK: OK: cached y past=0 T=5
# CHECK: OK: cached present_v past=0 T=5
# CHECK: OK: cached y past=5 T=1
# CHECK: OK: cached present_k past=5 T=1
# CHECK: OK: cached y past=3 T=2
# CHECK: OK: positions y past=0 T=5
# CHECK: OK: positions present_k past=5 T=1
# CHECK: OK: transformers y past=0 T=5
# CHECK: OK: transformers y past=5 T=1
# CHECK: OK: qwen3 y past=0 T=5
# CHECK: OK: qwen3 present_k past=5 T=1

import os
import subprocess
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

import compiled_model  # noqa: E402
import hf_moe_blocks as blocks  # noqa: E402
import mlir_harness as mh  # noqa: E402
from onnx_harness import run_onnxruntime  # noqa: E402

out = sys.argv[1]
d = 16
models = {
    "mixtral": blocks.MixtralSparseMoeBlock(d=d, f=32, num_experts=4, top_k=2),
    "qwen2": blocks.Qwen2MoeSparseMoeBlock(d=d, f=16, num_experts=6, top_k=2,
                                           shared_f=24),
    "relu": blocks.ReluMoeBlock(d=d, f=32, num_experts=5, top_k=3),
    "soft": blocks.SoftMoeBlock(d=d, f=24, num_experts=3),
    "gptoss": blocks.GptOssMoeBlock(d=d, f=16, num_experts=4, top_k=2,
                                    limit=1.5),
    "stacked": blocks.StackedMoeBlock(d=d, f=24, num_experts=4, top_k=2),
    "switch": blocks.SwitchSparseMLP(d=d, f=32, num_experts=4),
    "deepseek": blocks.DeepseekV3MoE(d=d, f=8, num_experts=8, top_k=2,
                                     n_group=4, topk_group=2),
    "decoder": blocks.DecoderLayer(blocks.MixtralSparseMoeBlock(d=d, f=16, num_experts=4,
                                                                top_k=2),
                                   d=d, heads=4, causal=True, rotary=True, kv_heads=2),
}
rng = np.random.default_rng(4)
# [batch, seq, d]: 1, 7 and 33 tokens.
shapes = [(1, 1, d), (1, 7, d), (3, 11, d)]
for name, module in models.items():
    path = os.path.join(out, name + ".onnx")
    blocks.export(module, path, d=d, seed=1)
    builds = {}
    for kind, flags in (("runtime", []), ("reference", ["--reference"])):
        build = os.path.join(out, name + "_" + kind)
        os.makedirs(build)
        builds[kind] = compiled_model.compile_model(path, build, flags)
    for kind, library in builds.items():
        model = compiled_model.Model(library)
        for shape in shapes:
            x = rng.standard_normal(shape).astype(np.float32)
            (expected,) = run_onnxruntime(path, {"x": x})
            (actual,) = model.run([x])
            mh.check_close(f"{name} {kind} T={shape[0] * shape[1]}", actual,
                           expected, rtol=1e-4, atol=1e-5)
    x = rng.standard_normal((2, 5, d)).astype(np.float32)
    np.save(os.path.join(out, name + "_x.npy"), x)
    result = os.path.join(out, name + "_out")
    subprocess.run(["moe-run", builds["runtime"], "--input",
                    "x=" + os.path.join(out, name + "_x.npy"), "--output-dir",
                    result], check=True, stdout=subprocess.DEVNULL)
    (expected,) = run_onnxruntime(path, {"x": x})
    mh.check_close(f"{name} moe-run", np.load(os.path.join(result, "y.npy")),
                   expected, rtol=1e-4, atol=1e-5)

# The decoder layer with a KV cache (HF's layer with a DynamicCache, as a
# graph): inputs x, past_k, past_v; outputs y and the extended cache. A
# prefill (an empty cache), a decode step and a short continuation, every
# output against onnxruntime.
path = os.path.join(out, "cached.onnx")
blocks.export_cached(blocks.DecoderLayer(
    blocks.MixtralSparseMoeBlock(d=d, f=16, num_experts=4, top_k=2), d=d, heads=4,
    causal=True, rotary=True, kv_heads=2), path, d=d, seed=1)
build = os.path.join(out, "cached_runtime")
os.makedirs(build)
model = compiled_model.Model(compiled_model.compile_model(path, build, []))
for past, tokens in ((0, 5), (5, 1), (3, 2)):
    feeds = {"x": rng.standard_normal((2, tokens, d)).astype(np.float32),
             "past_k": rng.standard_normal((2, 2, past, d // 4)).astype(np.float32),
             "past_v": rng.standard_normal((2, 2, past, d // 4)).astype(np.float32)}
    expected = run_onnxruntime(path, feeds)
    actual = model.run(list(feeds.values()))
    for output, got, want in zip(("y", "present_k", "present_v"), actual, expected):
        mh.check_close(f"cached {output} past={past} T={tokens}", got, want, rtol=1e-4,
                       atol=1e-5)

# The same layer with transformers' rotary embedding at the position_ids
# given (an int64 input; the second sequence a position behind), then also
# with transformers' 2-D int64 attention_mask (the second sequence
# left-padded by 2) turned into the causal mask in the graph; Qwen3's with
# its q and k heads RMS-normed.
for name, padded, qk_norm in (("positions", False, False), ("transformers", "2d", False),
                              ("qwen3", False, True)):
    path = os.path.join(out, name + ".onnx")
    blocks.export_cached(blocks.DecoderLayer(
        blocks.MixtralSparseMoeBlock(d=d, f=16, num_experts=4, top_k=2), d=d, heads=4,
        causal=not padded, rotary="hf", kv_heads=2, qk_norm=qk_norm), path, d=d, seed=1,
        padded=padded)
    build = os.path.join(out, name + "_runtime")
    os.makedirs(build)
    model = compiled_model.Model(compiled_model.compile_model(path, build, []))
    for past, tokens in ((0, 5), (5, 1)):
        mask = np.ones((2, past + tokens), np.int64)
        mask[1, :2] = 0
        ids = np.stack([np.arange(past, past + tokens), np.arange(past, past + tokens) + 3])
        feeds = {"x": rng.standard_normal((2, tokens, d)).astype(np.float32),
                 "past_k": rng.standard_normal((2, 2, past, d // 4)).astype(np.float32),
                 "past_v": rng.standard_normal((2, 2, past, d // 4)).astype(np.float32)}
        if padded:
            feeds["attention_mask"] = mask
        feeds["position_ids"] = ids.astype(np.int64)
        expected = run_onnxruntime(path, feeds)
        actual = model.run(list(feeds.values()))
        for output, got, want in zip(("y", "present_k", "present_v"), actual, expected):
            mh.check_close(f"{name} {output} past={past} T={tokens}", got, want, rtol=1e-4,
                           atol=1e-5)
