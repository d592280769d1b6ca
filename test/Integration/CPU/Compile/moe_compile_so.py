# moe-compile end to end: com.microsoft.MoE models compiled to shared
# libraries (runtime path at -O0 and -O3, one thread and all, and the
# reference path), run through the model C API (moe_model.h), and compared
# with onnxruntime on the same file at several token counts, under each
# micro-kernel variant of the CPU runtime (MOE_RUNTIME_ISA caps it).
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# RUN: rm -rf %t && mkdir -p %t
# RUN: env MOE_RUNTIME_ISA=avx2 %python %s %t | FileCheck %s
# RUN: rm -rf %t && mkdir -p %t
# RUN: env MOE_RUNTIME_ISA=generic %python %s %t | FileCheck %s
# CHECK: OK: relu_O2 T=1
# CHECK: OK: relu_O2 T=7
# CHECK: OK: relu_O2 T=64
# CHECK: OK: relu_O0_threads1 T=64
# CHECK: OK: swiglu_O3 T=64
# CHECK: OK: swiglu_reference T=7

import os
import sys

import numpy as np

import compiled_model
import mlir_harness as mh
from onnx_harness import run_onnxruntime
from onnx_models import microsoft_moe

out_dir = sys.argv[1]
E, d, f = 8, 16, 12
rng = np.random.default_rng(3)

cases = [
    ("relu", dict(activation="relu", k=2, normalize=1), [], (1, 7, 64)),
    ("relu_O0_threads1", dict(activation="relu", k=2, normalize=1),
     ["-O0", "--num-threads=1"], (64,)),
    ("swiglu_O3", dict(activation="swiglu", k=2, fusion=1, biases=True),
     ["-O3"], (64,)),
    ("swiglu_reference", dict(activation="swiglu", k=2, fusion=1, biases=True),
     ["--reference"], (7,)),
]
for name, options, flags, token_counts in cases:
    label = name if flags else name + "_O2"
    path = os.path.join(out_dir, name + ".onnx")
    microsoft_moe(path, E, d, f, seed=len(name), **options)
    model = compiled_model.load(path, out_dir, flags)
    for tokens in token_counts:
        x = rng.standard_normal((tokens, d)).astype(np.float32)
        logits = rng.standard_normal((tokens, E)).astype(np.float32)
        (expected,) = run_onnxruntime(path, {"x": x, "logits": logits})
        (actual,) = model.run([x, logits])
        mh.check_close(f"{label} T={tokens}", actual, expected, rtol=1e-4,
                       atol=1e-5)
