# The fused attention call on a GPU against NumPy (float64 references):
# softmax(alpha * q . k^T [+ masks]) . v in one launch - heads,
# grouped-query heads, causal and additive masks, decode's split keys,
# wide heads - and in 16-bit precision on tensor cores at prefill, with
# 16-bit KV caches; through the kernels and the compiled code's entries
# on device and host buffers. Split from gpu_graph_ops.py (the rest of
# the graph's ops).
# Runs where a GPU is present (scripts/gpu-check.sh).
# REQUIRES: gpu
# RUN: %python %s | FileCheck %s
# CHECK: OK: fused attention
# CHECK: OK: tensor-core attention and 16-bit caches

import numpy as np

import cuda_harness as ch
import kernel_checks as kc
from kernel_checks import HALF, kernel_launches, report

rng = np.random.default_rng(41)
D = ch.Device


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
            None, b, h, kv, t, keys, d, dv, alpha, ch.ELEMENT_F32, ch.ELEMENT_F32, D(q).ptr, qs.ctypes.data, D(k).ptr,
            ks.ctypes.data, D(v).ptr, vs.ctypes.data, int(causal_k is not None),
            causal_k or 0, None if bias is None else D(bias).ptr,
            None if bias is None else bs.ctypes.data, ch.ELEMENT_F32, out.ptr,
            outs.ctypes.data)
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
                0, alpha, ch.ELEMENT_F32, ch.ELEMENT_F32, pointers[0], *ch.view(qb.shape, (0, 2, 1, 3)), pointers[1],
                *ch.view(kb.shape, (0, 2, 3, 1)), pointers[2], *ch.view(vb.shape, (0, 2, 1, 3)),
                int(causal_k is not None), causal_k or 0, t, keys, pointers[3],
                *ch.dims(bias.shape if bias is not None else ()), ch.ELEMENT_F32,
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
            0, 1.0, ch.ELEMENT_F32, ch.ELEMENT_F32, p, *ch.view(q_shape, q_perm), p, *ch.view(k_shape), p, *ch.view(v_shape),
            int(mask is not None), 1, *(mask or (0, 0)), p if bias_shape else None,
            *ch.dims(bias_shape[0] if bias_shape else ()), ch.ELEMENT_F32, *ch.view(out_shape),
            p)
        if status != ch.INVALID_ARGUMENT:
            failures.append(f"attention q {q_shape} {q_perm} k^T {k_shape} v {v_shape} "
                            f"mask {mask} bias {bias_shape}: status {status}")
    report("fused attention", failures)


def rounded(array, kind):
    """float32 values rounded to the 16-bit type `kind` (bf16, f16)."""
    to_bits, from_bits = HALF[kind]
    return from_bits(to_bits(array)).reshape(array.shape)


def test_mma_attention():
    """moe_cuda_attention_f32 with 16-bit precision (tensor cores, flash
    attention 2 on mma.sync) and with k and v stored in 16 bits (a KV
    cache kept in a 16-bit model's type) against numpy: against attention
    of q, k and v rounded to the type (the kernel's only other rounding is
    the softmax weights': rtol 2e-2 and a cosine > 0.9999) and of the f32
    inputs (the issue's bf16 check: rtol 2e-2 on unit-variance inputs,
    cosine > 0.999) - head widths 16 to 128 (padded to the kernel's
    16-column tiles: widths off the tiles, value dims other than the
    head's; rows staged 16 bytes a lane, or value by value where they
    are not whole 16-byte words), a 64-row tile spanning two heads of a
    kv group, keys off
    the 64-key tile, causal masks at a prefill's and a cache's diagonal
    (rows masked whole: NaN), additive masks with -inf padding, scores
    that overflow exp unless the max is subtracted; the compiled code's
    entry on [b, t, heads, d] views. Calls the tensor cores do not take
    (decode's few rows - also with a 16-bit cache, split keys merged -
    heads over 128 wide, f32 precision, k and v in the other 16-bit type)
    run the f32 kernel on the stored values exactly (the emulation counts
    which kernel ran); heads over 256 with a 16-bit cache widen it for
    cuBLAS; every case also writing its result in 16 bits (the output
    projection's activations): the f32 result rounded, bit for bit; an
    unknown precision or k/v type is refused."""
    failures = []
    types = {"f32": ch.ELEMENT_F32, "bf16": ch.ELEMENT_BF16, "f16": ch.ELEMENT_F16}
    for kind, kv_kind, b, h, kv, t, keys, d, dv, causal_k, scale, *bias_shape in (
            ("bf16", "f32", 1, 4, 4, 64, 64, 64, 64, None, 1.0),   # one tile each
            ("bf16", "f32", 1, 8, 2, 37, 37, 128, 128, 1, 1.0),    # GQA: tiles span heads
            ("f16", "f32", 1, 8, 2, 37, 37, 128, 128, 1, 1.0),
            ("bf16", "bf16", 1, 8, 2, 37, 37, 128, 128, 1, 1.0),   # a bf16 cache
            ("bf16", "f32", 1, 2, 1, 70, 100, 40, 24, 31, 1.0),    # cache diagonal, odd widths
            ("f16", "f32", 1, 2, 2, 64, 50, 18, 10, None, 1.0),    # rows off 16-byte words
            ("bf16", "bf16", 1, 2, 2, 64, 50, 12, 20, 1, 1.0),     # ... of a bf16 cache
            ("f16", "f16", 2, 2, 1, 64, 90, 16, 16, None, 1.0, (2, 1, 1, 90)),  # padding
            ("bf16", "f32", 1, 2, 2, 64, 64, 16, 32, 0, 1.0),      # row 0 masked whole
            ("bf16", "f32", 1, 2, 2, 64, 70, 32, 32, None, 30.0),  # exp overflows w/o max
            ("bf16", "f32", 1, 2, 1, 1, 300, 64, 64, None, 1.0),   # decode: the f32 kernel
            ("bf16", "bf16", 2, 4, 2, 1, 300, 64, 64, 300, 1.0),   # ... on a bf16 cache, split
            ("f32", "f16", 1, 2, 1, 3, 200, 32, 48, 198, 1.0),     # f16 cache, continuation
            ("bf16", "f16", 1, 4, 4, 64, 64, 64, 64, None, 1.0),   # the other type: f32 kernel
            ("bf16", "f32", 1, 4, 4, 64, 64, 160, 160, None, 1.0),  # too wide: f32
            ("f32", "bf16", 1, 2, 1, 5, 9, 264, 264, None, 1.0),   # wider: cuBLAS, widened
            ("f32", "f32", 1, 4, 4, 64, 64, 64, 64, None, 1.0)):   # f32 asked for
        q = (rng.standard_normal((b, h, t, d)) * scale).astype(np.float32)
        k = rng.standard_normal((b, kv, keys, d)).astype(np.float32)
        v = rng.standard_normal((b, kv, keys, dv)).astype(np.float32)
        if kv_kind != "f32":  # what the kernel reads: the stored values
            k, v = rounded(k, kv_kind), rounded(v, kv_kind)
        alpha = 1.0 / np.sqrt(d)
        bias = None
        if bias_shape:
            bias = (rng.standard_normal(bias_shape[0]) * 2).astype(np.float32)
            bias[1, ..., -3:] = -np.inf
        exact = attention_reference(q, k, v, alpha, causal_k, bias)
        tensor_cores = (kind != "f32" and kv_kind in ("f32", kind) and t * h // kv >= 64
                        and max(d, dv) <= 128)
        case = (f"{kind} kv {kv_kind} b {b} heads {h}/{kv} t {t} keys {keys} d {d}/{dv} "
                f"causal {causal_k} bias {bias_shape[0] if bias_shape else None}")
        strides = lambda shape: np.array(  # noqa: E731
            [int(np.prod(shape[1:])), int(np.prod(shape[2:])), shape[3]], np.int64)
        qs, ks, vs, outs = (strides(q.shape), strides(k.shape), strides(v.shape),
                            strides(exact.shape))
        bs = np.zeros(4, np.int64)
        if bias is not None:
            bs = np.array(ch.broadcast_strides(bias.shape, exact.shape[:3] + (keys,)),
                          np.int64)
        stored = (lambda a: a) if kv_kind == "f32" else HALF[kv_kind][0]
        k_stored, v_stored = D(stored(k)), D(stored(v))
        out = D(shape=exact.shape, dtype=np.float32)
        before, mmas = kernel_launches(), kc.launches_of("attentionMma")
        status = ch.lib.moe_cuda_attention_f32(
            None, b, h, kv, t, keys, d, dv, alpha, types[kind], types[kv_kind], D(q).ptr,
            qs.ctypes.data, k_stored.ptr, ks.ctypes.data, v_stored.ptr, vs.ctypes.data,
            int(causal_k is not None), causal_k or 0, None if bias is None else D(bias).ptr,
            None if bias is None else bs.ctypes.data, ch.ELEMENT_F32, out.ptr,
            outs.ctypes.data)
        got = out.get()
        if status != ch.OK:
            failures.append(f"{case}: status {status}")
            continue
        if mmas is not None:
            mma = kc.launches_of("attentionMma") - mmas
            if mma != int(tensor_cores) or \
                    (tensor_cores and kernel_launches() - before != 1):
                failures.append(f"{case}: {kernel_launches() - before} launches, "
                                f"{mma} of the tensor-core kernel")
        # The same call writing its result in 16 bits (what the output
        # projection reads): the f32 result rounded, bit for bit.
        out_kind = kind if kind != "f32" else "bf16"
        out16 = D(shape=exact.shape, dtype=np.uint16)
        status = ch.lib.moe_cuda_attention_f32(
            None, b, h, kv, t, keys, d, dv, alpha, types[kind], types[kv_kind], D(q).ptr,
            qs.ctypes.data, k_stored.ptr, ks.ctypes.data, v_stored.ptr, vs.ctypes.data,
            int(causal_k is not None), causal_k or 0, None if bias is None else D(bias).ptr,
            None if bias is None else bs.ctypes.data, types[out_kind], out16.ptr,
            outs.ctypes.data)
        got16 = HALF[out_kind][1](out16.get()).reshape(got.shape)
        if status != ch.OK or not np.array_equal(got16, rounded(got, out_kind),
                                                 equal_nan=True):
            failures.append(f"{case}: its {out_kind} result is not the f32 one rounded")
        # ... and within the 16-bit type's rounding of numpy's (the inputs'
        # rounding aside: those cases are checked below, in f32).
        if not tensor_cores and not np.allclose(got16, exact, rtol=2.0 ** -7, atol=1e-5,
                                                equal_nan=True):
            failures.append(f"{case}: its {out_kind} result is not numpy's rounded")
        if not tensor_cores:
            if not np.allclose(got, exact, rtol=1e-4, atol=1e-5, equal_nan=True):
                failures.append(f"{case}: not the f32 kernel's result")
            continue
        # NaN exactly where the reference's rows are (masked whole).
        if not np.array_equal(np.isnan(got), np.isnan(exact)):
            failures.append(f"{case}: NaN rows differ")
            continue
        live = ~np.isnan(exact)
        want = attention_reference(rounded(q, kind), rounded(k, kind), rounded(v, kind),
                                   alpha, causal_k, bias)
        # (Against the f32 inputs only at unit variance: rounding q scaled
        # by 30 moves near-one-hot softmaxes by more.)
        checks = [("rounded inputs", want, 2e-2, 0.9999)]
        if scale == 1.0:
            checks.append(("f32 inputs", exact, 2e-2, 0.999))
        for name, reference, rtol, cosine in checks:
            g, w = got[live].astype(np.float64), reference[live]
            similarity = np.dot(g, w) / (np.linalg.norm(g) * np.linalg.norm(w))
            if not np.allclose(g, w, rtol=rtol, atol=rtol) or similarity < cosine:
                failures.append(f"{case} vs {name}: max abs error "
                                f"{np.max(np.abs(g - w)):g}, cosine {similarity:.6f}")
    # The compiled code's entry, q, k, v as [b, t, heads, d] buffers (k, v
    # in bf16: a cache), on device buffers: the kernel's result - tensor
    # cores at prefill, split keys merged by the last split at decode.
    for t, keys in ((70, 70), (1, 300)):
        q = rng.standard_normal((1, t, 8, 32)).astype(np.float32)
        k = rounded(rng.standard_normal((1, keys, 2, 32)).astype(np.float32), "bf16")
        v = rounded(rng.standard_normal((1, keys, 2, 32)).astype(np.float32), "bf16")
        alpha, diagonal = 32 ** -0.5, keys - t + 1
        want = np.transpose(attention_reference(
            *(np.transpose(a, (0, 2, 1, 3)) for a in (rounded(q, "bf16") if t > 1 else q, k, v)),
            alpha, diagonal), (0, 2, 1, 3))
        out_d = D(shape=q.shape, dtype=np.float32)
        before = kernel_launches()
        status = ch.lib.moe_cuda_cc_attention_f32(
            0, alpha, ch.ELEMENT_BF16, ch.ELEMENT_BF16, D(q).ptr, *ch.view(q.shape, (0, 2, 1, 3)),
            D(ch.to_bf16(k)).ptr, *ch.view(k.shape, (0, 2, 3, 1)), D(ch.to_bf16(v)).ptr,
            *ch.view(v.shape, (0, 2, 1, 3)), 1, diagonal, t, keys, None, *ch.dims(()),
            ch.ELEMENT_F32, *ch.view(q.shape, (0, 2, 1, 3)), out_d.ptr)
        got = out_d.get()
        launches = None if before is None else kernel_launches() - before
        if status != ch.OK or not np.allclose(got, want, rtol=2e-2, atol=2e-2) or \
                launches not in (None, 1):
            failures.append(f"cc device, bf16 cache, t {t} keys {keys}: status {status}, "
                            f"{launches} launches, max abs error {np.max(np.abs(got - want)):g}")
    x = np.ones(64, np.float32)
    st = np.array([64, 64, 16], np.int64)
    for precision, kv_type in ((3, ch.ELEMENT_F32), (ch.ELEMENT_F32, 3), (-1, ch.ELEMENT_F32)):
        status = ch.lib.moe_cuda_attention_f32(
            None, 1, 1, 1, 1, 4, 16, 16, 1.0, precision, kv_type, x.ctypes.data,
            st.ctypes.data, x.ctypes.data, st.ctypes.data, x.ctypes.data, st.ctypes.data,
            0, 0, None, None, ch.ELEMENT_F32, x.ctypes.data, st.ctypes.data)
        if status != ch.INVALID_ARGUMENT:
            failures.append(f"precision {precision}, kv type {kv_type}: status {status}")
    report("tensor-core attention and 16-bit caches", failures)


kc.run_sections("gpu_attention_ops", (
    ("fused attention", test_fused_attention),
    ("tensor-core attention and 16-bit caches", test_mma_attention)))
