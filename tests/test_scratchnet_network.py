"""The forward pass and loss values against textbook NumPy formulas, activation conventions,
numerical stability, the network's plain-data spec, and float32 networks."""
from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn

TEXTBOOK = {  # the activations as written in a textbook, float64
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1),
    "softplus": lambda z: np.log(1 + np.exp(z)),
    "linear": lambda z: z,
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
}
TEXTBOOK_LOSS = {  # summed over every element
    "squared_error": lambda a, y: np.sum((a - y) ** 2),
    "binary_cross_entropy": lambda a, y: -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)),
    "categorical_cross_entropy": lambda a, y: -np.sum(y * np.log(a)),
}
OUTPUT_LOSS = [(name, "squared_error") for name in TEXTBOOK] + [
    (output, loss) for loss in ("binary_cross_entropy", "categorical_cross_entropy") for output in ("sigmoid", "softmax")
]


def single_layer(output, loss, reduction="mean", scale=1.0, dtype="float64"):
    net = sn.MLP([3, 4], [output], loss=loss, reduction=reduction, scale=scale, init="uniform", seed=0, dtype=dtype)
    rng = np.random.default_rng(1)
    return net, rng.normal(size=(5, 3)), rng.dirichlet(np.ones(4), size=5)  # rows of probabilities suit every loss


@pytest.mark.parametrize("reduction, denominator", [("mean", 20), ("sum", 1), ("batch_mean", 5)])
@pytest.mark.parametrize("output, loss", OUTPUT_LOSS)
def test_loss_value_matches_the_textbook_formula(output, loss, reduction, denominator):
    net, X, y = single_layer(output, loss, reduction, scale=0.5)
    a = TEXTBOOK[output](X @ net.params["dense_0.W"] + net.params["dense_0.b"])
    np.testing.assert_allclose(net.predict(X), a, rtol=1e-13)
    np.testing.assert_allclose(net.loss_value(X, y), 0.5 * TEXTBOOK_LOSS[loss](a, y) / denominator, rtol=1e-13)


def test_l2_penalises_weights_not_biases():
    net, X, y = single_layer("tanh", "squared_error")
    penalised = sn.MLP([3, 4], ["tanh"], l2=0.25, init="uniform", seed=0)
    expected = net.loss_value(X, y) + 0.25 * np.sum(net.params["dense_0.W"] ** 2)
    np.testing.assert_allclose(penalised.loss_value(X, y), expected, rtol=1e-14)
    _, grads = net.loss_and_grads(X, y)
    _, penalised_grads = penalised.loss_and_grads(X, y)
    np.testing.assert_allclose(penalised_grads["dense_0.W"] - grads["dense_0.W"], 0.5 * net.params["dense_0.W"], rtol=1e-12)
    np.testing.assert_array_equal(penalised_grads["dense_0.b"], grads["dense_0.b"])


@pytest.mark.parametrize("spec, slope_at_zero", [
    ("relu", 0.0),
    ("leaky_relu", 0.01),
    ({"name": "leaky_relu", "negative_slope": 0.2}, 0.2),
    ("elu", 1.0),
    ({"name": "elu", "alpha": 0.5}, 0.5),
])
def test_derivative_at_zero_follows_torch(spec, slope_at_zero):
    activation = sn.activations.get(spec)
    z = np.zeros((1, 1))
    assert activation.vjp(z, activation.forward(z), np.ones((1, 1)))[0, 0] == slope_at_zero


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "softmax", "tanh", "elu"])
def test_activations_do_not_overflow(name):
    z = np.array([[-1000.0, 0.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = sn.activations.get(name).forward(z)
    assert np.all(np.isfinite(a))


@pytest.mark.parametrize("output, loss", [("sigmoid", "binary_cross_entropy"), ("softmax", "categorical_cross_entropy")])
def test_cross_entropy_from_logits_stays_finite_for_saturated_outputs(output, loss):
    net = sn.MLP([1, 2], [output], loss=loss, reduction="sum")
    net.set_params({"dense_0.W": [[800.0, -800.0]], "dense_0.b": [0.0, 0.0]})  # logits +-800: exp overflows
    X, y = np.array([[-1.0], [1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    value, grads = net.loss_and_grads(X, y)
    assert value == pytest.approx(3200)  # -log(e^-1600) per sample (softmax) or 800 per element (sigmoid)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_spec_rebuilds_an_equal_network():
    net = sn.MLP([3, 4, 2], [{"name": "leaky_relu", "negative_slope": 0.2}, "softmax"], loss="categorical_cross_entropy",
                 reduction="sum", scale=0.5, l2=0.01, bias=False, dtype="float32")
    spec = net.spec()
    assert spec == {"input_shape": [3],
                    "layers": [{"type": "dense", "units": 4, "activation": {"name": "leaky_relu", "negative_slope": 0.2},
                                "bias": False},
                               {"type": "dense", "units": 2, "activation": "softmax", "bias": False}],
                    "loss": "categorical_cross_entropy", "reduction": "sum", "scale": 0.5, "l2": 0.01,
                    "dtype": "float32"}
    rebuilt = sn.network_from_spec(spec)
    assert isinstance(rebuilt, sn.MLP) and rebuilt.spec() == spec
    assert (rebuilt.sizes, rebuilt.activations, rebuilt.bias) == (net.sizes, net.activations, net.bias)


def test_copy_owns_its_parameters():
    net = sn.MLP([3, 4, 2], ["tanh", "linear"])
    clone = net.copy()
    clone.params["dense_0.W"] += 1.0
    assert not np.array_equal(clone.params["dense_0.W"], net.params["dense_0.W"])


# ---------------------------------------------------------------- float32
@pytest.mark.parametrize("output, loss", [("linear", "squared_error"), ("sigmoid", "binary_cross_entropy"),
                                          ("softmax", "categorical_cross_entropy")])
def test_float32_network_computes_in_float32(output, loss):
    net32 = sn.MLP([3, 6, 4], ["elu", output], loss=loss, dtype="float32", init="uniform", seed=0)
    net64 = sn.MLP([3, 6, 4], ["elu", output], loss=loss, dtype="float64", init="uniform", seed=0)
    _, X, y = single_layer("linear", "squared_error")
    assert net32.predict(X).dtype == np.float32
    loss32, grads32 = net32.loss_and_grads(X, y)
    loss64, grads64 = net64.loss_and_grads(X, y)
    assert type(loss32) is float and loss32 == pytest.approx(loss64, rel=1e-5)
    for name in grads64:
        assert grads32[name].dtype == np.float32
        np.testing.assert_allclose(grads32[name], grads64[name], rtol=1e-4, atol=1e-5 * np.abs(grads64[name]).max())


def test_float32_training_keeps_float32():
    data = sn.data.xor()
    net = sn.MLP([2, 4, 1], ["tanh", "sigmoid"], loss="binary_cross_entropy", dtype="float32", seed=0)
    optimizer = sn.optim.Adam(lr=0.1)
    history = sn.fit(net, data.X, data.y, optimizer, steps=50)
    assert history.losses[-1] < history.losses[0]
    assert all(value.dtype == np.float32 for value in net.params.values())
    assert all(slot.dtype == np.float32 for state in optimizer.state.values() for slot in state.values())
