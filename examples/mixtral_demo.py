"""A Mixtral-style MoE layer through the compiler's reference path.

Writes the layer as MLIR (examples/out/mixtral_layer.mlir), shows the
`moe.layer` op, lowers it with `moe-opt --moe-reference-to-llvm`, runs it
with mlir-runner on 5 tokens, and compares the result with NumPy.
scripts/demo.sh runs this after building.
"""

import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "lib"))

import mlir_harness as mh  # noqa: E402
import moe_reference as ref  # noqa: E402

D, F, E, K, TOKENS = 16, 32, 8, 2, 5


def main():
    rng = np.random.default_rng(2024)
    weights = {
        "router": rng.standard_normal((D, E)).astype(np.float32),
        "w1": (rng.standard_normal((E, D, F)) / np.sqrt(D)).astype(np.float32),
        "w3": (rng.standard_normal((E, D, F)) / np.sqrt(D)).astype(np.float32),
        "w2": (rng.standard_normal((E, F, D)) / np.sqrt(F)).astype(np.float32),
    }
    x = rng.standard_normal((TOKENS, D)).astype(np.float32)

    x_type = mh.tensor_type((None, D), "f32")
    types = {n: mh.tensor_type(w.shape, "f32") for n, w in weights.items()}
    params = ", ".join([f"%x: {x_type}"] + [f"%{n}: {t}" for n, t in types.items()])
    layer = (f"%y = moe.layer %x : {x_type} router %router : {types['router']}\n"
             f"         w1 %w1 : {types['w1']} w3 %w3 : {types['w3']} w2 %w2 : {types['w2']}\n"
             f"         routing <softmax_topk, k = {K}, renormalize = true>\n"
             f"         activation <swiglu> -> {x_type}")
    kernel = (f"func.func @kernel({params}) -> {x_type} {{\n  {layer}\n"
              f"  return %y : {x_type}\n}}\n")

    out_dir = os.path.join(ROOT, "examples", "out")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "mixtral_layer.mlir"), "w") as f:
        f.write(kernel)
    print(f"Mixtral-style layer: d={D}, f={F}, E={E} experts, top-{K}, "
          f"renormalized, SwiGLU; {TOKENS} tokens (dynamic T)\n")
    print("  " + layer + "\n")

    start = time.perf_counter()
    [(y,)] = mh.run(kernel, [x_type] + list(types.values()), [x_type],
                    [[x] + list(weights.values())])
    elapsed = time.perf_counter() - start
    want = ref.moe_layer(x, weights["router"], weights["w1"], weights["w2"],
                         dict(kind="softmax_topk", k=K, renormalize=True),
                         "swiglu", w3=weights["w3"])
    ids, gates = ref.route(x.astype(np.float64) @ weights["router"],
                           "softmax_topk", K, renormalize=True)

    np.set_printoptions(precision=4, suppress=True, linewidth=100)
    print("routing (numpy reference):")
    for t in range(TOKENS):
        picks = ", ".join(f"expert {e} ({g:.3f})" for e, g in zip(ids[t], gates[t]))
        print(f"token {t} routes to {picks}")
    print("\noutput (first 6 of 16 columns), compiled reference path:")
    print(y[:, :6])
    err = float(np.max(np.abs(y - want)))
    ok = np.allclose(y, want, rtol=1e-4, atol=1e-5)
    print(f"\nmax |compiled - numpy| = {err:.2e}: {'MATCH' if ok else 'MISMATCH'}")
    print(f"lower + JIT + run: {elapsed:.2f} s (moe-opt --moe-reference-to-llvm | mlir-runner)")
    print(f"the MLIR is in {os.path.relpath(out_dir, ROOT)}/mixtral_layer.mlir")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
