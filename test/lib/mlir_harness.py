"""Runs MLIR functions on NumPy inputs through moe-opt and mlir-runner.

A test writes a function `@kernel` over tensors (moe ops inside); run()
wraps it in a `@main` that materializes the inputs as constants (cast to
the kernel's possibly dynamic argument types), calls the kernel once per
input set, and prints every result; moe-opt lowers the module with a
pipeline (the reference lowering by default) and mlir-runner executes it.
The printed memrefs are parsed back into arrays.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

_DTYPES = {
    np.dtype(np.float32): ("f32", "printMemrefF32"),
    np.dtype(np.int64): ("i64", "printMemrefI64"),
    np.dtype(np.int32): ("i32", "printMemrefI32"),
}


def tensor_type(shape, element):
    dims = "x".join("?" if d is None else str(d) for d in shape)
    return f"tensor<{dims}x{element}>" if dims else f"tensor<{element}>"


def dense_constant(array):
    """An exact `dense<"0x...">` literal (little-endian raw data)."""
    element, _ = _DTYPES[array.dtype]
    data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"))
    return (f'dense<"0x{data.tobytes().hex().upper()}"> : '
            f"{tensor_type(array.shape, element)}")


def function_result_types(module, name):
    """The result types of func.func @name in printed `module`."""
    signature = module.split(f"func.func @{name}(", 1)[1].split("{", 1)[0]
    signature = signature.split(" attributes", 1)[0]
    if "->" not in signature:
        return []
    results = signature.split("->", 1)[1].strip()
    if results.startswith("("):
        results = results[1:-1]
    types, depth, current = [], 0, ""
    for char in results:
        depth += char == "<"
        depth -= char == ">"
        if char == "," and depth == 0:
            types.append(current.strip())
            current = ""
        else:
            current += char
    types.append(current.strip())
    return types


def _main(arg_types, result_types, input_sets, callee="kernel",
          callee_result_types=None):
    lines = ["func.func @main() {"]
    printers = set()
    for n, inputs in enumerate(input_sets):
        args = []
        for i, (array, arg_type) in enumerate(zip(inputs, arg_types)):
            name = f"%in{n}_{i}"
            lines.append(f"  {name}_s = arith.constant {dense_constant(array)}")
            static_type = tensor_type(array.shape, _DTYPES[array.dtype][0])
            lines.append(f"  {name} = tensor.cast {name}_s : {static_type} to {arg_type}")
            args.append(name)
        called = callee_result_types or result_types
        results = [f"%out{n}_{r}" for r in range(len(result_types))]
        raw = [f"%raw{n}_{r}" for r in range(len(result_types))]
        lines.append(f"  {', '.join(raw)} = func.call @{callee}({', '.join(args)}) : "
                     f"({', '.join(arg_types)}) -> ({', '.join(called)})")
        # Cast to the types the caller wants printed (e.g. static shapes).
        for r, (have, want) in enumerate(zip(called, result_types)):
            if have == want:
                lines.append(f"  {results[r]} = tensor.cast {raw[r]} : {have} to {have}")
            else:
                lines.append(f"  {results[r]} = tensor.cast {raw[r]} : {have} to {want}")
        for r, result_type in enumerate(result_types):
            element = re.search(r"(\w+)>$", result_type).group(1).split("x")[-1]
            printer = {v[0]: v[1] for v in _DTYPES.values()}[element]
            printers.add((printer, element))
            memref_type = result_type.replace("tensor<", "memref<")
            lines.append(f"  %m{n}_{r} = bufferization.to_buffer {results[r]} : "
                         f"{result_type} to {memref_type}")
            lines.append(f"  %u{n}_{r} = memref.cast %m{n}_{r} : {memref_type} "
                         f"to memref<*x{element}>")
            lines.append(f"  func.call @{printer}(%u{n}_{r}) : (memref<*x{element}>) -> ()")
    lines.append("  return")
    lines.append("}")
    for printer, element in sorted(printers):
        lines.append(f"func.func private @{printer}(memref<*x{element}>) "
                     "attributes {llvm.emit_c_interface}")
    return "\n".join(lines)


_NUMBER = re.compile(r"[-+]?(?:nan|inf|\d+(?:\.\d*)?(?:e[-+]?\d+)?)", re.I)


def _parse_memrefs(text):
    arrays = []
    for chunk in text.split("Unranked Memref")[1:]:
        sizes = re.search(r"sizes = \[([^\]]*)\]", chunk).group(1)
        shape = [int(s) for s in sizes.split(",") if s.strip()]
        if 0 in shape:
            arrays.append(np.zeros(shape))
            continue
        data = chunk.split("data =", 1)[1]
        values = [float(v) for v in _NUMBER.findall(data)]
        arrays.append(np.array(values, dtype=np.float64).reshape(shape))
    return arrays


def run(kernel, arg_types, result_types, input_sets,
        pipeline="moe-reference-to-llvm", passes=()):
    """Compiles `kernel` (the text of func.func @kernel) and runs it once for
    each list of input arrays in `input_sets`. Returns, per input set, the
    list of result arrays (float64)."""
    module = kernel + "\n" + _main(arg_types, result_types, input_sets)
    return _run_module(module, len(result_types), len(input_sets), pipeline,
                       passes)


def run_module(module, callee, arg_types, result_types, input_sets,
               pipeline="moe-reference-to-llvm", passes=()):
    """Like run(), for a whole module (e.g. moe-translate's output, with its
    resource blobs) whose function `callee` is called."""
    body, sep, resources = module.partition("{-#")
    body = body.rstrip()
    if not body.startswith("module") or not body.endswith("}"):
        raise ValueError("expected a printed `module { ... }`")
    main = _main(arg_types, result_types, input_sets, callee,
                 function_result_types(body, callee))
    module = body[:-1] + main + "\n}\n" + sep + resources
    return _run_module(module, len(result_types), len(input_sets), pipeline,
                       passes)


def _run_module(module, num_results, num_sets, pipeline, passes=()):
    lib_dir = os.environ.get("MOE_MLIR_LIB_DIR", "/usr/lib/llvm-22/lib")
    libs = [os.path.join(lib_dir, f"lib{name}.so")
            for name in ("mlir_runner_utils", "mlir_c_runner_utils")]
    # Compiled code calls the CPU runtime: kernels (runtime pipeline) and
    # error reports (index checks of every pipeline).
    libs.append(os.environ["MOE_RUNTIME_LIB"])
    libs = ",".join(libs)
    # MOE_KEEP_TMP=1 keeps the generated module for debugging.
    keep = os.environ.get("MOE_KEEP_TMP")
    tmp = tempfile.mkdtemp(prefix="moe-harness-")
    try:
        source = os.path.join(tmp, "kernel.mlir")
        with open(source, "w") as f:
            f.write(module)
        lowered = subprocess.run(
            ["moe-opt"] + [f"--{p}" for p in passes] + [f"--{pipeline}", source],
            capture_output=True, text=True)
        if lowered.returncode != 0:
            raise RuntimeError(f"moe-opt failed:\n{lowered.stderr[:4000]}")
        ran = subprocess.run(
            ["mlir-runner", "-e", "main", "-entry-point-result=void",
             f"-shared-libs={libs}"],
            input=lowered.stdout, capture_output=True, text=True)
        if ran.returncode != 0:
            raise RuntimeError(f"mlir-runner failed:\n{ran.stderr[:4000]}")
    finally:
        if keep:
            sys.stderr.write(f"kept {source}\n")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    arrays = _parse_memrefs(ran.stdout)
    if len(arrays) != num_results * num_sets:
        raise RuntimeError(f"expected {num_results * num_sets} printed "
                           f"results, got {len(arrays)}:\n{ran.stdout[:2000]}")
    return [arrays[i * num_results:(i + 1) * num_results]
            for i in range(num_sets)]


def check_close(name, actual, expected, rtol=1e-4, atol=1e-5):
    """Prints `OK: name` when close, raises otherwise."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"{name}: shape {actual.shape} != {expected.shape}")
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        err = np.max(np.abs(actual - expected))
        raise AssertionError(f"{name}: max abs error {err:g}\n"
                             f"actual:\n{actual}\nexpected:\n{expected}")
    print(f"OK: {name}")
