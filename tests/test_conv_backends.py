"""The image layers, batch norm and dropout in the torch and Keras backends: each builds the
layer list through its table, converts at its boundary, carries the layer state and uses the
dropout masks scratchnet draws, and agrees with scratchnet (float64). A missing framework skips
its tests with the install hint."""
from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from reference.protocol import OptimizerSpec, Problem
from reference.scratchnet_backend import ScratchnetBackend
from scratchnet.layers import AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D

TOLERANCE = 1e-10  # normwise relative, float64 (measured: <= 3e-14)

NETWORKS = {
    "conv-pool": ([Conv2D(3, 3, padding=1, activation="relu"), MaxPool2D(2), Flatten(), Dense(3, "softmax")], [2, 6, 6]),
    "strided-same-uneven-pad": ([Conv2D(3, 4, stride=2, padding="same", activation="tanh"), AvgPool2D(2, stride=1),
                                 Conv2D(2, [2, 1], padding=[1, 0], bias=False), Flatten(), Dense(3, "softmax")], [2, 7, 7]),
    "batchnorm-dropout": ([Conv2D(4, 3, padding=1, bias=False), BatchNorm(), Dropout(0.3), MaxPool2D(2), Flatten(), Dropout(0.2),
                           BatchNorm(momentum=0.2, eps=1e-3), Dense(5, "tanh"), BatchNorm(), Dense(3, "softmax")], [2, 6, 6]),
}


def network(case, convention="torch"):
    layers, shape = NETWORKS[case]
    return sn.Network(layers, input_shape=shape, loss="categorical_cross_entropy", reduction="batch_mean", l2=0.01,
                      seed=3).set_convention(convention)


def batches(net, count=3, m=6, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(m, *net.input_shape)), np.eye(3)[rng.integers(0, 3, m)]) for _ in range(count)]


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def worst(record, expected, state=True) -> float:
    pairs = [(record.loss, expected.loss)] + [(record.grads[k], v) for k, v in expected.grads.items()]
    pairs += [(record.params[k], v) for k, v in expected.params.items()]
    if state:
        pairs += [(record.state[k], v) for k, v in expected.state.items() if k in record.state]
    return max(rel(a, b) if np.linalg.norm(b) > 1e-12 else float(np.abs(np.asarray(a) - b).max()) for a, b in pairs)


# ---------------------------------------------------------------------------------- torch
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="the torch backend needs torch: pip install -e '.[torch]'")


@pytest.mark.parametrize("case", NETWORKS)
def test_torch_matches_scratchnet(torch, case):
    from reference.torch_backend import TorchBackend, TorchNetwork, reference_loss_and_grads
    from reference.torch_jacobian import TorchFlatNetwork

    net = network(case)
    (X, y), *steps = batches(net)
    loss, grads = net.loss_and_grads(X, y)
    torch_loss, torch_grads = reference_loss_and_grads(net.spec(), net.params, X, y)
    assert max([rel(torch_grads[k], grads[k]) for k in grads] + [rel(torch_loss, loss)]) < TOLERANCE
    value, gradient = TorchFlatNetwork(net.spec(), X, y).loss_and_grad_flat(sn.params.flatten(net.params))
    assert rel(gradient, sn.params.flatten(grads)) < TOLERANCE
    problem = Problem(net.spec(), net.params, OptimizerSpec("sgd", {"lr": 0.1, "momentum": 0.9}))
    backend, twin = TorchBackend(problem), ScratchnetBackend(problem)
    assert list(backend.get_params()) == [*net.params, *net.state]  # the state travels with the parameters
    for X, y in steps:
        record, expected = backend.step(X, y), twin.step(X, y)
        assert [k for k in record.state if "/" not in k] == list(net.state)
        assert worst(record, expected) < TOLERANCE
    model = TorchNetwork(net.spec(), torch)
    state = {k: np.random.default_rng(1).uniform(0.5, 1.5, v.shape) for k, v in net.state.items()}
    model.load({**net.params, **state})
    assert all(np.array_equal(v, state[k]) for k, v in model.export_state().items())
    net.set_state(state)
    assert rel(model.train(False).predict(torch.from_numpy(X)).detach().numpy(), net.eval().predict(X)) < TOLERANCE


def test_torch_table_and_injected_masks(torch):
    from reference.torch_backend import LAYERS, TorchBackend

    assert set(LAYERS) == set(sn.layers.KINDS)
    assert LAYERS["batch_norm"].state == {"running_mean": "running_mean", "running_var": "running_var"}
    net = network("batchnorm-dropout")
    backend = TorchBackend(Problem(net.spec(), net.params, OptimizerSpec("sgd", {"lr": 0.1})))
    assert [type(m).__name__ for m in backend.network.modules] == [
        "Conv2d", "BatchNorm2d", "InjectedDropout", "MaxPool2d", "Flatten", "InjectedDropout", "BatchNorm1d", "Linear",
        "BatchNorm1d", "Linear"]
    (X, y), (X2, y2) = batches(net, 2)
    backend.step(X, y)
    backend.step(X2, y2)
    for index in (2, 5):  # the second step's masks, as scratchnet draws them
        expected = sn.layers.dropout_scale(3, 1, index, (6, *net.shapes[index]), net.layers[index].rate)
        assert np.array_equal(backend.network.modules[index].scale.numpy(), expected)
    padded = network("strided-same-uneven-pad")
    modules = TorchBackend(Problem(padded.spec(), padded.params, OptimizerSpec("sgd", {"lr": 0.1}))).network.modules
    assert type(modules[0]).__name__ == "PaddedConv2d" and modules[0].pads == (1, 2, 1, 2)


def test_torch_jacobian_of_a_conv_network_matches_scratchnet(torch):
    from reference.torch_jacobian import TorchFlatNetwork

    net = sn.Network([Conv2D(2, 3, stride=2, padding="same", activation="tanh"), MaxPool2D(2, stride=1), Dropout(0.3),
                      Flatten(), Dense(2, "linear")], input_shape=[1, 6, 6], seed=1)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(4, 1, 6, 6)), rng.normal(size=(4, 2))
    r, J = net.residual_jacobian(X, y)
    torch_r, torch_J = TorchFlatNetwork(net.spec(), X, y).residuals_and_jacobian(sn.params.flatten(net.params))
    assert rel(torch_r, r) < TOLERANCE and rel(torch_J, J) < TOLERANCE


# ---------------------------------------------------------------------------------- Keras
@pytest.fixture(scope="module")
def keras_backend():
    pytest.importorskip("keras", reason="the keras backend needs Keras 3 on TensorFlow: pip install -e '.[keras]'")
    from reference import keras_backend

    return keras_backend


@pytest.mark.parametrize("case", ["strided-same-uneven-pad", "batchnorm-dropout"])
def test_keras_matches_scratchnet_in_the_keras_convention(keras_backend, case):
    net = network(case, "keras")
    problem = Problem(net.spec(), net.params, OptimizerSpec("sgd", {"lr": 0.1, "momentum": 0.9}))
    backend, twin = keras_backend.KerasBackend(problem), ScratchnetBackend(problem, convention="keras")
    (X, y), *steps = batches(net)
    loss, grads = backend.loss_and_grads(net.params, X, y)
    expected_loss, expected_grads = net.loss_and_grads(X, y)
    assert rel(loss, expected_loss) < TOLERANCE and max(rel(grads[k], v) for k, v in expected_grads.items() if abs(v).max() > 1e-12) < TOLERANCE
    assert all(np.array_equal(v, twin.get_params()[k]) for k, v in backend.get_params().items())  # state restored
    for X, y in steps:
        record, expected = backend.step(X, y), twin.step(X, y)
        assert [k for k in record.state if "/" not in k] == list(net.state)
        assert worst(record, expected) < TOLERANCE
    state = {k: np.random.default_rng(1).uniform(0.5, 1.5, v.shape) for k, v in net.state.items()}
    backend.set_params({**net.params, **state})
    net.set_state(state)
    assert rel(backend.predict(X), net.eval().predict(X)) < TOLERANCE


def test_keras_converts_layouts_at_its_boundary(keras_backend):
    LAYERS = keras_backend.LAYERS
    assert set(LAYERS) == set(sn.layers.KINDS)
    assert LAYERS["dense"].feature_axes == {"W": 0} and LAYERS["flatten"].layout == "flatten"
    assert LAYERS["conv2d"].to_keras["K"](np.zeros((4, 3, 2, 5))).shape == (2, 5, 3, 4)
    net = network("batchnorm-dropout", "keras")
    backend = keras_backend.KerasBackend(Problem(net.spec(), net.params, OptimizerSpec("sgd", {"lr": 0.1})))
    assert backend.layouts[0].keras_shape == (6, 6, 2)  # channels-last
    kernel = backend.model.trainable_variables[0].numpy()
    assert np.array_equal(kernel, net.params["conv2d_0.K"].transpose(2, 3, 1, 0))
    # after the flatten, Keras orders features (h, w, c): the batch norm vectors and dense rows are permuted
    order = np.arange(4 * 3 * 3).reshape(4, 3, 3).transpose(1, 2, 0).ravel()
    assert np.array_equal(backend.layouts[6].order, order)
    gamma = np.arange(36.0)
    backend.set_params({**net.params, "batch_norm_6.gamma": gamma})
    keras_gamma = next(v for v in backend.model.trainable_variables if v.path.endswith("batch_norm_6/gamma"))
    assert np.array_equal(keras_gamma.numpy(), gamma[order]) and np.array_equal(backend.get_params()["batch_norm_6.gamma"], gamma)
    dense = next(v for v in backend.model.trainable_variables if v.path.endswith("dense_7/kernel"))
    assert np.array_equal(dense.numpy(), net.params["dense_7.W"][order])
    with pytest.raises(ValueError, match="the keras backend has no 'pool' layer yet"):
        keras_backend.layer_entry(type("Pool", (), {"kind": "pool"})())
