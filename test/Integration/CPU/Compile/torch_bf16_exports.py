# Real torch.onnx.export files of MoE blocks run in bfloat16 (weights,
# input and output bf16, as checkpoints ship): each layer is raised
# (moe-raise looks through the float casts of the routing - Hugging Face's
# Mixtral computes its softmax in f32 and casts the weights back),
# computed in f32 on the runtime's kernels (moe-widen-half; no warning, the
# module calls moe_cc_*), and matches onnxruntime on the f32 export of the
# same block (the same bf16 weights, held in f32; fed the same bf16 inputs)
# to the output's bf16 rounding (half an ulp: at most 2^-8 of its
# magnitude; allowed twice that). onnxruntime has no CPU kernels for these
# ops in bf16; PyTorch itself breaks top-k ties (DeepSeek's masked-out
# experts all score 0.0) otherwise than ONNX TopK.
# DeepSeek-V3's router and combine run in f32 next to its bf16 experts:
# that layer is raised in f32 (its bf16 weights widened), one moe.layer
# between casts of its input and output.
# REQUIRES: torch
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: mixtral bf16 export raised, calls the CPU runtime, matches onnxruntime on its f32 export; bf16 weights on the GPU
# CHECK: OK: qwen2 bf16 export
# CHECK: OK: relu bf16 export
# CHECK: OK: soft bf16 export
# CHECK: OK: gptoss bf16 export
# CHECK: OK: stacked bf16 export
# CHECK: OK: switch bf16 export
# CHECK: OK: deepseek bf16 export
# CHECK: OK: deepseek's mixed bf16/f32 layer is raised as one f32 moe.layer
# CHECK: OK: a bf16 decoder layer with a KV cache runs on the host in bf16 arithmetic, matching PyTorch in f32

import os
import subprocess
import sys
import warnings

import ml_dtypes
import numpy as np

warnings.filterwarnings("ignore")

import torch  # noqa: E402
from torch import nn  # noqa: E402

import compiled_model  # noqa: E402
import hf_moe_blocks as blocks  # noqa: E402
from onnx_harness import run_onnxruntime  # noqa: E402

out = sys.argv[1]
# The pre-down-projection variant's block does not run in bf16 in PyTorch.
models = {name: block for name, block in blocks.test_blocks().items() if name != "predown"}

for name, module in models.items():
    torch.manual_seed(1)
    for parameter in module.parameters():
        nn.init.normal_(parameter, std=0.3)
    module = module.eval().to(torch.bfloat16)
    path = os.path.join(out, name + ".onnx")
    twin = os.path.join(out, name + "_f32.onnx")
    for exported, dtype in ((path, torch.bfloat16), (twin, torch.float32)):
        with torch.no_grad():
            torch.onnx.export(module.to(dtype), (torch.randn(2, 3, 16).to(dtype),), exported,
                              input_names=["x"], output_names=["y"], opset_version=17,
                              dynamic_axes={"x": {0: "batch", 1: "seq"},
                                            "y": {0: "batch", 1: "seq"}})
    lowered = subprocess.run(["moe-compile", path, "--emit=mlir", "-o", "-"],
                             capture_output=True, text=True, check=True)
    assert "warning" not in lowered.stderr, (name, lowered.stderr)
    assert "llvm.call @moe_cc_" in lowered.stdout, (name, "not raised")
    build = os.path.join(out, name)
    os.makedirs(build)
    model = compiled_model.load(path, build)
    for tokens in (1, 7, 33):
        x = np.random.default_rng(tokens).standard_normal((1, tokens, 16))
        x = x.astype(ml_dtypes.bfloat16)
        (expected,) = run_onnxruntime(twin, {"x": x.astype(np.float32)})
        (actual,) = model.run([x])
        assert actual.dtype == ml_dtypes.bfloat16, actual.dtype
        error = np.abs(actual.astype(np.float32) - expected).max()
        assert error <= 2.0 ** -7 * max(1.0, np.abs(expected).max()), (name, tokens, error)
    # For the GPU its weights stay bf16 by default (--weights=auto): the
    # tensor-core kernels.
    gpu = subprocess.run(["moe-compile", path, "--target=cuda", "--emit=mlir", "-o", "-"],
                         capture_output=True, text=True, check=True).stdout
    calls = {line.split("@")[1].split("(")[0] for line in gpu.splitlines()
             if "llvm.call @moe_cuda_cc_" in line}
    experts = {c for c in calls if "_layer_" in c or "_experts_" in c or "_matmul_" in c}
    assert experts and all(c.endswith("_bf16w") for c in experts), (name, calls)
    print(f"OK: {name} bf16 export raised, calls the CPU runtime, matches onnxruntime on its "
          "f32 export; bf16 weights on the GPU")

imported = subprocess.run(["moe-translate", "--import-onnx", os.path.join(out, "deepseek.onnx")],
                          capture_output=True, text=True, check=True).stdout
raised = subprocess.run(["moe-opt", "--moe-raise"], input=imported, capture_output=True,
                        text=True, check=True).stdout
layers = [line for line in raised.splitlines() if "moe.layer" in line]
assert len(layers) == 1 and "-> tensor<?x?xf32>" in layers[0], layers
assert "xbf16>" not in layers[0] and "{moe.source_weight_type = bf16}" in layers[0], layers[0]
assert "onnx.matmul" not in raised, "expert matmuls left over"
print("OK: deepseek's mixed bf16/f32 layer is raised as one f32 moe.layer")

# A whole bfloat16 decoder layer with a KV cache (rotary, grouped-query,
# causal attention around the Mixtral block): the graph's ops run on the
# host in bf16 arithmetic - each op computed in f32 and rounded to bf16,
# with no __truncsfbf2 libcalls, which the system libgcc lacks (the library
# would not load) - and y and the extended cache match PyTorch in f32 on
# the same bf16 weights and inputs to bf16 rounding (2e-2 of the output's
# magnitude, cosine above 0.999), the past rows copied bit for bit.
decoder = blocks.DecoderLayer(blocks.MixtralSparseMoeBlock(d=16, f=16, num_experts=4, top_k=2),
                              d=16, heads=4, causal=True, rotary=True, kv_heads=2)
torch.manual_seed(3)
for parameter in decoder.parameters():
    nn.init.normal_(parameter, std=0.3)
decoder = decoder.eval().to(torch.bfloat16)
path = os.path.join(out, "decoder_cache.onnx")
past = torch.randn(2, 2, 4, 4).to(torch.bfloat16)
cache_axes = {0: "batch", 2: "past"}
with torch.no_grad():
    torch.onnx.export(decoder, (torch.randn(2, 3, 16).to(torch.bfloat16), past, past.clone()),
                      path, input_names=["x", "past_k", "past_v"],
                      output_names=["y", "present_k", "present_v"], opset_version=17,
                      dynamic_axes={"x": {0: "batch", 1: "seq"}, "past_k": cache_axes,
                                    "past_v": cache_axes, "y": {0: "batch", 1: "seq"},
                                    "present_k": {0: "batch", 2: "total"},
                                    "present_v": {0: "batch", 2: "total"}})
build = os.path.join(out, "decoder_cache")
os.makedirs(build)
model = compiled_model.load(path, build)
reference = decoder.float()
for past_len, tokens in ((5, 1), (2, 9)):
    generator = torch.Generator().manual_seed(past_len + tokens)
    inputs = [torch.randn(2, tokens, 16, generator=generator).to(torch.bfloat16)] + [
        torch.randn(2, 2, past_len, 4, generator=generator).to(torch.bfloat16)
        for _ in range(2)]
    with torch.no_grad():
        expected = [t.numpy() for t in reference(*(t.float() for t in inputs))]
    feed = [t.float().numpy().astype(ml_dtypes.bfloat16) for t in inputs]
    actual = model.run(feed)
    for name, got, want in zip(("y", "present_k", "present_v"), actual, expected):
        got = got.astype(np.float64)
        error = np.abs(got - want).max() / max(1.0, np.abs(want).max())
        cosine = np.dot(got.ravel(), want.ravel()) / (np.linalg.norm(got) * np.linalg.norm(want))
        assert error <= 2e-2 and cosine > 0.999, (past_len, tokens, name, error, cosine)
    for got, given in zip(actual[1:], feed[1:]):
        assert np.array_equal(got[:, :, :past_len].view(np.uint16), given.view(np.uint16))
print("OK: a bf16 decoder layer with a KV cache runs on the host in bf16 arithmetic, "
      "matching PyTorch in f32")
