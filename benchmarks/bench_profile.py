#!/usr/bin/env python3
"""Does profile-guided compilation help on skewed routing? (issue #9)

A com.microsoft.MoE layer gets router logits skewed so that a few experts
take most tokens (Zipf-like). The layer is compiled twice: plainly, and
with `--profile` from a recorded run (moe-run --profile equivalent, through
the C API), which makes each grouped matmul schedule its busiest experts'
work first. Both run on the same inputs in one process; the table gives
median latencies and the ratio (plain / guided: above 1, the profile
helped).

    .venv/bin/python benchmarks/bench_profile.py [--repeats 30]
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import median_ms  # noqa: E402  (also sets up paths)

import numpy as np  # noqa: E402

import compiled_model  # noqa: E402
from onnx_models import microsoft_moe  # noqa: E402



def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--experts", type=int, default=16)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--f", type=int, default=1024)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="moe-profile-")
    model = os.path.join(tmp, "moe.onnx")
    microsoft_moe(model, args.experts, args.d, args.f, activation="swiglu", k=2,
                  fusion=1, normalize=1)
    rng = np.random.default_rng(0)
    skew = -1.5 * np.log(np.arange(1, args.experts + 1))  # Zipf-like shares

    def inputs(tokens):
        x = rng.standard_normal((tokens, args.d)).astype(np.float32)
        logits = (rng.standard_normal((tokens, args.experts)) + skew).astype(np.float32)
        return x, logits

    plain_path = compiled_model.compile_model(model, tmp, ["-O3"])
    plain = compiled_model.Model(plain_path)
    # Record a profile on representative skewed traffic.
    plain_lib = plain.lib
    plain_lib.moe_model_stats_enable(plain.handle, 1)
    for _ in range(4):
        plain.run(list(inputs(256)))
    plain_lib.moe_model_stats_json.restype = compiled_model.ctypes.c_void_p
    raw = plain_lib.moe_model_stats_json(plain.handle)
    profile = compiled_model.ctypes.string_at(raw).decode()
    plain_lib.moe_model_free_buffer(raw)
    plain_lib.moe_model_stats_enable(plain.handle, 0)
    profile_path = os.path.join(tmp, "profile.json")
    with open(profile_path, "w") as f:
        f.write(profile)
    loads = json.loads(profile)["layers"][0]["tokens_per_expert"]
    guided_dir = os.path.join(tmp, "guided")
    os.makedirs(guided_dir)
    guided = compiled_model.Model(compiled_model.compile_model(
        model, guided_dir, ["-O3", f"--profile={profile_path}"]))

    total = sum(loads)
    print(f"E={args.experts} d={args.d} f={args.f} k=2 swiglu, skewed routing: "
          f"busiest expert {100 * max(loads) / total:.0f}% of assignments, "
          f"quietest {100 * min(loads) / total:.1f}%; median of {args.repeats}")
    print(f"{'T':>6} {'plain ms':>10} {'guided ms':>10} {'plain/guided':>13}")
    for tokens in (16, 64, 256, 1024):
        x, logits = inputs(tokens)
        a = plain.run([x, logits])[0]
        b = guided.run([x, logits])[0]
        assert np.array_equal(a, b)
        p = median_ms(lambda: plain.run([x, logits]), args.repeats)
        g = median_ms(lambda: guided.run([x, logits]), args.repeats)
        print(f"{tokens:>6} {p:>10.3f} {g:>10.3f} {p / g:>12.2f}x")


if __name__ == "__main__":
    main()
