#!/usr/bin/env python3
"""CPU benchmark of one com.microsoft.MoE layer: onnxruntime (the baseline)
against moe-compile's runtime path and reference path, in one run.

Prints a table of median latencies and their ratio to onnxruntime (> 1:
slower than onnxruntime). Absolute times on a shared machine are noise;
compare ratios. Run from the repository root after scripts/build.sh:

    .venv/bin/python benchmarks/bench_cpu_layer.py [--tokens 1 64 256]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "lib"))
os.environ["PATH"] = os.path.join(ROOT, "build", "bin") + os.pathsep + \
    os.environ["PATH"]
os.environ.setdefault("MOE_RUNTIME_LIB", os.path.join(
    ROOT, "build", "lib", "libmoe_runtime_cpu.so"))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

import compiled_model  # noqa: E402
from onnx_models import microsoft_moe  # noqa: E402


def median_seconds(fn, repeats):
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--f", type=int, default=512)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--tokens", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for every engine (0: all)")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="moe-bench-")
    path = os.path.join(tmp, "layer.onnx")
    microsoft_moe(path, args.experts, args.d, args.f, activation="swiglu",
                  k=args.k, fusion=1, normalize=1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(path, options,
                                   providers=["CPUExecutionProvider"])
    threads = [f"--num-threads={args.threads}"]
    runtime = compiled_model.load(path, tmp, ["-O3"] + threads)
    reference_dir = os.path.join(tmp, "reference")
    os.makedirs(reference_dir)
    reference = compiled_model.load(path, reference_dir,
                                  ["-O3", "--reference"])

    print(f"com.microsoft.MoE swiglu, E={args.experts} d={args.d} "
          f"f={args.f} k={args.k}, median of {args.repeats}, "
          f"threads={args.threads or 'all'}")
    header = f"{'T':>6} {'engine':<22} {'ms':>10} {'vs onnxruntime':>15}"
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for tokens in args.tokens:
        x = rng.standard_normal((tokens, args.d)).astype(np.float32)
        logits = rng.standard_normal((tokens, args.experts)).astype(np.float32)
        feeds = {"x": x, "logits": logits}
        (expected,) = session.run(None, feeds)
        (got,) = runtime.run([x, logits])
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-4):
            sys.exit(f"runtime path result differs from onnxruntime at T={tokens}")
        rows = [
            ("onnxruntime", lambda: session.run(None, feeds)),
            ("moe-compile (runtime)", lambda: runtime.run([x, logits])),
            ("moe-compile --reference", lambda: reference.run([x, logits])),
        ]
        base = None
        for name, fn in rows:
            seconds = median_seconds(fn, args.repeats)
            base = base or seconds
            print(f"{tokens:>6} {name:<22} {seconds * 1e3:>10.3f} "
                  f"{seconds / base:>14.2f}x")


if __name__ == "__main__":
    main()
