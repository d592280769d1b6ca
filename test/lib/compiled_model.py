"""Compiles an ONNX model with moe-compile --emit=obj, links the object and
the static CPU runtime into a shared library, and calls the model's
`_mlir_ciface_main_graph` through ctypes (rank-2 f32 inputs and output)."""

import ctypes
import os
import subprocess

import numpy as np


def _descriptor(rank):
    class MemRef(ctypes.Structure):
        _fields_ = [("allocated", ctypes.c_void_p),
                    ("aligned", ctypes.c_void_p),
                    ("offset", ctypes.c_int64),
                    ("sizes", ctypes.c_int64 * rank),
                    ("strides", ctypes.c_int64 * rank)]
    return MemRef


def _to_memref(array):
    array = np.ascontiguousarray(array, dtype=np.float32)
    desc = _descriptor(array.ndim)()
    desc.allocated = desc.aligned = array.ctypes.data
    desc.offset = 0
    for i, (size, stride) in enumerate(zip(array.shape, array.strides)):
        desc.sizes[i] = size
        desc.strides[i] = stride // array.itemsize
    return desc, array


def compile_model(model, out_dir, extra_args=()):
    """Returns the ctypes library of `model` compiled and linked in
    `out_dir`."""
    name = os.path.splitext(os.path.basename(model))[0]
    obj = os.path.join(out_dir, name + ".o")
    lib = os.path.join(out_dir, name + ".so")
    subprocess.run(["moe-compile", model, "-o", obj, *extra_args], check=True)
    runtime = os.path.join(os.path.dirname(os.environ["MOE_RUNTIME_LIB"]),
                           "libmoe_runtime_cpu.a")
    subprocess.run(["clang++-22", "-shared", "-o", lib, obj, runtime, "-ltbb",
                    "-lm"], check=True)
    return ctypes.CDLL(lib)


def run(lib, inputs, out_rank=2):
    """Calls main_graph on the rank-2 f32 `inputs`; returns its output.
    (The output buffer, allocated by the model, is leaked: tests only.)"""
    result = _descriptor(out_rank)()
    kept = [_to_memref(a) for a in inputs]
    args = [ctypes.byref(result)] + [ctypes.byref(d) for d, _ in kept]
    lib._mlir_ciface_main_graph(*args)
    shape = tuple(result.sizes)
    count = int(np.prod(shape))
    if count == 0:
        return np.zeros(shape, dtype=np.float32)
    buffer = (ctypes.c_float * count).from_address(
        result.aligned + 4 * result.offset)
    return np.array(np.ctypeslib.as_array(buffer)).reshape(shape)
