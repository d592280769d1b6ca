"""ctypes access to the CUDA runtime (runtime/include/moe_runtime_cuda.h)
and to cudart for device memory, for the host-side and GPU tests."""

import ctypes
import os

import numpy as np

OK, INVALID_ARGUMENT, INDEX_OUT_OF_RANGE, DEVICE_ERROR = 0, 1, 2, 3
# Element types of moe_cuda_attention_f32's precision and k/v (MOE_CUDA_ELEMENT_*).
ELEMENT_F32, ELEMENT_BF16, ELEMENT_F16 = 0, 1, 2

import cuda_devices

lib = ctypes.CDLL(os.environ["MOE_CUDA_RUNTIME_LIB"])
cudart = cuda_devices.load_cudart()

_i32, _i64, _f32, _p = ctypes.c_int32, ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
lib.moe_cuda_last_error.restype = ctypes.c_char_p

lib.moe_cuda_max_row_tiles.restype = _i64
lib.moe_cuda_max_row_tiles.argtypes = [_i64, _i64, _i64]


class RoutingParams(ctypes.Structure):
    _fields_ = [("kind", _i32), ("k", _i32), ("renormalize", _i32),
                ("n_group", _i32), ("topk_group", _i32), ("scale", _f32),
                ("group_mask", _i32), ("num_shared", _i32), ("shared_gate", _i32)]


class ActivationParams(ctypes.Structure):
    _fields_ = [("kind", _i32), ("alpha", _f32), ("beta", _f32), ("limit", _f32)]


GROUP_MASK = {"neg_inf": 0, "zero": 1}
ROUTING = {"softmax_topk": 0, "topk_softmax": 1, "sigmoid_topk": 2, "dense": 3}
ACTIVATION = {"identity": 0, "relu": 1, "gelu": 2, "silu": 3, "swiglu": 4,
              "clamped_swiglu": 5, "gelu_tanh": 6}


def device_count():
    return cuda_devices.device_count(cudart)


cudart.cudaGetErrorString.restype = ctypes.c_char_p
# Pointers and sizes are 64-bit: without argtypes ctypes passes Python
# ints as C ints (a host address cut to 32 bits).
cudart.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
cudart.cudaMemcpy.argtypes = [_p, _p, ctypes.c_size_t, ctypes.c_int]
cudart.cudaFree.argtypes = [_p]


def check(code, what):
    """Raises with CUDA's text when a cudart call failed (a kernel fault
    shows up at the next synchronizing call)."""
    if code != 0:
        text = cudart.cudaGetErrorString(code).decode()
        raise RuntimeError(f"{what}: CUDA error {code}: {text}")


class Device:
    """A device copy of a numpy array (or an empty buffer)."""

    def __init__(self, array=None, shape=None, dtype=None):
        self.shape = array.shape if array is not None else shape
        self.dtype = np.dtype(array.dtype if array is not None else dtype)
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self.ptr = ctypes.c_void_p()
        check(cudart.cudaMalloc(ctypes.byref(self.ptr), max(self.nbytes, 1)), "cudaMalloc")
        if array is not None:
            host = np.ascontiguousarray(array)
            check(cudart.cudaMemcpy(self.ptr, host.ctypes.data, self.nbytes, 1), "upload")

    def get(self):
        check(cudart.cudaDeviceSynchronize(), "kernels before this read")
        _release()
        host = np.empty(self.shape, self.dtype)
        check(cudart.cudaMemcpy(host.ctypes.data, self.ptr, self.nbytes, 2), "download")
        return host

    def __del__(self):
        # Freed at the next synchronization, not now: a temporary's pointer
        # (`D(x).ptr` among a call's arguments) must outlive the kernels
        # that call launches.
        if self.ptr:
            _unreleased.append(self.ptr)


_unreleased = []


def _release():
    while _unreleased:
        cudart.cudaFree(_unreleased.pop())


def ptr(buffer):
    return None if buffer is None else buffer.ptr


def route(logits, kind, k, renormalize=False, scale=1.0, n_group=1,
          topk_group=1, bias=None, shape=None, group_mask="neg_inf", shared=0,
          shared_gate=False):
    """logits: a Device [T, E] (or `shape` with a null pointer); with
    shared_gate its last column is the shared experts' gate."""
    t, e = logits.shape if logits is not None else shape
    e -= int(shared_gate)
    params = RoutingParams(ROUTING[kind], k, int(renormalize), n_group,
                           topk_group, scale, GROUP_MASK[group_mask], shared,
                           int(shared_gate))
    slots = k + shared
    ids = Device(shape=(t, slots), dtype=np.int32) if logits is not None else None
    weights = Device(shape=(t, slots), dtype=np.float32) if logits is not None else None
    status = lib.moe_cuda_route_f32(None, ptr(logits), _i64(t), _i64(e),
                                    ctypes.byref(params), ptr(bias), ptr(ids),
                                    ptr(weights))
    return status, ids, weights


def route_fused(x, router, kind, k, router_bias=None, with_logits=False,
                **params):
    """moe_cuda_route_fused_f32: x [T, d] and router [d, C] Devices (C = E,
    plus one column with shared_gate); returns (status, ids, weights,
    logits or None). `params` as for route()."""
    t, d = x.shape
    c = router.shape[1]
    e = c - int(params.get("shared_gate", False))
    p = RoutingParams(ROUTING[kind], k, int(params.get("renormalize", False)),
                      params.get("n_group", 1), params.get("topk_group", 1),
                      params.get("scale", 1.0),
                      GROUP_MASK[params.get("group_mask", "neg_inf")],
                      params.get("shared", 0), int(params.get("shared_gate", False)))
    slots = k + params.get("shared", 0)
    ids = Device(shape=(t, slots), dtype=np.int32)
    weights = Device(shape=(t, slots), dtype=np.float32)
    logits = Device(shape=(t, c), dtype=np.float32) if with_logits else None
    status = lib.moe_cuda_route_fused_f32(
        None, ptr(x), _i64(t), _i64(d), ptr(router), ptr(router_bias), _i64(e),
        ctypes.byref(p), ptr(params.get("bias")), ptr(ids), ptr(weights), ptr(logits))
    return status, ids, weights, logits


def router_logits(x, router, bias=None, shape=None):
    """moe_cuda_router_logits_f32: x [T, d] and router [d, C] Devices (or
    `shape` (T, d, C) with null pointers); returns (status, logits)."""
    t, d, c = (x.shape + router.shape[1:]) if x is not None else shape
    logits = Device(shape=(t, c), dtype=np.float32) if x is not None else None
    status = lib.moe_cuda_router_logits_f32(None, ptr(x), _i64(t), _i64(d),
                                            ptr(router) if router is not None else None,
                                            _i64(c), ptr(bias), ptr(logits))
    return status, logits


# cudaStreamPerThread: the calling thread's per-thread stream (what
# compiled models' calls use), as a cudaStream_t.
PER_THREAD_STREAM = ctypes.c_void_p(2)


def grouped_matmul(rows, weights, offsets, bias=None, activation="identity",
                   alpha=1.702, beta=1.0, limit=7.0, dtype="f32", num_rows=None,
                   out=None, cublas=False, bf16=False, stream=None):
    """dtype "bf16" / "f16" (or bf16=True): the tensor-core kernels on bit
    patterns; bf16 with cublas=True: the cuBLAS grouped GEMM baseline
    (moe_cuda_grouped_matmul_cublas_bf16). `stream`: None (the legacy
    default stream) or PER_THREAD_STREAM."""
    if bf16:
        dtype = "bf16"
    n = rows.shape[0] if rows is not None else num_rows
    e, kdim, m = weights.shape
    act = ActivationParams(ACTIVATION[activation], alpha, beta, limit)
    gated = activation in ("swiglu", "clamped_swiglu")
    if out is None and rows is not None:
        out = Device(shape=(n, m // 2 if gated else m), dtype=np.float32)
    fn = (lib.moe_cuda_grouped_matmul_cublas_bf16 if cublas else
          getattr(lib, "moe_cuda_grouped_matmul_" + dtype))
    status = fn(stream, ptr(rows), _i64(n), _i64(kdim), ptr(weights), _i64(e),
                _i64(m), ptr(offsets), ptr(bias), ctypes.byref(act), ptr(out))
    return status, out


def to_bf16(array):
    """float32 -> bf16 bit patterns (round to nearest even), and back."""
    bits = np.ascontiguousarray(array, np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def from_bf16(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


BINARY = {"add": 0, "sub": 1, "mul": 2, "div": 3, "pow": 4, "max": 5, "min": 6}
lib.moe_cuda_binary_f32.argtypes = [_p, _i32, _i32, _p, _p, _p, _p, _p, _p]
lib.moe_cuda_cc_binary_f32.argtypes = ([_i32, _i32] + [_p] + [_i64] * 5 + [_p] +
                                       [_i64] * 5 + [_i64] * 5 + [_p])


def broadcast_strides(shape, out_shape):
    """numpy broadcasting as element strides over out_shape's dims (0 where
    `shape` stretches a 1), computed independently of the runtime's."""
    strides = np.zeros(len(out_shape), np.int64)
    running = 1
    for back in range(1, len(shape) + 1):
        if shape[-back] != 1:
            strides[-back] = running
        running *= shape[-back]
    return strides


def binary(op, lhs, rhs):
    """moe_cuda_binary_f32 on Device operands, strides from numpy's
    broadcast shape: (status, Device result)."""
    out_shape = np.broadcast_shapes(lhs.shape, rhs.shape)
    out = Device(shape=out_shape, dtype=np.float32)
    shape = np.array(out_shape, np.int64)
    ls, rs = broadcast_strides(lhs.shape, out_shape), broadcast_strides(rhs.shape, out_shape)
    status = lib.moe_cuda_binary_f32(None, BINARY[op], len(out_shape), shape.ctypes.data,
                                     lhs.ptr, ls.ctypes.data, rhs.ptr, rs.ctypes.data, out.ptr)
    return status, out


def dims(shape):
    """A shape as the compiled code's entries take it: rank, then 4 dims."""
    return [len(shape)] + list(shape) + [1] * (4 - len(shape))


def cc_binary(op, lhs, lhs_shape, rhs, rhs_shape, out, out_shape):
    """moe_cuda_cc_binary_f32 (compiled code's entry) on raw pointers (host
    or device) and shapes: its status."""
    return lib.moe_cuda_cc_binary_f32(0, BINARY[op], lhs, *dims(lhs_shape), rhs,
                                      *dims(rhs_shape), *dims(out_shape), out)


UNARY = {"neg": 0, "sqrt": 1, "exp": 2, "tanh": 3, "sigmoid": 4, "relu": 5, "erf": 6,
         "cos": 7, "sin": 8}
lib.moe_cuda_unary_f32.argtypes = [_p, _i32, _i64, _p, _p]
lib.moe_cuda_mean_rows_f32.argtypes = [_p, _p, _i64, _i64, _p]
lib.moe_cuda_cc_unary_f32.argtypes = [_i32, _i32, _p, _i64, _p]
lib.moe_cuda_cc_mean_rows_f32.argtypes = [_i32, _p, _i64, _i64, _p]
lib.moe_cuda_cast.argtypes = [_p, _i32, _i64, _p, _p]
lib.moe_cuda_cc_cast.argtypes = [_i32, _i32, _p, _i64, _p]
lib.moe_cuda_rms_norm_f32.argtypes = [_p, _p, _p, _i64, _i64, _f32, _p, _p, _p]
lib.moe_cuda_cc_rms_norm_f32.argtypes = [_i32, _p, _p, _i64, _i64, _f32, _p, _p, _p]
lib.moe_cuda_rms_norm.argtypes = [_p, _i32, _p, _p, _i64, _i64, _f32, _p, _p, _p]
lib.moe_cuda_cc_rms_norm_bf16.argtypes = lib.moe_cuda_cc_rms_norm_f32.argtypes
lib.moe_cuda_cc_rms_norm_f16.argtypes = lib.moe_cuda_cc_rms_norm_f32.argtypes
lib.moe_cuda_softmax_f32.argtypes = [_p, _p, _i64, _i64, _p]
lib.moe_cuda_cc_softmax_f32.argtypes = [_i32, _p] + [_i64] * 6 + [_p]
lib.moe_cuda_causal_softmax_f32.argtypes = [_p, _p, _i64, _i64, _i64, _i64, _p]
lib.moe_cuda_transpose_f32.argtypes = [_p, _i32, _p, _p, _p, _p]
lib.moe_cuda_cc_transpose_f32.argtypes = [_i32, _p] + [_i64] * 9 + [_p]
lib.moe_cuda_matmul_f32.argtypes = ([_p, _i32, _i32, _f32] + [_i64] * 5 +
                                    [_p, _i64, _i64, _i64] * 3)
lib.moe_cuda_matmul_16.argtypes = ([_p, _i32, _i32, _i32, _f32] + [_i64] * 5 +
                                   [_p, _i64, _i64, _i64] * 3)
for _name in ("f32", "bf16w", "f16w", "bf16", "f16"):
    getattr(lib, "moe_cuda_cc_matmul_" + _name).argtypes = (
        [_i32, _i32, _i32, _f32] + ([_p] + [_i64] * 9) * 2 + [_i64] * 9 + [_p])


def cc_transpose(x, shape, perm, out):
    """moe_cuda_cc_transpose_f32 on raw pointers: its status."""
    padded = list(perm) + [0] * (4 - len(perm))
    return lib.moe_cuda_cc_transpose_f32(0, x, *dims(shape), *padded, out)


def view(shape, perm=None):
    """A matmul operand as the compiled code's entries take it: its
    buffer's rank and dims (padded to 4), then the transpose the matmul
    reads it through (identity by default)."""
    perm = list(range(len(shape))) if perm is None else list(perm)
    return dims(shape) + perm + [0] * (4 - len(perm))


def cc_matmul(a, a_shape, b, b_shape, out, out_shape, trans_a=False, trans_b=False,
              alpha=1.0, a_perm=None, b_perm=None, out_perm=None):
    """moe_cuda_cc_matmul_f32 on raw pointers (shapes: the buffers'; perms:
    the views the matmul reads and writes): its status."""
    return lib.moe_cuda_cc_matmul_f32(0, int(trans_a), int(trans_b), alpha, a,
                                      *view(a_shape, a_perm), b, *view(b_shape, b_perm),
                                      *view(out_shape, out_perm), out)
lib.moe_cuda_attention_f32.argtypes = ([_p] + [_i64] * 7 + [_f32, _i32, _i32] +
                                       [_p, _p] * 3 +
                                       [_i32, _i64, _p, _p, _i32, _p, _p])
lib.moe_cuda_cc_attention_f32.argtypes = ([_i32, _f32, _i32, _i32] + ([_p] + [_i64] * 9) * 3 +
                                          [_i64] * 4 + [_p] + [_i64] * 5 + [_i32] +
                                          [_i64] * 9 + [_p])


lib.moe_cuda_cc_slice_f32.argtypes = [_i32, _p, _i64, _i64, _i64, _i64, _p]
lib.moe_cuda_cc_concat_f32.argtypes = [_i32, _i64, _i64] + ([_p] + [_i64] * 9) * 4 + [_p]
lib.moe_cuda_concat_f32.argtypes = [_p, _i32, _p, _p, _i64, _p, _p]
lib.moe_cuda_concat.argtypes = [_p, _i32, _i32, _p, _p, _p, _i64, _p, _p]
for _kind in ("bf16", "f16"):
    getattr(lib, "moe_cuda_cc_concat_" + _kind).argtypes = (
        [_i32, _i64, _i64, _i64] + ([_p] + [_i64] * 9) * 4 + [_p])
lib.moe_cuda_range_f32.argtypes = [_p, _f32, _f32, _i64, _p]
lib.moe_cuda_cc_range_f32.argtypes = [_i32, _f32, _f32, _i64, _p]
lib.moe_cuda_rotary_f32.argtypes = [_p, _i32, _p, _p, _p, _p, _p, _p, _p, _i64, _i64, _i64,
                                     _p]
lib.moe_cuda_cc_rotary_f32.argtypes = ([_i32, _p] + [_i64] * 9 + ([_p] + [_i64] * 5) * 2 +
                                       [_i64] * 4 + [_p])
lib.moe_cuda_cc_rotary_pair_f32.argtypes = ([_i32, _p] + [_i64] * 9 + [_p] + [_i64] * 8 +
                                            ([_p] + [_i64] * 5) * 2 + [_i64] * 4 + [_p] * 2)
lib.moe_cuda_expand_f32.argtypes = [_p, _i32, _p, _p, _p, _p]
lib.moe_cuda_cc_expand_f32.argtypes = [_i32, _p] + [_i64] * 9 + [_p]
