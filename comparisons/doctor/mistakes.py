"""Known backprop mistakes, replayed on the declared network to name a likely cause.

Each mistake is a `backprop.Variant` (shared/research/bug-taxonomy.md rows 5, 6, 8, 9, 10, 11,
13, 14) or, for update-only code, a replay of a wrong update loop (weights updated inside the
per-sample loop). When the user's gradients equal a mistake's gradients on every parameter (up to
one common constant, which covers a mistake combined with a missing 1/m), the doctor names it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

import scratchnet as sn
from comparisons.doctor.agreement import close, same_number
from comparisons.doctor.backprop import Variant, variant_gradients
from comparisons.doctor.layout import NetworkLayout
from comparisons.tolerances import DoctorTolerance, Tolerance

Derivative = Callable[[np.ndarray, np.ndarray], np.ndarray]


Replay = Callable[[sn.MLP, Mapping[str, np.ndarray], np.ndarray, np.ndarray], dict]


@dataclass(frozen=True)
class Mistake:
    """`label`: what the code does, in words; `variant`: backprop with that mistake, or `replay`:
    ``(net, params, X, y) -> gradients`` (canonical) that the mistaken code implies."""

    label: str
    variant: Variant | None = None
    replay: Replay | None = None

    def gradients(self, net: sn.MLP, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> dict:
        """Canonical gradients of `net` at `params` with this mistake."""
        if self.replay is not None:
            return self.replay(net, params, X, y)
        return variant_gradients(net, params, X, y, self.variant)


@dataclass(frozen=True)
class MistakeMatch:
    """The user's gradients equal `factor` times `mistake`'s."""

    mistake: Mistake
    factor: float


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def derivative_slips(activation: str) -> list[tuple[str, Derivative]]:
    """Wrong derivatives people write for `activation`: (description, f'(z, a))."""
    slips: dict[str, list[tuple[str, Derivative]]] = {
        "sigmoid": [
            ("sigmoid' is computed as z*(1-z): the a*(1-a) formula is given the pre-activation z instead of the output a",
             lambda z, a: z * (1.0 - z)),
            ("sigmoid' is applied to the output: sigmoid(a)*(1-sigmoid(a)), a helper that expects z was given a "
             "(use a*(1-a), or pass z)", lambda z, a: _sigmoid(a) * (1.0 - _sigmoid(a))),
        ],
        "tanh": [
            ("tanh' is computed as 1 - z**2: the 1 - a**2 formula is given the pre-activation z instead of the output a",
             lambda z, a: 1.0 - z * z),
            ("tanh' is applied to the output: 1 - tanh(a)**2, a helper that expects z was given a (use 1 - a**2)",
             lambda z, a: 1.0 - np.tanh(a) ** 2),
            ("tanh' is written as 1 - a instead of 1 - a**2", lambda z, a: 1.0 - a),
        ],
    }
    return slips.get(activation, [])


def fitted_penalties(net: sn.MLP, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray,
                     user_grads: Mapping[str, np.ndarray], names: list[str], layout: NetworkLayout,
                     policy: DoctorTolerance) -> list[Mistake]:
    """L2 penalties with the coefficient fitted to the user's gradients (on the weights, or on
    weights and biases), as mistakes for `match_mistake` to confirm or reject; a fitted
    coefficient equal to the declared l2 (``policy.l2_match``) is no mistake."""
    data_only = layout.to_user(variant_gradients(net, params, X, y, Variant(l2=0.0)))
    mistakes = []
    for penalty, where in (("declared", "sum(W**2) on the weights"), ("with_bias", "sum(W**2 + b**2) on weights and biases")):
        if penalty == "with_bias" and not net.bias:
            continue
        unit = layout.to_user(variant_gradients(net, params, X, y, Variant(l2=1.0, penalty=penalty)))
        direction = {n: unit[n] - data_only[n] for n in names}
        energy = sum(float(np.vdot(direction[n], direction[n])) for n in names)
        if energy == 0:
            continue
        l2 = sum(float(np.vdot(user_grads[n] - data_only[n], direction[n])) for n in names) / energy
        if l2 > 0 and not (penalty == "declared" and same_number(l2, net.l2, policy.l2_match)):
            mistakes.append(Mistake(f"your code has an L2 penalty {l2:.6g} * {where} (declared: l2 = {net.l2:g} on the "
                                    "weights only)", Variant(l2=l2, penalty=penalty)))
    return mistakes


def per_sample_updates(net: sn.MLP, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float,
                       penalty_share: float) -> dict:
    """The gradient implied by updating the weights after every sample of the batch: sample i's
    share of the declared loss (1/m of its own loss for reductions that average over the
    samples) is differentiated at the weights left by samples 0..i-1 and applied with step
    `lr`, plus `penalty_share` of the L2 gradient each time; the result is (old - new) / lr."""
    m = X.shape[0]
    share = 1.0 / m if net.loss.reduction in ("mean", "batch_mean") else 1.0
    current = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    weights = {net.param_names(layer)["W"] for layer in range(net.n_layers)}
    for i in range(m):
        grads = variant_gradients(net, current, X[i:i + 1], y[i:i + 1], Variant(l2=0.0))
        for name in current:
            step = share * grads[name] + (penalty_share * 2.0 * net.l2 * current[name] if name in weights and net.l2 else 0.0)
            current[name] = current[name] - lr * step
    return {name: (np.asarray(params[name], dtype=np.float64) - current[name]) / lr for name in params}


def known_mistakes(net: sn.MLP, lr: float | None, step: bool = False) -> list[Mistake]:
    """Every mistake that applies to `net` (and to update-only code, `step`, with learning rate `lr`)."""
    mistakes: list[Mistake] = []
    if step and lr:
        inside = ("the weights are updated inside the per-sample loop: each sample's gradient moves the weights before the "
                  "next sample's is computed, so the batch's gradients are taken at different weights; accumulate the "
                  "gradients of the whole batch at the same weights (nabla_w += ...) and update once, after the loop")
        modes = [("each", "")] if not net.l2 else [("each", " (the weight decay applied at every sample)"),
                                                   ("shared", " (the weight decay shared out over the samples)")]
        for mode, note in modes:
            mistakes.append(Mistake(inside + note, replay=lambda net, params, X, y, mode=mode: per_sample_updates(
                net, params, X, y, lr, 1.0 if mode == "each" else 1.0 / X.shape[0])))
    for layer, activation in enumerate(net.activations[:-1]):
        for text, slip in derivative_slips(activation.name):
            mistakes.append(Mistake(f"in layer {layer}, {text}", Variant(hidden={layer: _hidden_rule(slip)})))
        if activation.name != "linear":
            text = f"the {activation.name} derivative of layer {layer} is missing: its delta is the upstream term without f'(z)"
            mistakes.append(Mistake(text, Variant(hidden={layer: lambda z, a, grad_a, correct: grad_a})))
    output = net.activations[-1]
    fused = (output.name == "sigmoid" and net.loss.name != "squared_error") or (
        output.name == "softmax" and net.loss.name == "categorical_cross_entropy")
    if output.name == "softmax":
        mistakes.append(Mistake(
            "the softmax Jacobian is taken elementwise (only its diagonal a*(1-a)); softmax needs the full Jacobian, "
            "a*(g - sum(g*a)) per sample, and with cross-entropy the output delta is simply a - y", Variant(output=lambda z, a, y, grad_a, correct: grad_a * a * (1.0 - a))))
    for text, slip in derivative_slips(output.name):
        mistakes.append(Mistake(f"in the output layer, {text}",
                                Variant(output=lambda z, a, y, grad_a, correct, slip=slip: grad_a * slip(z, a))))
    if output.name != "linear":
        mistakes.append(Mistake(
            f"the {output.name} derivative of the output layer is missing: the output delta is dL/da without f'(z)", Variant(output=lambda z, a, y, grad_a, correct: grad_a)))
    if fused:
        mistakes.append(Mistake(
            f"the {output.name} derivative a*(1-a) is applied on top of the cross-entropy delta a - y, which already "
            "includes it (the squared-error formula reused)", Variant(output=lambda z, a, y, grad_a, correct: correct * a * (1.0 - a))))
    for layer in range(1, net.n_layers):
        fan_in, fan_out = net.sizes[layer], net.sizes[layer + 1]
        if fan_in == fan_out:
            mistakes.append(Mistake(
                f"the delta of layer {layer - 1} is sent back through layer {layer}'s weights untransposed "
                f"(delta @ W where delta @ W.T is due; silent because W is square)", Variant(propagate={layer: lambda delta, W, grad_W: delta @ W})))
        if fan_out == 1:
            mistakes.append(Mistake(
                f"the delta of layer {layer - 1} uses the layer-{layer} error directly (error * f'(z), broadcast) "
                f"instead of (delta @ W.T) * f'(z): the weights of layer {layer} are missing from the upstream term", Variant(propagate={layer: lambda delta, W, grad_W: np.broadcast_to(delta, (delta.shape[0], W.shape[0]))})))
        if lr:
            mistakes.append(Mistake(
                f"the weights of layer {layer} are updated before the delta of layer {layer - 1} is computed from them", Variant(propagate={layer: lambda delta, W, grad_W, lr=lr: delta @ (W - lr * grad_W).T})))
    if net.bias:
        mistakes.append(Mistake(
            "the bias gradients are set to 0 (for augmented weights: the bias row/column of the gradient is zeroed, e.g. "
            "Theta_grad[:, 0] = 0 to keep the penalty off it, which drops its data term too; skip only the penalty there)",
            Variant(zero_bias=True)))
    if net.l2:
        mistakes += [
            Mistake("the L2 gradient is applied to the biases too (the declared l2 penalises the weights only)",
                    Variant(penalty="with_bias")),
            Mistake("the L2 gradient term 2*l2*W is missing", Variant(penalty="none")),
            Mistake("the L2 gradient is l2*W instead of 2*l2*W (d/dW of l2*W**2 is 2*l2*W)", Variant(penalty="half")),
            Mistake("the L2 gradient is 4*l2*W, twice the declared penalty's 2*l2*W (a loss written 0.5*reg*sum(W**2) has "
                    "gradient reg*W, not 2*reg*W)", Variant(penalty="double")),
            Mistake("weight decay with the wrong sign: the gradient gets -2*l2*W where +2*l2*W is due", Variant(penalty="negative")),
        ]
    return mistakes


def _hidden_rule(slip: Derivative):
    return lambda z, a, grad_a, correct: grad_a * slip(z, a)


def match_mistake(net: sn.MLP, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray,
                  user_grads: Mapping[str, np.ndarray], names: list[str], layout: NetworkLayout,
                  lr: float | None, policy: DoctorTolerance, tolerance: Tolerance, step: bool = False) -> MistakeMatch | None:
    """The first known mistake whose gradients, times one common factor, are close to the user's
    (`compare` under the gradient `tolerance`) on every parameter in `names` (user layout);
    exact matches (factor 1 within ``policy.factor()``) are preferred. `step`: the gradients are
    implied by an update (replays of wrong update loops apply)."""
    matches = []
    with np.errstate(all="ignore"):
        candidates = known_mistakes(net, lr, step) + fitted_penalties(net, params, X, y, user_grads, names, layout, policy)
        for mistake in candidates:
            expected = layout.to_user(mistake.gradients(net, params, X, y))
            if not all(np.all(np.isfinite(expected[n])) for n in names):
                continue
            energy = sum(float(np.vdot(expected[n], expected[n])) for n in names)
            if energy == 0:
                continue
            factor = sum(float(np.vdot(user_grads[n], expected[n])) for n in names) / energy
            if factor != 0 and all(close(user_grads[n], factor * expected[n], tolerance) for n in names):
                if same_number(factor, 1.0, policy.factor()):
                    return MistakeMatch(mistake, 1.0)
                matches.append(MistakeMatch(mistake, factor))
    return matches[0] if matches else None
