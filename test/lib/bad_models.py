"""Malformed and unsupported ONNX models for the importer's error tests.

`python -m bad_models DIR` writes every case to DIR/<name>.onnx (plus the
side files external-data cases need). Each must make moe-translate fail
with a clear message, a non-zero exit and no output file."""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import onnx_models


def _graph(nodes, inputs, outputs, inits=(), opset=17, extra=()):
    graph = helper.make_graph(nodes, "bad", inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model


def _relu_model(init=None, x_shape=("T", 4)):
    """Relu(x) + w, with `init` as the initializer w."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "w"], ["y"], name="add")]
    init = init if init is not None else numpy_helper.from_array(np.ones(4, np.float32), "w")
    return _graph(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x_shape))], [init])


def _external(location, offset=None, length=None, dims=(4,)):
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=list(dims))
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
    return tensor


def write_all(out):
    os.makedirs(out, exist_ok=True)
    good = _relu_model().SerializeToString()
    cases = {}

    def save(name, model):
        path = os.path.join(out, name + ".onnx")
        data = model if isinstance(model, bytes) else model.SerializeToString()
        with open(path, "wb") as f:
            f.write(data)

    save("truncated", good[: len(good) // 2])
    save("not_onnx", b"this is not a protobuf at all \xff\xfe")
    raw = numpy_helper.from_array(np.ones(4, np.float32), "w")
    raw.raw_data = raw.raw_data[:12]
    save("raw_data_short", _relu_model(raw))
    neg = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[-4])
    save("negative_dim", _relu_model(neg))
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 40, 1 << 40])
    save("overflowing_dims", _relu_model(huge))
    typed = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], float_data=[1.0, 2.0])
    save("float_data_short", _relu_model(typed))
    save("unsupported_dtype", _relu_model(TensorProto(name="w", data_type=TensorProto.STRING, dims=[1])))

    # External data: a 16-byte side file inside the model's directory.
    with open(os.path.join(out, "weights.bin"), "wb") as f:
        f.write(np.ones(4, np.float32).tobytes())
    save("external_ok", _relu_model(_external("weights.bin")))
    save("external_parent", _relu_model(_external("../weights.bin")))
    save("external_absolute", _relu_model(_external("/etc/passwd")))
    save("external_missing", _relu_model(_external("nope.bin")))
    save("external_offset", _relu_model(_external("weights.bin", offset=64)))
    save("external_length", _relu_model(_external("weights.bin", offset=8, length=16)))
    outside = os.path.join(os.path.dirname(os.path.abspath(out)), "outside.bin")
    with open(outside, "wb") as f:
        f.write(np.ones(4, np.float32).tobytes())
    link = os.path.join(out, "escape.bin")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(outside, link)
    save("external_symlink", _relu_model(_external("escape.bin")))
    hard = os.path.join(out, "hardlink.bin")
    if os.path.lexists(hard):
        os.remove(hard)
    os.link(outside, hard)
    save("external_hardlink", _relu_model(_external("hardlink.bin")))
    save("external_negative_offset", _relu_model(_external("weights.bin", offset=-8)))
    long_raw = numpy_helper.from_array(np.ones(4, np.float32), "w")
    long_raw.raw_data = long_raw.raw_data + b"\0" * 8
    save("raw_data_long", _relu_model(long_raw))

    # Graph structure.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", 4])
    save("dangling_input", _graph([helper.make_node("Add", ["x", "ghost"], ["y"], name="add")], [x], [y]))
    save("cycle", _graph([helper.make_node("Relu", ["b"], ["a"], name="first"),
                          helper.make_node("Relu", ["a"], ["b"], name="second"),
                          helper.make_node("Relu", ["b"], ["y"], name="out")], [x], [y]))
    save("duplicate_output", _graph([helper.make_node("Relu", ["x"], ["y"], name="one"),
                                     helper.make_node("Relu", ["x"], ["y"], name="two")], [x], [y]))
    save("missing_output", _graph([helper.make_node("Relu", ["x"], ["r"], name="relu")], [x], [y]))
    save("unsupported_op", _graph([helper.make_node("LpPool", ["x"], ["y"], name="pool")], [x], [y]))
    save("unsupported_opset", _graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], [x], [y], opset=99))
    save("unknown_domain", _graph([helper.make_node("Relu", ["x"], ["y"], name="relu", domain="org.example")],
                                  [x], [y]))
    no_graph = onnx.ModelProto(ir_version=8)
    no_graph.opset_import.add(domain="", version=17)
    save("no_graph", no_graph)
    model = _graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], [x], [y])
    del model.opset_import[:]
    model.opset_import.add(domain="com.microsoft", version=1)
    save("no_default_opset", model)
    save("duplicate_input", _graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], [x, x], [y]))
    save("no_node_input", _graph([helper.make_node("Concat", [], ["y"], name="concat", axis=0)], [x], [y]))
    save("no_input_shape", _graph([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)], [y]))

    # Node-level problems.
    v3 = helper.make_tensor_value_info("v", TensorProto.FLOAT, ["T", 3])
    save("shape_mismatch", _graph([helper.make_node("Add", ["x", "v"], ["y"], name="add")], [x, v3], [y]))
    xi = helper.make_tensor_value_info("i", TensorProto.INT64, ["T", 4])
    save("dtype_mismatch", _graph([helper.make_node("Add", ["x", "i"], ["y"], name="add")], [x, xi], [y]))
    save("bad_attribute", _graph([helper.make_node("Softmax", ["x"], ["y"], name="softmax", axis=5)], [x], [y]))
    save("reshape_allowzero", _graph([helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape", allowzero=1)],
                                     [x], [y], [numpy_helper.from_array(np.array([0, 4], np.int64), "s")]))
    big = helper.make_tensor_value_info("big", TensorProto.FLOAT, [1 << 32, 1 << 32])
    save("flatten_overflow", _graph([helper.make_node("Flatten", ["big"], ["y"], name="flatten", axis=0)],
                                    [big], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None])]))
    save("topk_k_too_large", _graph([helper.make_node("TopK", ["x", "k"], ["y", "idx"], name="topk", axis=1)],
                                    [x], [y, helper.make_tensor_value_info("idx", TensorProto.INT64, ["T", 9])],
                                    [numpy_helper.from_array(np.array([9], np.int64), "k")]))
    scalar = lambda name, value: numpy_helper.from_array(np.array(value, np.int64), name)
    save("range_zero_delta", _graph([helper.make_node("Range", ["a", "b", "c"], ["r"], name="range")],
                                    [x], [helper.make_tensor_value_info("r", TensorProto.INT64, ["N"])],
                                    [scalar("a", 0), scalar("b", 4), scalar("c", 0)]))
    save("range_mixed", _graph([helper.make_node("Range", ["a", "b", "c"], ["r"], name="range")],
                               [x], [helper.make_tensor_value_info("r", TensorProto.INT64, ["N"])],
                               [scalar("a", 0), scalar("b", [4]), scalar("c", 1)]))
    save("trilu_two_ks", _graph([helper.make_node("Trilu", ["x", "k"], ["y"], name="trilu")],
                                [x], [y], [numpy_helper.from_array(np.array([1, 2], np.int64), "k")]))
    save("trilu_vector", _graph([helper.make_node("Trilu", ["v"], ["w"], name="trilu")],
                                [helper.make_tensor_value_info("v", TensorProto.FLOAT, [4])],
                                [helper.make_tensor_value_info("w", TensorProto.FLOAT, [4])]))
    save("gather_constant_out_of_range",
         _graph([helper.make_node("Gather", ["x", "idx"], ["y"], name="gather", axis=1)], [x], [y],
                [numpy_helper.from_array(np.array([0, 1, 2, 7], np.int64), "idx")]))
    u8 = [helper.make_tensor_value_info(n, TensorProto.UINT8, [4]) for n in ("a", "b")]
    save("compare_uint8", _graph([helper.make_node("Greater", ["a", "b"], ["c"], name="greater")],
                                 u8, [helper.make_tensor_value_info("c", TensorProto.BOOL, [4])]))
    shape_in = helper.make_tensor_value_info("s", TensorProto.INT64, ["R"])
    save("reshape_dynamic_shape", _graph([helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")],
                                         [x, shape_in], [y]))
    onnx_models.microsoft_moe(os.path.join(out, "moe_k_too_large.onnx"), 4, 8, 6, k=5)
    model = onnx.load(os.path.join(out, "moe_k_too_large.onnx"))
    model.graph.node[0].attribute.append(helper.make_attribute("use_sparse_mixer", 1))
    for attr in model.graph.node[0].attribute:
        if attr.name == "k":
            attr.i = 2
    save("moe_sparse_mixer", model)
    onnx_models.microsoft_moe(os.path.join(out, "moe_bad_activation.onnx"), 4, 8, 6, activation="relu2")
    onnx_models.microsoft_qmoe(os.path.join(out, "qmoe_fp4.onnx"), 4, 8, 6)
    model = onnx.load(os.path.join(out, "qmoe_fp4.onnx"))
    model.graph.node[0].attribute.append(helper.make_attribute("quant_type", "fp4"))
    save("qmoe_fp4", model)
    onnx_models.microsoft_qmoe(os.path.join(out, "qmoe_2bit.onnx"), 4, 8, 6)
    model = onnx.load(os.path.join(out, "qmoe_2bit.onnx"))
    for attr in model.graph.node[0].attribute:
        if attr.name == "expert_weight_bits":
            attr.i = 2
    save("qmoe_2bit", model)
    # Weights fed at run time cannot be dequantized at import.
    onnx_models.microsoft_qmoe(os.path.join(out, "qmoe_runtime_weights.onnx"), 4, 8, 6)
    model = onnx.load(os.path.join(out, "qmoe_runtime_weights.onnx"))
    fc1 = [t for t in model.graph.initializer if t.name == "fc1"][0]
    model.graph.input.append(helper.make_tensor_value_info("fc1", TensorProto.UINT8, list(fc1.dims)))
    model.graph.initializer.remove(fc1)
    save("qmoe_runtime_weights", model)


if __name__ == "__main__":
    write_all(sys.argv[1])
