"""GPU benchmark of a whole MoE layer on the CUDA runtime (run by
scripts/gpu-check.sh on a machine with an NVIDIA GPU and PyTorch).

One call of moe_cuda_cc_layer_bf16w - what `moe-compile --target=cuda
--weights=bf16` emits for a fused-gating layer: router logits, routing,
permutation, both expert projections (SwiGLU in the first's epilogue) and
the combine - on device buffers (input, router, weights and output in GPU
memory, nothing copied), against the same layer written as transformers'
MixtralSparseMoeBlock runs it in eager PyTorch (bf16 experts, a loop over
experts with index_add_), in the same run with CUDA events (median of
repeats). Prints the latency, GB/s of the expert weights the routing
touches and that as a share of the device-to-device copy bandwidth (the
decode target: 75%), the speed-up over PyTorch, and the largest error
against PyTorch's output relative to its magnitude (bf16: ~1e-2): a
full-size correctness check of the layer as well.
"""

import argparse
import ctypes
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "lib"))
import cuda_harness as ch  # noqa: E402
from bench_cuda_grouped import preamble, timed  # noqa: E402

CASES = [
    # name, d, f, E, k, token counts
    ("mixtral-8x7b", 4096, 14336, 8, 2, (1, 8, 64, 512)),
    ("qwen3-30b-a3b", 2048, 768, 128, 8, (1, 8, 64, 512)),
    ("deepseek-v3-size", 7168, 2048, 256, 8, (1, 8, 64)),
]

_i32, _i64, _f32, _p = ctypes.c_int32, ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
LAYER_ARGS = ([_i32, _p, _i64, _i64, _p, _p, _i64] + [_i32] * 8 + [_f32, _p, _i32,
              ctypes.c_char_p]
              + [_p, _i64, _p, _i32, _f32, _f32, _f32, _i32] * 2 + [_p])


def torch_layer(x, wr, w1, w2, k):
    """transformers' MixtralSparseMoeBlock.forward, bf16 experts."""
    f = w2.shape[1]
    probs = F.softmax(x @ wr, dim=-1)
    weights, chosen = torch.topk(probs, k, dim=-1)
    weights = weights / weights.sum(dim=-1, keepdim=True)
    out = torch.zeros_like(x)
    xb = x.to(torch.bfloat16)
    for e in range(w1.shape[0]):
        token, slot = torch.where(chosen == e)
        if token.numel() == 0:
            continue
        h = xb[token] @ w1[e]
        act = (F.silu(h[:, :f].float()) * h[:, f:].float()).to(torch.bfloat16)
        y = (act @ w2[e]).float()
        out.index_add_(0, token, y * weights[token, slot, None])
    return out, chosen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="the smallest case only")
    args = parser.parse_args()
    layer = ch.lib.moe_cuda_cc_layer_bf16w
    layer.argtypes, layer.restype = LAYER_ARGS, _i32
    bandwidth = preamble(f"{'case':<18}{'T':>5} {'engine':<10}{'ms':>9}{'GB/s':>8}"
                         f"{'%copy':>7}{'vs torch':>9}{'error':>9}")
    for name, d, f, experts, k, tokens_list in CASES:
        if args.quick and name != "qwen3-30b-a3b":
            continue
        torch.manual_seed(0)
        wr = torch.randn(d, experts, device="cuda") / d ** 0.5
        w1 = (torch.randn(experts, d, 2 * f, device="cuda", dtype=torch.bfloat16)
              / d ** 0.5)
        w2 = (torch.randn(experts, f, d, device="cuda", dtype=torch.bfloat16)
              / f ** 0.5)
        for tokens in tokens_list:
            x = torch.randn(tokens, d, device="cuda")
            out = torch.empty(tokens, d, device="cuda")

            def ours():
                status = layer(0, x.data_ptr(), tokens, d, wr.data_ptr(), None, experts,
                               0, k, 1, 1, 1, 0, 0, 0, 1.0, None, 0, b"bench",
                               w1.data_ptr(), 2 * f, None, ch.ACTIVATION["swiglu"],
                               1.702, 1.0, 7.0, 0,
                               w2.data_ptr(), d, None, ch.ACTIVATION["identity"],
                               0.0, 0.0, 0.0, 0, out.data_ptr())
                assert status == ch.OK, ch.lib.moe_cuda_last_error()

            ours()
            want, chosen = torch_layer(x, wr, w1, w2, k)
            torch.cuda.synchronize()
            # Tokens whose k-th and next choice are a near tie may route
            # differently in two correct fp32 orders of summation: left out.
            best = torch.topk(F.softmax(x @ wr, dim=-1), min(k + 1, experts), dim=-1).values
            clear = (best[:, k - 1] - best[:, -1] > 1e-4) if k < experts else \
                torch.ones(tokens, dtype=torch.bool, device="cuda")
            diff = (out - want).abs()[clear]
            error = float(diff.max() / want.abs().max().clamp(min=1e-30)) if diff.numel() else 0.0
            touched = int(torch.unique(chosen).numel()) * 3 * d * f * 2
            results = [("torch", timed(lambda: torch_layer(x, wr, w1, w2, k), args.repeats)),
                       ("ours", timed(ours, args.repeats))]
            for engine, ms in results:
                gbs = touched / ms / 1e6
                print(f"{name:<18}{tokens:>5} {engine:<10}{ms:>9.4f}{gbs:>8.0f}"
                      f"{100 * gbs / bandwidth:>6.0f}%{results[0][1] / ms:>8.2f}x"
                      + (f"{error:>9.1e}" if engine == "ours" else ""))
            assert error < 3e-2, f"{name} T={tokens}: error {error} against PyTorch"
        del wr, w1, w2
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
