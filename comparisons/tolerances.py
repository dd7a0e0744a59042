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


# --- The backprop doctor -------------------------------------------------------------------------


@dataclass(frozen=True)
class DoctorTolerance:
    """Every tolerance of the backprop doctor (`comparisons.doctor`), for one precision of the
    user's code. The doctor compares the user's gradient -- computed by their code, in their dtype,
    with their order of operations -- against a float64 reference (torch autograd) at one point.
    Nothing is anchored and the two computations share no code, so these are looser than the
    anchored lockstep defaults above; they only need to separate rounding from a mistake, and a
    backprop mistake is an O(1) relative error (a factor, a transpose, a missing term).

    Values (float64 code / float32-float16 code):

    * ``gradient_rtol`` 1e-6 / 1e-3: a gradient agrees with the reference when
      ``max|g - r| <= atol + rtol * max|r|`` (`gradient`). Hand-written float64 backprop differs
      from autograd by summation order only (~1e-13 on the zoo); 1e-6 leaves a wide margin and
      still catches any mistake. float32 rounding (eps 1.2e-7) accumulated over a few layers and
      a batch sum reaches ~1e-5..1e-4, hence 1e-3.
    * ``floor_fraction`` 1e-6 / 1e-3 (equal to ``gradient_rtol``): the smallest gradient scale that
      counts, as a fraction of the largest reference entry over all tensors. A tensor whose
      reference is ~0 (a dead layer, an exactly balanced bias) is judged against that floor,
      i.e. absolutely, instead of relative to its own vanishing magnitude: its rounding error
      is set by the magnitudes flowing through the whole network, not by its own. In `Tolerance`
      terms ``atol = rtol * floor_fraction * largest`` and ``atol / rtol`` is the floor.
    * ``loss_rtol`` 1e-8 / 1e-4, ``loss_floor`` 1e-12: the user's loss against the declared loss
      (`loss`). A loss is one reduction, far less rounding than a gradient, so it is tighter; a
      loss below ``loss_floor`` counts as 0 (absolute tolerance ``loss_rtol * loss_floor``).
    * ``factor_rtol`` = ``gradient_rtol``: naming a constant factor (m, 1/m, lr, 2, ...), -1 for a
      flipped sign, and 1 for a mistake replayed exactly (`factor`). The factor is a least-squares
      fit over the whole tensor, as accurate as the gradient itself.
    * ``repeat_margin`` 10: ratios between *two* fitted factors or two calls (state, batch-size and
      learning-rate probes, the same factor on another tensor) carry the rounding of both, so they
      get 10 x the gradient tolerance (`repeat`, `repeat_factor`).
    * ``zero_fraction`` 1e-3: a gradient is "zero" when its largest entry is below 1e-3 of the
      error allowed for it -- far below anything a real gradient computed in any dtype gives.
    * ``informative_fraction`` 1e-8: a reference entry above 1e-8 x the reference's scale is
      informative (a one-informative-entry tensor is a multiple of its reference whatever it
      holds, so a factor there needs corroboration).
    * ``equal_entries_rtol`` 1e-12: "all entries are equal" (a bias gradient that ignores each
      unit's delta): equal up to float64 summation-order rounding; entries computed identically
      are bitwise equal in any dtype.
    * ``distinct_factors_rtol`` 1e-6: per-row/column factors that differ by more than this are
      "each row/column has its own factor" (equal ones would have made the tensor `scaled`).
    * ``own_loss_rtol`` 1e-5 / 1e-2, ``own_loss_noise_margin`` 100, ``own_loss_resolve_margin`` 10:
      the user's gradient against central differences of the user's own loss (`own_loss`). The
      5-point stencil's step starts at ``h = eps**(1/5) * max(1, |t|)`` and shrinks to fit between
      the ReLU kinks of the point (`comparisons.doctor.numeric`; at cs231n's 1e-4 weights it ends
      near 1e-5), so its error is measured for the values it used, not assumed: rounding
      ``1.5 * eps * max|loss values| / h``, of which up to ``own_loss_noise_margin`` times counts as
      agreement (a loss summed over a batch carries a few eps more than one rounding), plus a
      truncation estimate (the 5-point against the 3-point difference at the same h); rtol covers
      the ~eps**(4/5) relative truncation amplified by curvature. A tensor whose checked entries
      (yours, the reference's and the differences) all stay below ``own_loss_resolve_margin``
      times that error is *unresolved*: central differences cannot tell its gradient from 0 at
      this point, and the doctor says so instead of claiming agreement.
    * ``l2_match`` rtol 1e-5, atol 1e-8 (`numpy.isclose`'s defaults, kept from the doctor's
      first version): a penalty coefficient fitted to the user's gradients that equals the
      declared l2 is not offered as a mistake.
    * ``momentum_margin`` 1e-3: the state probe reads a second update 1 < r < 2 - 1e-3 times the
      first as momentum r - 1 (at most 0.999); a ratio of 2 is accumulation, not momentum.
    """

    gradient_rtol: float
    floor_fraction: float
    loss_rtol: float
    own_loss_rtol: float
    loss_floor: float = 1e-12
    repeat_margin: float = 10.0
    zero_fraction: float = 1e-3
    informative_fraction: float = 1e-8
    equal_entries_rtol: float = 1e-12
    distinct_factors_rtol: float = 1e-6
    own_loss_noise_margin: float = 100.0
    own_loss_resolve_margin: float = 10.0
    l2_match: Tolerance = Tolerance(rtol=1e-5, atol=1e-8)
    momentum_margin: float = 1e-3

    @property
    def factor_rtol(self) -> float:
        return self.gradient_rtol

    def gradient(self, largest: float, repeat: bool = False) -> Tolerance:
        """Gradient tolerance when the largest reference entry over all tensors is `largest`
        (0: no floor). ``repeat=True``: two calls or two fits compared (``repeat_margin`` x)."""
        rtol = self.gradient_rtol * (self.repeat_margin if repeat else 1.0)
        return Tolerance(rtol=rtol, atol=rtol * self.floor_fraction * float(largest))

    def loss(self) -> Tolerance:
        """Two losses (the user's and the declared, or two calls of the user's)."""
        return Tolerance(rtol=self.loss_rtol, atol=self.loss_rtol * self.loss_floor)

    def factor(self, rtol: float | None = None) -> Tolerance:
        """A fitted constant factor against a known value (m, 1/m, lr, 2, -1, 1); `rtol`
        overrides (the loss ratio is named with ``loss_rtol``)."""
        return Tolerance(rtol=self.factor_rtol if rtol is None else rtol, atol=0.0)

    def repeat_factor(self) -> Tolerance:
        """Two fitted factors (two calls, two tensors) against each other."""
        return Tolerance(rtol=self.factor_rtol * self.repeat_margin, atol=0.0)

    def own_loss(self, noise: float) -> Tolerance:
        """Gradient entries against central differences of the user's own loss whose measured
        rounding error (largest over the entries checked) is `noise`."""
        return Tolerance(rtol=self.own_loss_rtol, atol=self.own_loss_noise_margin * float(noise))

    def own_loss_resolved(self, scale: float, error: float) -> bool:
        """Central differences whose allowed error (`own_loss(...).atol` plus truncation) is
        `error` can judge gradients of size `scale`."""
        return float(scale) > self.own_loss_resolve_margin * float(error)


DOCTOR: dict[str, DoctorTolerance] = {
    "float64": DoctorTolerance(gradient_rtol=1e-6, floor_fraction=1e-6, loss_rtol=1e-8, own_loss_rtol=1e-5),
    "low_precision": DoctorTolerance(gradient_rtol=1e-3, floor_fraction=1e-3, loss_rtol=1e-4, own_loss_rtol=1e-2),
}


def doctor_tolerance(low_precision: bool) -> DoctorTolerance:
    """The doctor's tolerances for user code in float64 (False) or in float32/float16 (True).
    Looked up in `DOCTOR` at call time, so an override there is what the doctor uses."""
    return DOCTOR["low_precision" if low_precision else "float64"]
