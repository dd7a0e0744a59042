"""One tolerance policy: per dtype and comparison mode, overridable per scenario and per run.

A tensor pair (checked a, reference b) passes when ``max|a - b| <= atol + rtol * max|b|``:
the error is measured against the reference tensor's largest magnitude (normwise), so an
element near zero in a large tensor does not produce a meaningless relative error.

Defaults (float64 is the reference precision):
* anchored, float64: rtol 1e-12 -- every backend is handed the same weights each step, so only
  the rounding of one forward/backward pass separates them (measured: <= 1e-14).
* free, float64: rtol 1e-10 -- rounding differences compound through training; small nets
  stay near 1e-14, chaotic ones (large lr, momentum) grow and are overridden per scenario with
  the reason written next to the override.
* float32: rtol 1e-5 anchored, 1e-3 free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def allowed(self, reference_scale: float) -> float:
        """Largest absolute error allowed for a reference tensor of largest magnitude `reference_scale`."""
        return self.atol + self.rtol * reference_scale

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


DEFAULTS: dict[tuple[str, str], Tolerance] = {
    ("float64", "anchored"): Tolerance(rtol=1e-12, atol=1e-15),
    ("float64", "free"): Tolerance(rtol=1e-10, atol=1e-13),
    ("float32", "anchored"): Tolerance(rtol=1e-5, atol=1e-7),
    ("float32", "free"): Tolerance(rtol=1e-3, atol=1e-5),
}


@dataclass(frozen=True)
class TolerancePolicy:
    """Defaults per (dtype, mode), with optional overrides per (dtype, mode) and a stated reason."""

    overrides: Mapping[tuple[str, str], Tolerance] = field(default_factory=dict)
    reason: str = ""

    def get(self, dtype: str, mode: str) -> Tolerance:
        return self.overrides.get((dtype, mode), DEFAULTS[(dtype, mode)])
