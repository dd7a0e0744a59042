"""Initializers: canonical shapes, seeded determinism, the documented distributions and biases."""
from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn

NAMES = sn.init.NAMES
BIG = (400, 600)  # one layer with 240,000 weights: sample statistics to well under 1 %


def init_layer(spec, sizes=BIG, activation="tanh", seed=0, **options):
    net = sn.MLP(list(sizes), [activation] * (len(sizes) - 1), init=spec, seed=seed, **options)
    return net.params


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bias", [True, False])
def test_canonical_names_shapes_and_dtype(name, bias):
    params = sn.MLP([5, 7, 3], ["tanh", "sigmoid"], init=name, bias=bias, dtype="float32").params
    expected = {"dense_0.W": (5, 7), "dense_0.b": (7,), "dense_1.W": (7, 3), "dense_1.b": (3,)}
    if not bias:
        expected = {key: shape for key, shape in expected.items() if key.endswith(".W")}
    assert {key: value.shape for key, value in params.items()} == expected
    assert list(params) == list(expected)
    assert all(value.dtype == np.float32 and value.flags.c_contiguous for value in params.values())


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights_other_seed_other_weights(name):
    first, again, other = (init_layer(name, (4, 6, 2), seed=seed) for seed in (7, 7, 8))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert any(not np.array_equal(first[key], other[key]) for key in first)


def test_layers_are_drawn_in_order_from_one_generator():
    """One seed gives one set of weights on every machine: W0, W1, ... from default_rng(seed)."""
    rng = np.random.default_rng(5)
    expected_0 = rng.uniform(-np.sqrt(6 / 7), np.sqrt(6 / 7), (3, 4))
    expected_1 = rng.uniform(-np.sqrt(6 / 6), np.sqrt(6 / 6), (4, 2))
    params = init_layer("glorot_uniform", (3, 4, 2), seed=5)
    np.testing.assert_array_equal(params["dense_0.W"], expected_0)
    np.testing.assert_array_equal(params["dense_1.W"], expected_1)


fan_in, fan_out = BIG
UNIFORM = {  # name -> bound of U(-bound, bound) for W; biases zero unless listed in BIAS_BOUND
    "glorot_uniform": np.sqrt(6 / (fan_in + fan_out)),
    "he_uniform": np.sqrt(6 / fan_in),
    "torch_default": 1 / np.sqrt(fan_in),
}
NORMAL = {"glorot_normal": np.sqrt(2 / (fan_in + fan_out)), "he_normal": np.sqrt(2 / fan_in)}


@pytest.mark.parametrize("name, bound", UNIFORM.items())
def test_uniform_initializers_fill_their_bounds(name, bound):
    W = init_layer(name)["dense_0.W"]
    assert np.abs(W).max() <= bound
    assert np.abs(W).max() > 0.999 * bound
    assert abs(W.std() / (bound / np.sqrt(3)) - 1) < 0.01
    assert abs(W.mean()) < 0.01 * bound


@pytest.mark.parametrize("name, std", NORMAL.items())
def test_normal_initializers_have_their_standard_deviation(name, std):
    W = init_layer(name)["dense_0.W"]
    assert abs(W.std() / std - 1) < 0.01
    assert abs(W.mean()) < 0.01 * std
    assert np.abs(W).max() > 3.5 * std  # not truncated


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"])
def test_keras_style_initializers_have_zero_biases(name):
    params = init_layer(name, (3, 4, 2))
    assert not params["dense_0.b"].any() and not params["dense_1.b"].any()


def test_torch_default_biases_share_the_weight_bound():
    b = init_layer("torch_default")["dense_0.b"]
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.99 * bound
    assert abs(b.std() / (bound / np.sqrt(3)) - 1) < 0.1


@pytest.mark.parametrize("spec, low, high", [
    ("uniform", -1.0, 1.0),
    ({"name": "uniform", "a": -0.5, "b": 2.0}, -0.5, 2.0),
])
def test_uniform_table_option(spec, low, high):
    params = init_layer(spec)
    for value in params.values():
        assert value.min() >= low and value.max() <= high
        assert value.min() < low + 0.01 * (high - low) and value.max() > high - 0.01 * (high - low)


@pytest.mark.parametrize("spec, std", [("normal", 0.05), ({"name": "normal", "std": 0.3}, 0.3)])
def test_normal_table_option(spec, std):
    params = init_layer(spec)
    assert abs(params["dense_0.W"].std() / std - 1) < 0.01
    assert abs(params["dense_0.b"].std() / std - 1) < 0.1  # 600 samples


def test_nguyen_widrow_magnitudes_and_bias_spread():
    params = init_layer("nguyen_widrow", (3, 5, 2), activation="tanh")
    W, b = params["dense_0.W"], params["dense_0.b"]
    magnitude = 0.7 * 5 ** (1 / 3)
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), magnitude, rtol=1e-12)
    # biases evenly spread over [-magnitude, magnitude], with the sign of each neuron's first weight
    np.testing.assert_allclose(b, magnitude * np.linspace(-1, 1, 5) * np.sign(W[0]), rtol=1e-12)


def test_nguyen_widrow_falls_back_to_uniform_for_linear_layers():
    params = sn.MLP([3, 5, 2], ["tanh", "linear"], init="nguyen_widrow", seed=0).params
    for key in ("dense_1.W", "dense_1.b"):
        assert np.abs(params[key]).max() <= 1.0
