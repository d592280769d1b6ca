"""GPU benchmark of the CUDA runtime's grouped matmul (run by
scripts/gpu-check.sh on a machine with an NVIDIA GPU and PyTorch).

For MoE-shaped cases (the gate|up projection: T tokens routed top-k over E
experts, d -> 2f with the SwiGLU epilogue) it times, in one run with CUDA
events (median of repeats):
  ours f32 / ours bf16  moe_cuda_grouped_matmul_{f32,bf16}
  dense bf16            one cuBLAS GEMM (torch.matmul) of the same useful
                        FLOPs: [T*k, d] x [d, 2f], the dense bound
  per-expert bf16       one cuBLAS GEMM per expert segment (what engines
                        without grouped GEMM do)
  cublas grouped bf16   moe_cuda_grouped_matmul_cublas_bf16: one
                        cublasGemmGroupedBatchedEx call + our epilogue
and prints TFLOP/s, GB/s of touched expert weights, and ratios.
"""

import argparse
import ctypes
import os
import statistics
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "lib"))
import cuda_harness as ch  # noqa: E402

CASES = [
    # name, d, f, E, k, token counts
    ("mixtral-scaled", 1024, 3584, 8, 2, (1, 8, 64, 512, 2048)),
    ("qwen3-scaled", 1024, 384, 64, 8, (1, 16, 256)),
    ("mixtral-8x7b", 4096, 14336, 8, 2, (1, 64, 4096)),
]


def timed(fn, repeats):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="small cases only")
    args = parser.parse_args()
    lib = ch.lib
    act = ch.ActivationParams(ch.ACTIVATION["swiglu"], 1.702, 1.0, 7.0)
    print(f"GPU: {torch.cuda.get_device_name()}")
    header = (f"{'case':<16}{'T':>6} {'engine':<16}{'ms':>9}{'TFLOP/s':>9}"
              f"{'GB/s':>8}{'vs dense':>9}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    for name, d, f, experts, k, tokens_list in CASES:
        if args.quick and d > 2048:
            continue
        w32 = torch.randn(experts, d, 2 * f, device="cuda") / d ** 0.5
        w16 = w32.to(torch.bfloat16)
        for tokens in tokens_list:
            rows_n = tokens * k
            ids = rng.integers(0, experts, rows_n)
            counts = np.bincount(ids, minlength=experts)
            offsets = torch.tensor(np.concatenate([[0], np.cumsum(counts)]), dtype=torch.int32, device="cuda")
            x32 = torch.randn(rows_n, d, device="cuda")
            x16 = x32.to(torch.bfloat16)
            out = torch.empty(rows_n, f, device="cuda")
            flops = 2.0 * rows_n * d * 2 * f
            touched = int((counts > 0).sum()) * d * 2 * f

            def ours(x, w, fn):
                return lambda: fn(stream, ctypes.c_void_p(x.data_ptr()), ctypes.c_int64(rows_n),
                                  ctypes.c_int64(d), ctypes.c_void_p(w.data_ptr()),
                                  ctypes.c_int64(experts), ctypes.c_int64(2 * f),
                                  ctypes.c_void_p(offsets.data_ptr()), None,
                                  ctypes.byref(act), ctypes.c_void_p(out.data_ptr()))

            dense_w = w16[0]
            segments = [(int(s), int(e)) for s, e in zip(np.concatenate([[0], np.cumsum(counts)])[:-1],
                                                         np.cumsum(counts))]

            def per_expert():
                for e, (s, t) in enumerate(segments):
                    if t > s:
                        torch.matmul(x16[s:t], w16[e])

            results = [
                ("dense bf16", timed(lambda: torch.matmul(x16, dense_w), args.repeats), 2),
                ("per-expert bf16", timed(per_expert, args.repeats), 2),
                ("cublas grouped", timed(ours(x16, w16, lib.moe_cuda_grouped_matmul_cublas_bf16),
                                         args.repeats), 2),
                ("ours bf16", timed(ours(x16, w16, lib.moe_cuda_grouped_matmul_bf16), args.repeats), 2),
                ("ours f32", timed(ours(x32, w32, lib.moe_cuda_grouped_matmul_f32), args.repeats), 4),
            ]
            dense_ms = results[0][1]
            for engine, ms, width in results:
                print(f"{name:<16}{tokens:>6} {engine:<16}{ms:>9.4f}{flops / ms / 1e9:>9.2f}"
                      f"{touched * width / ms / 1e6:>8.0f}{dense_ms / ms:>8.2f}x")


if __name__ == "__main__":
    main()
