"""Shared by the optimizer parity tests (torch and Keras conventions)."""
from __future__ import annotations

import numpy as np

import scratchnet as sn
from reference.protocol import Backend, OptimizerSpec, Problem

PARITY_TOLERANCE = 5e-15  # normwise relative, free-running for STEPS steps
DIFFERENT = 1e-9  # a convention difference must show far above rounding
STEPS = 6


def case_id(case) -> str:
    name, options = case
    return "-".join([name] + [f"{key}={value}" for key, value in options.items()])


def problem(name: str, options: dict) -> tuple[Problem, np.ndarray, np.ndarray]:
    net = sn.MLP([3, 5, 2], ["tanh", "linear"], init="torch_default", seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 2))
    return Problem(net.spec(), net.params, OptimizerSpec(name, options)), X, y


def normwise_relative(actual, expected) -> float:
    error = float(np.max(np.abs(np.asarray(actual) - np.asarray(expected)), initial=0.0))
    scale = float(np.max(np.abs(expected), initial=0.0))
    return error / scale if scale > 0 else error


def lockstep_errors(first: Backend, second: Backend, X, y, steps: int = STEPS,
                    compare_state: bool = True) -> dict[str, float]:
    """Worst normwise relative difference per quantity (loss, grads, params and, for backends
    with the same slot names, optimizer state) over `steps` free-running steps on batches of 4."""
    quantities = ("grads", "params", "state") if compare_state else ("grads", "params")
    worst = dict.fromkeys(("loss",) + quantities, 0.0)
    for indices in sn.data.batch_schedule(len(X), 4, steps, seed=0):
        a, b = first.step(X[indices], y[indices]), second.step(X[indices], y[indices])
        if compare_state:
            assert sorted(a.state) == sorted(b.state)
        for quantity in quantities:
            mapping_a, mapping_b = getattr(a, quantity), getattr(b, quantity)
            errors = [normwise_relative(mapping_a[name], mapping_b[name]) for name in mapping_b]
            worst[quantity] = max([worst[quantity], *errors])
        worst["loss"] = max(worst["loss"], normwise_relative(a.loss, b.loss))
    return worst
