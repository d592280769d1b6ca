# A float16 export of ONNX Runtime's MoE op on the CPU: moe-widen-half
# computes its layer in f32 on the runtime's kernels (not the reference
# lowering: moe-compile prints no warning and the module calls
# moe_cc_*), its f16 output matching onnxruntime on the model's f32 twin
# (the same weights, rounded to f16, fed the same f16 inputs) to within
# the output's f16 rounding.
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: the float16 layer calls the CPU runtime
# CHECK: OK: T=1 within f16 rounding
# CHECK: OK: T=9 within f16 rounding
# CHECK: OK: T=40 within f16 rounding

import os
import subprocess
import sys

import numpy as np

import compiled_model
from onnx_harness import run_onnxruntime
from onnx_models import half_with_twin

out = sys.argv[1]
twin, half = os.path.join(out, "twin.onnx"), os.path.join(out, "half.onnx")
half_with_twin(twin, half, 8, 16, 12, activation="swiglu", k=2, fusion=1, biases=True, seed=7)

lowered = subprocess.run(["moe-compile", half, "--emit=mlir", "-o", "-"],
                         capture_output=True, text=True, check=True)
assert "warning" not in lowered.stderr, lowered.stderr
assert "llvm.call @moe_cc_grouped_matmul_packed_f32" in lowered.stdout, lowered.stdout[-2000:]
print("OK: the float16 layer calls the CPU runtime")

compiled = compiled_model.load(half, out)
rng = np.random.default_rng(3)
for tokens in (1, 9, 40):
    x = rng.standard_normal((tokens, 16)).astype(np.float16)
    logits = rng.standard_normal((tokens, 8)).astype(np.float16)
    (expected,) = run_onnxruntime(twin, {"x": x.astype(np.float32),
                                         "logits": logits.astype(np.float32)})
    (actual,) = compiled.run([x, logits])
    assert actual.dtype == np.float16, actual.dtype
    error = np.abs(actual.astype(np.float32) - expected).max()
    assert error <= 2e-3 * max(1.0, np.abs(expected).max()), (tokens, error)
    print(f"OK: T={tokens} within f16 rounding")
