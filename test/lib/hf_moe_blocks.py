"""PyTorch MoE blocks written the way Hugging Face model code writes them,
for exporting real ONNX graphs with torch.onnx.export (Debian's
python3-torch 1.13, TorchScript exporter).

Each block keeps the HF forward pass (router Linear, softmax, topk,
one_hot mask, per-expert loop with torch.where and index_add_), so the
exported graph is what users get from those models."""

import torch
import torch.nn as nn
import torch.nn.functional as F


def expert_loop(hidden_states, routing_weights, selected_experts, experts, num_experts):
    """The per-expert dispatch loop of Mixtral-family forwards in
    transformers: one-hot mask, torch.where, index_add_."""
    hidden_dim = hidden_states.shape[-1]
    final_hidden_states = torch.zeros_like(hidden_states)
    expert_mask = F.one_hot(selected_experts, num_classes=num_experts).permute(2, 1, 0)
    for expert_idx in range(num_experts):
        expert_layer = experts[expert_idx]
        idx, top_x = torch.where(expert_mask[expert_idx])
        current_state = hidden_states[None, top_x].reshape(-1, hidden_dim)
        current_hidden_states = expert_layer(current_state) * routing_weights[top_x, idx, None]
        final_hidden_states.index_add_(0, top_x, current_hidden_states.to(hidden_states.dtype))
    return final_hidden_states


class SwiGLUExpert(nn.Module):
    """Mixtral's MixtralBlockSparseTop2MLP: w2(silu(w1 x) * w3 x)."""

    def __init__(self, d, f):
        super().__init__()
        self.w1 = nn.Linear(d, f, bias=False)
        self.w2 = nn.Linear(f, d, bias=False)
        self.w3 = nn.Linear(d, f, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class MixtralSparseMoeBlock(nn.Module):
    """MixtralSparseMoeBlock.forward from transformers, minus jitter."""

    def __init__(self, d=16, f=32, num_experts=4, top_k=2):
        super().__init__()
        self.hidden_dim, self.num_experts, self.top_k = d, num_experts, top_k
        self.gate = nn.Linear(d, num_experts, bias=False)
        self.experts = nn.ModuleList(SwiGLUExpert(d, f) for _ in range(num_experts))

    def forward(self, hidden_states):
        batch_size, sequence_length, hidden_dim = hidden_states.shape
        hidden_states = hidden_states.view(-1, hidden_dim)
        router_logits = self.gate(hidden_states)
        routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
        routing_weights, selected_experts = torch.topk(routing_weights, self.top_k, dim=-1)
        routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        routing_weights = routing_weights.to(hidden_states.dtype)
        final_hidden_states = expert_loop(hidden_states, routing_weights, selected_experts,
                                          self.experts, self.num_experts)
        return final_hidden_states.reshape(batch_size, sequence_length, hidden_dim)


class Qwen2MoeSparseMoeBlock(nn.Module):
    """Qwen2MoeSparseMoeBlock.forward: top-k without renormalization, plus a
    shared SwiGLU expert scaled per token by sigmoid(shared_expert_gate)."""

    def __init__(self, d=16, f=16, num_experts=6, top_k=2, shared_f=24,
                 norm_topk_prob=False):
        super().__init__()
        self.num_experts, self.top_k, self.norm_topk_prob = num_experts, top_k, norm_topk_prob
        self.gate = nn.Linear(d, num_experts, bias=False)
        self.experts = nn.ModuleList(SwiGLUExpert(d, f) for _ in range(num_experts))
        self.shared_expert = SwiGLUExpert(d, shared_f)
        self.shared_expert_gate = nn.Linear(d, 1, bias=False)

    def forward(self, hidden_states):
        batch_size, sequence_length, hidden_dim = hidden_states.shape
        hidden_states = hidden_states.view(-1, hidden_dim)
        router_logits = self.gate(hidden_states)
        routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
        routing_weights, selected_experts = torch.topk(routing_weights, self.top_k, dim=-1)
        if self.norm_topk_prob:
            routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        routing_weights = routing_weights.to(hidden_states.dtype)
        final_hidden_states = expert_loop(hidden_states, routing_weights, selected_experts,
                                          self.experts, self.num_experts)
        shared_expert_output = self.shared_expert(hidden_states)
        shared_expert_output = F.sigmoid(self.shared_expert_gate(hidden_states)) * shared_expert_output
        final_hidden_states = final_hidden_states + shared_expert_output
        return final_hidden_states.reshape(batch_size, sequence_length, hidden_dim)


class ReluExpert(nn.Module):
    """A plain FFN: fc2(relu(fc1 x))."""

    def __init__(self, d, f):
        super().__init__()
        self.fc1 = nn.Linear(d, f, bias=False)
        self.fc2 = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class ReluMoeBlock(MixtralSparseMoeBlock):
    """The Mixtral loop with plain ReLU experts and top-3 routing."""

    def __init__(self, d=16, f=32, num_experts=5, top_k=3):
        super().__init__(d, f, num_experts, top_k)
        self.experts = nn.ModuleList(ReluExpert(d, f) for _ in range(num_experts))


class GateBeforeDownMoeBlock(MixtralSparseMoeBlock):
    """The Mixtral block with each token's routing weight applied to the
    expert's hidden layer before the down projection, as fused MoE kernels
    order it: w2((silu(w1 x) * w3 x) * g)."""

    def forward(self, hidden_states):
        batch_size, sequence_length, hidden_dim = hidden_states.shape
        hidden_states = hidden_states.view(-1, hidden_dim)
        routing_weights = F.softmax(self.gate(hidden_states), dim=1, dtype=torch.float)
        routing_weights, selected_experts = torch.topk(routing_weights, self.top_k, dim=-1)
        routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        final_hidden_states = torch.zeros_like(hidden_states)
        expert_mask = F.one_hot(selected_experts, num_classes=self.num_experts).permute(2, 1, 0)
        for expert_idx in range(self.num_experts):
            expert = self.experts[expert_idx]
            idx, top_x = torch.where(expert_mask[expert_idx])
            x = hidden_states[top_x]
            gate = routing_weights[top_x, idx, None]
            y = expert.w2(F.silu(expert.w1(x)) * expert.w3(x) * gate)
            final_hidden_states.index_add_(0, top_x, y)
        return final_hidden_states.reshape(batch_size, sequence_length, hidden_dim)


class SoftMoeBlock(nn.Module):
    """A dense (soft) mixture: every expert on every token, summed with the
    softmax of the router logits."""

    def __init__(self, d=16, f=24, num_experts=3):
        super().__init__()
        self.gate = nn.Linear(d, num_experts, bias=False)
        self.experts = nn.ModuleList(SwiGLUExpert(d, f) for _ in range(num_experts))

    def forward(self, x):
        batch_size, sequence_length, d = x.shape
        h = x.view(-1, d)
        probs = F.softmax(self.gate(h), dim=-1)
        out = torch.zeros_like(h)
        for e, expert in enumerate(self.experts):
            out = out + probs[:, e:e + 1] * expert(h)
        return out.view(batch_size, sequence_length, d)


def gpt_oss_swiglu(x, alpha=1.702, limit=7.0):
    """gpt-oss's clamped SwiGLU over interleaved gate/up columns."""
    x_glu, x_linear = x[..., ::2], x[..., 1::2]
    x_glu = x_glu.clamp(min=None, max=limit)
    x_linear = x_linear.clamp(min=-limit, max=limit)
    out_glu = x_glu * torch.sigmoid(alpha * x_glu)
    return out_glu * (x_linear + 1)


class GptOssMoeBlock(nn.Module):
    """gpt-oss's MLPBlock (reference implementation), without its norm and
    residual: a router with bias, top-k of the logits then softmax, expert
    weights stacked [E, out, in] and gathered by the chosen ids, biases on
    every projection, the clamped SwiGLU."""

    def __init__(self, d=16, f=16, num_experts=4, top_k=2, limit=7.0):
        super().__init__()
        self.top_k, self.limit = top_k, limit
        self.gate = nn.Linear(d, num_experts)
        self.mlp1_weight = nn.Parameter(torch.empty(num_experts, 2 * f, d))
        self.mlp1_bias = nn.Parameter(torch.empty(num_experts, 2 * f))
        self.mlp2_weight = nn.Parameter(torch.empty(num_experts, d, f))
        self.mlp2_bias = nn.Parameter(torch.empty(num_experts, d))

    def forward(self, x):
        batch_size, sequence_length, d = x.shape
        t = x.view(-1, d)
        g = self.gate(t)
        experts = torch.topk(g, k=self.top_k, dim=-1, sorted=True)
        expert_weights = F.softmax(experts.values, dim=1)
        expert_indices = experts.indices
        mlp1_weight = self.mlp1_weight[expert_indices, ...]
        mlp1_bias = self.mlp1_bias[expert_indices, ...]
        h = torch.einsum("beck,bk->bec", mlp1_weight, t) + mlp1_bias
        h = gpt_oss_swiglu(h, limit=self.limit)
        mlp2_weight = self.mlp2_weight[expert_indices, ...]
        mlp2_bias = self.mlp2_bias[expert_indices, ...]
        h = torch.einsum("beck,bek->bec", mlp2_weight, h) + mlp2_bias
        h = torch.einsum("bec,be->bc", h, expert_weights)
        return h.view(batch_size, sequence_length, d)


class StackedMoeBlock(nn.Module):
    """Expert weights kept stacked [E, d, f] (no per-expert modules),
    gathered by the chosen ids and applied with batched MatMul, as compact
    MoE implementations write it: softmax -> top-k -> renormalize, SwiGLU,
    the k outputs summed with their weights."""

    def __init__(self, d=16, f=24, num_experts=4, top_k=2):
        super().__init__()
        self.top_k = top_k
        self.gate = nn.Linear(d, num_experts, bias=False)
        self.w1 = nn.Parameter(torch.empty(num_experts, d, f))
        self.w3 = nn.Parameter(torch.empty(num_experts, d, f))
        self.w2 = nn.Parameter(torch.empty(num_experts, f, d))

    def forward(self, x):
        batch_size, sequence_length, d = x.shape
        t = x.view(-1, d)
        probs = F.softmax(self.gate(t), dim=-1)
        weights, ids = torch.topk(probs, self.top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        xs = t[:, None, None, :]
        h = F.silu(torch.matmul(xs, self.w1[ids])) * torch.matmul(xs, self.w3[ids])
        y = torch.matmul(h, self.w2[ids]).squeeze(2)
        out = (y * weights.unsqueeze(-1)).sum(dim=1)
        return out.view(batch_size, sequence_length, d)


class DeepseekV3MoE(nn.Module):
    """DeepseekV3MoE.forward from transformers: sigmoid scores, a correction
    bias that only steers the choice, top-k within the topk_group best of
    n_group groups (the other groups' experts masked with 0.0), the chosen
    sigmoid scores renormalized (+ 1e-20) and scaled by
    routed_scaling_factor, the experts' loop over a [T, k] mask, and the
    shared experts added on the unflattened input. The loop leaves out
    `if token_indices.numel() > 0`: tracing would freeze that branch at the
    example input's routing. The correction bias is a buffer (trained by
    load balancing, not by gradients); it is set negative here so that the
    0.0 masking matters."""

    def __init__(self, d=16, f=8, num_experts=8, top_k=2, n_group=4,
                 topk_group=2, n_shared_experts=2, routed_scaling_factor=2.5):
        super().__init__()
        self.n_routed_experts, self.top_k = num_experts, top_k
        self.n_group, self.topk_group = n_group, topk_group
        self.routed_scaling_factor = routed_scaling_factor
        self.norm_topk_prob = True
        self.gate_weight = nn.Parameter(torch.empty(num_experts, d))
        self.register_buffer("e_score_correction_bias",
                             torch.linspace(-0.7, -0.3, num_experts))
        self.experts = nn.ModuleList(SwiGLUExpert(d, f) for _ in range(num_experts))
        self.shared_experts = SwiGLUExpert(d, f * n_shared_experts)

    def get_topk_indices(self, scores):
        scores_for_choice = (scores.view(-1, self.n_routed_experts)
                             + self.e_score_correction_bias.unsqueeze(0))
        group_scores = (scores_for_choice.view(-1, self.n_group,
                                               self.n_routed_experts // self.n_group)
                        .topk(2, dim=-1)[0].sum(dim=-1))
        group_idx = torch.topk(group_scores, k=self.topk_group, dim=-1, sorted=False)[1]
        group_mask = torch.zeros_like(group_scores)
        group_mask.scatter_(1, group_idx, 1)
        score_mask = (group_mask.unsqueeze(-1)
                      .expand(-1, self.n_group, self.n_routed_experts // self.n_group)
                      .reshape(-1, self.n_routed_experts))
        scores_for_choice = scores_for_choice.masked_fill(~score_mask.bool(), 0.0)
        return torch.topk(scores_for_choice, k=self.top_k, dim=-1, sorted=False)[1]

    def route_tokens_to_experts(self, router_logits):
        router_logits = router_logits.sigmoid()
        topk_indices = self.get_topk_indices(router_logits)
        topk_weights = router_logits.gather(1, topk_indices)
        if self.norm_topk_prob:
            denominator = topk_weights.sum(dim=-1, keepdim=True) + 1e-20
            topk_weights /= denominator
        topk_weights = topk_weights * self.routed_scaling_factor
        return topk_indices, topk_weights

    def moe(self, hidden_states, topk_indices, topk_weights):
        final_hidden_states = torch.zeros_like(hidden_states, dtype=topk_weights.dtype)
        expert_mask = F.one_hot(topk_indices, num_classes=len(self.experts))
        expert_mask = expert_mask.permute(2, 0, 1)
        for expert_idx in range(len(self.experts)):
            expert = self.experts[expert_idx]
            token_indices, weight_indices = torch.where(expert_mask[expert_idx])
            expert_weights = topk_weights[token_indices, weight_indices]
            expert_output = expert(hidden_states[token_indices])
            weighted_output = expert_output * expert_weights.unsqueeze(-1)
            final_hidden_states.index_add_(0, token_indices, weighted_output)
        return final_hidden_states.type(hidden_states.dtype)

    def forward(self, hidden_states):
        residuals = hidden_states
        orig_shape = hidden_states.shape
        # DeepseekV3TopkRouter: F.linear in float32 over the flattened rows.
        router_logits = F.linear(hidden_states.view(-1, orig_shape[-1]).type(torch.float32),
                                 self.gate_weight.type(torch.float32))
        topk_indices, topk_weights = self.route_tokens_to_experts(router_logits)
        hidden_states = hidden_states.view(-1, hidden_states.shape[-1])
        hidden_states = self.moe(hidden_states, topk_indices, topk_weights).view(*orig_shape)
        return hidden_states + self.shared_experts(residuals)


class SwitchSparseMLP(nn.Module):
    """SwitchTransformersSparseMLP with its Top1Router (no capacity limit,
    no jitter): argmax of the softmax picks one expert per token, each
    expert overwrites its tokens' rows of a copy of the input, and the
    result is scaled by the top probability. Written over the flattened
    rows and with index_copy where transformers assigns through a boolean
    mask (`next_states[mask] = ...`): torch.onnx.export turns that
    assignment into a Reshape frozen at the example's token counts (the
    export fails in onnxruntime at any other), index_copy exports the same
    math as a ScatterElements that works at every token count."""

    def __init__(self, d=16, f=32, num_experts=4):
        super().__init__()
        self.num_experts = num_experts
        self.classifier = nn.Linear(d, num_experts, bias=False)
        self.experts = nn.ModuleList(ReluExpert(d, f) for _ in range(num_experts))

    def forward(self, hidden_states):
        batch_size, sequence_length, d = hidden_states.shape
        hidden_states = hidden_states.view(-1, d)
        router_probs = F.softmax(self.classifier(hidden_states), dim=-1)
        expert_index = torch.argmax(router_probs, dim=-1)
        router_mask = F.one_hot(expert_index, num_classes=self.num_experts)
        router_probs = torch.max(router_probs, dim=-1).values.unsqueeze(-1)
        next_states = hidden_states.clone()
        for idx, expert in enumerate(self.experts):
            token_indices = torch.where(router_mask[:, idx])[0]
            next_states = next_states.index_copy(
                0, token_indices, expert(hidden_states[token_indices]))
        return (router_probs * next_states).view(batch_size, sequence_length, d)


class Stack(nn.Module):
    """Blocks applied one after the other (a model's consecutive MoE
    layers, without what lies between them)."""

    def __init__(self, *blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, hidden_states):
        for block in self.blocks:
            hidden_states = block(hidden_states)
        return hidden_states


class Residual(nn.Module):
    """x + block(x): a decoder layer's residual connection around an MoE
    block, so that the graph computes on its input outside the block."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, hidden_states):
        return hidden_states + self.block(hidden_states)


class PreNormResidual(nn.Module):
    """x + block(rms_norm(x)): a decoder layer's second half (the
    post-attention RMSNorm as Mixtral and Qwen write it, the MoE block,
    the residual connection), computing on its input around the block."""

    def __init__(self, block, d, eps=1e-6):
        super().__init__()
        self.block = block
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, hidden_states):
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        normed = hidden_states * torch.rsqrt(variance + self.eps)
        return hidden_states + self.block(self.weight * normed)


class RMSNorm(nn.Module):
    """Mixtral's / Qwen's RMSNorm as their modeling code writes it."""

    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, hidden_states):
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.eps))


class SelfAttention(nn.Module):
    """Multi-head self-attention as HF's eager attention writes it: q, k, v
    projections, heads split by view + transpose, scores scaled by
    1/sqrt(head_dim), softmax, the heads merged back, the o projection;
    `causal`: a decoder's mask as torch exports `full(-inf).triu(1)`
    (ConstantOfShape, Trilu, added to the scores); `rotary`: Llama's and
    Mixtral's rotary position embedding of q and k at positions 0..t-1
    (Range, an outer product, Cos, Sin; rotate_half's Slice, Neg and
    Concat); `rotary="hf"`: the same at the `position_ids` given (an int64
    input [b, t]: each sequence its own positions), as transformers'
    LlamaRotaryEmbedding writes it (inv_freq expanded to the batch, a
    batched MatMul with the positions cast to float, a transpose, the
    tables times attention_scaling, unsqueezed for the heads); `kv_heads`
    < heads: grouped-query attention (k and v heads repeated as HF's
    repeat_kv writes it: a rank-5 Expand); `qk_norm`: Qwen3's RMS norms of
    each q and k head before the rotary embedding. The non-MoE half of a
    layer."""

    def __init__(self, d, heads, causal=False, rotary=False, kv_heads=None,
                 base=10000.0, qk_norm=False):
        super().__init__()
        self.heads, self.head_dim, self.causal = heads, d // heads, causal
        self.rotary = rotary
        self.kv_heads = kv_heads or heads
        inv_freq = 1.0 / (base ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        if qk_norm:
            self.q_norm, self.k_norm = RMSNorm(self.head_dim), RMSNorm(self.head_dim)
        else:
            self.q_norm = self.k_norm = nn.Identity()

    def rotary_tables(self, position_ids, dtype):
        """cos and sin [b, 1, t, head_dim] at `position_ids` [b, t], as
        LlamaRotaryEmbedding and apply_rotary_pos_emb compute them."""
        attention_scaling = 1.0  # the default rope type's
        inv_freq_expanded = self.inv_freq[None, :, None].float().expand(
            position_ids.shape[0], -1, 1)
        position_ids_expanded = position_ids[:, None, :].float()
        freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos() * attention_scaling
        sin = emb.sin() * attention_scaling
        return cos.to(dtype).unsqueeze(1), sin.to(dtype).unsqueeze(1)

    def forward(self, hidden_states, past_k=None, past_v=None, attention_mask=None,
                position_ids=None):
        """With a KV cache (past_k, past_v: [b, kv_heads, p, head_dim], as
        HF's DynamicCache keeps them): the new tokens at positions p..p+t-1
        attend to the cache and themselves, and the result comes with the
        cache extended (present k, v: [b, kv_heads, p + t, head_dim]).
        attention_mask: an additive mask [b, 1, 1, p + t] (0, or finfo.min
        for a padded position: batched sequences of different lengths).
        position_ids: the new tokens' positions [b, t] (rotary="hf")."""
        b, t, d = hidden_states.shape
        p = 0 if past_k is None else past_k.shape[2]

        def heads(x, norm=nn.Identity()):
            return norm(x.view(b, t, -1, self.head_dim)).transpose(1, 2)

        def repeat_kv(x):
            n_rep = self.heads // self.kv_heads
            if n_rep == 1:
                return x
            s = x.shape[2]  # t, or p + t with a cache
            x = x[:, :, None, :, :].expand(b, self.kv_heads, n_rep, s, self.head_dim)
            return x.reshape(b, self.heads, s, self.head_dim)

        q = heads(self.q_proj(hidden_states), self.q_norm)
        k = heads(self.k_proj(hidden_states), self.k_norm)
        v = heads(self.v_proj(hidden_states))
        if self.rotary == "hf":
            cos, sin = self.rotary_tables(position_ids, q.dtype)
        elif self.rotary:
            positions = torch.arange(p, p + t, dtype=torch.float32)
            freqs = torch.outer(positions, self.inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            cos, sin = emb.cos().to(q.dtype), emb.sin().to(q.dtype)
        if self.rotary:

            def rotate_half(x):
                half = x.shape[-1] // 2
                return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        if past_k is not None:
            k, v = torch.cat((past_k, k), dim=2), torch.cat((past_v, v), dim=2)
        present = (k, v)
        k, v = repeat_kv(k), repeat_kv(v)
        scores = torch.matmul(q, k.transpose(2, 3)) / (self.head_dim ** 0.5)
        if self.causal:
            scores = scores + torch.full((t, p + t), float("-inf"),
                                         dtype=scores.dtype).triu(p + 1)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = torch.softmax(scores, dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, d)
        if past_k is not None:
            return (self.o_proj(out),) + present
        return self.o_proj(out)


def causal_mask_4d(attention_mask, t, p, dtype):
    """The additive mask [b, 1, t, p + t] transformers builds from a 2-D
    attention_mask [b, p + t] (1: a token, 0: padding) for new tokens at
    cache positions p..p+t-1, as _prepare_4d_causal_attention_mask_with_
    cache_position writes it (Greater, Trilu, Expand, Equal, a masked
    fill through ScatterND in the export)."""
    min_dtype = torch.finfo(dtype).min
    target = p + t
    cache_position = torch.arange(p, p + t)
    causal_mask = torch.full((t, target), fill_value=min_dtype, dtype=dtype)
    if t != 1:
        causal_mask = torch.triu(causal_mask, diagonal=1)
    causal_mask *= torch.arange(target) > cache_position.reshape(-1, 1)
    causal_mask = causal_mask[None, None, :, :].expand(attention_mask.shape[0], 1, -1, -1)
    causal_mask = causal_mask.clone()
    mask_length = attention_mask.shape[-1]
    padding_mask = causal_mask[:, :, :, :mask_length] + attention_mask[:, None, None, :]
    padding_mask = padding_mask == 0
    causal_mask[:, :, :, :mask_length] = causal_mask[:, :, :, :mask_length].masked_fill(
        padding_mask, min_dtype)
    return causal_mask


class DecoderLayer(nn.Module):
    """A whole decoder layer as Mixtral's writes it: h = x + attn(norm(x)),
    then h + moe(norm(h))."""

    def __init__(self, block, d, heads, causal=False, rotary=False, kv_heads=None,
                 qk_norm=False):
        super().__init__()
        self.input_layernorm = RMSNorm(d)
        self.self_attn = SelfAttention(d, heads, causal, rotary, kv_heads, qk_norm=qk_norm)
        self.post_attention_layernorm = RMSNorm(d)
        self.block = block

    def forward(self, hidden_states, past_k=None, past_v=None, attention_mask=None,
                position_ids=None):
        if attention_mask is not None and attention_mask.dim() == 2:
            attention_mask = causal_mask_4d(attention_mask, hidden_states.shape[1],
                                            past_k.shape[2], hidden_states.dtype)
        attn = self.self_attn(self.input_layernorm(hidden_states), past_k, past_v,
                              attention_mask, position_ids)
        present = ()
        if past_k is not None:
            attn, present = attn[0], attn[1:]
        hidden_states = hidden_states + attn
        out = hidden_states + self.block(self.post_attention_layernorm(hidden_states))
        return (out,) + present if present else out


def test_blocks():
    """One small instance (d = 16) of every block form the raising tests
    export, by name."""
    return {
        "mixtral": MixtralSparseMoeBlock(d=16, f=32, num_experts=4, top_k=2),
        "qwen2": Qwen2MoeSparseMoeBlock(d=16, f=16, num_experts=6, top_k=2, shared_f=24),
        "relu": ReluMoeBlock(d=16, f=32, num_experts=5, top_k=3),
        "predown": GateBeforeDownMoeBlock(d=16, f=32, num_experts=4, top_k=2),
        "soft": SoftMoeBlock(d=16, f=24, num_experts=3),
        # limit 1.5 so that the clamps bind on the tests' inputs.
        "gptoss": GptOssMoeBlock(d=16, f=16, num_experts=4, top_k=2, limit=1.5),
        "stacked": StackedMoeBlock(d=16, f=24, num_experts=4, top_k=2),
        "switch": SwitchSparseMLP(d=16, f=32, num_experts=4),
        "deepseek": DeepseekV3MoE(d=16, f=8, num_experts=8, top_k=2, n_group=4,
                                  topk_group=2, n_shared_experts=2),
    }


def export_cached(layer, path, d, opset=17, seed=0, padded=False):
    """Exports a DecoderLayer for decoding with a KV cache: inputs x [batch,
    seq, d], past_k and past_v [batch, kv_heads, past, head_dim] (and with
    `padded` attention_mask [batch, 1, 1, total], additive, or with
    padded="2d" transformers' [batch, total] int64 one, turned into the
    additive causal mask in the graph; with rotary="hf" position_ids
    [batch, seq], int64); outputs y and the
    extended cache, present_k and present_v [batch, kv_heads, total,
    head_dim] (HF's layer with a DynamicCache, as a graph)."""
    torch.manual_seed(seed)
    for p in layer.parameters():
        nn.init.normal_(p, std=0.3)
    layer.eval()
    attn = layer.self_attn
    past = torch.randn(2, attn.kv_heads, 4, attn.head_dim)
    cache_axes = {0: "batch", 2: "past"}
    inputs = (torch.randn(2, 3, d), past, past.clone())
    names = ["x", "past_k", "past_v"]
    axes = {"x": {0: "batch", 1: "seq"}, "past_k": cache_axes, "past_v": cache_axes,
            "y": {0: "batch", 1: "seq"}, "present_k": {0: "batch", 2: "total"},
            "present_v": {0: "batch", 2: "total"}}
    if padded == "2d":
        inputs += (torch.ones(2, 7, dtype=torch.int64),)
        names.append("attention_mask")
        axes["attention_mask"] = {0: "batch", 1: "total"}
    elif padded:
        inputs += (torch.zeros(2, 1, 1, 7),)
        names.append("attention_mask")
        axes["attention_mask"] = {0: "batch", 3: "total"}
    if attn.rotary == "hf":
        inputs += ({"position_ids": torch.arange(4, 7).expand(2, 3)},)
        names.append("position_ids")
        axes["position_ids"] = {0: "batch", 1: "seq"}
    with torch.no_grad():
        torch.onnx.export(layer, inputs, path, input_names=names,
                          output_names=["y", "present_k", "present_v"], opset_version=opset,
                          dynamic_axes=axes)


def export(module, path, d, opset=17, seed=0):
    """Exports `module` with dynamic batch and sequence dims."""
    torch.manual_seed(seed)
    for p in module.parameters():
        nn.init.normal_(p, std=0.3)
    module.eval()
    example = torch.randn(2, 3, d)
    with torch.no_grad():
        torch.onnx.export(module, (example,), path, input_names=["x"],
                          output_names=["y"], opset_version=opset,
                          dynamic_axes={"x": {0: "batch", 1: "seq"},
                                        "y": {0: "batch", 1: "seq"}})
