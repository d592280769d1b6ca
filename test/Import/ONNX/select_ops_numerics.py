# Comparison, selection and contraction operators against onnxruntime:
# Equal, Not, Where and Clip (opset 6 attributes and opset 11+ inputs, one
# bound omitted), Greater, Less, GreaterOrEqual, LessOrEqual (floats with
# NaNs, int64), ArgMax (first and last index on ties) with
# GatherElements, GatherND and ScatterND (add, negative indices), Einsum
# (matmul-like equations, spaces allowed), Gelu (opset 20, exact and
# tanh), Swish (opset 24) and Trilu (a causal mask, a lower triangle).
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: equal_where_clip #0 y
# CHECK: OK: equal_where_clip #0 z
# CHECK: OK: clip_opset6 #0 y
# CHECK: OK: compare #0 y_gt
# CHECK: OK: compare #0 y_lt
# CHECK: OK: compare #0 y_ge
# CHECK: OK: compare #0 y_le
# CHECK: OK: compare #0 y_igt
# CHECK: OK: argmax_gather_elements #0 top
# CHECK: OK: argmax_gather_elements #1 last
# CHECK: OK: gather_scatter_nd #0 c
# CHECK: OK: einsum_gelu #0 yt
# CHECK: OK: einsum_gelu #0 bv
# CHECK: OK: swish #0 y
# CHECK: OK: swish #0 y2
# CHECK: OK: trilu #0 y
# CHECK: OK: trilu #0 z
# CHECK: OK: trilu #1 y

import os
import sys

import numpy as np

import onnx_models
from onnx_harness import compare_with_onnxruntime

out_dir = sys.argv[1]
rng = np.random.default_rng(4)
f32 = lambda *s: rng.standard_normal(s).astype(np.float32)

cases = {
    "equal_where_clip": [dict(x=f32(5, 4), ids=rng.integers(0, 3, (5, 4)).astype(np.int64))],
    "clip_opset6": [dict(x=f32(3, 4))],
    # Ties and NaNs in x (equal to b, or unordered).
    "compare": [dict(x=np.array([[0.5, np.nan, -1, 2], [1, 2, np.nan, 0], [-3, 0.25, 1, 4]],
                                np.float32),
                     b=np.array([0.5, 1, np.nan, 1], np.float32),
                     ids=np.arange(5, dtype=np.int64),
                     pos=np.array([[-1], [2], [4]], np.int64))],
    # The second input has ties, where first and last index differ.
    "argmax_gather_elements": [dict(x=f32(5, 6)),
                               dict(x=np.array([[1, 3, 3, 0, 3, 2], [5, 5, 1, 1, 0, 5]], np.float32))],
    "gather_scatter_nd": [dict(x=f32(4, 6), upd=f32(3, 6))],
    "einsum_gelu": [dict(x=f32(7, 8), b=f32(2, 3, 4), v=f32(2, 4, 5))],
    "swish": [dict(x=f32(5, 6) * 4)],
    "trilu": [dict(x=f32(5, 5)), dict(x=f32(1, 1))],
}
for name, input_sets in cases.items():
    path = os.path.join(out_dir, name + ".onnx")
    onnx_models.MODELS[name](path)
    compare_with_onnxruntime(name, path, input_sets)
