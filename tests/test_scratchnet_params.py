"""Flat parameter vectors (the scipy view) and the residual Jacobian (the Levenberg-Marquardt view)."""
from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.params import flatten, slices, unflatten


def make_net(activations=("tanh", "linear"), sizes=(3, 4, 2), dtype="float64", **options):
    return sn.MLP(list(sizes), list(activations), init="uniform", seed=0, dtype=dtype, **options)


def make_data(net, batch=5, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.dirichlet(np.ones(net.sizes[-1]), size=batch)  # valid for every loss
    return rng.normal(size=(batch, net.sizes[0])), y


# ---------------------------------------------------------------- flatten / unflatten
def test_flatten_concatenates_in_mapping_order_each_array_c_ordered():
    params = {"b": np.arange(6.0).reshape(2, 3), "a": np.asfortranarray(np.arange(6.0, 12.0).reshape(3, 2))}
    np.testing.assert_array_equal(flatten(params), np.arange(12.0))
    assert flatten(params).dtype == np.float64
    assert slices(params) == {"b": slice(0, 6), "a": slice(6, 12)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unflatten_round_trip_keeps_names_shapes_and_dtypes(dtype):
    params = make_net(dtype=dtype).params
    theta = flatten(params)
    back = unflatten(theta, params)
    assert list(back) == list(params)
    for name in params:
        assert back[name].shape == params[name].shape and back[name].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(back[name], params[name])
    theta[:] = 0  # the result owns its memory
    assert all(np.array_equal(back[name], params[name]) for name in params)


@pytest.mark.parametrize("vector", [np.zeros(25), np.zeros(27), np.zeros((1, 26))], ids=["short", "long", "2-D"])
def test_unflatten_refuses_a_vector_of_the_wrong_length(vector):
    with pytest.raises(ValueError, match=r"must be 1-D of length 26 .*dense_0\.W\(3, 4\).*got shape"):
        unflatten(vector, make_net().params)


# ---------------------------------------------------------------- loss_and_grad_flat
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loss_and_grad_flat_is_flatten_of_loss_and_grads(dtype):
    net = make_net(dtype=dtype)
    X, y = make_data(net)
    before = flatten(net.params)
    theta = before + 0.1  # somewhere else than the network's own weights
    loss, grad = net.loss_and_grad_flat(theta, X, y)
    expected_loss, expected_grads = net.loss_and_grads(X, y, unflatten(theta, net.params))
    assert type(loss) is float and loss == expected_loss
    assert grad.dtype == np.float64 and grad.shape == (net.n_params,)
    np.testing.assert_array_equal(grad, flatten(expected_grads))
    np.testing.assert_array_equal(flatten(net.params), before)  # the network is unchanged


def test_loss_and_grad_flat_drives_scipy_minimize():
    minimize = pytest.importorskip("scipy.optimize").minimize
    data = sn.data.xor()
    net = sn.MLP([2, 3, 1], ["tanh", "sigmoid"], loss="binary_cross_entropy", seed=0)
    theta0 = flatten(net.params)
    result = minimize(net.loss_and_grad_flat, theta0, args=(data.X, data.y), jac=True, method="L-BFGS-B")
    assert result.fun < 0.01 * net.loss_value(data.X, data.y)


# ---------------------------------------------------------------- residual_jacobian
def finite_difference_jacobian(net, X, y, h=1e-6):
    """Central differences of r(theta) = (output - y).ravel(), column by column."""
    def residuals(theta):
        return (net.forward(X, unflatten(theta, net.params))[1][-1] - y).ravel()

    theta = flatten(net.params)
    columns = []
    for index in range(theta.size):
        step = np.zeros_like(theta)
        step[index] = h
        columns.append((residuals(theta + step) - residuals(theta - step)) / (2 * h))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("activations, bias", [
    (("tanh", "linear"), True),
    (("sigmoid", "softmax"), True),
    (("softplus", "softmax"), False),
    (("elu", "sigmoid"), False),
    (("tanh", "softplus", "tanh"), True),
    (("relu", "leaky_relu", "softmax"), False),  # no pre-activation within h of a kink here
], ids=lambda value: "-".join(value) if isinstance(value, tuple) else f"bias={value}")
def test_residual_jacobian_matches_finite_differences(activations, bias):
    net = make_net(activations, sizes=(3, 4, 3, 3)[: len(activations) + 1], bias=bias)
    X, y = make_data(net)
    r, J = net.residual_jacobian(X, y)
    np.testing.assert_array_equal(r, (net.predict(X) - y).ravel())
    assert J.shape == (X.shape[0] * net.sizes[-1], net.n_params) and J.dtype == np.float64
    numeric = finite_difference_jacobian(net, X, y)
    assert np.abs(J - numeric).max() / np.abs(numeric).max() < 1e-8


@pytest.mark.parametrize("reduction", ["mean", "sum", "batch_mean"])
def test_residuals_relate_to_the_loss_and_its_gradient(reduction):
    """loss = scale * sum(r**2) / denominator and grad = 2 scale / denominator * J^T r."""
    net = make_net(("tanh", "sigmoid"), reduction=reduction, scale=0.5)
    X, y = make_data(net)
    r, J = net.residual_jacobian(X, y)
    denominator = {"mean": y.size, "sum": 1, "batch_mean": y.shape[0]}[reduction]
    loss, grads = net.loss_and_grads(X, y)
    np.testing.assert_allclose(loss, 0.5 * np.sum(r**2) / denominator, rtol=1e-14)
    np.testing.assert_allclose(flatten(grads), 2 * 0.5 / denominator * J.T @ r, rtol=1e-12, atol=1e-15)


def test_residual_jacobian_at_other_params_leaves_the_network_alone():
    net = make_net()
    X, y = make_data(net)
    other = {name: value + 0.25 for name, value in net.params.items()}
    r, J = net.residual_jacobian(X, y, params=other)
    moved = net.copy()
    moved.set_params(other)
    r_moved, J_moved = moved.residual_jacobian(X, y)
    np.testing.assert_array_equal(r, r_moved)
    np.testing.assert_array_equal(J, J_moved)
    assert not np.array_equal(r, net.residual_jacobian(X, y)[0])


@pytest.mark.parametrize("options, message", [
    ({"loss": "binary_cross_entropy"}, "residual_jacobian needs loss='squared_error'"),
    ({"l2": 0.1}, "build the network with l2=0"),
])
def test_residual_jacobian_refuses_other_losses(options, message):
    net = make_net(("tanh", "sigmoid"), **options)
    with pytest.raises(ValueError, match=message):
        net.residual_jacobian(*make_data(net))
