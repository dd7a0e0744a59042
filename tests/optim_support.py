"""Shared by the optimizer parity tests (torch and Keras conventions)."""
from __future__ import annotations

import numpy as np

import scratchnet as sn
from reference.protocol import OptimizerSpec, Problem

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
