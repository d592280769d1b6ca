#!/usr/bin/env python3
"""The CPU benchmark of issue #6: MoE layers as users export them.

For each case a PyTorch MoE block (test/lib/hf_moe_blocks.py: Hugging Face's
Mixtral / Qwen2-MoE code) is exported with torch.onnx.export, and measured
in one run on the same threads (medians over repeats):

  ours        the export compiled by moe-compile (raised, runtime kernels),
              run through the model C API
  ours-bf16   the same with --weights=bf16 (bfloat16 expert weights)
  ours-int8   the same with --weights=int8 (int8 expert weights, one scale
              per expert and output column)
  ort-unfused onnxruntime on the same export (node by node)
  ort-moe     onnxruntime's com.microsoft.MoE CPU kernel on the same
              weights (logits given; n/a with a shared expert)
  dense-blas  numpy's BLAS (OpenBLAS) doing the same useful FLOPs as one
              dense GEMM: [T*k, d] x [d, 3f] (+ the shared expert's)
  bw-bound    for T <= 8: expert weight bytes touched / measured bandwidth

and prints ms, GFLOP/s (useful FLOPs: 6*T*k*d*f (+ shared)), GB/s of
weights touched, and ours' ratio against each column (> 1: ours faster).

    .venv/bin/python benchmarks/bench_cpu_moe.py [--quick] [--repeats 5]
        [--case mixtral-scaled] [--tokens 1,8]
"""

import argparse
import os
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import median_ms, runtime_isa  # noqa: E402  (also sets up paths)
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import compiled_model  # noqa: E402
import hf_moe_blocks as blocks  # noqa: E402

CASES = [
    # name, d, f, E, k, shared f, token counts
    ("mixtral-scaled", 1024, 3584, 8, 2, 0, (1, 8, 64, 512, 2048)),
    ("qwen3-scaled", 1024, 384, 64, 8, 0, (1, 16, 256)),
    ("qwen3-shared", 1024, 384, 64, 8, 1536, (16, 256)),
]



def copy_bandwidth():
    """Bytes moved per second by a large copy (read + write)."""
    src = np.ones(64 << 20, np.float32)
    dst = np.empty_like(src)
    seconds = median_ms(lambda: np.copyto(dst, src), 5) / 1e3
    return 2 * src.nbytes / seconds


def ort_moe_model(path, block, d, f, experts, k):
    """com.microsoft.MoE with the block's weights (fc1 interleaves gate and
    up rows: swiglu_fusion = 1)."""
    gate = np.stack([e.w1.weight.detach().numpy() for e in block.experts])  # [E, f, d]
    up = np.stack([e.w3.weight.detach().numpy() for e in block.experts])
    down = np.stack([e.w2.weight.detach().numpy() for e in block.experts])  # [E, d, f]
    fc1 = np.empty((experts, 2 * f, d), np.float32)
    fc1[:, 0::2], fc1[:, 1::2] = gate, up
    node = helper.make_node("MoE", ["x", "logits", "fc1", "", "fc2"], ["y"], domain="com.microsoft",
                            name="moe", k=k, activation_type="swiglu", swiglu_fusion=1,
                            normalize_routing_weights=1)
    graph = helper.make_graph(
        [node], "moe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", d]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["T", experts])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", d])],
        [numpy_helper.from_array(fc1, "fc1"), numpy_helper.from_array(down, "fc2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    onnx.save(model, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="0: all cores")
    parser.add_argument("--quick", action="store_true", help="fewer token counts")
    parser.add_argument("--case", action="append",
                        help="only these cases (repeatable): " +
                        ", ".join(c[0] for c in CASES))
    parser.add_argument("--tokens", help="only these token counts, e.g. 1,8")
    args = parser.parse_args()
    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    bandwidth = copy_bandwidth()
    print(f"threads={threads}, copy bandwidth {bandwidth / 1e9:.1f} GB/s, "
          f"kernels {runtime_isa()}, median of {args.repeats}; "
          f"ratio = other / ours (> 1: ours faster)")
    header = (f"{'case':<15}{'T':>5} {'engine':<12}{'ms':>10}{'GFLOP/s':>9}"
              f"{'GB/s':>7}{'ours vs':>9}")
    print(header)
    print("-" * len(header))
    tmp = tempfile.mkdtemp(prefix="moe-bench-")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    for name, d, f, experts, k, shared_f, tokens_list in CASES:
        if args.case and name not in args.case:
            continue
        if args.tokens:
            tokens_list = tuple(int(t) for t in args.tokens.split(","))
        if shared_f:
            block = blocks.Qwen2MoeSparseMoeBlock(d=d, f=f, num_experts=experts, top_k=k,
                                                  shared_f=shared_f)
        else:
            block = blocks.MixtralSparseMoeBlock(d=d, f=f, num_experts=experts, top_k=k)
        path = os.path.join(tmp, name + ".onnx")
        blocks.export(block, path, d=d, seed=1)
        # (moe-compile reports its stages on stderr for models this large.)
        library = compiled_model.compile_model(path, tmp, ["-O3"])
        ours = compiled_model.Model(library, num_threads=args.threads)
        bf16_dir = os.path.join(tmp, name + "-bf16")
        os.makedirs(bf16_dir, exist_ok=True)
        ours_bf16 = compiled_model.Model(compiled_model.compile_model(
            path, bf16_dir, ["-O3", "--weights=bf16"]), num_threads=args.threads)
        int8_dir = os.path.join(tmp, name + "-int8")
        os.makedirs(int8_dir, exist_ok=True)
        ours_int8 = compiled_model.Model(compiled_model.compile_model(
            path, int8_dir, ["-O3", "--weights=int8"]), num_threads=args.threads)
        unfused = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        fused = None
        if not shared_f:
            moe_path = os.path.join(tmp, name + "-ort-moe.onnx")
            ort_moe_model(moe_path, block, d, f, experts, k)
            fused = ort.InferenceSession(moe_path, options, providers=["CPUExecutionProvider"])
        router = block.gate.weight.detach().numpy().T  # [d, E]
        per_expert_bytes = 3 * d * f * 4
        for tokens in (tokens_list[::2] if args.quick else tokens_list):
            rng = np.random.default_rng(tokens)
            x = rng.standard_normal((1, tokens, d)).astype(np.float32)
            (want,) = unfused.run(None, {"x": x})
            (got,) = ours.run([x])
            err = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))
            flops = 6.0 * tokens * k * d * f + (6.0 * tokens * d * shared_f)
            logits = x[0] @ router
            ids = np.argsort(-logits, axis=1, kind="stable")[:, :k]
            touched = len(np.unique(ids)) * per_expert_bytes + 3 * d * shared_f * 4
            rows = []
            rows.append(("ours", median_ms(lambda: ours.run([x]), args.repeats)))
            rows.append(("ours-bf16", median_ms(lambda: ours_bf16.run([x]), args.repeats)))
            rows.append(("ours-int8", median_ms(lambda: ours_int8.run([x]), args.repeats)))
            rows.append(("ort-unfused", median_ms(lambda: unfused.run(None, {"x": x}), args.repeats)))
            if fused is not None:
                feeds = {"x": x[0], "logits": logits.astype(np.float32)}
                rows.append(("ort-moe", median_ms(lambda: fused.run(None, feeds), args.repeats)))
            a = rng.standard_normal((tokens * k + (tokens if shared_f else 0), d)).astype(np.float32)
            # Same useful FLOPs as one dense GEMM: [rows, d] x [d, n].
            n = int(flops / (2.0 * a.shape[0] * d))
            w = rng.standard_normal((d, n)).astype(np.float32)
            rows.append(("dense-blas", median_ms(lambda: a @ w, args.repeats)))
            if tokens <= 8:
                rows.append(("bw-bound", 1e3 * touched / bandwidth))
            ours_ms = rows[0][1]
            for engine, ms in rows:
                ratio = "" if engine == "ours" else f"{ms / ours_ms:8.2f}x"
                print(f"{name:<15}{tokens:>5} {engine:<12}{ms:>10.3f}{flops / ms / 1e6:>9.1f}"
                      f"{touched / ms / 1e6:>7.1f}{ratio:>9}")
            scale = max(np.max(np.abs(want)), 1e-30)
            (got16,) = ours_bf16.run([x])
            (got8,) = ours_int8.run([x])
            err16 = float(np.max(np.abs(got16 - want)) / scale)
            err8 = float(np.max(np.abs(got8 - want)) / scale)
            print(f"{'':<21}(max |ours - onnxruntime| / max |onnxruntime| = {err:.1e}; "
                  f"bf16: {err16:.1e}; int8: {err8:.1e})")


if __name__ == "__main__":
    main()
