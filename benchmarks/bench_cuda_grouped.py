"""GPU benchmark of the CUDA runtime's grouped matmul (run by
scripts/gpu-check.sh on a machine with an NVIDIA GPU and PyTorch).

For MoE-shaped cases (T tokens routed top-k over E experts) and both
projections of the experts (up: d -> 2f with the SwiGLU epilogue; down:
f -> d) it times, in one run with CUDA events (median of repeats):
  ours bf16 / ours f32  moe_cuda_grouped_matmul_{bf16,f32} on the
                        per-thread stream, as models call them (bf16: the
                        mma.sync kernel, split-K for decode finished in
                        the same launch)
  dense bf16            one cuBLAS GEMM (torch.matmul) of the same useful
                        FLOPs: [T*k, K] x [K, M], the dense bound
  per-expert bf16       one cuBLAS GEMM per expert segment (what engines
                        without grouped GEMM do)
  cublas grouped        moe_cuda_grouped_matmul_cublas_bf16: one
                        cublasGemmGroupedBatchedEx call + our epilogue
and prints TFLOP/s, GB/s of the touched expert weights, that as a share
of the device-to-device copy bandwidth measured in the same run (the
decode target: 75% of HBM bandwidth), and each engine's speed relative to
dense bf16 and to cuBLAS grouped (above 1: faster).

Then the router's fp32 logits at decode sizes (moe_cuda_router_logits_f32:
the split GEMV up to 8 tokens, the grouped matmul beyond) against one
cuBLAS fp32 GEMM (torch.matmul), with GB/s of the router's bytes.
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
ROUTERS = [
    # name, d, router columns (E, + 1 for Qwen2's shared-expert gate)
    ("mixtral-8x7b", 4096, 8),
    ("qwen2-57b", 3584, 65),
    ("deepseek-v3", 7168, 256),
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


def copy_bandwidth():
    """GB/s of a 1 GiB device-to-device copy (read + write): the HBM
    bandwidth this run can reach, the decode baseline."""
    x = torch.empty(1 << 28, device="cuda")
    y = torch.empty_like(x)
    ms = timed(lambda: y.copy_(x), 10)
    return 2 * x.numel() * 4 / ms / 1e6


def preamble(header):
    """Prints the GPU, the copy bandwidth measured now and a table's
    header; returns the bandwidth (GB/s)."""
    print(f"GPU: {torch.cuda.get_device_name()}")
    bandwidth = copy_bandwidth()
    print(f"device-to-device copy: {bandwidth:.0f} GB/s")
    print(header)
    print("-" * len(header))
    return bandwidth


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="small cases only")
    args = parser.parse_args()
    lib = ch.lib
    swiglu = ch.ActivationParams(ch.ACTIVATION["swiglu"], 1.702, 1.0, 7.0)
    identity = ch.ActivationParams(ch.ACTIVATION["identity"], 0, 0, 0)
    bandwidth = preamble(f"{'case':<16}{'T':>6} {'proj':<5}{'engine':<16}{'ms':>9}"
                         f"{'TFLOP/s':>9}{'GB/s':>8}{'%copy':>7}{'vs dense':>9}"
                         f"{'vs grouped':>11}")
    rng = np.random.default_rng(0)
    # Ours run on the per-thread stream (cudaStreamPerThread), as compiled
    # models' calls do: decode's split-K then finishes in its one launch.
    # It synchronizes with the legacy default stream torch times on.
    assert torch.cuda.current_stream().cuda_stream == 0, "torch on the legacy stream"
    stream = ch.PER_THREAD_STREAM
    for name, d, f, experts, k, tokens_list in CASES:
        if args.quick and d > 2048:
            continue
        projections = []
        for proj, kdim, m, act in (("up", d, 2 * f, swiglu), ("down", f, d, identity)):
            w32 = torch.randn(experts, kdim, m, device="cuda") / kdim ** 0.5
            projections.append((proj, kdim, m, act, w32, w32.to(torch.bfloat16)))
        for tokens in tokens_list:
            rows_n = tokens * k
            ids = rng.integers(0, experts, rows_n)
            counts = np.bincount(ids, minlength=experts)
            bounds = np.concatenate([[0], np.cumsum(counts)])
            offsets = torch.tensor(bounds, dtype=torch.int32, device="cuda")
            segments = [(int(s), int(e)) for s, e in zip(bounds[:-1], bounds[1:])]
            for proj, kdim, m, act, w32, w16 in projections:
                x32 = torch.randn(rows_n, kdim, device="cuda")
                x16 = x32.to(torch.bfloat16)
                out = torch.empty(rows_n, m // 2 if act is swiglu else m, device="cuda")
                flops = 2.0 * rows_n * kdim * m
                touched = int((counts > 0).sum()) * kdim * m

                def ours(x, w, fn, act=act, kdim=kdim, m=m, out=out):
                    return lambda: fn(stream, ctypes.c_void_p(x.data_ptr()), ctypes.c_int64(rows_n),
                                      ctypes.c_int64(kdim), ctypes.c_void_p(w.data_ptr()),
                                      ctypes.c_int64(experts), ctypes.c_int64(m),
                                      ctypes.c_void_p(offsets.data_ptr()), None,
                                      ctypes.byref(act), ctypes.c_void_p(out.data_ptr()))

                def per_expert(x16=x16, w16=w16):
                    for e, (s, t) in enumerate(segments):
                        if t > s:
                            torch.matmul(x16[s:t], w16[e])

                dense_w = w16[0]
                results = [
                    ("dense bf16", timed(lambda: torch.matmul(x16, dense_w), args.repeats), 2),
                    ("per-expert bf16", timed(per_expert, args.repeats), 2),
                    ("cublas grouped",
                     timed(ours(x16, w16, lib.moe_cuda_grouped_matmul_cublas_bf16), args.repeats), 2),
                    ("ours bf16", timed(ours(x16, w16, lib.moe_cuda_grouped_matmul_bf16), args.repeats), 2),
                    ("ours f32", timed(ours(x32, w32, lib.moe_cuda_grouped_matmul_f32), args.repeats), 4),
                ]
                dense_ms, grouped_ms = results[0][1], results[2][1]
                for engine, ms, width in results:
                    gbs = touched * width / ms / 1e6
                    print(f"{name:<16}{tokens:>6} {proj:<5}{engine:<16}{ms:>9.4f}"
                          f"{flops / ms / 1e9:>9.2f}{gbs:>8.0f}{100 * gbs / bandwidth:>6.0f}%"
                          f"{dense_ms / ms:>8.2f}x{grouped_ms / ms:>10.2f}x")

    print()
    header = f"{'router':<14}{'T':>6} {'engine':<18}{'ms':>9}{'GB/s':>8}{'%copy':>7}{'vs cublas':>10}"
    print(header)
    print("-" * len(header))
    for name, d, columns in ROUTERS:
        router = torch.randn(d, columns, device="cuda") / d ** 0.5
        logits = torch.empty(64, columns, device="cuda")
        for tokens in (1, 4, 8, 64):
            x = torch.randn(tokens, d, device="cuda")
            ours = lambda x=x, tokens=tokens: lib.moe_cuda_router_logits_f32(  # noqa: E731
                stream, ctypes.c_void_p(x.data_ptr()), ctypes.c_int64(tokens),
                ctypes.c_int64(d), ctypes.c_void_p(router.data_ptr()),
                ctypes.c_int64(columns), None, ctypes.c_void_p(logits.data_ptr()))
            assert ours() == ch.OK, lib.moe_cuda_last_error()
            results = [("cublas f32", timed(lambda x=x: torch.matmul(x, router), args.repeats)),
                       ("ours f32", timed(ours, args.repeats))]
            for engine, ms in results:
                gbs = d * columns * 4 / ms / 1e6
                print(f"{name:<14}{tokens:>6} {engine:<18}{ms:>9.4f}{gbs:>8.0f}"
                      f"{100 * gbs / bandwidth:>6.0f}%{results[0][1] / ms:>9.2f}x")


if __name__ == "__main__":
    main()
