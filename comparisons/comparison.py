"""The result of a lockstep run: tidy diffs, losses, the verdict and the first divergence."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from comparisons.spec import Scenario
from comparisons.tolerances import Tolerance


@dataclass
class Divergence:
    """The first (step order) diff beyond tolerance that no known convention explains."""

    step: int
    backend: str
    reference: str
    quantity: str
    param: str
    index: tuple[int, ...]
    values: tuple[float, float]  # (checked backend, reference)
    error: float
    relative_error: float
    allowed: float
    tolerance: Tolerance
    checked_tensor: np.ndarray | None = field(default=None, repr=False)
    reference_tensor: np.ndarray | None = field(default=None, repr=False)
    mismatched: int = 0  # elements beyond tolerance ...
    size: int = 0  # ... of this many
    finding: str = ""  # a shape/dtype mismatch, when the tensors could not be compared value by value
    alias: str = ""  # the checked backend's own name for `param` (user code), when it has one

    def __str__(self) -> str:
        if self.finding:
            return f"step {self.step}, {self.backend} vs {self.reference}, {self.quantity} {self.param}: {self.finding}"
        where = "loss" if self.quantity == "loss" else f"{self.quantity} {self.param}{list(self.index)}"
        if self.alias:
            where += f" ({self.alias} in {self.backend}'s code)"
        count = f", {self.mismatched} of {self.size} elements" if self.size > 1 else ""
        return (
            f"step {self.step}, {self.backend} vs {self.reference}, {where}: {self.values[0]!r} vs "
            f"{self.values[1]!r}, error {self.error:.3e} (relative {self.relative_error:.3e}) > allowed "
            f"{self.allowed:.3e} ({self.tolerance}){count}"
        )

    def lines(self) -> list[str]:
        """The divergence over several lines, as `torch.testing.assert_close` reports (the
        assert_parity message)."""
        where = "loss" if self.quantity == "loss" else f"{self.param} at index {self.index}"
        alias = f" ({self.alias} in {self.backend}'s code)" if self.alias else ""
        head = f"First divergence at step {self.step}: {self.backend} vs {self.reference}, {self.quantity} {where}{alias}"
        if self.finding:
            return [head, f"  {self.finding}"]
        lines = [head, f"  {self.backend}: {self.values[0]!r}", f"  {self.reference}: {self.values[1]!r}",
                 f"  absolute error {self.error:.3e} (relative {self.relative_error:.3e}) > allowed {self.allowed:.3e} "
                 f"({self.tolerance})"]
        if self.size > 1:
            lines.append(f"  mismatched elements: {self.mismatched} of {self.size}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "backend": self.backend, "reference": self.reference, "quantity": self.quantity,
            "param": self.param, "index": list(self.index), "value": self.values[0], "reference_value": self.values[1],
            "error": self.error, "relative_error": self.relative_error, "allowed": self.allowed,
            "rtol": self.tolerance.rtol, "atol": self.tolerance.atol,
            "mismatched": self.mismatched, "size": self.size, "finding": self.finding,
        }


def describe_error(error: BaseException) -> str:
    """One line for a backend's exception: its type and message."""
    return f"{type(error).__name__}: {error}"


@dataclass
class BackendFailure:
    """A backend that could not be built or raised mid-run; the others kept running."""

    backend: str
    step: int | None  # None: failed while being built
    error: str
    traceback: str

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "step": self.step, "error": self.error, "traceback": self.traceback}

    def __str__(self) -> str:
        return failure_line(self.backend, self.step, self.error)


def failure_line(backend: str, step: int | None, error: str) -> str:
    """One line for a backend's failure, as the verdict, the report and assert_parity say it."""
    when = "while being built" if step is None else f"at step {step}"
    return f"{backend} failed {when}: {error}"


@dataclass
class Comparison:
    """Everything a lockstep run produced. `diffs` and `losses` are pandas DataFrames."""

    scenario: Scenario
    tolerance: Tolerance
    diffs: pd.DataFrame
    losses: pd.DataFrame
    first_divergence: Divergence | None
    failures: dict[str, BackendFailure]
    nonfinite: dict[str, int]  # backend -> first step with a NaN/Inf loss, gradient or weight
    conventions: list[dict[str, str]]
    environment: dict[str, Any]
    steps_completed: int
    interrupted: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    #: method-specific results (scipy runs: iterations, least_squares outcome, race against GD)
    extras: dict[str, Any] = field(default_factory=dict)
    #: steps a complete run has; None means the scenario's `steps` (scipy runs stop on their own)
    expected_steps: int | None = None
    #: the backprop doctor's diagnosis at the first divergence of user code (a DiagnosisResult)
    diagnosis: Any = None

    @property
    def passed(self) -> bool:
        """True when every exact pairing stayed within tolerance at every step, every requested
        backend ran to the end, and the run was not interrupted."""
        expected = self.scenario.steps if self.expected_steps is None else self.expected_steps
        return self.first_divergence is None and not self.failures and not self.interrupted and (
            self.steps_completed == expected)

    @property
    def mode(self) -> str:
        return self.scenario.mode

    def __repr__(self) -> str:
        return (f"Comparison(scenario={self.scenario.name!r}, mode={self.mode!r}, passed={self.passed}, "
                f"steps={self.steps_completed}/{self.scenario.steps}, rows={len(self.diffs)}, "
                f"failures={sorted(self.failures)})")

    def worst(self) -> pd.DataFrame:
        """Worst max_rel per (backend, reference, quantity, expected) over steps and params."""
        if self.diffs.empty:
            return self.diffs
        frame = self.diffs[self.diffs.quantity != "state"]
        return (frame.groupby(["backend", "reference", "quantity", "expected"], sort=False)
                .agg(max_abs=("max_abs", "max"), max_rel=("max_rel", "max"), min_cosine=("cosine", "min"),
                     failed_rows=("passed", lambda s: int((~s).sum())))
                .reset_index())

    def verdict(self) -> str:
        if self.passed:
            return f"PASS: parity holds within {self.tolerance} over {self.steps_completed} steps ({self.mode})"
        reasons = []
        if self.first_divergence is not None:
            reasons.append(f"first divergence at {self.first_divergence}")
        reasons += [str(failure) for failure in self.failures.values()]
        for backend, step in self.nonfinite.items():
            reasons.append(f"{backend} produced NaN/Inf at step {step} (learning rate too large?)")
        if self.interrupted:
            reasons.append(f"interrupted after {self.steps_completed} of {self.scenario.steps} steps")
        if self.diagnosis is not None:
            reasons.append(f"backprop doctor at step {self.first_divergence.step}: {self.diagnosis.headline()}")
        return "FAIL: " + "; ".join(reasons)

    def summary(self) -> dict[str, Any]:
        """Machine-readable verdict: plain data in the summary.json schema
        (`comparisons.report.schema.Summary`, ``schema_version`` 2), validated on the way.
        ``report`` is None here; `comparisons.report.write_report` fills it in."""
        from comparisons.report import schema

        diffs = self.diffs
        divergence = self.first_divergence
        first = None
        if divergence is not None:
            at = diffs[(diffs.step == divergence.step) & (diffs.backend == divergence.backend)
                       & (diffs.reference == divergence.reference) & (diffs.quantity == divergence.quantity)
                       & (diffs.param == divergence.param)]
            if at.empty:
                raise ValueError(f"the first divergence ({divergence}) has no row in the diffs table")
            row = at.iloc[0]
            first = {"step": divergence.step, "backend": divergence.backend, "reference": divergence.reference,
                     "kind": row["kind"], "quantity": divergence.quantity, "param": divergence.param,
                     "index": list(divergence.index), "value": float(divergence.values[0]),
                     "reference_value": float(divergence.values[1]), "error": float(divergence.error),
                     "relative_error": float(divergence.relative_error), "allowed": float(divergence.allowed),
                     "rtol": divergence.tolerance.rtol, "atol": divergence.tolerance.atol,
                     "mismatched": row["mismatched"], "size": row["size"], "finding": row["finding"]}
        data = {
            "schema_version": schema.SCHEMA_VERSION,
            "scenario": self.scenario.name,
            "passed": self.passed,
            "verdict": self.verdict(),
            "mode": self.mode,
            "dtype": self.scenario.dtype,
            "seed": self.scenario.run["seed"],
            "steps": self.scenario.steps,
            "expected_steps": self.scenario.steps if self.expected_steps is None else self.expected_steps,
            "steps_completed": self.steps_completed,
            "interrupted": self.interrupted,
            "reference": self.scenario.reference,
            "backends": self.scenario.backends,
            "tolerance": {"rtol": self.tolerance.rtol, "atol": self.tolerance.atol,
                          "override_reason": self.scenario.tolerances.reason},
            "first_divergence": first,
            "failures": {name: failure.to_dict() for name, failure in self.failures.items()},
            "nonfinite": dict(self.nonfinite),
            "findings": schema.as_data(schema.findings(diffs)),
            "worst": schema.as_data(schema.worst_rows(diffs)),
            "conventions": self.conventions,
            "environment": self.environment,
            "seconds": self.seconds,
            "extras": self.extras,
            "scenario_spec": self.scenario.to_dict(),
        }
        return schema.Summary.from_dict(_plain(data), f"Comparison.summary() of {self.scenario.name!r}").to_dict()


def _plain(value: Any) -> Any:
    """JSON-able copy: NumPy scalars and arrays become Python numbers and lists, tuples lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if callable(value):  # a user backend's code given as a callable in a dict spec
        return f"<callable {getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}>"
    return value
