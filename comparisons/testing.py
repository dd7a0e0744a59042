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
        lines += divergence.lines() + [
            f"Mismatched rows: {len(failing)} of {len(diffs)} (step x backend x quantity x parameter); "
            f"failing parameters: {sorted(set(failing.param))[:8]}",
        ]
    lines += [f"Backend {failure}" for failure in comparison.failures.values()]
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
