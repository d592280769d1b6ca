# The graph's ops around the MoE layers on a GPU against NumPy: the
# elementwise ops (broadcasting binary, unary, row means, the RMS norm,
# casts) and an attention block's ops (softmax with causal masks,
# transpose, slice, concat - also of a transposed input - expand, range,
# the rotary embedding and q's and k's pair, batched and viewed matmuls
# through cuBLAS, 16-bit weights), through the kernels and the compiled
# code's entries on device and host buffers. The fused attention call is
# gpu_attention_ops.py's, the MoE kernels gpu_kernels.py's.
# Runs where a GPU is present (scripts/gpu-check.sh).
# REQUIRES: gpu
# RUN: %python %s | FileCheck %s
# CHECK: OK: binary
# CHECK: OK: unary, mean, RMS norm and casts
# CHECK: OK: softmax, transpose, slice, concat, expand, range, rotary and matmul

import ctypes

import numpy as np

import cuda_harness as ch
import kernel_checks as kc
from kernel_checks import HALF, report

rng = np.random.default_rng(37)
D = ch.Device


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
    # Integer graph inputs to f32 (HF's position_ids): numpy's rounding to
    # nearest (values past 2**24 round), negative values too, through the
    # kernel and the compiled code on host and device buffers.
    for kind, itype in ((4, np.int64), (5, np.int32)):
        big = np.iinfo(itype).max
        ints = np.concatenate([np.arange(-5, 300), [2**24 + 1, -(2**24 + 3), big, -big]]
                              ).astype(itype)
        want = ints.astype(np.float32)
        out = D(shape=ints.shape, dtype=np.float32)
        status = ch.lib.moe_cuda_cast(None, kind, ints.size, D(ints).ptr, out.ptr)
        if status != ch.OK or not np.array_equal(out.get(), want):
            failures.append(f"cast {itype.__name__} -> f32: status {status}")
        out = D(shape=ints.shape, dtype=np.float32)
        status = ch.lib.moe_cuda_cc_cast(0, kind, D(ints).ptr, ints.size, out.ptr)
        if status != ch.OK or not np.array_equal(out.get(), want):
            failures.append(f"cc device cast {itype.__name__} -> f32: status {status}")
        host = np.empty(ints.size, np.float32)
        status = ch.lib.moe_cuda_cc_cast(0, kind, ints.ctypes.data, ints.size,
                                         host.ctypes.data)
        if status != ch.OK or not np.array_equal(host, want):
            failures.append(f"cc host cast {itype.__name__} -> f32: status {status}")
    for kind in (-1, 6):
        bad = ch.lib.moe_cuda_cast(None, kind, 1, x.ctypes.data, x.ctypes.data)
        if bad != ch.INVALID_ARGUMENT:
            failures.append(f"cast kind {kind}: status {bad}")
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
    # Written in 16 bits (the activations of projections with 16-bit
    # weights): the f32 norm rounded to nearest even, within an ulp of
    # numpy's norm rounded the same way (f32 vs f64 sums before it);
    # with the residual sum in f32 beside it.
    for kind, element in (("bf16", ch.ELEMENT_BF16), ("f16", ch.ELEMENT_F16)):
        to_bits, from_bits = HALF[kind]
        rows, cols = 9, 300
        y = (rng.standard_normal((rows, cols)) * 3).astype(np.float32)
        weight = rng.standard_normal(cols).astype(np.float32)
        residual = rng.standard_normal((rows, cols)).astype(np.float32)
        h = y.astype(np.float64) + residual
        expected = h / np.sqrt((h ** 2).mean(axis=1, keepdims=True) + eps) * weight
        for where in ("kernel", "cc device", "cc host"):
            device = where != "cc host"
            if device:
                out = D(shape=(rows, cols), dtype=np.uint16)
                total = D(shape=(rows, cols), dtype=np.float32)
                ptrs = (D(y).ptr, D(residual).ptr, out.ptr, total.ptr)
            else:
                out_h = np.empty((rows, cols), np.uint16)
                total_h = np.empty((rows, cols), np.float32)
                ptrs = (y.ctypes.data, residual.ctypes.data, out_h.ctypes.data,
                        total_h.ctypes.data)
            w_ptr = D(weight).ptr if where == "kernel" else weight.ctypes.data
            if where == "kernel":
                status = ch.lib.moe_cuda_rms_norm(None, element, ptrs[0], ptrs[1], rows, cols,
                                                  eps, w_ptr, ptrs[3], ptrs[2])
            else:
                status = getattr(ch.lib, "moe_cuda_cc_rms_norm_" + kind)(
                    0, ptrs[0], ptrs[1], rows, cols, eps, w_ptr, ptrs[3], ptrs[2])
            got = from_bits(out.get() if device else out_h).reshape(rows, cols)
            got_sum = total.get() if device else total_h
            # One ulp of the 16-bit type: 2^-7 (bf16) or 2^-10 (f16) relative.
            ulp = 2.0 ** (-7 if kind == "bf16" else -10)
            if status != ch.OK or not np.allclose(got, expected, rtol=ulp, atol=1e-6) or \
                    not np.array_equal(got_sum, y + residual):
                failures.append(f"{where} rms norm into {kind}: status {status}, max error "
                                f"{np.max(np.abs(got - expected)):g}")
    bad = ch.lib.moe_cuda_rms_norm_f32(None, None, None, 3, 0, eps, None, None, None)
    if bad != ch.INVALID_ARGUMENT:
        failures.append(f"an RMS norm over 0 columns: status {bad}")
    x = np.ones(4, np.float32)
    if ch.lib.moe_cuda_rms_norm(None, 3, x.ctypes.data, None, 1, 4, eps, None, None,
                                x.ctypes.data) != ch.INVALID_ARGUMENT:
        failures.append("an RMS norm into element type 3 accepted")
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
    # The same cache kept in 16 bits (a 16-bit model's): the past in the
    # cache's type, the new tokens f32 (bit 1 of f32_inputs), rounded as
    # copied; and the first input f32 instead (bit 0). Head dims that are
    # whole 16-byte vectors of the output (8, 16) move a vector at a time
    # (concatVectorKernel, counted on the emulation), 4 value by value.
    # Also the kernel on both inputs 16-bit into an f32 out (widened).
    for kind in ("bf16", "f16"):
        to_bits, from_bits = HALF[kind]
        entry = getattr(ch.lib, "moe_cuda_cc_concat_" + kind)
        for d in (4, 8, 16):
            past_d = rng.standard_normal((2, 3, 5, d)).astype(np.float32)
            new_d = rng.standard_normal((2, 2, 3, d)).astype(np.float32)  # [b, t, kv, d]
            past16 = to_bits(past_d).reshape(past_d.shape)
            heads = np.transpose(new_d, (0, 2, 1, 3))
            for where in ("cc device", "cc host"):
                for mask, arrays, perms, parts in (
                        (0b10, [past16, new_d], [None, (0, 2, 1, 3)], (past16, heads)),
                        (0b01, [np.ascontiguousarray(heads), past16], [None, None],
                         (heads, past16))):
                    want_mask = to_bits(np.concatenate(
                        [from_bits(p).reshape(p.shape) if p.dtype == np.uint16 else p
                         for p in parts], axis=2))
                    if where == "cc host":
                        out = np.empty(want_mask.shape, np.uint16)
                        pointers = [a.ctypes.data for a in arrays] + [out.ctypes.data]
                    else:
                        out_d = D(shape=want_mask.shape, dtype=np.uint16)
                        pointers = [D(a).ptr for a in arrays] + [out_d.ptr]
                    vectors = kc.launches_of("concatVectorKernel")
                    status = entry(0, 2, 2, mask, pointers[0],
                                   *ch.view(arrays[0].shape, perms[0]), pointers[1],
                                   *ch.view(arrays[1].shape, perms[1]), None, *ch.view(()),
                                   None, *ch.view(()), pointers[2])
                    got = out if where == "cc host" else out_d.get()
                    case = f"{where} {kind} cache concat, d {d}, f32 inputs {mask:#b}"
                    if status != ch.OK or not np.array_equal(got.reshape(want_mask.shape),
                                                             want_mask.reshape(got.shape)):
                        failures.append(f"{case}: status {status}")
                    if vectors is not None and where == "cc device" and \
                            kc.launches_of("concatVectorKernel") - vectors != int(d % 8 == 0):
                        failures.append(f"{case}: not the expected kernel")
        past16 = to_bits(past).reshape(past.shape)
        out_d = D(shape=want.shape, dtype=np.float32)
        widths = np.array([5 * 4, 2 * 4], np.int64)  # rows: b * kv = 6
        inputs = (ctypes.c_void_p * 2)(D(past16).ptr, D(to_bits(np.transpose(new, (0, 2, 1, 3)))
                                                      .reshape(2, 3, 2, 4)).ptr)
        types = (ctypes.c_int32 * 2)(*([ch.ELEMENT_BF16 if kind == "bf16" else ch.ELEMENT_F16] * 2))
        status = ch.lib.moe_cuda_concat(None, ch.ELEMENT_F32, 2, inputs, types,
                                        widths.ctypes.data, 6, None, out_d.ptr)
        widened = np.concatenate([from_bits(past16).reshape(past.shape), from_bits(to_bits(
            np.transpose(new, (0, 2, 1, 3)))).reshape(2, 3, 2, 4)], axis=2)
        if status != ch.OK or not np.array_equal(out_d.get(), widened):
            failures.append(f"kernel {kind} inputs into an f32 concat: status {status}")
        bad = (ctypes.c_int32 * 2)(3, 0)
        if ch.lib.moe_cuda_concat(None, ch.ELEMENT_F32, 2, inputs, bad, widths.ctypes.data, 6,
                                  None, out_d.ptr) != ch.INVALID_ARGUMENT:
            failures.append("a concat input of type 3 accepted")
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
    # q's and k's rotary embeddings in one call (their tables shared; k with
    # fewer heads, both heads' transposes read in place): each against
    # numpy, one launch on the device.
    for q_shape, k_shape, table_shape in (((2, 5, 4, 8), (2, 5, 2, 8), (2, 1, 5, 8)),
                                          ((1, 1, 2, 6), (1, 1, 1, 6), (1, 6)),
                                          ((2, 0, 4, 8), (2, 0, 2, 8), (1, 8))):
        q = rng.standard_normal(q_shape).astype(np.float32)
        k = rng.standard_normal(k_shape).astype(np.float32)
        cos = rng.standard_normal(table_shape).astype(np.float32)
        sin = rng.standard_normal(table_shape).astype(np.float32)
        perm = (0, 2, 1, 3)
        wants = []
        for buffer in (q, k):
            view = np.transpose(buffer, perm)
            half = view.shape[-1] // 2
            rot = np.concatenate((-view[..., half:], view[..., :half]), axis=-1)
            wants.append(view * cos + rot * sin)
        half = q_shape[-1] // 2
        args = lambda qp, kp, cp, sp, qo, ko: ch.lib.moe_cuda_cc_rotary_pair_f32(
            0, qp, *ch.view(q_shape, perm), kp, *ch.view(k_shape, perm)[1:], cp,
            *ch.dims(table_shape), sp, *ch.dims(table_shape), half, half, 0, half, qo, ko)
        host = [np.empty(w.shape, np.float32) for w in wants]
        status = args(q.ctypes.data, k.ctypes.data, cos.ctypes.data, sin.ctypes.data,
                      host[0].ctypes.data, host[1].ctypes.data)
        outs = [D(shape=w.shape, dtype=np.float32) for w in wants]
        launched = kc.launches_of("rotaryPairKernel")  # None on a GPU
        device_status = args(D(q).ptr, D(k).ptr, D(cos).ptr, D(sin).ptr, outs[0].ptr, outs[1].ptr)
        launches = None if launched is None else kc.launches_of("rotaryPairKernel") - launched
        for where, got, st in (("host", host, status),
                               ("device", [o.get() for o in outs], device_status)):
            if st != ch.OK or not all(np.allclose(g, w, rtol=1e-6, atol=1e-6)
                                      for g, w in zip(got, wants)):
                failures.append(f"{where} rotary pair {q_shape} {k_shape}: status {st}")
        if q.size and launches not in (None, 1):
            failures.append(f"rotary pair {q_shape}: {launches} launches")
    bad = ch.lib.moe_cuda_cc_rotary_pair_f32(  # k's rank-4 dims past a 3-d table's
        0, q.ctypes.data, *ch.view((2, 4, 8), (1, 0, 2)), k.ctypes.data, 2, 4, 9, 1,
        1, 0, 2, 0, cos.ctypes.data, *ch.dims((1, 8)), sin.ctypes.data, *ch.dims((1, 8)),
        4, 4, 0, 4, q.ctypes.data, k.ctypes.data)
    if bad != ch.INVALID_ARGUMENT:
        failures.append(f"rotary pair with a table that does not broadcast: status {bad}")
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


kc.run_sections("gpu_graph_ops", (
    ("binary", test_binary), ("unary, mean, RMS norm and casts", test_unary_mean),
    ("softmax, transpose, slice, concat, expand, range and matmul", test_attention)))
