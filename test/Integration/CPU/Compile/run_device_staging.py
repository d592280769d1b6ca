# moe_model_run_device's staging on a machine without a GPU: a CPU model
# run with test/lib/fake_cuda_copy.c preloaded (host memory standing in for
# device memory, the copy the C API finds through its weak reference)
# must give exactly moe_model_run's outputs (and onnxruntime's, within
# 1e-4), through the harness's
# run_device (a sizing call with 1-byte outputs answering
# OUTPUT_TOO_SMALL with every shape, then the run), with one copy per
# input per call and one per output; inputs are still checked (a wrong
# shape names the input) and a too-small output buffer reports every
# output's shape. `moe-run --device` runs the same way (its outputs are
# onnxruntime's; --bench times runs on the device buffers), and without a
# CUDA runtime in reach it says so.
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: staged run identical at T=1
# CHECK: OK: staged run identical at T=33
# CHECK: OK: copies 5 per run_device (inputs twice, the output once)
# CHECK: OK: bad input: input 'x': shape [3, 15], dimension 1 must be 16
# CHECK: OK: too small: output 'y' has shape [5, 16] (320 bytes), the buffer holds 8
# CHECK: OK: moe-run --device matches onnxruntime
# CHECK: OK: moe-run --device without CUDA: moe-run: error: --device: no CUDA runtime (cudaMalloc)

import ctypes
import os
import subprocess
import sys

import fake_cuda

out = sys.argv[1]
fake = os.path.join(out, "libfake_cuda_copy.so")
if "MOE_FAKE_CUDA_CHILD" not in os.environ:
    # Build the fake, then run this script again with it preloaded.
    fake, preload = fake_cuda.build(out)
    env = dict(os.environ, LD_PRELOAD=preload, MOE_FAKE_CUDA_CHILD="1")
    sys.exit(subprocess.run([sys.executable, __file__, out], env=env).returncode)

import numpy as np  # noqa: E402

import compiled_model  # noqa: E402
from onnx_harness import run_onnxruntime  # noqa: E402
from onnx_models import microsoft_moe  # noqa: E402

E, D = 8, 16
path = os.path.join(out, "moe.onnx")
microsoft_moe(path, E, D, 12, activation="swiglu", k=2, fusion=1, biases=True, seed=4)
model = compiled_model.load(path, out)
lib = ctypes.CDLL(fake)
lib.fake_cuda_copies.restype = ctypes.c_int64
rng = np.random.default_rng(2)
for tokens in (1, 33):
    feeds = [rng.standard_normal((tokens, D)).astype(np.float32),
             rng.standard_normal((tokens, E)).astype(np.float32)]
    (want,) = model.run(feeds)
    before = lib.fake_cuda_copies()
    (got,) = model.run_device(feeds, cuda_lib=lib)
    assert np.array_equal(got, want), np.abs(got - want).max()
    # ... and both are onnxruntime's result.
    (expected,) = run_onnxruntime(path, {"x": feeds[0], "logits": feeds[1]})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    copies = lib.fake_cuda_copies() - before
    print(f"OK: staged run identical at T={tokens}")
print(f"OK: copies {copies} per run_device (inputs twice, the output once)")

# The C API directly: checks before any copy, and every shape reported.
x, logits = (rng.standard_normal((3, 15)).astype(np.float32),
             rng.standard_normal((3, E)).astype(np.float32))
outputs = model._tensors([np.zeros(2, np.float32)], [np.zeros(2, np.float32).ctypes.data])
status = model.lib.moe_model_run_device(model.handle, model._tensors([x, logits], [x.ctypes.data,
                                        logits.ctypes.data]), 2, outputs, 1, None)
assert status == compiled_model.INVALID_ARGUMENT, status
print("OK: bad input:", model.lib.moe_model_last_error(model.handle).decode())
x = rng.standard_normal((5, D)).astype(np.float32)
logits = rng.standard_normal((5, E)).astype(np.float32)
small = np.zeros(2, np.float32)
outputs = model._tensors([small], [small.ctypes.data])
status = model.lib.moe_model_run_device(model.handle, model._tensors([x, logits], [x.ctypes.data,
                                        logits.ctypes.data]), 2, outputs, 1, None)
assert status == compiled_model.OUTPUT_TOO_SMALL, status
assert tuple(outputs[0].shape[:outputs[0].rank]) == (5, D)
print("OK: too small:", model.lib.moe_model_last_error(model.handle).decode())

# moe-run --device: the same staging (the fake is preloaded here too).
library = os.path.join(out, "moe.so")
np.save(os.path.join(out, "x.npy"), x)
np.save(os.path.join(out, "logits.npy"), logits)
inputs = ["--input", "x=" + os.path.join(out, "x.npy"),
          "--input", "logits=" + os.path.join(out, "logits.npy")]
result = subprocess.run(["moe-run", library, *inputs, "--device", "--bench", "2",
                         "--output-dir", os.path.join(out, "device")],
                        capture_output=True, text=True)
assert result.returncode == 0, result.stderr
assert "on device buffers" in result.stdout and "latency over 2 runs" in result.stdout, \
    result.stdout
(expected,) = run_onnxruntime(path, {"x": x, "logits": logits})
np.testing.assert_allclose(np.load(os.path.join(out, "device", "y.npy")), expected,
                           rtol=1e-4, atol=1e-5)
print("OK: moe-run --device matches onnxruntime")
# Without the fake (nor a CUDA runtime): a clear error, no crash.
env = dict(os.environ)
env["LD_PRELOAD"] = " ".join(p for p in env.get("LD_PRELOAD", "").split() if p != fake)
result = subprocess.run(["moe-run", library, *inputs, "--device"], capture_output=True,
                        text=True, env=env)
assert result.returncode == 1, (result.returncode, result.stderr)
print("OK: moe-run --device without CUDA:", result.stderr.strip().splitlines()[-1])
