"""Optimizers: `convention="keras"` against keras.optimizers (Keras 3 on TensorFlow, float64,
hyperparameters passed as np.float64 by reference.keras_backend), and the documented torch/Keras
differences measured on the real frameworks.

Its own module because importing TensorFlow takes seconds.
"""
from __future__ import annotations

import os

import pytest

# As reference.keras_backend.import_keras does, before anything imports TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip("keras")

import reference  # noqa: E402
from optim_support import DIFFERENT, PARITY_TOLERANCE, case_id, lockstep_errors, problem  # noqa: E402



CASES = [  # (optimizer, options); Keras has no dampening, and its weight decay is decoupled
    ("sgd", {}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "beta_1": 0.8, "beta_2": 0.99}),
    ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", {}),
    ("rmsprop", {"lr": 0.01, "rho": 0.8, "centered": True, "momentum": 0.9, "weight_decay": 0.01}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "initial_accumulator_value": 0.3, "weight_decay": 0.01}),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_keras_convention_matches_keras_optimizers(case):
    spec, X, y = problem(*case)
    errors = lockstep_errors(reference.create("scratchnet", spec, "keras"), reference.create("keras", spec), X, y)
    assert max(errors.values()) < PARITY_TOLERANCE, errors


def torch_vs_keras(name: str, options: dict) -> float:
    """Worst parameter difference between torch.optim and keras.optimizers themselves."""
    pytest.importorskip("torch")
    spec, X, y = problem(name, options)
    errors = lockstep_errors(reference.create("torch", spec), reference.create("keras", spec), X, y, compare_state=False)
    return errors["params"]


@pytest.mark.parametrize("case", [
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("adam", {"epsilon": 0.0}),
    ("adamw", {"epsilon": 0.0, "weight_decay": 0.01}),
    ("rmsprop", {"lr": 0.01, "rho": 0.9, "epsilon": 0.0}),
    ("adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "epsilon": 0.0}),
], ids=case_id)
def test_torch_and_keras_agree_where_the_formulas_coincide(case):
    assert torch_vs_keras(*case) < PARITY_TOLERANCE


@pytest.mark.parametrize("case", [
    ("adam", {"epsilon": 1e-8}),  # keras epsilon is "epsilon hat"
    ("adam", {"epsilon": 0.0, "weight_decay": 0.1}),  # coupled L2 (torch) vs decoupled (keras)
    ("rmsprop", {"lr": 0.01, "rho": 0.9, "epsilon": 1e-7}),  # keras epsilon inside the square root
    ("adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "epsilon": 1e-7}),  # the same
    ("adagrad", {}),  # defaults: keras accumulator starts at 0.1, lr 1e-3
], ids=case_id)
def test_torch_and_keras_differ_where_documented(case):
    assert torch_vs_keras(*case) > DIFFERENT
