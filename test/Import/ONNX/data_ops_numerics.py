# The data-movement operators torch exports around MoE blocks, imported and
# run through the reference path against onnxruntime: run-time shape chains
# (Shape, Gather, Unsqueeze, Concat, Reshape), Gather with negative indices,
# Squeeze/Flatten/Slice (negative and huge bounds, steps), Split,
# ConstantOfShape, Expand, Cast to bool, NonZero, ScatterElements (add and
# none), TopK, ReduceSum/Max/Mean, OneHot, and broadcasting of a dim that
# is only known to be 1 at run time, Slice bounds computed at run time, and
# Range (float and int64, counting down), Cos and Sin.
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: shape_chain #1 y
# CHECK: OK: shape_chain #1 z
# CHECK: OK: gather_rows #0 z
# CHECK: OK: squeeze_flatten_slice #0 f
# CHECK: OK: split_expand_fill #0 e
# CHECK: OK: nonzero_where #1 cols
# CHECK: OK: scatter_add #0 z
# CHECK: OK: topk_reduce_onehot #1 mask
# CHECK: OK: runtime_broadcast #1 y
# CHECK: OK: runtime_slice #0 y
# CHECK: OK: runtime_slice #1 z
# CHECK: OK: range_cos_sin #0 c
# CHECK: OK: range_cos_sin #0 sn
# CHECK: OK: range_cos_sin #0 down
# CHECK: OK: range_cos_sin #1 down

import os
import sys

import numpy as np

import onnx_models
from onnx_harness import compare_with_onnxruntime

out_dir = sys.argv[1]
rng = np.random.default_rng(3)
f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
i64 = lambda high, *s: rng.integers(0, high, s).astype(np.int64)

cases = {
    "shape_chain": [dict(x=f32(3, 8)), dict(x=f32(1, 8))],
    "gather_rows": [dict(x=f32(5, 8), idx=np.array([4, 0, -1], np.int64))],
    "squeeze_flatten_slice": [dict(x=f32(6, 8), x3=f32(2, 4, 3))],
    "split_expand_fill": [dict(x=f32(3, 8))],
    # The second mask has no non-zero at all: NonZero returns [2, 0].
    "nonzero_where": [dict(m=i64(2, 5, 4)), dict(m=np.zeros((3, 4), np.int64))],
    "scatter_add": [dict(x=f32(3, 4), idx=i64(3, 5, 4), upd=f32(5, 4))],
    "topk_reduce_onehot": [dict(x=f32(5, 6)), dict(x=np.round(f32(1, 6)))],
    "runtime_broadcast": [dict(x=f32(4, 16), w=f32(4)), dict(x=f32(1, 16), w=f32(1))],
    "runtime_slice": [dict(x=f32(5, 8)), dict(x=f32(3, 8))],
    "range_cos_sin": [dict(x=f32(7, 4)), dict(x=f32(1, 4))],
}
for name, input_sets in cases.items():
    path = os.path.join(out_dir, name + ".onnx")
    onnx_models.MODELS[name](path)
    compare_with_onnxruntime(name, path, input_sets)
