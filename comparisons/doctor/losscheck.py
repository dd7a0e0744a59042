"""The user's loss against the declared loss at the same weights and batch.

A mismatch means the forward pass or the loss formula is not the declared one. The doctor tries
to say which: another loss/reduction/scale/penalty among scratchnet's (e.g. "reduction='sum',
scale=0.5"), a constant factor (batch size, 2, ...), or neither.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Mapping

import numpy as np

import scratchnet as sn
from comparisons.doctor.agreement import same_number
from comparisons.doctor.backprop import penalty_sums
from comparisons.doctor.factors import Context, format_factor, name_factor
from comparisons.doctor.spec import NetSpec
from comparisons.tolerances import DoctorTolerance, Tolerance


@dataclass
class LossCheck:
    """`status`: "match", "mismatch" or "unavailable" (step_fn exposes no loss)."""

    status: str
    user: float | None
    reference: float | None
    ratio: float | None = None
    explanation: str = ""

    def to_dict(self) -> dict:
        return {"status": self.status, "user": self.user, "reference": self.reference, "ratio": self.ratio,
                "explanation": self.explanation}


def check_loss(user_loss: float | None, reference_loss: float, spec: NetSpec, params: Mapping[str, np.ndarray],
               X: np.ndarray, y: np.ndarray, context: Context, policy: DoctorTolerance) -> LossCheck:
    """Compare `user_loss` with `reference_loss` (canonical params, X (m, in), y (m, out)) under
    the doctor's loss tolerance, ``policy.loss()``."""
    if user_loss is None:
        return LossCheck("unavailable", None, reference_loss, explanation="step_fn exposes no loss, so the loss was not compared")
    tolerance = policy.loss()
    if not np.isfinite(user_loss):
        return LossCheck("mismatch", user_loss, reference_loss, explanation="your loss is not finite (NaN or Inf)")
    if same_number(user_loss, reference_loss, tolerance):
        return LossCheck("match", user_loss, reference_loss, 1.0, "forward pass and loss formula agree with the declared ones")
    ratio = user_loss / reference_loss if reference_loss else None
    parts = []
    alternative = _matching_declaration(user_loss, spec, params, X, y, tolerance)
    if alternative:
        parts.append(f"your loss is the declared network's with {alternative}")
    if ratio is not None:
        names = name_factor(ratio, context, policy.factor(rtol=tolerance.rtol))
        if names and not alternative:
            parts.append(f"your loss is {format_factor(ratio)} times the declared one ({names[0].text}): a constant factor "
                         "or a different reduction")
        elif not alternative:
            if format_factor(ratio) != "1":
                parts.append(f"your loss is {format_factor(ratio)} times the declared one, not a known constant or reduction")
            else:
                parts.append(f"your loss differs from the declared one by {user_loss - reference_loss:.3g}")
            parts.append(_penalty_reading(user_loss - reference_loss, spec, params))
    return LossCheck("mismatch", user_loss, reference_loss, ratio, "; ".join(parts))


def _penalty_reading(gap: float, spec: NetSpec, params: Mapping[str, np.ndarray]) -> str:
    """How an L2 penalty would explain a loss difference `gap`, or that the forward pass differs."""
    weights, _ = penalty_sums(spec.build(), params)
    if weights > 0 and spec.l2 + gap / weights > 0:
        return (f"an L2 penalty of {spec.l2 + gap / weights:.6g} * sum(W**2) would explain the difference (declared "
                f"l2 = {spec.l2:g}); if there is none, the forward pass or the loss formula differs")
    return "the forward pass or the loss formula differs"


def _matching_declaration(user_loss: float, spec: NetSpec, params: Mapping[str, np.ndarray], X: np.ndarray,
                          y: np.ndarray, tolerance: Tolerance) -> str | None:
    """The smallest change of loss, reduction, scale and l2 that reproduces `user_loss`, in words."""
    net = spec.build()
    zs, outs = net.forward(X, params)
    last = net.activations[-1]
    weights, biases = penalty_sums(net, params)
    losses = [name for name in sn.losses.NAMES if name == "squared_error" or last.name in ("sigmoid", "softmax")]
    scales = list(dict.fromkeys([spec.scale, 1.0, 0.5, 2.0]))
    penalties = [("declared", spec.l2 * weights)] + ([("none", 0.0), ("biases too", spec.l2 * (weights + biases))] if spec.l2 else [])
    found: list[list[str]] = []
    for name, reduction, scale, (penalty, penalty_value) in itertools.product(losses, sn.losses.REDUCTIONS, scales, penalties):
        loss = sn.losses.Loss(name, reduction, scale)
        with np.errstate(all="ignore"):
            value = loss.value_and_delta(zs[-1], outs[-1], y, last)[0] + penalty_value
        if not same_number(value, user_loss, tolerance):
            continue
        changes = [f"{field}={new!r}" for field, new, old in (("loss", name, spec.loss), ("reduction", reduction, spec.reduction),
                                                             ("scale", scale, spec.scale)) if new != old]
        if penalty == "none":
            changes.append("no L2 penalty")
        elif penalty == "biases too":
            changes.append("the L2 penalty on the biases too")
        if changes:
            found.append(changes)
    if not found:
        return None
    fewest = min(len(changes) for changes in found)
    return " or ".join(dict.fromkeys(", ".join(changes) for changes in found if len(changes) == fewest))
