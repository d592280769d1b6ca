"""The compiler end to end on a bundled example: a Mixtral-style MoE block.

1. Writes the block as PyTorch (test/lib/hf_moe_blocks.py, the code of
   Hugging Face's MixtralSparseMoeBlock) and exports it with
   torch.onnx.export (without torch: an ONNX Runtime com.microsoft.MoE
   node with the same shape) to examples/out/mixtral_block.onnx.
2. Shows the one `moe.layer` that moe-raise makes of the exported loop.
3. Compiles it: moe-compile -> examples/out/mixtral_block.so.
4. Runs it with moe-run on .npy input, checks the output against
   onnxruntime on the same file, and compares latency.
scripts/demo.sh runs this after building.
"""

import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "lib"))
warnings.filterwarnings("ignore")

D, F, E, K = 64, 128, 8, 2
BATCH, SEQ = 2, 16
RUNS = 50


def export_model(path):
    """The Mixtral block as torch exports it, or the ORT fused op."""
    try:
        import hf_moe_blocks as blocks
    except ImportError:
        from onnx_models import microsoft_moe
        microsoft_moe(path, E, D, F, activation="swiglu", k=K, fusion=1,
                      normalize=1, seed=1)
        return "com.microsoft.MoE node (torch is not installed)"
    blocks.export(blocks.MixtralSparseMoeBlock(d=D, f=F, num_experts=E,
                                               top_k=K), path, d=D, seed=1)
    return "torch.onnx.export of MixtralSparseMoeBlock"


def run(command, **kwargs):
    return subprocess.run(command, check=True, text=True, **kwargs)


def main():
    import onnx
    import onnxruntime as ort

    out = os.path.join(ROOT, "examples", "out")
    os.makedirs(out, exist_ok=True)
    model = os.path.join(out, "mixtral_block.onnx")
    source = export_model(model)
    graph = onnx.load(model).graph
    print(f"1. Mixtral-style block: d={D}, f={F}, {E} experts, top-{K}, SwiGLU")
    print(f"   {source}: {len(graph.node)} ONNX nodes -> "
          f"{os.path.relpath(model, ROOT)}\n")

    imported = run(["moe-translate", "--import-onnx", model],
                   capture_output=True).stdout
    raised = run(["moe-opt", "--moe-raise"], input=imported,
                 capture_output=True).stdout
    layer = next(line.strip() for line in raised.splitlines()
                 if "moe.layer" in line)
    print("2. moe-raise replaces the exported expert loop with one op:")
    print("   " + layer[:160] + (" ..." if len(layer) > 160 else "") + "\n")

    library = os.path.join(out, "mixtral_block.so")
    start = time.perf_counter()
    run(["moe-compile", model, "-o", library])
    print(f"3. moe-compile -> {os.path.relpath(library, ROOT)} "
          f"({os.path.getsize(library) // 1024} KiB, "
          f"{time.perf_counter() - start:.2f} s)\n")

    input_name = next(i.name for i in graph.input
                      if i.name not in {t.name for t in graph.initializer})
    rng = np.random.default_rng(2024)
    if input_name == "x" and len(graph.input[0].type.tensor_type.shape.dim) == 3:
        feeds = {"x": rng.standard_normal((BATCH, SEQ, D)).astype(np.float32)}
    else:
        tokens = BATCH * SEQ
        feeds = {"x": rng.standard_normal((tokens, D)).astype(np.float32),
                 "logits": rng.standard_normal((tokens, E)).astype(np.float32)}
    args = []
    for name, array in feeds.items():
        np.save(os.path.join(out, name + ".npy"), array)
        args += ["--input", f"{name}={os.path.join(out, name + '.npy')}"]
    result_dir = os.path.join(out, "result")
    printed = run(["moe-run", library, *args, "--output-dir", result_dir,
                   "--bench", str(RUNS)], capture_output=True).stdout
    print(f"4. moe-run on {BATCH * SEQ} tokens:")
    for line in printed.strip().splitlines():
        print("   " + line.replace(ROOT + "/", ""))

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    output_name = session.get_outputs()[0].name
    expected = session.run(None, feeds)[0]
    ours = np.load(os.path.join(result_dir, output_name + ".npy"))
    err = float(np.max(np.abs(ours - expected)))
    ok = np.allclose(ours, expected, rtol=1e-4, atol=1e-5)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1e3)
    ours_ms = float(printed.split("median ")[1].split()[0])
    ort_ms = statistics.median(times)
    print(f"\n   max |moe-compile - onnxruntime| = {err:.2e}: "
          f"{'MATCH' if ok else 'MISMATCH'}")
    print(f"   median latency: moe-compile {ours_ms:.3f} ms, onnxruntime "
          f"{ort_ms:.3f} ms ({ort_ms / ours_ms:.2f}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
