"""Batch norm and dropout in the jax backend and in scratchnet's ``optax`` convention.

scratchnet's side (NumPy only): the optax batch-norm convention is flax.linen.BatchNorm's
(momentum 0.99 weighing the old statistic, epsilon 1e-5, the two-pass batch variance of its
``use_fast_variance=False``), its
gradients pass gradcheck, and its running statistics follow flax's formula. The jax side (skipped
without JAX): the table has every layer kind, the backend runs a network with both layers in
lockstep with ``scratchnet[optax]`` (loss, gradients, weights, running statistics, eval mode, jit on
and off), its flat-vector providers agree with scratchnet's, and each step uses its own dropout
masks, passed into the jitted step (a mask baked into the compiled step would repeat step 0's:
the lockstep test fails then, which `test_a_mask_baked_into_the_step_would_be_caught` checks).
"""
from __future__ import annotations

import numpy as np
import pytest

import reference
import scratchnet as sn
from reference.protocol import MissingFramework, OptimizerSpec, Problem
from scratchnet.layers import BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D

# Normwise relative, float64. Measured worst over these networks and 4 steps, jit on and off:
# 2.3e-14 (a gradient of the conv network, jit off; XLA sums in another order than NumPy and
# lax.rsqrt is within 1 ulp of 1 / sqrt). The project's anchored float64 tolerance is 1e-12
# (comparisons/tolerances.py).
TOLERANCE = 1e-12

NETWORKS = {  # the batch-norm / dropout network of tests/test_conv_backends.py, and a dense one
    "conv-batchnorm-dropout": ([Conv2D(4, 3, padding=1, bias=False), BatchNorm(), Dropout(0.3), MaxPool2D(2), Flatten(),
                                Dropout(0.2), BatchNorm(momentum=0.2, eps=1e-3), Dense(5, "tanh"), BatchNorm(),
                                Dense(3, "softmax")], [2, 6, 6]),
    "dense-batchnorm-dropout": ([Dense(6, "relu"), BatchNorm(), Dropout(0.5), Dense(3, "softmax")], [4]),
}


def network(case, convention="optax"):
    layers, shape = NETWORKS[case]
    return sn.Network(layers, input_shape=shape, loss="categorical_cross_entropy", reduction="batch_mean", l2=0.01,
                      seed=3).set_convention(convention)


def batches(net, count=4, m=6, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(m, *net.input_shape)), np.eye(3)[rng.integers(0, 3, m)]) for _ in range(count)]


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def worst(record, expected) -> float:
    pairs = [(record.loss, expected.loss)] + [(record.grads[k], v) for k, v in expected.grads.items()]
    pairs += [(record.params[k], v) for k, v in expected.params.items()]
    pairs += [(record.state[k], v) for k, v in expected.state.items()]
    return max(rel(a, b) for a, b in pairs)


def sgd_problem(net):
    return Problem(net.spec(), net.params, OptimizerSpec("sgd", {"lr": 0.1, "momentum": 0.9}))


# ---------------------------------------------------------------------------------- scratchnet, optax convention
def test_the_optax_batch_norm_convention_is_flax_linen_batchnorms():
    # flax 0.12.8, flax/linen/normalization.py, class BatchNorm: momentum=0.99 (ra = momentum * ra +
    # (1 - momentum) * batch), epsilon=1e-5; the two-pass variance (use_fast_variance=False)
    assert BatchNorm.CONVENTIONS["optax"] == {"flax_momentum": 0.99, "eps": 1e-5}
    layer = BatchNorm()
    layer.convention = "optax"
    assert layer.effective_eps == 1e-5


@pytest.mark.parametrize("momentum", [None, 0.2])
def test_a_training_step_moves_the_running_statistics_by_flaxs_formula(momentum):
    rng = np.random.default_rng(0)
    x = rng.normal(loc=2.0, size=(6, 3, 4, 4))
    layer = BatchNorm(momentum=momentum)
    layer.convention = "optax"
    state = {"running_mean": rng.uniform(-1, 1, 3), "running_var": rng.uniform(0.5, 1.5, 3)}
    before = {k: v.copy() for k, v in state.items()}
    z, _ = layer.forward({"gamma": np.ones(3), "beta": np.zeros(3)}, x, state)
    axes = (0, 2, 3)
    mean = x.mean(axis=axes)
    var = np.square(x - mean.reshape(1, 3, 1, 1)).sum(axis=axes) / (x.size // 3)  # _compute_stats, two passes
    keep = 0.99 if momentum is None else 1.0 - momentum  # flax's momentum: the old value's weight
    assert np.array_equal(state["running_mean"], keep * before["running_mean"] + (1.0 - keep) * mean)
    assert np.array_equal(state["running_var"], keep * before["running_var"] + (1.0 - keep) * var)
    column = (1, 3, 1, 1)
    expected = (x - mean.reshape(column)) * (1.0 / np.sqrt(var + 1e-5)).reshape(column)
    assert np.array_equal(z, expected)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("case", NETWORKS)
def test_gradcheck_in_the_optax_convention(case, mode):
    layers, shape = NETWORKS[case]
    net = sn.Network(layers, input_shape=shape, loss="categorical_cross_entropy", reduction="batch_mean",
                     init="uniform", seed=3).set_convention("optax")
    rng = np.random.default_rng(1)
    if mode == "eval":
        net.set_state({name: rng.uniform(0.5, 1.5, value.shape) for name, value in net.state.items()})
        net.eval()
    X = rng.normal(loc=1.0, size=(5, *shape))
    y = np.eye(3)[rng.integers(0, 3, 5)]
    result = sn.gradcheck(net, X, y)
    assert result.ok, str(result)


def test_parity_conventions_lists_the_optax_batch_norm_and_flaxs_one_pass_variance_as_not_followed():
    from comparisons import catalog, conventions

    entries = {c.key: c for c in conventions.CONVENTIONS}
    for key in ("batch_norm_momentum", "batch_norm_eps", "batch_norm_running_variance", "batch_norm_batch_variance"):
        assert "flax" in entries[key].formulas["optax"] + entries[key].source
    assert "max(0, mean(x^2) - mean(x)^2)" in conventions.describe()
    scenario = catalog.get("digits-cnn-batchnorm-dropout").with_overrides(backends=["scratchnet", "torch", "keras", "jax"])
    in_play = {c["key"] for c in conventions.in_play(scenario)}
    assert "batch_norm_momentum" in in_play and "batch_norm_batch_variance" not in in_play  # every lane: two passes


# ---------------------------------------------------------------------------------- the jax backend
@pytest.fixture(scope="module")
def jax_backend():
    try:
        from reference import jax_backend

        jax_backend.import_jax()
    except MissingFramework as error:  # pragma: no cover - exercised where JAX is absent
        pytest.skip(str(error))
    return jax_backend


def test_the_jax_table_has_every_layer_kind_and_flaxs_defaults(jax_backend):
    assert set(jax_backend.LAYERS) == set(sn.layers.KINDS)
    assert jax_backend.LAYERS["batch_norm"].state == ("running_mean", "running_var")
    # written independently of scratchnet's table (a reference does not read the code under test)
    flax = jax_backend.FLAX_BATCH_NORM
    optax = BatchNorm.CONVENTIONS["optax"]
    assert (flax["momentum"], flax["epsilon"]) == (optax["flax_momentum"], optax["eps"])


@pytest.mark.parametrize("backend", ["jax", "jax_nojit"])
@pytest.mark.parametrize("case", NETWORKS)
def test_jax_matches_scratchnet_optax_in_lockstep(jax_backend, case, backend):
    net = network(case)
    problem = sgd_problem(net)
    jax_lane, twin = reference.create(backend, problem), reference.create("scratchnet", problem, "optax")
    assert list(jax_lane.get_params()) == [*net.params, *net.state]  # the state travels with the parameters
    for X, y in batches(net):
        loss, grads = jax_lane.loss_and_grads(twin.net.params, X, y)  # a gradient evaluation: the next step's masks
        expected_loss, expected_grads = twin.loss_and_grads(twin.net.params, X, y)
        assert max([rel(loss, expected_loss)] + [rel(grads[k], v) for k, v in expected_grads.items()]) < TOLERANCE
        record, expected = jax_lane.step(X, y), twin.step(X, y)
        assert [k for k in record.state if "/" not in k] == list(net.state)
        assert worst(record, expected) < TOLERANCE
    X = batches(net, 1, seed=5)[0][0]
    assert rel(jax_lane.predict(X, training=True), twin.net.forward(X)[1][-1]) < TOLERANCE  # the next step's masks
    state = {k: np.random.default_rng(1).uniform(0.5, 1.5, v.shape) for k, v in net.state.items()}
    jax_lane.set_params({**twin.net.params, **state})
    twin.set_params({**twin.net.params, **state})
    assert all(np.array_equal(v, state[k]) for k, v in jax_lane.get_params().items() if k in state)
    assert rel(jax_lane.predict(X), twin.net.eval().predict(X)) < TOLERANCE  # eval: running statistics, no dropout


def test_the_jax_lane_computes_the_two_pass_variance(jax_backend):
    """Two samples per feature: every sum is a + b, the same in any order, so JAX op by op and
    NumPy agree bit for bit, and flax's default one-pass variance would differ from the two-pass
    one that the jax lane and scratchnet[optax] compute (use_fast_variance=False)."""
    net = sn.Network([BatchNorm(momentum=1.0), Dense(2)], input_shape=[3], seed=0).set_convention("optax")
    X, y = np.array([[1e4 + 0.3, 3.0 + 1e-9, 5.5], [1e4 - 0.7, 3.0 - 2e-9, -1.25]]), np.zeros((2, 2))
    mean = X.mean(axis=0)
    two_pass = np.square(X - mean).sum(axis=0) / 2
    assert not np.array_equal(two_pass, np.maximum(0.0, np.square(X).mean(axis=0) - np.square(mean)))
    problem = Problem(net.spec(), net.params, OptimizerSpec("sgd", {"lr": 0.1}))
    for backend in ("jax_nojit", "scratchnet"):  # momentum 1: the running variance is the batch's
        record = reference.create(backend, problem, "optax").step(X, y)
        assert np.array_equal(record.state["batch_norm_0.running_var"], two_pass), backend


def test_each_step_injects_the_masks_of_its_own_step(jax_backend):
    net = network("conv-batchnorm-dropout")
    jax_lane = reference.create("jax", sgd_problem(net))
    (X, y), (X2, y2) = batches(net, 2)
    for step in (0, 1):
        draws = jax_lane.network.draws(step, len(X))
        for index in (2, 5):  # scratchnet's masks for (seed, step, layer index, input shape)
            expected = sn.layers.dropout_scale(3, step, index, (6, *net.shapes[index]), net.layers[index].rate)
            assert np.array_equal(np.asarray(draws[index]["scale"]), expected)
    assert not np.array_equal(np.asarray(jax_lane.network.draws(0, 6)[2]["scale"]),
                              np.asarray(jax_lane.network.draws(1, 6)[2]["scale"]))  # masks change per step
    jax_lane.step(X, y)
    assert np.array_equal(np.asarray(jax_lane._draws(X2)[2]["scale"]), np.asarray(jax_lane.network.draws(1, 6)[2]["scale"]))


def test_a_mask_baked_into_the_step_would_be_caught(jax_backend, monkeypatch):
    """The lockstep comparison fails when every step uses step 0's masks (as a mask captured as a
    constant of the jitted step would): the test above can fail."""
    net = network("dense-batchnorm-dropout")
    problem = sgd_problem(net)
    original = jax_backend.JaxNetwork.draws
    monkeypatch.setattr(jax_backend.JaxNetwork, "draws", lambda self, step, batch, device=None: original(self, 0, batch, device))
    jax_lane, twin = reference.create("jax", problem), reference.create("scratchnet", problem, "optax")
    errors = [worst(jax_lane.step(X, y), twin.step(X, y)) for X, y in batches(net, 2)]
    assert errors[0] < TOLERANCE and errors[1] > 1e-3


def test_flat_network_providers_use_the_batch_statistics_and_step_0s_masks(jax_backend):
    net = sn.Network([Conv2D(2, 3, stride=2, padding="same", activation="tanh"), MaxPool2D(2, stride=1), Dropout(0.3),
                      Flatten(), Dense(2, "linear")], input_shape=[1, 6, 6], seed=1)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(4, 1, 6, 6)), rng.normal(size=(4, 2))
    theta = sn.params.flatten(net.params)
    r, J = net.residual_jacobian(X, y)
    provider = jax_backend.JaxFlatNetwork(net.spec(), X, y)
    jax_r, jax_J = provider.residuals_and_jacobian(theta)
    assert rel(jax_r, r) < TOLERANCE and rel(jax_J, J) < TOLERANCE
    bn = network("dense-batchnorm-dropout")
    X, y = batches(bn, 1, m=8)[0]
    loss, grad = jax_backend.JaxFlatNetwork(bn.spec(), X, y).loss_and_grad_flat(sn.params.flatten(bn.params))
    expected_loss, expected_grad = bn.loss_and_grad_flat(sn.params.flatten(bn.params), X, y)
    assert rel(loss, expected_loss) < TOLERANCE and rel(grad, expected_grad) < TOLERANCE
