# The products of moe-compile, used as users would: `--emit=so` run by
# moe-run, `--emit=exe` run on its own, both on .npy files, and the .so's C
# API called directly; outputs compared with onnxruntime on the same file
# at 1, 7 and 33 tokens, for the runtime and the reference paths.
# Also: a non-MoE graph with odd names, two outputs that are one value and an
# int64 input (inputs must stay unwritten), caller-provided output buffers
# (too small: a clear error), one instance run from 8 threads at once
# (identical results), and a one-thread instance.
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: moe-run runtime T=1
# CHECK: OK: exe runtime T=1
# CHECK: OK: moe-run runtime T=33
# CHECK: OK: exe reference T=33
# CHECK: OK: odd names out/sum
# CHECK: OK: odd names same
# CHECK: OK: odd names scaled ids
# CHECK: OK: inputs unchanged
# CHECK: OK: output too small: output 'y' has shape [7, 16] (448 bytes), the buffer holds 4
# CHECK: OK: caller buffer
# CHECK: OK: device buffers refused: moe_model_run_device: this model was compiled for the CPU; device buffers need a model compiled with --target=cuda
# CHECK: OK: 8 threads x 4 runs identical
# CHECK: OK: one-thread instance
# CHECK: OK: bf16 weights T=33 within bf16 accuracy
# CHECK: OK: bf16 weights T=33 within bf16 accuracy under every instruction set
# CHECK: OK: int8 weights T=33 within int8 accuracy

import os
import subprocess
import sys
import threading

import numpy as np

import compiled_model
import mlir_harness as mh
from onnx_harness import run_onnxruntime
from onnx_models import microsoft_moe, odd_names

out = sys.argv[1]
E, d, f = 8, 16, 12
rng = np.random.default_rng(11)


def run_tool(command, inputs, out_dir, env=None):
    """Runs moe-run or an executable on `inputs` (name -> array), with
    `env` added to the environment."""
    os.makedirs(out_dir, exist_ok=True)
    args = []
    for name, array in inputs.items():
        path = os.path.join(out_dir, "in_" + name.replace(" ", "_") + ".npy")
        np.save(path, array)
        args += ["--input", f"{name}={path}"]
    subprocess.run(command + args + ["--output-dir", out_dir], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    return out_dir


model = os.path.join(out, "moe.onnx")
microsoft_moe(model, E, d, f, activation="swiglu", k=2, fusion=1,
              biases=True, seed=5)
paths = {}
for path_kind, flags in (("runtime", []), ("reference", ["--reference"])):
    build = os.path.join(out, path_kind)
    os.makedirs(build)
    paths[path_kind] = (compiled_model.compile_model(model, build, flags),
                        compiled_model.compile_model(model, build, flags,
                                                     emit="exe"))
for tokens in (1, 7, 33):
    feeds = {"x": rng.standard_normal((tokens, d)).astype(np.float32),
             "logits": rng.standard_normal((tokens, E)).astype(np.float32)}
    (expected,) = run_onnxruntime(model, feeds)
    for path_kind, (so, exe) in paths.items():
        for label, command in (("moe-run", ["moe-run", so]), ("exe", [exe])):
            result = run_tool(command, feeds, os.path.join(
                out, f"{label}_{path_kind}_{tokens}"))
            mh.check_close(f"{label} {path_kind} T={tokens}",
                           np.load(os.path.join(result, "y.npy")), expected)

# A graph with names that are not file names, and an int64 input.
odd = os.path.join(out, "odd.onnx")
odd_names(odd)
odd_so = compiled_model.compile_model(odd, out)
feeds = {"hidden states": rng.standard_normal((5, 4)).astype(np.float32),
         "scale": rng.standard_normal((5, 1)).astype(np.float32),
         "ids": rng.integers(-9, 9, (5, 1)).astype(np.int64)}
expected = run_onnxruntime(odd, feeds)
result = run_tool(["moe-run", odd_so], feeds, os.path.join(out, "odd_out"))
for name, want in zip(("out/sum", "same", "scaled ids"), expected):
    got = np.load(os.path.join(result, name.replace("/", "_")
                               .replace(" ", "_") + ".npy"))
    mh.check_close(f"odd names {name}", got, want)

# The C API: inputs are read only, even where an in-place update would do.
instance = compiled_model.Model(odd_so)
arrays = [feeds[name] for name, _, _ in instance.inputs]
copies = [a.copy() for a in arrays]
instance.run(arrays)
assert all(np.array_equal(a, c) for a, c in zip(arrays, copies))
print("OK: inputs unchanged")

moe = compiled_model.Model(paths["runtime"][0])
x = rng.standard_normal((7, d)).astype(np.float32)
logits = rng.standard_normal((7, E)).astype(np.float32)
(expected,) = run_onnxruntime(model, {"x": x, "logits": logits})
try:
    moe.run([x, logits], out_buffers=[np.zeros(1, np.float32)])
    raise AssertionError("a 4-byte output buffer was accepted")
except compiled_model.ModelError as error:
    assert error.status == compiled_model.OUTPUT_TOO_SMALL, error
    print(f"OK: output too small: {error.message}")
buffer = np.full(7 * d, np.nan, np.float32)
(got,) = moe.run([x, logits], out_buffers=[buffer])
mh.check_close("caller buffer", buffer.reshape(7, d), expected)
# A CPU model refuses CUDA buffers with the reason, before reading them.
status = moe.lib.moe_model_run_device(moe.handle, moe._tensors([x, logits], [0, 0]), 2,
                                      moe._tensors([buffer], [0]), 1, None)
assert status == compiled_model.INVALID_ARGUMENT, status
print("OK: device buffers refused:", moe.lib.moe_model_last_error(moe.handle).decode())

# One instance, 8 threads at once, different token counts per thread.
token_counts = [1, 3, 7, 16, 33, 2, 64, 5]
inputs = [(rng.standard_normal((t, d)).astype(np.float32),
           rng.standard_normal((t, E)).astype(np.float32))
          for t in token_counts]
serial = [moe.run(list(pair))[0] for pair in inputs]
results = [[None] * 4 for _ in inputs]
errors = []


def worker(i):
    try:
        for r in range(4):
            results[i][r] = moe.run(list(inputs[i]))[0]
    except Exception as e:  # reported below
        errors.append(e)


threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors
for i, pair in enumerate(inputs):
    for r in range(4):
        assert np.array_equal(results[i][r], serial[i]), (i, r)
    (want,) = run_onnxruntime(model, {"x": pair[0], "logits": pair[1]})
    np.testing.assert_allclose(serial[i], want, rtol=1e-4, atol=1e-5)
print("OK: 8 threads x 4 runs identical")

single = compiled_model.Model(paths["runtime"][0], num_threads=1)
(got,) = single.run([x, logits])
mh.check_close("one-thread instance", got, expected)

# bf16 expert weights (moe-compile --weights=bf16): within bfloat16's
# accuracy of onnxruntime's fp32 result (8-bit mantissa weights, fp32
# accumulation): 2% of the output's magnitude, cosine above 0.9999.
bf16_dir = os.path.join(out, "bf16")
os.makedirs(bf16_dir)
bf16_lib = compiled_model.compile_model(model, bf16_dir, ["--weights=bf16"])
bf16 = compiled_model.Model(bf16_lib)
x = rng.standard_normal((33, d)).astype(np.float32)
logits = rng.standard_normal((33, E)).astype(np.float32)
(want,) = run_onnxruntime(model, {"x": x, "logits": logits})
(got,) = bf16.run([x, logits])
scale = np.abs(want).max()
assert np.abs(got - want).max() <= 2e-2 * scale, np.abs(got - want).max() / scale
cosine = float(np.sum(got * want) / (np.linalg.norm(got) * np.linalg.norm(want)))
assert cosine > 0.9999, cosine
assert not np.array_equal(got, moe.run([x, logits])[0])  # really bf16
print("OK: bf16 weights T=33 within bf16 accuracy")
# The same library under each micro-kernel variant, one process each (the
# variant is chosen once per process): AVX512_BF16 dot products (rows
# rounded to bf16 too) where the CPU has them, widened weights otherwise.
for isa in ("avx512", "avx2", "generic"):
    result = run_tool(["moe-run", bf16_lib], {"x": x, "logits": logits},
                      os.path.join(out, "bf16_" + isa), env={"MOE_RUNTIME_ISA": isa})
    got_isa = np.load(os.path.join(result, "y.npy"))
    assert np.abs(got_isa - want).max() <= 2e-2 * scale, (isa, np.abs(got_isa - want).max() / scale)
print("OK: bf16 weights T=33 within bf16 accuracy under every instruction set")

# int8 expert weights (moe-compile --weights=int8, one scale per expert and
# output column): within int8's accuracy of onnxruntime's fp32 result
# (measured 0.45% of the output's magnitude here): 3%, cosine above 0.999.
int8_dir = os.path.join(out, "int8")
os.makedirs(int8_dir)
int8 = compiled_model.Model(compiled_model.compile_model(model, int8_dir, ["--weights=int8"]))
(got,) = int8.run([x, logits])
error = np.abs(got - want).max() / scale
assert error <= 3e-2, error
cosine = float(np.sum(got * want) / (np.linalg.norm(got) * np.linalg.norm(want)))
assert cosine > 0.999, cosine
assert not np.array_equal(got, moe.run([x, logits])[0])  # really int8
print(f"int8 error {error:.4f} of the magnitude, cosine {cosine:.6f}")
print("OK: int8 weights T=33 within int8 accuracy")
