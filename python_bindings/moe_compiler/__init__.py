"""Compile ONNX models with Mixture-of-Experts layers and run them.

    import numpy as np
    import moe_compiler

    model = moe_compiler.compile("mixtral_block.onnx")       # -> Model
    print(model.inputs)       # [TensorInfo(name='x', dtype='float32', shape=(None, None, 64))]
    y = model.run({"x": np.random.rand(2, 16, 64).astype(np.float32)})["y"]

`compile` writes a shared library (to a temporary directory unless
`output=` names one) and loads it; `load` loads one compiled before (with
`moe-compile model.onnx -o model.so`). Runs release the GIL, so one model
may be run from several threads at once.
"""

import json
import os
import tempfile
from collections import namedtuple

import numpy as np

try:  # numpy's bfloat16 (bf16 model inputs and outputs) comes from ml_dtypes
    import ml_dtypes
except ImportError:
    ml_dtypes = None

from ._moe import MODEL_API_VERSION, CompileError, ModelError, _compile, _describe, _Model

__all__ = ["compile", "load", "Model", "TensorInfo", "CompileError",
           "ModelError", "MODEL_API_VERSION"]

TensorInfo = namedtuple("TensorInfo", ["name", "dtype", "shape"])
TensorInfo.__doc__ = ("An input or output: its ONNX name, numpy dtype name "
                      "and shape (None for dimensions chosen at run time).")


def _runtime_dir():
    """The runtime archives shipped next to this package (an installed
    package), or "" to let the compiler use its build's."""
    bundled = os.path.join(os.path.dirname(__file__), "lib")
    return bundled if os.path.exists(os.path.join(bundled, "libmoe_model.a")) else ""


class Model:
    """A loaded compiled model (one instance of its C API)."""

    def __init__(self, path, num_threads=0):
        if num_threads < 0:
            raise ValueError("num_threads must be 0 (all cores) or positive")
        self.path = os.fspath(path)
        self._model = _Model(self.path, num_threads)
        self.inputs = [TensorInfo(*t) for t in self._model.inputs()]
        self.outputs = [TensorInfo(*t) for t in self._model.outputs()]
        if ml_dtypes is None and any(t.dtype == "bfloat16" for t in self.inputs + self.outputs):
            raise ModelError(f"{self.path} takes or returns bfloat16 tensors: numpy "
                             "has them through the ml_dtypes package (pip install ml_dtypes)")
        self.ir = {}
        self._keep = None

    def run(self, inputs):
        """Runs the model. `inputs`: {name: array} (or a list in input
        order); arrays may be numpy arrays or anything with __dlpack__.
        Returns {output name: numpy array}."""
        arrays = [_as_array(a) for a in self._ordered(inputs, self.inputs, "input")]
        results = self._model.run(arrays)
        return {o.name: r for o, r in zip(self.outputs, results)}

    __call__ = run

    def run_device(self, inputs, outputs=None, stream=0):
        """Runs a model compiled with target="cuda" on CUDA buffers
        (moe_model_run_device: device-resident when only the CUDA kernels
        touch the graph's data, else staged through host memory). `inputs`: {name: tensor} or a list in input
        order, C-contiguous objects with __cuda_array_interface__ (PyTorch
        CUDA tensors, CuPy arrays) of the model's dtypes. `outputs`: {name:
        tensor} (or a list) to write into, or None to allocate them with
        PyTorch (after a sizing run: the model runs twice; pass buffers to
        avoid it). `stream`: a cudaStream_t as an int (0: the default
        stream), e.g. torch.cuda.current_stream().cuda_stream. Returns
        {output name: tensor}: the given buffer, or a view of it in the
        output's shape."""
        ordered = self._ordered(inputs, self.inputs, "input")
        described = []
        for info, tensor in zip(self.inputs, ordered):
            pointer, shape, dtype = _cuda_buffer(tensor, f"input {info.name!r}")
            if dtype != np.dtype(info.dtype):
                raise ModelError(f"input {info.name!r}: dtype {dtype}, "
                                 f"the model wants {info.dtype}")
            described.append((pointer, shape))
        if outputs is None:
            import torch  # only to allocate outputs
            probe = torch.empty(1, dtype=torch.uint8, device="cuda")
            written, shapes = self._model.run_device(
                described, [(probe.data_ptr(), 0)] * len(self.outputs), stream)
            outputs = [torch.empty(shape, dtype=_torch_dtype(torch, info.dtype), device="cuda")
                       for info, shape in zip(self.outputs, shapes)]
        buffers = self._ordered(outputs, self.outputs, "output")
        described_outputs, buffer_shapes = [], []
        for info, tensor in zip(self.outputs, buffers):
            pointer, shape, dtype = _cuda_buffer(tensor, f"output {info.name!r}")
            described_outputs.append((pointer, int(np.prod(shape)) * dtype.itemsize))
            buffer_shapes.append(shape)
        written, shapes = self._model.run_device(described, described_outputs, stream)
        if not written:
            raise ModelError("an output buffer is too small: the outputs have shapes "
                             + ", ".join(f"{o.name} {list(s)}" for o, s in zip(self.outputs, shapes)))
        # A buffer of the output's shape is returned as it is, others as a
        # view of their first elements in that shape.
        return {o.name: b if tuple(have) == tuple(s)
                else b.reshape(-1)[:int(np.prod(s))].reshape(s)
                for o, b, have, s in zip(self.outputs, buffers, buffer_shapes, shapes)}

    @staticmethod
    def _ordered(values, infos, what):
        """`values` as a list in the order of `infos` ({name: value} or a
        list)."""
        if not isinstance(values, dict):
            return list(values)
        names = [i.name for i in infos]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ModelError(f"the model has no {what} {unknown[0]!r} "
                             f"(its {what}s: {', '.join(map(repr, names))})")
        missing = [n for n in names if n not in values]
        if missing:
            raise ModelError(f"missing {what} {missing[0]!r}")
        return [values[n] for n in names]

    def record_stats(self, on=True):
        """Starts (or stops) recording routing statistics in later runs.
        They are kept per model library: all instances of it together."""
        self._model.record_stats(bool(on))

    def reset_stats(self):
        self._model.reset_stats()

    def stats(self):
        """The routing statistics recorded so far: {"layers": [{"name",
        "experts", "top_k", "calls", "tokens", "tokens_per_expert",
        "mean_gate_weight", "mean_probability", "max_over_mean_load",
        "load_cv", "idle_experts", "switch_aux_loss"}, ...]}
        (docs/Statistics.md)."""
        return json.loads(self._model.stats_json())

    def __repr__(self):
        def fmt(infos):
            return ", ".join(f"{i.name}: {i.dtype}{list(i.shape)}" for i in infos)
        return f"<moe_compiler.Model {self.path} ({fmt(self.inputs)}) -> ({fmt(self.outputs)})>"


def _as_array(value):
    if isinstance(value, np.ndarray):
        return value
    if _is_torch_bfloat16(value):  # DLPack to numpy has no bfloat16
        import torch
        return value.detach().cpu().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    if hasattr(value, "__dlpack__"):
        return np.from_dlpack(value)
    return np.asarray(value)


def _cuda_buffer(value, what):
    """(device pointer, shape, numpy dtype) of a C-contiguous object with
    __cuda_array_interface__ (or a PyTorch bfloat16 CUDA tensor, which
    has none: the interface has no type string for bfloat16)."""
    if _is_torch_bfloat16(value):
        import torch
        pointer, shape, _ = _cuda_buffer(value.view(torch.int16), what)
        return pointer, shape, np.dtype("bfloat16")
    interface = getattr(value, "__cuda_array_interface__", None)
    if interface is None:
        raise ModelError(f"{what}: {type(value).__name__} is not a CUDA buffer "
                         "(no __cuda_array_interface__); use run() for host arrays")
    shape = tuple(int(d) for d in interface["shape"])
    dtype = np.dtype(interface["typestr"])
    strides = interface.get("strides")
    if strides is not None:
        expected, step = [], dtype.itemsize
        for size in reversed(shape):
            expected.insert(0, step)
            step *= size
        if tuple(strides) != tuple(expected) and int(np.prod(shape)) > 1:
            raise ModelError(f"{what}: not C-contiguous")
    return int(interface["data"][0]), shape, dtype


def _is_torch_bfloat16(value):
    return type(value).__module__.startswith("torch") and \
        str(getattr(value, "dtype", "")) == "torch.bfloat16"


def _torch_dtype(torch, numpy_name):
    return {"float32": torch.float32, "float64": torch.float64, "int32": torch.int32,
            "int64": torch.int64, "int8": torch.int8, "uint8": torch.uint8,
            "bool": torch.bool, "float16": torch.float16,
            "bfloat16": torch.bfloat16}[numpy_name]


def describe(path):
    """(inputs, outputs) of a compiled model library as TensorInfo lists,
    without creating an instance: nothing is uploaded, so a model compiled
    with target="cuda" can be described on a machine without a GPU."""
    inputs, outputs = _describe(os.fspath(path))
    return [TensorInfo(*t) for t in inputs], [TensorInfo(*t) for t in outputs]


def load(path, num_threads=0):
    """Loads a model compiled with `moe-compile --emit=so`."""
    return Model(path, num_threads)


def compile(model, output=None, *, target="cpu", opt_level=2, num_threads=0,
            reference=False, dump_ir=False, linker="", max_weight_bytes=0,
            weights="auto"):
    """Compiles an ONNX model (a path, or the model's bytes) into a shared
    library and loads it.

    output:      where the .so goes (default: a temporary directory that
                 lives as long as the returned Model)
    target:      "cpu", or "cuda" (MoE kernels on an NVIDIA GPU, f32 or
                 bf16 weights; the model then needs libcudart and a GPU)
    opt_level:   LLVM optimization level, 0-3
    num_threads: threads the model's kernels may use (0: all cores)
    reference:   lower MoE layers with the slow reference lowering
    dump_ir:     keep the IR after each stage in Model.ir ("onnx", "moe",
                 "llvm-dialect", "llvm-ir")
    max_weight_bytes: refuse models whose weights declare more bytes
                 (checked before reading them; 0: no limit)
    weights:     "auto" (f32; for target="cuda" a bfloat16 or float16
                 model's own type), "f32", "f16" (target="cuda"), "bf16"
                 to store constant expert weights as
                 bfloat16 (half the bytes, fp32 accumulation), or "int8"
                 (a quarter of the bytes, one scale per expert and output
                 column, fp32 accumulation)
    Raises CompileError with the compiler's diagnostics on failure."""
    if target not in ("cpu", "cuda"):
        raise ValueError(f"target {target!r} is not available ('cpu' or 'cuda')")
    keep = None
    if isinstance(model, (bytes, bytearray, memoryview)):
        keep = tempfile.TemporaryDirectory(prefix="moe-compile-")
        path = os.path.join(keep.name, "model.onnx")
        with open(path, "wb") as f:
            f.write(bytes(model))
        model = path
    model = os.fspath(model)
    if output is None:
        keep = keep or tempfile.TemporaryDirectory(prefix="moe-compile-")
        stem = os.path.splitext(os.path.basename(model))[0]
        output = os.path.join(keep.name, stem + ".so")
    output = os.fspath(output)
    # Threads are the instance's choice (its oneTBB arena), not baked in.
    stages = _compile(model, output, "so", opt_level, 0, reference, dump_ir,
                      _runtime_dir(), linker, max_weight_bytes, weights, target)
    loaded = Model(output, num_threads)
    loaded.ir = dict(stages)
    loaded._keep = keep
    return loaded
