"""Names for the constant factors hand-written backprop gets wrong.

A gradient that is a constant multiple of the reference usually comes from one of a few
slips (shared/research/bug-taxonomy.md rows 1-4): a missing or extra 1/m, the learning rate
folded in, the 2 of d(a-y)^2/da, the k of a per-element mean.
"""
from __future__ import annotations

from dataclasses import dataclass

from comparisons.doctor.agreement import same_number
from comparisons.tolerances import Tolerance


@dataclass(frozen=True)
class Context:
    """What a factor can be named after: batch size `m`, outputs `k`, learning rate `lr`."""

    m: int
    k: int
    lr: float | None = None


@dataclass(frozen=True)
class FactorName:
    """`key`: m, 1/m, lr, 2, 1/2, k, 1/k, mk, 1/mk; `text`: words for the report."""

    key: str
    text: str


def name_factor(factor: float, context: Context, tolerance: Tolerance) -> list[FactorName]:
    """Every known quantity equal to |factor| under `tolerance` (the doctor's
    `DoctorTolerance.factor()`), most common first."""
    m, k, lr = context.m, context.k, context.lr
    candidates: list[tuple[str, float, str]] = []
    if m > 1:
        candidates += [("m", m, f"the batch size m = {m}"), ("1/m", 1.0 / m, f"1/m, one over the batch size m = {m}")]
    if lr:
        candidates += [("lr", lr, f"the learning rate lr = {lr:g}")]
    candidates += [("2", 2.0, "2"), ("1/2", 0.5, "1/2")]
    if k > 1:
        candidates += [("k", k, f"the number of outputs k = {k}"), ("1/k", 1.0 / k, f"1/k, one over the number of outputs k = {k}")]
        if m > 1:
            candidates += [("mk", m * k, f"m*k = {m * k}, the number of output elements"),
                           ("1/mk", 1.0 / (m * k), f"1/(m*k), one over the number of output elements {m * k}")]
    magnitude = abs(factor)
    return [FactorName(key, text) for key, value, text in candidates if same_number(magnitude, value, tolerance)]


def format_factor(factor: float) -> str:
    """A factor for humans: 8, 0.125, -1, 0.1."""
    return f"{factor:.6g}"
