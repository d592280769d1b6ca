"""Random moe.layer test cases: builds the op, runs it through the
reference lowering (mlir_harness) and compares with moe_reference."""

import numpy as np

import mlir_harness as mh
import moe_reference as ref


def _routing_attr(routing):
    parts = [routing["kind"], f"k = {routing['k']}"]
    if routing.get("renormalize"):
        parts.append("renormalize = true")
    if routing.get("scale", 1.0) != 1.0:
        parts.append(f"scale = {float(routing['scale'])!r}")
    if routing.get("n_group", 1) != 1:
        parts.append(f"n_group = {routing['n_group']}")
        parts.append(f"topk_group = {routing['topk_group']}")
    if routing.get("group_mask", "neg_inf") != "neg_inf":
        parts.append(f"group_mask = {routing['group_mask']}")
    if routing.get("capacity_factor"):
        parts.append(
            f"capacity_factor = {float(routing['capacity_factor'])!r}")
    if routing.get("drop_policy", "zero") != "zero":
        parts.append(f"drop_policy = {routing['drop_policy']}")
    return "<" + ", ".join(parts) + ">"


def _activation_attr(act, params):
    parts = [act] + [f"{k} = {float(v)!r}" for k, v in (params or {}).items()]
    return "<" + ", ".join(parts) + ">"


def _choice_gap(logits, routing, correction_bias):
    """ref.choice_gap, or for expert choice the smallest gap, over experts,
    between the C-th and (C+1)-th best token."""
    if routing["kind"] != "expert_choice":
        return ref.choice_gap(logits, routing["kind"], routing["k"],
                              correction_bias)
    probs = ref.softmax(logits)
    tokens, experts = probs.shape
    cap = ref.capacity(routing["capacity_factor"], tokens, routing["k"],
                       experts)
    if cap >= tokens:
        return np.inf
    ordered = -np.sort(-probs, axis=0)
    return float(np.min(ordered[cap - 1] - ordered[cap]))


def run_layer_case(name, d, f, num_experts, routing, act, *,
                   token_counts=(1, 7, 33), biases=False, router_bias=False,
                   correction_bias=False, shared_f=0, shared_gate=False,
                   gate_on_input=False, act_params=None, seed=0, passes=(),
                   pipeline="moe-reference-to-llvm", given_logits=False):
    """Checks one moe.layer configuration at several token counts; `passes`
    run before `pipeline` (e.g. moe-decompose before the reference
    lowering). With `given_logits` the layer takes the router logits
    (x . router, computed here) instead of the router."""
    rng = np.random.default_rng(seed)
    gated = act in ("swiglu", "clamped_swiglu")
    rand = lambda *shape, scale=1.0: (
        rng.standard_normal(shape) * scale).astype(np.float32)
    # Named operands in the op's order, with their values.
    operands = {"router": rand(d, num_experts, scale=1.0)}
    if router_bias:
        operands["router_bias"] = rand(num_experts, scale=0.5)
    if correction_bias:
        operands["correction_bias"] = rand(num_experts, scale=0.1)
        if routing.get("group_mask") == "zero":
            # Negative choice scores, so that the 0 given to the other
            # groups' experts changes which experts win.
            operands["correction_bias"] -= np.float32(0.7)
    operands["w1"] = rand(num_experts, d, f, scale=d ** -0.5)
    if gated:
        operands["w3"] = rand(num_experts, d, f, scale=d ** -0.5)
    operands["w2"] = rand(num_experts, f, d, scale=f ** -0.5)
    if biases:
        operands["b1"] = rand(num_experts, f, scale=0.1)
        if gated:
            operands["b3"] = rand(num_experts, f, scale=0.1)
        operands["b2"] = rand(num_experts, d, scale=0.1)
    if shared_f:
        operands["shared_w1"] = rand(d, shared_f, scale=d ** -0.5)
        if gated:
            operands["shared_w3"] = rand(d, shared_f, scale=d ** -0.5)
        operands["shared_w2"] = rand(shared_f, d, scale=shared_f ** -0.5)
        if shared_gate:
            operands["shared_gate"] = rand(d, 1, scale=d ** -0.5)

    x_type = mh.tensor_type((None, d), "f32")
    # The kernel's operands: the router, or in its place the logits.
    kernel_operands = {("logits" if n == "router" and given_logits else n):
                       (None, num_experts) if n == "router" and given_logits else v.shape
                       for n, v in operands.items()}
    arg_types = [x_type] + [mh.tensor_type(shape, "f32")
                            for shape in kernel_operands.values()]
    params = ["%x: " + x_type] + [f"%{n}: {t}" for n, t in
                                  zip(kernel_operands, arg_types[1:])]
    clauses = [f"%x : {x_type}"]
    for n, t in zip(kernel_operands, arg_types[1:]):
        clauses.append(f"{n} %{n} : {t}")
    clauses.append("routing " + _routing_attr(routing))
    clauses.append("activation " + _activation_attr(act, act_params))
    if gate_on_input:
        clauses.append("gate_on_input")
    kernel = (f"func.func @kernel({', '.join(params)}) -> {x_type} {{\n"
              f"  %y = moe.layer {' '.join(clauses)} -> {x_type}\n"
              f"  return %y : {x_type}\n}}\n")

    # Inputs whose routing is not a near tie (see ref.choice_gap).
    input_sets, expected = [], []
    for tokens in token_counts:
        for _ in range(100):
            x = rand(tokens, d)
            logits = x.astype(np.float64) @ operands["router"]
            if "router_bias" in operands:
                logits += operands["router_bias"]
            cb = operands.get("correction_bias")
            if _choice_gap(logits, routing, cb) > 1e-5:
                break
        else:
            raise RuntimeError("no input without a near tie in routing")
        values = list(operands.values())
        if given_logits:  # the router's place: x . router
            values[0] = (x.astype(np.float64) @ operands["router"]).astype(np.float32)
        input_sets.append([x] + values)
        expected.append(ref.moe_layer(
            x, operands["router"], operands["w1"], operands["w2"], routing,
            act, w3=operands.get("w3"), b1=operands.get("b1"),
            b3=operands.get("b3"), b2=operands.get("b2"),
            router_bias=operands.get("router_bias"), correction_bias=cb,
            shared=None if not shared_f else {
                "w1": operands["shared_w1"], "w2": operands["shared_w2"],
                "w3": operands.get("shared_w3"),
                "gate": operands.get("shared_gate")},
            gate_on_input=gate_on_input, act_params=act_params))

    results = mh.run(kernel, arg_types, [x_type], input_sets, passes=passes,
                     pipeline=pipeline)
    for tokens, (actual,), want in zip(token_counts, results, expected):
        mh.check_close(f"{name} T={tokens}", actual, want)
