"""The moe_compiler package against onnxruntime on the same ONNX files.

Run by scripts/test.sh with PYTHONPATH holding build/python_packages (the
package) and test/lib (the test-model builders)."""

import importlib.util
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import onnxruntime as ort
import pytest

import cuda_devices
import moe_compiler
from onnx_models import microsoft_moe, odd_names

E, D, F = 8, 16, 12

# torch's exporter warns about constructs the test blocks use on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def ort_run(path, feeds):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


@pytest.fixture(scope="module")
def moe_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("moe") / "moe.onnx")
    microsoft_moe(path, E, D, F, activation="swiglu", k=2, fusion=1,
                  biases=True, seed=3)
    return path


def feeds_for(tokens, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((tokens, D)).astype(np.float32),
            "logits": rng.standard_normal((tokens, E)).astype(np.float32)}


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("tokens", [1, 7, 33])
def test_matches_onnxruntime(moe_model, tokens, reference):
    model = moe_compiler.compile(moe_model, reference=reference)
    feeds = feeds_for(tokens, seed=tokens)
    got = model.run(feeds)
    want = ort_run(moe_model, feeds)
    assert list(got) == ["y"]
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-4, atol=1e-5)


def test_signature_and_list_inputs(moe_model):
    model = moe_compiler.compile(moe_model)
    assert model.inputs == [("x", "float32", (None, D)),
                            ("logits", "float32", (None, E))]
    assert model.outputs == [("y", "float32", (None, D))]
    assert moe_compiler.describe(model.path) == (model.inputs, model.outputs)
    feeds = feeds_for(5)
    by_list = model([feeds["x"], feeds["logits"]])["y"]
    np.testing.assert_array_equal(by_list, model.run(feeds)["y"])


def test_compile_bytes_output_path_and_load(moe_model, tmp_path):
    with open(moe_model, "rb") as f:
        data = f.read()
    output = tmp_path / "from_bytes.so"
    compiled = moe_compiler.compile(data, output=output)
    assert output.exists()
    loaded = moe_compiler.load(output, num_threads=1)
    feeds = feeds_for(9)
    np.testing.assert_array_equal(compiled.run(feeds)["y"],
                                  loaded.run(feeds)["y"])


@pytest.mark.parametrize("weights,kernel,bound", [
    ("bf16", "moe_cc_grouped_matmul_packed_bf16w", 2e-2),
    ("int8", "moe_cc_grouped_matmul_packed_i8w", 3e-2),
])
def test_compressed_weights(moe_model, weights, kernel, bound):
    model = moe_compiler.compile(moe_model, weights=weights, dump_ir=True)
    assert kernel in model.ir["llvm-dialect"]
    feeds = feeds_for(17)
    got, want = model.run(feeds)["y"], ort_run(moe_model, feeds)["y"]
    assert np.abs(got - want).max() <= bound * np.abs(want).max()


@pytest.mark.skipif(not os.path.exists(os.path.join(
    os.path.dirname(moe_compiler.__file__), "lib", "libmoe_runtime_cuda.a")),
    reason="built without the CUDA runtime")
def test_target_cuda(moe_model, tmp_path):
    """--target=cuda from Python: with a GPU it matches onnxruntime; without
    one, loading (which uploads the expert weights) fails with CUDA's
    reason."""
    output = str(tmp_path / "cuda.so")
    if cuda_devices.device_count() == 0:
        with pytest.raises(moe_compiler.ModelError,
                           match="moe_cuda_cc_preload.*device error"):
            moe_compiler.compile(moe_model, output, target="cuda")
        assert os.path.exists(output)
        # Described without an instance, so without a GPU.
        inputs, outputs = moe_compiler.describe(output)
        assert inputs == [("x", "float32", (None, D)), ("logits", "float32", (None, E))]
        assert outputs == [("y", "float32", (None, D))]
        return
    model = moe_compiler.compile(moe_model, output, target="cuda", dump_ir=True)
    assert "moe_cuda_cc_" in model.ir["llvm-dialect"]
    feeds = feeds_for(17)
    got, want = model.run(feeds)["y"], ort_run(moe_model, feeds)["y"]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    if importlib.util.find_spec("torch"):  # the same on CUDA buffers
        import torch
        on_device = model.run_device({k: torch.from_numpy(v).cuda() for k, v in feeds.items()})
        np.testing.assert_allclose(on_device["y"].cpu().numpy(), want, rtol=1e-3, atol=1e-4)


class FakeCudaBuffer:
    """Host memory dressed as a CUDA buffer (__cuda_array_interface__):
    enough for the checks that refuse before any byte is read."""

    def __init__(self, array):
        self.array = array
        self.__cuda_array_interface__ = {
            "shape": array.shape, "typestr": array.dtype.str, "strides": None,
            "data": (array.ctypes.data, False), "version": 3}


def test_run_device_errors(moe_model):
    """run_device wants CUDA buffers of the model's dtypes, and a model
    compiled for the CPU refuses them with the reason."""
    model = moe_compiler.compile(moe_model)
    feeds = feeds_for(4)
    fake = {k: FakeCudaBuffer(v) for k, v in feeds.items()}
    out = [FakeCudaBuffer(np.zeros((4, D), np.float32))]
    with pytest.raises(moe_compiler.ModelError, match="input 'x': ndarray is not a CUDA buffer"):
        model.run_device(feeds, out)
    with pytest.raises(moe_compiler.ModelError, match="dtype float64, the model wants float32"):
        model.run_device({**fake, "x": FakeCudaBuffer(feeds["x"].astype(np.float64))}, out)
    with pytest.raises(moe_compiler.ModelError, match="missing output 'y'"):
        model.run_device(fake, {})
    with pytest.raises(moe_compiler.ModelError,
                       match="compiled for the CPU; device buffers need a model "
                             "compiled with --target=cuda"):
        model.run_device(fake, out)


STAGED_RUN = """
import sys
import numpy as np
import moe_compiler
sys.path.insert(0, sys.argv[4])
from test_moe_compiler import FakeCudaBuffer, feeds_for
model = moe_compiler.load(sys.argv[1])
feeds = feeds_for(9)
want = model.run(feeds)["y"]
out = np.full((9, int(sys.argv[2])), np.nan, np.float32)
got = model.run_device({k: FakeCudaBuffer(v) for k, v in feeds.items()},
                       {"y": FakeCudaBuffer(out)})["y"]
assert got.array is out
assert np.array_equal(out, want), np.abs(out - want).max()
np.save(sys.argv[3], out)
try:
    model.run_device({k: FakeCudaBuffer(v) for k, v in feeds.items()},
                     [FakeCudaBuffer(np.zeros(3, np.float32))])
except moe_compiler.ModelError as error:
    print("too small:", error)
"""


def run_with_fake_cuda(tmp_path, script, *args):
    """Runs `script` (argv[1:]: `args`, then this folder) in a Python with
    the fake CUDA copy of test/lib/fake_cuda_copy.c preloaded: host memory
    standing in for device memory, so that run_device stages a CPU model's
    buffers without a GPU."""
    fake = str(tmp_path / "libfake.so")
    source = os.path.join(os.path.dirname(cuda_devices.__file__), "fake_cuda_copy.c")
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang-22")
    subprocess.run([compiler, "-shared", "-fPIC", "-o", fake, source], check=True)
    preload = " ".join(filter(None, [os.environ.get("LD_PRELOAD"), fake]))
    result = subprocess.run(
        [sys.executable, "-c", script, *args, os.path.dirname(__file__)],
        env=dict(os.environ, LD_PRELOAD=preload), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_run_device_staged(moe_model, tmp_path):
    """run_device end to end without a GPU: a CPU model with a fake CUDA
    copy (host memory standing in for device memory) writes exactly run()'s
    output into the given buffer, which matches onnxruntime; a too-small
    buffer is an error listing the output shapes."""
    library = str(tmp_path / "moe.so")
    moe_compiler.compile(moe_model, library)
    stdout = run_with_fake_cuda(tmp_path, STAGED_RUN, library, str(D),
                                os.path.join(str(tmp_path), "y.npy"))
    assert "too small: an output buffer is too small: the outputs have shapes y [9, 16]" \
        in stdout, stdout
    got = np.load(os.path.join(str(tmp_path), "y.npy"))
    np.testing.assert_allclose(got, ort_run(moe_model, feeds_for(9))["y"], rtol=1e-4, atol=1e-5)


class FakeTorchBfloat16:
    """What run_device sees of a PyTorch bfloat16 CUDA tensor: a dtype, no
    usable __cuda_array_interface__ (PyTorch raises: the interface has no
    type string for bfloat16), and view(torch.int16), which has one."""
    __module__ = "torch"
    dtype = "torch.bfloat16"

    def __init__(self, array):
        self.array = array

    @property
    def __cuda_array_interface__(self):
        raise TypeError("dtype torch.bfloat16 is not supported by __cuda_array_interface__")

    def view(self, dtype):
        return FakeCudaBuffer(self.array.view(np.int16))


BFLOAT16_RUN = """
import sys
import ml_dtypes
import numpy as np
import moe_compiler
sys.path.insert(0, sys.argv[3])
from test_moe_compiler import FakeTorchBfloat16
model = moe_compiler.load(sys.argv[1])
data = dict(np.load(sys.argv[2]))
reference, bound = data.pop("expected"), float(data.pop("bound"))
feeds = {k: v.view(ml_dtypes.bfloat16) for k, v in data.items()}
want = model.run(feeds)["y"]
out = np.zeros(want.shape, ml_dtypes.bfloat16)
got = model.run_device({k: FakeTorchBfloat16(v) for k, v in feeds.items()},
                       {"y": FakeTorchBfloat16(out)})["y"]
assert np.abs(out.astype(np.float32) - reference).max() <= bound
assert np.array_equal(out.view(np.int16), want.view(np.int16))
print("device run matches")
"""


def test_bfloat16_model(tmp_path):
    """A bfloat16 model (inputs and output bf16, numpy's through ml_dtypes)
    matches onnxruntime on its f32 twin (the same weights rounded to bf16)
    to the output's rounding; it takes numpy bfloat16 arrays and PyTorch
    bfloat16 tensors, on the host and as CUDA buffers (staged here; its
    result checked against onnxruntime too)."""
    import ml_dtypes
    from onnx_models import half_with_twin, untied_logits
    twin, half = str(tmp_path / "twin.onnx"), str(tmp_path / "bf16.onnx")
    half_with_twin(twin, half, E, D, F, activation="swiglu", k=2, fusion=1, biases=True,
                   seed=3, dtype="bfloat16")
    library = str(tmp_path / "bf16.so")
    model = moe_compiler.compile(half, library)
    assert model.inputs == [("x", "bfloat16", (None, D)), ("logits", "bfloat16", (None, E))]
    assert model.outputs == [("y", "bfloat16", (None, D))]
    rng = np.random.default_rng(5)
    feeds = {"x": rng.standard_normal((11, D)).astype(ml_dtypes.bfloat16),
             "logits": untied_logits(rng, 11, E, ml_dtypes.bfloat16)}
    got = model.run(feeds)["y"]
    assert got.dtype == ml_dtypes.bfloat16
    want = ort_run(twin, {k: v.astype(np.float32) for k, v in feeds.items()})["y"]
    bound = 2.0 ** -7 * max(1.0, np.abs(want).max())
    assert np.abs(got.astype(np.float32) - want).max() <= bound
    with pytest.raises(moe_compiler.ModelError, match="dtype float32, the model wants bfloat16"):
        model.run({k: v.astype(np.float32) for k, v in feeds.items()})
    if importlib.util.find_spec("torch"):
        import torch
        tensors = {k: torch.from_numpy(v.astype(np.float32)).to(torch.bfloat16)
                   for k, v in feeds.items()}
        assert np.array_equal(model.run(tensors)["y"].view(np.int16), got.view(np.int16))
    np.savez(str(tmp_path / "feeds.npz"), expected=want, bound=bound,
             **{k: v.view(np.int16) for k, v in feeds.items()})
    stdout = run_with_fake_cuda(tmp_path, BFLOAT16_RUN, library, str(tmp_path / "feeds.npz"))
    assert "device run matches" in stdout, stdout


def test_unknown_weight_type(moe_model):
    with pytest.raises(moe_compiler.CompileError,
                       match="weights must be 'auto', 'f32', 'bf16', 'f16' or 'int8'"):
        moe_compiler.compile(moe_model, weights="int4")
    with pytest.raises(moe_compiler.CompileError, match="f16 weights need target 'cuda'"):
        moe_compiler.compile(moe_model, weights="f16")


def test_dump_ir(moe_model):
    model = moe_compiler.compile(moe_model, dump_ir=True)
    assert list(model.ir) == ["onnx", "moe", "llvm-dialect", "llvm-ir"]
    assert "moe.layer" in model.ir["moe"]
    assert "llvm.call @moe_cc_grouped_matmul_packed_f32" in model.ir["llvm-dialect"]
    assert "define" in model.ir["llvm-ir"]
    assert moe_compiler.compile(moe_model).ir == {}


def test_odd_names_layouts_and_dlpack(tmp_path):
    path = str(tmp_path / "odd.onnx")
    odd_names(path)
    model = moe_compiler.compile(path)
    rng = np.random.default_rng(1)
    hidden = np.asfortranarray(rng.standard_normal((6, 4)).astype(np.float32))
    scale = rng.standard_normal((6, 1)).astype(np.float32)
    ids = rng.integers(-5, 5, (6, 1)).astype(np.int64)
    before = hidden.copy()

    class DLPackOnly:
        """Exposes an array through DLPack only."""
        def __init__(self, array):
            self._array = array

        def __dlpack__(self, stream=None):
            return self._array.__dlpack__()

        def __dlpack_device__(self):
            return self._array.__dlpack_device__()

    got = model.run({"hidden states": hidden, "scale": DLPackOnly(scale),
                     "ids": ids})
    want = ort_run(path, {"hidden states": np.ascontiguousarray(hidden),
                          "scale": scale, "ids": ids})
    assert set(got) == {"out/sum", "same", "scaled ids"}
    for name in got:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(hidden, before)


def test_run_errors(moe_model):
    model = moe_compiler.compile(moe_model)
    feeds = feeds_for(4)
    with pytest.raises(moe_compiler.ModelError, match="dtype float64, the model wants float32"):
        model.run({"x": feeds["x"].astype(np.float64), "logits": feeds["logits"]})
    with pytest.raises(moe_compiler.ModelError, match="missing input 'logits'"):
        model.run({"x": feeds["x"]})
    with pytest.raises(moe_compiler.ModelError, match="no input 'h'"):
        model.run({"h": feeds["x"], **feeds})
    with pytest.raises(moe_compiler.ModelError, match="dimension 1 must be 16"):
        model.run({"x": np.zeros((4, 3), np.float32), "logits": feeds["logits"]})
    with pytest.raises(moe_compiler.ModelError, match="has 2 inputs, got 1"):
        model.run([feeds["x"]])


def test_compile_errors(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(moe_compiler.CompileError, match="garbage.onnx.*not a valid ONNX model"):
        moe_compiler.compile(garbage)
    with pytest.raises(moe_compiler.CompileError, match="cannot read the model"):
        moe_compiler.compile(tmp_path / "missing.onnx")
    with pytest.raises(moe_compiler.CompileError, match="configured memory budget"):
        path = str(tmp_path / "odd.onnx")
        odd_names(path)
        moe_compiler.compile(path, max_weight_bytes=8)
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        moe_compiler.compile(garbage, target="tpu")
    runtime = os.environ.get("MOE_RUNTIME_LIB")
    if runtime:
        with pytest.raises(moe_compiler.ModelError, match="not a compiled MoE model"):
            moe_compiler.load(runtime)


def test_stats(moe_model):
    model = moe_compiler.compile(moe_model)
    feeds = feeds_for(10)
    model.reset_stats()
    model.run(feeds)
    assert model.stats()["layers"] == []
    model.record_stats()
    model.run(feeds)
    model.run(feeds)
    model.record_stats(False)
    model.run(feeds)
    (layer,) = model.stats()["layers"]
    assert layer["calls"] == 2 and layer["tokens"] == 20
    assert sum(layer["tokens_per_expert"]) == 2 * 10 * 2
    model.reset_stats()
    assert model.stats()["layers"] == []


def test_concurrent_runs(moe_model):
    model = moe_compiler.compile(moe_model)
    inputs = [feeds_for(t, seed=t) for t in (1, 3, 8, 16, 33, 2, 64, 5)]
    serial = [model.run(f)["y"] for f in inputs]
    results, errors = {}, []

    def worker(i):
        try:
            results[i] = [model.run(inputs[i])["y"] for _ in range(5)]
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, runs in results.items():
        for r in runs:
            np.testing.assert_array_equal(r, serial[i])


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="needs torch to export the model")
def test_torch_export_mixtral(tmp_path):
    import hf_moe_blocks as blocks
    path = str(tmp_path / "mixtral.onnx")
    blocks.export(blocks.MixtralSparseMoeBlock(d=16, f=32, num_experts=4,
                                               top_k=2), path, d=16, seed=1)
    model = moe_compiler.compile(path)
    x = np.random.default_rng(2).standard_normal((2, 7, 16)).astype(np.float32)
    np.testing.assert_allclose(model.run({"x": x})["y"],
                               ort_run(path, {"x": x})["y"],
                               rtol=1e-4, atol=1e-5)
