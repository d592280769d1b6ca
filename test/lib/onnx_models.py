"""Small ONNX models built with onnx.helper for the importer's tests.

Each function writes one model to `path`; they are also callable from the
command line: `python -m onnx_models NAME PATH` (see main())."""

import sys

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(nodes, inputs, outputs, initializers, path, opset=17, extra_opsets=()):
    graph = helper.make_graph(nodes, "test_graph", inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", opset)] + [
        helper.make_opsetid(domain, version) for domain, version in extra_opsets]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, path)
    return model


def microsoft_moe(path, num_experts, d, f, *, activation="relu", k=2,
                  normalize=0, fusion=0, biases=False, alpha=None, beta=None,
                  limit=None, rank=2, seed=0):
    """One com.microsoft.MoE node with random weights in ORT's layout:
    fc1 [E, F1, d] (F1 = 2f when gate/up are fused), fc2 [E, d, f],
    fc3 [E, f, d] for swiglu with fusion 0."""
    rng = np.random.default_rng(seed)
    rand = lambda *s, scale=1.0: (rng.standard_normal(s) * scale).astype(np.float32)
    gated = activation == "swiglu"
    fused = 2 * f if gated and fusion else f
    inits = [numpy_helper.from_array(rand(num_experts, fused, d, scale=d ** -0.5), "fc1")]
    names = ["x", "logits", "fc1"]
    if biases:
        inits.append(numpy_helper.from_array(rand(num_experts, fused, scale=0.1), "fc1_bias"))
    names.append("fc1_bias" if biases else "")
    inits.append(numpy_helper.from_array(rand(num_experts, d, f, scale=f ** -0.5), "fc2"))
    names.append("fc2")
    if biases:
        inits.append(numpy_helper.from_array(rand(num_experts, d, scale=0.1), "fc2_bias"))
    names.append("fc2_bias" if biases else "")
    if gated and fusion == 0:
        inits.append(numpy_helper.from_array(rand(num_experts, f, d, scale=d ** -0.5), "fc3"))
        names.append("fc3")
    while names and names[-1] == "":
        names.pop()
    attrs = dict(k=k, activation_type=activation, normalize_routing_weights=normalize)
    if gated:
        attrs["swiglu_fusion"] = fusion
    if alpha is not None:
        attrs["activation_alpha"] = alpha
    if beta is not None:
        attrs["activation_beta"] = beta
    if limit is not None:
        attrs["swiglu_limit"] = limit
    node = helper.make_node("MoE", names, ["y"], domain="com.microsoft",
                            name="moe0", **attrs)
    shape = ["T", d] if rank == 2 else ["B", "S", d]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
              helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", num_experts])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)]
    return _save([node], inputs, outputs, inits, path,
                 extra_opsets=[("com.microsoft", 1)])


def half_with_twin(twin_path, half_path, *args, dtype="float16", **kwargs):
    """A 16-bit ONNX Runtime MoE model (weights, inputs and output in
    `dtype`: "float16" or "bfloat16") at half_path and its f32 twin at
    twin_path: the same weights rounded to `dtype` and stored as f32, so
    that onnxruntime on the twin, fed the 16-bit inputs widened, is the
    reference for the 16-bit model (microsoft_moe's arguments)."""
    numpy_type = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}[dtype]
    onnx_type = {"float16": TensorProto.FLOAT16, "bfloat16": TensorProto.BFLOAT16}[dtype]
    microsoft_moe(twin_path, *args, **kwargs)
    model = onnx.load(twin_path)
    for init in model.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(
            numpy_helper.to_array(init).astype(numpy_type).astype(np.float32), init.name))
    onnx.save(model, twin_path)
    for init in model.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(
            numpy_helper.to_array(init).astype(numpy_type), init.name))
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.elem_type = onnx_type
    onnx.save(model, half_path)


def untied_logits(rng, tokens, experts, numpy_type):
    """Router logits [tokens, experts] in `numpy_type` with no two equal in
    a row: experts at distinct levels 0.25 apart, jittered by less than
    0.1. Rounded to bf16's 8-bit significand, normal draws tie often, and
    onnxruntime's MoE op breaks a tie for the top k differently from ONNX
    TopK's lower-index rule, which the compiler follows (Dialect.md)."""
    levels = rng.permuted(np.tile(np.arange(experts), (tokens, 1)), axis=1)
    jitter = rng.uniform(-0.1, 0.1, (tokens, experts))
    return (levels * 0.25 + jitter - experts * 0.125).astype(numpy_type)


def microsoft_qmoe(path, num_experts, d, f, *, bits=4, activation="relu", k=2,
                   normalize=1, fusion=1, block_size=0, zero_points=False,
                   biases=False, seed=0):
    """One com.microsoft.QMoE node with integer weight-only quantization in
    onnxruntime's layout: uint8 [E, N, K * bits / 8] (4-bit packed low
    nibble first), float scales [E, N] or [E, N, K / block_size], optional
    zero points packed like the weights."""
    rng = np.random.default_rng(seed)
    gated = activation == "swiglu"
    fused = 2 * f if gated else f
    names = ["x", "logits"]
    inits = []

    def quantized(name, n, kdim):
        q = rng.integers(0, 1 << bits, (num_experts, n, kdim)).astype(np.uint8)
        if bits == 4:
            q = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
        blocks = kdim // block_size if block_size else 0
        scale_shape = (num_experts, n, blocks) if block_size else (num_experts, n)
        scale = (rng.random(scale_shape) * 0.04 + 0.01).astype(np.float32)
        inits.append(numpy_helper.from_array(q, name))
        inits.append(numpy_helper.from_array(scale, name + "_scales"))
        zp = None
        if zero_points:
            count = (num_experts, n, blocks) if block_size else (num_experts, n)
            z = rng.integers(0, 1 << bits, count).astype(np.uint8)
            if bits == 4:
                flat = z.reshape(count[0], -1) if not block_size else z.reshape(-1, blocks)
                if flat.shape[-1] % 2:
                    flat = np.concatenate([flat, np.zeros(flat.shape[:-1] + (1,), np.uint8)], -1)
                z = (flat[..., 0::2] | (flat[..., 1::2] << 4)).astype(np.uint8)
                z = z.reshape(num_experts, n, -1) if block_size else z.reshape(num_experts, -1)
            inits.append(numpy_helper.from_array(z, name + "_zp"))
            zp = name + "_zp"
        return [name, name + "_scales"], zp

    fc1, zp1 = quantized("fc1", fused, d)
    names += fc1
    if biases:
        inits.append(numpy_helper.from_array((rng.standard_normal((num_experts, fused)) * 0.1).astype(np.float32), "fc1_bias"))
    names.append("fc1_bias" if biases else "")
    fc2, zp2 = quantized("fc2", d, f)
    names += fc2
    if biases:
        inits.append(numpy_helper.from_array((rng.standard_normal((num_experts, d)) * 0.1).astype(np.float32), "fc2_bias"))
    names.append("fc2_bias" if biases else "")
    names += ["", "", ""]  # fc3 weights, scales, bias
    names += [zp1 or "", zp2 or ""]
    while names[-1] == "":
        names.pop()
    attrs = dict(k=k, activation_type=activation, normalize_routing_weights=normalize,
                 expert_weight_bits=bits)
    if gated:
        attrs["swiglu_fusion"] = fusion
    if block_size:
        attrs["block_size"] = block_size
    node = helper.make_node("QMoE", names, ["y"], domain="com.microsoft", name="qmoe0", **attrs)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", d]),
              helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["T", num_experts])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", d])]
    return _save([node], inputs, outputs, inits, path, extra_opsets=[("com.microsoft", 1)])


def relayout_swiglu(src, dst, fusion):
    """Rewrites a swiglu MoE model with interleaved gate/up rows
    (swiglu_fusion = 1, the only layout onnxruntime's CPU kernel runs) into
    the same weights with separate fc3 (fusion = 0) or concatenated
    [gate | up] rows (fusion = 2), so onnxruntime on `src` is the reference
    for `dst`."""
    model = onnx.load(src)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    node = graph.node[0]
    fc1 = numpy_helper.to_array(inits["fc1"])
    gate, up = fc1[:, 0::2], fc1[:, 1::2]
    bias = numpy_helper.to_array(inits["fc1_bias"]) if "fc1_bias" in inits else None
    if fusion == 2:
        inits["fc1"].CopyFrom(numpy_helper.from_array(
            np.concatenate([gate, up], axis=1), "fc1"))
        if bias is not None:
            inits["fc1_bias"].CopyFrom(numpy_helper.from_array(
                np.concatenate([bias[:, 0::2], bias[:, 1::2]], axis=1), "fc1_bias"))
    else:
        inits["fc1"].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(gate), "fc1"))
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(up), "fc3"))
        names = list(node.input) + [""] * (8 - len(node.input))
        names[6] = "fc3"
        if bias is not None:
            inits["fc1_bias"].CopyFrom(numpy_helper.from_array(
                np.ascontiguousarray(bias[:, 0::2]), "fc1_bias"))
            graph.initializer.append(numpy_helper.from_array(
                np.ascontiguousarray(bias[:, 1::2]), "fc3_bias"))
            names[7] = "fc3_bias"
        while names[-1] == "":
            names.pop()
        del node.input[:]
        node.input.extend(names)
    for attr in node.attribute:
        if attr.name == "swiglu_fusion":
            attr.i = fusion
    onnx.save(model, dst)


# --- Standard-op models (numerics and IR tests) -----------------------------

def _info(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _rng(seed=0):
    return np.random.default_rng(seed)


def elementwise(path):
    """Broadcasting binary ops and every unary op in one graph."""
    r = _rng(1)
    nodes = [
        helper.make_node("Add", ["x", "bias"], ["a"], name="add"),
        helper.make_node("Mul", ["a", "scale"], ["m"], name="mul"),
        helper.make_node("Sub", ["m", "y"], ["s"], name="sub"),
        helper.make_node("Div", ["s", "two"], ["dv"], name="div"),
        helper.make_node("Max", ["dv", "y", "lo"], ["mx"], name="max3"),
        helper.make_node("Min", ["mx", "hi"], ["mn"], name="min"),
        helper.make_node("Sigmoid", ["mn"], ["sg"], name="sigmoid"),
        helper.make_node("Relu", ["s"], ["rl"], name="relu"),
        helper.make_node("Tanh", ["rl"], ["th"], name="tanh"),
        helper.make_node("Erf", ["th"], ["er"], name="erf"),
        helper.make_node("Neg", ["er"], ["ng"], name="neg"),
        helper.make_node("Exp", ["ng"], ["ex"], name="exp"),
        helper.make_node("Sqrt", ["ex"], ["sq"], name="sqrt"),
        helper.make_node("Pow", ["sq", "two"], ["pw"], name="pow"),
        helper.make_node("Identity", ["pw"], ["id"], name="identity"),
        helper.make_node("Add", ["id", "sg"], ["out"], name="sum"),
    ]
    inits = [_init("bias", r.standard_normal(16).astype(np.float32)),
             _init("scale", r.standard_normal((1, 16)).astype(np.float32)),
             _init("two", np.array(2.0, np.float32)),
             _init("lo", np.array([-0.5], np.float32)),
             _init("hi", r.standard_normal((16,)).astype(np.float32))]
    return _save(nodes, [_info("x", ["T", 16]), _info("y", ["T", 1])],
                 [_info("out", ["T", 16])], inits, path)


def linear(path):
    """MatMul with broadcast batch dims, Gemm with transB and C, Cast."""
    r = _rng(2)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
        helper.make_node("MatMul", ["b3", "w2"], ["hb"], name="batched"),
        helper.make_node("Gemm", ["h", "g"], ["gm"], name="gemm", transB=1,
                         alpha=0.5, beta=2.0),
        helper.make_node("Gemm", ["gm", "g2", "c"], ["gc"], name="gemm_c",
                         transA=0, alpha=1.5, beta=0.25),
        helper.make_node("Cast", ["gc"], ["gi"], name="to_int", to=TensorProto.INT64),
        helper.make_node("Cast", ["gi"], ["out"], name="to_float", to=TensorProto.FLOAT),
    ]
    inits = [_init("w", r.standard_normal((16, 8)).astype(np.float32)),
             _init("w2", r.standard_normal((1, 8, 3)).astype(np.float32)),
             _init("g", r.standard_normal((6, 8)).astype(np.float32)),
             _init("g2", r.standard_normal((6, 5)).astype(np.float32)),
             _init("c", r.standard_normal((5,)).astype(np.float32))]
    return _save(nodes, [_info("x", ["T", 16]), _info("b3", [2, "S", 4, 8])],
                 [_info("out", ["T", 5]), _info("hb", [2, "S", 4, 3])], inits, path)


def layout(path, opset=17):
    """Softmax, Transpose, Reshape (0 and -1), a Constant node."""
    nodes = [
        helper.make_node("Constant", [], ["shape"], name="shape_const",
                         value=numpy_helper.from_array(np.array([0, -1, 2], np.int64))),
        helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
        helper.make_node("Transpose", ["r"], ["t"], name="transpose", perm=[2, 0, 1]),
        helper.make_node("Softmax", ["t"], ["sm"], name="softmax", axis=-1),
        helper.make_node("Softmax", ["x"], ["out2"], name="softmax_rows"),
        helper.make_node("Reshape", ["sm", "flat"], ["out"], name="flatten"),
    ]
    inits = [_init("flat", np.array([2, -1], np.int64))]
    return _save(nodes, [_info("x", ["T", 8])],
                 [_info("out", [2, None]), _info("out2", ["T", 8])], inits, path,
                 opset=opset)


def router(path):
    """The routing front of an MoE block: MatMul -> Softmax."""
    r = _rng(3)
    nodes = [helper.make_node("MatMul", ["x", "wr"], ["logits"], name="router"),
             helper.make_node("Softmax", ["logits"], ["probs"], name="scores", axis=1)]
    return _save(nodes, [_info("x", ["T", 16])], [_info("probs", ["T", 8])],
                 [_init("wr", r.standard_normal((16, 8)).astype(np.float32))], path)


def odd_names(path):
    """A non-MoE graph for the compiled-model C API: names with spaces and
    slashes, a dim_param shared by two inputs, an int64 input, and two
    outputs that are one value (Identity)."""
    nodes = [helper.make_node("Mul", ["hidden states", "scale"], ["m"], name="mul"),
             helper.make_node("Add", ["m", "bias"], ["out/sum"], name="add"),
             helper.make_node("Identity", ["out/sum"], ["same"], name="identity"),
             helper.make_node("Cast", ["ids"], ["ids_f"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("Mul", ["ids_f", "scale"], ["scaled ids"], name="mul_ids")]
    return _save(nodes, [_info("hidden states", ["T", 4]), _info("scale", ["T", 1]),
                         _info("ids", ["T", 1], TensorProto.INT64)],
                 [_info("out/sum", ["T", 4]), _info("same", ["T", 4]),
                  _info("scaled ids", ["T", 1])],
                 [_init("bias", np.arange(4, dtype=np.float32))], path)


MODELS = {
    "odd_names": odd_names,
    "elementwise": elementwise,
    "linear": linear,
    "layout": layout,
    "layout_opset11": lambda path: layout(path, opset=11),
    "router": router,
}




# --- Data-movement models: the ops torch uses for shapes and routing --------

def _single(path, nodes, inputs, outputs, inits=(), opset=17):
    return _save(nodes, inputs, outputs, list(inits), path, opset=opset)


def _i64(name, values):
    return _init(name, np.array(values, np.int64))


DATA_MODELS = {
    # Rotary embeddings' tables: positions from a run-time length (float
    # Range with a fractional step; an int64 Range counting down), their
    # Cos and Sin.
    "range_cos_sin": lambda p: _single(p, [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["t"], name="gather_t", axis=0),
        helper.make_node("Cast", ["t"], ["tf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Range", ["start", "tf", "step"], ["pos"], name="range"),
        helper.make_node("Cos", ["pos"], ["c"], name="cos"),
        helper.make_node("Sin", ["pos"], ["sn"], name="sin"),
        helper.make_node("Range", ["t", "zero", "minus_two"], ["down"], name="range_down"),
    ], [_info("x", ["T", 4])],
        [_info("c", ["N"]), _info("sn", ["N"]), _info("down", ["M"], TensorProto.INT64)],
        [_i64("zero", 0), _i64("minus_two", -2), _init("start", np.array(0.5, np.float32)),
         _init("step", np.array(0.75, np.float32))], opset=11),
    # Shape -> Gather -> Unsqueeze -> Concat -> Reshape: a run-time shape.
    "shape_chain": lambda p: _single(p, [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["t"], name="gather_dim", axis=0),
        helper.make_node("Unsqueeze", ["t", "axes0"], ["tu"], name="unsqueeze"),
        helper.make_node("Concat", ["tu", "minus_one", "two"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
        # A 0 entry copies the input's dim (8 here, x transposed).
        helper.make_node("Transpose", ["x"], ["xt"], name="transpose", perm=[1, 0]),
        helper.make_node("Concat", ["zero_1d", "minus_one"], ["target2"], name="concat2",
                         axis=0),
        helper.make_node("Reshape", ["xt", "target2"], ["z"], name="reshape_zero"),
    ], [_info("x", ["T", 8])], [_info("y", ["T", None, 2]), _info("z", [8, None])],
        [_i64("zero", 0), _i64("axes0", [0]), _i64("minus_one", [-1]), _i64("two", [2]),
         _i64("zero_1d", [0])]),
    "gather_rows": lambda p: _single(p, [
        helper.make_node("Gather", ["x", "idx"], ["y"], name="gather", axis=0),
        helper.make_node("Gather", ["x", "cols"], ["z"], name="gather_cols", axis=1),
    ], [_info("x", ["T", 8]), _info("idx", ["N"], TensorProto.INT64)],
        [_info("y", ["N", 8]), _info("z", ["T", 2, 2])], [_i64("cols", [[1, -1], [0, 3]])]),
    "squeeze_flatten_slice": lambda p: _single(p, [
        helper.make_node("Unsqueeze", ["x", "axes0"], ["u"], name="unsqueeze"),
        helper.make_node("Squeeze", ["u", "axes0"], ["s"], name="squeeze"),
        helper.make_node("Flatten", ["x3"], ["f"], name="flatten", axis=2),
        helper.make_node("Slice", ["s", "st", "en", "ax", "sp"], ["y"], name="slice"),
    ], [_info("x", ["T", 8]), _info("x3", [2, "S", 3])],
        [_info("y", [None, 4]), _info("f", [None, 3])],
        [_i64("axes0", [0]), _i64("st", [1, -7]), _i64("en", [9223372036854775807, 8]),
         _i64("ax", [0, 1]), _i64("sp", [1, 2])]),
    "split_expand_fill": lambda p: _single(p, [
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="split", axis=1),
        helper.make_node("Shape", ["a"], ["sa"], name="shape"),
        helper.make_node("ConstantOfShape", ["sa"], ["zeros"], name="zeros",
                         value=numpy_helper.from_array(np.array([1.5], np.float32))),
        helper.make_node("Add", ["zeros", "b"], ["y"], name="add"),
        helper.make_node("Expand", ["row", "sa"], ["e"], name="expand"),
    ], [_info("x", ["T", 8])], [_info("y", ["T", 4]), _info("e", ["T", 4])],
        [_i64("sizes", [4, 4]), _init("row", np.arange(4, dtype=np.float32).reshape(1, 4))]),
    "nonzero_where": lambda p: _single(p, [
        helper.make_node("Cast", ["m"], ["mb"], name="to_bool", to=TensorProto.BOOL),
        helper.make_node("NonZero", ["mb"], ["nz"], name="nonzero"),
        helper.make_node("Split", ["nz", "ones"], ["r", "c"], name="split", axis=0),
        helper.make_node("Squeeze", ["c", "axes0"], ["cols"], name="squeeze"),
    ], [_info("m", ["T", 4], TensorProto.INT64)], [_info("nz", [2, None], TensorProto.INT64),
                                                  _info("cols", [None], TensorProto.INT64)],
        [_i64("ones", [1, 1]), _i64("axes0", [0])]),
    "scatter_add": lambda p: _single(p, [
        helper.make_node("ScatterElements", ["x", "idx", "upd"], ["y"], name="scatter",
                         axis=0, reduction="add"),
        helper.make_node("ScatterElements", ["x", "idx1", "upd1"], ["z"], name="scatter_none",
                         axis=1),
    ], [_info("x", ["T", 4]), _info("idx", ["N", 4], TensorProto.INT64), _info("upd", ["N", 4])],
        [_info("y", ["T", 4]), _info("z", ["T", 4])],
        [_i64("idx1", [[3, 0]]), _init("upd1", np.array([[7.0, 8.0]], np.float32))]),
    "topk_reduce_onehot": lambda p: _single(p, [
        helper.make_node("TopK", ["x", "k"], ["v", "i"], name="topk", axis=-1),
        helper.make_node("ReduceSum", ["v", "axes1"], ["s"], name="sum", keepdims=1),
        helper.make_node("Div", ["v", "s"], ["w"], name="renorm"),
        helper.make_node("ReduceMax", ["x"], ["mx"], name="max", axes=[0], keepdims=0),
        helper.make_node("ReduceMean", ["x"], ["mean"], name="mean", axes=[1], keepdims=1),
        helper.make_node("OneHot", ["i", "depth", "vals"], ["oh"], name="onehot"),
        helper.make_node("Transpose", ["oh"], ["mask"], name="permute", perm=[2, 1, 0]),
    ], [_info("x", ["T", 6])],
        [_info("w", ["T", 2]), _info("i", ["T", 2], TensorProto.INT64), _info("mx", [6]),
         _info("mean", ["T", 1]), _info("mask", [6, 2, "T"], TensorProto.INT64)],
        [_i64("k", [2]), _i64("axes1", [1]), _i64("depth", 6), _i64("vals", [0, 1])],
        opset=13),
}
# A dim that is dynamic in the IR but 1 at run time must still broadcast:
# r is [T, 1] through a Reshape whose shape is computed at run time.
DATA_MODELS["runtime_broadcast"] = lambda p: _single(p, [
    helper.make_node("Shape", ["x"], ["s"], name="shape", end=1),
    helper.make_node("Concat", ["s", "one"], ["target"], name="concat", axis=0),
    helper.make_node("Reshape", ["w", "target"], ["r"], name="reshape"),
    helper.make_node("Mul", ["x", "r"], ["y"], name="scale_rows"),
], [_info("x", ["T", 16]), _info("w", ["T"])], [_info("y", ["T", 16])],
    [_i64("one", [1])], opset=17)
# Slice bounds computed at run time from the shape (as exporters write
# `x[:, :n]` with n from a Shape chain).
DATA_MODELS["runtime_slice"] = lambda p: _single(p, [
    helper.make_node("Shape", ["x"], ["s"], name="shape", start=0, end=1),
    helper.make_node("Sub", ["s", "one"], ["end"], name="minus_one"),
    helper.make_node("Slice", ["x", "zero", "end", "axes0"], ["y"], name="slice_rows"),
    helper.make_node("Slice", ["x", "neg", "s", "axes1", "two"], ["z"], name="slice_cols"),
], [_info("x", ["T", 8])], [_info("y", [None, 8]), _info("z", ["T", None])],
    [_i64("one", [1]), _i64("zero", [0]), _i64("axes0", [0]), _i64("axes1", [1]),
     _i64("neg", [-7]), _i64("two", [2])])
MODELS.update(DATA_MODELS)


SELECT_MODELS = {
    "equal_where_clip": lambda p: _single(p, [
        helper.make_node("Equal", ["ids", "one"], ["is_one"], name="equal"),
        helper.make_node("Not", ["is_one"], ["other"], name="not"),
        helper.make_node("Where", ["other", "x", "zero"], ["masked"], name="where"),
        helper.make_node("Clip", ["masked", "lo", "hi"], ["y"], name="clip"),
        helper.make_node("Clip", ["x", "", "hi"], ["z"], name="clip_max_only"),
    ], [_info("x", ["T", 4]), _info("ids", ["T", 4], TensorProto.INT64)],
        [_info("y", ["T", 4]), _info("z", ["T", 4])],
        [_i64("one", 1), _init("zero", np.array(0.0, np.float32)),
         _init("lo", np.array(-0.5, np.float32)), _init("hi", np.array(0.75, np.float32))]),
    # The ordered comparisons, each result selecting from x: floats (with
    # NaNs: every comparison false) and int64 (transformers' causal mask:
    # arange(total) > cache_position), broadcast.
    "compare": lambda p: _single(p, [
        helper.make_node("Greater", ["x", "b"], ["gt"], name="greater"),
        helper.make_node("Less", ["x", "b"], ["lt"], name="less"),
        helper.make_node("GreaterOrEqual", ["x", "b"], ["ge"], name="greater_or_equal"),
        helper.make_node("LessOrEqual", ["ids", "pos"], ["le"], name="less_or_equal"),
        helper.make_node("Greater", ["ids", "pos"], ["igt"], name="greater_int"),
        helper.make_node("Where", ["gt", "x", "zero"], ["y_gt"], name="where_gt"),
        helper.make_node("Where", ["lt", "x", "zero"], ["y_lt"], name="where_lt"),
        helper.make_node("Where", ["ge", "x", "zero"], ["y_ge"], name="where_ge"),
        helper.make_node("Cast", ["le"], ["y_le"], name="cast_le", to=TensorProto.FLOAT),
        helper.make_node("Cast", ["igt"], ["y_igt"], name="cast_gt", to=TensorProto.FLOAT),
    ], [_info("x", ["T", 4]), _info("b", [4]), _info("ids", [5], TensorProto.INT64),
        _info("pos", ["T", 1], TensorProto.INT64)],
        [_info("y_gt", ["T", 4]), _info("y_lt", ["T", 4]), _info("y_ge", ["T", 4]),
         _info("y_le", ["T", 5]), _info("y_igt", ["T", 5])],
        [_init("zero", np.array(0.0, np.float32))], opset=17),
    # torch's causal mask (ConstantOfShape of -inf, Trilu upper from k = 1)
    # and a lower triangle without k, on a run-time shape.
    "trilu": lambda p: _single(p, [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("ConstantOfShape", ["s"], ["fill"], name="fill",
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [-np.inf])),
        helper.make_node("Trilu", ["fill", "one"], ["mask"], name="causal"),
        helper.make_node("Add", ["x", "mask"], ["y"], name="add"),
        helper.make_node("Trilu", ["x"], ["z"], name="lower", upper=0),
    ], [_info("x", ["T", "T"])], [_info("y", ["T", "T"]), _info("z", ["T", "T"])],
        [_i64("one", 1)], opset=14),
    "clip_opset6": lambda p: _single(p, [
        helper.make_node("Clip", ["x"], ["y"], name="clip", min=-0.25, max=0.5),
    ], [_info("x", ["T", 4])], [_info("y", ["T", 4])], opset=6),
    "argmax_gather_elements": lambda p: _single(p, [
        helper.make_node("ArgMax", ["x"], ["top"], name="argmax", axis=1, keepdims=1),
        helper.make_node("GatherElements", ["x", "top"], ["best"], name="gather_elements", axis=1),
        helper.make_node("ArgMax", ["x"], ["last"], name="argmax_last", axis=1, keepdims=0,
                         select_last_index=1),
    ], [_info("x", ["T", 6])],
        [_info("top", ["T", 1], TensorProto.INT64), _info("best", ["T", 1]),
         _info("last", ["T"], TensorProto.INT64)]),
    "gather_scatter_nd": lambda p: _single(p, [
        helper.make_node("GatherND", ["x", "rows"], ["g"], name="gather_nd"),
        helper.make_node("ScatterND", ["x", "rows", "upd"], ["s"], name="scatter_nd", reduction="add"),
        helper.make_node("GatherND", ["x", "cells"], ["c"], name="gather_cells"),
    ], [_info("x", [4, 6]), _info("upd", [3, 6])],
        [_info("g", [3, 6]), _info("s", [4, 6]), _info("c", [2])],
        [_i64("rows", [[3], [0], [-1]]), _i64("cells", [[1, 2], [3, -1]])], opset=18),
    "einsum_gelu": lambda p: _single(p, [
        helper.make_node("Einsum", ["x", "w"], ["h"], name="einsum", equation="td,ed->te"),
        helper.make_node("Einsum", ["b", "v"], ["bv"], name="einsum_batched", equation="bij, bjk -> bik"),
        helper.make_node("Gelu", ["h"], ["y"], name="gelu"),
        helper.make_node("Gelu", ["h"], ["yt"], name="gelu_tanh", approximate="tanh"),
    ], [_info("x", ["T", 8]), _info("b", [2, 3, 4]), _info("v", [2, 4, 5])],
        [_info("y", ["T", 6]), _info("yt", ["T", 6]), _info("bv", [2, 3, 5])],
        [_init("w", _rng(9).standard_normal((6, 8)).astype(np.float32))], opset=20),
    "swish": lambda p: _single(p, [
        helper.make_node("Swish", ["x"], ["y"], name="swish"),
        helper.make_node("Swish", ["x"], ["y2"], name="swish_alpha", alpha=1.702),
    ], [_info("x", ["T", 6])], [_info("y", ["T", 6]), _info("y2", ["T", 6])], opset=24),
}
MODELS.update(SELECT_MODELS)


def main(argv):
    if len(argv) != 3 or argv[1] not in MODELS:
        sys.exit(f"usage: python -m onnx_models {{{','.join(MODELS)}}} PATH")
    MODELS[argv[1]](argv[2])


if __name__ == "__main__":
    main(sys.argv)
