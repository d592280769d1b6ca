# Real torch.onnx.export files of MoE blocks run in bfloat16 (weights,
# input and output bf16, as checkpoints ship): each layer is raised
# (moe-raise looks through the float casts of the routing - Hugging Face's
# Mixtral computes its softmax in f32 and casts the weights back),
# computed in f32 on the runtime's kernels (moe-widen-half; no warning, the
# module calls moe_cc_*), and matches PyTorch running the same block in
# f32 on the same bf16 weights and inputs to the output's bf16 rounding
# (half an ulp: at most 2^-8 of its magnitude; allowed twice that). PyTorch
# in bf16 rounds after every op and lands further off; onnxruntime has no
# CPU kernels for these ops in bf16.
# REQUIRES: torch
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: mixtral bf16 export raised, calls the CPU runtime, matches PyTorch in f32
# CHECK: OK: qwen2 bf16 export
# CHECK: OK: relu bf16 export
# CHECK: OK: soft bf16 export
# CHECK: OK: gptoss bf16 export
# CHECK: OK: stacked bf16 export
# CHECK: OK: switch bf16 export

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

out = sys.argv[1]
models = {
    "mixtral": blocks.MixtralSparseMoeBlock(d=16, f=32, num_experts=4, top_k=2),
    "qwen2": blocks.Qwen2MoeSparseMoeBlock(d=16, f=16, num_experts=6, top_k=2, shared_f=24),
    "relu": blocks.ReluMoeBlock(d=16, f=32, num_experts=5, top_k=3),
    "soft": blocks.SoftMoeBlock(d=16, f=24, num_experts=3),
    "gptoss": blocks.GptOssMoeBlock(d=16, f=16, num_experts=4, top_k=2, limit=1.5),
    "stacked": blocks.StackedMoeBlock(d=16, f=24, num_experts=4, top_k=2),
    "switch": blocks.SwitchSparseMLP(d=16, f=32, num_experts=4),
}

for name, module in models.items():
    torch.manual_seed(1)
    for parameter in module.parameters():
        nn.init.normal_(parameter, std=0.3)
    module = module.eval().to(torch.bfloat16)
    path = os.path.join(out, name + ".onnx")
    with torch.no_grad():
        torch.onnx.export(module, (torch.randn(2, 3, 16).to(torch.bfloat16),), path,
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
    reference = module.float()  # the same bf16 weights, computed in f32
    for tokens in (1, 7, 33):
        x = torch.randn(1, tokens, 16, generator=torch.Generator().manual_seed(tokens))
        x = x.to(torch.bfloat16)
        with torch.no_grad():
            expected = reference(x.float()).numpy()
        (actual,) = model.run([x.float().numpy().astype(ml_dtypes.bfloat16)])
        assert actual.dtype == ml_dtypes.bfloat16, actual.dtype
        error = np.abs(actual.astype(np.float32) - expected).max()
        assert error <= 2.0 ** -7 * max(1.0, np.abs(expected).max()), (name, tokens, error)
    print(f"OK: {name} bf16 export raised, calls the CPU runtime, matches PyTorch in f32")
