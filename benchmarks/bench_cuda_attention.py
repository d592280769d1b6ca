"""GPU benchmark of the fused attention call (run by scripts/gpu-check.sh
on a machine with an NVIDIA GPU and PyTorch).

For attention shaped as the MoE models' layers (Mixtral-8x7B: 32 q heads
on 8 kv heads of 128; Qwen3-30B-A3B: 32 on 4), at decode (one query a
sequence against a KV cache of `keys` tokens) and at prefill (causal, the
queries are the keys), it times in one run with CUDA events (median of
repeats), everything f32 on device buffers:
  ours        moe_cuda_attention_f32 on the per-thread stream, as compiled
              models call it: one launch (decode's keys split over blocks,
              merged by the last split)
  sdpa        torch.nn.functional.scaled_dot_product_attention (its fused
              f32 kernels, torch >= 2.0; k and v repeated per q head
              beforehand, outside the timing)
  eager       q . k^T, softmax, . v as three torch ops on repeated heads -
              what the graph ran before the fusion (cuBLAS, softmax, cuBLAS)
and as a bf16 model runs it:
  ours-bf16   (prefill) moe_cuda_attention_f32 with precision
              MOE_CUDA_ELEMENT_BF16 (the tensor-core kernel on the same f32
              buffers)
  ours-kv16   (decode) the f32 kernel on a bf16 KV cache (kv_type
              MOE_CUDA_ELEMENT_BF16: half the bytes)
  sdpa-bf16   scaled_dot_product_attention on bf16 copies (flash attention)
and prints the latency, GB/s of the k/v bytes read (decode is bound by
them), that as a share of the device-to-device copy bandwidth measured in
the same run, TFLOP/s (4 * q rows * kept keys * head dim), the speed
relative to sdpa and to eager (above 1: faster; the bf16 engines against
sdpa-bf16), and the largest error against eager relative to its magnitude.
"""

import argparse
import ctypes
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "lib"))
import cuda_harness as ch  # noqa: E402
from bench_cuda_grouped import preamble, timed  # noqa: E402

# torch >= 2.0; older ones time eager alone.
HAS_SDPA = hasattr(F, "scaled_dot_product_attention")

CASES = [
    # name, q heads, kv heads, head dim, (batch, queries, keys, causal)...
    ("mixtral-8x7b", 32, 8, 128, ((1, 1, 512, False), (1, 1, 4096, False),
                                  (1, 1, 32768, False), (8, 1, 4096, False),
                                  (1, 512, 512, True), (1, 2048, 2048, True))),
    ("qwen3-30b-a3b", 32, 4, 128, ((1, 1, 4096, False), (16, 1, 2048, False),
                                   (1, 1024, 1024, True))),
]


def strides(t):
    """A [b, heads, tokens, d] tensor's batch, head and token strides."""
    return (ctypes.c_int64 * 3)(t.stride(0), t.stride(1), t.stride(2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="the first case only")
    args = parser.parse_args()
    attention = ch.lib.moe_cuda_attention_f32
    # Ours on the per-thread stream, as compiled models call it; torch
    # times on the legacy default stream, which waits for it.
    assert torch.cuda.current_stream().cuda_stream == 0, "torch on the legacy stream"
    bandwidth = preamble(f"{'case':<15}{'b':>3}{'t':>6}{'keys':>7} {'engine':<10}{'ms':>9}"
                         f"{'GB/s':>8}{'%copy':>7}{'TFLOP/s':>8}{'vs sdpa':>8}{'vs eager':>9}"
                         f"{'error':>9}")
    for name, heads, kv_heads, dim, shapes in CASES:
        if args.quick and name != CASES[0][0]:
            continue
        for batch, queries, keys, causal in shapes:
            torch.manual_seed(0)
            q = torch.randn(batch, heads, queries, dim, device="cuda")
            k = torch.randn(batch, kv_heads, keys, dim, device="cuda")
            v = torch.randn(batch, kv_heads, keys, dim, device="cuda")
            out = torch.empty(batch, heads, queries, dim, device="cuda")
            alpha = dim ** -0.5
            # The causal diagonal of a prefill (queries = keys): 1.
            qs, ks, vs, outs = strides(q), strides(k), strides(v), strides(out)

            def ours(precision=ch.ELEMENT_F32, kv_type=ch.ELEMENT_F32, kk=k, vv=v):
                status = attention(ch.PER_THREAD_STREAM, batch, heads, kv_heads, queries,
                                   keys, dim, dim, alpha, precision, kv_type, q.data_ptr(), qs,
                                   kk.data_ptr(), ks, vv.data_ptr(), vs, int(causal), 1, None,
                                   None, ch.ELEMENT_F32, out.data_ptr(), outs)
                assert status == ch.OK, ch.lib.moe_cuda_last_error()

            group = heads // kv_heads
            kr = k.repeat_interleave(group, dim=1)
            vr = v.repeat_interleave(group, dim=1)

            def sdpa():
                return F.scaled_dot_product_attention(q, kr, vr, is_causal=causal)

            mask = (torch.triu(torch.full((queries, keys), float("-inf"), device="cuda"), 1)
                    if causal else None)

            def eager():
                scores = (q @ kr.transpose(-1, -2)) * alpha
                if mask is not None:
                    scores = scores + mask
                return torch.softmax(scores, dim=-1) @ vr

            want = eager()
            errors = {}

            def error_of(engine, run):
                run()
                torch.cuda.synchronize()
                errors[engine] = float((out - want).abs().max() / want.abs().max())

            error_of("ours", ours)
            touched = 2 * k.numel() * 4  # k and v, read once
            kept = keys * queries - (queries * (queries - 1) // 2 if causal else 0)
            flops = 4 * batch * heads * kept * dim
            results = {"sdpa": timed(sdpa, args.repeats) if HAS_SDPA else None,
                       "eager": timed(eager, args.repeats),
                       "ours": timed(ours, args.repeats)}
            # The 16-bit engines: at prefill the tensor cores (f32 k and v,
            # fresh from the projections); at decode a bf16 KV cache read
            # as it is (half the bytes).
            q16, k16, v16 = q.bfloat16(), kr.bfloat16(), vr.bfloat16()
            if HAS_SDPA:
                results["sdpa-bf16"] = timed(
                    lambda: F.scaled_dot_product_attention(q16, k16, v16, is_causal=causal),
                    args.repeats)
            if queries > 1:
                def ours_bf16():
                    ours(ch.ELEMENT_BF16)
                engine16 = "ours-bf16"
            else:
                kb, vb = k.bfloat16(), v.bfloat16()

                def ours_bf16():
                    ours(ch.ELEMENT_F32, ch.ELEMENT_BF16, kb, vb)
                engine16 = "ours-kv16"
            error_of(engine16, ours_bf16)
            results[engine16] = timed(ours_bf16, args.repeats)
            for engine, ms in results.items():
                if ms is None:
                    continue
                # (k and v bytes as each engine reads them.)
                gbs = touched / (2 if engine in ("sdpa-bf16", "ours-kv16") else 1) / ms / 1e6
                baseline = results.get("sdpa-bf16" if engine in ("ours-bf16", "ours-kv16")
                                       else "sdpa")
                vs_sdpa = f"{baseline / ms:>7.2f}x" if baseline else f"{'-':>8}"
                print(f"{name:<15}{batch:>3}{queries:>6}{keys:>7} {engine:<10}{ms:>9.4f}"
                      f"{gbs:>8.0f}{100 * gbs / bandwidth:>6.0f}%{flops / ms / 1e9:>8.1f}"
                      f"{vs_sdpa}{results['eager'] / ms:>8.2f}x"
                      + (f"{errors[engine]:>9.1e}" if engine in errors else ""))
            # f32 to f32 rounding; bf16 (q, k, v and the weights rounded) to
            # the bf16 tolerance.
            for engine, error in errors.items():
                limit = 2e-2 if engine != "ours" else 1e-3
                assert error < limit, \
                    f"{name} b={batch} t={queries} keys={keys} {engine}: error {error}"
            del q, k, v, out, kr, vr, want
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
