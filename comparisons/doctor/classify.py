"""Classify one gradient tensor of the user's against the reference, in the user's layout.

Measures (shared/research/bug-taxonomy.md sec. 2): best-fit scale ``alpha = <g, r> / <r, r>``,
residual ``||g - alpha r|| / ||r||``, cosine, max abs error, max relative error
``max |g - r| / max(|g|, |r|, 1e-3 max|r|)``, a transposed match, exact zeros, shapes. The
decision, in order: shape -> ok (``max|g - r| <= rtol * max|r|``) -> zero -> constant multiple
(sign_flipped for -1, scaled otherwise) -> transposed -> wrong, with the elementwise pattern.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from comparisons.doctor.factors import Context, FactorName, name_factor
from comparisons.doctor.layout import AugmentedWeight, Bias, Placement


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


def tensors_close(user: np.ndarray, reference: np.ndarray, rtol: float, floor: float) -> bool:
    """``max |user - reference| <= rtol * max(max|reference|, floor)``; shapes must be equal."""
    if user.shape != reference.shape:
        return False
    scale = max(float(np.max(np.abs(reference), initial=0.0)), floor)
    return bool(np.all(np.isfinite(user))) and float(np.max(np.abs(user - reference), initial=0.0)) <= rtol * scale


def compare_tensor(user: np.ndarray, reference: np.ndarray, placement: Placement, fans: tuple[int, int],
                   context: Context, rtol: float, floor: float, samples_as_columns: bool = False) -> TensorComparison:
    """Classify `user` against `reference` (both float64, reference in the user's layout).

    `floor`: the smallest gradient scale that counts (a small fraction of the largest reference
    entry over all tensors), so a tensor whose reference is ~0 is judged absolutely.
    """
    expected = tuple(reference.shape)
    got = tuple(user.shape)
    if got != expected and isinstance(placement, Bias) and user.size == reference.size and np.squeeze(user).shape == np.squeeze(reference).shape:
        user = user.reshape(expected)
        got = expected
    if got != expected:
        if user.ndim == 2 and got == expected[::-1] and tensors_close(user, reference.T, rtol, floor):
            return _measured(TensorComparison("transposed", expected, got, fix="return its transpose (.T)"), user, reference.T, floor)
        return TensorComparison("shape_mismatch", expected, got, fix=shape_fix(placement, expected, got, fans, context.m, samples_as_columns))
    if not np.all(np.isfinite(user)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(user))[0])
        return TensorComparison("wrong", expected, got, pattern=[f"it contains NaN or Inf (first at index {bad})"])
    result = _measured(TensorComparison("wrong", expected, got), user, reference, floor)
    if tensors_close(user, reference, rtol, floor):
        result.kind = "ok"
        return result
    reference_scale = max(float(np.max(np.abs(reference), initial=0.0)), floor)
    if float(np.max(np.abs(user), initial=0.0)) <= 1e-3 * rtol * reference_scale:
        result.kind, result.factor = "zero", 0.0
        return result
    if result.residual is not None and result.residual <= rtol:
        alpha = result.best_fit
        result.factor = alpha
        if abs(alpha + 1.0) <= rtol:
            result.kind = "sign_flipped"
            return result
        result.kind = "scaled"
        result.factor_names = name_factor(alpha, context, rtol=max(rtol, 1e-9))
        informative = int(np.sum(np.abs(reference) > 1e-8 * reference_scale))
        result.needs_corroboration = informative <= 1 and not result.factor_names
        return result
    if user.ndim == 2 and user.shape[0] == user.shape[1] and tensors_close(user, reference.T, rtol, floor):
        result.kind = "transposed"
        result.fix = "return its transpose (.T)"
        return result
    result.pattern = elementwise_pattern(user, reference, placement, fans, rtol * reference_scale)
    return result


def _measured(result: TensorComparison, user: np.ndarray, reference: np.ndarray, floor: float) -> TensorComparison:
    difference = np.abs(user - reference)
    scale = max(float(np.max(np.abs(reference), initial=0.0)), floor)
    result.max_abs = float(np.max(difference, initial=0.0))
    denominator = np.maximum(np.maximum(np.abs(user), np.abs(reference)), 1e-3 * scale)
    result.max_rel = float(np.max(difference / denominator, initial=0.0))
    norm_reference = float(np.linalg.norm(reference))
    norm_user = float(np.linalg.norm(user))
    if norm_reference > 0:
        alpha = float(np.vdot(user, reference)) / norm_reference**2
        result.best_fit = alpha
        result.residual = float(np.linalg.norm(user - alpha * reference)) / norm_reference
        if norm_user > 0:
            result.cosine = float(np.vdot(user, reference)) / (norm_user * norm_reference)
    return result


def bias_part_only(user: np.ndarray, reference: np.ndarray, placement: Placement, fans: tuple[int, int],
                   rtol: float, floor: float) -> bool:
    """True for a bias, or for an augmented weight whose weight block matches the reference and
    whose bias row/column does not: then only a bias formula is wrong."""
    if isinstance(placement, Bias):
        return True
    if not isinstance(placement, AugmentedWeight) or user.shape != reference.shape:
        return False
    rows_user = user if placement.layout == "in_out" else user.T
    rows_reference = reference if placement.layout == "in_out" else reference.T
    index = placement.bias_index(fans[0])
    weights_match = tensors_close(np.delete(rows_user, index, axis=0), np.delete(rows_reference, index, axis=0), rtol, floor)
    return weights_match and not tensors_close(rows_user[index], rows_reference[index], rtol, floor)


def elementwise_pattern(user: np.ndarray, reference: np.ndarray, placement: Placement, fans: tuple[int, int], tolerance: float) -> list[str]:
    """Phrases describing where and how `user` departs from `reference` (same shape)."""
    phrases = []
    bad = np.abs(user - reference) > tolerance
    zeros = int(np.sum((user == 0) & (reference != 0)))
    if zeros:
        phrases.append(f"{zeros} of {user.size} entries are exactly 0 where the reference is not")
    if user.ndim == 1 or (user.ndim == 2 and 1 in user.shape):
        flat = user.ravel()
        if flat.size > 1 and np.allclose(flat, flat[0], rtol=1e-12, atol=0.0):
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
        phrases.extend(_per_line_scales(user, reference, tolerance))
    agree = (np.sign(user) == np.sign(reference)) | (np.abs(reference) <= tolerance)
    flipped = 1.0 - float(np.mean(agree))
    if flipped > 0:
        phrases.append(f"the sign differs in {flipped:.0%} of the entries")
    return phrases


def _per_line_scales(user: np.ndarray, reference: np.ndarray, tolerance: float) -> list[str]:
    """'each column is the reference's column times its own factor' when that holds exactly."""
    for axis, axis_name in ((1, "column"), (0, "row")):
        factors = []
        for index in range(user.shape[axis]):
            u, r = user.take(index, axis=axis), reference.take(index, axis=axis)
            norm = float(np.vdot(r, r))
            if norm == 0:
                continue
            alpha = float(np.vdot(u, r)) / norm
            if np.max(np.abs(u - alpha * r)) > tolerance:
                break
            factors.append(alpha)
        else:
            if len(factors) > 1 and np.ptp(factors) > 1e-6 * max(abs(f) for f in factors):
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
