# RMS norms as ONNX writes them in one node: RMSNormalization (opset 23,
# what newer exporters emit), ONNX Runtime's SimplifiedLayerNormalization
# (what its graph optimizer fuses an RMS norm into) and its
# SkipSimplifiedLayerNormalization (the residual add before the norm, the
# sum an output too). Imported as the ops an
# exporter writes for the norm (pow, reduce_mean, add, sqrt, div, mul, mul;
# 16-bit inputs computed in f32, stash_type 1), they match onnxruntime on
# the same file - over the last axis and over the last two, f32 and f16,
# run through the compiled CPU model - and --target=cuda fuses them back
# into one moe_cuda_cc_rms_norm_f32 call (its scale preloaded with the
# weights). Unsupported attributes and
# shapes fail naming the node.
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: imported as pow, reduce_mean, add, sqrt, div, mul, mul
# CHECK: OK: rms_last f32 matches onnxruntime
# CHECK: OK: rms_two_axes f32 matches onnxruntime
# CHECK: OK: rms_f16 f16 matches onnxruntime
# CHECK: OK: simplified f32 matches onnxruntime
# CHECK: OK: skip_simplified matches onnxruntime (the norm and the sum)
# CHECK: OK: --target=cuda makes the norm one moe_cuda_cc_rms_norm_f32 call
# CHECK: OK: --target=cuda fuses SkipSimplifiedLayerNormalization's residual add into the norm's call
# CHECK: OK: stash_type 0: node 'norm' (RMSNormalization): only stash_type 1 (float32) is supported, not 0
# CHECK: OK: a scale of the wrong size: node 'norm' (RMSNormalization): scale [5] does not broadcast to X [?, 8]

import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import compiled_model
from onnx_harness import run_onnxruntime

out = sys.argv[1]
rng = np.random.default_rng(4)


def norm_model(path, op, *, opset, dtype=TensorProto.FLOAT, shape=("T", 8), axis=-1,
               scale_shape=(8,), **attrs):
    numpy_type = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16}[dtype]
    scale = (rng.standard_normal(scale_shape) + 1).astype(numpy_type)
    node = helper.make_node(op, ["x", "scale"], ["y"], name="norm", axis=axis,
                            epsilon=1e-5, **attrs)
    graph = helper.make_graph([node], "norm", [helper.make_tensor_value_info("x", dtype, shape)],
                              [helper.make_tensor_value_info("y", dtype, shape)],
                              [numpy_helper.from_array(scale, "scale")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.save(model, path)
    return path


imported = subprocess.run(
    ["moe-translate", "--import-onnx",
     norm_model(os.path.join(out, "ir.onnx"), "RMSNormalization", opset=23)],
    capture_output=True, text=True, check=True).stdout
ops = [line.split("=", 1)[1].split()[0] for line in imported.splitlines()
       if " = onnx." in line]
assert ops == ["onnx.pow", "onnx.reduce_mean", "onnx.add", "onnx.sqrt", "onnx.div",
               "onnx.mul", "onnx.mul"], ops
print("OK: imported as pow, reduce_mean, add, sqrt, div, mul, mul")

cases = {
    "rms_last": dict(op="RMSNormalization", opset=23),
    "rms_two_axes": dict(op="RMSNormalization", opset=23, shape=("B", 3, 8), axis=-2,
                         scale_shape=(3, 8)),
    "rms_f16": dict(op="RMSNormalization", opset=23, dtype=TensorProto.FLOAT16),
    "simplified": dict(op="SimplifiedLayerNormalization", opset=17),
}
for name, spec in cases.items():
    path = norm_model(os.path.join(out, name + ".onnx"), **spec)
    build = os.path.join(out, name)
    os.makedirs(build)
    model = compiled_model.load(path, build)
    f16 = spec.get("dtype") == TensorProto.FLOAT16
    for rows in (1, 7):
        shape = (rows, 3, 8) if name == "rms_two_axes" else (rows, 8)
        x = (rng.standard_normal(shape) * 3).astype(np.float16 if f16 else np.float32)
        (expected,) = run_onnxruntime(path, {"x": x})
        (actual,) = model.run([x])
        assert actual.dtype == x.dtype, actual.dtype
        tolerance = 2e-3 if f16 else 1e-5
        assert np.allclose(actual.astype(np.float32), expected.astype(np.float32),
                           rtol=tolerance, atol=tolerance), (name, rows)
    print(f"OK: {name} {'f16' if f16 else 'f32'} matches onnxruntime")

# SkipSimplifiedLayerNormalization with a bias: y and input + skip + bias.
d = 8
node = helper.make_node("SkipSimplifiedLayerNormalization", ["x", "skip", "gamma", "bias"],
                        ["y", "", "", "sum"], name="skip_norm", domain="com.microsoft",
                        epsilon=1e-6)
graph = helper.make_graph(
    [node], "skip_norm",
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B", "S", d]) for n in ("x", "skip")],
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B", "S", d]) for n in ("y", "sum")],
    [numpy_helper.from_array((rng.standard_normal(d) + 1).astype(np.float32), "gamma"),
     numpy_helper.from_array(rng.standard_normal(d).astype(np.float32), "bias")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                helper.make_opsetid("com.microsoft", 1)])
model.ir_version = 10
skip_path = os.path.join(out, "skip_simplified.onnx")
onnx.save(model, skip_path)
os.makedirs(os.path.join(out, "skip_simplified"))
skip_model = compiled_model.load(skip_path, os.path.join(out, "skip_simplified"))
for shape in ((1, 1, d), (2, 5, d)):
    feeds = {n: (rng.standard_normal(shape) * 2).astype(np.float32) for n in ("x", "skip")}
    expected = run_onnxruntime(skip_path, feeds)
    actual = skip_model.run(list(feeds.values()))
    for a, e in zip(actual, expected):
        assert np.allclose(a, e, rtol=1e-5, atol=1e-5), shape
print("OK: skip_simplified matches onnxruntime (the norm and the sum)")

lowered = subprocess.run(["moe-compile", os.path.join(out, "rms_last.onnx"), "--target=cuda",
                          "--emit=mlir", "-o", "-"], capture_output=True, text=True, check=True)
calls = [line for line in lowered.stdout.splitlines()
         if "llvm.call @moe_cuda_cc_" in line and "moe_cuda_cc_preload" not in line]
assert len(calls) == 1 and "moe_cuda_cc_rms_norm_f32" in calls[0], calls
print("OK: --target=cuda makes the norm one moe_cuda_cc_rms_norm_f32 call")

# The residual add joins it: SkipSimplifiedLayerNormalization without a
# bias is one call (with one, the bias is added last, by a broadcast add
# of its own).
del model.graph.node[0].input[3]
del model.graph.initializer[1]
onnx.save(model, os.path.join(out, "skip_no_bias.onnx"))
lowered = subprocess.run(["moe-compile", os.path.join(out, "skip_no_bias.onnx"), "--target=cuda",
                          "--emit=mlir", "-o", "-"], capture_output=True, text=True,
                         check=True).stdout
calls = sorted(line.split("@")[1].split("(")[0] for line in lowered.splitlines()
               if "llvm.call @moe_cuda_cc_" in line and "preload" not in line)
assert calls == ["moe_cuda_cc_rms_norm_f32"], calls
print("OK: --target=cuda fuses SkipSimplifiedLayerNormalization's residual add into the norm's call")

for label, spec in (("stash_type 0", dict(stash_type=0)),
                    ("a scale of the wrong size", dict(scale_shape=(5,)))):
    path = norm_model(os.path.join(out, "bad.onnx"), "RMSNormalization", opset=23, **spec)
    result = subprocess.run(["moe-translate", "--import-onnx", path],
                            capture_output=True, text=True)
    assert result.returncode != 0, label
    message = result.stderr.strip().splitlines()[0]
    print(f"OK: {label}: {message.split('error: ', 1)[1]}")
