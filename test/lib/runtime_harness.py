"""ctypes bindings of the CPU runtime's C ABI (runtime/include/moe_runtime.h)
for the kernel tests: NumPy arrays in, NumPy arrays and status out."""

import ctypes
import os

import numpy as np

_lib = ctypes.CDLL(os.environ["MOE_RUNTIME_LIB"])

OK, INVALID_ARGUMENT, INDEX_OUT_OF_RANGE = 0, 1, 2
GROUP_MASK = {"neg_inf": 0, "zero": 1}
ROUTING = {"softmax_topk": 0, "topk_softmax": 1, "sigmoid_topk": 2, "dense": 3}
ACTIVATION = {"identity": 0, "relu": 1, "gelu": 2, "silu": 3, "swiglu": 4,
              "clamped_swiglu": 5, "gelu_tanh": 6}


class ExecConfig(ctypes.Structure):
    _fields_ = [("num_threads", ctypes.c_int32)]


class RoutingParams(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int32), ("k", ctypes.c_int32),
                ("renormalize", ctypes.c_int32), ("n_group", ctypes.c_int32),
                ("topk_group", ctypes.c_int32), ("scale", ctypes.c_float),
                ("group_mask", ctypes.c_int32), ("num_shared", ctypes.c_int32),
                ("shared_gate", ctypes.c_int32)]


class ActivationParams(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int32), ("alpha", ctypes.c_float),
                ("beta", ctypes.c_float), ("limit", ctypes.c_float)]


def _ptr(array, ctype):
    return None if array is None else array.ctypes.data_as(ctypes.POINTER(ctype))


_f32, _i32 = ctypes.c_float, ctypes.c_int32
_i64 = ctypes.c_int64
_lib.moe_runtime_api_version.restype = _i32
for name in ("moe_route_f32", "moe_permute", "moe_gather_rows_f32",
             "moe_grouped_matmul_f32", "moe_combine_f32", "moe_route_fused_f32",
             "moe_grouped_matmul_packed_f32", "moe_pack_weights_f32",
             "moe_grouped_matmul_packed_bf16w", "moe_pack_weights_bf16",
             "moe_grouped_matmul_packed_i8w", "moe_pack_weights_int8"):
    getattr(_lib, name).restype = _i32


_lib.moe_runtime_cpu_isa.restype = ctypes.c_char_p


def cpu_isa():
    return _lib.moe_runtime_cpu_isa().decode()


def api_version():
    return _lib.moe_runtime_api_version()


def route(logits, kind, k, renormalize=False, scale=1.0, n_group=1,
          topk_group=1, correction_bias=None, threads=0, group_mask="neg_inf",
          shared=0, shared_gate=False):
    """moe_route_f32; with shared_gate the last logits column is the shared
    experts' gate."""
    logits = np.ascontiguousarray(logits, np.float32)
    t, e = logits.shape[0], logits.shape[1] - int(shared_gate)
    ids = np.full((t, k + shared), -7, np.int32)
    weights = np.full((t, k + shared), np.nan, np.float32)
    params = RoutingParams(ROUTING[kind], k, int(renormalize), n_group,
                           topk_group, scale, GROUP_MASK[group_mask], shared,
                           int(shared_gate))
    bias = None if correction_bias is None else np.ascontiguousarray(correction_bias, np.float32)
    status = _lib.moe_route_f32(ctypes.byref(ExecConfig(threads)), _ptr(logits, _f32),
                                _i64(t), _i64(e), ctypes.byref(params), _ptr(bias, _f32),
                                _ptr(ids, _i32), _ptr(weights, _f32))
    return status, ids, weights


def route_fused(x, router, router_bias, kind, k, renormalize=False,
                scale=1.0, n_group=1, topk_group=1, correction_bias=None,
                threads=0, group_mask="neg_inf", shared=0, shared_gate=False):
    """moe_route_fused_f32: logits = x . router (+ router_bias)."""
    x = np.ascontiguousarray(x, np.float32)
    router = np.ascontiguousarray(router, np.float32)
    t, d = x.shape
    e = router.shape[1] - int(shared_gate)
    params = RoutingParams(ROUTING[kind], k, int(renormalize), n_group,
                           topk_group, scale, GROUP_MASK[group_mask], shared,
                           int(shared_gate))
    ids = np.zeros((t, k + shared), np.int32)
    weights = np.zeros((t, k + shared), np.float32)
    bias = None if router_bias is None else np.ascontiguousarray(router_bias, np.float32)
    cb = None if correction_bias is None else np.ascontiguousarray(correction_bias, np.float32)
    status = _lib.moe_route_fused_f32(
        ctypes.byref(ExecConfig(threads)), _ptr(x, _f32), _i64(t), _i64(d),
        _ptr(router, _f32), _ptr(bias, _f32), _i64(e), ctypes.byref(params),
        _ptr(cb, _f32), _ptr(ids, _i32), _ptr(weights, _f32))
    return status, ids, weights


def permute(ids, num_experts, threads=0):
    ids = np.ascontiguousarray(ids, np.int32)
    t, k = ids.shape
    assignments = np.full(t * k, -7, np.int32)
    offsets = np.full(num_experts + 1, -7, np.int32)
    inverse = np.full((t, k), -7, np.int32)
    status = _lib.moe_permute(ctypes.byref(ExecConfig(threads)), _ptr(ids, _i32),
                              _i64(t), _i64(k), _i64(num_experts), _ptr(assignments, _i32),
                              _ptr(offsets, _i32), _ptr(inverse, _i32))
    return status, assignments, offsets, inverse


def gather_rows(x, assignments, k, threads=0):
    x = np.ascontiguousarray(x, np.float32)
    assignments = np.ascontiguousarray(assignments, np.int32)
    rows = np.zeros((assignments.size, x.shape[1]), np.float32)
    status = _lib.moe_gather_rows_f32(ctypes.byref(ExecConfig(threads)), _ptr(x, _f32),
                                      _i64(x.shape[0]), _i64(x.shape[1]),
                                      _ptr(assignments, _i32), _i64(k), _ptr(rows, _f32))
    return status, rows


_lib.moe_packed_weights_elements.restype = _i64
_lib.moe_packed_weights_columns.restype = _i64
_lib.moe_packed_weights_elements_bf16.restype = _i64


def bf16_round(array):
    """float32 rounded to bfloat16 and back (round to nearest even)."""
    bits = np.ascontiguousarray(array, np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32)


def pack_weights(weights, gated):
    """weights [E, K, M] in the runtime's panel layout (moe_packing.h)."""
    weights = np.ascontiguousarray(weights, np.float32)
    e, kd, m = weights.shape
    packed = np.full(_lib.moe_packed_weights_elements(_i64(e), _i64(kd), _i64(m), _i32(gated)),
                     np.nan, np.float32)
    assert _lib.moe_pack_weights_f32(_ptr(weights, _f32), _i64(e), _i64(kd), _i64(m),
                                     _i32(gated), _ptr(packed, _f32)) == OK
    return packed


def pack_weights_bf16(weights, gated):
    """weights [E, K, M] as bfloat16 bits in the panel layout."""
    weights = np.ascontiguousarray(weights, np.float32)
    e, kd, m = weights.shape
    packed = np.zeros(_lib.moe_packed_weights_elements_bf16(_i64(e), _i64(kd), _i64(m),
                                                            _i32(gated)), np.uint16)
    assert _lib.moe_pack_weights_bf16(_ptr(weights, _f32), _i64(e), _i64(kd), _i64(m),
                                      _i32(gated), packed.ctypes.data_as(
                                          ctypes.POINTER(ctypes.c_uint16))) == OK
    return packed


def int8_dequantized(weights):
    """weights [E, K, M] after symmetric int8 quantization per (expert,
    output column): scale = max |w| over K / 127, q = w / scale rounded half
    away from zero; returns q * scale (numpy, float32 as the packer)."""
    weights = np.asarray(weights, np.float32)
    scale = (np.abs(weights).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    q = np.clip(weights / safe, -127, 127)
    q = np.trunc(q + np.copysign(np.float32(0.5), q))
    return np.where(scale > 0, q * scale, 0).astype(np.float32)


def pack_weights_int8(weights, gated):
    """weights [E, K, M] as int8 panels and their per-column scales."""
    weights = np.ascontiguousarray(weights, np.float32)
    e, kd, m = weights.shape
    packed = np.zeros(_lib.moe_packed_weights_elements(_i64(e), _i64(kd), _i64(m), _i32(gated)),
                      np.int8)
    scales = np.full(_lib.moe_packed_weights_columns(_i64(e), _i64(m), _i32(gated)),
                     np.nan, np.float32)
    assert _lib.moe_pack_weights_int8(_ptr(weights, _f32), _i64(e), _i64(kd), _i64(m),
                                      _i32(gated), packed.ctypes.data_as(
                                          ctypes.POINTER(ctypes.c_int8)),
                                      _ptr(scales, _f32)) == OK
    return packed, scales


def grouped_matmul(rows, weights, offsets, bias=None, activation="identity",
                   alpha=1.702, beta=1.0, limit=7.0, threads=0, packed=False,
                   bf16=False, int8=False, combine=None):
    """With packed=True the weights go through moe_pack_weights_f32 and
    moe_grouped_matmul_packed_f32."""
    rows = np.ascontiguousarray(rows, np.float32)
    weights = np.ascontiguousarray(weights, np.float32)
    offsets = np.ascontiguousarray(offsets, np.int32)
    e, kd, m = weights.shape
    gated = activation in ("swiglu", "clamped_swiglu")
    out = np.zeros((rows.shape[0], m // 2 if gated else m), np.float32)
    act = ActivationParams(ACTIVATION[activation], alpha, beta, limit)
    bias = None if bias is None else np.ascontiguousarray(bias, np.float32)
    storage = "int8" if int8 else "bf16" if bf16 else "packed" if packed else "f32"
    wargs = _weight_args(weights, gated, storage)
    if combine is not None:
        # Through the moe_cc_* adapter (what compiled code calls), which
        # takes the fused combine: out [T, cols].
        cw = np.ascontiguousarray(combine[0], np.float32)
        inverse = np.ascontiguousarray(combine[1], np.int32)
        out = np.zeros((cw.shape[0], out.shape[1]), np.float32)
        fn = getattr(_lib, _CC_GROUPED[storage])
        fn.restype = _i32
        status = fn(_i32(threads), _ptr(rows, _f32), _i64(rows.shape[0]), _i64(kd), *wargs,
                    _i64(e), _i64(m), _ptr(offsets, _i32), _ptr(bias, _f32),
                    _i32(act.kind), _f32(act.alpha), _f32(act.beta), _f32(act.limit),
                    _ptr(out, _f32), None, _ptr(cw, _f32), _ptr(inverse, _i32),
                    _i64(cw.shape[0]), _i64(cw.shape[1]))
        return status, out
    status = getattr(_lib, _GROUPED[storage])(
        ctypes.byref(ExecConfig(threads)), _ptr(rows, _f32), _i64(rows.shape[0]), _i64(kd),
        *wargs, _i64(e), _i64(m), _ptr(offsets, _i32), _ptr(bias, _f32),
        ctypes.byref(act), _ptr(out, _f32))
    return status, out


# The public entry and the moe_cc_* adapter of each weight storage.
_GROUPED = {"f32": "moe_grouped_matmul_f32", "packed": "moe_grouped_matmul_packed_f32",
            "bf16": "moe_grouped_matmul_packed_bf16w", "int8": "moe_grouped_matmul_packed_i8w"}
_CC_GROUPED = {"f32": "moe_cc_grouped_matmul_f32", "packed": "moe_cc_grouped_matmul_packed_f32",
               "bf16": "moe_cc_grouped_matmul_packed_bf16w",
               "int8": "moe_cc_grouped_matmul_packed_i8w"}


def _weight_args(weights, gated, storage):
    """The weight arguments of the grouped matmul for `storage` (packed by
    the runtime's packers); numpy's data_as pointers keep their arrays
    alive."""
    if storage == "int8":
        packed, scales = pack_weights_int8(weights, gated)
        return [packed.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)), _ptr(scales, _f32)]
    if storage == "bf16":
        return [pack_weights_bf16(weights, gated).ctypes.data_as(ctypes.POINTER(ctypes.c_uint16))]
    if storage == "packed":
        return [_ptr(pack_weights(weights, gated), _f32)]
    return [_ptr(weights, _f32)]


def combine(rows, weights, inverse, threads=0):
    rows = np.ascontiguousarray(rows, np.float32)
    weights = np.ascontiguousarray(weights, np.float32)
    inverse = np.ascontiguousarray(inverse, np.int32)
    t, k = weights.shape
    out = np.zeros((t, rows.shape[1]), np.float32)
    status = _lib.moe_combine_f32(ctypes.byref(ExecConfig(threads)), _ptr(rows, _f32),
                                  _i64(rows.shape[0]), _i64(rows.shape[1]),
                                  _ptr(weights, _f32), _ptr(inverse, _i32), _i64(t),
                                  _i64(k), _ptr(out, _f32))
    return status, out
