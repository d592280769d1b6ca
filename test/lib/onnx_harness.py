"""Imports ONNX models with moe-translate, runs them through the reference
path (mlir_harness) and compares with onnxruntime on the same file."""

import subprocess

import numpy as np
import onnx
import onnxruntime as ort

import mlir_harness as mh

_ELEMENT = {np.dtype(np.float32): "f32", np.dtype(np.int64): "i64",
            np.dtype(np.int32): "i32"}


def import_model(path):
    """The MLIR text of `path`, imported by moe-translate."""
    done = subprocess.run(["moe-translate", "--import-onnx", path],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"moe-translate failed on {path}:\n{done.stderr}")
    return done.stdout


def run_onnxruntime(path, feeds):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(path, options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def compare_with_onnxruntime(name, path, input_sets, rtol=1e-5, atol=1e-6,
                             reference_path=None, passes=(),
                             pipeline="moe-reference-to-llvm"):
    """Runs the model at `path` on each dict of inputs in `input_sets` (in
    graph input order) through moe-translate + the reference lowering and
    through onnxruntime (on `reference_path` when given: an equivalent model
    in a form onnxruntime runs), and checks every output. `passes` run
    before `pipeline` (e.g. moe-raise)."""
    model = onnx.load(path)
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializers]
    arg_types = []
    for info in graph_inputs:
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in info.type.tensor_type.shape.dim]
        array = input_sets[0][info.name]
        arg_types.append(mh.tensor_type(dims, _ELEMENT[array.dtype]))
    module = import_model(path)
    result_types = mh.function_result_types(module, "main_graph")
    ours = mh.run_module(module, "main_graph", arg_types, result_types,
                         [[s[i.name] for i in graph_inputs] for s in input_sets],
                         passes=passes, pipeline=pipeline)
    for n, (feeds, actual) in enumerate(zip(input_sets, ours)):
        expected = run_onnxruntime(reference_path or path, feeds)
        for out, a, e in zip(model.graph.output, actual, expected):
            mh.check_close(f"{name} #{n} {out.name}", a, e, rtol=rtol,
                           atol=atol)
