"""Probes: extra calls of the user's code that explain what one comparison cannot.

* state: a second call at the same weights and batch must return the same gradients; a multiple
  of the first means accumulation (x2) or, for update-only code, momentum (x(1 + momentum)).
* batch size: rerun on the first half of the batch; a factor that follows m is a missing 1/m, one
  that follows 1/m an extra averaging.
* learning rate (step_fn taking lr): rerun at lr/2; a factor that follows lr means the learning
  rate is folded into the gradient and applied twice.

Two calls compare under the doctor's tolerances (`comparisons.tolerances.DOCTOR`): gradients with
`compare` at the gradient tolerance, losses at the loss tolerance, ratios of fitted factors at
``repeat_factor()`` (each carries the rounding of two calls).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

import scratchnet as sn
from comparisons.doctor.agreement import close, same_number
from comparisons.doctor.batch import Batch
from comparisons.doctor.layout import NetworkLayout
from comparisons.doctor.reference import reference_gradients
from comparisons.doctor.result import ProbeResult
from comparisons.doctor.spec import NetSpec
from comparisons.doctor.usercode import UserCode, UserCodeFailed
from comparisons.tolerances import DoctorTolerance


def fit(user: np.ndarray, reference: np.ndarray) -> tuple[float | None, float | None]:
    """Best-fit scale alpha = <user, reference>/<reference, reference> and the residual
    ||user - alpha reference|| / ||reference|| (None, None when the shapes differ or reference is 0)."""
    if user.shape != reference.shape:
        return None, None
    energy = float(np.vdot(reference, reference))
    if energy == 0 or not np.all(np.isfinite(user)):
        return None, None
    alpha = float(np.vdot(user, reference)) / energy
    return alpha, float(np.linalg.norm(user - alpha * reference)) / np.sqrt(energy)


def normalise_shapes(grads: Mapping[str, np.ndarray], layout: NetworkLayout) -> dict[str, np.ndarray]:
    """Bias gradients in any of (n,), (n, 1), (1, n) reshaped to the parameter's own shape."""
    out = {}
    for name, value in grads.items():
        shape = layout.shapes[name]
        if value.shape != shape and value.size == int(np.prod(shape)) and np.squeeze(value).shape == tuple(d for d in shape if d != 1):
            value = value.reshape(shape)
        out[name] = value
    return out


def _follows(ratio: float, expected: float, policy: DoctorTolerance) -> bool:
    return same_number(ratio, expected, policy.repeat_factor())


@dataclass
class StateOutcome:
    """`changed`: {name: second/first ratio (None if not a multiple)} for arrays whose second call
    differed; `accumulating`: names whose second call returned twice the first; `momentum`: the
    momentum implied by a common ratio 1 < r < 2 of update-only code (then not a bug)."""

    changed: dict[str, float | None] = field(default_factory=dict)
    accumulating: set[str] = field(default_factory=set)
    momentum: float | None = None
    loss_changed: bool = False

    @property
    def stateful(self) -> set[str]:
        return set() if self.momentum is not None else set(self.changed)

    @property
    def carries_state(self) -> bool:
        return bool(self.changed) or self.loss_changed


def probe_state(user: UserCode, params: Mapping[str, np.ndarray], batch: Batch, layout: NetworkLayout,
                first_grads: Mapping[str, np.ndarray], first_loss: float | None, policy: DoctorTolerance,
                largest: float) -> tuple[StateOutcome, ProbeResult]:
    """Call a second time with the same weights and batch and compare with the first call
    (`largest`: the largest reference gradient entry, which sets the gradient tolerance's floor)."""
    same, multiple = policy.gradient(largest), policy.gradient(largest, repeat=True)
    outcome = StateOutcome()
    try:
        second = user.evaluate(params, batch.X_user, batch.y_user, "second call, same weights and batch (state probe)")
    except UserCodeFailed as failed:
        return outcome, ProbeResult("state", "failed", f"the second call failed: {failed.failure.message}", {"error": failed.failure.to_dict()})
    grads = normalise_shapes(second.grads, layout)
    for name in layout.names:
        one, two = first_grads[name], grads[name]
        if one.shape == two.shape and (close(two, one, same) or (np.array_equal(one, two, equal_nan=True))):
            continue
        alpha, _ = fit(two, one)
        outcome.changed[name] = alpha if alpha is not None and close(two, alpha * one, multiple) else None
        if outcome.changed[name] is not None and same_number(alpha, 2.0, policy.repeat_factor()):
            outcome.accumulating.add(name)
    if first_loss is not None and second.loss is not None:
        outcome.loss_changed = not same_number(second.loss, first_loss, policy.loss())
    ratios = list(outcome.changed.values())
    moving = [n for n in layout.names if np.any(first_grads[n] != 0)]
    if (user.mode == "step_fn" and ratios and set(outcome.changed) == set(moving) and None not in ratios
            and np.ptp(ratios) <= policy.repeat_factor().rtol * max(ratios) and 1.0 < ratios[0] < 2.0 - policy.momentum_margin):
        outcome.momentum = float(np.mean(ratios)) - 1.0
    details = {"changed": outcome.changed, "accumulating": sorted(outcome.accumulating), "momentum": outcome.momentum,
               "loss_changed": outcome.loss_changed}
    if outcome.momentum is not None:
        summary = (f"the second update at the same weights is {1 + outcome.momentum:.4g} x the first, as momentum "
                   f"{outcome.momentum:.4g} gives: the first update (zero velocity) was used, and the probes that need "
                   "more calls were skipped because later calls carry velocity")
    elif outcome.accumulating and set(outcome.accumulating) == set(outcome.changed):
        summary = ("a second call at the same weights returned 2 x the first for "
                   f"{', '.join(sorted(outcome.accumulating, key=layout.names.index))}: gradients accumulate across calls")
    elif outcome.changed:
        summary = (f"a second call at the same weights returned different gradients for "
                   f"{', '.join(sorted(outcome.changed, key=layout.names.index))}: the code keeps state between calls (or is random)")
    elif outcome.loss_changed:
        summary = "the gradients repeat, but the loss changed between two calls at the same weights: the loss keeps state"
    else:
        summary = "two calls at the same weights returned the same gradients (no state carried between calls)"
    return outcome, ProbeResult("state", "ran", summary, details)


def probe_batch_size(user: UserCode, params: Mapping[str, np.ndarray], batch: Batch, net: sn.MLP, spec: NetSpec,
                     layout: NetworkLayout, canonical: Mapping[str, np.ndarray], factors: Mapping[str, float],
                     loss_ratio: float | None, policy: DoctorTolerance,
                     data_only: frozenset[str] | set[str] = frozenset()) -> tuple[dict[str, str], ProbeResult]:
    """Rerun on the first half of the batch; {name: "m" | "1/m" | "none" | "other"} for the
    constant factors in `factors` (and "loss" for the loss ratio). `spec` is the declared one
    (an ``l2_per`` penalty is resolved for the smaller batch); for `data_only` names the factor
    is the data term's: the L2 term of the smaller batch's reference is taken off first."""
    m = batch.m
    if m < 2:
        return {}, ProbeResult("batch size", "skipped", "one sample only: no smaller batch to compare with")
    count = m // 2
    smaller = batch.first(count, net)
    small_spec = spec.at_batch(count)
    reference = reference_gradients(small_spec, canonical, smaller.X, smaller.y)
    expected = layout.to_user(reference.grads)
    penalty = {}
    if data_only and small_spec.l2:
        data = layout.to_user(reference_gradients(small_spec.without_l2(), canonical, smaller.X, smaller.y).grads)
        penalty = {name: expected[name] - data[name] for name in data_only}
        expected = {**expected, **{name: data[name] for name in data_only}}
    try:
        evaluation = user.evaluate(params, smaller.X_user, smaller.y_user, f"batch-size probe, the first {count} of {m} samples")
    except UserCodeFailed as failed:
        return {}, ProbeResult("batch size", "failed", f"the call on {count} samples failed: {failed.failure.message}",
                               {"error": failed.failure.to_dict()})
    grads = normalise_shapes(evaluation.grads, layout)
    grads = {name: grads[name] - penalty[name] if name in penalty else grads[name] for name in grads}
    follows, details = {}, {}
    for name, factor in factors.items():
        alpha, _ = fit(grads[name], expected[name])
        if alpha is None:
            continue
        follows[name] = _classify_follow(alpha / factor, count / m, policy)
        details[name] = {"factor": alpha, "follows": follows[name]}
    if loss_ratio is not None and evaluation.loss is not None and reference.loss:
        follows["loss"] = _classify_follow(evaluation.loss / reference.loss / loss_ratio, count / m, policy)
        details["loss"] = {"factor": evaluation.loss / reference.loss, "follows": follows["loss"]}
    shown = ", ".join(f"{name} x{info['factor']:.4g}" for name, info in details.items())
    verdicts = sorted(set(follows.values()))
    meaning = {"m": "the factor follows the batch size m", "1/m": "the factor follows 1/m",
               "none": "the factor does not depend on the batch size", "other": "the factor changes with the batch in no simple way"}
    summary = f"with the first {count} of {m} samples: {shown or 'nothing to compare'}" + (
        " -> " + "; ".join(meaning[v] for v in verdicts) if verdicts else "")
    return follows, ProbeResult("batch size", "ran", summary, {"samples": count, "factors": details})


def _classify_follow(ratio: float, shrink: float, policy: DoctorTolerance) -> str:
    if _follows(ratio, shrink, policy):
        return "m"
    if _follows(ratio, 1.0 / shrink, policy):
        return "1/m"
    if _follows(ratio, 1.0, policy):
        return "none"
    return "other"


def probe_learning_rate(user: UserCode, params: Mapping[str, np.ndarray], batch: Batch, expected: Mapping[str, np.ndarray],
                        layout: NetworkLayout, factors: Mapping[str, float], policy: DoctorTolerance,
                        data: Mapping[str, np.ndarray] | None = None,
                        data_only: frozenset[str] | set[str] = frozenset()) -> tuple[dict[str, str], ProbeResult]:
    """Rerun update-only code at lr/2; {name: "lr" | "1/lr" | "none" | "other"} for `factors`
    (for `data_only` names, of the data term `data`: the L2 term ``expected - data`` taken off)."""
    if user.lr_keyword is None:
        return {}, ProbeResult("learning rate", "skipped",
                               f"{user.function_name} takes no lr (learning_rate, eta, alpha, step_size) argument, so the learning "
                               "rate could not be varied")
    lr = user.lr / 2.0
    try:
        evaluation = user.evaluate(params, batch.X_user, batch.y_user, f"learning-rate probe at {user.lr_keyword}={lr:g}", lr=lr)
    except UserCodeFailed as failed:
        return {}, ProbeResult("learning rate", "failed", f"the call at lr={lr:g} failed: {failed.failure.message}",
                               {"error": failed.failure.to_dict()})
    grads = normalise_shapes(evaluation.grads, layout)
    if data is not None and data_only:
        grads = {name: grads[name] - (expected[name] - data[name]) if name in data_only else grads[name] for name in grads}
        expected = {name: data[name] if name in data_only else expected[name] for name in expected}
    follows, details = {}, {}
    for name, factor in factors.items():
        alpha, _ = fit(grads[name], expected[name])
        if alpha is None:
            continue
        ratio = alpha / factor
        follows[name] = ("lr" if _follows(ratio, 0.5, policy) else "1/lr" if _follows(ratio, 2.0, policy)
                         else "none" if _follows(ratio, 1.0, policy) else "other")
        details[name] = {"factor": alpha, "follows": follows[name]}
    meaning = {"lr": "the factor follows the learning rate", "1/lr": "the update does not scale with lr",
               "none": "the factor does not depend on the learning rate", "other": "the factor changes with lr in no simple way"}
    shown = ", ".join(f"{name} x{info['factor']:.4g}" for name, info in details.items())
    summary = f"at lr = {lr:g}: {shown or 'nothing to compare'}" + (
        " -> " + "; ".join(meaning[v] for v in sorted(set(follows.values()))) if follows else "")
    return follows, ProbeResult("learning rate", "ran", summary, {"lr": lr, "factors": details})
