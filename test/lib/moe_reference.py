"""NumPy reference of MoE layer semantics (../shared/MOE_SEMANTICS.md).

Written from the definitions, independently of the compiler: routing by
sorting (not by ranks), experts token by token in float64. The compiler's
results are checked against these functions, never against itself.
"""

import numpy as np


def softmax(x, axis=-1):
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def topk_order(scores):
    """Column indices of each row in ONNX TopK order: larger first, NaN
    above every number, equal values by lower index."""
    rows = []
    for row in scores:
        nan = np.isnan(row)
        key = np.where(nan, 0.0, -row)
        # lexsort: the last key is the primary one.
        rows.append(np.lexsort((np.arange(row.size), key, ~nan)))
    return np.array(rows, dtype=np.int64).reshape(scores.shape)


def route(logits, kind, k, renormalize=False, scale=1.0, n_group=1,
          topk_group=1, correction_bias=None, group_mask="neg_inf", shared=0,
          shared_gate=False):
    """Returns (ids [T, k], weights [T, k]) for router logits [T, E].
    group_mask: what experts outside the chosen groups score, "neg_inf"
    or "zero" (Hugging Face's DeepseekV3). `shared` always-selected experts
    E, E + 1, ... follow as more columns, weighted 1 or, with shared_gate,
    by the sigmoid of the logits' last column (then [T, E + 1])."""
    logits = np.asarray(logits, dtype=np.float64)
    if shared:
        gate = sigmoid(logits[:, -1]) if shared_gate else np.ones(len(logits))
        routed = logits[:, :-1] if shared_gate else logits
        ids, weights = route(routed, kind, k, renormalize, scale, n_group,
                             topk_group, correction_bias, group_mask)
        e = routed.shape[1]
        shared_ids = np.broadcast_to(np.arange(e, e + shared), (len(logits), shared))
        shared_weights = np.repeat(gate[:, None], shared, axis=1)
        return (np.concatenate([ids, shared_ids], axis=1),
                np.concatenate([weights, shared_weights], axis=1))
    num_tokens, num_experts = logits.shape
    if kind in ("softmax_topk", "dense"):
        scores = softmax(logits)
    elif kind == "topk_softmax":
        scores = logits
    elif kind == "sigmoid_topk":
        scores = sigmoid(logits)
    else:
        raise ValueError(f"no reference for routing kind {kind}")
    choice = scores if correction_bias is None else scores + correction_bias
    if n_group > 1:
        size = num_experts // n_group
        grouped = choice.reshape(num_tokens, n_group, size)
        best_two = -np.sort(-grouped, axis=-1)[..., : min(2, size)]
        group_scores = best_two.sum(axis=-1)
        allowed = np.zeros((num_tokens, n_group), dtype=bool)
        for t, order in enumerate(topk_order(group_scores)):
            allowed[t, order[:topk_group]] = True
        masked = 0.0 if group_mask == "zero" else -np.inf
        choice = np.where(np.repeat(allowed, size, axis=1), choice, masked)
    ids = topk_order(choice)[:, :k]
    weights = np.take_along_axis(scores, ids, axis=1)
    if kind == "topk_softmax":
        weights = softmax(weights)
    elif renormalize:
        eps = 1e-20 if kind == "sigmoid_topk" else 0.0
        weights = weights / (weights.sum(axis=1, keepdims=True) + eps)
    return ids, weights * scale


def choice_scores(logits, kind, correction_bias=None):
    """What top-k ranks, in float64: the routing kind's scores plus the
    correction bias."""
    logits = np.asarray(logits, dtype=np.float64)
    if kind == "sigmoid_topk":
        scores = sigmoid(logits)
    elif kind == "topk_softmax":
        scores = logits
    else:
        scores = softmax(logits)
    return scores if correction_bias is None else scores + correction_bias


def choice_gap(logits, kind, k, correction_bias=None):
    """Smallest distance, over tokens, between the k-th and (k+1)-th choice
    score: tests use it to avoid inputs whose routing is a near tie, which
    float32 and float64 may break differently."""
    scores = choice_scores(logits, kind, correction_bias)
    if k >= scores.shape[1]:
        return np.inf
    ordered = -np.sort(-scores, axis=1)
    return float(np.min(ordered[:, k - 1] - ordered[:, k]))


def activation(kind, gate, up=None, alpha=1.702, beta=1.0, limit=7.0):
    if kind == "identity":
        return gate
    if kind == "relu":
        return np.maximum(gate, 0.0)
    if kind == "gelu":
        from math import erf, sqrt

        return 0.5 * gate * (1.0 + np.vectorize(erf, otypes=[np.float64])(gate / sqrt(2.0)))
    if kind == "gelu_tanh":
        inner = np.sqrt(2.0 / np.pi) * (gate + 0.044715 * gate ** 3)
        return 0.5 * gate * (1.0 + np.tanh(inner))
    if kind == "silu":
        return gate * sigmoid(gate)
    if kind == "swiglu":
        return gate * sigmoid(gate) * up
    if kind == "clamped_swiglu":
        g = np.minimum(gate, limit)
        u = np.clip(up, -limit, limit)
        return (u + beta) * g * sigmoid(alpha * g)
    raise ValueError(kind)


def ffn(x, w1, w2, act, w3=None, b1=None, b3=None, b2=None, **act_params):
    """One expert on one token (or a batch of rows)."""
    gate = x @ w1 + (0.0 if b1 is None else b1)
    up = None if w3 is None else x @ w3 + (0.0 if b3 is None else b3)
    return activation(act, gate, up, **act_params) @ w2 + (
        0.0 if b2 is None else b2)


def capacity(capacity_factor, num_tokens, k, num_experts):
    """C = ceil(capacity_factor * T * k / E)."""
    return int(np.ceil(capacity_factor * num_tokens * k / num_experts))


def expert_choice(logits, k, capacity_factor, scale=1.0):
    """Expert-choice routing: p = softmax over experts per token; each
    expert takes its C best tokens by p (lower token index on ties).
    Returns [(token, expert, weight)]."""
    probs = softmax(np.asarray(logits, dtype=np.float64))
    num_tokens, num_experts = probs.shape
    cap = min(num_tokens,
              capacity(capacity_factor, num_tokens, k, num_experts))
    picks = []
    for e in range(num_experts):
        order = sorted(range(num_tokens), key=lambda t: (-probs[t, e], t))
        picks += [(t, e, probs[t, e] * scale) for t in order[:cap]]
    return picks


def assignments(logits, routing, correction_bias=None):
    """Every (token, expert, weight) a layer computes, after capacity
    limits: a token beyond an expert's capacity is dropped, the earliest
    tokens keeping their places."""
    routing = dict(routing)
    capacity_factor = routing.pop("capacity_factor", 0.0)
    routing.pop("drop_policy", None)
    if routing["kind"] == "expert_choice":
        return expert_choice(logits, routing["k"], capacity_factor,
                             routing.get("scale", 1.0))
    ids, weights = route(logits, correction_bias=correction_bias, **routing)
    num_tokens, num_experts = np.shape(logits)
    cap = (capacity(capacity_factor, num_tokens, routing["k"], num_experts)
           if capacity_factor else None)
    taken = [0] * num_experts
    picks = []
    for t in range(num_tokens):
        for j in range(ids.shape[1]):
            e = int(ids[t, j])
            if cap is not None and taken[e] >= cap:
                continue
            taken[e] += 1
            picks.append((t, e, weights[t, j]))
    return picks


def moe_layer(x, router_weight, w1, w2, routing, act, w3=None, b1=None,
              b3=None, b2=None, router_bias=None, correction_bias=None,
              shared=None, gate_on_input=False, act_params=None):
    """out [T, d] of an MoE layer. `routing` is a dict of route()'s keyword
    arguments (plus capacity_factor and drop_policy, and kind
    "expert_choice"); `shared` a dict with w1, w2, optional w3 and gate."""
    f64 = lambda a: None if a is None else np.asarray(a, dtype=np.float64)
    x = f64(x)
    act_params = act_params or {}
    logits = x @ f64(router_weight)
    if router_bias is not None:
        logits = logits + f64(router_bias)
    out = np.zeros_like(x)
    kept = np.zeros(x.shape[0], dtype=bool)
    for t, e, weight in assignments(logits, routing, f64(correction_bias)):
        kept[t] = True
        expert = lambda v: ffn(
            v, f64(w1[e]), f64(w2[e]), act,
            None if w3 is None else f64(w3[e]),
            None if b1 is None else f64(b1[e]),
            None if b3 is None else f64(b3[e]),
            None if b2 is None else f64(b2[e]), **act_params)
        if gate_on_input:
            out[t] += expert(weight * x[t])
        else:
            out[t] += weight * expert(x[t])
    if routing.get("drop_policy") == "passthrough":
        out[~kept] += x[~kept]
    if shared is not None:
        y = ffn(x, f64(shared["w1"]), f64(shared["w2"]), act,
                f64(shared.get("w3")), **act_params)
        if shared.get("gate") is not None:
            y = y * sigmoid(x @ f64(shared["gate"]))
        out += y
    return out
