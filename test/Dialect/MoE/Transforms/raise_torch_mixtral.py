# moe-raise on a real export: a Mixtral-style block written as in Hugging
# Face transformers and exported by torch.onnx.export becomes one moe.layer
# (no per-expert loop left), and the raised IR, lowered by the reference
# path, still matches onnxruntime on the original file at 1 to 33 tokens.
# REQUIRES: torch
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t > %t/out.txt
# RUN: FileCheck %s --check-prefix=IR < %t/raised.mlir
# RUN: FileCheck %s --check-prefix=NUM < %t/out.txt
# IR: moe.layer %{{.*}} router %{{.*}} : tensor<16x4xf32> w1 %{{.*}} : tensor<4x16x32xf32> w3 %{{.*}} : tensor<4x16x32xf32> w2 %{{.*}} : tensor<4x32x16xf32>
# IR-SAME: routing <softmax_topk, k = 2, renormalize = true> activation <swiglu>
# IR-NOT: onnx.scatter_elements
# IR-NOT: onnx.nonzero
# IR-NOT: onnx.topk
# NUM: OK: raised_mixtral #0 y
# NUM: OK: raised_mixtral #1 y
# NUM: OK: raised_mixtral #2 y

import os
import subprocess
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

import hf_moe_blocks  # noqa: E402
from onnx_harness import compare_with_onnxruntime, import_model  # noqa: E402

out = sys.argv[1]
path = os.path.join(out, "mixtral.onnx")
hf_moe_blocks.export(hf_moe_blocks.MixtralSparseMoeBlock(d=16, f=32, num_experts=4, top_k=2),
                     path, d=16, seed=1)
raised = subprocess.run(["moe-opt", "--moe-raise"], input=import_model(path),
                        capture_output=True, text=True, check=True).stdout
with open(os.path.join(out, "raised.mlir"), "w") as f:
    f.write(raised)
rng = np.random.default_rng(2)
compare_with_onnxruntime(
    "raised_mixtral", path,
    [{"x": rng.standard_normal(s).astype(np.float32)} for s in [(1, 1, 16), (2, 3, 16), (3, 11, 16)]],
    passes=["moe-raise"])
