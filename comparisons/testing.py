"""`assert_parity`: one assertion for the project's parity suite and for users' own suites.

The failure message follows `torch.testing.assert_close`: step, backend, quantity, parameter,
element index, both values, the error and the tolerance allowed, plus how many rows failed.
"""
from __future__ import annotations

from typing import Any

from comparisons.comparison import Comparison
from comparisons.runner import run
from comparisons.spec import Scenario


class ParityError(AssertionError):
    """Parity did not hold; `.comparison` holds the full result."""

    def __init__(self, message: str, comparison: Comparison):
        super().__init__(message)
        self.comparison = comparison


def failure_message(comparison: Comparison) -> str:
    """A multi-line explanation of why `comparison` did not pass."""
    scenario = comparison.scenario
    lines = [f"Parity failed for scenario {scenario.name!r} ({comparison.mode}, {scenario.dtype}, "
             f"{comparison.steps_completed}/{scenario.steps} steps)."]
    divergence = comparison.first_divergence
    if divergence is not None:
        diffs = comparison.diffs
        failing = diffs[~diffs.passed & (diffs.expected == "")]
        where = "loss" if divergence.quantity == "loss" else f"{divergence.param} at index {divergence.index}"
        lines += [
            f"First divergence at step {divergence.step}: {divergence.backend} vs {divergence.reference}, "
            f"{divergence.quantity} {where}",
            f"  {divergence.backend}: {divergence.values[0]!r}",
            f"  {divergence.reference}: {divergence.values[1]!r}",
            f"  absolute error {divergence.error:.3e} (relative {divergence.relative_error:.3e}) "
            f"> allowed {divergence.allowed:.3e} ({divergence.tolerance})",
            f"Mismatched rows: {len(failing)} of {len(diffs)} (step x backend x quantity x parameter); "
            f"failing parameters: {sorted(set(failing.param))[:8]}",
        ]
    for failure in comparison.failures.values():
        when = "while being built" if failure.step is None else f"at step {failure.step}"
        lines.append(f"Backend {failure.backend} failed {when}: {failure.error}")
    if comparison.interrupted:
        lines.append("The run was interrupted.")
    if comparison.diagnosis is not None:
        lines += [f"Backprop doctor at step {divergence.step} ({divergence.backend}'s weights and batch):",
                  str(comparison.diagnosis)]
    return "\n".join(lines)


def assert_parity(scenario: Scenario | str, **overrides: Any) -> Comparison:
    """Run `scenario` (object, catalog name or .toml path) and raise `ParityError` unless parity
    holds. Returns the Comparison. Overrides as for `comparisons.run`."""
    comparison = run(scenario, **overrides)
    if not comparison.passed:
        raise ParityError(failure_message(comparison), comparison)
    return comparison
