# Models compiled with `moe-compile --target=cuda`, run WITHOUT a GPU: a
# --runtime-dir whose libmoe_runtime_cuda.a is test/lib/CudaEmulation.cpp
# (the CUDA runtime's compiled-code entry points on the host, with the CPU
# kernels and the GPU path's 16-bit roundings). Everything the compiler
# decides for CUDA runs for real - which entry point each layer becomes
# (Mixtral's whole layer in one call), every argument in its position, the
# weights converted at compile time (row-major f32, bf16, fp16), the
# preload at creation - and must match onnxruntime at 1, 7 and 33 tokens
# (f32: 1e-3 of the output's magnitude; bf16, f16: 2e-2; cosine > 0.999),
# on host buffers and through moe_model_run_device. The emulation's
# "device" memory is pages the host cannot touch except while an emulated
# entry point runs, so compiled code reading or writing a buffer placed on
# the device crashes the test as it would on a GPU. Graphs whose inputs
# only CUDA calls touch (moe-mark-device-io) run device-resident - inputs
# used where they are, the buffers only CUDA calls touch on the device,
# one copy per output; Qwen2's shared expert and its gate ride in the
# layer's one call - and the residual model (its add reads x on the host)
# is staged: told apart by the emulation's copy count. Only the
# CUDA kernels themselves are left to scripts/gpu-check.sh.
# REQUIRES: cuda-runtime, torch
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t %moe_lib_dir | FileCheck %s
# CHECK: OK: microsoft f32 (device-resident: 1 copy per run_device
# CHECK: OK: microsoft bf16
# CHECK: OK: microsoft f16
# CHECK: OK: many f32 (staged: 5 copies per run_device
# CHECK: OK: mixtral f32 (device-resident: 1 copy per run_device
# CHECK: OK: mixtral bf16
# CHECK: OK: mixtral f16
# CHECK: OK: qwen2 f32 (device-resident: 1 copy per run_device
# CHECK: OK: qwen2 bf16
# CHECK: OK: deepseek f32 (device-resident: 1 copy per run_device
# CHECK: OK: deepseek bf16
# CHECK: OK: residual f32 (staged: 3 copies per run_device
# CHECK: OK: two_layers f32 (device-resident: 1 copy per run_device
# CHECK: OK: relu f32 (device-resident
# CHECK: OK: gatebefore f32 (device-resident
# CHECK: OK: soft f32 (device-resident
# CHECK: OK: gptoss f32 (device-resident
# CHECK: OK: gptoss bf16 (device-resident
# CHECK: OK: stacked f32 (device-resident
# CHECK: OK: switch f32 (device-resident
# CHECK: OK: moe-run --device on the device-resident qwen2 f32 model matches onnxruntime

import ctypes
import glob
import os
import subprocess
import sys
import types
import warnings

import numpy as np

warnings.filterwarnings("ignore")

import compiled_model  # noqa: E402
import cuda_test_models  # noqa: E402
import fake_cuda  # noqa: E402
from onnx_harness import run_onnxruntime  # noqa: E402

out, lib_dir = sys.argv[1], os.path.abspath(sys.argv[2])
# The runtime archives, with the emulation as the CUDA runtime.
runtime = os.path.join(out, "runtime")
os.makedirs(runtime)
for archive in glob.glob(os.path.join(lib_dir, "*.a")):
    os.symlink(archive, os.path.join(runtime, os.path.basename(archive)))
os.remove(os.path.join(runtime, "libmoe_runtime_cuda.a"))
os.symlink(os.path.join(lib_dir, "libmoe_cuda_emulation.a"),
           os.path.join(runtime, "libmoe_runtime_cuda.a"))


def device_memory(lib):
    """cudaMalloc / cudaMemcpy / cudaFree over the emulation's protected
    "device" memory, for run_device's inputs and outputs."""
    return types.SimpleNamespace(cudaMalloc=lib.moe_model_test_cuda_malloc,
                                 cudaMemcpy=lib.moe_model_test_cuda_memcpy,
                                 cudaFree=lib.moe_model_test_cuda_free)


rng = np.random.default_rng(11)
models = cuda_test_models.build(out, rng)
for name, (path, feeds_for) in models.items():
    for weights in cuda_test_models.weight_types(name):
        build = os.path.join(out, f"{name}_{weights}")
        os.makedirs(build)
        model = compiled_model.Model(compiled_model.compile_model(
            path, build, ["--target=cuda", f"--weights={weights}",
                          f"--runtime-dir={runtime}"]))
        worst = 0.0
        model.lib.moe_model_test_emulated_copies.restype = ctypes.c_int64
        copies = []
        for tokens in (1, 7, 33):
            feeds = feeds_for(tokens)
            (expected,) = run_onnxruntime(path, feeds)
            for api in ("host", "device"):
                inputs = list(feeds.values())
                before = model.lib.moe_model_test_emulated_copies()
                (actual,) = (model.run(inputs) if api == "host"
                             else model.run_device(inputs, cuda_lib=device_memory(model.lib)))
                if api == "device":
                    copies.append(model.lib.moe_model_test_emulated_copies() - before)
                error, cosine = cuda_test_models.error_and_cosine(actual, expected)
                assert error <= cuda_test_models.tolerance(weights) and cosine > 0.999, \
                    (name, weights, tokens, api, error, cosine)
                worst = max(worst, error)
        # run_device sizes the outputs first: a run answering too small,
        # which copies nothing out; then the run. Device-resident: only
        # the output is copied; staged: the inputs, then the output.
        assert len(set(copies)) == 1, copies
        resident = copies[0] == 1
        assert resident == cuda_test_models.device_resident(name), (name, copies)
        how = (f"device-resident: {copies[0]} copy" if resident
               else f"staged: {copies[0]} copies")
        print(f"OK: {name} {weights} ({how} per run_device, worst error {worst:.1e})")

# moe-run --device on a device-resident model: the tool's CUDA buffers from
# test/lib/fake_cuda_copy.c (heap memory: the emulated calls run on the
# host), preloaded so that the tool finds cudaMalloc in the global scope.
fake, preload = fake_cuda.build(out)
path, feeds_for = models["qwen2"]
feeds = feeds_for(5)
np.save(os.path.join(out, "x.npy"), feeds["x"])
result = subprocess.run(
    ["moe-run", os.path.join(out, "qwen2_f32", "qwen2.so"), "--input",
     "x=" + os.path.join(out, "x.npy"), "--device", "--bench", "2", "--output-dir",
     os.path.join(out, "device")],
    capture_output=True, text=True, env=dict(os.environ, LD_PRELOAD=preload))
assert result.returncode == 0, result.stderr
(expected,) = run_onnxruntime(path, feeds)
error, cosine = cuda_test_models.error_and_cosine(
    np.load(os.path.join(out, "device", "y.npy")), expected)
assert error <= 1e-3 and cosine > 0.999, (error, cosine)
print("OK: moe-run --device on the device-resident qwen2 f32 model matches onnxruntime")
