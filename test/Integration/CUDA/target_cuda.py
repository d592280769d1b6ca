# Models compiled with `moe-compile --target=cuda` (f32, bf16 and f16
# weights):
# ONNX Runtime's com.microsoft.MoE op (routing from given logits, biases,
# SwiGLU) and real torch.onnx.export files (Mixtral: gating fused into the
# routing; Qwen2-MoE: a shared expert and its gate; DeepSeek-V3: sigmoid
# routing with groups; Mixtral in a residual connection). Every MoE kernel
# call must go to the CUDA runtime (moe_cuda_cc_*, none to the CPU's
# moe_cc_* kernels; the whole layer of Mixtral, Qwen2 - shared expert and
# gate included - and DeepSeek-V3 in one call that keeps the routing and
# intermediates on the device), the libraries
# link libcudart, and they run through the model C API at 1, 7 and 33
# tokens: with a GPU, against onnxruntime on the same file (f32: rtol 1e-3;
# bf16, f16: rtol 2e-2 of the output's magnitude and a cosine above 0.999);
# without one, creating the model (which uploads its expert weights) must
# fail with the CUDA runtime's reason naming the upload call, never crash.
# With MOE_GPU_MODELS_DIR set, the libraries, their inputs and
# onnxruntime's outputs are also saved there for a GPU machine without
# LLVM (scripts/gpu-models.sh, test/lib/run_compiled_models.py).
# REQUIRES: cuda-runtime, torch
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t | FileCheck %s
# CHECK: OK: microsoft calls the CUDA runtime
# CHECK: OK: microsoft f32
# CHECK: OK: microsoft bf16
# CHECK: OK: many routes on the host, runs its experts on the GPU
# CHECK: OK: mixtral calls the CUDA runtime
# CHECK: OK: mixtral f32
# CHECK: OK: mixtral bf16
# CHECK: OK: mixtral f16
# CHECK: OK: qwen2 calls the CUDA runtime
# CHECK: OK: qwen2 f32
# CHECK: OK: deepseek calls the CUDA runtime
# CHECK: OK: deepseek f32
# CHECK: OK: residual calls the CUDA runtime
# CHECK: OK: residual f32
# CHECK: OK: prenorm calls the CUDA runtime
# CHECK: OK: prenorm f32
# CHECK: OK: decoder calls the CUDA runtime
# CHECK: OK: decoder f32
# CHECK: OK: causal calls the CUDA runtime
# CHECK: OK: causal f32
# CHECK: OK: gqa calls the CUDA runtime
# CHECK: OK: gqa f32
# CHECK: OK: two_layers calls the CUDA runtime
# CHECK: OK: two_layers f32
# CHECK: OK: relu calls the CUDA runtime
# CHECK: OK: gatebefore calls the CUDA runtime
# CHECK: OK: soft calls the CUDA runtime
# CHECK: OK: gptoss calls the CUDA runtime
# CHECK: OK: stacked calls the CUDA runtime
# CHECK: OK: switch calls the CUDA runtime
# CHECK: OK: cached calls the CUDA runtime
# CHECK: OK: cached f32
# CHECK: OK: padded calls the CUDA runtime
# CHECK: OK: padded f32
# CHECK: OK: positions calls the CUDA runtime
# CHECK: OK: positions f32
# CHECK: OK: qwen3 calls the CUDA runtime
# CHECK: OK: qwen3 f32
# CHECK: OK: transformers calls the CUDA runtime
# CHECK: OK: transformers f32

import os
import shutil
import subprocess
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

import compiled_model  # noqa: E402
import cuda_devices  # noqa: E402
import cuda_test_models  # noqa: E402
from onnx_harness import run_onnxruntime  # noqa: E402


out = sys.argv[1]
has_gpu = cuda_devices.device_count() > 0
saved = os.environ.get("MOE_GPU_MODELS_DIR")
rng = np.random.default_rng(9)
models = cuda_test_models.build(out, rng)


def check_lowering(name, path):
    """The LLVM dialect module calls only the CUDA runtime's kernels."""
    text = subprocess.run(["moe-compile", path, "--target=cuda", "--emit=mlir",
                           "-o", "-"], check=True, capture_output=True,
                          text=True).stdout
    calls = {line.split("@")[1].split("(")[0] for line in text.splitlines()
             if "llvm.call @moe_" in line}
    kernels = {c for c in calls if c.startswith(("moe_cc_", "moe_cuda_cc_"))
               and "check_status" not in c and not c.endswith("_error")}
    if name == "many":  # beyond the CUDA routing kernel: routed on the host
        assert kernels == {"moe_cc_route_f32", "moe_cuda_cc_experts_f32",
                           "moe_cuda_cc_preload"}, kernels
        print(f"OK: {name} routes on the host, runs its experts on the GPU")
        return
    assert kernels and all(c.startswith("moe_cuda_cc_") for c in kernels), calls
    if name != "microsoft":  # the whole layer in one device-side call
        # (the residual add around it another: moe_cuda_cc_binary_f32; a
        # decoder layer's projections and its attention core - scores,
        # softmax, values - one fused call)
        norm = {"moe_cuda_cc_binary_f32", "moe_cuda_cc_rms_norm_f32"}
        extra = {"residual": {"moe_cuda_cc_binary_f32"}, "prenorm": norm,
                 # (its head transposes read and written in place)
                 "decoder": norm | {"moe_cuda_cc_matmul_f32", "moe_cuda_cc_attention_f32"}}
        # the mask in the softmax call; rotary embeddings' tables (range,
        # concat, cos/sin) and their application (one call for q and k: no
        # slices); grouped-query attention's repeated k/v heads read where
        # they lie (no expand), after a run-time check; no transposes (the
        # rotary calls read q's and k's heads in place, a KV cache's concat
        # v's, the attention call writes the heads merged)
        extra["causal"] = extra["gqa"] = extra["cached"] = extra["padded"] = \
            extra["decoder"] | {"moe_cuda_cc_rotary_pair_f32", "moe_cuda_cc_concat_f32",
                                "moe_cuda_cc_range_f32", "moe_cuda_cc_unary_f32"}
        # position_ids (int64) converted on the device, inv_freq expanded
        # to the batch, the tables' MatMul (no range)
        extra["positions"] = extra["decoder"] | {
            "moe_cuda_cc_rotary_pair_f32", "moe_cuda_cc_concat_f32", "moe_cuda_cc_unary_f32",
            "moe_cuda_cc_cast", "moe_cuda_cc_expand_f32"}
        # transformers' 2-D mask: its float pieces (the causal fill times
        # arange > cache_position, expanded, sliced, plus the cast mask)
        # are CUDA calls too
        extra["transformers"] = extra["positions"] | {"moe_cuda_cc_slice_f32"}
        extra["qwen3"] = extra["positions"]  # its head norms: rms_norm calls
        extra = extra.get(name, set())
        assert kernels == {"moe_cuda_cc_layer_f32", "moe_cuda_cc_preload"} | extra, kernels
    print(f"OK: {name} calls the CUDA runtime")


for name, (path, feeds_for) in models.items():
    check_lowering(name, path)
    for weights in cuda_test_models.weight_types(name):
        build = os.path.join(out, f"{name}_{weights}")
        os.makedirs(build)
        library = compiled_model.compile_model(
            path, build, ["--target=cuda", f"--weights={weights}"])
        needed = subprocess.run(["readelf", "-d", library], check=True,
                                capture_output=True, text=True).stdout
        assert "libcudart.so" in needed, needed
        # Described without an instance: no GPU needed.
        described = subprocess.run(["moe-run", library, "--describe"], check=True,
                                   capture_output=True, text=True).stdout
        assert described.startswith("input 'x': f32 ["), described
        if not has_gpu:
            try:
                compiled_model.Model(library)
            except compiled_model.ModelError as error:
                message = str(error)
                assert "moe_model_create" in message and \
                    "uploading the expert weights (moe_cuda_cc_preload)" in message \
                    and "device error" in message and "cuda" in message.lower(), message
                print(f"OK: {name} {weights} (no GPU: {message.split(': ', 2)[2][:70]}...)")
            else:
                raise AssertionError(f"{name} {weights}: created without a GPU")
        else:
            model = compiled_model.Model(library)
        for tokens in (1, 7, 33):
            feeds = feeds_for(tokens)
            label = f"{name} {weights} T={tokens}"
            if saved:
                os.makedirs(saved, exist_ok=True)
                stem = os.path.join(saved, f"{name}_{weights}")
                shutil.copyfile(library, stem + ".so")
                expected = run_onnxruntime(path, feeds)
                np.savez(f"{stem}_T{tokens}.npz",
                         **{f"expected_{i}": e for i, e in enumerate(expected)},
                         **{"in_" + k: v for k, v in feeds.items()})
            if not has_gpu:
                continue
            expected = run_onnxruntime(path, feeds)
            # Host buffers (moe_model_run), then device buffers
            # (moe_model_run_device); every output.
            for api, run in (("host", model.run), ("device", model.run_device)):
                for actual, want in zip(run(list(feeds.values())), expected, strict=True):
                    error, cosine = cuda_test_models.error_and_cosine(actual, want)
                    assert error <= cuda_test_models.tolerance(weights) and cosine > 0.999, \
                        (label, api, error, cosine)
                print(f"OK: {label} {api} buffers (error {error:.1e}, cosine {cosine:.6f})")
        if has_gpu and name == "mixtral" and weights == "f32":
            # Routing statistics recorded on the GPU (the routing copied
            # back while recording) count what the CPU build counts.
            cpu_build = os.path.join(out, "mixtral_cpu")
            os.makedirs(cpu_build)
            cpu = compiled_model.Model(compiled_model.compile_model(path, cpu_build))
            feeds = list(feeds_for(33).values())
            for instance in (model, cpu):
                instance.record_stats()
                instance.run(feeds)
            gpu_layers, cpu_layers = model.stats()["layers"], cpu.stats()["layers"]
            assert [l["tokens_per_expert"] for l in gpu_layers] == \
                [l["tokens_per_expert"] for l in cpu_layers], (gpu_layers, cpu_layers)
            print(f"OK: mixtral routing statistics on the GPU: {gpu_layers[0]['tokens_per_expert']}")
