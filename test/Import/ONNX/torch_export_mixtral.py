# A Mixtral-style MoE block written as in Hugging Face transformers,
# exported by torch.onnx.export (opset 17, dynamic batch and sequence),
# imported and run through the reference path, against onnxruntime on the
# same file at several token counts (including 1, where experts get no
# token and NonZero returns nothing).
# REQUIRES: torch
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: mixtral_export #0 y
# CHECK: OK: mixtral_export #1 y
# CHECK: OK: mixtral_export #2 y
# CHECK: OK: mixtral_export #3 y

import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

import hf_moe_blocks  # noqa: E402
from onnx_harness import compare_with_onnxruntime  # noqa: E402

path = os.path.join(sys.argv[1], "mixtral.onnx")
hf_moe_blocks.export(hf_moe_blocks.MixtralSparseMoeBlock(d=16, f=32, num_experts=4, top_k=2),
                     path, d=16)
rng = np.random.default_rng(0)
shapes = [(1, 1, 16), (1, 7, 16), (2, 3, 16), (3, 11, 16)]
compare_with_onnxruntime("mixtral_export", path,
                         [{"x": rng.standard_normal(s).astype(np.float32)} for s in shapes])
