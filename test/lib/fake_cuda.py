"""Builds test/lib/fake_cuda_copy.c (host memory standing in for CUDA
memory: cudaMalloc / cudaMemcpy / cudaFree and the CUDA runtime's copy) for
tests that run device-buffer paths without a GPU, and the LD_PRELOAD value
that loads it after whatever is preloaded already (the sanitizer runtime
must stay first under scripts/sanitize.sh)."""

import os
import shutil
import subprocess


def build(out):
    """Compiles the fake into `out`; returns (its path, the LD_PRELOAD value)."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang-22")
    fake = os.path.join(out, "libfake_cuda_copy.so")
    source = os.path.join(os.path.dirname(__file__), "fake_cuda_copy.c")
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", fake, source], check=True)
    preload = " ".join(filter(None, [os.environ.get("LD_PRELOAD"), fake]))
    return fake, preload
