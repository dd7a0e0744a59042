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

import numpy as np  # noqa: E402

import reference  # noqa: E402
import scratchnet as sn  # noqa: E402
from optim_support import DIFFERENT, PARITY_TOLERANCE, case_id, lockstep_errors, normwise_relative, problem  # noqa: E402



CASES = [  # (optimizer, options); Keras has no dampening, and its weight decay is decoupled
    ("sgd", {}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "beta_1": 0.8, "beta_2": 0.99}),
    ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.0}),  # Keras AdamW needs 0.0 passed: left out, it decays by 0.004
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


NESTEROV_TOLERANCE = 1e-15  # normwise relative, float64
NESTEROV_CASES = [
    {"lr": 0.1, "nesterov": True},  # Keras' default momentum 0, as in Keras' own SGD(nesterov=True) test
    {"lr": 0.1, "momentum": 0.0, "nesterov": True, "weight_decay": 0.01},
]


@pytest.mark.parametrize("options", NESTEROV_CASES, ids=lambda options: case_id(("sgd", options)))
def test_sgd_nesterov_without_momentum_steps_like_keras_sgd(options):
    """Keras accepts nesterov=True with momentum 0 and takes plain steps, w -= g * lr
    (keras/src/optimizers/sgd.py::update_step); torch refuses it (test_scratchnet_optim.py).
    The same float64 gradients go to scratchnet's SGD and to the Keras reference's SGD."""
    spec, _, _ = problem("sgd", options)
    keras_backend = reference.create("keras", spec)
    assert keras_backend.optimizer.nesterov is True and keras_backend.optimizer.momentum == 0
    optimizer = sn.optim.get("sgd", convention="keras", **options)
    params = {name: np.array(value, dtype=np.float64) for name, value in spec.initial_params.items()}
    rng = np.random.default_rng(7)
    for _ in range(4):
        grads = {name: rng.normal(size=value.shape) for name, value in params.items()}
        optimizer.step(params, grads)
        keras_backend.optimizer.apply([keras_backend.tf.constant(grads[name]) for name in keras_backend.names],
                                      keras_backend.model.trainable_variables)
        keras_params = keras_backend.get_params()
        errors = {name: normwise_relative(params[name], keras_params[name]) for name in params}
        assert max(errors.values()) <= NESTEROV_TOLERANCE, errors


@pytest.mark.parametrize("options", NESTEROV_CASES, ids=lambda options: case_id(("sgd", options)))
def test_sgd_nesterov_without_momentum_trains_like_keras(options):
    """End to end: the optimizer's weights to NESTEROV_TOLERANCE; loss and gradients (backprop,
    not the optimizer) to the usual PARITY_TOLERANCE."""
    spec, X, y = problem("sgd", options)
    errors = lockstep_errors(reference.create("scratchnet", spec, "keras"), reference.create("keras", spec), X, y, steps=4)
    assert errors["params"] <= NESTEROV_TOLERANCE and errors["state"] == 0, errors  # no momentum slot
    assert errors["loss"] < PARITY_TOLERANCE and errors["grads"] < PARITY_TOLERANCE, errors


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
