"""Classify one gradient tensor of the user's against the reference, in the user's layout.

Measures (shared/research/bug-taxonomy.md sec. 2): `comparisons.diff.compare` gives max abs
error, the normwise relative error ``max|g - r| / max(max|r|, floor)``, the cosine and the error
allowed; the doctor adds the best-fit scale ``alpha = <g, r> / <r, r>``, the residual
``||g - alpha r|| / ||r||``, a transposed match, exact zeros and shapes. Every "close" decision
goes through `compare` with the doctor's gradient tolerance (`comparisons.tolerances.DOCTOR`).
The decision, in order: shape -> ok (g close to r) -> zero -> constant multiple (g close to
alpha r: sign_flipped for alpha = -1, scaled otherwise) -> transposed -> wrong, with the
elementwise pattern.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from comparisons.diff import TensorDiff
from comparisons.doctor.agreement import close, is_zero, measure, same_number
from comparisons.doctor.factors import Context, FactorName, name_factor
from comparisons.doctor.layout import AugmentedWeight, Bias, Placement
from comparisons.tolerances import DoctorTolerance, Tolerance


@dataclass
class TensorComparison:
    """The outcome for one tensor; `kind` is final except that `scaled` with an unnamed factor on
    a tensor with one informative entry needs corroboration (`needs_corroboration`)."""

    kind: str
    expected_shape: tuple[int, ...]
    got_shape: tuple[int, ...]
    factor: float | None = None
    factor_names: list[FactorName] = field(default_factory=list)
    max_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    best_fit: float | None = None
    residual: float | None = None
    fix: str | None = None
    pattern: list[str] = field(default_factory=list)
    needs_corroboration: bool = False
    first_call: str | None = None  # for kind "stateful": what the first call alone looked like
    unroll: str | None = None  # for kind "transposed" of the same shape: "F" or "C", the order the block was unrolled in
    split: object | None = None  # `terms.TermSplit` of a wrong tensor taken apart
    term: str | None = None  # the part ("data term", "bias column (column 0)") whose kind this is, when not the whole


def tensors_close(user: np.ndarray, reference: np.ndarray, tolerance: Tolerance) -> bool:
    """`comparisons.diff.compare(user, reference, tolerance).passed`; shapes must be equal."""
    return close(user, reference, tolerance)


def compare_tensor(user: np.ndarray, reference: np.ndarray, placement: Placement, fans: tuple[int, int],
                   context: Context, policy: DoctorTolerance, tolerance: Tolerance,
                   samples_as_columns: bool = False) -> TensorComparison:
    """Classify `user` against `reference` (both float64, reference in the user's layout).

    `tolerance`: the gradient tolerance, ``policy.gradient(largest)``; its atol carries the floor
    (``atol / rtol``, a small fraction of the largest reference entry over all tensors), so a
    tensor whose reference is ~0 is judged absolutely.
    """
    expected = tuple(reference.shape)
    got = tuple(user.shape)
    if got != expected and isinstance(placement, Bias) and user.size == reference.size and np.squeeze(user).shape == np.squeeze(reference).shape:
        user = user.reshape(expected)
        got = expected
    if got != expected:
        if user.ndim == 2 and got == expected[::-1] and tensors_close(user, reference.T, tolerance):
            result, _ = _measured(TensorComparison("transposed", expected, got, fix="return its transpose (.T)"), user, reference.T, tolerance)
            return result
        return TensorComparison("shape_mismatch", expected, got, fix=shape_fix(placement, expected, got, fans, context.m, samples_as_columns))
    if not np.all(np.isfinite(user)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(user))[0])
        return TensorComparison("wrong", expected, got, pattern=[f"it contains NaN or Inf (first at index {bad})"])
    result, diff = _measured(TensorComparison("wrong", expected, got), user, reference, tolerance)
    if diff.passed:
        result.kind = "ok"
        return result
    if is_zero(user, policy.zero_fraction * diff.allowed):
        result.kind, result.factor = "zero", 0.0
        return result
    if result.best_fit is not None and close(user, result.best_fit * reference, tolerance):
        alpha = result.best_fit
        result.factor = alpha
        if same_number(alpha, -1.0, policy.factor()):
            result.kind = "sign_flipped"
            return result
        result.kind = "scaled"
        result.factor_names = name_factor(alpha, context, policy.factor())
        reference_scale = max(diff.scale, _floor(tolerance))
        informative = int(np.sum(np.abs(reference) > policy.informative_fraction * reference_scale))
        result.needs_corroboration = informative <= 1 and not result.factor_names
        return result
    if user.ndim == 2 and user.shape[0] == user.shape[1] and tensors_close(user, reference.T, tolerance):
        result.kind = "transposed"
        result.fix = "return its transpose (.T)"
        return result
    unroll = unroll_order(user, reference, tolerance)
    if unroll:
        result.kind, result.unroll = "transposed", unroll
        result.fix = UNROLL_FIX
        return result
    result.pattern = elementwise_pattern(user, reference, placement, fans, diff.allowed, policy)
    return result


UNROLL_FIX = ("unroll and roll back in the same order: Theta_grad.ravel() with .reshape(shape) (row-major), or "
              "order='F' in both (column-major, as MATLAB's Theta(:) and reshape)")


def unroll_order(user: np.ndarray, reference: np.ndarray, tolerance: Tolerance) -> str | None:
    """"F" when `user` is `reference` unrolled column-major (MATLAB's ``Theta(:)``,
    ``ravel(order='F')``) and rolled back row-major (``reshape``); "C" for the reverse; None
    otherwise. Only for non-square 2-D blocks (a square one is plainly transposed)."""
    if user.ndim != 2 or user.shape != reference.shape or user.shape[0] == user.shape[1] or min(user.shape) < 2:
        return None
    if tensors_close(user, reference.ravel(order="F").reshape(reference.shape), tolerance):
        return "F"
    if tensors_close(user, reference.ravel().reshape(reference.shape, order="F"), tolerance):
        return "C"
    return None


def _floor(tolerance: Tolerance) -> float:
    """The smallest reference scale `compare` measures against: ``atol / rtol``."""
    return tolerance.atol / tolerance.rtol if tolerance.rtol > 0 else 0.0


def _measured(result: TensorComparison, user: np.ndarray, reference: np.ndarray,
              tolerance: Tolerance) -> tuple[TensorComparison, TensorDiff]:
    """max_abs, max_rel and cosine from `compare`; the best-fit scale and the residual (the
    doctor's own least-squares analysis) where the reference is not 0."""
    diff = measure(user, reference, tolerance)
    result.max_abs = diff.max_abs
    result.max_rel = diff.max_rel
    norm_reference = float(np.linalg.norm(reference))
    if norm_reference > 0:
        alpha = float(np.vdot(user, reference)) / norm_reference**2
        result.best_fit = alpha
        result.residual = float(np.linalg.norm(user - alpha * reference)) / norm_reference
        if np.any(user != 0):
            result.cosine = diff.cosine
    return result, diff


def bias_part_only(user: np.ndarray, reference: np.ndarray, placement: Placement, fans: tuple[int, int],
                   tolerance: Tolerance) -> bool:
    """True for a bias, or for an augmented weight whose weight block matches the reference and
    whose bias row/column does not: then only a bias formula is wrong."""
    if isinstance(placement, Bias):
        return True
    if not isinstance(placement, AugmentedWeight) or user.shape != reference.shape:
        return False
    rows_user = user if placement.layout == "in_out" else user.T
    rows_reference = reference if placement.layout == "in_out" else reference.T
    index = placement.bias_index(fans[0])
    weights_match = tensors_close(np.delete(rows_user, index, axis=0), np.delete(rows_reference, index, axis=0), tolerance)
    return weights_match and not tensors_close(rows_user[index], rows_reference[index], tolerance)


def elementwise_pattern(user: np.ndarray, reference: np.ndarray, placement: Placement, fans: tuple[int, int],
                        allowed: float, policy: DoctorTolerance) -> list[str]:
    """Phrases describing where and how `user` departs from `reference` (same shape); `allowed`:
    the absolute error `compare` allows the whole tensor, applied entry by entry."""
    phrases = []
    bad = np.abs(user - reference) > allowed
    zeros = int(np.sum((user == 0) & (reference != 0)))
    if zeros:
        phrases.append(f"{zeros} of {user.size} entries are exactly 0 where the reference is not")
    if user.ndim == 1 or (user.ndim == 2 and 1 in user.shape):
        flat = user.ravel()
        if flat.size > 1 and close(flat, np.full_like(flat, flat[0]), Tolerance(rtol=policy.equal_entries_rtol, atol=0.0)):
            phrases.append(f"all entries are equal ({flat[0]:.4g}), so it does not depend on each unit's delta")
    if user.ndim == 2 and min(user.shape) > 1:
        bias_axis = bias_index = None
        if isinstance(placement, AugmentedWeight):
            bias_axis, bias_index = placement.bias_axis, placement.bias_index(fans[0])
        for axis, axis_name in ((0, "row"), (1, "column")):
            lines = np.flatnonzero(bad.any(axis=1 - axis))
            count = user.shape[axis]
            if bias_axis == axis_name and not bad.take(bias_index, axis=axis).any() and len(lines) == count - 1:
                phrases.append(f"the bias {axis_name} matches; every weight {axis_name} differs")
            elif 0 < len(lines) <= count // 2:
                where = ", ".join(str(i) for i in lines[:6]) + (", ..." if len(lines) > 6 else "")
                tag = f" (the bias {axis_name})" if bias_axis == axis_name and list(lines) == [bias_index] else ""
                phrases.append(f"only {axis_name}{'s' if len(lines) > 1 else ''} {where}{tag} of {count} differ{'s' if len(lines) == 1 else ''}")
        phrases.extend(_per_line_scales(user, reference, allowed, policy))
    agree = (np.sign(user) == np.sign(reference)) | (np.abs(reference) <= allowed)
    flipped = 1.0 - float(np.mean(agree))
    if flipped > 0:
        phrases.append(f"the sign differs in {flipped:.0%} of the entries")
    return phrases


def _per_line_scales(user: np.ndarray, reference: np.ndarray, allowed: float, policy: DoctorTolerance) -> list[str]:
    """'each column is the reference's column times its own factor' when that holds exactly."""
    for axis, axis_name in ((1, "column"), (0, "row")):
        factors = []
        for index in range(user.shape[axis]):
            u, r = user.take(index, axis=axis), reference.take(index, axis=axis)
            norm = float(np.vdot(r, r))
            if norm == 0:
                continue
            alpha = float(np.vdot(u, r)) / norm
            if not close(u, alpha * r, Tolerance(rtol=0.0, atol=allowed)):
                break
            factors.append(alpha)
        else:
            if len(factors) > 1 and np.ptp(factors) > policy.distinct_factors_rtol * max(abs(f) for f in factors):
                shown = ", ".join(f"{f:.3g}" for f in factors[:6]) + (", ..." if len(factors) > 6 else "")
                return [f"each {axis_name} is the reference's {axis_name} times its own factor ({shown})"]
    return []


def shape_fix(placement: Placement, expected: tuple[int, ...], got: tuple[int, ...], fans: tuple[int, int], m: int,
              samples_as_columns: bool) -> str:
    """The likely fix for a gradient of shape `got` where `expected` was due."""
    fan_in, fan_out = fans
    samples_axis = 1 if samples_as_columns else 0
    if len(got) == 2 and got == expected[::-1]:
        return "it is transposed: return its transpose (.T)"
    if isinstance(placement, Bias):
        if got in ((m,), (m, 1), (1, m)) and m != fan_out:
            return (f"its length is the batch size m = {m}: the delta was summed over the units axis; sum it over "
                    f"the samples axis instead: db = delta.sum(axis={samples_axis})")
        if len(got) == 2 and sorted(got) == sorted((m, fan_out)):
            return f"it still has one entry per sample: sum the delta over the samples axis, db = delta.sum(axis={samples_axis})"
        if int(np.prod(got)) == 1:
            return f"it is one number: the delta was summed over every axis; sum over the samples axis only (axis={samples_axis})"
    if not isinstance(placement, AugmentedWeight) and len(got) == 2 and (got == (fan_in + 1, fan_out) or got == (fan_out, fan_in + 1)):
        return "it has one extra row/column (a bias part): drop it, or declare the array as AugmentedWeight"
    if isinstance(placement, AugmentedWeight) and len(got) == 2 and sorted(got) == sorted((fan_in, fan_out)):
        return (f"it has no bias {placement.bias_axis}: insert the bias gradient (bias_input * delta summed over "
                f"samples) as the {placement.bias_position} {placement.bias_axis}")
    if m in got and len(got) > len(expected):
        return "it has a samples axis: sum the per-sample gradients over the samples"
    return f"return an array of shape {expected}"
