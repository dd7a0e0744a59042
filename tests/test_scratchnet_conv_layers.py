"""scratchnet's image layers (conv2d, max/avg pooling, flatten), batch norm and dropout: specs and
names, shapes and bad input, gradients (gradcheck on networks and finite differences of every
layer's input gradient), state and modes, dropout masks, the residual Jacobian, kernel initializers
and the digits set as images. NumPy only; the frameworks are in tests/test_conv_backends.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D


def batch(shape, m=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, *shape)), np.eye(classes)[rng.integers(0, classes, m)]


# ---------------------------------------------------------------------------------- specs and names
ALL_LAYERS = [
    Conv2D(4, 3, stride=2, padding="same", activation="relu", bias=False),
    Conv2D(2, [3, 2], stride=[1, 2], padding=[1, 0]),
    MaxPool2D(2), MaxPool2D(3, stride=1), AvgPool2D([2, 1]), Flatten(),
    BatchNorm(), BatchNorm(momentum=0.2, eps=1e-3), Dropout(0.5), Dropout(0.25, seed=7),
]


@pytest.mark.parametrize("layer", ALL_LAYERS, ids=repr)
def test_layer_specs_round_trip_as_plain_data(layer):
    spec = layer.to_spec()
    assert json.loads(json.dumps(spec)) == spec
    assert sn.layers.layer_from_spec(spec) == layer and type(sn.layers.layer_from_spec(spec)) is type(layer)


def test_canonical_names_layouts_and_state_names():
    net = sn.Network([Conv2D(3, 3, bias=True), BatchNorm(), MaxPool2D(2), Flatten(), Dropout(0.5), Dense(2)],
                     input_shape=[1, 6, 6], seed=0)
    assert list(net.params) == ["conv2d_0.K", "conv2d_0.b", "batch_norm_1.gamma", "batch_norm_1.beta", "dense_5.W", "dense_5.b"]
    assert list(net.state) == ["batch_norm_1.running_mean", "batch_norm_1.running_var"]
    assert {k: v.shape for k, v in net.params.items()} == {
        "conv2d_0.K": (3, 1, 3, 3), "conv2d_0.b": (3,), "batch_norm_1.gamma": (3,), "batch_norm_1.beta": (3,),
        "dense_5.W": (12, 2), "dense_5.b": (2,)}
    assert net.layers[0].layout_text() == "K is (out_channels, in_channels, kh, kw), b is (out_channels,)"
    assert np.array_equal(net.state["batch_norm_1.running_var"], np.ones(3)) and not net.state["batch_norm_1.running_mean"].any()
    assert net.layers[4].seed == 0 and net.spec()["layers"][4] == {"type": "dropout", "rate": 0.5, "seed": 0}
    rebuilt = sn.network_from_spec(net.spec(), net.params)
    assert rebuilt.spec() == net.spec() and all(np.array_equal(rebuilt.params[k], v) for k, v in net.params.items())


@pytest.mark.parametrize("layer, input_shape, output_shape", [
    (Conv2D(4, 3), (2, 8, 8), (4, 6, 6)),
    (Conv2D(4, 3, padding=1), (2, 8, 8), (4, 8, 8)),
    (Conv2D(4, 4, padding="same"), (2, 7, 7), (4, 7, 7)),
    (Conv2D(4, 4, stride=2, padding="same"), (2, 7, 7), (4, 4, 4)),
    (Conv2D(4, [3, 1], stride=[2, 1], padding="valid"), (1, 7, 5), (4, 3, 5)),
    (MaxPool2D(2), (3, 7, 7), (3, 3, 3)),
    (AvgPool2D(3, stride=1), (3, 5, 5), (3, 3, 3)),
    (Flatten(), (3, 2, 2), (12,)),
    (BatchNorm(), (5,), (5,)),
    (Dropout(0.1), (3, 4, 4), (3, 4, 4)),
])
def test_output_shapes(layer, input_shape, output_shape):
    assert layer.output_shape(input_shape) == output_shape
    x = np.random.default_rng(0).normal(size=(2, *input_shape))
    params = layer.init_params(sn.init.get("glorot_uniform"), input_shape, np.random.default_rng(0), np.float64)
    extra = layer.draws(0, 0, x.shape, np.float64)
    state = layer.init_state(input_shape, np.float64) or None
    assert layer.forward(params, x, state, **extra)[1].shape == (2, *output_shape)


def test_same_padding_follows_tensorflow():
    assert Conv2D(1, 4, padding="same").pads((7, 7)) == (1, 2, 1, 2)  # odd row and column at the bottom/right
    assert Conv2D(1, 4, stride=2, padding="same").pads((7, 7)) == (1, 2, 1, 2)
    assert Conv2D(1, 4, stride=2, padding="same").pads((8, 8)) == (1, 1, 1, 1)
    assert Conv2D(1, 3, stride=2, padding="same").pads((8, 8)) == (0, 1, 0, 1)


@pytest.mark.parametrize("build, message", [
    (lambda: Conv2D(4, 5).output_shape((1, 3, 3)), r"the 5x5 kernel does not fit the input 3x3 padded to 3x3"),
    (lambda: Conv2D(4, 3).output_shape((64,)), r"conv2d layer takes channels-first images \(channels, height, width\)"),
    (lambda: Conv2D(4, 3, padding="full"), r"padding must be 'valid', 'same', an integer >= 0 or a pair"),
    (lambda: Conv2D(4, 3, padding=-1), r"padding must be 'valid', 'same', an integer >= 0"),
    (lambda: Conv2D(4, 3, padding=1.5), r"padding must be"),
    (lambda: Conv2D(0, 3), r"filters must be a positive integer, got 0"),
    (lambda: Conv2D(4, [3, 3, 3]), r"kernel_size must be a positive integer or a pair"),
    (lambda: Conv2D(4, 3, stride=0), r"stride must be a positive integer"),
    (lambda: MaxPool2D(4).output_shape((1, 3, 8)), r"the 4x4 pool is larger than its input 3x8"),
    (lambda: AvgPool2D(2).output_shape((4,)), r"avg_pool2d layer takes channels-first images"),
    (lambda: Dropout(1.0), r"rate must be a number in \[0, 1\)"),
    (lambda: Dropout(0.5, seed=-1), r"seed must be an integer >= 0"),
    (lambda: BatchNorm(momentum=1.5), r"momentum must be a number in \[0, 1\]"),
    (lambda: BatchNorm(eps=0), r"eps must be a number > 0"),
    (lambda: sn.layers.layer_from_spec({"type": "conv2d", "filter": 3, "kernel_size": 3}), r"conv2d layer has no option 'filter'; did you mean 'filters'"),
    (lambda: sn.Network([Conv2D(2, 3), Dense(2)], input_shape=[1, 5, 5]), r"layers\[1\] \(dense\): a dense layer takes flat samples"),
    (lambda: sn.Network([Conv2D(2, 3)], input_shape=[1, 5, 5]), r"the last layer must output flat samples"),
    (lambda: sn.Network([Flatten(), Dense(2)], input_shape=[1, 5, 5]).check_inputs(np.zeros((3, 5, 5, 1))),
     r"expected \(batch, 1, 5, 5\); it looks channels-last"),
])
def test_bad_input_is_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_batch_norm_refuses_unknown_conventions_and_single_values():
    plain = sn.Network([Conv2D(2, 3), Flatten(), Dense(2)], input_shape=[1, 5, 5])
    assert plain.set_convention("optax").convention == "optax"  # layers without conventions do not mind
    net = sn.Network([Flatten(), BatchNorm(), Dense(2)], input_shape=[1, 2, 2])
    with pytest.raises(ValueError, match=r"batch_norm has no 'mxnet' convention yet \(known: torch, keras, optax\)"):
        net.set_convention("mxnet")
    with pytest.raises(ValueError, match="needs more than one value per feature"):
        net.loss_and_grads(np.ones((1, 1, 2, 2)), np.ones((1, 2)))


def test_dropout_in_training_needs_its_mask():
    with pytest.raises(ValueError, match=r"needs the step's mask: pass scale=dropout_scale"):
        Dropout(0.5).forward({}, np.ones((2, 3)))
    assert np.array_equal(Dropout(0.5).train(False).forward({}, np.ones((2, 3)))[1], np.ones((2, 3)))


# ---------------------------------------------------------------------------------- gradients
NETWORKS = {
    "conv-relu-maxpool": ([Conv2D(3, 3, padding=1, activation="relu"), MaxPool2D(2), Flatten(), Dense(3, "softmax")], [2, 6, 6]),
    "strided-same-even-avgpool": ([Conv2D(3, 4, stride=2, padding="same", activation="tanh"), AvgPool2D(2, stride=1), Flatten(),
                                   Dense(3, "softmax")], [2, 7, 7]),
    "pair-padding-overlapping-maxpool": ([Conv2D(2, [3, 2], stride=[1, 2], padding=[1, 0], activation="relu"), MaxPool2D(3, stride=1),
                                          Flatten(), Dense(3, "softmax")], [1, 6, 8]),
    "batchnorm-dropout": ([Conv2D(4, 3, padding=1, bias=False), BatchNorm(), Dropout(0.3), MaxPool2D(2), Flatten(), Dense(5, "tanh"),
                           BatchNorm(momentum=0.2, eps=1e-3), Dropout(0.5), Dense(3, "softmax")], [2, 6, 6]),
    "no-bias-elu-l2": ([Conv2D(2, 3, activation={"name": "elu", "alpha": 0.5}, bias=False), Flatten(), Dense(3, "softmax")], [3, 5, 5]),
}


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("case", NETWORKS)
def test_gradcheck(case, mode):
    layers, shape = NETWORKS[case]
    net = sn.Network(layers, input_shape=shape, loss="categorical_cross_entropy", reduction="batch_mean",
                     l2=0.01 if case == "no-bias-elu-l2" else 0.0, init="uniform", seed=3)
    rng = np.random.default_rng(1)
    if mode == "eval":
        net.set_state({name: rng.uniform(0.5, 1.5, value.shape) for name, value in net.state.items()})
        net.eval()
    X, y = batch(shape)
    result = sn.gradcheck(net, X, y)
    assert result.ok, str(result)


def numeric_input_grad(layer, params, x, grad_out, kwargs, h=1e-6):
    out = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        out[index] = np.sum((layer.forward(params, plus, **kwargs)[1] - layer.forward(params, minus, **kwargs)[1]) * grad_out) / (2 * h)
    return out


@pytest.mark.parametrize("layer, shape", [
    (Conv2D(2, 3, stride=2, padding="same"), (2, 5, 5)), (Conv2D(2, [2, 3], padding=[1, 2]), (1, 4, 4)),
    (MaxPool2D(2), (2, 4, 5)), (MaxPool2D(3, stride=1), (1, 5, 5)), (AvgPool2D(2, stride=1), (2, 4, 4)),
    (Flatten(), (2, 3, 3)), (BatchNorm(), (3, 4, 4)), (BatchNorm(), (6,)), (Dropout(0.4), (2, 3, 3)),
], ids=lambda v: repr(v) if not isinstance(v, tuple) else str(v))
@pytest.mark.parametrize("training", [True, False])
def test_every_layer_input_gradient_matches_finite_differences(layer, shape, training):
    layer = layer.copy().train(training)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, *shape))
    params = layer.init_params(sn.init.get("uniform"), shape, rng, np.float64)
    kwargs = dict(layer.draws(3, 1, x.shape, np.float64))
    if layer.has_state:
        kwargs["state"] = {k: rng.uniform(0.5, 1.5, v.shape) for k, v in layer.init_state(shape, np.float64).items()}
    if layer.has_state and training:
        forward_kwargs = {k: v for k, v in kwargs.items() if k != "state"}  # a gradient evaluation: no update
    else:
        forward_kwargs = kwargs
    z, out = layer.forward(params, x, **forward_kwargs)
    grad_out = rng.normal(size=out.shape)
    _, grad_x = layer.backward(params, x, z, out, layer.activation_vjp(z, out, grad_out), **kwargs)
    expected = numeric_input_grad(layer, params, x, grad_out, forward_kwargs)
    assert np.abs(grad_x - expected).max() <= 1e-7 * max(1.0, np.abs(expected).max())


def test_max_pool_routes_ties_to_the_first_maximum_and_gradcheck_skips_them():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, :, 2:] = [[1.0, 3.0], [3.0, 2.0]]
    _, grad = MaxPool2D(2).backward({}, x, None, None, np.array([[[[5.0, 7.0]]]]))
    assert np.array_equal(grad[0, 0], [[5.0, 0.0, 0.0, 7.0], [0.0, 0.0, 0.0, 0.0]])  # all-zero window: top-left
    # two channels summed by a 1x1 kernel of ones: every window a four-way tie that any change of K breaks
    net = sn.Network([Conv2D(1, 1, bias=False), MaxPool2D(2), Flatten(), Dense(2)], input_shape=[2, 2, 2], init="uniform")
    net.params["conv2d_0.K"][...] = 1.0
    X = np.array([[[[1.0, 2.0], [3.0, 0.0]], [[2.0, 1.0], [0.0, 3.0]]]]).repeat(3, axis=0)
    result = sn.gradcheck(net, X, np.zeros((3, 2)))
    assert result.ok and result.params["conv2d_0.K"].kinks == 2 and result.params["dense_3.W"].kinks == 0


# ---------------------------------------------------------------------------------- state, modes, masks
def test_batch_norm_state_moves_in_training_steps_only_by_each_conventions_formula():
    X, y = batch((3, 4, 4), m=6)
    for convention in ("torch", "keras"):
        net = sn.Network([Conv2D(2, 3, bias=False), BatchNorm(momentum=0.2), Flatten(), Dense(3, "softmax")],
                         input_shape=[3, 4, 4], loss="categorical_cross_entropy", seed=1).set_convention(convention)
        z = net.forward(X)[0][0]
        net.loss_and_grads(X, y)
        assert not net.state["batch_norm_1.running_mean"].any() and net.step_count == 0  # a gradient evaluation
        net.loss_and_grads(X, y, update_state=True)
        mean, var = z.mean(axis=(0, 2, 3)), z.var(axis=(0, 2, 3))
        n = z.size // z.shape[1]
        if convention == "torch":
            expected_var = 0.2 * (var * n / (n - 1)) + 0.8 * 1.0  # unbiased in the running statistic
        else:
            expected_var = 1.0 * 0.8 + var * (1.0 - 0.8)
        assert np.allclose(net.state["batch_norm_1.running_mean"], 0.2 * mean, rtol=1e-14)
        assert np.allclose(net.state["batch_norm_1.running_var"], expected_var, rtol=1e-14) and net.step_count == 1
    defaults = {c: BatchNorm.CONVENTIONS[c] for c in ("torch", "keras")}
    assert defaults == {"torch": {"momentum": 0.1, "eps": 1e-5}, "keras": {"keras_momentum": 0.99, "eps": 1e-3}}


def test_eval_mode_uses_running_statistics_and_no_dropout():
    net = sn.Network([Flatten(), BatchNorm(), Dropout(0.5), Dense(2)], input_shape=[1, 2, 2], seed=2)
    X, _ = batch((1, 2, 2), m=4)
    state = {"batch_norm_1.running_mean": np.array([0.1, 0.2, 0.3, 0.4]), "batch_norm_1.running_var": np.array([1.0, 2.0, 3.0, 4.0])}
    net.set_state(state)
    net.eval()
    expected = ((X.reshape(4, -1) - state["batch_norm_1.running_mean"]) / np.sqrt(state["batch_norm_1.running_var"] + 1e-5)
                @ net.params["dense_3.W"] + net.params["dense_3.b"])
    assert np.allclose(net.predict(X), expected, rtol=1e-14)
    net.loss_and_grads(X, np.zeros((4, 2)), update_state=True)
    assert all(np.array_equal(net.state[k], v) for k, v in state.items())  # eval never updates
    with pytest.raises(ValueError, match="state names do not match"):
        net.set_state({"batch_norm_1.running_mean": np.zeros(4)})


def test_dropout_masks_are_a_pure_function_of_seed_step_layer_and_shape():
    mask = sn.layers.dropout_mask(3, 5, 2, (64, 8, 8), 0.25)
    assert mask.dtype == bool and np.array_equal(mask, sn.layers.dropout_mask(3, 5, 2, (64, 8, 8), 0.25))
    assert abs(mask.mean() - 0.75) < 0.02  # 4096 draws: standard error 0.007
    for other in [(4, 5, 2), (3, 6, 2), (3, 5, 3)]:
        assert not np.array_equal(mask, sn.layers.dropout_mask(*other, (64, 8, 8), 0.25))
    scale = sn.layers.dropout_scale(3, 5, 2, (4, 3), 0.25, np.float32)
    assert scale.dtype == np.float32 and set(np.unique(scale)) <= {0.0, np.float32(1.0) / np.float32(0.75)}
    net = sn.Network([Dropout(0.5), Dense(2)], input_shape=[6], seed=11)
    X = np.ones((4, 6))
    first = net.forward(X)[1][0]
    assert np.array_equal(first, net.forward(X)[1][0])  # gradient evaluations reuse the next step's mask
    assert np.array_equal(first, sn.layers.dropout_scale(11, 0, 0, X.shape, 0.5))
    net.loss_and_grads(X, np.zeros((4, 2)), update_state=True)
    assert np.array_equal(net.forward(X)[1][0], sn.layers.dropout_scale(11, 1, 0, X.shape, 0.5))


def test_fit_steps_the_state_and_the_masks():
    net = sn.Network([Flatten(), BatchNorm(), Dropout(0.2), Dense(3, "softmax")], input_shape=[1, 3, 3],
                     loss="categorical_cross_entropy")
    X, y = batch((1, 3, 3), m=12)
    sn.fit(net, X, y, sn.optim.get("sgd", lr=0.1), steps=4, batch_size=6)
    assert net.step_count == 4 and net.state["batch_norm_1.running_mean"].any()


# ---------------------------------------------------------------------------------- residual Jacobian
def test_residual_jacobian_of_a_conv_network_and_what_it_refuses():
    net = sn.Network([Conv2D(2, 3, stride=2, padding="same", activation="tanh"), MaxPool2D(2, stride=1), AvgPool2D(1),
                      Dropout(0.4), Flatten(), Dense(3, "sigmoid")], input_shape=[2, 6, 6], seed=1)
    X, y = batch((2, 6, 6), m=3)
    r, J = net.residual_jacobian(X, y)
    theta, h = sn.params.flatten(net.params), 1e-6
    numeric = np.stack([(net.forward(X, sn.params.unflatten(theta + h * e, net.params))[1][-1]
                         - net.forward(X, sn.params.unflatten(theta - h * e, net.params))[1][-1]).ravel() / (2 * h)
                        for e in np.eye(theta.size)], axis=1)
    assert np.abs(J - numeric).max() < 1e-8 * np.abs(J).max()
    bn = sn.Network([Conv2D(2, 3), BatchNorm(), Flatten(), Dense(2)], input_shape=[1, 5, 5])
    with pytest.raises(NotImplementedError, match=r"layers\[1\] \(batch_norm\): batch_norm in training mode couples the samples"):
        bn.residual_jacobian(np.ones((3, 1, 5, 5)), np.zeros((3, 2)))
    assert bn.eval().residual_jacobian(np.ones((3, 1, 5, 5)), np.zeros((3, 2)))[1].shape == (6, bn.n_params)


# ---------------------------------------------------------------------------------- init and data
@pytest.mark.parametrize("name", sn.init.NAMES)
def test_kernel_initializers_use_receptive_field_fans(name):
    layer = Conv2D(8, 3, activation="tanh")
    params = layer.init_params(sn.init.get(name), (4, 9, 9), np.random.default_rng(0), np.float32)
    assert params["K"].shape == (8, 4, 3, 3) and params["b"].shape == (8,) and params["K"].dtype == np.float32
    if name == "glorot_uniform":
        assert np.abs(params["K"]).max() <= np.sqrt(6.0 / (4 * 9 + 8 * 9)) and not params["b"].any()
    if name == "torch_default":
        assert np.abs(params["K"]).max() <= 1 / 6 and np.abs(params["b"]).max() <= 1 / 6
    again = layer.init_params(sn.init.get(name), (4, 9, 9), np.random.default_rng(0), np.float32)
    assert np.array_equal(again["K"], params["K"])


def test_digits_as_images():
    flat, images = sn.data.digits(n_samples=20), sn.data.digits(n_samples=20, as_images=True)
    assert images.X.shape == (20, 1, 8, 8) and np.array_equal(images.X.reshape(20, -1), flat.X)
    assert np.array_equal(images.y, flat.y)
