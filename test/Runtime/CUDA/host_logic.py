# The CUDA runtime's host side, without a GPU: the API version, the row-tile
# bound of the grouped matmul against brute force over random expert
# loads, every argument check (returned before anything is launched), the
# host-side index checks of the moe_cuda_cc_* entry points of compiled
# code (ids, offsets and inverses from the host are checked as on the CPU,
# before any copy; the RMS norm's host path against numpy), and, when no GPU is present, a device error (not a
# crash) with CUDA's text.
# REQUIRES: cuda-runtime
# RUN: %python %s | FileCheck %s
# CHECK: cuda api version 10
# CHECK: OK: row tile bound
# CHECK: OK: argument checks
# CHECK: OK: compiled-code entry points
# CHECK: OK: device errors

import ctypes

import numpy as np

import cuda_harness as ch

lib = ch.lib
i64 = ctypes.c_int64
print("cuda api version", lib.moe_cuda_runtime_api_version())

# moe_cuda_max_row_tiles bounds sum_e ceil(n_e / t) and never exceeds rows.
rng = np.random.default_rng(7)
for _ in range(2000):
    experts = int(rng.integers(1, 300))
    tile = int(rng.choice([1, 16, 64, 128]))
    counts = rng.multinomial(int(rng.integers(0, 5000)), rng.dirichlet(np.ones(experts) * rng.choice([0.05, 1, 20])))
    rows = int(counts.sum())
    needed = int(sum((c + tile - 1) // tile for c in counts))
    bound = lib.moe_cuda_max_row_tiles(rows, experts, tile)
    assert needed <= bound <= max(rows, 0), (rows, experts, tile, needed, bound)
assert lib.moe_cuda_max_row_tiles(-1, 4, 64) == -1
assert lib.moe_cuda_max_row_tiles(10, 0, 64) == -1
assert lib.moe_cuda_max_row_tiles(10, 4, 0) == -1
assert lib.moe_cuda_max_row_tiles(0, 4, 64) == 0
print("OK: row tile bound")


def route_status(t, e, kind="softmax_topk", k=2, n_group=1, topk_group=1,
                 bias=False, scale=1.0, shared=0, shared_gate=0):
    params = ch.RoutingParams(ch.ROUTING[kind], k, 0, n_group, topk_group, scale,
                              0, shared, shared_gate)
    fake = ctypes.c_void_p(16)  # never dereferenced: checks come first
    return lib.moe_cuda_route_f32(None, fake, i64(t), i64(e), ctypes.byref(params),
                                  fake if bias else None, fake, fake)


bad_routes = [
    dict(t=4, e=8, k=9),                    # k > E
    dict(t=4, e=8, k=0),                    # k < 1
    dict(t=-1, e=8),                        # negative T
    dict(t=4, e=1024),                      # more experts than one warp's shared memory holds
    dict(t=4, e=8, bias=True),              # correction bias outside sigmoid routing
    dict(t=4, e=8, kind="dense", k=4),      # dense needs k = E
    dict(t=4, e=128, kind="sigmoid_topk", n_group=128, topk_group=2, k=2),  # > 64 groups
    dict(t=4, e=8, kind="sigmoid_topk", n_group=3, topk_group=1),           # E % groups
    dict(t=4, e=8, scale=0.0),
    dict(t=4, e=8, shared=-1),              # negative shared experts
    dict(t=4, e=8, shared_gate=1),          # a shared gate without shared experts
    dict(t=4, e=8, shared=1, shared_gate=2),
]
for case in bad_routes:
    assert route_status(**case) == ch.INVALID_ARGUMENT, case


def fused_route_status(t, e, kind="softmax_topk", k=2, n_group=1, topk_group=1,
                       bias=False, scale=1.0, shared=0, shared_gate=0, d=16,
                       router=True):
    params = ch.RoutingParams(ch.ROUTING[kind], k, 0, n_group, topk_group, scale,
                              0, shared, shared_gate)
    fake = ctypes.c_void_p(16)
    return lib.moe_cuda_route_fused_f32(
        None, fake, i64(t), i64(d), fake if router else None, None, i64(e),
        ctypes.byref(params), fake if bias else None, fake, fake, None)


# The fused routing refuses what the routing refuses, and a missing router
# or a negative d.
for case in bad_routes + [dict(t=4, e=8, d=-1), dict(t=4, e=8, router=False)]:
    assert fused_route_status(**case) == ch.INVALID_ARGUMENT, case
assert fused_route_status(t=0, e=8) == ch.OK
assert lib.moe_cuda_route_f32(None, None, i64(0), i64(8), None, None, None, None) == ch.INVALID_ARGUMENT
assert route_status(t=0, e=8) == ch.OK  # nothing to launch
assert route_status(t=0, e=8, shared=2, shared_gate=1) == ch.OK

fake = ctypes.c_void_p(16)
act = ch.ActivationParams(ch.ACTIVATION["swiglu"], 1.0, 1.0, 7.0)
gm = lib.moe_cuda_grouped_matmul_f32
assert gm(None, fake, i64(4), i64(8), fake, i64(2), i64(7), fake, None, ctypes.byref(act), fake) == ch.INVALID_ARGUMENT  # odd gated M
assert gm(None, fake, i64(4), i64(8), fake, i64(2), i64(8), None, None, ctypes.byref(act), fake) == ch.INVALID_ARGUMENT  # no offsets
assert gm(None, fake, i64(4), i64(8), fake, i64(0), i64(8), fake, None, ctypes.byref(act), fake) == ch.INVALID_ARGUMENT  # no experts
bad_act = ch.ActivationParams(42, 1.0, 1.0, 7.0)
for gm16 in (lib.moe_cuda_grouped_matmul_bf16, lib.moe_cuda_grouped_matmul_f16):
    assert gm16(None, fake, i64(4), i64(8), fake, i64(2), i64(8), fake, None, ctypes.byref(bad_act), fake) == ch.INVALID_ARGUMENT
    assert gm16(None, fake, i64(4), i64(8), fake, i64(2), i64(7), fake, None, ctypes.byref(act), fake) == ch.INVALID_ARGUMENT  # odd gated M
    assert gm16(None, None, i64(0), i64(8), fake, i64(2), i64(8), fake, None, None, None) == ch.OK  # no rows
assert gm(None, None, i64(0), i64(8), fake, i64(2), i64(8), fake, None, None, None) == ch.OK  # no rows
cublas = lib.moe_cuda_grouped_matmul_cublas_bf16
assert cublas(None, fake, i64(4), i64(8), fake, i64(2), i64(7), fake, None, ctypes.byref(act), fake) == ch.INVALID_ARGUMENT  # odd gated M
assert cublas(None, fake, i64(4), i64(1 << 31), fake, i64(2), i64(8), fake, None, ctypes.byref(act), fake) == ch.INVALID_ARGUMENT  # K > INT_MAX
assert cublas(None, None, i64(0), i64(8), fake, i64(2), i64(8), fake, None, None, None) == ch.OK  # no rows
assert lib.moe_cuda_permute(None, fake, i64(4), i64(0), i64(8), fake, fake, fake) == ch.INVALID_ARGUMENT
assert lib.moe_cuda_permute(None, fake, i64(1 << 31), i64(2), i64(8), fake, fake, fake) == ch.INVALID_ARGUMENT
assert lib.moe_cuda_combine_f32(None, fake, i64(7), i64(4), fake, fake, i64(4), i64(2), fake) == ch.INVALID_ARGUMENT
assert lib.moe_cuda_gather_rows_f32(None, None, i64(4), i64(8), fake, i64(2), fake) == ch.INVALID_ARGUMENT
logits = lib.moe_cuda_router_logits_f32
assert logits(None, fake, i64(4), i64(8), None, i64(8), None, fake) == ch.INVALID_ARGUMENT  # no router
assert logits(None, fake, i64(4), i64(8), fake, i64(0), None, fake) == ch.INVALID_ARGUMENT  # no columns
assert logits(None, fake, i64(-1), i64(8), fake, i64(8), None, fake) == ch.INVALID_ARGUMENT
assert logits(None, None, i64(4), i64(8), fake, i64(8), None, fake) == ch.INVALID_ARGUMENT  # no input
assert logits(None, None, i64(0), i64(8), fake, i64(8), None, None) == ch.OK  # no tokens
print("OK: argument checks")

# The entry points of --target=cuda code take host buffers.
f32p, i32p = ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_int32)
i32 = ctypes.c_int32
x = np.zeros((3, 4), np.float32)
ids = np.array([[0, 1], [2, 9], [1, 0]], np.int32)  # 9: out of range for E = 4
rows = np.zeros((6, 4), np.float32)
small = [np.zeros(6, np.int32), np.zeros(5, np.int32), np.zeros((3, 2), np.int32)]
permute = lib.moe_cuda_cc_permute_f32
assert permute(i32(0), x.ctypes.data_as(f32p), i64(3), i64(4), ids.ctypes.data_as(i32p), i64(2),
               i64(4), rows.ctypes.data_as(f32p), *[a.ctypes.data_as(i32p) for a in small]) \
    == ch.INDEX_OUT_OF_RANGE
assert permute(i32(0), None, i64(3), i64(4), ids.ctypes.data_as(i32p), i64(2), i64(4),
               rows.ctypes.data_as(f32p), *[a.ctypes.data_as(i32p) for a in small]) \
    == ch.INVALID_ARGUMENT
w = np.zeros((4, 4, 8), np.float32)
out = np.zeros((6, 8), np.float32)
gmm = lib.moe_cuda_cc_grouped_matmul_f32
f32 = ctypes.c_float
for offsets in ([0, 2, 1, 4, 6], [1, 2, 3, 4, 6], [0, 1, 2, 3, 5]):  # decreasing, not from 0, not to 6
    o = np.array(offsets, np.int32)
    assert gmm(i32(0), rows.ctypes.data_as(f32p), i64(6), i64(4), w.ctypes.data_as(f32p), i64(4),
               i64(8), o.ctypes.data_as(i32p), None, i32(0), f32(0), f32(0), f32(0),
               out.ctypes.data_as(f32p), None, None, None, i64(0), i64(0), i32(1)) \
        == ch.INDEX_OUT_OF_RANGE, offsets
cw, inverse = np.ones((3, 2), np.float32), np.array([[0, 1], [2, 6], [4, 5]], np.int32)
good = np.array([0, 2, 2, 4, 6], np.int32)
assert gmm(i32(0), rows.ctypes.data_as(f32p), i64(6), i64(4), w.ctypes.data_as(f32p), i64(4),
           i64(8), good.ctypes.data_as(i32p), None, i32(0), f32(0), f32(0), f32(0),
           out.ctypes.data_as(f32p), None, cw.ctypes.data_as(f32p), inverse.ctypes.data_as(i32p),
           i64(3), i64(2), i32(1)) == ch.INDEX_OUT_OF_RANGE  # inverse 6 of 6 rows
combined = np.zeros((3, 4), np.float32)
assert lib.moe_cuda_cc_combine_f32(i32(0), rows.ctypes.data_as(f32p), i64(6), i64(4),
                                   cw.ctypes.data_as(f32p), inverse.ctypes.data_as(i32p), i64(3),
                                   i64(2), combined.ctypes.data_as(f32p)) == ch.INDEX_OUT_OF_RANGE
assert lib.moe_cuda_cc_route_f32(i32(0), None, i64(3), i64(4), i32(0), i32(2), i32(1), i32(1),
                                 i32(1), i32(0), i32(0), i32(0), f32(1), None, None, None,
                                 i32(0), None) == ch.INVALID_ARGUMENT
# The fused RMS norm: its argument checks, and its host path (host
# buffers: computed on the host, no GPU needed) against numpy, with a
# residual added first (its sum written too).
norm = lib.moe_cuda_cc_rms_norm_f32
normed, total = np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32)
assert norm(i32(0), None, None, i64(3), i64(4), f32(1e-6), None, None,
            normed.ctypes.data_as(f32p)) == ch.INVALID_ARGUMENT
assert norm(i32(0), x.ctypes.data_as(f32p), None, i64(3), i64(0), f32(1e-6), None, None,
            normed.ctypes.data_as(f32p)) == ch.INVALID_ARGUMENT
values = rng.standard_normal((3, 4)).astype(np.float32)
residual = rng.standard_normal((3, 4)).astype(np.float32)
scale = rng.standard_normal(4).astype(np.float32)
assert norm(i32(0), values.ctypes.data_as(f32p), residual.ctypes.data_as(f32p), i64(3), i64(4),
            f32(1e-6), scale.ctypes.data_as(f32p), total.ctypes.data_as(f32p),
            normed.ctypes.data_as(f32p)) == ch.OK
h = values.astype(np.float64) + residual
expected = h / np.sqrt((h ** 2).mean(1, keepdims=True) + 1e-6) * scale
assert np.allclose(normed, expected, rtol=1e-5, atol=1e-6), normed - expected
assert np.array_equal(total, values + residual)
# The expert chain and the whole layer (fused gating + experts), for each
# weight type (f32, bf16 and fp16 bit patterns): the layer's routing makes
# the ids on the device, so only its arguments are checked on the host.
y = np.zeros((3, 4), np.float32)
x_ptr, y_ptr, cw_ptr = (a.ctypes.data_as(f32p) for a in (x, y, cw))
router = np.zeros((4, 4), np.float32)
for suffix, dtype in (("f32", np.float32), ("bf16w", np.uint16), ("f16w", np.uint16)):
    w1, w2 = np.zeros((4, 4, 8), dtype), np.zeros((4, 4, 4), dtype)
    experts = getattr(lib, "moe_cuda_cc_experts_" + suffix)
    layer = getattr(lib, "moe_cuda_cc_layer_" + suffix)

    def weights_args(act1, m1):
        return (ctypes.c_void_p(w1.ctypes.data), i64(m1), None, i32(act1), f32(1), f32(1),
                f32(7), i32(1), ctypes.c_void_p(w2.ctypes.data), i64(4), None, i32(0), f32(0),
                f32(0), f32(0), i32(1))

    def experts_status(ids_array, act1=4, m1=8):
        return experts(i32(0), x_ptr, i64(3), i64(4),
                       None if ids_array is None else ids_array.ctypes.data_as(i32p),
                       cw_ptr, i64(2), i64(4), *weights_args(act1, m1), y_ptr)

    def layer_status(router_array=router, k=2, act1=4, m1=8, out=y_ptr, shared=0,
                     shared_gate=0):
        return layer(i32(0), x_ptr, i64(3), i64(4),
                     None if router_array is None else router_array.ctypes.data_as(f32p), None,
                     i64(4), i32(0), i32(k), i32(1), i32(1), i32(1), i32(0), i32(shared),
                     i32(shared_gate), f32(1), None, i32(0), b"layer", *weights_args(act1, m1),
                     out)

    assert experts_status(ids) == ch.INDEX_OUT_OF_RANGE, suffix  # id 9 of 4 experts
    assert experts_status(None) == ch.INVALID_ARGUMENT, suffix
    assert experts_status(np.zeros((3, 2), np.int32), m1=7) == ch.INVALID_ARGUMENT  # odd gated width
    assert experts_status(np.zeros((3, 2), np.int32), act1=42) == ch.INVALID_ARGUMENT
    assert layer_status(router_array=None) == ch.INVALID_ARGUMENT, suffix
    assert layer_status(k=0) == ch.INVALID_ARGUMENT
    assert layer_status(m1=7) == ch.INVALID_ARGUMENT  # odd gated width
    assert layer_status(act1=42) == ch.INVALID_ARGUMENT
    assert layer_status(out=None) == ch.INVALID_ARGUMENT
    assert layer_status(shared=-1) == ch.INVALID_ARGUMENT
    assert layer_status(shared_gate=1) == ch.INVALID_ARGUMENT  # a gate, no shared expert
    # Without a GPU a valid call fails cleanly with CUDA's reason.
    if ch.device_count() == 0:
        assert layer_status() == ch.DEVICE_ERROR, suffix
print("OK: compiled-code entry points")

# Without a GPU a valid launch fails cleanly with CUDA's reason.
if ch.device_count() == 0:
    status = route_status(t=4, e=8)
    assert status == ch.DEVICE_ERROR, status
    message = lib.moe_cuda_last_error().decode()
    assert message.startswith("cuda"), message
    # The router GEMV (one split, then split d with its partial sums) and
    # the grouped-matmul path of more tokens.
    for t, d in ((1, 64), (4, 8192), (9, 64)):
        assert ch.router_logits(None, None, shape=(t, d, 8))[0] == ch.INVALID_ARGUMENT
        status = lib.moe_cuda_router_logits_f32(None, fake, i64(t), i64(d), fake, i64(8),
                                                None, fake)
        assert status == ch.DEVICE_ERROR, (t, d, status)
print("OK: device errors")
