"""The race against plain gradient descent: how many epochs a full-batch method saves.

Fed by data, not by a second training loop: the method's row comes from the run's own
scratchnet records (loss before each step, typed extras: loss after an LM epoch, function
evaluations), and the gradient-descent row from the same run pipeline -- scratchnet alone, full
batch, ``sgd`` with ``race.gd_lr`` -- stopped at the first step whose loss reaches the goal.

Metric: ``loss`` is the scenario's loss; ``mse`` is the mean squared error, which the spec only
accepts when the loss *is* the mean squared error (squared_error, mean, scale 1, no l2).
"""
from __future__ import annotations

import time
from typing import Any, Sequence

from comparisons.spec import Scenario
from reference.protocol import StepRecord


def race(scenario: Scenario, records: Sequence[StepRecord] | None, method_seconds: float | None) -> dict[str, Any]:
    """``{"goal", "metric", "rows": [{method, reached, epochs, function_evaluations,
    seconds_total, final}]}``: the method (from `records`, scratchnet's) and gradient descent."""
    settings = scenario.race
    goal = settings["goal"]
    rows = []
    if records:
        rows.append(_method_row(scenario, list(records), goal, method_seconds))
    rows.append(_gradient_descent_row(scenario, goal))
    return {"goal": goal, "metric": settings["metric"], "rows": rows}


def _method_row(scenario: Scenario, records: list[StepRecord], goal: float, seconds: float | None) -> dict[str, Any]:
    after = [record.extras.loss_after for record in records]
    if after[0] is not None:  # LM: the loss after epoch k is known, so k + 1 epochs reach it
        reached = next((k + 1 for k, value in enumerate(after) if value <= goal), None)
        final = after[-1]
    else:  # minimize: the loss at x_k, reached after k iterations
        reached = next((k for k, record in enumerate(records) if record.loss <= goal), None)
        final = records[-1].loss
    evaluations = records[reached].extras.evaluations if reached is not None and reached < len(records) else None
    return {"method": f"{scenario.optimizer['name']} (scratchnet)", "reached": reached is not None, "epochs": reached,
            "function_evaluations": evaluations, "seconds_total": seconds, "final": final}


def _gradient_descent_row(scenario: Scenario, goal: float) -> dict[str, Any]:
    from comparisons.runner import run_until

    settings = scenario.race
    raw = scenario.to_dict()
    raw.pop("race", None)
    raw.pop("tolerances", None)
    raw["optimizer"] = {"name": "sgd", "lr": settings["gd_lr"]}
    raw["run"].update(steps=settings["max_epochs"], batch_size=None, backends=["scratchnet"], reference="scratchnet",
                      mode="free")
    gradient_descent = Scenario.from_dict(raw)
    started = time.perf_counter()
    result = run_until(gradient_descent, lambda step, records: records["scratchnet"].loss <= goal)
    losses = result.losses["scratchnet"]
    reached = next((k for k, value in enumerate(losses) if value <= goal), None)
    return {"method": f"gradient descent lr={settings['gd_lr']} (scratchnet)", "reached": reached is not None,
            "epochs": reached, "function_evaluations": None if reached is None else reached + 1,
            "seconds_total": time.perf_counter() - started, "final": float(losses.iloc[-1])}
