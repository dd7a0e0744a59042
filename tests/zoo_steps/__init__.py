"""The multi-step zoo: user implementations whose bug lives across steps.

The one-batch zoo (`tests/zoo/`) holds mistakes the backprop doctor sees in a single gradient
evaluation. The bugs here are invisible to such a check: the backprop is right and what is wrong
is the state carried from one step to the next (a momentum buffer, a step counter, a decayed
learning rate, an accumulator), the update (a bias left out, weights updated inside the
per-sample loop), or a constant that only differs from the right one when the batch is not the
whole training set. They show only when the code runs in lockstep with a framework, step after
step, through a scenario's ``[user.<name>]`` table (`comparisons.user_backend`).

Each module is written the way people write such code (loops, dicts of arrays, classes) and
declares:

    scenario()   -> a fresh dict spec whose user backend "mine" is the module's code (a fresh
                    closure or class, so no state leaks between runs)
    FIRST        the expected first divergence: {"step", "backend", "quantity", "param", "alias"}
    WHY          one sentence: why it first shows at that step (also in the module docstring)

`tests/test_user_zoo.py` runs each case and checks `result.first_divergence` and what the
verdict and the doctor call it. The ``correct_*`` modules are controls in every layout: no
divergence over 20+ steps, anchored and free, at the default float64 tolerances.
"""
from __future__ import annotations

import copy
from typing import Any


def spec(name: str, *, sizes, activations, loss, optimizer, data, run, user, network_extra=None) -> dict[str, Any]:
    """A dict spec with one user backend ``mine`` checked against torch (the reference)."""
    run = {"steps": 20, "backends": ["mine", "torch"], "reference": "torch", "mode": "anchored", **run}
    return {
        "name": name,
        "network": {"sizes": list(sizes), "activations": list(activations), **(network_extra or {})},
        "loss": dict(loss),
        "optimizer": dict(optimizer),
        "data": dict(data),
        "run": run,
        "user": {"mine": copy.copy(user)},
    }


def augmented(layer: int) -> dict[str, Any]:
    """Marsland's placement: weights (fan_in + 1, fan_out), the bias row last, fed by -1."""
    return {"kind": "augmented_weight", "layer": layer, "layout": "in_out", "bias_position": "last", "bias_input": -1.0}


def canonical(n_layers: int, layout: str = "in_out", bias_shape=None) -> dict[str, Any]:
    """W1, b1, W2, b2, ... in the given layout (bias_shape(layer) -> shape or None)."""
    mapping = {}
    for layer in range(n_layers):
        mapping[f"W{layer + 1}"] = {"kind": "weight", "layer": layer, "layout": layout}
        bias = {"kind": "bias", "layer": layer}
        if bias_shape is not None:
            bias["shape"] = list(bias_shape(layer))
        mapping[f"b{layer + 1}"] = bias
    return mapping
