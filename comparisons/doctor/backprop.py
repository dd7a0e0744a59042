"""Exact backprop of the declared network with optional, named deviations.

The doctor uses it for two things, both in canonical layout and float64:
* convention alternatives that are not bugs (ReLU'(0) = 1 instead of torch's 0), and
* known mistakes ("sigmoid' computed from z", "softmax Jacobian taken elementwise", ...) whose
  gradients are compared with the user's to name a likely cause.

The forward pass and the loss are scratchnet's (`scratchnet.MLP.forward`, `Loss.value_and_delta`),
so a `Variant()` with no deviation reproduces `scratchnet.MLP.loss_and_grads` exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

import scratchnet as sn

Params = dict[str, np.ndarray]
#: (z, a, y, dL/da, correct delta) -> delta of the output layer; all (batch, k)
OutputRule = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
#: (z, a, dL/da, correct delta) -> delta of a hidden layer; all (batch, units)
HiddenRule = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
#: (delta of layer k, W_k canonical, dL/dW_k) -> dL/da of layer k-1
PropagateRule = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

PENALTIES = ("declared", "none", "half", "double", "negative", "with_bias")
_PENALTY_FACTOR = {"declared": 2.0, "with_bias": 2.0, "half": 1.0, "double": 4.0, "negative": -2.0}
_LINEAR = sn.activations.Linear()


@dataclass(frozen=True)
class Variant:
    """Deviations from exact backprop.

    `output`: replaces the output-layer delta. `hidden[k]`: replaces the activation
    vector-Jacobian product of hidden layer k. `propagate[k]`: replaces ``delta_k @ W_k.T`` (k >= 1).
    `penalty`: the L2 term in dL/dW: "declared" (2 l2 W), "none", "half" (l2 W), "double"
    (4 l2 W), "negative" (-2 l2 W) or "with_bias" (2 l2 b added to dL/db too). `l2`: the
    coefficient to use instead of the declared one. `zero_bias`: every bias gradient is 0.
    """

    output: OutputRule | None = None
    hidden: Mapping[int, HiddenRule] = field(default_factory=dict)
    propagate: Mapping[int, PropagateRule] = field(default_factory=dict)
    penalty: str = "declared"
    l2: float | None = None
    zero_bias: bool = False


def variant_gradients(net: sn.MLP, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, variant: Variant) -> Params:
    """dL/dparams of `net` at canonical `params` for X (m, in), y (m, out), with `variant`'s deviations."""
    zs, outs = net.forward(X, params)
    last = net.activations[-1]
    _, delta = net.loss.value_and_delta(zs[-1], outs[-1], y, last)
    if variant.output is not None:
        _, grad_a = net.loss.value_and_delta(zs[-1], outs[-1], y, _LINEAR)
        delta = variant.output(zs[-1], outs[-1], y, grad_a, delta)
    grads: Params = {}
    l2 = net.l2 if variant.l2 is None else variant.l2
    for layer in range(net.n_layers - 1, -1, -1):
        names = net.param_names(layer)
        W = params[names["W"]]
        inputs = X if layer == 0 else outs[layer - 1]
        grad_W = inputs.T @ delta
        if l2 and variant.penalty != "none":
            grad_W = grad_W + _PENALTY_FACTOR[variant.penalty] * l2 * W
        grads[names["W"]] = grad_W
        if net.bias:
            grad_b = delta.sum(axis=0)
            if l2 and variant.penalty == "with_bias":
                grad_b = grad_b + 2.0 * l2 * params[names["b"]]
            grads[names["b"]] = np.zeros_like(grad_b) if variant.zero_bias else grad_b
        if layer:
            rule = variant.propagate.get(layer)
            grad_a = rule(delta, W, grad_W) if rule else delta @ W.T
            z, a = zs[layer - 1], outs[layer - 1]
            correct = net.activations[layer - 1].vjp(z, a, grad_a)
            hidden = variant.hidden.get(layer - 1)
            delta = hidden(z, a, grad_a, correct) if hidden else correct
    return {name: grads[name] for name in params}


def penalty_sums(net: sn.MLP, params: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """(sum of W**2 over the weights, sum of b**2 over the biases) at canonical `params`."""
    names = [net.param_names(i) for i in range(net.n_layers)]
    weights = sum(float(np.vdot(params[n["W"]], params[n["W"]])) for n in names)
    biases = sum(float(np.vdot(params[n["b"]], params[n["b"]])) for n in names) if net.bias else 0.0
    return weights, biases


def tie_layers(net: sn.MLP, params: Mapping[str, np.ndarray], X: np.ndarray) -> dict[int, int]:
    """Layers with a kinked activation (ReLU, leaky ReLU, ELU) and pre-activations exactly 0:
    {layer: number of such entries}. There the derivative is a convention (torch: ReLU'(0) = 0)."""
    zs, _ = net.forward(X, params)
    return {index: int(np.sum(zs[index] == 0)) for index, activation in enumerate(net.activations)
            if activation.kinked and np.any(zs[index] == 0)}


def right_derivative_at_zero(net: sn.MLP, layers: tuple[int, ...]) -> Variant:
    """Backprop with derivative 1 at z == 0 (the right-hand derivative, e.g. ``np.heaviside(z, 1)``
    or ``z >= 0``) in `layers`, torch's convention elsewhere."""
    hidden = {layer: _right_at_zero for layer in layers if layer < net.n_layers - 1}
    output = _right_at_zero_output if net.n_layers - 1 in layers else None
    return Variant(output=output, hidden=hidden)


def _right_at_zero(z, a, grad_a, correct):
    return np.where(z == 0, grad_a, correct)


def _right_at_zero_output(z, a, y, grad_a, correct):
    return np.where(z == 0, grad_a, correct)
