"""Optimizers: `convention="torch"` against torch.optim (single-tensor path, foreach=False),
the documented torch/Keras convention differences, and closed-form first steps.

Keras parity lives in test_scratchnet_keras_optim.py (importing Keras takes seconds).
"""
from __future__ import annotations

import numpy as np
import pytest

import reference
import scratchnet as sn
from optim_support import DIFFERENT, PARITY_TOLERANCE, STEPS, case_id, lockstep_errors, problem


CASES = [  # (optimizer, options); options left out take each framework's own defaults
    ("sgd", {}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "beta_1": 0.8, "beta_2": 0.99}),
    ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", {}),
    ("rmsprop", {"lr": 0.01, "rho": 0.9, "centered": True, "momentum": 0.9, "weight_decay": 0.01}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "weight_decay": 0.01}),
]


def convention_difference(name: str, options: dict, steps: int = STEPS) -> float:
    """Worst parameter difference between scratchnet's torch and keras conventions."""
    spec, X, y = problem(name, options)
    errors = lockstep_errors(reference.create("scratchnet", spec, "torch"), reference.create("scratchnet", spec, "keras"), X, y, steps,
                             compare_state=False)
    return errors["params"]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_torch_convention_matches_torch_optim(case):
    pytest.importorskip("torch")
    spec, X, y = problem(*case)
    errors = lockstep_errors(reference.create("scratchnet", spec, "torch"), reference.create("torch", spec), X, y)
    assert max(errors.values()) < PARITY_TOLERANCE, errors


AGREE = [  # equal hyperparameters where the two conventions are the same formula
    ("sgd", {"lr": 0.1, "momentum": 0.9}),  # keras v = -lr * torch b for a constant lr
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"lr": 0.1, "weight_decay": 0.1}),  # coupled == decoupled without momentum
    ("adam", {"epsilon": 0.0}),
    ("adam", {"epsilon": 0.0, "amsgrad": True}),
    ("adamw", {"epsilon": 0.0, "weight_decay": 0.01}),
    ("rmsprop", {"lr": 0.01, "rho": 0.9, "epsilon": 0.0}),
    ("rmsprop", {"lr": 0.01, "rho": 0.9, "epsilon": 0.0, "centered": True, "momentum": 0.5}),
    ("adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "epsilon": 0.0}),
]
DIFFER = [  # the documented convention differences (shared/research/conventions.md §2)
    ("adam", {"epsilon": 1e-8}),  # keras epsilon is "epsilon hat"
    ("adam", {"epsilon": 0.0, "weight_decay": 0.1}),  # coupled L2 (torch) vs decoupled (keras)
    ("sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),  # coupled vs decoupled with momentum
    ("rmsprop", {"lr": 0.01, "rho": 0.9, "epsilon": 1e-7}),  # epsilon inside the square root (keras)
    ("adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "epsilon": 1e-7}),  # the same
    ("adagrad", {}),  # defaults: keras accumulator starts at 0.1, lr 1e-3
    ("sgd", {}),  # defaults: lr 1e-3 vs 0.01
]


@pytest.mark.parametrize("case", AGREE, ids=case_id)
def test_conventions_agree_where_the_formulas_coincide(case):
    assert convention_difference(*case) < PARITY_TOLERANCE


@pytest.mark.parametrize("case", DIFFER, ids=case_id)
def test_conventions_differ_where_documented(case):
    assert convention_difference(*case) > DIFFERENT


def test_keras_epsilon_hat_is_torch_epsilon_times_sqrt_of_bias_correction():
    """Keras' epsilon hat is torch's eps * sqrt(1 - beta_2**t): equal at step 1 only."""
    eps_hat = 1e-3
    keras_spec, X, y = problem("adam", {"epsilon": eps_hat})
    torch_spec, _, _ = problem("adam", {"epsilon": eps_hat / np.sqrt(1 - 0.999)})
    keras_style = reference.create("scratchnet", keras_spec, "keras")
    torch_style = reference.create("scratchnet", torch_spec, "torch")
    step_1 = lockstep_errors(keras_style, torch_style, X, y, steps=1, compare_state=False)
    step_2 = lockstep_errors(keras_style, torch_style, X, y, steps=1, compare_state=False)  # continues
    assert step_1["params"] < PARITY_TOLERANCE < DIFFERENT < step_2["params"]


@pytest.mark.parametrize("convention", sn.optim.CONVENTIONS)
@pytest.mark.parametrize("name, options, expected_step", [
    ("sgd", {"lr": 0.1}, lambda g: -0.1 * g),
    ("sgd", {"lr": 0.1, "momentum": 0.9}, lambda g: -0.1 * g),  # the first step has no history
    ("adam", {"lr": 0.01, "epsilon": 0.0}, lambda g: -0.01 * np.sign(g)),  # m_hat / sqrt(v_hat) = sign(g)
    ("adamw", {"lr": 0.01, "epsilon": 0.0, "weight_decay": 0.0}, lambda g: -0.01 * np.sign(g)),
    ("rmsprop", {"lr": 0.01, "rho": 0.75, "epsilon": 0.0}, lambda g: -0.01 * np.sign(g) / np.sqrt(0.25)),
    ("adagrad", {"lr": 0.1, "epsilon": 0.0, "initial_accumulator_value": 0.0}, lambda g: -0.1 * np.sign(g)),
])
def test_first_step_closed_form(convention, name, options, expected_step):
    rng = np.random.default_rng(3)
    params = {"w": rng.normal(size=(3, 2))}
    grads = {"w": rng.normal(size=(3, 2))}
    before, grads_before = params["w"].copy(), grads["w"].copy()
    optimizer = sn.optim.get(name, convention=convention, **options)
    optimizer.step(params, grads)
    np.testing.assert_allclose(params["w"] - before, expected_step(grads["w"]), rtol=1e-13, atol=0)
    np.testing.assert_array_equal(grads["w"], grads_before)  # gradients are not modified
    assert optimizer.iterations == 1


@pytest.mark.parametrize("name, convention, slots", [
    ("sgd", "torch", set()),
    ("sgd", "keras", set()),
    ("adam", "torch", {"exp_avg", "exp_avg_sq"}),
    ("adam", "keras", {"momentum", "velocity"}),
    ("rmsprop", "torch", {"square_avg"}),
    ("rmsprop", "keras", {"velocity"}),
    ("adagrad", "torch", {"sum"}),
    ("adagrad", "keras", {"accumulator"}),
])
def test_state_uses_the_frameworks_slot_names(name, convention, slots):
    params, grads = {"w": np.ones(3)}, {"w": np.full(3, 0.5)}
    optimizer = sn.optim.get(name, convention=convention)
    optimizer.step(params, grads)
    assert set(optimizer.state.get("w", {})) == slots


@pytest.mark.parametrize("name, option, torch_default, keras_default", [
    ("sgd", "lr", 1e-3, 0.01),
    ("adam", "epsilon", 1e-8, 1e-7),
    ("adamw", "weight_decay", 1e-2, 0.004),
    ("rmsprop", "rho", 0.99, 0.9),
    ("adagrad", "initial_accumulator_value", 0.0, 0.1),
])
def test_defaults_follow_each_framework(name, option, torch_default, keras_default):
    assert sn.optim.get(name, convention="torch").options[option] == torch_default
    assert sn.optim.get(name, convention="keras").options[option] == keras_default


def test_torch_convention_refuses_nesterov_without_momentum_as_torch_does():
    message = (r"nesterov momentum needs momentum > 0 and dampening = 0 in the torch convention "
               r"\(got momentum={}, dampening={}; torch\.optim\.SGD refuses it")
    with pytest.raises(ValueError, match=message.format("0.0", "0.0")):
        sn.optim.SGD(convention="torch", lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=message.format("0.9", "0.1")):
        sn.optim.SGD(convention="torch", lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)


def test_torch_itself_refuses_nesterov_without_momentum():
    pytest.importorskip("torch")
    spec, _, _ = problem("sgd", {"lr": 0.1, "nesterov": True})
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        reference.create("torch", spec)


def test_keras_convention_takes_plain_steps_for_nesterov_without_momentum():
    """Keras' SGD(nesterov=True) with momentum 0: w -= g * lr, no slot (keras/src/optimizers/sgd.py)."""
    rng = np.random.default_rng(5)
    params = {"w": rng.normal(size=(3, 2))}
    optimizer = sn.optim.SGD(convention="keras", lr=0.1, nesterov=True)
    for _ in range(3):
        grads = {"w": rng.normal(size=(3, 2))}
        expected = params["w"] - grads["w"] * 0.1
        optimizer.step(params, grads)
        np.testing.assert_array_equal(params["w"], expected)
    assert optimizer.state["w"] == {}


def test_step_refuses_missing_or_misshapen_gradients():
    optimizer = sn.optim.SGD(lr=0.1)
    with pytest.raises(ValueError, match="no gradient for parameter 'b'"):
        optimizer.step({"b": np.zeros(2)}, {})
    with pytest.raises(ValueError, match=r"gradient for 'b' has shape \(3,\), parameter has \(2,\)"):
        optimizer.step({"b": np.zeros(2)}, {"b": np.zeros(3)})
