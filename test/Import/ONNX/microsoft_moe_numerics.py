# com.microsoft.MoE imported as moe.layer, lowered by the reference path and
# by the runtime path (decomposed, oneTBB kernels), against onnxruntime's own
# kernel on the same file: every activation, the three gate/up layouts
# (separate fc3, interleaved, concatenated), biases, renormalized and plain
# top-k, 2-D and 3-D inputs, several token counts.
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# RUN: %python %s %t moe-runtime-to-llvm | FileCheck %s
# CHECK: OK: relu_k2_norm #0 y
# CHECK: OK: relu_k2_norm #2 y
# CHECK: OK: gelu_k1 #0 y
# CHECK: OK: silu_k2_bias #0 y
# CHECK: OK: identity_k3 #0 y
# CHECK: OK: swiglu_interleaved_bias #0 y
# CHECK: OK: swiglu_interleaved_clamped #0 y
# CHECK: OK: relu_3d_input #0 y
# CHECK: OK: relu_3d_input #1 y
# CHECK: OK: swiglu_fc3_bias #0 y
# CHECK: OK: swiglu_concat_clamped #0 y

import os
import sys

import numpy as np

from onnx_harness import compare_with_onnxruntime
from onnx_models import microsoft_moe, relayout_swiglu

out_dir = sys.argv[1]
pipeline = sys.argv[2] if len(sys.argv) > 2 else "moe-reference-to-llvm"
rng = np.random.default_rng(5)
E, d, f = 4, 8, 6


def inputs(shape, num_experts=E):
    tokens = int(np.prod(shape[:-1]))
    return {"x": rng.standard_normal(shape).astype(np.float32),
            "logits": rng.standard_normal((tokens, num_experts)).astype(np.float32)}


cases = [
    ("relu_k2_norm", dict(activation="relu", k=2, normalize=1), [(1, d), (7, d), (33, d)]),
    ("gelu_k1", dict(activation="gelu", k=1), [(5, d)]),
    ("silu_k2_bias", dict(activation="silu", k=2, biases=True), [(9, d)]),
    ("identity_k3", dict(activation="identity", k=3, normalize=1), [(4, d)]),
    ("swiglu_interleaved_bias", dict(activation="swiglu", k=2, fusion=1, biases=True), [(6, d)]),
    ("swiglu_interleaved_clamped", dict(activation="swiglu", k=2, fusion=1, alpha=1.702,
                                        beta=1.0, limit=0.5), [(6, d)]),
    ("relu_3d_input", dict(activation="relu", k=2, rank=3), [(2, 3, d), (1, 5, d)]),
]
for name, options, shapes in cases:
    path = os.path.join(out_dir, name + ".onnx")
    microsoft_moe(path, E, d, f, seed=len(name), **options)
    compare_with_onnxruntime(name, path, [inputs(s) for s in shapes],
                             pipeline=pipeline)

# onnxruntime's CPU kernel runs only interleaved gate/up rows; the other two
# layouts are checked against it on the same weights, re-laid out.
for name, fusion, options in [
        ("swiglu_fc3_bias", 0, dict(biases=True, normalize=1)),
        ("swiglu_concat_clamped", 2, dict(alpha=1.702, beta=1.0, limit=0.5))]:
    source = os.path.join(out_dir, name + "_interleaved.onnx")
    path = os.path.join(out_dir, name + ".onnx")
    microsoft_moe(source, E, d, f, activation="swiglu", k=2, fusion=1, seed=9,
                  **options)
    relayout_swiglu(source, path, fusion)
    compare_with_onnxruntime(name, path, [inputs((6, d))], reference_path=source,
                             pipeline=pipeline)
