"""Central differences of the user's *own* loss (grad_fn only).

They separate "the backprop is wrong" (the user's gradients disagree with their own loss) from
"the loss is not the declared one" (they agree with their own loss but not with the reference).
Stencil as `scratchnet.gradcheck`: ``(f(t-2h) - 8 f(t-h) + 8 f(t+h) - f(t+2h)) / 12h``, with
steps that follow the point instead of assuming weights of order 1:

* the step starts at ``h = eps**(1/5) * max(1, |t|)`` for the parameter's dtype and is quartered
  (at most `MAX_SHRINK` times) while it would move a ReLU-family pre-activation of the declared
  network across 0 (a kink): with cs231n's 1e-4 weights the pre-activations are ~1e-3, so the
  step shrinks to fit between them; an entry that cannot avoid a kink is skipped;
* its error is measured for the values actually used: rounding ``ROUNDING * eps * max|f| / h``
  (1.5, the stencil's weights summed over 12) and a truncation estimate, the gap between the
  5-point and the 3-point difference at the same h.

At most `max_entries` entries per tensor are checked (always including the largest reference
entry). The checked entries are compared with `comparisons.diff.compare` under
``DoctorTolerance.own_loss`` (normwise, relative to the largest central difference, atol from
the measured error); a tensor whose gradients stay below what that error can resolve is
reported as unresolved, never as agreeing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

import scratchnet as sn
from comparisons.doctor.agreement import measure
from comparisons.doctor.batch import Batch
from comparisons.doctor.layout import NetworkLayout
from comparisons.doctor.result import ProbeResult
from comparisons.doctor.usercode import UserCode
from comparisons.tolerances import DoctorTolerance, Tolerance

MAX_SHRINK = 12  # quarterings of the step to avoid a kink: down to 4**-12 ~ 6e-8 of the first step
STENCIL = (1, -8, 8, -1)  # weights of f(t-2h), f(t-h), f(t+h), f(t+2h); the sum over 12h
ROUNDING = sum(abs(weight) for weight in STENCIL) / 12  # the stencil's rounding error, in eps * max|f| / h


@dataclass(frozen=True)
class OwnLossCheck:
    """One tensor: `entries` compared (`kinks` skipped because every step crossed a kink);
    relative error (`compare`'s max_rel) of your gradient and of the reference against central
    differences of your loss, and whether each agrees (`compare`'s passed); `resolved`: the
    differences can tell these gradients from 0 (else neither agreement is claimed); `noise`:
    the error allowed (atol) from the measured rounding and truncation; `step`: the largest
    step used."""

    entries: int
    kinks: int
    error_yours: float
    error_reference: float
    agrees_yours: bool
    agrees_reference: bool
    resolved: bool = True
    noise: float = 0.0
    step: float = 0.0

    @property
    def status(self) -> str:
        """'skipped' (no entry could be checked), 'unresolved', 'agrees' or 'disagrees' (yours)."""
        if not self.entries:
            return "skipped"
        if not self.resolved:
            return "unresolved"
        return "agrees" if self.agrees_yours else "disagrees"


def own_loss_differences(user: UserCode, params: Mapping[str, np.ndarray], batch: Batch, layout: NetworkLayout,
                         net: sn.MLP, names: list[str], your_grads: Mapping[str, np.ndarray],
                         reference_grads: Mapping[str, np.ndarray], policy: DoctorTolerance,
                         max_entries: int = 12) -> dict[str, OwnLossCheck]:
    """Check `names` (user layout); raises `UserCodeFailed` if a call fails."""
    kinked = [i for i, a in enumerate(net.activations) if a.kinked]
    base_signs = _signs(net, layout, params, batch, kinked)
    checks = {}
    for name in names:
        value = np.array(params[name], copy=True)
        dtype = value.dtype if value.dtype.kind == "f" else np.dtype(np.float64)
        value = value.astype(dtype)
        eps = float(np.finfo(dtype).eps)
        numeric, yours, reference, rounding, truncation, steps, kinks = [], [], [], [], [], [], 0
        for index in _entries(reference_grads[name], max_entries):
            original = float(value[index])
            h = eps ** 0.2 * max(1.0, abs(original))
            for _ in range(MAX_SHRINK + 1):
                if not kinked or all(_signs(net, layout, {**params, name: _moved(value, index, original + k * h)}, batch, kinked)
                                     == base_signs for k in (-2, -1, 1, 2)):
                    break
                h /= 4
            else:
                kinks += 1
                continue
            samples = [user.loss_at({**params, name: _moved(value, index, original + k * h)}, batch.X_user, batch.y_user,
                                    f"central difference of your loss, {name}{list(index)}") for k in (-2, -1, 1, 2)]
            five = sum(weight * sample for weight, sample in zip(STENCIL, samples)) / (12 * h)
            three = (samples[2] - samples[1]) / (2 * h)
            numeric.append(five)
            rounding.append(ROUNDING * eps * max(abs(s) for s in samples) / h)
            truncation.append(abs(five - three))
            steps.append(h)
            yours.append(your_grads[name][index])
            reference.append(reference_grads[name][index])
        if not numeric:
            checks[name] = OwnLossCheck(0, kinks, float("nan"), float("nan"), False, False, False)
            continue
        tolerance = policy.own_loss(max(rounding))
        tolerance = Tolerance(rtol=tolerance.rtol, atol=tolerance.atol + max(truncation))
        numeric_array = np.array(numeric, dtype=np.float64)
        yours_array, reference_array = np.array(yours, dtype=np.float64), np.array(reference, dtype=np.float64)
        scale = max(float(np.max(np.abs(a))) for a in (numeric_array, yours_array, reference_array))
        resolved = policy.own_loss_resolved(scale, tolerance.atol)
        error_yours, agrees_yours = _relative(yours_array, numeric_array, tolerance)
        error_reference, agrees_reference = _relative(reference_array, numeric_array, tolerance)
        checks[name] = OwnLossCheck(len(numeric), kinks, error_yours, error_reference, agrees_yours, agrees_reference,
                                    resolved, tolerance.atol, max(steps))
    return checks


def _moved(value: np.ndarray, index: tuple[int, ...], entry: float) -> np.ndarray:
    moved = value.copy()
    moved[index] = entry
    return moved


def _entries(reference: np.ndarray, max_entries: int) -> list[tuple[int, ...]]:
    indices = [tuple(int(i) for i in index) for index in np.ndindex(reference.shape)]
    if len(indices) <= max_entries:
        return indices
    largest = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(reference))), reference.shape))
    rng = np.random.default_rng(0)
    others = [indices[i] for i in rng.choice(len(indices), size=max_entries, replace=False) if indices[i] != largest]
    return [largest] + others[: max_entries - 1]


def _relative(gradient: np.ndarray, differences: np.ndarray, tolerance: Tolerance) -> tuple[float, bool]:
    """(`compare`'s max_rel, passed) of gradient entries against central differences."""
    diff = measure(gradient, differences, tolerance)
    return diff.max_rel, diff.passed


def _signs(net: sn.MLP, layout: NetworkLayout, params: Mapping[str, np.ndarray], batch: Batch, layers: list[int]) -> list[bytes]:
    if not layers:
        return []
    zs, _ = net.forward(batch.X, layout.to_canonical(params))
    return [(zs[i] > 0).tobytes() for i in layers]


def own_loss_probe(checks: Mapping[str, OwnLossCheck], names: list[str], off: list[str], loss_status: str) -> ProbeResult:
    """The "own loss" probe in words: `checks` of `names` (`own_loss_differences`), of which
    `off` differ from the reference; `loss_status`: the user's loss against the declared one
    ("match", "mismatch", "unavailable")."""
    status = {n: checks[n].status for n in names}
    loss_matches = loss_status == "match"
    loss_word = "matches the declared one" if loss_matches else "differs from the declared one as well"
    parts = []
    agree = [n for n in off if status[n] == "agrees"]
    disagree = [n for n in off if status[n] == "disagrees"]
    if disagree:
        parts.append(f"{_names(disagree, off)} {_verb('disagree', disagree, off)} with central differences of your own loss: "
                     f"the backprop is wrong (your loss {loss_word})")
    if agree and loss_matches:
        parts.append(f"{_names(agree, off)} {_verb('agree', agree, off)} with central differences of your own loss, which "
                     "equals the declared loss at this point: your loss function differs from the declared one only away from "
                     "this point (a term that is 0 here but whose slope is not)")
    elif agree:
        parts.append(f"{_names(agree, off)} {_verb('agree', agree, off)} with central differences of your own loss, but not "
                     "with the reference: your loss is not the declared one (see loss)")
    if not off:
        wrong = [n for n in names if status[n] == "disagrees"]
        fine = [n for n in names if status[n] == "agrees"]
        if wrong:
            parts.append("your gradients match the reference, but not central differences of your own loss: the loss you "
                         "return is not the function your gradients differentiate")
        elif fine and len(fine) == len(names):
            parts.append("your gradients match the reference and your own loss")
    unchecked = [n for n in names if status[n] in ("skipped", "unresolved")]
    if unchecked:
        parts.append(_unchecked(unchecked, checks))
    summary = "; ".join(parts) if parts else "central differences of your loss were inconclusive"
    details = {n: {"entries": c.entries, "kinks_skipped": c.kinks, "error_yours": c.error_yours,
                   "error_reference": c.error_reference, "status": c.status, "allowed": c.noise, "step": c.step}
               for n, c in checks.items()}
    return ProbeResult("own loss", "ran", summary, details)


def _names(chosen: list[str], among: list[str]) -> str:
    return "your gradients" if chosen == among else ", ".join(chosen)


def _verb(verb: str, chosen: list[str], among: list[str]) -> str:
    return verb if chosen == among or len(chosen) > 1 else verb + "s"


def _unchecked(names: list[str], own: dict) -> str:
    """Why some tensors could not be judged by central differences (never an agreement)."""
    skipped = [n for n in names if own[n].status == "skipped"]
    unresolved = [n for n in names if own[n].status == "unresolved"]
    texts = []
    if skipped:
        texts.append(f"{', '.join(skipped)} could not be checked against your loss: every step, even shrunk "
                     "to fit between the pre-activations, moved a ReLU-family unit across its kink")
    if unresolved:
        noise = max(own[n].noise for n in unresolved)
        their = "their gradients are" if len(unresolved) > 1 else "its gradient is"
        texts.append(f"{', '.join(unresolved)} could not be checked against your loss: at this point {their} below what "
                     f"central differences resolve (error allowed {noise:.1e}), so no agreement is claimed")
    return "; ".join(texts)

