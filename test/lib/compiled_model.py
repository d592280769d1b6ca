"""Compiles an ONNX model with `moe-compile --emit=so` and runs it through
the model C API (runtime/include/moe_model.h) with ctypes.

ctypes releases the GIL during foreign calls, so runs from several Python
threads really run at once (the concurrency tests rely on that)."""

import ctypes
import json
import os
import subprocess
import time

import ml_dtypes
import numpy as np

MAX_RANK = 8
API_VERSION = 1
OK, INVALID_ARGUMENT, OUTPUT_TOO_SMALL = 0, 1, 2

DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.int64,
          5: np.int8, 6: np.uint8, 7: np.bool_, 8: np.float16,
          9: ml_dtypes.bfloat16}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}


class Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32),
                ("rank", ctypes.c_int32),
                ("shape", ctypes.c_int64 * MAX_RANK),
                ("capacity", ctypes.c_size_t)]


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int32),
                ("rank", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64))]


class Options(ctypes.Structure):
    _fields_ = [("num_threads", ctypes.c_int32)]


class ModelError(RuntimeError):
    def __init__(self, status, message):
        super().__init__(f"status {status}: {message}")
        self.status = status
        self.message = message


def _declare(lib):
    lib.moe_model_create.argtypes = [ctypes.POINTER(Options),
                                     ctypes.POINTER(ctypes.c_void_p)]
    lib.moe_model_destroy.argtypes = [ctypes.c_void_p]
    lib.moe_model_destroy.restype = None
    for name in ("moe_model_num_inputs", "moe_model_num_outputs"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    for name in ("moe_model_input", "moe_model_output"):
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int32]
        getattr(lib, name).restype = ctypes.POINTER(TensorInfo)
    lib.moe_model_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(Tensor),
                                  ctypes.c_int32, ctypes.POINTER(Tensor),
                                  ctypes.c_int32]
    lib.moe_model_run_device.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(Tensor), ctypes.c_int32,
        ctypes.POINTER(Tensor), ctypes.c_int32, ctypes.c_void_p]
    lib.moe_model_stats_enable.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.moe_model_stats_enable.restype = None
    lib.moe_model_stats_json.argtypes = [ctypes.c_void_p]
    lib.moe_model_stats_json.restype = ctypes.c_void_p
    lib.moe_model_last_error.argtypes = [ctypes.c_void_p]
    lib.moe_model_last_error.restype = ctypes.c_char_p
    lib.moe_model_free_buffer.argtypes = [ctypes.c_void_p]
    lib.moe_model_free_buffer.restype = None


def _info(pointer):
    info = pointer.contents
    return (info.name.decode(), DTYPES[info.dtype],
            tuple(info.shape[i] for i in range(info.rank)))


class Model:
    """One instance of a compiled model library."""

    def __init__(self, path, num_threads=0):
        self.lib = ctypes.CDLL(path)
        _declare(self.lib)
        assert self.lib.moe_model_api_version() == API_VERSION
        handle = ctypes.c_void_p()
        status = self.lib.moe_model_create(ctypes.byref(Options(num_threads)),
                                           ctypes.byref(handle))
        if status != OK:
            raise ModelError(status, self.lib.moe_model_last_error(None).decode())
        self.handle = handle
        n_in = self.lib.moe_model_num_inputs(handle)
        n_out = self.lib.moe_model_num_outputs(handle)
        self.inputs = [_info(self.lib.moe_model_input(handle, i))
                       for i in range(n_in)]
        self.outputs = [_info(self.lib.moe_model_output(handle, i))
                        for i in range(n_out)]

    def __del__(self):
        if getattr(self, "handle", None):
            self.lib.moe_model_destroy(self.handle)

    def run(self, inputs, out_buffers=None):
        """Runs on `inputs` (arrays in input order); returns the outputs.
        With `out_buffers` (arrays), the model writes into them."""
        kept = [np.ascontiguousarray(a) for a in inputs]
        tensors = self._tensors(kept, [a.ctypes.data for a in kept])
        outs = (Tensor * max(len(self.outputs), 1))()
        if out_buffers is not None:
            for t, a in zip(outs, out_buffers):
                t.data = a.ctypes.data
                t.capacity = a.nbytes
        status = self.lib.moe_model_run(self.handle, tensors, len(kept), outs,
                                        len(self.outputs))
        if status != OK:
            raise ModelError(status,
                             self.lib.moe_model_last_error(self.handle).decode())
        results = []
        for i, t in enumerate(outs[:len(self.outputs)]):
            shape = tuple(t.shape[d] for d in range(t.rank))
            if out_buffers is not None:
                results.append(out_buffers[i].reshape(-1)[:int(np.prod(shape))]
                               .reshape(shape))
                continue
            dtype = np.dtype(DTYPES[t.dtype])
            count = int(np.prod(shape))
            buffer = (ctypes.c_char * (count * dtype.itemsize)).from_address(
                t.data)
            results.append(np.frombuffer(buffer, dtype=dtype).reshape(shape)
                           .copy())
            self.lib.moe_model_free_buffer(t.data)
        return results


    def record_stats(self, on=True):
        self.lib.moe_model_stats_enable(self.handle, 1 if on else 0)

    def stats(self):
        """The routing statistics (moe_model_stats_json) as a dict."""
        pointer = self.lib.moe_model_stats_json(self.handle)
        assert pointer, "moe_model_stats_json: out of memory"
        text = ctypes.string_at(pointer).decode()
        self.lib.moe_model_free_buffer(pointer)
        return json.loads(text)

    def _tensors(self, arrays, pointers):
        tensors = (Tensor * max(len(arrays), 1))()
        for t, a, p in zip(tensors, arrays, pointers):
            t.data, t.dtype, t.rank, t.capacity = p, CODES.get(a.dtype, 0), a.ndim, a.nbytes
            for i, size in enumerate(a.shape):
                t.shape[i] = size
        return tensors

    def run_device(self, inputs, cuda_lib=None):
        """Runs through moe_model_run_device on CUDA buffers (a model
        compiled with --target=cuda, on a GPU machine): the inputs are
        copied to device memory, the outputs sized by a first call with
        1-byte buffers (which must answer OUTPUT_TOO_SMALL with every
        shape), then run into device buffers and copied back. cudaMalloc
        and friends come from the model library (which links libcudart),
        or from `cuda_lib`."""
        with _DeviceRun(self, inputs, cuda_lib) as run:
            run()
            return run.results()

    def time_device_runs(self, inputs, repeats, cuda_lib=None):
        """Seconds of each of `repeats` moe_model_run_device calls on device
        buffers set up once (after one untimed call): the model's own
        latency, no copies of the caller's."""
        with _DeviceRun(self, inputs, cuda_lib) as run:
            run()
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
            return times


class _DeviceRun:
    """Device copies of a run's inputs and device outputs sized by a probe
    call (which must answer OUTPUT_TOO_SMALL with every shape); calling it
    runs moe_model_run_device on them."""

    def __init__(self, model, inputs, cuda_lib):
        self.model = model
        self.cuda = _Cuda(cuda_lib or model.lib)
        self.kept = [np.ascontiguousarray(a) for a in inputs]
        self.pointers = []

    def __enter__(self):
        model, cuda = self.model, self.cuda
        try:
            self.device_inputs = [cuda.upload(a) for a in self.kept]
            self.pointers += self.device_inputs
            probes = [cuda.malloc(1) for _ in model.outputs]
            self.pointers += probes
            outs = (Tensor * max(len(model.outputs), 1))()
            for t, p in zip(outs, probes):
                t.data, t.capacity = p, 1
            status = model.lib.moe_model_run_device(
                model.handle, model._tensors(self.kept, self.device_inputs),
                len(self.kept), outs, len(model.outputs), None)
            if status != OUTPUT_TOO_SMALL:
                raise ModelError(status, model.lib.moe_model_last_error(model.handle).decode())
            shapes = [tuple(t.shape[d] for d in range(t.rank))
                      for t in outs[:len(model.outputs)]]
            self.arrays = [np.empty(shape, DTYPES[t.dtype]) for shape, t in zip(shapes, outs)]
            self.device_outputs = [cuda.malloc(max(r.nbytes, 1)) for r in self.arrays]
            self.pointers += self.device_outputs
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __call__(self):
        model = self.model
        status = model.lib.moe_model_run_device(
            model.handle, model._tensors(self.kept, self.device_inputs), len(self.kept),
            model._tensors(self.arrays, self.device_outputs), len(model.outputs), None)
        if status != OK:
            raise ModelError(status, model.lib.moe_model_last_error(model.handle).decode())

    def results(self):
        for r, p in zip(self.arrays, self.device_outputs):
            self.cuda.download(r, p)
        return self.arrays

    def __exit__(self, *exc):
        for p in self.pointers:
            self.cuda.free(p)
        self.pointers = []


class _Cuda:
    """The few CUDA runtime calls run_device needs, found through the
    model library (which links libcudart)."""

    def __init__(self, lib):
        self.lib = lib
        lib.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
        lib.cudaMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                   ctypes.c_int]
        lib.cudaFree.argtypes = [ctypes.c_void_p]

    def malloc(self, size):
        pointer = ctypes.c_void_p()
        assert self.lib.cudaMalloc(ctypes.byref(pointer), size) == 0, "cudaMalloc failed"
        return pointer.value

    def upload(self, array):
        pointer = self.malloc(max(array.nbytes, 1))
        assert self.lib.cudaMemcpy(pointer, array.ctypes.data, array.nbytes, 1) == 0
        return pointer

    def download(self, array, pointer):
        assert self.lib.cudaMemcpy(array.ctypes.data, pointer, array.nbytes, 2) == 0

    def free(self, pointer):
        self.lib.cudaFree(pointer)


def compile_model(model, out_dir, extra_args=(), emit="so"):
    """Compiles `model` into `out_dir`; returns the output path."""
    name = os.path.splitext(os.path.basename(model))[0]
    out = os.path.join(out_dir, name + (".so" if emit == "so" else ""))
    subprocess.run(["moe-compile", model, "-o", out, f"--emit={emit}",
                    *extra_args], check=True)
    return out


def load(model, out_dir, extra_args=(), num_threads=0):
    """compile_model + Model."""
    return Model(compile_model(model, out_dir, extra_args), num_threads)
