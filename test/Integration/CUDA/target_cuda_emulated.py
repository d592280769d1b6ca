# Models compiled with `moe-compile --target=cuda`, run WITHOUT a GPU: a
# --runtime-dir whose libmoe_runtime_cuda.a is the CUDA runtime's own
# sources built for the host (runtime/cuda/emulation: the kernels run by
# the SIMT emulator). Everything the compiler decides for CUDA runs for
# real, on the real kernels - which entry point each layer becomes
# (Mixtral's whole layer in one call), every argument in its position, the
# weights converted at compile time (row-major f32, bf16, fp16), the
# preload at creation, the routing, permutation, tensor-core grouped
# matmuls and combine - and must match onnxruntime at 1, 7 and 33 tokens
# (f32: 1e-3 of the output's magnitude; bf16, f16: 2e-2; cosine > 0.999),
# on host buffers and through moe_model_run_device. The emulation's
# device memory is pages the host cannot touch except while a kernel or a
# copy runs, so host code reading or writing a buffer on the device
# crashes the test as it would on a GPU. Graphs whose inputs only CUDA
# calls touch (moe-mark-device-io) run device-resident - inputs used where
# they are, the buffers only CUDA calls touch on the device, no copy
# through the host; Qwen2's shared expert and its gate ride in the layer's
# one call; the residual model's add is a CUDA call too (computed on the
# host in host runs) - and the one with more experts than the routing
# kernel takes is staged: told apart by the emulation's count of copies
# to or from the host.
# REQUIRES: cuda-runtime, cuda-emulation, torch
# RUN: rm -rf %t && mkdir -p %t/wmma %t/wgmma %t/cublas
# RUN: %python %s %t %moe_lib_dir | FileCheck %s
# The 16-bit models again on the other tensor-core kernels (their epilogues
# also round the hidden rows for the second matmul): WMMA, wgmma on an
# emulated Hopper part, and the cuBLAS baseline's for bf16 (on the
# emulation's cuBLAS).
# RUN: env MOE_CUDA_GROUPED_MATMUL=wmma %python %s %t/wmma %moe_lib_dir 16-bit | FileCheck %s --check-prefix=HALF
# RUN: env MOE_CUDA_EMULATION_ARCH=90 MOE_CUDA_GROUPED_MATMUL=wgmma %python %s %t/wgmma %moe_lib_dir 16-bit | FileCheck %s --check-prefix=HALF
# RUN: env MOE_CUDA_GROUPED_MATMUL=cublas %python %s %t/cublas %moe_lib_dir 16-bit | FileCheck %s --check-prefix=HALF
# HALF: OK: microsoft bf16
# HALF: OK: microsoft f16
# HALF: OK: mixtral bf16
# HALF: OK: mixtral f16
# HALF: OK: qwen2 bf16
# HALF: OK: deepseek bf16
# HALF: OK: gptoss bf16
# HALF-NOT: f32
# CHECK: OK: microsoft f32 (device-resident
# CHECK: OK: microsoft bf16
# CHECK: OK: microsoft f16
# The layer with more experts than the routing kernel takes routes on the
# host, which reads x there: x alone is copied to the host (and the
# routing up to the experts call), the rest stays on the device - 3 copies
# a run, twice per run_device (its sizing probe), where staging every
# buffer took 13:
# CHECK: OK: many f32 (staged: 6 copies through the host per run_device
# CHECK: OK: mixtral f32 (device-resident
# Decode's launches per layer call: router GEMV, routing with the
# permutation and the gather in one (rounding to bf16 on the way), up
# projection (its epilogue
# rounding the hidden rows to bf16), down projection, combine.
# CHECK: OK: mixtral bf16 (device-resident: no copy through the host, 8 synchronizations per run_device, 5 kernel launches at T=1, each touched weight read once
# CHECK: OK: mixtral f16
# CHECK: OK: qwen2 f32 (device-resident
# CHECK: OK: qwen2 bf16
# CHECK: OK: deepseek f32 (device-resident
# CHECK: OK: deepseek bf16
# The residual add on the device (moe_cuda_cc_binary_f32): a device run
# launches the layer's 5 kernels and the add's, twice (run_device's sizing
# probe runs the graph too).
# CHECK: OK: residual f32 (device-resident: no copy through the host, 8 synchronizations per run_device, 5 kernel launches at T=1, 12 in a device run
# An RMS norm too, its seven ops (pow, mean over the last axis, add,
# sqrt, div, two muls) one fused launch (moe_cuda_cc_rms_norm_f32; as
# separate calls: 30 launches):
# CHECK: OK: prenorm f32 (device-resident: no copy through the host, 8 synchronizations per run_device, 5 kernel launches at T=1, 14 in a device run
# A whole decoder layer: attention too (q, k, v, o projections as cuBLAS
# GEMMs - the emulation counts each call a launch - and the scores,
# softmax and value product one fused launch, the division by
# sqrt(head_dim) its alpha, the four head transposes read or written in
# place), its norms fused (the second with the residual add), all
# device-resident: 4 GEMMs + 1 + 5 for the layer in a host run (the
# graph's other ops computed on the host there), 13 per device run (15
# with the scores and values as GEMMs and a softmax, 19 with the
# transposes as calls too), twice.
# CHECK: OK: decoder f32 (device-resident: no copy through the host, 8 synchronizations per run_device, 10 kernel launches at T=1, 26 in a device run
# With --weights=bf16 the four projections are cuBLAS bf16 GEMMs (their
# weights stored bf16) on activations the calls before them wrote rounded
# to bf16 - the input norm q, k and v's, the attention o's - so the same
# launches as in f32 (a cast call each before those calls wrote them).
# CHECK: OK: decoder bf16 (device-resident: no copy through the host, 8 synchronizations per run_device, 10 kernel launches at T=1, 26 in a device run
# With a causal mask (torch's triu of -inf: ConstantOfShape, Trilu, add):
# the softmax leaves the masked columns out, the mask never built or
# added; and rotary embeddings: their cos/sin tables built on the device
# too (range, outer product, concat, cos, sin: 5 launches; a concat one
# launch for all its inputs) and applied to
# q and k by one launch for both (moe_cuda_cc_rotary_pair_f32, reading the
# heads' transposes in place; one call each: 2; as separate calls -
# transpose, 2 slices, neg, concat, 2 muls, add - 16), k^T read
# transposed by the scores' GEMM, and
# grouped-query attention's repeated k and v heads read where they lie by
# the fused attention call (each kv head staged once for its group of
# heads; as a rank-5 Expand each: 2 launches and copies), v's head
# transpose read and the output's merge written in place too - 19 a run
# (23 with the scores and values as GEMMs and q's and k's rotary calls
# apart, 44 before these fusions),
# nothing through the host.
# CHECK: OK: causal f32 (device-resident: no copy through the host, 8 synchronizations per run_device, 10 kernel launches at T=1, 38 in a device run
# Four heads sharing two kv heads, two sequences (the groups of both in
# one strided batch):
# CHECK: OK: gqa f32 (device-resident: no copy through the host, 8 synchronizations per run_device, 10 kernel launches at T=1, 38 in a device run
# Two MoE layers, each a CUDA call, and no synchronization between them:
# CHECK: OK: two_layers f32 (device-resident: no copy through the host, 8 synchronizations per run_device
# CHECK: OK: relu f32 (device-resident
# CHECK: OK: gatebefore f32 (device-resident
# CHECK: OK: soft f32 (device-resident
# CHECK: OK: gptoss f32 (device-resident
# CHECK: OK: gptoss bf16 (device-resident
# CHECK: OK: stacked f32 (device-resident
# CHECK: OK: switch f32 (device-resident
# With a KV cache (inputs x, past_k, past_v; outputs y and the extended
# cache): at T = 1 a decode step after 5 cached tokens - the cache's
# concat along the sequence, the rotary positions from its length, the
# causal diagonal at its length + 1 (a run-time k: the same attention
# call, no mask; its keys the cache's 6) - device-resident with every
# output (a wait before each one's copy); the layer's 19 launches plus the
# cache's two concats (v's heads read through their transpose in place),
# twice.
# CHECK: OK: cached f32 (device-resident: no copy through the host, 12 synchronizations per run_device, 10 kernel launches at T=1, 42 in a device run
# With a padding mask too (an input [b, 1, 1, total] added after the
# causal mask: the first sequence left-padded): the mask an operand of the
# same fused call - the same launches, still device-resident.
# CHECK: OK: padded f32 (device-resident: no copy through the host, 12 synchronizations per run_device, 10 kernel launches at T=1, 42 in a device run
# With transformers' rotary embedding at the position_ids given (an int64
# input): the positions converted to floats on the device (the only CUDA
# call an integer input may reach), inv_freq expanded to the batch from its
# upload at creation, the batched MatMul, the tables' attention_scaling of
# 1.0 folded away - device-resident, 22 launches a run (the tables: expand,
# cast, matmul, concat, cos, sin for the range and outer product's 5):
# CHECK: OK: positions f32 (device-resident: no copy through the host, 12 synchronizations per run_device, 11 kernel launches at T=1, 44 in a device run
# Qwen3's attention: each q and k head RMS-normed before the rotary
# embedding, its weight in the norm's call (the heads' width fixed by the
# view's constant entry): two launches more than the layer without.
# CHECK: OK: qwen3 f32 (device-resident: no copy through the host, 12 synchronizations per run_device, 11 kernel launches at T=1, 48 in a device run
# With transformers' 2-D int64 attention_mask too, turned into the additive
# causal mask in the graph (Greater, Trilu, Equal, ScatterND: host ops on
# small tensors): the mask's pieces cross to the host and back (6 copies
# a decode run) and the finished mask goes up for the attention call
# (1), the layer's own buffers stay on the device:
# CHECK: OK: transformers f32 (staged: 14 copies through the host per run_device, 11 kernel launches at T=1
# CHECK: OK: moe-run --device on the device-resident qwen2 f32 model matches onnxruntime
# CHECK: OK: a run-time broadcast mismatch fails naming the op; [1, 4] + [2, 4] broadcasts
# CHECK: OK: grouped-query scores read the repeated heads where they lie, matching onnxruntime; a repeat that does not give q's heads fails naming the matmul
# CHECK: OK: a grouped-query attention core is one fused call reading the kv heads where they lie, matching onnxruntime; a repeat that does not give q's heads fails naming the values' matmul
# CHECK: OK: an attention core with a padding mask added to its scores is one fused call, matching onnxruntime
# CHECK: OK: torch's scaled_dot_product_attention export (q and k^T each scaled by sqrt(1 / sqrt(d)) from q's shape) is one fused call, matching onnxruntime
# CHECK: OK: a float16 export runs its layer in f32 on the CUDA kernels, device-resident, matching onnxruntime to float16 rounding (its own type's tensor-core kernels by default)
# CHECK: OK: a bfloat16 export runs its layer in f32 on the CUDA kernels, device-resident, matching onnxruntime to bfloat16 rounding (its own type's tensor-core kernels by default)
# CHECK: OK: a bfloat16 torch export of the Mixtral block runs on the CUDA kernels, device-resident, matching PyTorch in f32
# CHECK: OK: a bfloat16 torch export of a causal decoder layer runs on the CUDA kernels, device-resident, matching PyTorch in f32
# CHECK: OK: a bfloat16 decoder layer keeps its KV cache in bf16 (concats rounding the new tokens, the attention reading the cache as it is), matching PyTorch in f32
# CHECK: OK: decode's split-K finishes in the matmul's own launch in compiled code (5 launches at T=1), matching onnxruntime run after run

import ctypes
import glob
import itertools
import os
import subprocess
import sys
import types
import warnings

import numpy as np

warnings.filterwarnings("ignore")

import compiled_model  # noqa: E402
import cuda_test_models  # noqa: E402
import fake_cuda  # noqa: E402
from onnx_harness import run_onnxruntime  # noqa: E402

out, lib_dir = sys.argv[1], os.path.abspath(sys.argv[2])
HALF_ONLY = sys.argv[3:] == ["16-bit"]  # only the bf16 / fp16 weight types
# cuBLAS takes its groups' sizes on the host: its runs copy the offsets
# back every call, so their copies do not tell residency.
COUNT_COPIES = os.environ.get("MOE_CUDA_GROUPED_MATMUL") != "cublas"
DEFAULT_KERNELS = "MOE_CUDA_GROUPED_MATMUL" not in os.environ
# The runtime archives, with the emulation as the CUDA runtime.
runtime = os.path.join(out, "runtime")
os.makedirs(runtime)
for archive in glob.glob(os.path.join(lib_dir, "*.a")):
    os.symlink(archive, os.path.join(runtime, os.path.basename(archive)))
os.remove(os.path.join(runtime, "libmoe_runtime_cuda.a"))
os.symlink(os.path.join(lib_dir, "libmoe_runtime_cuda_emulated.a"),
           os.path.join(runtime, "libmoe_runtime_cuda.a"))


def device_memory(lib):
    """cudaMalloc / cudaMemcpy / cudaFree of the emulation (the model's
    own: its protected device memory), for run_device's inputs and
    outputs."""
    return types.SimpleNamespace(cudaMalloc=lib.moe_model_test_cuda_malloc,
                                 cudaMemcpy=lib.moe_model_test_cuda_memcpy,
                                 cudaFree=lib.moe_model_test_cuda_free)


rng = np.random.default_rng(11)
models = cuda_test_models.build(out, rng)
# MOE_CUDA_TEST_MODELS=decoder,mixtral: only those models, then stop (a
# quick check while working on one).
ONLY = os.environ.get("MOE_CUDA_TEST_MODELS")
for name, (path, feeds_for) in models.items():
    if ONLY and name not in ONLY.split(","):
        continue
    for weights in cuda_test_models.weight_types(name):
        if HALF_ONLY and weights == "f32":
            continue
        build = os.path.join(out, f"{name}_{weights}")
        os.makedirs(build)
        model = compiled_model.Model(compiled_model.compile_model(
            path, build, ["--target=cuda", f"--weights={weights}",
                          f"--runtime-dir={runtime}"]))
        worst = 0.0
        model.lib.moe_model_test_emulated_copies.restype = ctypes.c_int64
        model.lib.moe_model_test_kernel_launches.restype = ctypes.c_int64
        model.lib.moe_model_test_synchronizations.restype = ctypes.c_int64
        model.lib.moe_model_test_staged_bytes.restype = ctypes.c_int64
        copies, syncs, launches, staged = [], [], None, None
        for tokens in (1, 7, 33):
            feeds = feeds_for(tokens)
            expected = run_onnxruntime(path, feeds)
            for api in ("host", "device"):
                inputs = list(feeds.values())
                before = model.lib.moe_model_test_emulated_copies()
                launched = model.lib.moe_model_test_kernel_launches()
                waited = model.lib.moe_model_test_synchronizations()
                read = model.lib.moe_model_test_staged_bytes()
                outputs = (model.run(inputs) if api == "host"
                           else model.run_device(inputs, cuda_lib=device_memory(model.lib)))
                if tokens == 1 and api == "host":
                    launches = model.lib.moe_model_test_kernel_launches() - launched
                    staged = model.lib.moe_model_test_staged_bytes() - read
                if tokens == 1 and api == "device":
                    device_launches = model.lib.moe_model_test_kernel_launches() - launched
                if api == "device":
                    copies.append(model.lib.moe_model_test_emulated_copies() - before)
                    syncs.append(model.lib.moe_model_test_synchronizations() - waited)
                for actual, want in zip(outputs, expected, strict=True):
                    error, cosine = cuda_test_models.error_and_cosine(actual, want)
                    assert error <= cuda_test_models.tolerance(weights) and cosine > 0.999, \
                        (name, weights, tokens, api, error, cosine)
                    worst = max(worst, error)
        # Device-resident: nothing goes through the host; staged: the
        # inputs, the layers' operands and the outputs do.
        assert len(set(copies)) == 1, copies
        resident = copies[0] == 0
        assert resident == cuda_test_models.device_resident(name) or not COUNT_COPIES, \
            (name, copies)
        # Resident runs wait twice (the runtime's stream, then the
        # caller's) for the caller's inputs and again before the one
        # output's copy - the sizing probe run_device makes first, which
        # copies nothing, before it returns: 8, however many CUDA calls
        # the graph makes.
        waits = 6 + 2 * len(expected)  # (a wait before each output's copy)
        assert not resident or not COUNT_COPIES or set(syncs) == {waits}, (name, syncs)
        how = (f"device-resident: no copy through the host, {waits} synchronizations"
               if resident else f"staged: {copies[0]} copies through the host")
        # Decode streams the two chosen experts' weights once (mma.sync;
        # Mixtral here: d 16, f 32, gate|up [16, 64] and down [32, 16] each),
        # plus the two tokens' rows.
        traffic = ""
        if name == "mixtral" and weights != "f32" and DEFAULT_KERNELS:
            touched = 2 * (16 * 64 + 32 * 16) * 2
            assert touched <= staged <= touched + 2 * (16 + 32) * 2, (weights, staged, touched)
            traffic = ", each touched weight read once"
        # The graph's own ops run on the host in host runs: a device run
        # counts them too (its sizing probe's launches included).
        graph = (f", {device_launches} in a device run"
                 if name in ("residual", "prenorm", "decoder", "causal", "gqa", "cached", "padded",
                             "positions", "qwen3", "transformers")
                 else "")
        print(f"OK: {name} {weights} ({how} per run_device, {launches} kernel launches "
              f"at T=1{graph}{traffic}, worst error {worst:.1e})")

if HALF_ONLY or ONLY:
    sys.exit(0)

# moe-run --device on a device-resident model: the tool's CUDA buffers from
# test/lib/fake_cuda_copy.c (heap memory, which the model's emulated
# runtime takes for host buffers), preloaded so that the tool finds
# cudaMalloc in the global scope.
fake, preload = fake_cuda.build(out)
path, feeds_for = models["qwen2"]
feeds = feeds_for(5)
np.save(os.path.join(out, "x.npy"), feeds["x"])
result = subprocess.run(
    ["moe-run", os.path.join(out, "qwen2_f32", "qwen2.so"), "--input",
     "x=" + os.path.join(out, "x.npy"), "--device", "--bench", "2", "--output-dir",
     os.path.join(out, "device")],
    capture_output=True, text=True, env=dict(os.environ, LD_PRELOAD=preload))
assert result.returncode == 0, result.stderr
(expected,) = run_onnxruntime(path, feeds)
error, cosine = cuda_test_models.error_and_cosine(
    np.load(os.path.join(out, "device", "y.npy")), expected)
assert error <= 1e-3 and cosine > 0.999, (error, cosine)
print("OK: moe-run --device on the device-resident qwen2 f32 model matches onnxruntime")

# A broadcast the shapes refuse at run time (x [a, 4] + y [b, 4], a != b:
# the signature cannot tell) fails the run naming the op, on host and
# device buffers alike - never a wrong-sized result.
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

graph = helper.make_graph(
    [helper.make_node("Add", ["x", "y"], ["z"], name="residual_add")], "add",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["a", 4]),
     helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 4])],
    [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["c", 4])])
add_path = os.path.join(out, "add.onnx")
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), add_path)
os.makedirs(os.path.join(out, "add"))
add_model = compiled_model.Model(compiled_model.compile_model(
    add_path, os.path.join(out, "add"), ["--target=cuda", f"--runtime-dir={runtime}"]))
x, y = np.ones((3, 4), np.float32), np.ones((2, 4), np.float32)
for api in ("host", "device"):
    try:
        (add_model.run([x, y]) if api == "host"
         else add_model.run_device([x, y], cuda_lib=device_memory(add_model.lib)))
        raise AssertionError(f"{api}: a [3, 4] + [2, 4] add ran")
    except compiled_model.ModelError as error:
        assert "onnx.add 'residual_add'" in str(error) and "must broadcast" in str(error), \
            str(error)
x1 = np.arange(4, dtype=np.float32).reshape(1, 4)
(z,) = add_model.run_device([x1, y], cuda_lib=device_memory(add_model.lib))
assert np.array_equal(z, x1 + y), z
print("OK: a run-time broadcast mismatch fails naming the op; [1, 4] + [2, 4] broadcasts")

# Grouped-query scores whose repeat's shapes are inputs: repeat_kv's
# (ONNX's 0 and -1 entries too) match onnxruntime; a repeat that does not
# give q's heads fails the run naming the matmul - never a product of the
# wrong heads.
scores_nodes = [helper.make_node("Unsqueeze", ["k", "axis"], ["ku"]),
                helper.make_node("Expand", ["ku", "s5"], ["ke"]),
                helper.make_node("Reshape", ["ke", "s4"], ["kr"]),
                helper.make_node("Transpose", ["kr"], ["kt"], perm=[0, 1, 3, 2]),
                helper.make_node("MatMul", ["q", "kt"], ["s"], name="scores"),
                helper.make_node("Div", ["s", "scale"], ["z"])]
graph = helper.make_graph(
    scores_nodes, "gqa_scores",
    [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["b", 4, "t", 8]),
     helper.make_tensor_value_info("k", TensorProto.FLOAT, ["b", 2, "t", 8]),
     helper.make_tensor_value_info("s5", TensorProto.INT64, [5]),
     helper.make_tensor_value_info("s4", TensorProto.INT64, [4])],
    [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["b", 4, "t", "t"])],
    [helper.make_tensor("axis", TensorProto.INT64, [1], [2]),
     helper.make_tensor("scale", TensorProto.FLOAT, [], [2.0])])
gqa_path = os.path.join(out, "gqa_scores.onnx")
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), gqa_path)
os.makedirs(os.path.join(out, "gqa_scores"))
gqa_model = compiled_model.Model(compiled_model.compile_model(
    gqa_path, os.path.join(out, "gqa_scores"), ["--target=cuda", f"--runtime-dir={runtime}"]))


def matches_onnxruntime(path, model, feeds, what):
    """`model` (compiled from `path`) on `feeds` against onnxruntime, on
    host and device buffers (its one output)."""
    (expected,) = run_onnxruntime(path, feeds)
    for api in ("host", "device"):
        (got,) = (model.run(list(feeds.values())) if api == "host" else
                  model.run_device(list(feeds.values()), cuda_lib=device_memory(model.lib)))
        assert np.allclose(got, expected, rtol=1e-5, atol=1e-5), (api, what)


def check_repeats(path, model, tensors, node):
    """Runs `model` (compiled from `path`) on `tensors` (q, k[, v]) with
    repeat_kv's shapes as inputs - HF's, and ONNX's 0 and -1 entries -
    against onnxruntime on host and device buffers; then with repeats that
    do not give q's 4 heads (k's 2 heads not repeated, or repeated to 8),
    which must fail the run naming the matmul `node` (the second must not
    run the product either: q seen as 2 x 4 groups of heads would be read
    past its end - on the emulated device, a fault)."""
    for s5, s4 in (([2, 2, 2, 5, 8], [2, 4, 5, 8]), ([1, 1, 2, 1, 1], [0, 4, -1, 8])):
        feeds = dict(tensors, s5=np.array(s5, np.int64), s4=np.array(s4, np.int64))
        matches_onnxruntime(path, model, feeds, (s5, s4))
    for (s5, s4), api in itertools.product(
            (([2, 2, 1, 5, 8], [2, 2, 5, 8]), ([2, 2, 4, 5, 8], [2, 8, 5, 8])),
            ("host", "device")):
        feeds = list(tensors.values()) + [np.array(s5, np.int64), np.array(s4, np.int64)]
        try:
            (model.run(feeds) if api == "host"
             else model.run_device(feeds, cuda_lib=device_memory(model.lib)))
            raise AssertionError(f"{api}: 4 heads of q ran against a repeat {s5} {s4}")
        except compiled_model.ModelError as error:
            assert f"onnx.matmul '{node}'" in str(error) and "repeat_kv" in str(error), \
                str(error)


q = rng.standard_normal((2, 4, 5, 8)).astype(np.float32)
k = rng.standard_normal((2, 2, 5, 8)).astype(np.float32)
check_repeats(gqa_path, gqa_model, {"q": q, "k": k}, "scores")
print("OK: grouped-query scores read the repeated heads where they lie, matching onnxruntime; "
      "a repeat that does not give q's heads fails naming the matmul")

# The whole core (scores, softmax, values) with those repeats: one fused
# attention call reading k's and v's kv heads, both repeats checked - a
# bad one fails the run naming the values' matmul, before the call reads
# anything.
graph = helper.make_graph(
    scores_nodes +
    [helper.make_node("Softmax", ["z"], ["p"], axis=-1),
     helper.make_node("Unsqueeze", ["v", "axis"], ["vu"]),
     helper.make_node("Expand", ["vu", "s5"], ["ve"]),
     helper.make_node("Reshape", ["ve", "s4"], ["vr"]),
     helper.make_node("MatMul", ["p", "vr"], ["o"], name="values")], "gqa_core",
    [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["b", 4, "t", 8]),
     helper.make_tensor_value_info("k", TensorProto.FLOAT, ["b", 2, "t", 8]),
     helper.make_tensor_value_info("v", TensorProto.FLOAT, ["b", 2, "t", 8]),
     helper.make_tensor_value_info("s5", TensorProto.INT64, [5]),
     helper.make_tensor_value_info("s4", TensorProto.INT64, [4])],
    [helper.make_tensor_value_info("o", TensorProto.FLOAT, ["b", 4, "t", 8])],
    [helper.make_tensor("axis", TensorProto.INT64, [1], [2]),
     helper.make_tensor("scale", TensorProto.FLOAT, [], [2.0])])


def fused_core(name, graph):
    """Saves `graph` as name.onnx and compiles it for CUDA: (its path, the
    model), after checking that its attention core became one fused call
    (no softmax call left)."""
    path = os.path.join(out, name + ".onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    os.makedirs(os.path.join(out, name))
    so = compiled_model.compile_model(path, os.path.join(out, name),
                                      ["--target=cuda", f"--runtime-dir={runtime}"])
    ir = subprocess.run(["moe-compile", path, "--target=cuda", "--emit=mlir", "-o", "-"],
                        check=True, capture_output=True, text=True).stdout
    assert "llvm.call @moe_cuda_cc_attention_f32(" in ir and \
        "llvm.call @moe_cuda_cc_softmax_f32(" not in ir, name
    return path, compiled_model.Model(so)


core_path, core_model = fused_core("gqa_core", graph)
v = rng.standard_normal((2, 2, 5, 8)).astype(np.float32)
check_repeats(core_path, core_model, {"q": q, "k": k, "v": v}, "values")
print("OK: a grouped-query attention core is one fused call reading the kv heads where they "
      "lie, matching onnxruntime; a repeat that does not give q's heads fails naming the "
      "values' matmul")

def check_masked_core(name, nodes, constants):
    """`nodes` (scores of q [b, 2, t, 8] and k, then an added mask input
    [b, 1, 1, keys], softmax, values) compiled for CUDA: one fused call,
    matching onnxruntime on host and device buffers at a decode step and
    a prefill, the second sequence's last two keys masked with finfo.min
    (HF's padding); device runs copy nothing through the host (a scale
    computed from shapes stays host arithmetic)."""
    graph = helper.make_graph(
        nodes + [helper.make_node("Add", ["z", "mask"], ["m"]),
                 helper.make_node("Softmax", ["m"], ["p"], axis=-1),
                 helper.make_node("MatMul", ["p", "v"], ["o"], name="values")], name,
        [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["b", 2, "t", 8]),
         helper.make_tensor_value_info("k", TensorProto.FLOAT, ["b", 2, "s", 8]),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, ["b", 2, "s", 8]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["b", 1, 1, "s"])],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, ["b", 2, "t", 8])], constants)
    path, model = fused_core(name, graph)
    for t, keys in ((1, 7), (4, 4)):
        mask = np.zeros((2, 1, 1, keys), np.float32)
        mask[1, ..., -2:] = np.finfo(np.float32).min
        feeds = {"q": rng.standard_normal((2, 2, t, 8)).astype(np.float32),
                 "k": rng.standard_normal((2, 2, keys, 8)).astype(np.float32),
                 "v": rng.standard_normal((2, 2, keys, 8)).astype(np.float32), "mask": mask}
        matches_onnxruntime(path, model, feeds, (name, t, keys))
    model.lib.moe_model_test_emulated_copies.restype = ctypes.c_int64
    copies = model.lib.moe_model_test_emulated_copies()
    model.run_device(list(feeds.values()), cuda_lib=device_memory(model.lib))
    assert model.lib.moe_model_test_emulated_copies() == copies, (name, "staged")


# A padding mask added to the scores (an input [b, 1, 1, keys], HF's
# finfo.min for the padded keys of the second sequence): the call adds it
# as it scores - one fused call, matching onnxruntime.
check_masked_core(
    "masked_core",
    [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
     helper.make_node("MatMul", ["q", "kt"], ["s"]),
     helper.make_node("Mul", ["scale", "s"], ["z"])],
    [helper.make_tensor("scale", TensorProto.FLOAT, [], [0.35])])
print("OK: an attention core with a padding mask added to its scores is one fused call, "
      "matching onnxruntime")

# torch's scaled_dot_product_attention as torch 2's exporter writes it
# (transformers' default attention): scale = 1 / sqrt(head_dim) computed
# from q's shape, q and k^T each multiplied by sqrt(scale) before the
# product - both factors read at run time into the fused call's alpha.
check_masked_core(
    "sdpa_core",
    [helper.make_node("Shape", ["q"], ["qs"]),
     helper.make_node("Slice", ["qs", "minus_one", "big"], ["d"]),
     helper.make_node("Cast", ["d"], ["df"], to=TensorProto.FLOAT),
     helper.make_node("Sqrt", ["df"], ["sd"]),
     helper.make_node("Div", ["one", "sd"], ["scale"]),
     helper.make_node("Sqrt", ["scale"], ["root"]),
     helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
     helper.make_node("Mul", ["q", "root"], ["qr"]),
     helper.make_node("Mul", ["kt", "root"], ["kr"]),
     helper.make_node("MatMul", ["qr", "kr"], ["z"])],
    [helper.make_tensor("minus_one", TensorProto.INT64, [1], [-1]),
     helper.make_tensor("big", TensorProto.INT64, [1], [2**62]),
     helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])])
print("OK: torch's scaled_dot_product_attention export (q and k^T each scaled by "
      "sqrt(1 / sqrt(d)) from q's shape) is one fused call, matching onnxruntime")


# 16-bit exports of ONNX Runtime's MoE op (what GPU deployments ship):
# float16 and bfloat16 weights, inputs and output. The layer computes in
# f32 (moe-widen-half: weights widened at compile time, 16-bit <-> f32
# casts as CUDA calls), on the CUDA kernels, device-resident - against
# onnxruntime on the f32 twin of the model (the same weights, rounded to
# the 16-bit type) fed the same 16-bit inputs. The only difference left is
# the output's rounding: half an ulp, at most 2^-11 of its magnitude in
# f16, 2^-8 in bf16 (allowed twice that).
import ml_dtypes  # noqa: E402
from onnx_models import half_with_twin, untied_logits  # noqa: E402

for dtype, numpy_type, ulp in (("float16", np.float16, 2.0 ** -10),
                               ("bfloat16", ml_dtypes.bfloat16, 2.0 ** -7)):
    twin_path = os.path.join(out, f"{dtype}_twin.onnx")
    half_path = os.path.join(out, f"{dtype}.onnx")
    half_with_twin(twin_path, half_path, 8, 16, 12, activation="swiglu", k=2, fusion=1,
                   biases=True, seed=7, dtype=dtype)
    os.makedirs(os.path.join(out, dtype))
    # By default (--weights=auto) the 16-bit model keeps its weights' type
    # on the GPU: the tensor-core kernels. f32 weights (exact) here, so
    # that only the output's rounding differs from onnxruntime.
    lowered = subprocess.run(["moe-compile", half_path, "--target=cuda", "--emit=mlir",
                              "-o", "-"], capture_output=True, text=True, check=True).stdout
    suffix = {"float16": "f16w", "bfloat16": "bf16w"}[dtype]
    assert f"llvm.call @moe_cuda_cc_experts_{suffix}" in lowered, lowered[-2000:]
    compiled = subprocess.run(["moe-compile", half_path, "--target=cuda", "--weights=f32",
                               f"--runtime-dir={runtime}", "-o", os.path.join(out, dtype, "half.so")],
                              capture_output=True, text=True)
    assert compiled.returncode == 0 and "warning" not in compiled.stderr, compiled.stderr
    half_model = compiled_model.Model(os.path.join(out, dtype, "half.so"))
    half_model.lib.moe_model_test_emulated_copies.restype = ctypes.c_int64
    for tokens in (1, 7, 33):
        x = rng.standard_normal((tokens, 16)).astype(numpy_type)
        logits = untied_logits(rng, tokens, 8, numpy_type)
        (expected,) = run_onnxruntime(twin_path, {"x": x.astype(np.float32),
                                                  "logits": logits.astype(np.float32)})
        for api in ("host", "device"):
            before = half_model.lib.moe_model_test_emulated_copies()
            (actual,) = (half_model.run([x, logits]) if api == "host" else
                         half_model.run_device([x, logits],
                                               cuda_lib=device_memory(half_model.lib)))
            assert actual.dtype == numpy_type, actual.dtype
            error = np.abs(actual.astype(np.float32) - expected).max()
            assert error <= ulp * max(1.0, np.abs(expected).max()), (dtype, tokens, api, error)
            if api == "device":
                assert half_model.lib.moe_model_test_emulated_copies() == before, "staged"
    print(f"OK: a {dtype} export runs its layer in f32 on the CUDA kernels, device-resident, "
          f"matching onnxruntime to {dtype} rounding (its own type's tensor-core kernels by "
          "default)")

# bfloat16 torch.onnx.export files on the CUDA kernels, device-resident,
# matching PyTorch in f32 on the same bf16 weights and inputs to the
# output's bf16 rounding: Hugging Face's Mixtral block (float casts in its
# routing, looked through by moe-raise: one layer call), and a causal
# decoder layer around it, whose attention and norms moe-widen-half
# rebuilds in f32 (one cast in, one out: the rest device calls in f32,
# the projections' weights bf16 again for cuBLAS's tensor-core GEMM, and
# prefill's attention on the tensor-core kernel).
import torch  # noqa: E402

import hf_moe_blocks  # noqa: E402


def check_bf16_export(name, block, what, calls=(), attention_rows=None):
    """Exports `block` in bf16, compiles it with the default (auto: bf16)
    weights, checks the calls its ops became and runs it on host and
    device buffers at 1 to 70 tokens against PyTorch in f32. With
    attention_rows (rows of a k/v head's group per token), its attention
    must run on the tensor cores (bf16) from 64 rows on (prefill) and on
    the f32 kernel below (decode)."""
    torch.manual_seed(1)
    for parameter in block.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    block = block.eval().to(torch.bfloat16)
    export_path = os.path.join(out, name + ".onnx")
    with torch.no_grad():
        torch.onnx.export(block, (torch.randn(2, 3, 16).to(torch.bfloat16),), export_path,
                          input_names=["x"], output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "batch", 1: "seq"},
                                        "y": {0: "batch", 1: "seq"}})
    os.makedirs(os.path.join(out, name))
    library = os.path.join(out, name, "model.so")
    compiled = subprocess.run(["moe-compile", export_path, "--target=cuda",  # bf16: auto
                               f"--runtime-dir={runtime}", "-o", library],
                              capture_output=True, text=True)
    assert compiled.returncode == 0 and "warning" not in compiled.stderr, compiled.stderr
    if calls:  # what its ops became
        text = subprocess.run(["moe-compile", export_path, "--target=cuda", "--emit=mlir",
                               "-o", "-"], capture_output=True, text=True, check=True).stdout
        assert all(f"llvm.call @{call}(" in text for call in calls), (name, calls)
    export_model = compiled_model.Model(library)
    export_model.lib.moe_model_test_emulated_copies.restype = ctypes.c_int64
    mma_attention = export_model.lib.moe_model_test_kernel_launches_of
    mma_attention.restype, mma_attention.argtypes = ctypes.c_int64, [ctypes.c_char_p]
    reference = block.float()
    for tokens in (1, 7, 33, 70):
        x = torch.randn(1, tokens, 16, generator=torch.Generator().manual_seed(tokens))
        x = x.to(torch.bfloat16)
        with torch.no_grad():
            expected = reference(x.float()).numpy()
        for api in ("host", "device"):
            before = export_model.lib.moe_model_test_emulated_copies()
            launched = mma_attention(b"attentionMma")
            feed = [x.float().numpy().astype(ml_dtypes.bfloat16)]
            (actual,) = (export_model.run(feed) if api == "host" else
                         export_model.run_device(feed, cuda_lib=device_memory(export_model.lib)))
            error, cosine = cuda_test_models.error_and_cosine(actual.astype(np.float32),
                                                              expected)
            assert error <= cuda_test_models.tolerance("bf16") and cosine > 0.999, \
                (name, tokens, api, error, cosine)
            if attention_rows:
                # (A device run runs twice: its outputs' sizing probe.)
                expected_mma = int(tokens * attention_rows >= 64) * (1 + (api == "device"))
                assert mma_attention(b"attentionMma") - launched == expected_mma, \
                    (name, tokens, api, "tensor-core attention")
            if api == "device":
                assert export_model.lib.moe_model_test_emulated_copies() == before, "staged"
    print(f"OK: a bfloat16 torch export of {what} runs on the CUDA kernels, "
          "device-resident, matching PyTorch in f32")


check_bf16_export("mixtral_bf16_export",
                  hf_moe_blocks.MixtralSparseMoeBlock(d=16, f=32, num_experts=4, top_k=2),
                  "the Mixtral block")
check_bf16_export("decoder_bf16_export",
                  hf_moe_blocks.DecoderLayer(
                      hf_moe_blocks.MixtralSparseMoeBlock(d=16, f=16, num_experts=4, top_k=2),
                      d=16, heads=2, causal=True),
                  "a causal decoder layer",
                  # bf16 weights (auto) for the projections and prefill's
                  # attention: tensor cores; the norm before the q/k/v
                  # projections and the attention before the output one
                  # write their activations in bf16.
                  calls=("moe_cuda_cc_matmul_bf16", "moe_cuda_cc_attention_f32",
                         "moe_cuda_cc_rms_norm_bf16"),
                  attention_rows=1)


# A bfloat16 decoder layer with a KV cache (rotary, grouped-query, causal):
# the cache stays bf16 end to end - its concats are bf16 calls that round
# the new tokens' f32 keys and values as they copy, the attention reads
# the bf16 cache as it is - so no cast of the whole cache in or out (2
# casts in all: x in, y out; the input norm writes the projections' bf16
# activations itself). Matches
# PyTorch in f32 on the same bf16 weights and inputs at decode and at a
# prefill on the tensor cores; the past rows of present_k/v are the past
# inputs bit for bit.
def check_bf16_cache():
    layer = hf_moe_blocks.DecoderLayer(
        hf_moe_blocks.MixtralSparseMoeBlock(d=16, f=16, num_experts=4, top_k=2),
        d=16, heads=4, causal=True, rotary=True, kv_heads=2)
    torch.manual_seed(2)
    for parameter in layer.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    layer = layer.eval().to(torch.bfloat16)
    path = os.path.join(out, "cache_bf16.onnx")
    past = torch.randn(2, 2, 4, 4).to(torch.bfloat16)
    cache_axes = {0: "batch", 2: "past"}
    with torch.no_grad():
        torch.onnx.export(
            layer, (torch.randn(2, 3, 16).to(torch.bfloat16), past, past.clone()), path,
            input_names=["x", "past_k", "past_v"],
            output_names=["y", "present_k", "present_v"], opset_version=17,
            dynamic_axes={"x": {0: "batch", 1: "seq"}, "past_k": cache_axes,
                          "past_v": cache_axes, "y": {0: "batch", 1: "seq"},
                          "present_k": {0: "batch", 2: "total"},
                          "present_v": {0: "batch", 2: "total"}})
    text = subprocess.run(["moe-compile", path, "--target=cuda", "--emit=mlir", "-o", "-"],
                          capture_output=True, text=True, check=True).stdout
    assert text.count("llvm.call @moe_cuda_cc_cast(") == 2 and \
        text.count("llvm.call @moe_cuda_cc_concat_bf16(") == 2 and \
        text.count("llvm.call @moe_cuda_cc_rms_norm_bf16(") == 1 and \
        text.count("llvm.call @moe_cuda_cc_matmul_bf16(") == 4, "a cast left in"
    os.makedirs(os.path.join(out, "cache_bf16"))
    model = compiled_model.Model(compiled_model.compile_model(
        path, os.path.join(out, "cache_bf16"), ["--target=cuda", f"--runtime-dir={runtime}"]))
    model.lib.moe_model_test_emulated_copies.restype = ctypes.c_int64
    mma_attention = model.lib.moe_model_test_kernel_launches_of
    mma_attention.restype, mma_attention.argtypes = ctypes.c_int64, [ctypes.c_char_p]
    reference = layer.float()
    for past_len, tokens in ((5, 1), (31, 1), (2, 70)):
        generator = torch.Generator().manual_seed(past_len + tokens)
        x = torch.randn(2, tokens, 16, generator=generator).to(torch.bfloat16)
        past_k, past_v = (torch.randn(2, 2, past_len, 4, generator=generator)
                          .to(torch.bfloat16) for _ in range(2))
        with torch.no_grad():
            expected = [t.numpy() for t in reference(x.float(), past_k.float(),
                                                     past_v.float())]
        feed = [t.float().numpy().astype(ml_dtypes.bfloat16) for t in (x, past_k, past_v)]
        for api in ("host", "device"):
            launched = mma_attention(b"attentionMma")
            copies = model.lib.moe_model_test_emulated_copies()
            actual = (model.run(feed) if api == "host" else
                      model.run_device(feed, cuda_lib=device_memory(model.lib)))
            for name, got, want in zip(("y", "present_k", "present_v"), actual, expected):
                error, cosine = cuda_test_models.error_and_cosine(got.astype(np.float32), want)
                assert error <= cuda_test_models.tolerance("bf16") and cosine > 0.999, \
                    (past_len, tokens, api, name, error, cosine)
            for got, given in zip(actual[1:], feed[1:]):
                assert np.array_equal(got[:, :, :past_len].view(np.uint16),
                                      given.view(np.uint16)), (past_len, tokens, api)
            # Prefill's attention on the tensor cores (a device run runs
            # twice: its outputs' sizing probe).
            expected_mma = int(tokens * 2 >= 64) * (1 + (api == "device"))
            assert mma_attention(b"attentionMma") - launched == expected_mma, \
                (past_len, tokens, api, "tensor-core attention")
            if api == "device":  # device-resident: nothing staged
                assert model.lib.moe_model_test_emulated_copies() == copies, "staged"
    print("OK: a bfloat16 decoder layer keeps its KV cache in bf16 (concats rounding the new "
          "tokens, the attention reading the cache as it is), matching PyTorch in f32")


check_bf16_cache()

# Decode at a size whose grouped matmuls split K (d = f = 256: 8 k tiles of
# 32, few column tiles): in compiled code (the per-thread stream) each
# tile's last split finishes it in the same launch - the layer launches
# what it does unsplit (5 for ONNX Runtime's MoE op at T = 1: routing,
# permutation with the gather, up, down, combine), not two finish kernels more -
# and matches onnxruntime, run after run (the tile counters reset).
from onnx_models import microsoft_moe  # noqa: E402

split_path = os.path.join(out, "split.onnx")
microsoft_moe(split_path, 4, 256, 256, activation="swiglu", k=2, fusion=1, biases=True, seed=5)
os.makedirs(os.path.join(out, "split"))
split_model = compiled_model.Model(compiled_model.compile_model(
    split_path, os.path.join(out, "split"),
    ["--target=cuda", "--weights=bf16", f"--runtime-dir={runtime}"]))
split_model.lib.moe_model_test_kernel_launches.restype = ctypes.c_int64
for run in range(3):
    feeds = {"x": rng.standard_normal((1, 256)).astype(np.float32),
             "logits": rng.standard_normal((1, 4)).astype(np.float32)}
    (expected,) = run_onnxruntime(split_path, feeds)
    launched = split_model.lib.moe_model_test_kernel_launches()
    (actual,) = split_model.run(list(feeds.values()))
    launches = split_model.lib.moe_model_test_kernel_launches() - launched
    error, cosine = cuda_test_models.error_and_cosine(actual, expected)
    assert error <= cuda_test_models.tolerance("bf16") and cosine > 0.999, (run, error, cosine)
    assert launches == 5, launches
print("OK: decode's split-K finishes in the matmul's own launch in compiled code "
      "(5 launches at T=1), matching onnxruntime run after run")
