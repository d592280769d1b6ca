# Each CPU runtime kernel through its C ABI against the NumPy reference
# (test/lib/moe_reference.py), on 1 and 2 threads: every routing kind
# (groups, correction bias, scale, renormalization), exact ties and NaN
# logits, k = E, T = 0 and 1; the permutation with an expert that gets no
# token and all tokens on one expert; row gather; the grouped matmul with
# every activation, bias and empty segments; the combine; a whole layer
# chained from the kernels; and the errors for bad ids and parameters.
# The grouped matmul's micro-kernels are checked on random shapes (tiles
# with partial rows and columns, experts of 0 to 50 rows) for each
# instruction set the CPU has: MOE_RUNTIME_ISA caps the choice (the
# default is the best one: AVX512_BF16's dot products for bf16 weights
# where the CPU has them, whose reference rounds the rows to bf16 too).
# RUN: %python %s | FileCheck %s
# RUN: env MOE_RUNTIME_ISA=avx512 %python %s | FileCheck %s --check-prefixes=CHECK,AVX512
# RUN: env MOE_RUNTIME_ISA=avx2 %python %s | FileCheck %s
# RUN: env MOE_RUNTIME_ISA=generic %python %s | FileCheck %s --check-prefixes=CHECK,GENERIC
# CHECK: api version 5
# GENERIC: isa generic
# AVX512: isa {{avx512$|avx2$|generic$}}
# CHECK: OK: route softmax_topk renorm
# CHECK: OK: route sigmoid grouped
# CHECK: OK: route sigmoid grouped, zero mask
# CHECK: OK: route ties and NaN
# CHECK: OK: route T=0
# CHECK: OK: route fused
# CHECK: OK: route shared experts
# CHECK: OK: permute
# CHECK: OK: grouped_matmul clamped_swiglu
# CHECK: OK: grouped_matmul random shapes
# CHECK: OK: grouped_matmul expert order
# CHECK: OK: combine
# CHECK: OK: chained layer
# CHECK: OK: buffer cache
# CHECK: OK: fused combine
# CHECK: OK: errors
# CHECK: kernels: {{[0-9]+}} passed, 0 failed

import numpy as np

import moe_reference as ref
import runtime_harness as rt

rng = np.random.default_rng(21)
passed = 0


def check(name, condition, detail=""):
    global passed
    if not condition:
        raise AssertionError(f"{name}: {detail}")
    passed += 1


def close(name, actual, expected, rtol=1e-5, atol=1e-6):
    ok = np.allclose(actual, expected, rtol=rtol, atol=atol)
    check(name, ok, "" if ok else
          f"max abs error {np.max(np.abs(np.asarray(actual) - expected)):g}")


print("api version", rt.api_version())
print("isa", rt.cpu_isa())

# Routing: every kind, against moe_reference.route (sort-based, float64).
cases = [
    ("softmax_topk renorm", dict(kind="softmax_topk", k=2, renormalize=True), 8),
    ("softmax_topk", dict(kind="softmax_topk", k=3), 8),
    ("top1", dict(kind="softmax_topk", k=1), 4),
    ("topk_softmax", dict(kind="topk_softmax", k=4), 8),
    ("dense", dict(kind="dense", k=6), 6),
    ("sigmoid grouped", dict(kind="sigmoid_topk", k=4, renormalize=True, scale=2.5,
                             n_group=4, topk_group=2), 16),
]
for name, params, experts in cases:
    logits = rng.standard_normal((33, experts)).astype(np.float32)
    bias = (0.1 * rng.standard_normal(experts)).astype(np.float32) \
        if params["kind"] == "sigmoid_topk" else None
    for threads in (1, 2):
        status, ids, w = rt.route(logits, correction_bias=bias, threads=threads, **params)
        want_ids, want_w = ref.route(logits, correction_bias=bias, **params)
        check(name, status == rt.OK, f"status {status}")
        check(name, np.array_equal(ids, want_ids), f"ids\n{ids}\n{want_ids}")
        close(name, w, want_w)
    print(f"OK: route {name}")

# Hugging Face's DeepseekV3 masks the other groups with 0, not -inf: with
# negative correction biases, masked experts then beat chosen-group ones.
params = dict(kind="sigmoid_topk", k=4, renormalize=True, scale=2.5, n_group=4,
              topk_group=2)
logits = rng.standard_normal((64, 16)).astype(np.float32)
bias = (-0.7 + 0.1 * rng.standard_normal(16)).astype(np.float32)
for threads in (1, 2):
    status, ids, w = rt.route(logits, correction_bias=bias, threads=threads,
                              group_mask="zero", **params)
    want_ids, want_w = ref.route(logits, correction_bias=bias, group_mask="zero", **params)
    check("zero mask", status == rt.OK, f"status {status}")
    check("zero mask", np.array_equal(ids, want_ids), f"ids\n{ids}\n{want_ids}")
    close("zero mask", w, want_w)
# The case must tell the masks apart.
check("zero mask differs", not np.array_equal(
    want_ids, ref.route(logits, correction_bias=bias, **params)[0]))
status, _, _ = rt.route(logits, "softmax_topk", 2, group_mask="zero")
check("zero mask without groups", status == rt.INVALID_ARGUMENT, f"status {status}")
print("OK: route sigmoid grouped, zero mask")

# Exact ties go to the lower index; NaN ranks above every number.
logits = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [0, np.nan, 5, np.nan]], np.float32)
status, ids, _ = rt.route(logits, "topk_softmax", 2)
check("ties", ids.tolist() == [[1, 2], [0, 1], [1, 3]], str(ids))
print("OK: route ties and NaN")
status, ids, w = rt.route(np.zeros((0, 4), np.float32), "softmax_topk", 2)
check("T=0", status == rt.OK and ids.shape == (0, 2))
print("OK: route T=0")

# Fused gating: logits = x . router + bias inside the routing kernel.
for params, experts in [(dict(kind="softmax_topk", k=2, renormalize=True), 8),
                        (dict(kind="sigmoid_topk", k=4, renormalize=True, scale=2.5,
                              n_group=4, topk_group=2), 16)]:
    x = rng.standard_normal((29, 12)).astype(np.float32)
    router = rng.standard_normal((12, experts)).astype(np.float32)
    rbias = rng.standard_normal(experts).astype(np.float32)
    for threads in (1, 2):
        status, ids, w = rt.route_fused(x, router, rbias, threads=threads, **params)
        logits = x.astype(np.float64) @ router + rbias
        want_ids, want_w = ref.route(logits, **params)
        check("route fused status", status == rt.OK)
        check("route fused ids", np.array_equal(ids, want_ids), f"{ids} vs {want_ids}")
        close("route fused weights", w, want_w)
print("OK: route fused")

# Shared experts: always-selected slots after the routed ones, weighted 1
# or by the sigmoid of a gate logit in the last column (Qwen2-MoE), on
# given logits and with fused gating (the gate a column of the router).
for params, experts, shared, gated in [
        (dict(kind="softmax_topk", k=2), 6, 1, True),
        (dict(kind="sigmoid_topk", k=2, renormalize=True, scale=2.5, n_group=4,
              topk_group=2), 8, 2, False),
        (dict(kind="topk_softmax", k=3), 5, 3, True)]:
    columns = experts + int(gated)
    logits = rng.standard_normal((17, columns)).astype(np.float32)
    x = rng.standard_normal((17, 12)).astype(np.float32)
    router = rng.standard_normal((12, columns)).astype(np.float32)
    rbias = rng.standard_normal(columns).astype(np.float32)
    for threads in (1, 2):
        status, ids, w = rt.route(logits, threads=threads, shared=shared,
                                  shared_gate=gated, **params)
        want_ids, want_w = ref.route(logits, shared=shared, shared_gate=gated, **params)
        check("route shared status", status == rt.OK, f"status {status}")
        check("route shared ids", np.array_equal(ids, want_ids), f"{ids} vs {want_ids}")
        close("route shared weights", w, want_w)
        status, ids, w = rt.route_fused(x, router, rbias, threads=threads,
                                        shared=shared, shared_gate=gated, **params)
        want_ids, want_w = ref.route(x.astype(np.float64) @ router + rbias,
                                     shared=shared, shared_gate=gated, **params)
        check("route fused shared status", status == rt.OK, f"status {status}")
        check("route fused shared ids", np.array_equal(ids, want_ids))
        close("route fused shared weights", w, want_w)
    # The gate is not a routed expert: a huge gate logit changes no choice.
    if gated:
        boosted = logits.copy()
        boosted[:, -1] = 50.0
        _, ids, w = rt.route(boosted, shared=shared, shared_gate=gated, **params)
        check("shared gate not routed", np.array_equal(
            ids[:, :params["k"]], ref.route(logits[:, :-1], **params)[0]))
        close("shared gate saturates", w[:, params["k"]:], 1.0)
print("OK: route shared experts")

# Permutation: stable sort by expert, offsets, inverse.
for ids in (rng.integers(0, 5, (9, 2)), np.array([[1, 3], [1, 3], [3, 1]]),
            np.zeros((4, 1), np.int64), np.zeros((0, 2), np.int64)):
    status, assign, offsets, inverse = rt.permute(ids, 5)
    flat = ids.reshape(-1)
    want = np.argsort(flat, kind="stable")
    check("permute", status == rt.OK)
    check("permute order", np.array_equal(assign, want), f"{assign} {want}")
    check("permute offsets", np.array_equal(
        offsets, np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=5))])))
    inv = np.empty_like(want)
    inv[want] = np.arange(flat.size)
    check("permute inverse", np.array_equal(inverse.reshape(-1), inv))
    x = rng.standard_normal((ids.shape[0], 3)).astype(np.float32)
    status, rows = rt.gather_rows(x, assign, ids.shape[1])
    check("gather rows", status == rt.OK and np.array_equal(rows, x[want // ids.shape[1]]))
print("OK: permute")

# Grouped matmul with every activation; expert 1 gets no row.
offsets = np.array([0, 3, 3, 7, 10], np.int32)
rows = rng.standard_normal((10, 6)).astype(np.float32)
for act in ("identity", "relu", "gelu", "gelu_tanh", "silu", "swiglu", "clamped_swiglu"):
    gated = act in ("swiglu", "clamped_swiglu")
    m = 10 if gated else 5
    w = rng.standard_normal((4, 6, m)).astype(np.float32)
    b = rng.standard_normal((4, m)).astype(np.float32)
    params = dict(alpha=1.5, beta=0.5, limit=1.0) if act == "clamped_swiglu" else {}
    for threads in (1, 2):
        status, out = rt.grouped_matmul(rows, w, offsets, b, act, threads=threads, **params)
        want = np.zeros_like(out, dtype=np.float64)
        for e in range(4):
            for r in range(offsets[e], offsets[e + 1]):
                z = rows[r].astype(np.float64) @ w[e] + b[e]
                want[r] = ref.activation(act, z[:m // 2], z[m // 2:], **params) if gated \
                    else ref.activation(act, z)
        check(act, status == rt.OK)
        close(f"grouped_matmul {act}", out, want)
print("OK: grouped_matmul clamped_swiglu")

# Random shapes: K and M around the tile sizes (6 x 32, 4 x 16, 4 x 8)
# and the K block (1024),
# uneven experts (some empty), 1 and 2 threads, row-major and prepacked
# (panel) weights.
for trial in range(16):
    num_experts = int(rng.integers(1, 6))
    counts = rng.integers(0, 51, num_experts)
    counts[rng.integers(num_experts)] = 0
    if trial % 4 == 0:  # decode-sized segments: the wide single-row tiles
        counts = rng.integers(1, 3, num_experts)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    kdim = int(rng.choice([1, 5, 16, 37, 64, 1100]))  # 1100: K blocks of 1024 + 76
    gated = trial % 3 == 0
    act = "swiglu" if gated else ("relu" if trial % 3 == 1 else "identity")
    mdim = int(rng.choice([1, 7, 16, 33, 70, 96, 160, 300])) * (2 if gated else 1)
    rows = rng.standard_normal((int(offsets[-1]), kdim)).astype(np.float32)
    w = rng.standard_normal((num_experts, kdim, mdim)).astype(np.float32)
    b = rng.standard_normal((num_experts, mdim)).astype(np.float32) if trial % 2 else None
    want = np.zeros((rows.shape[0], mdim // 2 if gated else mdim))
    for e in range(num_experts):
        seg = slice(offsets[e], offsets[e + 1])
        z = rows[seg].astype(np.float64) @ w[e] + (0 if b is None else b[e])
        want[seg] = ref.activation(act, z[:, :mdim // 2], z[:, mdim // 2:]) if gated \
            else ref.activation(act, z)
    for threads, packed in ((1, False), (2, False), (1, True), (2, True)):
        status, out = rt.grouped_matmul(rows, w, offsets, b, act, threads=threads,
                                        packed=packed)
        check(f"random {trial}", status == rt.OK)
        close(f"grouped_matmul random {trial} ({num_experts}x{kdim}x{mdim}, {act}, "
              f"packed={packed})", out, want, rtol=1e-4, atol=1e-4)
    # bf16 weights, and int8 weights with per-column scales: exact (to
    # fp32 accumulation) against numpy on the rounded / dequantized weights
    # (and, for bf16 on avx512bf16, rows), and within their rounding error
    # of fp32.
    bf16_rows = rt.bf16_round(rows) if rt.cpu_isa() == "avx512bf16" else rows
    for storage, stored, x, vs_fp32 in (("bf16", rt.bf16_round(w), bf16_rows, 3e-2),
                                        ("int8", rt.int8_dequantized(w), rows, 5e-2)):
        want_stored = np.zeros_like(want)
        for e in range(num_experts):
            seg = slice(offsets[e], offsets[e + 1])
            z = x[seg].astype(np.float64) @ stored[e] + (0 if b is None else b[e])
            want_stored[seg] = ref.activation(act, z[:, :mdim // 2], z[:, mdim // 2:]) \
                if gated else ref.activation(act, z)
        for threads in (1, 2):
            status, out = rt.grouped_matmul(rows, w, offsets, b, act, threads=threads,
                                            **{storage: True})
            check(f"random {trial} {storage}", status == rt.OK)
            close(f"grouped_matmul random {trial} {storage} weights", out, want_stored,
                  rtol=1e-4, atol=1e-4)
        close(f"grouped_matmul random {trial} {storage} vs fp32", out, want, rtol=vs_fp32,
              atol=vs_fp32 * max(1.0, float(np.abs(want).max(initial=0.0))))
print("OK: grouped_matmul random shapes")

# The scheduling order of experts (moe-compile --profile) changes nothing
# in the results; a non-permutation is refused.
import ctypes  # noqa: E402
f32p, i32p = ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_int32)
cc = rt._lib.moe_cc_grouped_matmul_f32
cc.restype = ctypes.c_int32
offsets = np.array([0, 5, 5, 40, 41], np.int32)
rows = rng.standard_normal((41, 24)).astype(np.float32)
w = rng.standard_normal((4, 24, 70)).astype(np.float32)
_, want = rt.grouped_matmul(rows, w, offsets, activation="relu")
for order, ok in (([2, 0, 3, 1], True), ([3, 2, 1, 0], True), ([0, 0, 1, 2], False), ([0, 1, 2, 4], False)):
    out = np.zeros((41, 70), np.float32)
    order_arr = np.array(order, np.int32)
    status = cc(ctypes.c_int32(2), rows.ctypes.data_as(f32p), ctypes.c_int64(41), ctypes.c_int64(24),
                w.ctypes.data_as(f32p), ctypes.c_int64(4), ctypes.c_int64(70),
                offsets.ctypes.data_as(i32p), None, ctypes.c_int32(1), ctypes.c_float(0),
                ctypes.c_float(0), ctypes.c_float(0), out.ctypes.data_as(f32p),
                order_arr.ctypes.data_as(i32p), None, None, ctypes.c_int64(0),
                ctypes.c_int64(0))
    check(f"order {order}", (status == rt.OK) == ok, f"status {status}")
    if ok:
        check(f"order {order} results", np.array_equal(out, want))
print("OK: grouped_matmul expert order")

# Combine.
yrows = rng.standard_normal((10, 3)).astype(np.float32)
cw = rng.standard_normal((5, 2)).astype(np.float32)
cinv = rng.permutation(10).reshape(5, 2).astype(np.int32)
status, out = rt.combine(yrows, cw, cinv)
close("combine", out, (cw[:, :, None].astype(np.float64) * yrows[cinv]).sum(axis=1))
print("OK: combine")

# A whole Mixtral-style layer from the kernels against moe_reference.
d, f, E, k, T = 8, 6, 4, 2, 13
x = rng.standard_normal((T, d)).astype(np.float32)
wr = rng.standard_normal((d, E)).astype(np.float32)
w1, w3 = rng.standard_normal((E, d, f)).astype(np.float32), rng.standard_normal((E, d, f)).astype(np.float32)
w2 = rng.standard_normal((E, f, d)).astype(np.float32)
_, ids, w = rt.route(x @ wr, "softmax_topk", k, renormalize=True)
_, assign, offsets, inverse = rt.permute(ids, E)
_, rows = rt.gather_rows(x, assign, k)
_, h = rt.grouped_matmul(rows, np.concatenate([w1, w3], axis=2), offsets, activation="swiglu")
_, y = rt.grouped_matmul(h, w2, offsets)
_, out = rt.combine(y, w, inverse)
want = ref.moe_layer(x, wr, w1, w2, dict(kind="softmax_topk", k=k, renormalize=True),
                     "swiglu", w3=w3)
close("chained layer", out, want, rtol=1e-4, atol=1e-5)
print("OK: chained layer")

# The buffer cache of compiled code (BufferCache.cpp): a freed large block
# serves the next allocation of its size class; payloads are aligned.
import ctypes  # noqa: E402
alloc = rt._lib._mlir_memref_to_llvm_alloc
alloc.restype, alloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
aligned = rt._lib._mlir_memref_to_llvm_aligned_alloc
aligned.restype, aligned.argtypes = ctypes.c_void_p, [ctypes.c_size_t, ctypes.c_size_t]
release = rt._lib._mlir_memref_to_llvm_free
release.argtypes = [ctypes.c_void_p]
big = alloc(1 << 20)
ctypes.memset(big, 7, 1 << 20)
release(big)
again = alloc((1 << 20) - 100)
rt._lib.moe_runtime_buffer_cache_limit.restype = ctypes.c_int64
if rt._lib.moe_runtime_buffer_cache_limit() > 0:  # off under ASan
    check("cache reuses a freed block", again == big, f"{again:#x} vs {big:#x}")
check("64-byte aligned", again % 64 == 0 and alloc(100) % 64 == 0)
page = aligned(4096, 300 << 10)
check("aligned alloc", page % 4096 == 0, f"{page:#x}")
ctypes.memset(page, 1, 300 << 10)
for ptr in (again, page):
    release(ptr)
release(None)
print("OK: buffer cache")

# The combine fused into the grouped matmul's epilogue (moe_cc_* with
# combine weights and inverse): bitwise what the separate combine of the
# separate grouped matmul gives (same per-element sums, same j order), for
# every weight storage, and against numpy; a bad inverse is refused. k = 1
# runs the epilogue itself (one pass), k > 1 scratch rows and the combine.
i8p = ctypes.POINTER(ctypes.c_int8)
for tokens, k, experts, kdim, mdim, bias_on in ((1, 2, 4, 40, 128, False), (37, 2, 5, 24, 70, True),
                                                (64, 4, 8, 33, 160, False), (29, 1, 6, 24, 48, True)):
    ids = np.stack([rng.permutation(experts)[:k] for _ in range(tokens)]).astype(np.int32)
    _, assign, offsets, inverse = rt.permute(ids, experts)
    rows = rng.standard_normal((tokens * k, kdim)).astype(np.float32)
    w = rng.standard_normal((experts, kdim, mdim)).astype(np.float32)
    b = rng.standard_normal((experts, mdim)).astype(np.float32) if bias_on else None
    cw = rng.random((tokens, k)).astype(np.float32)
    for storage in ("f32", "packed", "bf16", "int8"):
        flags = dict(packed=storage == "packed", bf16=storage == "bf16", int8=storage == "int8")
        _, z = rt.grouped_matmul(rows, w, offsets, b, threads=2, **flags)
        _, separate = rt.combine(z, cw, inverse, threads=2)
        status, fused = rt.grouped_matmul(rows, w, offsets, b, threads=2,
                                          combine=(cw, inverse), **flags)
        check(f"fused combine {storage} status", status == rt.OK, f"status {status}")
        check(f"fused combine {storage} T={tokens}", np.array_equal(fused, separate),
              f"max diff {np.abs(fused - separate).max()}")
    want = np.zeros((tokens, mdim))
    for t in range(tokens):
        for j in range(k):
            e = ids[t, j]
            want[t] += cw[t, j] * (rows[inverse[t, j]].astype(np.float64) @ w[e]
                                   + (0 if b is None else b[e]))
    _, fused = rt.grouped_matmul(rows, w, offsets, b, threads=1, combine=(cw, inverse))
    close(f"fused combine T={tokens} vs numpy", fused, want, rtol=1e-4, atol=1e-4)
status, _ = rt.grouped_matmul(rows, w, offsets, b, combine=(cw, np.full_like(inverse, 10**6)))
check("fused combine bad inverse", status == rt.INDEX_OUT_OF_RANGE, f"status {status}")
print("OK: fused combine")

# Errors: nothing is written on bad ids; bad parameters are refused.
status, assign, offsets, _ = rt.permute(np.array([[0, 5]]), 5)
check("id out of range", status == rt.INDEX_OUT_OF_RANGE and (offsets == -7).all())
status, _, _, _ = rt.permute(np.array([[0, -1]]), 5)
check("negative id", status == rt.INDEX_OUT_OF_RANGE)
check("shared gate without shared experts",
      rt.route(np.zeros((2, 5), np.float32), "softmax_topk", 2,
               shared_gate=True)[0] == rt.INVALID_ARGUMENT)
check("negative shared experts",
      rt.route(np.zeros((2, 4), np.float32), "softmax_topk", 2,
               shared=-1)[0] == rt.INVALID_ARGUMENT)
check("k > E", rt.route(np.zeros((2, 4), np.float32), "softmax_topk", 5)[0] == rt.INVALID_ARGUMENT)
check("groups", rt.route(np.zeros((2, 6), np.float32), "sigmoid_topk", 2, n_group=4)[0]
      == rt.INVALID_ARGUMENT)
check("bias on softmax", rt.route(np.zeros((2, 4), np.float32), "softmax_topk", 2,
                                  correction_bias=np.zeros(4))[0] == rt.INVALID_ARGUMENT)
bad_offsets = np.array([0, 5, 3, 7, 10], np.int32)
check("offsets", rt.grouped_matmul(rows[:10] if rows.shape[0] >= 10 else np.zeros((10, 6)),
                                   np.zeros((4, 6, 5)), bad_offsets)[0] == rt.INDEX_OUT_OF_RANGE)
check("combine inverse", rt.combine(yrows, cw, np.full((5, 2), 10, np.int32))[0]
      == rt.INDEX_OUT_OF_RANGE)
i8 = ctypes.POINTER(ctypes.c_int8)
no_scales = rt._lib.moe_grouped_matmul_packed_i8w(
    ctypes.byref(rt.ExecConfig(1)), rows.ctypes.data_as(f32p), ctypes.c_int64(rows.shape[0]),
    ctypes.c_int64(rows.shape[1]), np.zeros(4096, np.int8).ctypes.data_as(i8), None,
    ctypes.c_int64(1), ctypes.c_int64(8),
    np.array([0, rows.shape[0]], np.int32).ctypes.data_as(i32p), None, None,
    np.zeros((rows.shape[0], 8), np.float32).ctypes.data_as(f32p))
check("int8 without scales", no_scales == rt.INVALID_ARGUMENT, f"status {no_scales}")
print("OK: errors")
print(f"kernels: {passed} passed, 0 failed")
