"""Central differences of the user's *own* loss (grad_fn only).

They separate "the backprop is wrong" (the user's gradients disagree with their own loss) from
"the loss is not the declared one" (they agree with their own loss but not with the reference).
Stencil and step as `scratchnet.gradcheck`: ``(f(t-2h) - 8 f(t-h) + 8 f(t+h) - f(t+2h)) / 12h``
with ``h = eps**(1/5) * max(1, |t|)`` for the parameter's dtype. At most `max_entries` entries
per tensor are checked (always including the largest reference entry); entries whose step moves a
ReLU-family pre-activation of the declared network across 0 (a kink) are skipped. The checked
entries are compared with `comparisons.diff.compare` under ``DoctorTolerance.own_loss``: the
error is normwise, relative to the largest central difference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

import scratchnet as sn
from comparisons.doctor.agreement import measure
from comparisons.doctor.batch import Batch
from comparisons.doctor.layout import NetworkLayout
from comparisons.doctor.usercode import UserCode
from comparisons.tolerances import DoctorTolerance, Tolerance


@dataclass(frozen=True)
class OwnLossCheck:
    """One tensor: `entries` compared (`kinks` skipped); relative error (`compare`'s max_rel) of
    your gradient and of the reference against central differences of your loss, and whether
    each agrees (`compare`'s passed)."""

    entries: int
    kinks: int
    error_yours: float
    error_reference: float
    agrees_yours: bool
    agrees_reference: bool


def own_loss_differences(user: UserCode, params: Mapping[str, np.ndarray], batch: Batch, layout: NetworkLayout,
                         net: sn.MLP, names: list[str], your_grads: Mapping[str, np.ndarray],
                         reference_grads: Mapping[str, np.ndarray], loss: float, policy: DoctorTolerance,
                         max_entries: int = 12) -> dict[str, OwnLossCheck]:
    """Check `names` (user layout); raises `UserCodeFailed` if a call fails."""
    kinked = [i for i, a in enumerate(net.activations) if a.kinked]
    base_signs = _signs(net, layout, params, batch, kinked)
    tolerance = policy.own_loss(loss)
    checks = {}
    for name in names:
        value = np.array(params[name], copy=True)
        dtype = value.dtype if value.dtype.kind == "f" else np.dtype(np.float64)
        value = value.astype(dtype)
        numeric, yours, reference, kinks = [], [], [], 0
        for index in _entries(reference_grads[name], max_entries):
            original = value[index]
            h = float(np.finfo(dtype).eps) ** 0.2 * max(1.0, abs(float(original)))
            samples, crossed = [], False
            for multiple in (-2, -1, 1, 2):
                value[index] = original + multiple * h
                trial = {**params, name: value}
                samples.append(user.loss_at(trial, batch.X_user, batch.y_user, f"central difference of your loss, {name}{list(index)}"))
                crossed = crossed or (bool(kinked) and _signs(net, layout, trial, batch, kinked) != base_signs)
            value[index] = original
            if crossed:
                kinks += 1
                continue
            numeric.append((samples[0] - 8 * samples[1] + 8 * samples[2] - samples[3]) / (12 * h))
            yours.append(your_grads[name][index])
            reference.append(reference_grads[name][index])
        numeric_array = np.array(numeric, dtype=np.float64)
        error_yours, agrees_yours = _relative(np.array(yours, dtype=np.float64), numeric_array, tolerance)
        error_reference, agrees_reference = _relative(np.array(reference, dtype=np.float64), numeric_array, tolerance)
        checks[name] = OwnLossCheck(len(numeric), kinks, error_yours, error_reference, agrees_yours, agrees_reference)
    return checks


def _entries(reference: np.ndarray, max_entries: int) -> list[tuple[int, ...]]:
    indices = [tuple(int(i) for i in index) for index in np.ndindex(reference.shape)]
    if len(indices) <= max_entries:
        return indices
    largest = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(reference))), reference.shape))
    rng = np.random.default_rng(0)
    others = [indices[i] for i in rng.choice(len(indices), size=max_entries, replace=False) if indices[i] != largest]
    return [largest] + others[: max_entries - 1]


def _relative(gradient: np.ndarray, differences: np.ndarray, tolerance: Tolerance) -> tuple[float, bool]:
    """(`compare`'s max_rel, passed) of gradient entries against central differences; (NaN, False)
    when every entry was skipped."""
    if differences.size == 0:
        return float("nan"), False
    diff = measure(gradient, differences, tolerance)
    return diff.max_rel, diff.passed


def _signs(net: sn.MLP, layout: NetworkLayout, params: Mapping[str, np.ndarray], batch: Batch, layers: list[int]) -> list[bytes]:
    if not layers:
        return []
    zs, _ = net.forward(batch.X, layout.to_canonical(params))
    return [(zs[i] > 0).tobytes() for i in layers]
