"""What the GPU kernel tests (test/Runtime/CUDA/gpu_kernels.py: the MoE
kernels; gpu_graph_ops.py: the graph's ops) share: the emulated device's
counters, the reporting of a section's cases, the 16-bit conversions,
and the loop that runs every section even after one failed."""

import ctypes
import sys
import traceback

import numpy as np

import cuda_harness as ch


def emulation_count(hook):
    """The emulated device's count `hook` (moe_model_test_*) so far; None
    on a GPU."""
    count = getattr(ch.lib, "moe_model_test_" + hook, None)
    if count is None:
        return None
    count.restype = ctypes.c_int64
    return count()


def staged_bytes():
    """Bytes the kernels staged from device memory (cp.async, TMA)."""
    return emulation_count("staged_bytes")


def kernel_launches():
    return emulation_count("kernel_launches")


def launches_of(kernel):
    """Launches of the kernel named `kernel` (no template arguments) so
    far; None on a GPU."""
    count = getattr(ch.lib, "moe_model_test_kernel_launches_of", None)
    if count is None:
        return None
    count.restype = ctypes.c_int64
    count.argtypes = [ctypes.c_char_p]
    return count(kernel.encode())


def tma_loads():
    return emulation_count("tma_loads")


def close(name, got, want, rtol=1e-5, atol=1e-5):
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        raise AssertionError(f"{name}: max abs error {np.max(np.abs(got - want)):g}")


def report(section, failures):
    """Lists every failing case of `section`, then fails it, or says OK."""
    for failure in failures:
        print(f"  mismatch: {failure}")
    assert not failures, f"{len(failures)} {section} case(s) failed"
    print(f"OK: {section}")


# 16-bit element types: (to bit patterns, back to float32).
HALF = {"bf16": (ch.to_bf16, ch.from_bf16),
        "f16": (lambda a: a.astype(np.float16).view(np.uint16),
                lambda bits: bits.view(np.float16).astype(np.float32))}


def run_sections(script, sections):
    """Runs every (name, function) section even when one before it failed
    (a GPU session is short; a sticky device fault fails the rest too, and
    says so); exits non-zero naming the failed ones."""
    failures = []
    for name, section in sections:
        try:
            section()
        except Exception:  # report and go on
            failures.append(name)
            print(f"FAIL: {name}")
            traceback.print_exc()
    if failures:
        sys.exit(f"{script}: failed: {', '.join(failures)}")
