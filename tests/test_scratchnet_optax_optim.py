"""scratchnet's `convention="optax"` without JAX: closed forms of optax's formulas, its slot names,
its required learning rate, where it agrees with and differs from the torch and Keras
conventions, and the third column of the convention table.

Parity against optax itself lives in test_jax_backend.py (it needs JAX).
"""
from __future__ import annotations

import numpy as np
import pytest

import reference
import scratchnet as sn
from comparisons import conventions
from optim_support import DIFFERENT, PARITY_TOLERANCE, STEPS, case_id, lockstep_errors, problem


def convention_gap(name: str, options: dict, first: str, second: str = "optax", steps: int = STEPS) -> float:
    """Worst normwise relative parameter difference between two scratchnet conventions."""
    spec, X, y = problem(name, options)
    errors = lockstep_errors(reference.create("scratchnet", spec, first), reference.create("scratchnet", spec, second),
                             X, y, steps, compare_state=False)
    return errors["params"]


AGREE_TORCH = [  # equal hyperparameters where optax's formula is torch's (up to the order of operations)
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),  # trace t = g + mu t is torch's buffer without dampening
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),  # both coupled
    ("adam", {"lr": 0.01}),  # eps outside the root, after the bias corrections (same defaults too)
    ("adam", {"lr": 0.01, "beta_1": 0.8, "beta_2": 0.99, "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1}),  # w -= lr (u + wd w) vs w *= 1 - lr wd, then the step
    ("rmsprop", {"lr": 0.01, "rho": 0.9, "epsilon": 0.0, "centered": True}),
    ("rmsprop", {"lr": 0.01, "rho": 0.9, "epsilon": 0.0, "momentum": 0.9}),  # a trace of -lr b is -lr torch's b
    ("adagrad", {"lr": 0.1, "initial_accumulator_value": 0.0, "epsilon": 0.0}),
]
AGREE_KERAS = [  # equal hyperparameters where optax's formula is Keras'
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),  # keras v = -lr * t for a constant lr
    ("rmsprop", {"lr": 0.01, "epsilon": 1e-7}),  # eps inside the root, decay 0.9 in both
    ("rmsprop", {"lr": 0.01, "epsilon": 1e-7, "centered": True, "momentum": 0.9}),  # momentum on the scaled step
    ("adagrad", {"lr": 0.1}),  # accumulator 0.1, eps 1e-7 inside the root in both (lr set: Keras' is 1e-3)
    ("adam", {"lr": 0.01, "epsilon": 0.0}),
]
DIFFER_TORCH = [
    ("adamw", {"lr": 0.01}),  # default weight decay 1e-4 (torch 1e-2)
    ("adam", {"lr": 0.01, "amsgrad": True}),  # max of the corrected nu (torch: of the raw one)
    ("rmsprop", {"lr": 0.01}),  # eps inside the root, decay 0.9 (torch: outside, alpha 0.99)
    ("adagrad", {"lr": 0.1}),  # accumulator 0.1, eps 1e-7 inside (torch: 0, 1e-10 outside)
]
DIFFER_KERAS = [
    ("adam", {"lr": 0.01}),  # Keras' epsilon hat, 1e-7
    ("adamw", {"lr": 0.01}),  # default weight decay 1e-4 (Keras 0.004)
    ("sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),  # coupled (optax chain) vs decoupled
    ("rmsprop", {"lr": 0.01}),  # eps 1e-8 (Keras 1e-7)
]


@pytest.mark.parametrize("case", AGREE_TORCH, ids=case_id)
def test_optax_agrees_with_torch_where_the_formulas_coincide(case):
    assert convention_gap(*case, first="torch") < PARITY_TOLERANCE


@pytest.mark.parametrize("case", AGREE_KERAS, ids=case_id)
def test_optax_agrees_with_keras_where_the_formulas_coincide(case):
    assert convention_gap(*case, first="keras") < PARITY_TOLERANCE


@pytest.mark.parametrize("case", DIFFER_TORCH, ids=case_id)
def test_optax_differs_from_torch_where_documented(case):
    assert convention_gap(*case, first="torch") > DIFFERENT


@pytest.mark.parametrize("case", DIFFER_KERAS, ids=case_id)
def test_optax_differs_from_keras_where_documented(case):
    assert convention_gap(*case, first="keras") > DIFFERENT


def test_rmsprop_eps_in_sqrt_false_is_torch_placement():
    """optax's switch to torch's epsilon outside the root, with torch's alpha and eps."""
    spec, X, y = problem("rmsprop", {"lr": 0.01, "rho": 0.99, "epsilon": 1e-8, "eps_in_sqrt": False})
    torch_spec, _, _ = problem("rmsprop", {"lr": 0.01, "rho": 0.99, "epsilon": 1e-8})
    errors = lockstep_errors(reference.create("scratchnet", torch_spec, "torch"), reference.create("scratchnet", spec, "optax"),
                             X, y, compare_state=False)
    assert errors["params"] < PARITY_TOLERANCE
    assert convention_gap("rmsprop", {"lr": 0.01, "rho": 0.99, "epsilon": 1e-8}, first="torch") > DIFFERENT


def test_sgd_momentum_is_torch_bit_for_bit():
    """optax's trace and torch's buffer are the same operations (g + mu t == mu b + 1.0 g)."""
    assert conventions.coincide("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, "torch", "optax")
    assert not conventions.coincide("adagrad", {"lr": 0.1}, "torch", "optax")


@pytest.mark.parametrize("name, options, slots", [
    ("sgd", {"lr": 0.1}, set()),
    ("sgd", {"lr": 0.1, "momentum": 0.9}, {"trace"}),
    ("adam", {"lr": 0.1}, {"count", "mu", "nu"}),
    ("adam", {"lr": 0.1, "amsgrad": True}, {"count", "mu", "nu", "nu_max"}),
    ("adamw", {"lr": 0.1}, {"count", "mu", "nu"}),
    ("rmsprop", {"lr": 0.1}, {"nu"}),
    ("rmsprop", {"lr": 0.1, "centered": True, "momentum": 0.5}, {"mu", "nu", "trace"}),
    ("adagrad", {"lr": 0.1}, {"sum_of_squares"}),
])
def test_state_uses_optax_field_names(name, options, slots):
    params, grads = {"w": np.ones(3)}, {"w": np.full(3, 0.5)}
    optimizer = sn.optim.get(name, convention="optax", **options)
    optimizer.step(params, grads)
    optimizer.step(params, grads)
    assert set(optimizer.state.get("w", {})) == slots
    if "count" in slots:  # optax's int32 step counter
        count = optimizer.state["w"]["count"]
        assert count.dtype == np.int32 and count.shape == () and int(count) == 2


def test_closed_forms_of_optax_defaults():
    """One step from known gradients with optax's defaults, written out from optax's source."""
    g = np.array([0.5, -2.0, 1e-3])

    def first_step(name, **options):
        params = {"w": np.zeros(3)}
        sn.optim.get(name, convention="optax", lr=0.1, **options).step(params, {"w": g.copy()})
        return params["w"]

    # scale_by_rms: nu = 0.1 g^2, rsqrt(nu + 1e-8)
    np.testing.assert_allclose(first_step("rmsprop"), -0.1 * g / np.sqrt(0.1 * g * g + 1e-8), rtol=1e-15)
    # scale_by_rss: S = 0.1 + g^2, rsqrt(S + 1e-7)
    np.testing.assert_allclose(first_step("adagrad"), -0.1 * g / np.sqrt(0.1 + g * g + 1e-7), rtol=1e-15)
    # scale_by_adam: mu_hat = g, nu_hat = g^2 at step 1; eps 1e-8 outside the root
    np.testing.assert_allclose(first_step("adam"), -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-15)
    # eps_root inside the root
    np.testing.assert_allclose(first_step("adam", eps_root=1e-6), -0.1 * g / (np.sqrt(g * g + 1e-6) + 1e-8), rtol=1e-15)
    # adamw: the decay 1e-4 is multiplied by the learning rate: w1 = w0 - lr (u + 1e-4 w0)
    params = {"w": np.full(3, 2.0)}
    sn.optim.get("adamw", convention="optax", lr=0.1).step(params, {"w": g.copy()})
    np.testing.assert_allclose(params["w"], 2.0 - 0.1 * (g / (np.abs(g) + 1e-8) + 1e-4 * 2.0), rtol=1e-15)


def test_learning_rate_is_required_in_the_optax_convention():
    """optax has no default learning rate: stepping without one is refused (not construction:
    scenario validation builds every convention and reports a missing lr itself, once)."""
    params, grads = {"w": np.ones(2)}, {"w": np.ones(2)}
    optimizer = sn.optim.get("sgd", convention="optax")
    with pytest.raises(TypeError, match=r"sgd option lr is required in the optax convention \(it has no default there\)"):
        optimizer.step(params, grads)
    np.testing.assert_array_equal(params["w"], np.ones(2))
    assert optimizer.iterations == 0
    with pytest.raises(ValueError, match="unknown adam option 'eps_root'"):  # optax-only options stay optax-only
        sn.optim.get("adam", convention="torch", eps_root=1e-8)


def test_dampening_cannot_step_in_the_optax_convention():
    optimizer = sn.optim.get("sgd", convention="optax", lr=0.1, momentum=0.9, dampening=0.1)
    with pytest.raises(ValueError, match=r"sgd option dampening=0.1 has no optax equivalent"):
        optimizer.step({"w": np.ones(2)}, {"w": np.ones(2)})
    plain = sn.optim.get("sgd", convention="optax", lr=0.1, momentum=0.9, dampening=0.0)
    plain.step({"w": np.ones(2)}, {"w": np.ones(2)})  # dampening 0 is optax's trace


def test_scenario_validation_is_unchanged_by_the_optax_convention():
    """A torch-only option (dampening) still validates, and a missing lr is reported once."""
    import comparisons
    from comparisons import catalog
    from comparisons.spec import SpecError

    raw = catalog.get("xor-sigmoid-sgd").to_dict()
    raw["optimizer"] = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.3}
    raw["run"] = {**raw["run"], "backends": ["scratchnet", "torch"]}
    comparisons.Scenario.from_dict(raw)
    raw["optimizer"] = {"name": "sgd", "momentum": 0.9}
    with pytest.raises(SpecError) as caught:
        comparisons.Scenario.from_dict(raw)
    assert [p for p in caught.value.problems if "lr" in p] == ["optimizer.lr: required (torch and Keras default learning rates differ)"]


@pytest.mark.parametrize("name, option, torch_default, keras_default, optax_default", [
    ("adam", "epsilon", 1e-8, 1e-7, 1e-8),
    ("adamw", "weight_decay", 1e-2, 0.004, 1e-4),
    ("rmsprop", "rho", 0.99, 0.9, 0.9),
    ("rmsprop", "epsilon", 1e-8, 1e-7, 1e-8),
    ("adagrad", "initial_accumulator_value", 0.0, 0.1, 0.1),
    ("adagrad", "epsilon", 1e-10, 1e-7, 1e-7),
])
def test_defaults_follow_each_framework(name, option, torch_default, keras_default, optax_default):
    assert sn.optim.get(name, convention="torch").options[option] == torch_default
    assert sn.optim.get(name, convention="keras").options[option] == keras_default
    assert sn.optim.get(name, convention="optax", lr=0.1).options[option] == optax_default


def test_torch_and_keras_conventions_are_unchanged_by_the_optax_one():
    """The optax branches leave the other conventions' arithmetic alone: a fixed trajectory."""
    rng = np.random.default_rng(11)
    start = rng.normal(size=(4, 3))
    gradients = [rng.normal(size=(4, 3)) for _ in range(3)]
    for convention in ("torch", "keras"):
        for name in sn.optim.NAMES:
            params = {"w": start.copy()}
            optimizer = sn.optim.get(name, convention=convention, lr=0.05)
            for g in gradients:
                optimizer.step(params, {"w": g})
            assert "count" not in optimizer.state["w"] and "trace" not in optimizer.state["w"]


def test_convention_table_has_an_optax_line_per_entry():
    assert conventions.names() == ["torch", "keras", "optax"]
    assert all("optax" in entry.formulas for entry in conventions.CONVENTIONS)
    text = conventions.describe()
    assert text.count("\n  optax: ") == len(conventions.CONVENTIONS)
    assert "optax/_src/transform.py::scale_by_adam" in text
