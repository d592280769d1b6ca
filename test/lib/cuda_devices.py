"""cudart through ctypes, without the MoE CUDA runtime: the GPU count that
decides which CUDA tests run (0 on a machine without a GPU or driver)."""

import ctypes
import os


def load_cudart():
    """The CUDA runtime library, or None when it is not installed.
    MOE_CUDART_LIB names another (the CUDA emulation's, which has the
    calls the tests make)."""
    if os.environ.get("MOE_CUDART_LIB"):
        return ctypes.CDLL(os.environ["MOE_CUDART_LIB"])
    for name in ("libcudart.so", "libcudart.so.13", "/usr/local/cuda/lib64/libcudart.so"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def device_count(cudart=None):
    cudart = cudart or load_cudart()
    if cudart is None:
        return 0
    n = ctypes.c_int(0)
    return n.value if cudart.cudaGetDeviceCount(ctypes.byref(n)) == 0 else 0
