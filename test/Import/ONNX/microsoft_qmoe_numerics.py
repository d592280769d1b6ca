# com.microsoft.QMoE (integer weight-only quantization) dequantized at
# import into moe.layer, against onnxruntime's CPU kernel on the same file:
# 8- and 4-bit weights, per-row and block-wise scales, explicit zero points,
# biases, ReLU, SiLU and interleaved SwiGLU.
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: q8_relu #0 y
# CHECK: OK: q4_relu_bias #0 y
# CHECK: OK: q4_swiglu #0 y
# CHECK: OK: q4_block16_silu #0 y
# CHECK: OK: q8_zero_points #0 y
# CHECK: OK: q4_block16_zero_points #0 y

import os
import sys

import numpy as np

from onnx_harness import compare_with_onnxruntime
from onnx_models import microsoft_qmoe

out_dir = sys.argv[1]
rng = np.random.default_rng(8)
E, d, f = 4, 32, 16

cases = [
    ("q8_relu", dict(bits=8)),
    ("q4_relu_bias", dict(bits=4, biases=True)),
    ("q4_swiglu", dict(bits=4, activation="swiglu", fusion=1)),
    ("q4_block16_silu", dict(bits=4, activation="silu", block_size=16)),
    ("q8_zero_points", dict(bits=8, zero_points=True)),
    ("q4_block16_zero_points", dict(bits=4, block_size=16, zero_points=True)),
]
for name, options in cases:
    path = os.path.join(out_dir, name + ".onnx")
    microsoft_qmoe(path, E, d, f, seed=len(name), **options)
    feeds = {"x": rng.standard_normal((7, d)).astype(np.float32),
             "logits": rng.standard_normal((7, E)).astype(np.float32)}
    # onnxruntime accumulates dequantized weights in float32 in another
    # order; outputs reach ~10, so allow 1e-4 relative.
    compare_with_onnxruntime(name, path, [feeds], rtol=1e-4, atol=1e-4)
