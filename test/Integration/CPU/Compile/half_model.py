# 16-bit exports of ONNX Runtime's MoE op on the CPU (float16 and
# bfloat16 weights, inputs and output): moe-widen-half computes the layer
# in f32 on the runtime's kernels (not the reference lowering: moe-compile
# prints no warning and the module calls moe_cc_*), its 16-bit output
# matching onnxruntime on the model's f32 twin (the same weights, rounded
# to the 16-bit type, fed the same 16-bit inputs) to within the output's
# rounding: half an ulp, at most 2^-11 of its magnitude in f16, 2^-8 in
# bf16 (allowed twice that). moe-run takes and writes bfloat16 .npy files
# as ml_dtypes saves them (two-byte voids).
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: the float16 layer calls the CPU runtime
# CHECK: OK: float16 T=1 within its rounding
# CHECK: OK: float16 T=9 within its rounding
# CHECK: OK: float16 T=40 within its rounding
# CHECK: OK: the bfloat16 layer calls the CPU runtime
# CHECK: OK: bfloat16 T=1 within its rounding
# CHECK: OK: bfloat16 T=9 within its rounding
# CHECK: OK: bfloat16 T=40 within its rounding
# CHECK: OK: moe-run --describe shows bf16, and runs on ml_dtypes' .npy files
# CHECK: OK: moe-run refuses f32 data for a bf16 input

import os
import subprocess
import sys

import ml_dtypes
import numpy as np

import compiled_model
from onnx_harness import run_onnxruntime
from onnx_models import half_with_twin, untied_logits

out = sys.argv[1]
rng = np.random.default_rng(3)
for dtype, numpy_type, ulp in (("float16", np.float16, 2.0 ** -10),
                               ("bfloat16", ml_dtypes.bfloat16, 2.0 ** -7)):
    twin = os.path.join(out, f"{dtype}_twin.onnx")
    half = os.path.join(out, f"{dtype}.onnx")
    half_with_twin(twin, half, 8, 16, 12, activation="swiglu", k=2, fusion=1, biases=True,
                   seed=7, dtype=dtype)

    lowered = subprocess.run(["moe-compile", half, "--emit=mlir", "-o", "-"],
                             capture_output=True, text=True, check=True)
    assert "warning" not in lowered.stderr, lowered.stderr
    assert "llvm.call @moe_cc_grouped_matmul_packed_f32" in lowered.stdout, \
        lowered.stdout[-2000:]
    print(f"OK: the {dtype} layer calls the CPU runtime")

    build = os.path.join(out, dtype)
    os.makedirs(build)
    compiled = compiled_model.load(half, build)
    for tokens in (1, 9, 40):
        x = rng.standard_normal((tokens, 16)).astype(numpy_type)
        logits = untied_logits(rng, tokens, 8, numpy_type)
        (expected,) = run_onnxruntime(twin, {"x": x.astype(np.float32),
                                             "logits": logits.astype(np.float32)})
        (actual,) = compiled.run([x, logits])
        assert actual.dtype == numpy_type, actual.dtype
        error = np.abs(actual.astype(np.float32) - expected).max()
        assert error <= ulp * max(1.0, np.abs(expected).max()), (dtype, tokens, error)
        print(f"OK: {dtype} T={tokens} within its rounding")

# moe-run on the bfloat16 model: .npy files as ml_dtypes writes them.
library = os.path.join(out, "bf16.so")
subprocess.run(["moe-compile", os.path.join(out, "bfloat16.onnx"), "-o", library], check=True)
described = subprocess.run(["moe-run", library, "--describe"], capture_output=True, text=True,
                           check=True).stdout
assert "input 'x': bf16 [?, 16]" in described and "output 'y': bf16 [?, 16]" in described, \
    described
x = rng.standard_normal((5, 16)).astype(ml_dtypes.bfloat16)
logits = untied_logits(rng, 5, 8, ml_dtypes.bfloat16)
np.save(os.path.join(out, "x.npy"), x)
np.save(os.path.join(out, "logits.npy"), logits)
subprocess.run(["moe-run", library, "--input", "x=" + os.path.join(out, "x.npy"),
                "--input", "logits=" + os.path.join(out, "logits.npy"),
                "--output-dir", os.path.join(out, "run")], check=True)
y = np.load(os.path.join(out, "run", "y.npy"))
assert y.dtype.itemsize == 2 and y.shape == (5, 16), (y.dtype, y.shape)
(expected,) = run_onnxruntime(os.path.join(out, "bfloat16_twin.onnx"),
                              {"x": x.astype(np.float32), "logits": logits.astype(np.float32)})
error = np.abs(y.view(ml_dtypes.bfloat16).astype(np.float32) - expected).max()
assert error <= 2.0 ** -7 * max(1.0, np.abs(expected).max()), error
print("OK: moe-run --describe shows bf16, and runs on ml_dtypes' .npy files")

np.save(os.path.join(out, "x32.npy"), x.astype(np.float32))
refused = subprocess.run(["moe-run", library, "--input", "x=" + os.path.join(out, "x32.npy"),
                          "--input", "logits=" + os.path.join(out, "logits.npy")],
                         capture_output=True, text=True)
assert refused.returncode != 0 and "input 'x': dtype f32, the model wants bf16" in refused.stderr, \
    refused.stderr
print("OK: moe-run refuses f32 data for a bf16 input")
