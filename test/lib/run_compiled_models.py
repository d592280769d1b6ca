# Models compiled here with `moe-compile --target=cuda`, run on a GPU
# machine that has no LLVM (scripts/gpu-check.sh runs this when the
# directory scripts/gpu-models.sh fills was carried along): each
# <name>_<weights>.so runs on the inputs of its <name>_<weights>_T<n>.npz
# and must match onnxruntime's outputs saved next to them (f32: 1e-3 of the
# output's magnitude; bf16 and f16: 2e-2, and a cosine above 0.999), once
# on host buffers (moe_model_run) and once on device buffers
# (moe_model_run_device); then each model's latency at 1 and 33 tokens.
#
#   python test/lib/run_compiled_models.py DIR
import glob
import os
import sys
import time

import numpy as np

import compiled_model
import cuda_test_models

directory = sys.argv[1]
cases = sorted(glob.glob(os.path.join(directory, "*_T*.npz")))
if not cases:
    sys.exit(f"run_compiled_models: no *_T*.npz cases in {directory}")
models = {}
failures = 0
for case in cases:
    stem, tokens = os.path.basename(case)[:-4].rsplit("_T", 1)
    library = os.path.join(directory, stem + ".so")
    if stem not in models:
        try:
            models[stem] = compiled_model.Model(library)
        except compiled_model.ModelError as error:
            models[stem] = None
            print(f"FAIL: {stem}: {error}")
    model = models[stem]
    if model is None:
        failures += 2  # both runs of this case
        continue
    data = np.load(case)
    inputs = [data[k] for k in data.files if k.startswith("in_")]
    expected = [data[f"expected_{i}"] for i in range(len(data.files) - len(inputs))]
    for api in ("host", "device"):
        try:
            outputs = model.run(inputs) if api == "host" else model.run_device(inputs)
        except compiled_model.ModelError as error:
            print(f"FAIL: {stem} T={tokens} {api} buffers: {error}")
            failures += 1
            continue
        # The worst output's (one for most models; y and the extended KV
        # cache for "cached").
        checks = [cuda_test_models.error_and_cosine(actual, want)
                  for actual, want in zip(outputs, expected, strict=True)]
        error, cosine = max(c[0] for c in checks), min(c[1] for c in checks)
        tolerance = cuda_test_models.tolerance(stem.rsplit("_", 1)[1])
        status = "OK" if error <= tolerance and cosine > 0.999 else "FAIL"
        print(f"{status}: {stem} T={tokens} {api} buffers: error {error:.2e} cosine {cosine:.6f}")
        if status == "FAIL":
            failures += 1
# Latency of one layer call at T = 1 and 33 (decode, a short prefill): the
# test models are tiny (d = 16), so this is the fixed cost of a model run
# - launches, synchronizations, copies - not the kernels' work. Medians of
# 50 runs after one, on host buffers and on device buffers set up once.
for stem, model in sorted(models.items()):
    if model is None:
        continue
    line = []
    for tokens in ("1", "33"):
        case = os.path.join(directory, f"{stem}_T{tokens}.npz")
        if not os.path.exists(case):
            continue
        data = np.load(case)
        inputs = [data[k] for k in data.files if k.startswith("in_")]
        try:
            model.run(inputs)
            host = []
            for _ in range(50):
                start = time.perf_counter()
                model.run(inputs)
                host.append(time.perf_counter() - start)
            device = model.time_device_runs(inputs, 50)
        except compiled_model.ModelError as error:
            line.append(f"T={tokens}: {error}")
            continue
        line.append(f"T={tokens} host {1e6 * np.median(host):.0f} us, "
                    f"device {1e6 * np.median(device):.0f} us")
    print(f"latency: {stem}: " + "; ".join(line))
if failures:
    sys.exit(f"run_compiled_models: {failures} of {2 * len(cases)} runs failed")
print(f"run_compiled_models: {len(cases)} cases passed on host and device buffers")
