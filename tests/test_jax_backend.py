"""The jax backend (JAX + optax): exact against scratchnet's `convention="optax"` for every
optimizer, jit on and off, its exactness settings in the environment record, Levenberg-Marquardt
on JAX's Jacobian, TNC on JAX's gradients, float32 kept float32, no aliasing of the arrays it is
given, the GPU lane where CUDA exists, and its errors (a missing JAX, bad options).

Skipped with the install hint when JAX is not installed (CI installs it: the `all` extra).
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import comparisons
import reference
import scratchnet as sn
from optim_support import case_id, lockstep_errors, problem
from reference.protocol import MissingFramework, OptimizerSpec, Problem

try:
    from reference.jax_backend import import_jax

    jax, optax = import_jax()
except MissingFramework as error:  # pragma: no cover - exercised where JAX is absent
    pytest.skip(str(error), allow_module_level=True)

from reference import jax_backend  # noqa: E402

# Normwise relative, 6 free-running steps. Measured worst: 5.1e-15 (state of centered RMSprop with
# momentum, jit off). Not 0: XLA's matmul sums in another order than OpenBLAS, jax.lax.rsqrt is
# within 1 ulp of scratchnet's 1/sqrt, and jit contracts a*b+c into FMA. The project's float64
# tolerance for free runs is 1e-10 (comparisons/tolerances.py); this is far inside it.
JAX_TOLERANCE = 1e-13

CASES = [  # (optimizer, options); options left out take optax's defaults (lr is required)
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.01, "beta_1": 0.8, "beta_2": 0.99, "eps_root": 1e-8}),
    ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "rho": 0.8, "centered": True, "momentum": 0.9, "weight_decay": 0.01}),
    ("rmsprop", {"lr": 0.01, "eps_in_sqrt": False, "initial_scale": 0.5}),
    ("adagrad", {"lr": 0.1}),
    ("adagrad", {"lr": 0.1, "initial_accumulator_value": 0.0, "epsilon": 0.0, "weight_decay": 0.01}),
]


# jit off compiles every primitive on first use (seconds per optimizer): one case per optimizer
NOJIT_CASES = [CASES[2], CASES[5], CASES[7], CASES[9], CASES[12]]


@pytest.mark.parametrize("backend, case", [("jax", case) for case in CASES] + [("jax_nojit", case) for case in NOJIT_CASES],
                         ids=[f"jax-{case_id(c)}" for c in CASES] + [f"jax_nojit-{case_id(c)}" for c in NOJIT_CASES])
def test_jax_matches_scratchnet_optax_convention(backend, case):
    """Loss, gradients, weights and optax's state (same slot names: mu, nu, count, trace, ...)."""
    spec, X, y = problem(*case)
    errors = lockstep_errors(reference.create("scratchnet", spec, "optax"), reference.create(backend, spec), X, y)
    assert max(errors.values()) < JAX_TOLERANCE, errors


def test_state_is_exported_under_canonical_names():
    spec, X, y = problem("adam", {"lr": 0.01, "amsgrad": True})
    record = reference.create("jax", spec).step(X[:4], y[:4])
    names = list(spec.initial_params)
    assert sorted(record.state) == sorted(f"{name}/{field}" for name in names for field in ("count", "mu", "nu", "nu_max"))
    assert record.state[f"{names[0]}/count"].dtype == np.int32 and int(record.state[f"{names[0]}/count"]) == 1
    assert all(record.state[f"{name}/mu"].shape == spec.initial_params[name].shape for name in names)


def _aligned(array: np.ndarray) -> np.ndarray:
    """A copy of `array` in 64-byte-aligned memory, which JAX's CPU device_put would alias."""
    buffer = np.empty(array.size + 8, dtype=array.dtype)
    offset = (-buffer.ctypes.data % 64) // array.itemsize
    out = buffer[offset:offset + array.size].reshape(array.shape)
    out[...] = array
    return out


def test_set_params_keeps_no_reference_to_the_callers_arrays():
    """Anchoring hands every lane the reference's arrays (possibly views of its live weights):
    changing them afterwards must not change JAX's parameters or state."""
    net = sn.Network([sn.layers.Dense(4, "tanh"), sn.layers.BatchNorm(), sn.layers.Dense(2)], input_shape=[3], seed=0)
    spec = Problem(net.spec(), net.params, OptimizerSpec("sgd", {"lr": 0.1}))
    backend = reference.create("jax", spec)
    given = {name: _aligned(value) for name, value in {**net.params, **net.state}.items()}
    backend.set_params(given)
    for value in given.values():
        value += 1.0
    expected = {**net.params, **net.state}
    assert all(np.array_equal(value, expected[name]) for name, value in backend.get_params().items())


def test_jit_and_nojit_agree_and_the_environment_says_which_ran():
    result = comparisons.run("regression-adam", backends=["scratchnet", "jax", "jax_nojit"], mode="free", steps=5)
    assert result.passed, result.verdict()
    settings = result.environment["settings"]
    assert settings["jax"]["jit"] is True and settings["jax_nojit"]["jit"] is False
    for name in ("jax", "jax_nojit"):
        assert settings[name]["jax_enable_x64"] is True and settings[name]["jax_default_matmul_precision"] == "highest"
        assert settings[name]["device"] == "cpu"
    assert {"jax", "jaxlib", "optax"} <= set(result.environment)
    diffs = result.diffs
    exact = diffs[diffs.backend.isin(["jax", "jax_nojit"]) & (diffs.reference == "scratchnet[optax]")]
    assert set(exact.backend) == {"jax", "jax_nojit"} and (exact.kind == "exact").all() and exact.passed.all()


def test_float32_stays_float32():
    """Hyperparameters go in as Python floats (weak types): no float64 promotion of the state."""
    result = comparisons.run("regression-adam", backends=["scratchnet", "jax"], mode="anchored", steps=3, dtype="float32")
    assert result.passed, result.verdict()
    assert not any(result.diffs.finding.astype(bool)), result.diffs[result.diffs.finding.astype(bool)]
    spec, X, y = problem("adam", {"lr": 0.01})
    spec = Problem({**spec.network, "dtype": "float32"}, {k: v.astype(np.float32) for k, v in spec.initial_params.items()},
                   spec.optimizer)
    record = reference.create("jax", spec).step(X[:4], y[:4])
    assert {value.dtype for value in record.params.values()} == {np.dtype(np.float32)}
    assert {value.dtype for key, value in record.state.items() if not key.endswith("/count")} == {np.dtype(np.float32)}


# ------------------------------------------------------------------ full-batch methods
@pytest.mark.parametrize("mode", ["anchored", "free"])
def test_levenberg_marquardt_on_jax_jacobian_has_scratchnets_mu_sequence(mode):
    result = comparisons.run("sin-lm-trainlm", backends=["scratchnet", "jax"], mode=mode)
    assert result.passed, result.verdict()
    diffs = result.diffs
    mu = diffs[(diffs.backend == "jax") & (diffs.quantity == "state") & (diffs.param == "mu")]
    assert len(mu) == result.steps_completed >= 5
    assert (mu.max_abs == 0).all()  # the same mu, epoch by epoch (accepted and rejected trials alike)
    assert result.losses["jax"].notna().sum() == result.losses["scratchnet"].notna().sum()


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jax_jacobian_matches_scratchnets(mode):
    net = sn.MLP([1, 5, 1], ["tanh", "linear"], init="nguyen_widrow", seed=0)
    data = sn.data.sin(40)
    X = sn.data.mapminmax(data.X)
    provider = jax_backend.JaxFlatNetwork(net.spec(), X, data.y, mode=mode)
    theta = sn.params.flatten(net.params)
    r, J = provider.residuals_and_jacobian(theta)
    r_ref, J_ref = sn.lm.NetworkResiduals(net, X, data.y).residuals_and_jacobian(theta)
    np.testing.assert_allclose(r, r_ref, rtol=0, atol=1e-14 * np.abs(r_ref).max())
    np.testing.assert_allclose(J, J_ref, rtol=0, atol=1e-14 * np.abs(J_ref).max())
    np.testing.assert_array_equal(provider.residuals(theta), r)
    loss, grad = provider.loss_and_grad_flat(theta)
    loss_ref, grad_ref = net.loss_and_grad_flat(theta, X, data.y)
    assert abs(loss - loss_ref) <= 1e-14 * abs(loss_ref)
    np.testing.assert_allclose(grad, grad_ref, rtol=0, atol=1e-13 * np.abs(grad_ref).max())


def test_tnc_on_jax_gradients_matches_anchored():
    result = comparisons.run("digits-ng-tnc", backends=["scratchnet", "jax"], mode="anchored", steps=15)
    assert result.passed, result.verdict()
    diffs = result.diffs
    rows = diffs[(diffs.backend == "jax") & (diffs.quantity == "grad")]
    assert not rows.empty and (rows.kind == "exact").all()


# ------------------------------------------------------------------ errors
def test_missing_jax_raises_missing_framework_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` now raises ImportError
    spec, _, _ = problem("sgd", {"lr": 0.1})
    with pytest.raises(MissingFramework, match=r"pip install 'scratchnet-parity\[jax\]'"):
        reference.create("jax", spec)
    with pytest.raises(MissingFramework, match=r"scratchnet-parity\[jax\]"):
        reference.get("jax").build_jacobian(spec, np.zeros((2, 3)), np.zeros((2, 2)))


def test_missing_jax_is_a_recorded_backend_failure_not_a_crash(monkeypatch):
    monkeypatch.setitem(sys.modules, "optax", None)
    result = comparisons.run("regression-adam", backends=["scratchnet", "jax"], steps=2)
    assert "jax" in result.failures and "scratchnet-parity[jax]" in result.failures["jax"].error
    assert "scratchnet[optax]" not in result.failures  # the twin still ran


@pytest.mark.parametrize("build, error, match", [
    (lambda spec: jax_backend.JaxBackend(spec, jit="yes"), TypeError, r"jit must be True or False, got 'yes'"),
    (lambda spec: jax_backend.JaxBackend(spec, device="tpu"), ValueError, r"unknown device 'tpu' for the jax backend \(valid: cpu, cuda\)"),
    (lambda spec: jax_backend.JaxBackend(spec, convention="keras"), ValueError, r"follows optax's optimizer convention only"),
    (lambda spec: jax_backend.JaxBackend(Problem(spec.network, spec.initial_params, OptimizerSpec("sgd", {"lr": 0.1, "dampening": 0.1}))),
     ValueError, r"optax sgd has no option 'dampening'.*no dampening"),
    (lambda spec: jax_backend.JaxBackend(Problem(spec.network, spec.initial_params, OptimizerSpec("adam", {}))),
     ValueError, r"optax.adam has no default learning rate"),
    (lambda spec: jax_backend.JaxBackend(Problem(spec.network, spec.initial_params, OptimizerSpec("lion", {"lr": 0.1}))),
     ValueError, r"the jax backend has no optimizer 'lion'"),
    (lambda spec: jax_backend.JaxFlatNetwork(spec.network, np.zeros((4, 3)), np.zeros((4, 2)), mode="central"),
     ValueError, r"unknown Jacobian mode 'central' \(valid: auto, rev, fwd\)"),
    (lambda spec: jax_backend.JaxFlatNetwork(spec.network, np.zeros((4, 2)), np.zeros((4, 2))),
     ValueError, r"need X \(m, 3\) and y \(m, 2\), got \(4, 2\) and \(4, 2\)"),
], ids=["jit", "device", "convention", "dampening", "no-lr", "optimizer", "jacobian-mode", "jacobian-shapes"])
def test_bad_options_raise_clear_errors(build, error, match):
    spec, _, _ = problem("adam", {"lr": 0.01})
    with pytest.raises(error, match=match):
        build(spec)


def test_a_layer_kind_without_a_jax_entry_is_named(monkeypatch):
    monkeypatch.setattr(jax_backend, "LAYERS", {})
    monkeypatch.setattr(jax_backend, "_FUNCTIONS", jax_backend._FunctionCache())  # built afresh: nothing reused
    spec, _, _ = problem("sgd", {"lr": 0.1})
    with pytest.raises(ValueError, match="the jax backend has no 'dense' layer yet"):
        reference.create("jax", spec)


def test_fast_math_xla_flags_are_refused(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
    with pytest.raises(ValueError, match="xla_cpu_enable_fast_math"):
        import_jax()


def _has_cuda() -> bool:
    try:
        return bool(jax.devices("cuda"))
    except RuntimeError:
        return False


@pytest.mark.skipif(_has_cuda(), reason="a CUDA device exists here")
def test_asking_for_cuda_without_a_gpu_fails_clearly_instead_of_falling_back():
    spec, _, _ = problem("sgd", {"lr": 0.1})
    with pytest.raises(ValueError, match=r"asked for device 'cuda', but JAX here has only \['cpu'\].*jax\[cuda12\]"):
        jax_backend.JaxBackend(spec, device="cuda")
    cpu = jax_backend.JaxBackend(spec, device="cpu")
    assert cpu.device.platform == "cpu" and all(p.devices() == {cpu.device} for p in cpu.params.values())


@pytest.mark.skipif(not _has_cuda(), reason="no CUDA device: JAX here has only CPU devices (a GPU lane needs "
                                            "a CUDA jaxlib, pip install 'jax[cuda12]', and an NVIDIA GPU)")
def test_jax_on_the_gpu_matches_scratchnet_optax():  # pragma: no cover - needs a GPU
    info = jax_backend.cuda_backend_info()
    with reference.registry.temporarily([info]):
        result = comparisons.run("regression-adam", backends=["scratchnet", "jax", info.name], mode="anchored", steps=10)
    assert result.passed, result.verdict()
    assert result.environment["settings"][info.name]["device"] == "cuda"


def test_jax_functions_are_shared_by_configuration_and_jit_only():
    base, _, _ = problem("sgd", {"lr": 0.1})
    jax_backend.clear_function_cache()
    first = reference.create("jax", base)
    other_weights = Problem(base.network, {name: value + 1.0 for name, value in base.initial_params.items()}, base.optimizer)
    assert reference.create("jax", other_weights)._train_step is first._train_step
    changed = Problem(base.network, base.initial_params, OptimizerSpec("sgd", {"lr": 0.25}))
    assert reference.create("jax", changed)._train_step is not first._train_step
    assert reference.create("jax_nojit", base)._train_step is not first._train_step


def test_the_jax_function_cache_keeps_the_most_recently_used(monkeypatch):
    cache = jax_backend._FunctionCache(size=2)
    built = []
    monkeypatch.setattr(jax_backend._Functions, "build", classmethod(lambda cls, p, calls: built.append(p.optimizer) or p))
    problems = {lr: Problem({"lr": lr}, {}, OptimizerSpec("sgd", {"lr": lr})) for lr in (1.0, 2.0, 3.0)}
    calls = jax_backend._Calls(jax, True, None)
    for lr in (1.0, 2.0, 1.0, 3.0):  # 3.0 pushes out 2.0, the least recently used
        cache.get(problems[lr], calls)
    assert [spec.options["lr"] for spec in built] == [1.0, 2.0, 3.0]
    assert [key[0] for key in cache.entries] == [problems[1.0].configuration(), problems[3.0].configuration()]
    cache.get(problems[2.0], calls)
    assert len(built) == 4 and len(cache.entries) == 2
