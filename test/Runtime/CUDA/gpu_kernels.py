# The CUDA kernels on a GPU against the NumPy reference (test/lib/
# moe_reference.py), the same cases as the CPU kernel tests: every routing
# kind (groups, bias, scale, renormalization, ties, NaN), the stable
# permutation with empty and full experts, gather, the grouped matmul in
# fp32, bf16 and fp16 (tensor cores) with every activation over random shapes
# and uneven experts, combine, the graph's elementwise ops (broadcasting
# binary, unary, row means), an attention block's ops (softmax, transpose,
# batched matmuls through cuBLAS), and a whole layer chained. bf16 results are
# compared at rtol 2e-2 on unit-variance inputs plus a global cosine check.
# The bf16 shapes cover both tensor-core kernels: the mma.sync one (K and
# columns multiples of 8; 16-, 64- and 128-row blocks by rows per expert;
# split-K for decode's few rows and long K) and the WMMA one (the other
# sizes; all of them in the second run); the third run opts in to the
# experimental wgmma kernel. On the SIMT emulator, decode's matmuls must
# also stage each touched weight byte from device memory once.
# Runs where a GPU is present (scripts/gpu-check.sh).
# REQUIRES: gpu
# RUN: %python %s | FileCheck %s
# RUN: env MOE_CUDA_GROUPED_MATMUL=wmma %python %s | FileCheck %s
# The experimental wgmma kernel (Hopper; elsewhere this is the mma.sync run
# again):
# RUN: env MOE_CUDA_GROUPED_MATMUL=wgmma %python %s | FileCheck %s
# CHECK: OK: route
# CHECK: OK: router logits
# CHECK: OK: fused routing
# CHECK: OK: permute
# CHECK: OK: grouped_matmul f32
# CHECK: OK: grouped_matmul bf16
# CHECK: OK: grouped_matmul f16
# CHECK: OK: combine
# CHECK: OK: compiled experts
# CHECK: OK: compiled layer
# CHECK: OK: binary
# CHECK: OK: unary, mean, RMS norm and casts
# CHECK: OK: softmax, transpose, slice, concat, expand, range, rotary and matmul
# CHECK: OK: fused attention
# CHECK: OK: chained layer

import ctypes
import os
import sys
import traceback

import numpy as np

import cuda_harness as ch
import moe_reference as ref

rng = np.random.default_rng(31)
D = ch.Device
# MOE_GPU_KERNELS_QUICK=1: a few grouped-matmul trials only, for runs under
# compute-sanitizer (scripts/gpu-check.sh), which are ~100x slower.
QUICK = os.environ.get("MOE_GPU_KERNELS_QUICK") == "1"


# On the emulated Hopper part with wgmma opted in, the 16-bit matmuls
# must take the wgmma kernel (its TMA loads are counted), not the
# mma.sync one it falls back to where tensor maps cannot be encoded.
EXPECT_WGMMA = (os.environ.get("MOE_CUDA_GROUPED_MATMUL") == "wgmma"
                and os.environ.get("MOE_CUDA_EMULATION_ARCH") == "90")


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


def routing_mismatches(case, logits, params, bias, experts, got, want, tie_rtol,
                       weight_rtol):
    """Where a routing (got: ids, weights) differs from the reference (want):
    a token's ids may come in another order only among choices float32
    cannot tell apart (scores within tie_rtol); tokens with the same ids
    must have the same weights. Returns the failures' descriptions."""
    (got_ids, got_w), (want_ids, want_w) = got, want
    k = params["k"]
    routed = logits[:, :-1] if params.get("shared_gate") else logits
    scores = ref.choice_scores(routed, params["kind"], bias)
    failures = []
    for t in range(len(logits)):
        if np.array_equal(got_ids[t], want_ids[t]):
            if not np.allclose(got_w[t], want_w[t], rtol=weight_rtol, atol=1e-5):
                failures.append(f"{case}: weights of token {t}: {got_w[t].tolist()} vs "
                                f"{want_w[t].tolist()}")
        elif not (np.array_equal(got_ids[t, k:], want_ids[t, k:])
                  and (got_ids[t, :k] < experts).all()
                  and np.allclose(scores[t, got_ids[t, :k]], scores[t, want_ids[t, :k]],
                                  rtol=tie_rtol, atol=tie_rtol / 10)):
            failures.append(f"{case}: ids of token {t}: {got_ids[t].tolist()} vs "
                            f"{want_ids[t].tolist()}")
    return failures[:3]  # the first few of a case


def test_route():
    cases = [
        (dict(kind="softmax_topk", k=2, renormalize=True), 8, False),
        (dict(kind="softmax_topk", k=3), 64, False),
        (dict(kind="topk_softmax", k=4), 8, False),
        (dict(kind="dense", k=6), 6, False),
        (dict(kind="dense", k=64), 64, False),        # k over a warp's 32 lanes
        (dict(kind="softmax_topk", k=40, renormalize=True), 128, False),
        (dict(kind="sigmoid_topk", k=8, renormalize=True, scale=2.5, n_group=8, topk_group=4), 256, True),
        # Shared experts' slots after the routed ones: gated by one more
        # logits column (Qwen2-MoE; 33 slots: more than a warp's lanes), or
        # weight 1.
        (dict(kind="softmax_topk", k=2, shared=33, shared_gate=True), 60, False),
        (dict(kind="sigmoid_topk", k=4, renormalize=True, n_group=4, topk_group=2, shared=1), 16, True),
    ]
    failures = []  # every case runs; the failing ones are listed
    for params, experts, with_bias in cases:
        for tokens in (1, 33, 257):
            columns = experts + int(params.get("shared_gate", False))
            logits = rng.standard_normal((tokens, columns)).astype(np.float32)
            logits[0, :2] = logits[0, 2]  # ties
            bias = (0.1 * rng.standard_normal(experts)).astype(np.float32) if with_bias else None
            status, ids, w = ch.route(D(logits), bias=D(bias) if with_bias else None, **params)
            case = f"{params} E={experts} T={tokens}"
            if status != ch.OK:
                failures.append(f"{case}: status {status} {ch.lib.moe_cuda_last_error()}")
                continue
            want = ref.route(logits, correction_bias=bias, **params)
            failures += routing_mismatches(case, logits, params, bias, experts,
                                           (ids.get(), w.get()), want, 1e-6, 1e-5)
    report("route", failures)


def test_router_logits():
    # Decode's GEMV (T <= 8: one split, or d cut into ranges whose partial
    # sums a second pass adds; columns not a multiple of 32) and the
    # grouped matmul beyond, with and without a bias.
    for tokens in (1, 2, 5, 8, 9, 33):
        for d, columns in ((16, 8), (300, 65), (7168, 257), (2048, 9)):
            x = rng.standard_normal((tokens, d)).astype(np.float32)
            router = (rng.standard_normal((d, columns)) / np.sqrt(d)).astype(np.float32)
            bias = rng.standard_normal(columns).astype(np.float32)
            for with_bias in (False, True):
                status, logits = ch.router_logits(D(x), D(router),
                                                  D(bias) if with_bias else None)
                assert status == ch.OK, (status, ch.lib.moe_cuda_last_error())
                want = x.astype(np.float64) @ router + (bias if with_bias else 0.0)
                close(f"router logits T={tokens} d={d} C={columns}", logits.get(), want,
                      rtol=1e-4, atol=1e-4)
    print("OK: router logits")


def permute(ids, experts):
    t, k = ids.shape
    assign = D(shape=(t * k,), dtype=np.int32)
    offsets = D(shape=(experts + 1,), dtype=np.int32)
    inverse = D(shape=(t, k), dtype=np.int32)
    d_ids = D(ids)
    status = ch.lib.moe_cuda_permute(None, d_ids.ptr, ch._i64(t), ch._i64(k),
                                     ch._i64(experts), assign.ptr, offsets.ptr, inverse.ptr)
    assert status == ch.OK
    return assign, offsets, inverse


def test_route_fused():
    # Routing from the layer input: decode's GEMV with d in one range or
    # split (the routing kernel then adds the partial sums up), more tokens
    # through the grouped matmul; with and without a router bias, a gated
    # shared expert's column, and the logits written or not.
    cases = [(dict(kind="softmax_topk", k=2, renormalize=True), 8, False),
             (dict(kind="sigmoid_topk", k=4, renormalize=True, n_group=4, topk_group=2), 16, True),
             (dict(kind="softmax_topk", k=2, shared=1, shared_gate=True), 6, False)]
    failures = []
    for params, experts, with_bias in cases:
        for tokens in (1, 5, 8, 9, 33):
            for d in (16, 3000):
                columns = experts + int(params.get("shared_gate", False))
                x = rng.standard_normal((tokens, d)).astype(np.float32)
                router = (rng.standard_normal((d, columns)) / np.sqrt(d)).astype(np.float32)
                router_bias = rng.standard_normal(columns).astype(np.float32)
                bias = (0.1 * rng.standard_normal(experts)).astype(np.float32) if with_bias else None
                with_logits = tokens % 2 == 1
                extra = dict(bias=D(bias)) if with_bias else {}
                status, ids, w, logits = ch.route_fused(
                    D(x), D(router), router_bias=D(router_bias), with_logits=with_logits,
                    **params, **extra)
                case = f"{params} E={experts} T={tokens} d={d}"
                if status != ch.OK:
                    failures.append(f"{case}: status {status} {ch.lib.moe_cuda_last_error()}")
                    continue
                want_logits = x.astype(np.float64) @ router + router_bias
                if with_logits and not np.allclose(logits.get(), want_logits, rtol=1e-4, atol=1e-4):
                    failures.append(f"{case}: logits off by {np.abs(logits.get() - want_logits).max():g}")
                want = ref.route(want_logits, correction_bias=bias, **params)
                # fp32 logits from the GEMV: near ties within 1e-4.
                failures += routing_mismatches(case, want_logits, params, bias, experts,
                                               (ids.get(), w.get()), want, 1e-4, 1e-4)
    report("fused routing", failures)


def test_permute():
    # Up to 256 slots: one block, one launch (decode); more: a block per
    # expert.
    for ids in (rng.integers(0, 6, (40, 2)).astype(np.int32),
                np.full((17, 1), 3, np.int32),            # all tokens on one expert
                np.array([[0, 5], [5, 0]], np.int32),      # experts 1-4 empty
                np.full((128, 2), 5, np.int32),           # 256 slots, one expert
                rng.integers(0, 6, (300, 2)).astype(np.int32),
                np.concatenate([np.full((200, 2), 4), rng.integers(0, 6, (90, 2))]).astype(np.int32)):
        assign, offsets, inverse = permute(ids, 6)
        flat = ids.reshape(-1)
        want = np.argsort(flat, kind="stable")
        assert np.array_equal(assign.get(), want)
        assert np.array_equal(offsets.get(), np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=6))]))
        inv = np.empty_like(want)
        inv[want] = np.arange(flat.size)
        assert np.array_equal(inverse.get().reshape(-1), inv)
        x = rng.standard_normal((ids.shape[0], 5)).astype(np.float32)
        rows = D(shape=(flat.size, 5), dtype=np.float32)
        assert ch.lib.moe_cuda_gather_rows_f32(None, D(x).ptr, ch._i64(ids.shape[0]), ch._i64(5),
                                               assign.ptr, ch._i64(ids.shape[1]), rows.ptr) == ch.OK
        assert np.array_equal(rows.get(), x[want // ids.shape[1]])
    print("OK: permute")


def grouped_reference(rows, w, offsets, b, act, params):
    gated = act in ("swiglu", "clamped_swiglu")
    m = w.shape[2]
    want = np.zeros((rows.shape[0], m // 2 if gated else m))
    for e in range(w.shape[0]):
        seg = slice(offsets[e], offsets[e + 1])
        z = rows[seg].astype(np.float64) @ w[e] + (0 if b is None else b[e])
        want[seg] = ref.activation(act, z[:, :m // 2], z[:, m // 2:], **params) if gated \
            else ref.activation(act, z, **params)
    return want


# 16-bit element types: (to bit patterns, back to float32).
HALF = {"bf16": (ch.to_bf16, ch.from_bf16),
        "f16": (lambda a: a.astype(np.float16).view(np.uint16),
                lambda bits: bits.view(np.float16).astype(np.float32))}


def mismatch(got, want, offsets, rtol, atol):
    """None when got matches want; else where it is worst: the error, the
    element, its expert and row within the expert's segment, and how many
    elements are off (what tells a tile edge from a layout error)."""
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
    if not bad.any():
        return None
    error = np.abs(got - want)
    r, c = np.unravel_index(int(np.argmax(np.where(bad, error, -1))), got.shape)
    e = int(np.searchsorted(offsets, r, side="right") - 1)
    return (f"max error {error[r, c]:g} at row {r} (expert {e}, its row {r - offsets[e]}) "
            f"column {c}: {got[r, c]:g} vs {want[r, c]:g}; {int(bad.sum())} of {bad.size} off, "
            f"in rows {sorted(set(np.nonzero(bad)[0].tolist()))[:8]}..., "
            f"columns {sorted(set(np.nonzero(bad)[1].tolist()))[:8]}...")


def test_grouped_matmul(dtype):
    half = dtype in HALF
    loads = tma_loads()
    # Every trial runs; the failing ones are listed with their shapes (a
    # GPU session is short: one run should say which kernel paths fail).
    failures = []
    for trial in range(7 if QUICK else 21 if half else 14):
        act = ["identity", "relu", "gelu", "gelu_tanh", "silu", "swiglu", "clamped_swiglu"][trial % 7]
        gated = act in ("swiglu", "clamped_swiglu")
        experts = int(rng.integers(1, 9))
        counts = rng.integers(0, [20, 150, 400][trial % 3], experts)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        kdim = int(rng.choice([1, 16, 37, 40, 256, 520]))
        m = int(rng.choice([8, 64, 70, 200, 264])) * (2 if gated else 1)
        rows = rng.standard_normal((int(offsets[-1]), kdim)).astype(np.float32)
        w = (rng.standard_normal((experts, kdim, m)) / np.sqrt(kdim)).astype(np.float32)
        b = rng.standard_normal((experts, m)).astype(np.float32) if trial % 2 else None
        params = dict(alpha=1.5, beta=0.5, limit=1.0) if act == "clamped_swiglu" else {}
        if half:
            to_bits, from_bits = HALF[dtype]
            rows_in, w_in = to_bits(rows), to_bits(w)
            rows_ref, w_ref = from_bits(rows_in), from_bits(w_in)
        else:
            rows_in, w_in, rows_ref, w_ref = rows, w, rows, w
        want = grouped_reference(rows_ref, w_ref, offsets, b, act, params)
        # bf16 twice: our tensor-core kernel and the cuBLAS grouped GEMM.
        for cublas in ((False, True) if dtype == "bf16" else (False,)):
            status, out = ch.grouped_matmul(D(rows_in), D(w_in), D(offsets),
                                            D(b) if b is not None else None, act,
                                            dtype=dtype, cublas=cublas, **params)
            case = (f"{dtype} {act} cublas={cublas}: E={experts} rows per expert "
                    f"{counts.tolist()} K={kdim} M={m} bias={b is not None}")
            if status != ch.OK:
                failures.append(f"{case}: status {status} {ch.lib.moe_cuda_last_error()}")
                continue
            got = out.get()
            tolerance = 2e-2 if half else 1e-4
            detail = mismatch(got, want, offsets, tolerance, tolerance)
            if detail is None and half and got.size and np.linalg.norm(want) > 0:
                cos = np.sum(got * want) / (np.linalg.norm(got) * np.linalg.norm(want) + 1e-30)
                detail = None if cos > 0.999 else f"cosine {cos}"
            if detail:
                failures.append(f"{case}: {detail}")
    if half:
        # Decode: a few rows, long K, few column tiles: the mma.sync kernel
        # splits K over blocks (partials, then bias + activation).
        to_bits, from_bits = HALF[dtype]
        for act, counts, kdim, m in (("swiglu", [1, 0, 0, 1, 0, 0, 0, 0], 2048, 512),
                                     ("identity", [2, 1, 0, 3], 4096, 256),
                                     ("gelu", [1], 1032, 64)):
            experts = len(counts)
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
            rows = to_bits(rng.standard_normal((int(offsets[-1]), kdim)).astype(np.float32))
            w = to_bits((rng.standard_normal((experts, kdim, m)) / np.sqrt(kdim))
                        .astype(np.float32))
            b = rng.standard_normal((experts, m)).astype(np.float32)
            want = grouped_reference(from_bits(rows), from_bits(w), offsets, b, act, {})
            # The splits' finish: a second kernel on the legacy stream; on
            # the per-thread stream (compiled models') the last split of each
            # tile, in the one launch - twice, its tile counters reset.
            results, launches, read = {}, {}, None
            for stream, label in ((None, "legacy stream"), (ch.PER_THREAD_STREAM, "per-thread"),
                                  (ch.PER_THREAD_STREAM, "per-thread again")):
                before, staged = kernel_launches(), staged_bytes()
                status, out = ch.grouped_matmul(D(rows), D(w), D(offsets), D(b), act,
                                                dtype=dtype, stream=stream)
                if staged is not None and read is None:
                    read = staged_bytes() - staged
                case = f"{dtype} decode {act} ({label}): rows per expert {counts} K={kdim} M={m}"
                if status != ch.OK:
                    failures.append(f"{case}: status {status} {ch.lib.moe_cuda_last_error()}")
                    continue
                if before is not None:
                    launches[label] = kernel_launches() - before
                results[label] = out.get()
                detail = mismatch(results[label], want, offsets, 2e-2, 2e-2)
                if detail:
                    failures.append(f"{case}: {detail}")
            # Both finishes add the splits in the same order.
            if len(results) == 3 and not all(np.array_equal(r, results["legacy stream"])
                                             for r in results.values()):
                failures.append(f"{dtype} decode {act}: the two finishes differ")
            if launches and launches != {"legacy stream": 2, "per-thread": 1,
                                         "per-thread again": 1} \
                    and os.environ.get("MOE_CUDA_GROUPED_MATMUL") != "wmma":
                failures.append(f"{dtype} decode {act}: launches {launches} (split-K: 2 on "
                                "the legacy stream, 1 on the per-thread stream)")
            case = f"{dtype} decode {act}: rows per expert {counts} K={kdim} M={m}"
            # Decode streams weights: each byte of the experts with rows is
            # read once (split-K's splits do not overlap, gate and up once
            # each), the few rows once per column tile and row tile.
            if read is not None and os.environ.get("MOE_CUDA_GROUPED_MATMUL") != "wmma":
                touched = sum(1 for c in counts if c) * kdim * m * 2
                tiles = -(-m // 128) * sum(1 for c in counts if c)
                if not touched <= read <= 1.01 * touched + rows.nbytes * tiles:
                    failures.append(f"{case}: staged {read} bytes from device memory for "
                                    f"{touched} bytes of touched weights")
    if half and EXPECT_WGMMA and loads is not None and tma_loads() == loads:
        failures.append("no TMA load: the wgmma kernel never ran")
    report(f"grouped_matmul {dtype}", failures)

def test_combine():
    y = rng.standard_normal((10, 3)).astype(np.float32)
    cw = rng.standard_normal((5, 2)).astype(np.float32)
    cinv = rng.permutation(10).reshape(5, 2).astype(np.int32)
    out = D(shape=(5, 3), dtype=np.float32)
    assert ch.lib.moe_cuda_combine_f32(None, D(y).ptr, ch._i64(10), ch._i64(3), D(cw).ptr, D(cinv).ptr,
                                       ch._i64(5), ch._i64(2), out.ptr) == ch.OK
    close("combine", out.get(), (cw[:, :, None].astype(np.float64) * y[cinv]).sum(axis=1))
    print("OK: combine")



def test_chained_layer():
    """A Mixtral-style layer from the kernels against moe_reference.moe_layer."""
    d, f, E, k, T = 64, 96, 8, 2, 333
    x = rng.standard_normal((T, d)).astype(np.float32)
    wr = rng.standard_normal((d, E)).astype(np.float32)
    w1 = (rng.standard_normal((E, d, f)) / np.sqrt(d)).astype(np.float32)
    w3 = (rng.standard_normal((E, d, f)) / np.sqrt(d)).astype(np.float32)
    w2 = (rng.standard_normal((E, f, d)) / np.sqrt(f)).astype(np.float32)
    _, ids, w = ch.route(D(x @ wr), "softmax_topk", k, renormalize=True)
    t_ids = ids.get()
    assign, offsets, inverse = permute(t_ids, E)
    rows = D(shape=(T * k, d), dtype=np.float32)
    assert ch.lib.moe_cuda_gather_rows_f32(None, D(x).ptr, ch._i64(T), ch._i64(d), assign.ptr, ch._i64(k), rows.ptr) == ch.OK
    _, h = ch.grouped_matmul(rows, D(np.concatenate([w1, w3], axis=2)), offsets, activation="swiglu")
    _, yrows = ch.grouped_matmul(h, D(w2), offsets)
    layer = D(shape=(T, d), dtype=np.float32)
    assert ch.lib.moe_cuda_combine_f32(None, yrows.ptr, ch._i64(T * k), ch._i64(d), w.ptr, inverse.ptr,
                                       ch._i64(T), ch._i64(k), layer.ptr) == ch.OK
    want = ref.moe_layer(x, wr, w1, w2, dict(kind="softmax_topk", k=k, renormalize=True), "swiglu", w3=w3)
    close("layer", layer.get(), want, rtol=1e-4, atol=1e-4)
    print("OK: chained layer")


def test_compiled_experts():
    """moe_cuda_cc_experts_f32 (permutation, gather, both grouped matmuls,
    combine) on host buffers against numpy: at decode sizes, where the
    permutation and the gather are one launch, and with more rows than
    that launch copies (the separate permutation and gather)."""
    _i32, _i64, _f32, _p = ch._i32, ch._i64, ch._f32, ch._p
    experts = ch.lib.moe_cuda_cc_experts_f32
    experts.argtypes = ([_i32, _p, _i64, _i64, _p, _p, _i64, _i64] +
                        [_p, _i64, _p, _i32, _f32, _f32, _f32, _i32] * 2 + [_p])
    failures = []
    for t, d, k, e, f in ((1, 64, 2, 8, 32), (3, 16, 4, 6, 24), (300, 64, 2, 8, 32)):
        x = rng.standard_normal((t, d)).astype(np.float32)
        ids = np.stack([rng.permutation(e)[:k] for _ in range(t)]).astype(np.int32)
        weights = rng.random((t, k)).astype(np.float32)
        w1 = (rng.standard_normal((e, d, f)) / np.sqrt(d)).astype(np.float32)
        w2 = (rng.standard_normal((e, f, d)) / np.sqrt(f)).astype(np.float32)
        want = np.zeros((t, d))
        for j in range(k):
            hidden = np.einsum("td,tdf->tf", x.astype(np.float64), w1[ids[:, j]])
            want += weights[:, j, None] * np.einsum("tf,tfd->td", hidden, w2[ids[:, j]])
        out = np.empty((t, d), np.float32)
        before = kernel_launches()
        status = experts(0, x.ctypes.data, t, d, ids.ctypes.data, weights.ctypes.data, k, e,
                         w1.ctypes.data, f, None, ch.ACTIVATION["identity"], 0, 0, 0, 0,
                         w2.ctypes.data, d, None, ch.ACTIVATION["identity"], 0, 0, 0, 0,
                         out.ctypes.data)
        launches = None if before is None else kernel_launches() - before
        if status != ch.OK or not np.allclose(out, want, rtol=1e-4, atol=1e-4):
            failures.append(f"experts T={t} d={d} k={k}: status {status}")
        # Permutation with the gather, up, down, combine; beyond 16384
        # gathered values the permutation's and the gather's own launches.
        fused = t * k * d <= 16384
        if launches is not None and fused and launches != 4:
            failures.append(f"experts T={t} d={d} k={k}: {launches} launches, not 4")
        if launches is not None and not fused and launches < 5:
            failures.append(f"experts T={t} d={d} k={k}: {launches} launches, "
                            "the gather not separate")
    report("compiled experts", failures)


def test_compiled_layer():
    """moe_cuda_cc_layer_f32 (router GEMV, routing, permutation, gather,
    both grouped matmuls, combine; a shared expert after the routed ones)
    on host buffers against numpy: at decode's few tokens the routing, the
    permutation and the gather are one launch after the GEMV (a warp per
    token, up to 4), beyond that the routing's own launch."""
    _i32, _i64, _f32, _p = ch._i32, ch._i64, ch._f32, ch._p
    layer = ch.lib.moe_cuda_cc_layer_f32
    layer.argtypes = ([_i32, _p, _i64, _i64, _p, _p, _i64] + [_i32] * 8 +
                      [_f32, _p, _i32, ctypes.c_char_p] +
                      [_p, _i64, _p, _i32, _f32, _f32, _f32, _i32] * 2 + [_p])
    failures = []
    d, f, e, k = 64, 32, 8, 2
    for t, shared in ((1, 0), (3, 1), (4, 0), (5, 1), (40, 0)):
        x = rng.standard_normal((t, d)).astype(np.float32)
        router = rng.standard_normal((d, e)).astype(np.float32)
        w1 = (rng.standard_normal((e + shared, d, f)) / np.sqrt(d)).astype(np.float32)
        w2 = (rng.standard_normal((e + shared, f, d)) / np.sqrt(f)).astype(np.float32)
        logits = x.astype(np.float64) @ router
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        chosen = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        weights = np.take_along_axis(probs, chosen, 1)
        weights /= weights.sum(1, keepdims=True)
        slots = [(chosen[:, j], weights[:, j]) for j in range(k)]
        slots += [(np.full(t, e + j), np.ones(t)) for j in range(shared)]
        want = np.zeros((t, d))
        for ids, w in slots:
            hidden = np.einsum("td,tdf->tf", x.astype(np.float64), w1[ids])
            want += w[:, None] * np.einsum("tf,tfd->td", hidden, w2[ids])
        out = np.empty((t, d), np.float32)
        before = kernel_launches()
        status = layer(0, x.ctypes.data, t, d, router.ctypes.data, None, e,
                       ch.ROUTING["softmax_topk"], k, 1, 1, 1, 0, shared, 0, 1.0, None, 0,
                       b"layer", w1.ctypes.data, f, None, ch.ACTIVATION["identity"], 0, 0, 0,
                       0, w2.ctypes.data, d, None, ch.ACTIVATION["identity"], 0, 0, 0, 0,
                       out.ctypes.data)
        launches = None if before is None else kernel_launches() - before
        case = f"layer T={t} shared {shared}"
        if status != ch.OK or not np.allclose(out, want, rtol=1e-4, atol=1e-4):
            failures.append(f"{case}: status {status}")
        # GEMV, routing with the permutation and the gather, up, down,
        # combine; beyond 4 tokens the routing's own launch.
        if launches is not None and t <= 5 and launches != (5 if t <= 4 else 6):
            failures.append(f"{case}: {launches} launches")
    report("compiled layer", failures)


def test_binary():
    """Broadcast binary ops (a graph's residual add) against numpy: the
    kernel with explicit strides, and the compiled code's entry on device
    buffers, on host buffers (computed on the host) and refusing shapes
    that do not broadcast."""
    failures = []
    cases = [((5, 7), (5, 7)), ((2, 3, 16), (16,)), ((4, 1, 6), (1, 5, 1)),
             ((1,), (3, 2, 2, 4)), ((0, 3), (3,)), ((), (2, 2)), ((3, 5), ()),
             ((6, 1), (1, 4)), ((2, 2, 3), (2, 1, 3))]
    for n, (a_shape, b_shape) in enumerate(cases):
        a = np.asarray(rng.standard_normal(a_shape), dtype=np.float32)
        b = np.asarray(rng.standard_normal(b_shape) + 3.0, dtype=np.float32)
        op = ["add", "sub", "mul", "div", "pow", "max", "min"][n % 7]
        if op == "pow":  # real results: positive bases
            a = np.asarray(np.abs(a) + 0.1, dtype=np.float32)
        want = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                "div": np.divide, "pow": np.power, "max": np.maximum,
                "min": np.minimum}[op](a, b)
        status, out = ch.binary(op, D(a), D(b))
        if status != ch.OK or not np.allclose(out.get(), want, rtol=1e-6, atol=1e-6):
            failures.append(f"kernel {op} {a_shape} {b_shape}: status {status}")
        # The compiled code's entry, device buffers then host ones.
        out = D(shape=want.shape, dtype=np.float32)
        status = ch.cc_binary(op, D(a).ptr, a.shape, D(b).ptr, b.shape, out.ptr, want.shape)
        if status != ch.OK or not np.allclose(out.get(), want, rtol=1e-6, atol=1e-6):
            failures.append(f"cc device {op} {a_shape} {b_shape}: status {status}")
        host = np.empty(want.shape, np.float32)
        status = ch.cc_binary(op, a.ctypes.data, a.shape, b.ctypes.data, b.shape,
                              host.ctypes.data, want.shape)
        if status != ch.OK or not np.allclose(host, want, rtol=1e-6, atol=1e-6):
            failures.append(f"cc host {op} {a_shape} {b_shape}: status {status}")
    # Shapes that do not broadcast, or a result shape that is not numpy's.
    a, b = np.ones((3, 4), np.float32), np.ones((2, 4), np.float32)
    out = np.empty((3, 4), np.float32)
    for lhs_shape, rhs_shape, out_shape in (((3, 4), (2, 4), (3, 4)),
                                            ((3, 4), (4,), (6, 4)),
                                            ((1, 4), (1, 4), (3, 4))):
        status = ch.cc_binary("add", a.ctypes.data, lhs_shape, b.ctypes.data, rhs_shape,
                              out.ctypes.data, out_shape)
        if status != ch.INVALID_ARGUMENT:
            failures.append(f"{lhs_shape} + {rhs_shape} -> {out_shape}: status {status}")
    report("binary", failures)


def test_unary_mean():
    """Unary ops, the mean over the last axis and the fused RMS norm (a
    norm around a layer) against numpy (erf: math.erf), through the kernels and the compiled
    code's entries on device and host buffers."""
    import math
    failures = []
    x = (rng.standard_normal((37, 70)) * 2).astype(np.float32)
    erf = np.vectorize(math.erf)
    want = {"neg": -x, "sqrt": np.sqrt(np.abs(x)), "exp": np.exp(x), "tanh": np.tanh(x),
            "sigmoid": 1 / (1 + np.exp(-x.astype(np.float64))), "relu": np.maximum(x, 0),
            "erf": erf(x.astype(np.float64)), "cos": np.cos(x.astype(np.float64)),
            "sin": np.sin(x.astype(np.float64))}
    for op, expected in want.items():
        operand = np.abs(x) if op == "sqrt" else x
        out = D(shape=x.shape, dtype=np.float32)
        status = ch.lib.moe_cuda_unary_f32(None, ch.UNARY[op], x.size, D(operand).ptr, out.ptr)
        if status != ch.OK or not np.allclose(out.get(), expected, rtol=1e-5, atol=1e-6):
            failures.append(f"kernel {op}: status {status}")
        out = D(shape=x.shape, dtype=np.float32)
        status = ch.lib.moe_cuda_cc_unary_f32(0, ch.UNARY[op], D(operand).ptr, x.size, out.ptr)
        if status != ch.OK or not np.allclose(out.get(), expected, rtol=1e-5, atol=1e-6):
            failures.append(f"cc device {op}: status {status}")
        host = np.empty_like(x)
        status = ch.lib.moe_cuda_cc_unary_f32(0, ch.UNARY[op], operand.ctypes.data, x.size,
                                              host.ctypes.data)
        if status != ch.OK or not np.allclose(host, expected, rtol=1e-5, atol=1e-6):
            failures.append(f"cc host {op}: status {status}")
    for rows, cols in ((37, 70), (1, 1), (5, 1000), (0, 3)):
        y = rng.standard_normal((rows, cols)).astype(np.float32)
        expected = y.astype(np.float64).mean(axis=1) if rows else np.zeros(0)
        out = D(shape=(rows,), dtype=np.float32)
        status = ch.lib.moe_cuda_mean_rows_f32(None, D(y).ptr, rows, cols, out.ptr)
        if status != ch.OK or not np.allclose(out.get(), expected, rtol=1e-5, atol=1e-6):
            failures.append(f"mean rows {rows}x{cols}: status {status}")
        host = np.empty(rows, np.float32)
        status = ch.lib.moe_cuda_cc_mean_rows_f32(0, y.ctypes.data, rows, cols, host.ctypes.data)
        if status != ch.OK or not np.allclose(host, expected, rtol=1e-5, atol=1e-6):
            failures.append(f"cc host mean rows {rows}x{cols}: status {status}")
    # Casts to and from the 16-bit types: bits as numpy rounds (to nearest
    # even), through the kernel and the compiled code's host path.
    x = (rng.standard_normal(300) * 100).astype(np.float32)
    for dtype, (narrow, widen) in ((t, HALF[t]) for t in ("f16", "bf16")):
        to16, to32 = (1, 0) if dtype == "f16" else (3, 2)
        bits = D(shape=x.shape, dtype=np.uint16)
        status = ch.lib.moe_cuda_cast(None, to16, x.size, D(x).ptr, bits.ptr)
        got = bits.get()
        if status != ch.OK or not np.array_equal(got, narrow(x)):
            failures.append(f"cast f32 -> {dtype}: status {status}")
        back = D(shape=x.shape, dtype=np.float32)
        status = ch.lib.moe_cuda_cast(None, to32, x.size, D(got).ptr, back.ptr)
        if status != ch.OK or not np.array_equal(back.get(), widen(got)):
            failures.append(f"cast {dtype} -> f32: status {status}")
        host = np.empty(x.size, np.uint16)
        status = ch.lib.moe_cuda_cc_cast(0, to16, x.ctypes.data, x.size, host.ctypes.data)
        if status != ch.OK or not np.array_equal(host, narrow(x)):
            failures.append(f"cc host cast f32 -> {dtype}: status {status}")
    bad = ch.lib.moe_cuda_mean_rows_f32(None, None, 3, 0, None)
    if bad != ch.INVALID_ARGUMENT:
        failures.append(f"a mean over 0 columns: status {bad}")
    # RMS norm (the fused call for an RMS norm's seven graph ops, and the
    # residual add before it): rows of every length against numpy in f64,
    # with and without a weight and a residual (whose sum is written too),
    # through the kernel and the compiled code's entry on device and host
    # buffers.
    eps = 1e-5
    for rows, cols in ((37, 70), (1, 1), (3, 4096), (5, 1000), (0, 3)):
        y = (rng.standard_normal((rows, cols)) * 3).astype(np.float32)
        weight = rng.standard_normal(cols).astype(np.float32)
        residual = rng.standard_normal((rows, cols)).astype(np.float32)
        for w, r in ((weight, None), (None, None), (weight, residual)):
            h = y.astype(np.float64) + (r if r is not None else 0)
            scale = 1 / np.sqrt((h ** 2).mean(axis=1, keepdims=True) + eps) if rows else 0
            expected = h * scale * (w if w is not None else 1)
            what = (f"rms norm {rows}x{cols}{'' if w is not None else ' unweighted'}"
                    f"{' + residual' if r is not None else ''}")

            def pointer(array, device):
                if array is None:
                    return None
                return D(array).ptr if device else array.ctypes.data

            for where in ("kernel", "cc device", "cc host"):
                device = where != "cc host"
                if device:
                    out = D(shape=(rows, cols), dtype=np.float32)
                    total = D(shape=(rows, cols), dtype=np.float32) if r is not None else None
                    out_ptr, total_ptr = out.ptr, total.ptr if total is not None else None
                else:
                    host = np.empty((rows, cols), np.float32)
                    total = np.empty((rows, cols), np.float32) if r is not None else None
                    out_ptr, total_ptr = host.ctypes.data, pointer(total, False)
                args = (pointer(y, device), pointer(r, device), rows, cols, eps,
                        pointer(w, device) if where == "kernel" else pointer(w, False),
                        total_ptr, out_ptr)
                status = (ch.lib.moe_cuda_rms_norm_f32(None, *args) if where == "kernel"
                          else ch.lib.moe_cuda_cc_rms_norm_f32(0, *args))
                got = out.get() if device else host
                ok = status == ch.OK and np.allclose(got, expected, rtol=1e-5, atol=1e-5)
                if total is not None:
                    got_sum = total.get() if device else total
                    ok = ok and np.array_equal(got_sum, y + r)
                if not ok:
                    failures.append(f"{where} {what}: status {status}")
    bad = ch.lib.moe_cuda_rms_norm_f32(None, None, None, 3, 0, eps, None, None, None)
    if bad != ch.INVALID_ARGUMENT:
        failures.append(f"an RMS norm over 0 columns: status {bad}")
    report("unary, mean, RMS norm and casts", failures)


def test_attention():
    """An attention block's ops against numpy (rotary embeddings' slice,
    concat and range and the fused rotary call, grouped-query attention's
    expand too): softmax over
    the last axis
    (rows with masked -inf scores too; with a causal mask left out), transposes of every rank, and
    numpy matmuls with broadcast batch dims (the projections' weight shared
    by all rows, the scores' batched products, batch dims broadcast across
    each other, Gemm's transposes and alpha, k = 0), through the kernels
    and the compiled code's entries on device and host buffers (matmuls
    compute on the GPU either way)."""
    failures = []

    def run(where, kernel, cc, arrays, out_shape):
        """Calls kernel(pointers..., out) or cc(...) on device (Device) or
        host (numpy) buffers: (status, result)."""
        if where == "cc host":
            out = np.empty(out_shape, np.float32)
            return cc(*[a.ctypes.data for a in arrays], out.ctypes.data), out
        out = D(shape=out_shape, dtype=np.float32)
        call = kernel if where == "kernel" else cc
        status = call(*[D(a).ptr for a in arrays], out.ptr)
        return status, out.get()

    for rows, cols in ((37, 70), (1, 1), (5, 1000), (4, 33), (3, 128), (0, 3)):
        x = (rng.standard_normal((rows, cols)) * 3).astype(np.float32)
        if rows > 2 and cols > 1:  # a causal mask's -inf scores
            x[1, cols // 2:] = -np.inf
        if rows > 0:  # exp overflows unless the row's max is subtracted
            x[0] += 200
        wide = x.astype(np.float64)
        e = np.exp(wide - (wide.max(axis=1, keepdims=True) if rows else 0))
        want = e / e.sum(axis=1, keepdims=True) if rows else e
        for where in ("kernel", "cc device", "cc host"):
            status, got = run(
                where, lambda x, o: ch.lib.moe_cuda_softmax_f32(None, x, rows, cols, o),
                lambda x, o: ch.lib.moe_cuda_cc_softmax_f32(0, x, rows, cols, 0, 0, 0, 0, o),
                [x], (rows, cols))
            if status != ch.OK or not np.allclose(got, want, rtol=1e-5, atol=1e-7):
                failures.append(f"{where} softmax {rows}x{cols}: status {status}")
    # The causal softmax: rows in matrices of `matrix_rows`, columns j >= i
    # + k left out - against numpy's softmax of x plus the triu(-inf, k)
    # mask (k <= 0 masks a first row whole: NaN, as numpy's).
    for batches, matrix_rows, cols, k in ((3, 5, 5, 1), (2, 7, 9, 3), (4, 1, 6, 1),
                                          (2, 4, 4, 0), (1, 300, 300, 1)):
        rows = batches * matrix_rows
        x = (rng.standard_normal((rows, cols)) * 3).astype(np.float32)
        mask = np.triu(np.full((matrix_rows, cols), -np.inf), k)
        wide = (x.reshape(batches, matrix_rows, cols) + mask).reshape(rows, cols)
        with np.errstate(invalid="ignore"):
            e = np.exp(wide - wide.max(axis=1, keepdims=True))
            want = e / e.sum(axis=1, keepdims=True)
        for where in ("kernel", "cc device", "cc host"):
            status, got = run(
                where, lambda x, o: ch.lib.moe_cuda_causal_softmax_f32(
                    None, x, rows, cols, matrix_rows, k, o),
                lambda x, o: ch.lib.moe_cuda_cc_softmax_f32(
                    0, x, rows, cols, matrix_rows, k, matrix_rows, cols, o),
                [x], (rows, cols))
            if status != ch.OK or not np.allclose(got, want, rtol=1e-5, atol=1e-7,
                                                  equal_nan=True):
                failures.append(f"{where} causal softmax {batches}x{matrix_rows}x{cols} "
                                f"k {k}: status {status}")
    # A mask the graph built in another shape than one matrix of scores.
    x = np.ones((6, 4), np.float32)
    for mask_rows, mask_cols in ((3, 3), (1, 4), (6, 4)):
        status = ch.lib.moe_cuda_cc_softmax_f32(0, x.ctypes.data, 6, 4, 3, 1, mask_rows,
                                                mask_cols, x.ctypes.data)
        if status != ch.INVALID_ARGUMENT:
            failures.append(f"a [{mask_rows}, {mask_cols}] mask: status {status}")
    for shape, perm in (((2, 3, 4, 5), (0, 2, 1, 3)), ((2, 3, 4, 5), (0, 2, 3, 1)),
                        ((2, 3, 4, 5), (3, 2, 1, 0)), ((5, 7), (1, 0)), ((6,), (0,)),
                        ((), ()), ((0, 3), (1, 0)), ((3, 1, 9), (1, 2, 0))):
        x = rng.standard_normal(shape).astype(np.float32)
        want = np.transpose(x, perm)
        dims = np.array(shape or [1], np.int64)
        order = np.array(perm or [0], np.int64)
        for where in ("kernel", "cc device", "cc host"):
            status, got = run(
                where, lambda x, o: ch.lib.moe_cuda_transpose_f32(
                    None, len(shape), dims.ctypes.data, order.ctypes.data, x, o),
                lambda x, o: ch.cc_transpose(x, shape, perm, o), [x], want.shape)
            if status != ch.OK or not np.array_equal(got, want):
                failures.append(f"{where} transpose {shape} {perm}: status {status}")
    for bad in ((0, 0), (0, 2), (1, -1)):
        out = np.empty(4, np.float32)
        status = ch.cc_transpose(out.ctypes.data, (2, 2), bad, out.ctypes.data)
        if status != ch.INVALID_ARGUMENT:
            failures.append(f"transpose by {bad}: status {status}")

    # Slice (a block of columns of [rows, cols]), Concat (inputs' columns
    # side by side), Range: rotary embeddings' data movement and positions.
    for rows, cols, start, width in ((6, 8, 4, 4), (6, 8, 0, 4), (1, 5, 2, 3), (0, 4, 1, 2),
                                     (3, 7, 7, 0)):
        x = rng.standard_normal((rows, cols)).astype(np.float32)
        want = x[:, start:start + width]
        for where in ("cc device", "cc host"):
            status, got = run(where, None,
                              lambda x, o: ch.lib.moe_cuda_cc_slice_f32(0, x, rows, cols, start,
                                                                       width, o),
                              [x], want.shape)
            if status != ch.OK or not np.array_equal(got, want):
                failures.append(f"{where} slice [{rows}, {cols}][:, {start}:+{width}]: "
                                f"status {status}")
    status = ch.lib.moe_cuda_cc_slice_f32(0, x.ctypes.data, 3, 7, 5, 3, x.ctypes.data)
    if status != ch.INVALID_ARGUMENT:
        failures.append(f"a slice past the row: status {status}")
    for rows, widths in ((5, (3, 4)), (2, (1, 2, 3, 4)), (4, (6,)), (0, (2, 2)), (3, (0, 2))):
        parts = [rng.standard_normal((rows, w)).astype(np.float32) for w in widths]
        want = np.concatenate(parts, axis=1)
        sizes = np.array(widths, np.int64)

        def kernel(*pointers):
            inputs = (ctypes.c_void_p * len(widths))(*pointers[:-1])
            return ch.lib.moe_cuda_concat_f32(None, len(widths), inputs, sizes.ctypes.data,
                                              rows, None, pointers[-1])

        def concat(*pointers):
            args = []
            for i in range(4):
                args += ([pointers[i], *ch.view((rows, widths[i]))] if i < len(widths)
                         else [None, *ch.view(())])
            return ch.lib.moe_cuda_cc_concat_f32(0, len(widths), 1, *args, pointers[-1])

        for where in ("kernel", "cc device", "cc host"):
            status, got = run(where, kernel, concat, parts, want.shape)
            if status != ch.OK or not np.array_equal(got, want):
                failures.append(f"{where} concat {rows} rows of {widths}: status {status}")
    # A KV cache's concat along the tokens: the cache [b, kv, p, d] and the
    # new tokens' heads read through their transpose from [b, t, kv, d]
    # (the view 0, 2, 1, 3), in place.
    past = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    new = rng.standard_normal((2, 2, 3, 4)).astype(np.float32)  # [b, t, kv, d]
    want = np.concatenate([past, np.transpose(new, (0, 2, 1, 3))], axis=2)

    def cache_concat(p, q, o):
        return ch.lib.moe_cuda_cc_concat_f32(0, 2, 2, p, *ch.view(past.shape), q,
                                             *ch.view(new.shape, (0, 2, 1, 3)), None,
                                             *ch.view(()), None, *ch.view(()), o)

    for where in ("cc device", "cc host"):
        status, got = run(where, None, cache_concat, [past, new], want.shape)
        if status != ch.OK or not np.array_equal(got, want):
            failures.append(f"{where} concat of a transposed input: status {status}")
    # Inputs whose other dims differ (3 and 4 rows), of different ranks, an
    # axis past the rank.
    a, b = np.ones((3, 2), np.float32), np.ones((4, 2), np.float32)
    for b_shape, axis in (((4, 2), 1), ((1, 3, 2), 1), ((3, 2), 2)):
        status = ch.lib.moe_cuda_cc_concat_f32(0, 2, axis, a.ctypes.data, *ch.view((3, 2)),
                                               b.ctypes.data, *ch.view(b_shape), None,
                                               *ch.view(()), None, *ch.view(()), a.ctypes.data)
        if status != ch.INVALID_ARGUMENT:
            failures.append(f"a concat of [3, 2] and {b_shape} on axis {axis}: status {status}")
    # Expand: x's 1s repeated (grouped-query attention's k/v heads).
    for shape, out_shape in (((3, 1, 10), (3, 4, 10)), ((1, 5), (6, 5)), ((2, 1), (2, 3)),
                             ((4,), (2, 3, 4)), ((2, 1, 3), (2, 0, 3)), ((), (2, 2))):
        x = rng.standard_normal(shape).astype(np.float32)
        want = np.broadcast_to(x, out_shape)
        # x's dims aligned to the result's (1s in front), as the calls take them.
        aligned = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
        xd, od = np.array(aligned or [1], np.int64), np.array(out_shape, np.int64)
        pad = (1,) * (4 - len(out_shape))
        for where in ("kernel", "cc device", "cc host"):
            status, got = run(
                where,
                lambda x, o: ch.lib.moe_cuda_expand_f32(None, len(out_shape), xd.ctypes.data,
                                                        od.ctypes.data, x, o),
                lambda x, o: ch.lib.moe_cuda_cc_expand_f32(0, x, len(out_shape), *(aligned + pad),
                                                           *(tuple(out_shape) + pad), o),
                [x], out_shape)
            if status != ch.OK or not np.array_equal(got, want):
                failures.append(f"{where} expand {shape} to {out_shape}: status {status}")
    x = np.ones(6, np.float32)
    status = ch.lib.moe_cuda_cc_expand_f32(0, x.ctypes.data, 2, 2, 3, 1, 1, 3, 3, 1, 1,
                                           x.ctypes.data)
    if status != ch.INVALID_ARGUMENT:
        failures.append(f"an expand of [2, 3] to [3, 3]: status {status}")
    for start, delta, count in ((0.0, 1.0, 7), (2.5, -0.5, 5), (0.0, 1.0, 0), (1.0, 0.25, 300)):
        want = (start + np.arange(count, dtype=np.float32) * np.float32(delta)).astype(np.float32)
        for where in ("kernel", "cc device", "cc host"):
            status, got = run(where,
                              lambda o: ch.lib.moe_cuda_range_f32(None, start, delta, count, o),
                              lambda o: ch.lib.moe_cuda_cc_range_f32(0, start, delta, count, o),
                              [], (count,))
            if status != ch.OK or not np.array_equal(got, want):
                failures.append(f"{where} range {start}, {delta} x {count}: status {status}")

    # Rotary embeddings: x * cos + concat(-x[..., neg], x[..., pos]) * sin,
    # the tables broadcast over x (HF's rotate_half: the halves swapped); x
    # read through a view of its buffer (the heads' transpose, [b, t, h, d]
    # read as [b, h, t, d]).
    for buffer_shape, perm, table_shape, neg_start, neg_width, pos_start in (
            ((2, 3, 5, 8), None, (5, 8), 4, 4, 0),        # rotate_half, [t, d] tables
            ((2, 1, 4, 6), None, (2, 1, 4, 6), 3, 3, 0),  # tables as x
            ((3, 1, 8), None, (3, 1, 1), 1, 2, 2),        # other halves, a scale per row
            ((4, 6), None, (6,), 0, 6, 0),                # all negated
            ((0, 4), None, (4,), 2, 2, 0),
            ((2, 5, 3, 8), (0, 2, 1, 3), (5, 8), 4, 4, 0),  # heads transposed in place
            ((5, 3, 8), (1, 0, 2), (3, 1, 8), 4, 4, 0)):
        x = rng.standard_normal(buffer_shape).astype(np.float32)
        view = np.transpose(x, perm) if perm else x
        shape = view.shape
        cos = rng.standard_normal(table_shape).astype(np.float32)
        sin = rng.standard_normal(table_shape).astype(np.float32)
        pos_width = shape[-1] - neg_width
        rot = np.concatenate((-view[..., neg_start:neg_start + neg_width],
                              view[..., pos_start:pos_start + pos_width]), axis=-1)
        want = view * cos + rot * sin
        sizes = np.array(shape, np.int64)
        xs = (np.array(view.strides, np.int64) // 4 if view.size else
              np.array([0] * (len(shape) - 1) + [1], np.int64))
        cs = ch.broadcast_strides(table_shape, shape)
        halves = (neg_start, neg_width, pos_start)
        for where in ("kernel", "cc device", "cc host"):
            status, got = run(
                where, lambda x, c, s, o: ch.lib.moe_cuda_rotary_f32(
                    None, len(shape), sizes.ctypes.data, x, xs.ctypes.data, c, cs.ctypes.data,
                    s, cs.ctypes.data, *halves, o),
                lambda x, c, s, o: ch.lib.moe_cuda_cc_rotary_f32(
                    0, x, *ch.view(buffer_shape, perm), c, *ch.dims(table_shape), s,
                    *ch.dims(table_shape), *halves, pos_width, o),
                [x, cos, sin], shape)
            if status != ch.OK or not np.allclose(got, want, rtol=1e-6, atol=1e-6):
                failures.append(f"{where} rotary {buffer_shape} {perm} tables {table_shape} "
                                f"halves {halves}: status {status}")
    x = np.ones((2, 4), np.float32)
    for perm, table_shape, halves in (
            (None, (3,), (2, 2, 0, 2)),       # a table that does not broadcast
            (None, (4,), (2, 2, 0, 1)),       # halves not a row
            (None, (4,), (3, 2, 0, 2)),       # past the row
            (None, (2, 2, 4), (2, 2, 0, 2)),  # a table larger than x
            ((1, 0), (2,), (1, 1, 0, 1))):    # a view that moves the rows
        status = ch.lib.moe_cuda_cc_rotary_f32(0, x.ctypes.data, *ch.view((2, 4), perm),
                                               x.ctypes.data, *ch.dims(table_shape),
                                               x.ctypes.data, *ch.dims(table_shape), *halves,
                                               x.ctypes.data)
        if status != ch.INVALID_ARGUMENT:
            failures.append(f"rotary {perm} tables {table_shape} halves {halves}: "
                            f"status {status}")

    def last_two(array, swap):
        return np.swapaxes(array, -1, -2) if swap else array

    for a_shape, b_shape, trans_a, trans_b, alpha in (
            ((2, 3, 16), (16, 8), False, False, 1.0),     # a projection
            ((2, 4, 5, 6), (2, 4, 6, 7), False, False, 0.25),  # scores
            ((2, 1, 5, 6), (1, 3, 6, 7), False, False, 1.0),   # cross broadcast
            ((5, 6), (3, 6, 7), False, False, 1.0),       # a broadcast
            ((4, 5, 6), (4, 7, 6), False, True, 1.0),     # q . k^T
            ((2, 4, 5, 6), (2, 4, 7, 6), False, True, 0.25),  # q . k^T of heads
            ((2, 4, 6, 5), (2, 4, 6, 7), True, False, 1.0),
            ((6, 5), (7, 6), True, True, 0.5),            # Gemm
            ((6, 5), (6, 7), True, False, 1.0),
            ((3, 0), (0, 4), False, False, 1.0),          # k = 0: zeros
            ((0, 4), (4, 3), False, False, 1.0),
            ((70, 33), (33, 65), False, False, 1.0)):
        a = rng.standard_normal(a_shape).astype(np.float32)
        b = rng.standard_normal(b_shape).astype(np.float32)
        want = alpha * np.matmul(last_two(a.astype(np.float64), trans_a),
                                 last_two(b.astype(np.float64), trans_b))
        for where in ("cc device", "cc host"):
            status, got = run(
                where, None, lambda a, b, o: ch.cc_matmul(a, a_shape, b, b_shape, o, want.shape,
                                                          trans_a, trans_b, alpha),
                [a, b], want.shape)
            if status != ch.OK or not np.allclose(got, want, rtol=1e-4, atol=1e-4):
                failures.append(f"{where} matmul {a_shape} {b_shape} trans {trans_a} "
                                f"{trans_b}: status {status}")
    # A weight stored 16-bit (bf16, f16: the projections of a 16-bit model):
    # a rounded to its type on the device, the tensor-core GEMM - against
    # numpy on the rounded values.
    for dtype in ("bf16", "f16"):
        narrow, widen = HALF[dtype]
        entry = getattr(ch.lib, f"moe_cuda_cc_matmul_{dtype}w")
        for a_shape, b_shape, trans_b, alpha in (((2, 3, 16), (16, 8), False, 1.0),
                                                 ((5, 6), (7, 6), True, 0.5),
                                                 ((4, 70, 33), (33, 65), False, 1.0)):
            a = rng.standard_normal(a_shape).astype(np.float32)
            bits = narrow(rng.standard_normal(b_shape).astype(np.float32))
            want = alpha * np.matmul(widen(narrow(a)).astype(np.float64),
                                     last_two(widen(bits).astype(np.float64), trans_b))
            for where in ("cc device", "cc host"):
                status, got = run(
                    where, None,
                    lambda a, b, o: entry(0, 0, int(trans_b), alpha, a, *ch.view(a_shape), b,
                                          *ch.view(b_shape), *ch.view(want.shape), o),
                    [a, bits], want.shape)
                if status != ch.OK or not np.allclose(got, want, rtol=1e-4, atol=1e-4):
                    failures.append(f"{where} matmul {dtype} weights {a_shape} {b_shape}: "
                                    f"status {status}")
                # a rounded already (one cast shared by q, k and v's
                # projections): the same product.
                rounded = getattr(ch.lib, f"moe_cuda_cc_matmul_{dtype}")
                status, got = run(
                    where, None,
                    lambda a, b, o: rounded(0, 0, int(trans_b), alpha, a, *ch.view(a_shape), b,
                                            *ch.view(b_shape), *ch.view(want.shape), o),
                    [narrow(a), bits], want.shape)
                if status != ch.OK or not np.allclose(got, want, rtol=1e-4, atol=1e-4):
                    failures.append(f"{where} matmul of {dtype} {a_shape} {b_shape}: "
                                    f"status {status}")
    # The kernel with strides of its own: a [2, 3] batches of [4, 5] with
    # b broadcast along the first batch dim (stride 0).
    a = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    b = rng.standard_normal((3, 5, 6)).astype(np.float32)
    out = D(shape=(2, 3, 4, 6), dtype=np.float32)
    status = ch.lib.moe_cuda_matmul_f32(None, 0, 0, 1.0, 2, 3, 4, 6, 5, D(a).ptr, 5, 60, 20,
                                        D(b).ptr, 6, 0, 30, out.ptr, 6, 72, 24)
    if status != ch.OK or not np.allclose(out.get(), a @ b, rtol=1e-4, atol=1e-4):
        failures.append(f"kernel matmul with a broadcast batch: status {status}")
    out = D(shape=(2, 3, 4, 6), dtype=np.float32)
    a16, b16 = ch.to_bf16(a), ch.to_bf16(b)
    status = ch.lib.moe_cuda_matmul_16(None, 0, 0, 0, 1.0, 2, 3, 4, 6, 5, D(a16).ptr, 5, 60,
                                       20, D(b16).ptr, 6, 0, 30, out.ptr, 6, 72, 24)
    want = ch.from_bf16(a16).astype(np.float64) @ ch.from_bf16(b16).astype(np.float64)
    if status != ch.OK or not np.allclose(out.get(), want, rtol=1e-4, atol=1e-4):
        failures.append(f"kernel bf16 matmul with a broadcast batch: status {status}")
    # Views read and written in place (attention's head transposes): q and
    # v as [b, t, heads, d] read as [b, heads, t, d], k as k^T [b, heads,
    # d, t] (stored transposed: trans flipped), the values' product written
    # back as [b, t, heads, d]; 2-D views, and a weight shared by a batch
    # whose result is written as [t, batch, n] - against numpy on the
    # transposed arrays.
    qb = rng.standard_normal((2, 5, 3, 4)).astype(np.float32)
    kb = rng.standard_normal((2, 6, 3, 4)).astype(np.float32)
    vb = rng.standard_normal((2, 6, 3, 4)).astype(np.float32)
    pb = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    for a, a_perm, b, b_perm, out_view, out_perm, trans_a in (
            (qb, (0, 2, 1, 3), kb, (0, 2, 3, 1), (2, 3, 5, 6), None, False),   # scores
            (pb, None, vb, (0, 2, 1, 3), (2, 3, 5, 4), (0, 2, 1, 3), False),   # values
            (qb, (0, 2, 3, 1), kb, (0, 2, 3, 1), (2, 3, 5, 6), None, True),    # a^T of a^T
            (pb[0, 0], (1, 0), np.ascontiguousarray(pb[1, 1, :5]), None, (6, 6), None,
             False),                                                           # a^T
            (pb[0], None, np.ascontiguousarray(kb[0, :, 0, :].T), (1, 0), (3, 5, 4),
             (1, 0, 2), False)):                                               # b^T shared
        va = np.transpose(a, a_perm) if a_perm else a
        vb_ = np.transpose(b, b_perm) if b_perm else b
        result = np.matmul(last_two(va.astype(np.float64), trans_a), vb_.astype(np.float64))
        assert result.shape == out_view, (result.shape, out_view)
        # The out buffer: the result transposed back (its view is result).
        want = np.transpose(result, np.argsort(out_perm)) if out_perm else result
        for where in ("cc device", "cc host"):
            status, got = run(
                where, None,
                lambda x, y, o: ch.cc_matmul(x, a.shape, y, b.shape, o, want.shape, trans_a,
                                             a_perm=a_perm, b_perm=b_perm, out_perm=out_perm),
                [a, b], want.shape)
            if status != ch.OK or not np.allclose(got, want, rtol=1e-4, atol=1e-4):
                failures.append(f"{where} matmul of views {a_perm} {b_perm} -> {out_perm}: "
                                f"status {status}")
    # Views a GEMM cannot read: no unit-stride dim among a's last two, out's
    # columns not its buffer's rows.
    x = np.ones(2 * 5 * 3 * 4, np.float32)
    for a_perm, out_perm in (((3, 1, 2, 0), None), (None, (0, 1, 3, 2))):
        a_view = np.transpose(np.empty((2, 5, 3, 4)), a_perm).shape if a_perm else (2, 5, 3, 4)
        out_view = a_view[:-1] + (a_view[-2],)
        out_buffer = (np.transpose(np.empty(out_view), np.argsort(out_perm)).shape
                      if out_perm else out_view)
        status = ch.cc_matmul(x.ctypes.data, (2, 5, 3, 4), x.ctypes.data,
                              (a_view[-1], a_view[-2]), x.ctypes.data, out_buffer,
                              a_perm=a_perm, out_perm=out_perm)
        if status != ch.INVALID_ARGUMENT:
            failures.append(f"matmul of views {a_perm} -> {out_perm}: status {status}")
    # Shapes numpy refuses, or an output shape that is not numpy's.
    x = np.ones(64, np.float32)
    for a_shape, b_shape, out_shape in (((2, 3), (4, 5), (2, 5)), ((2, 3), (3, 5), (2, 4)),
                                        ((2, 2, 3), (3, 3, 4), (3, 2, 4)),
                                        ((3,), (3, 2), (2,)), ((2, 3), (3, 2), (2, 2, 2))):
        status = ch.cc_matmul(x.ctypes.data, a_shape, x.ctypes.data, b_shape, x.ctypes.data,
                              out_shape)
        if status != ch.INVALID_ARGUMENT:
            failures.append(f"matmul {a_shape} x {b_shape} -> {out_shape}: status {status}")
    report("softmax, transpose, slice, concat, expand, range, rotary and matmul", failures)


def attention_reference(q, k, v, alpha, causal_k=None, bias=None):
    """softmax(alpha * q . k^T [+ bias] [+ causal mask]) . v in float64, k and v's
    heads repeated for q's groups (repeat_kv): q [b, h, t, d], k [b or 1,
    kv, s, d], v [b or 1, kv, s, dv]. A row the mask leaves empty is NaN
    (softmax of -inf); no keys: zeros."""
    group = q.shape[1] // k.shape[1]
    k = np.repeat(k.astype(np.float64), group, axis=1)
    v = np.repeat(v.astype(np.float64), group, axis=1)
    scores = alpha * np.matmul(q.astype(np.float64), np.swapaxes(k, -1, -2))
    if bias is not None:
        scores = scores + bias
    if causal_k is not None:
        t, s = scores.shape[-2:]
        masked = np.arange(s)[None, :] - np.arange(t)[:, None] >= causal_k
        scores = np.where(masked, -np.inf, scores)
    if scores.shape[-1] == 0:
        return np.zeros(q.shape[:-1] + (v.shape[-1],))
    with np.errstate(invalid="ignore"):
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return np.matmul(e / e.sum(axis=-1, keepdims=True), v)


def test_fused_attention():
    """moe_cuda_attention_f32 (one launch for scores, softmax and values)
    against numpy: heads and grouped-query heads, causal masks at a
    prefill's and a KV cache's diagonal (rows masked whole: NaN), long
    keys split over blocks (merged by the last block on the per-thread
    stream, by a second launch on another), head dims up to 256 (shared
    memory past the default 48 KiB) and wider ones (cuBLAS, softmax,
    cuBLAS), value dims other than the head's, k
    and v broadcast along the batch, scores that overflow exp unless the
    max is subtracted, no keys, additive masks (padding's -inf keys of a
    sequence, a mask per head and query; broadcast); the compiled code's entry reading q, k^T
    and v as views of [b, t, heads, d] buffers and writing the heads
    merged back, on device and host buffers; shapes it refuses."""
    failures = []
    for b, h, kv, t, keys, d, dv, causal_k, kv_batch, scale, *bias_shape in (
            (2, 4, 4, 7, 7, 16, 16, None, 2, 1.0),      # heads, no mask
            (2, 4, 2, 1, 300, 32, 32, None, 2, 1.0, (2, 1, 1, 300)),  # padding, split
            (2, 2, 2, 4, 5, 8, 8, None, 2, 1.0, (2, 2, 4, 5)),        # a full mask
            (1, 8, 2, 37, 37, 64, 64, 1, 1, 1.0, (37, 37)),           # and causal
            (2, 4, 2, 5, 9, 264, 264, None, 2, 1.0, (2, 1, 5, 9)),    # wide: added after
            (1, 8, 2, 37, 37, 64, 64, 1, 1, 1.0),       # causal GQA prefill: row tiles
            (2, 4, 2, 1, 300, 32, 32, 300, 2, 1.0),     # decode step: split keys
            (1, 4, 1, 3, 200, 32, 48, 198, 1, 1.0),     # cached continuation, split
            (1, 2, 1, 5, 40, 256, 256, None, 1, 1.0),   # widest heads
            (1, 3, 1, 6, 9, 24, 40, 0, 1, 1.0),         # row 0 masked whole: NaN
            (2, 2, 2, 4, 5, 8, 8, None, 1, 1.0),        # k, v broadcast over the batch
            (1, 2, 2, 3, 70, 16, 16, None, 1, 60.0),    # exp overflows without the max
            (1, 2, 1, 2, 0, 8, 8, None, 1, 1.0),        # no keys: zeros
            (2, 4, 2, 5, 9, 264, 264, 1, 2, 1.0),       # wider: cuBLAS, softmax, cuBLAS
            (1, 2, 1, 1, 70, 300, 40, 70, 1, 1.0)):     # a wide head dim, decode
        q = (rng.standard_normal((b, h, t, d)) * scale).astype(np.float32)
        k = rng.standard_normal((kv_batch, kv, keys, d)).astype(np.float32)
        v = rng.standard_normal((kv_batch, kv, keys, dv)).astype(np.float32)
        alpha = 1.0 / np.sqrt(d)
        bias = None
        if bias_shape:
            bias = (rng.standard_normal(bias_shape[0]) * 2).astype(np.float32)
            if bias_shape[0][0] == 2:  # the second sequence's last keys padding
                bias[1, ..., -3:] = -np.inf
        want = attention_reference(q, k, v, alpha, causal_k, bias)
        case = (f"b {b} heads {h}/{kv} t {t} keys {keys} d {d}/{dv} causal {causal_k}"
                f" bias {bias_shape[0] if bias_shape else None}")
        # Strides of the bias broadcast to the scores (0 where broadcast).
        bs = np.zeros(4, np.int64)
        if bias is not None:
            padded = (1,) * (4 - bias.ndim) + bias.shape
            bs = np.array(ch.broadcast_strides(padded, want.shape[:3] + (keys,)), np.int64)
        # The kernel entry, contiguous [b, heads, t, d] operands, on the
        # legacy default stream (split keys merged by a second launch).
        strides = lambda shape, batch: np.array(  # noqa: E731
            [int(np.prod(shape[1:])) if batch > 1 else 0, int(np.prod(shape[2:])), shape[3]],
            np.int64)
        out = D(shape=want.shape, dtype=np.float32)
        # (The stride arrays kept alive through the call.)
        qs, ks, vs, outs = (strides(q.shape, b), strides(k.shape, kv_batch),
                            strides(v.shape, kv_batch), strides(want.shape, b))
        before = kernel_launches()
        status = ch.lib.moe_cuda_attention_f32(
            None, b, h, kv, t, keys, d, dv, alpha, D(q).ptr, qs.ctypes.data, D(k).ptr,
            ks.ctypes.data, D(v).ptr, vs.ctypes.data, int(causal_k is not None),
            causal_k or 0, None if bias is None else D(bias).ptr,
            None if bias is None else bs.ctypes.data, out.ptr, outs.ctypes.data)
        got = out.get()
        launches = None if before is None else kernel_launches() - before
        if status != ch.OK or not np.allclose(got, want, rtol=1e-4, atol=1e-5, equal_nan=True):
            failures.append(f"kernel {case}: status {status}")
        if launches is not None and launches != (2 if keys >= 128 and t == 1 else 1) \
                and keys in (7, 37, 300):
            failures.append(f"kernel {case}: {launches} launches")
        # The compiled code's entry: q, k, v as [b, t, heads, d] buffers,
        # k read as k^T, the result written as [b, t, heads, dv].
        qb = np.ascontiguousarray(np.transpose(q, (0, 2, 1, 3)))
        kb = np.ascontiguousarray(np.transpose(k, (0, 2, 1, 3)))
        vb = np.ascontiguousarray(np.transpose(v, (0, 2, 1, 3)))
        want_b = np.transpose(want, (0, 2, 1, 3))
        for where in ("cc device", "cc host"):
            args = [qb, kb, vb] + ([] if bias is None else [bias])
            if where == "cc host":
                out_b = np.empty(want_b.shape, np.float32)
                pointers = [a.ctypes.data for a in args]
            else:
                out_d = D(shape=want_b.shape, dtype=np.float32)
                pointers = [D(a).ptr for a in args]
            if bias is None:
                pointers.append(None)
            pointers.append(out_b.ctypes.data if where == "cc host" else out_d.ptr)
            before = kernel_launches()
            status = ch.lib.moe_cuda_cc_attention_f32(
                0, alpha, pointers[0], *ch.view(qb.shape, (0, 2, 1, 3)), pointers[1],
                *ch.view(kb.shape, (0, 2, 3, 1)), pointers[2], *ch.view(vb.shape, (0, 2, 1, 3)),
                int(causal_k is not None), causal_k or 0, t, keys, pointers[3],
                *ch.dims(bias.shape if bias is not None else ()),
                *ch.view(want_b.shape, (0, 2, 1, 3)), pointers[4])
            got = out_b if where == "cc host" else out_d.get()
            launches = None if before is None else kernel_launches() - before
            if status != ch.OK or not np.allclose(got, want_b, rtol=1e-4, atol=1e-5,
                                                  equal_nan=True):
                failures.append(f"{where} {case}: status {status}")
            # On the per-thread stream the last split merges: one launch;
            # wider heads: two GEMMs per member of a kv head's group (and
            # sequence: q's [b, t, heads, d] batches are not evenly apart)
            # and the softmax.
            wide = max(d, dv) > 256
            expected = 2 * (h // kv) * b + 1 + (bias is not None) if wide else 1
            if launches is not None and keys > 0 and launches != expected:
                failures.append(f"{where} {case}: {launches} launches, not {expected}")
    # Shapes the entry refuses: heads not a multiple of the kv heads, a
    # view whose rows are not its buffer's, a mask
    # that is not [queries, keys], k's batch neither q's nor 1, a kv head
    # count of -1 (a failed grouped-query check), an additive mask that
    # does not broadcast to the scores [1, 2, 2, 5].
    x = np.ones(4096, np.float32)
    p = x.ctypes.data
    for q_shape, q_perm, k_shape, v_shape, mask, *bias_shape in (
            ((1, 3, 2, 8), None, (1, 2, 8, 5), (1, 2, 5, 8), None),
            ((1, 2, 8, 2), (0, 1, 3, 2), (1, 2, 8, 5), (1, 2, 5, 8), None),
            ((1, 2, 2, 8), None, (1, 2, 8, 5), (1, 2, 5, 8), (2, 4)),
            ((2, 2, 2, 8), None, (3, 2, 8, 5), (3, 2, 5, 8), None),
            ((1, 2, 2, 8), None, (1, -1, 8, 5), (1, 2, 5, 8), None),
            ((1, 2, 2, 8), None, (1, 2, 8, 5), (1, 2, 5, 8), None, (1, 2, 4)),
            ((1, 2, 2, 8), None, (1, 2, 8, 5), (1, 2, 5, 8), None, (3, 1, 1, 5))):
        view_q = np.transpose(np.empty(q_shape), q_perm).shape if q_perm else q_shape
        out_shape = view_q[:3] + (v_shape[3],)
        status = ch.lib.moe_cuda_cc_attention_f32(
            0, 1.0, p, *ch.view(q_shape, q_perm), p, *ch.view(k_shape), p, *ch.view(v_shape),
            int(mask is not None), 1, *(mask or (0, 0)), p if bias_shape else None,
            *ch.dims(bias_shape[0] if bias_shape else ()), *ch.view(out_shape), p)
        if status != ch.INVALID_ARGUMENT:
            failures.append(f"attention q {q_shape} {q_perm} k^T {k_shape} v {v_shape} "
                            f"mask {mask} bias {bias_shape}: status {status}")
    report("fused attention", failures)


# Every section runs even when one before it failed (a GPU session is
# short; a sticky device fault fails the rest too, and says so).
failures = []
for name, section in (("route", test_route), ("router logits", test_router_logits),
                      ("fused routing", test_route_fused),
                      ("permute", test_permute),
                      ("grouped_matmul f32", lambda: test_grouped_matmul("f32")),
                      ("grouped_matmul bf16", lambda: test_grouped_matmul("bf16")),
                      ("grouped_matmul f16", lambda: test_grouped_matmul("f16")),
                      ("combine", test_combine),
                      ("compiled experts", test_compiled_experts),
                      ("compiled layer", test_compiled_layer),
                      ("binary", test_binary),
                      ("unary, mean, RMS norm and casts", test_unary_mean),
                      ("softmax, transpose, slice, concat, expand, range and matmul",
                       test_attention),
                      ("fused attention", test_fused_attention),
                      ("chained layer", test_chained_layer)):
    try:
        section()
    except Exception:  # report and go on
        failures.append(name)
        print(f"FAIL: {name}")
        traceback.print_exc()
if failures:
    sys.exit(f"gpu_kernels: failed: {', '.join(failures)}")

