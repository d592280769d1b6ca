"""The models the --target=cuda tests compile (test/Integration/CUDA):
ONNX Runtime's com.microsoft.MoE op (routing from given logits, biases,
SwiGLU) and real torch.onnx.export files (Mixtral: gating fused into the
routing; Qwen2-MoE: a shared expert and its gate; DeepSeek-V3: sigmoid
routing with groups; Mixtral inside a residual connection, whose add
becomes a CUDA call (moe_cuda_cc_binary_f32) so that the model runs
device-resident, and again behind an RMS norm (pow, mean, sqrt, div, mul:
CUDA calls too); a whole decoder layer (attention: projections, head
transposes, scaled scores, softmax; then the norm and the Mixtral block,
each behind a residual add), again with a causal mask, rotary position
embeddings and grouped-query attention (Mixtral's whole layer; again
with 2 of 4 heads' k/v and two sequences, and that with a KV cache as
inputs and outputs); two
layers in a
row (Mixtral, then Qwen2), whose intermediate stays on the device; and the other
exported forms moe-raise knows: ReLU experts, gate weights applied before
the down projection, a dense (soft) mixture, gpt-oss's clamped SwiGLU
with biases, stacked expert weights, Switch's top-1), each with a
function giving its inputs for T tokens."""

import os

import numpy as np

D = 16
MANY_EXPERTS = 520  # > MOE_CUDA_MAX_ROUTED_EXPERTS


def build(out, rng):
    """{name: (onnx path, feeds_for(tokens))} written under `out`."""
    # Imported here: the GPU machine uses the helpers below without torch's
    # exporter or onnx.
    import hf_moe_blocks as blocks
    from onnx_models import microsoft_moe

    models = {}
    path = os.path.join(out, "microsoft.onnx")
    microsoft_moe(path, 8, D, 12, activation="swiglu", k=2, fusion=1, biases=True,
                  seed=5)
    models["microsoft"] = (path, lambda t: {
        "x": rng.standard_normal((t, D)).astype(np.float32),
        "logits": rng.standard_normal((t, 8)).astype(np.float32)})
    # More experts than the CUDA routing kernel takes: routed on the host.
    path = os.path.join(out, "many.onnx")
    microsoft_moe(path, MANY_EXPERTS, D, 4, activation="relu", k=3, normalize=1, seed=6)
    models["many"] = (path, lambda t: {
        "x": rng.standard_normal((t, D)).astype(np.float32),
        "logits": rng.standard_normal((t, MANY_EXPERTS)).astype(np.float32)})
    for name, module in (
            ("mixtral", blocks.MixtralSparseMoeBlock(d=D, f=32, num_experts=4, top_k=2)),
            ("qwen2", blocks.Qwen2MoeSparseMoeBlock(d=D, f=16, num_experts=6, top_k=2,
                                                    shared_f=24)),
            ("deepseek", blocks.DeepseekV3MoE(d=D, f=8, num_experts=8, top_k=2,
                                              n_group=4, topk_group=2)),
            ("residual", blocks.Residual(
                blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2))),
            ("prenorm", blocks.PreNormResidual(
                blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2), d=D)),
            ("decoder", blocks.DecoderLayer(
                blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2), d=D, heads=2)),
            ("causal", blocks.DecoderLayer(
                blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2), d=D, heads=2,
                causal=True, rotary=True, kv_heads=1)),
            ("gqa", blocks.DecoderLayer(
                blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2), d=D, heads=4,
                causal=True, rotary=True, kv_heads=2)),
            ("two_layers", blocks.Stack(
                blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2),
                blocks.Qwen2MoeSparseMoeBlock(d=D, f=8, num_experts=6, top_k=2,
                                              shared_f=12))),
            ("relu", blocks.ReluMoeBlock(d=D, f=32, num_experts=5, top_k=3)),
            ("gatebefore", blocks.GateBeforeDownMoeBlock(d=D, f=16, num_experts=4, top_k=2)),
            ("soft", blocks.SoftMoeBlock(d=D, f=24, num_experts=3)),
            ("gptoss", blocks.GptOssMoeBlock(d=D, f=16, num_experts=4, top_k=2, limit=1.5)),
            ("stacked", blocks.StackedMoeBlock(d=D, f=24, num_experts=4, top_k=2)),
            ("switch", blocks.SwitchSparseMLP(d=D, f=32, num_experts=4))):
        path = os.path.join(out, name + ".onnx")
        blocks.export(module, path, d=D, seed=1)
        # gqa: two sequences (its kv heads grouped per sequence and head).
        batch = 2 if name == "gqa" else 1
        models[name] = (path, lambda t, batch=batch: {
            "x": rng.standard_normal((batch, t, D)).astype(np.float32)})
    # The gqa layer decoding with a KV cache (inputs x, past_k, past_v;
    # outputs y, present_k, present_v): T = 1 a decode step after 5 cached
    # tokens, 7 a prefill (an empty cache), 33 a continuation after 4.
    path = os.path.join(out, "cached.onnx")
    blocks.export_cached(blocks.DecoderLayer(
        blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2), d=D, heads=4,
        causal=True, rotary=True, kv_heads=2), path, d=D, seed=1)
    models["cached"] = (path, lambda t: {
        "x": rng.standard_normal((2, t, D)).astype(np.float32),
        "past_k": rng.standard_normal((2, 2, CACHED[t], D // 4)).astype(np.float32),
        "past_v": rng.standard_normal((2, 2, CACHED[t], D // 4)).astype(np.float32)})
    # The same with a padding mask (an input [2, 1, 1, total], added to the
    # scores after the causal mask): the first sequence left-padded by 2,
    # as batched generation pads the shorter prompt.
    path = os.path.join(out, "padded.onnx")
    blocks.export_cached(blocks.DecoderLayer(
        blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2), d=D, heads=4,
        causal=True, rotary=True, kv_heads=2), path, d=D, seed=1, padded=True)

    def padded_feeds(t):
        mask = np.zeros((2, 1, 1, CACHED[t] + t), np.float32)
        mask[0, ..., :2] = np.finfo(np.float32).min
        return {"x": rng.standard_normal((2, t, D)).astype(np.float32),
                "past_k": rng.standard_normal((2, 2, CACHED[t], D // 4)).astype(np.float32),
                "past_v": rng.standard_normal((2, 2, CACHED[t], D // 4)).astype(np.float32),
                "attention_mask": mask}
    models["padded"] = (path, padded_feeds)
    # The cached layer with transformers' rotary embedding at position_ids
    # given (an int64 input [2, t]; the second sequence one position
    # behind, as left padding shifts it).
    path = os.path.join(out, "positions.onnx")
    blocks.export_cached(blocks.DecoderLayer(
        blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2), d=D, heads=4,
        causal=True, rotary="hf", kv_heads=2), path, d=D, seed=1)

    def positions_feeds(t):
        start = CACHED[t]
        ids = np.stack([np.arange(start, start + t), np.maximum(np.arange(start - 1, start + t - 1), 0)])
        return {"x": rng.standard_normal((2, t, D)).astype(np.float32),
                "past_k": rng.standard_normal((2, 2, start, D // 4)).astype(np.float32),
                "past_v": rng.standard_normal((2, 2, start, D // 4)).astype(np.float32),
                "position_ids": ids.astype(np.int64)}
    models["positions"] = (path, positions_feeds)
    # Qwen3's attention: each q and k head RMS-normed before the rotary
    # embedding (its weight the heads' width, fixed by view(b, t, -1, d)).
    path = os.path.join(out, "qwen3.onnx")
    blocks.export_cached(blocks.DecoderLayer(
        blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2), d=D, heads=4,
        causal=True, rotary="hf", kv_heads=2, qk_norm=True), path, d=D, seed=1)
    models["qwen3"] = (path, positions_feeds)
    # A layer with transformers' own inputs: a 2-D int64 attention_mask
    # (the second sequence left-padded by 2) turned into the additive
    # causal mask in the graph, and position_ids counting its tokens.
    path = os.path.join(out, "transformers.onnx")
    blocks.export_cached(blocks.DecoderLayer(
        blocks.MixtralSparseMoeBlock(d=D, f=16, num_experts=4, top_k=2), d=D, heads=4,
        rotary="hf", kv_heads=2), path, d=D, seed=1, padded="2d")

    def transformers_feeds(t):
        start = CACHED[t]
        mask = np.ones((2, start + t), np.int64)
        mask[1, :2] = 0
        ids = np.maximum(np.cumsum(mask, axis=1) - 1, 0)[:, start:]
        return {"x": rng.standard_normal((2, t, D)).astype(np.float32),
                "past_k": rng.standard_normal((2, 2, start, D // 4)).astype(np.float32),
                "past_v": rng.standard_normal((2, 2, start, D // 4)).astype(np.float32),
                "attention_mask": mask, "position_ids": ids.astype(np.int64)}
    models["transformers"] = (path, transformers_feeds)
    return models


# The cached tokens before T new ones in the "cached" model's feeds.
CACHED = {1: 5, 7: 0, 33: 4}


def weight_types(name):
    """f32 and bf16 for the main models, f16 on the two call shapes (the
    experts call after a given routing, the whole-layer call); the other
    forms f32 (their layer call is Mixtral's; gpt-oss's clamped SwiGLU
    with biases in bf16 too), the residual model f32 (it checks the add
    on the device): to keep the compile time of the tests down."""
    if name == "decoder":  # bf16 too: the projections' cuBLAS bf16 GEMMs
        return ("f32", "bf16")
    if name in ("residual", "prenorm", "causal", "gqa", "cached", "padded", "positions",
                "qwen3", "transformers", "many",
                "two_layers", "relu", "gatebefore", "soft", "stacked", "switch"):
        return ("f32",)
    if name == "gptoss":
        return ("f32", "bf16")
    return ("f32", "bf16") + (("f16",) if name in ("microsoft", "mixtral") else ())


def device_resident(name):
    """Whether moe_model_run_device runs the model on the caller's device
    buffers with no copy through the host (moe-mark-device-io): all but the
    many-experts one, routed on the host (its x copied there), and the one
    whose causal mask is built on the host from transformers' 2-D
    attention_mask (Greater, Equal, ScatterND: host ops)."""
    return name not in ("many", "transformers")


def error_and_cosine(actual, expected):
    """Max error relative to the output's magnitude, and the cosine."""
    scale = max(1.0, float(np.abs(expected).max()))
    error = float(np.abs(actual - expected).max()) / scale
    cosine = float(np.dot(actual.ravel(), expected.ravel()) /
                   (np.linalg.norm(actual) * np.linalg.norm(expected) + 1e-30))
    return error, cosine


def tolerance(weights):
    """f32: 1e-3 of the output's magnitude; bf16 and f16: 2e-2 (and a cosine
    above 0.999 for all)."""
    return 1e-3 if weights == "f32" else 2e-2
