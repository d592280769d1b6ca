"""Shared by the CPU benchmarks: the build tree on PATH and sys.path (so the
test helpers and moe-compile are found), and a median timer."""

import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "lib"))
os.environ["PATH"] = os.path.join(ROOT, "build", "bin") + os.pathsep + os.environ["PATH"]
os.environ.setdefault("MOE_RUNTIME_LIB", os.path.join(ROOT, "build", "lib", "libmoe_runtime_cpu.so"))


def runtime_isa():
    """The CPU runtime's micro-kernel variant in this environment (what
    compiled models pick too: MOE_RUNTIME_ISA caps both)."""
    import ctypes
    lib = ctypes.CDLL(os.environ["MOE_RUNTIME_LIB"])
    lib.moe_runtime_cpu_isa.restype = ctypes.c_char_p
    return lib.moe_runtime_cpu_isa().decode()


def median_ms(fn, repeats):
    """Median wall time of `repeats` calls of fn() after one warm-up, in ms."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)
