# moe-raise on real exports of MoE blocks written as in Hugging Face
# transformers (and a dense mixture) (torch.onnx.export, opset 17, dynamic
# batch and sequence, and the same files converted to opset 18 by
# onnx.version_converter: Debian's torch 1.13 exports up to opset 17):
# each becomes one moe.layer with no per-expert loop left, and the raised
# IR, lowered by the reference path, still matches onnxruntime on the
# original file at 1 to 33 tokens.
#   mixtral: softmax -> top-2 -> renormalize, SwiGLU experts;
#   qwen2:   top-2 without renormalization, SwiGLU experts, and a shared
#            expert scaled by sigmoid(shared_expert_gate);
#   relu:    top-3 renormalized, plain ReLU experts;
#   predown: the Mixtral block with the routing weight applied before the
#            down projection, w2((silu(w1 x) * w3 x) * g);
#   soft:    a dense mixture, every expert weighted by the softmax;
#   gptoss:  gpt-oss's MLPBlock: router with bias, top-k of the logits then
#            softmax, stacked [E, out, in] weights gathered by the chosen ids
#            and applied with Einsum, biases, clamped SwiGLU over
#            interleaved gate/up columns;
#   stacked: stacked [E, d, f] weights gathered by the chosen ids and
#            applied with batched MatMul, SwiGLU, renormalized top-2;
#   switch:  Switch Transformers' top-1: argmax of the softmax, ReLU
#            experts overwriting their tokens' rows of a copy of the input,
#            scaled by the top probability;
#   mixtral_swish: the Mixtral export at opset 24 with each x * sigmoid(x)
#            replaced by one Swish op (what an exporter may write for SiLU);
#   deepseek: DeepSeek-V3: sigmoid scores + correction bias, top-2 within
#            the 2 best of 4 groups (others masked with 0.0), renormalized
#            with 1e-20, scaled by 2.5, and two shared experts added on the
#            unflattened input.
# REQUIRES: torch
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t > %t/out.txt
# RUN: FileCheck %s --check-prefix=MIXTRAL < %t/mixtral.mlir
# RUN: FileCheck %s --check-prefix=QWEN2 < %t/qwen2.mlir
# RUN: FileCheck %s --check-prefix=RELU < %t/relu.mlir
# RUN: FileCheck %s --check-prefix=PREDOWN < %t/predown.mlir
# RUN: FileCheck %s --check-prefix=SOFT < %t/soft.mlir
# RUN: FileCheck %s --check-prefix=GPTOSS < %t/gptoss.mlir
# RUN: FileCheck %s --check-prefix=STACKED < %t/stacked.mlir
# RUN: FileCheck %s --check-prefix=SWITCH < %t/switch.mlir
# RUN: FileCheck %s --check-prefix=DEEPSEEK < %t/deepseek.mlir
# RUN: FileCheck %s --check-prefix=MIXTRAL < %t/mixtral_18.mlir
# RUN: FileCheck %s --check-prefix=QWEN2 < %t/qwen2_18.mlir
# RUN: FileCheck %s --check-prefix=RELU < %t/relu_18.mlir
# RUN: FileCheck %s --check-prefix=PREDOWN < %t/predown_18.mlir
# RUN: FileCheck %s --check-prefix=SOFT < %t/soft_18.mlir
# RUN: FileCheck %s --check-prefix=GPTOSS < %t/gptoss_18.mlir
# RUN: FileCheck %s --check-prefix=STACKED < %t/stacked_18.mlir
# RUN: FileCheck %s --check-prefix=SWITCH < %t/switch_18.mlir
# RUN: FileCheck %s --check-prefix=DEEPSEEK < %t/deepseek_18.mlir
# RUN: FileCheck %s --check-prefix=MIXTRAL < %t/mixtral_swish.mlir
# RUN: FileCheck %s --check-prefix=NUM < %t/out.txt
# MIXTRAL: moe.layer %{{.*}} router %{{.*}} : tensor<16x4xf32> w1 %{{.*}} : tensor<4x16x32xf32> w3 %{{.*}} : tensor<4x16x32xf32> w2 %{{.*}} : tensor<4x32x16xf32>
# MIXTRAL-SAME: routing <softmax_topk, k = 2, renormalize = true> activation <swiglu>
# MIXTRAL-NOT: onnx.scatter_elements
# MIXTRAL-NOT: onnx.nonzero
# MIXTRAL-NOT: onnx.topk
# QWEN2: moe.layer %{{.*}} w1 %{{.*}} : tensor<6x16x16xf32> w3 %{{.*}} : tensor<6x16x16xf32> w2 %{{.*}} : tensor<6x16x16xf32>
# QWEN2-SAME: shared_w1 %{{.*}} : tensor<16x24xf32> shared_w3 %{{.*}} : tensor<16x24xf32> shared_w2 %{{.*}} : tensor<24x16xf32> shared_gate %{{.*}} : tensor<16x1xf32>
# QWEN2-SAME: routing <softmax_topk, k = 2> activation <swiglu>
# QWEN2-NOT: onnx.matmul
# QWEN2-NOT: onnx.sigmoid
# RELU: moe.layer %{{.*}} w1 %{{.*}} : tensor<5x16x32xf32> w2 %{{.*}} : tensor<5x32x16xf32>
# RELU-SAME: routing <softmax_topk, k = 3, renormalize = true> activation <relu>
# RELU-NOT: onnx.scatter_elements
# PREDOWN: moe.layer %{{.*}} w1 %{{.*}} : tensor<4x16x32xf32> w3 %{{.*}} : tensor<4x16x32xf32> w2 %{{.*}} : tensor<4x32x16xf32>
# PREDOWN-SAME: routing <softmax_topk, k = 2, renormalize = true> activation <swiglu>
# PREDOWN-NOT: onnx.scatter_elements
# SOFT: moe.layer %{{.*}} w1 %{{.*}} : tensor<3x16x24xf32> w3 %{{.*}} : tensor<3x16x24xf32> w2 %{{.*}} : tensor<3x24x16xf32>
# SOFT-SAME: routing <dense, k = 3> activation <swiglu>
# SOFT-NOT: onnx.slice
# GPTOSS: moe.layer %{{.*}} router %{{.*}} : tensor<16x4xf32> router_bias %{{.*}} : tensor<4xf32> w1 %{{.*}} : tensor<4x16x16xf32> w3 %{{.*}} : tensor<4x16x16xf32> w2 %{{.*}} : tensor<4x16x16xf32> b1 %{{.*}} : tensor<4x16xf32> b3 %{{.*}} : tensor<4x16xf32> b2 %{{.*}} : tensor<4x16xf32>
# GPTOSS-SAME: routing <topk_softmax, k = 2> activation <clamped_swiglu, limit = 1.5>
# GPTOSS-NOT: onnx.einsum
# GPTOSS-NOT: onnx.topk
# STACKED: moe.layer %{{.*}} w1 %{{.*}} : tensor<4x16x24xf32> w3 %{{.*}} : tensor<4x16x24xf32> w2 %{{.*}} : tensor<4x24x16xf32>
# STACKED-SAME: routing <softmax_topk, k = 2, renormalize = true> activation <swiglu>
# STACKED-NOT: onnx.matmul
# SWITCH: moe.layer %{{.*}} router %{{.*}} : tensor<16x4xf32> w1 %{{.*}} : tensor<4x16x32xf32> w2 %{{.*}} : tensor<4x32x16xf32>
# SWITCH-SAME: routing <softmax_topk, k = 1> activation <relu>
# SWITCH-NOT: onnx.argmax
# SWITCH-NOT: onnx.scatter_elements
# SWITCH-NOT: onnx.matmul
# DEEPSEEK: moe.layer %{{.*}} router %{{.*}} : tensor<16x8xf32> correction_bias %{{.*}} : tensor<8xf32> w1 %{{.*}} : tensor<8x16x8xf32> w3 %{{.*}} : tensor<8x16x8xf32> w2 %{{.*}} : tensor<8x8x16xf32>
# DEEPSEEK-SAME: shared_w1 %{{.*}} : tensor<16x16xf32> shared_w3 %{{.*}} : tensor<16x16xf32> shared_w2 %{{.*}} : tensor<16x16xf32>
# DEEPSEEK-SAME: routing <sigmoid_topk, k = 2, renormalize = true, scale = 2.5, n_group = 4, topk_group = 2, group_mask = zero> activation <swiglu>
# DEEPSEEK-NOT: onnx.topk
# DEEPSEEK-NOT: onnx.matmul
# DEEPSEEK-NOT: onnx.add
# NUM: OK: mixtral #0 y
# NUM: OK: mixtral #2 y
# NUM: OK: mixtral_18 #0 y
# NUM: OK: mixtral_18 #2 y
# NUM: OK: mixtral_swish #0 y
# NUM: OK: mixtral_swish #2 y
# NUM: OK: qwen2 #0 y
# NUM: OK: qwen2 #2 y
# NUM: OK: qwen2_18 #0 y
# NUM: OK: qwen2_18 #2 y
# NUM: OK: relu #0 y
# NUM: OK: relu #2 y
# NUM: OK: relu_18 #0 y
# NUM: OK: relu_18 #2 y
# NUM: OK: predown #0 y
# NUM: OK: predown #2 y
# NUM: OK: predown_18 #0 y
# NUM: OK: predown_18 #2 y
# NUM: OK: soft #0 y
# NUM: OK: soft #2 y
# NUM: OK: soft_18 #0 y
# NUM: OK: soft_18 #2 y
# NUM: OK: gptoss #0 y
# NUM: OK: gptoss #2 y
# NUM: OK: gptoss_18 #0 y
# NUM: OK: gptoss_18 #2 y
# NUM: OK: stacked #0 y
# NUM: OK: stacked #2 y
# NUM: OK: stacked_18 #0 y
# NUM: OK: stacked_18 #2 y
# NUM: OK: switch #0 y
# NUM: OK: switch #2 y
# NUM: OK: switch_18 #0 y
# NUM: OK: switch_18 #2 y
# NUM: OK: deepseek #0 y
# NUM: OK: deepseek #2 y
# NUM: OK: deepseek_18 #0 y
# NUM: OK: deepseek_18 #2 y

import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
from onnx import version_converter

warnings.filterwarnings("ignore")

import hf_moe_blocks as blocks  # noqa: E402
from onnx_harness import compare_with_onnxruntime, import_model  # noqa: E402

out = sys.argv[1]
models = blocks.test_blocks()


def silu_as_swish(model):
    """The model at opset 24 with every Mul(x, Sigmoid(x)) as Swish(x)."""
    model = version_converter.convert_version(model, 24)
    nodes = list(model.graph.node)
    sigmoid_of = {n.output[0]: n for n in nodes if n.op_type == "Sigmoid"}
    dead = set()
    for node in nodes:
        if node.op_type != "Mul":
            continue
        for x, s in ((node.input[0], node.input[1]), (node.input[1], node.input[0])):
            if s in sigmoid_of and sigmoid_of[s].input[0] == x:
                swish = onnx.helper.make_node("Swish", [x], list(node.output),
                                              name=node.name + "_swish")
                node.CopyFrom(swish)
                dead.add(s)
                break
    users = {i for n in nodes for i in n.input}
    kept = [n for n in nodes if not (n.op_type == "Sigmoid" and n.output[0] in dead
                                     and n.output[0] not in users)]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model


rng = np.random.default_rng(2)
for name, module in models.items():
    path = os.path.join(out, name + ".onnx")
    blocks.export(module, path, d=16, seed=1)
    # The opset-18 form of the same export: Reduce* axes as inputs, Split
    # with num_outputs.
    path18 = os.path.join(out, name + "_18.onnx")
    onnx.save(version_converter.convert_version(onnx.load(path), 18), path18)
    variants = [(name, path), (name + "_18", path18)]
    if name == "mixtral":
        swish = os.path.join(out, "mixtral_swish.onnx")
        onnx.save(silu_as_swish(onnx.load(path)), swish)
        variants.append(("mixtral_swish", swish))
    for tag, model_path in variants:
        raised = subprocess.run(["moe-opt", "--moe-raise"],
                                input=import_model(model_path),
                                capture_output=True, text=True, check=True).stdout
        with open(os.path.join(out, tag + ".mlir"), "w") as f:
            f.write(raised)
        compare_with_onnxruntime(
            tag, model_path,
            [{"x": rng.standard_normal(s).astype(np.float32)}
             for s in [(1, 1, 16), (1, 7, 16), (3, 11, 16)]],
            passes=["moe-raise"], rtol=1e-4, atol=1e-5)
