# Default-domain ONNX ops imported and lowered through the reference path,
# against onnxruntime on the same files: broadcasting elementwise ops and
# every unary op, MatMul with batch broadcast, Gemm (transB, alpha, beta,
# C), Cast, Softmax (opset 11 and 17), Transpose, Reshape (0 and -1),
# Constant, and an MoE router front (MatMul -> Softmax).
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: elementwise #0 out
# CHECK: OK: elementwise #1 out
# CHECK: OK: linear #0 out
# CHECK: OK: linear #0 hb
# CHECK: OK: linear #1 out
# CHECK: OK: layout #0 out
# CHECK: OK: layout #0 out2
# CHECK: OK: layout_opset11 #0 out
# CHECK: OK: router #0 probs
# CHECK: OK: router #1 probs

import os
import sys

import numpy as np

import onnx_models
from onnx_harness import compare_with_onnxruntime

out_dir = sys.argv[1]
rng = np.random.default_rng(7)
f32 = lambda *s: rng.standard_normal(s).astype(np.float32)

cases = {
    "elementwise": [dict(x=f32(1, 16), y=f32(1, 1)), dict(x=f32(9, 16), y=f32(9, 1))],
    # Cast to int64 truncates; a value within float error of an integer
    # could truncate differently in the two runtimes, which these fixed
    # inputs avoid.
    "linear": [dict(x=f32(3, 16), b3=f32(2, 5, 4, 8)), dict(x=f32(1, 16), b3=f32(2, 1, 4, 8))],
    "layout": [dict(x=f32(6, 8))],
    "layout_opset11": [dict(x=f32(4, 8))],
    "router": [dict(x=f32(1, 16)), dict(x=f32(33, 16))],
}
for name, input_sets in cases.items():
    path = os.path.join(out_dir, name + ".onnx")
    onnx_models.MODELS[name](path)
    compare_with_onnxruntime(name, path, input_sets)
