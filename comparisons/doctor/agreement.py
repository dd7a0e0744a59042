"""Every "is a close to b" of the doctor, through the project's one comparison engine.

`comparisons.diff.compare` measures (max_abs, normwise max_rel, cosine, allowed, passed) and
`comparisons.tolerances.doctor_tolerance` says how close is close; this module only adapts the
doctor's cases to them: tensors of possibly different shapes (never close), and single numbers
(losses, fitted factors), which are 1-element tensors to `compare`.
"""
from __future__ import annotations

import numpy as np

from comparisons.diff import TensorDiff, compare
from comparisons.tolerances import Tolerance


def measure(checked: np.ndarray, reference: np.ndarray, tolerance: Tolerance) -> TensorDiff:
    """`compare` of two same-shape float64 tensors. (max_rel is infinite against an all-zero
    reference under a tolerance without atol; that overflow is expected, not warned about.)"""
    with np.errstate(over="ignore"):
        return compare(np.asarray(checked, dtype=np.float64), np.asarray(reference, dtype=np.float64), tolerance)


def close(checked: np.ndarray, reference: np.ndarray, tolerance: Tolerance) -> bool:
    """`checked` agrees with `reference` under `tolerance` (normwise:
    ``max|checked - reference| <= atol + rtol * max|reference|``); tensors of different shapes never do."""
    if np.shape(checked) != np.shape(reference):
        return False
    return measure(checked, reference, tolerance).passed


def same_number(value: float, reference: float, tolerance: Tolerance) -> bool:
    """``|value - reference| <= atol + rtol * |reference|``, as `compare` decides it."""
    return measure(np.array([value], dtype=np.float64), np.array([reference], dtype=np.float64), tolerance).passed


def is_zero(values: np.ndarray, allowed: float) -> bool:
    """Every entry of `values` is within `allowed` of 0."""
    return measure(values, np.zeros(np.shape(values)), Tolerance(rtol=0.0, atol=allowed)).passed
