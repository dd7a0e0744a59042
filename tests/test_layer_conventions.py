"""The layer conventions of comparisons/conventions.py, measured on the frameworks themselves:
batch-norm defaults read from the constructors, the running-variance formulas, max-pool tie
breaking, "same" padding, the channels-last constraint of TensorFlow's CPU convolution; and which
of them a scenario puts in play."""
from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import scratchnet as sn  # noqa: E402
from comparisons import catalog, conventions  # noqa: E402
from scratchnet.layers import BatchNorm, Conv2D, MaxPool2D  # noqa: E402

torch = pytest.importorskip("torch", reason="needs torch: pip install -e '.[torch]'")


@pytest.fixture(scope="module")
def keras_tf():
    pytest.importorskip("keras", reason="needs Keras 3 on TensorFlow: pip install -e '.[keras]'")
    from reference.keras_backend import import_keras

    keras, tf = import_keras()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    return keras, tf


def defaults(function, *names):
    parameters = inspect.signature(function).parameters
    return tuple(parameters[name].default for name in names)


def test_batch_norm_defaults_are_the_frameworks(keras_tf):
    keras, _ = keras_tf
    torch_momentum, torch_eps = defaults(torch.nn.BatchNorm2d.__init__, "momentum", "eps")
    keras_momentum, keras_eps = defaults(keras.layers.BatchNormalization.__init__, "momentum", "epsilon")
    assert BatchNorm.CONVENTIONS["torch"] == {"momentum": torch_momentum, "eps": torch_eps} == {"momentum": 0.1, "eps": 1e-5}
    assert BatchNorm.CONVENTIONS["keras"] == {"keras_momentum": keras_momentum, "eps": keras_eps}
    assert (keras_momentum, keras_eps) == (0.99, 1e-3)


def test_running_variance_is_unbiased_in_torch_and_biased_in_keras(keras_tf):
    keras, _ = keras_tf
    x = np.random.default_rng(0).normal(size=(5, 3))
    module = torch.nn.BatchNorm1d(3, momentum=0.25, dtype=torch.float64)
    module(torch.from_numpy(x))
    layer = keras.layers.BatchNormalization(momentum=0.75)
    layer(x, training=True)
    assert np.allclose(module.running_var.numpy(), 0.75 + 0.25 * x.var(axis=0, ddof=1), rtol=1e-15)
    assert np.allclose(layer.moving_variance.numpy(), 0.75 + 0.25 * x.var(axis=0), rtol=1e-15)
    for convention, keras_side in (("torch", False), ("keras", True)):
        net = sn.Network([BatchNorm(momentum=0.25)], input_shape=[3]).set_convention(convention)
        net.loss_and_grads(x, np.zeros((5, 3)), update_state=True)
        expected = layer.moving_variance.numpy() if keras_side else module.running_var.numpy()
        assert np.allclose(net.state["batch_norm_0.running_var"], expected, rtol=1e-15)


@pytest.mark.parametrize("pool, stride", [(2, 2), (3, 1)])
def test_max_pool_ties_go_to_the_first_maximum_everywhere(keras_tf, pool, stride):
    keras, tf = keras_tf
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=(4, 2, 6, 6)).astype(np.float64)  # many tied maxima
    out_size = (6 - pool) // stride + 1
    dout = rng.normal(size=(4, 2, out_size, out_size))
    leaf = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.max_pool2d(leaf, pool, stride).backward(torch.from_numpy(dout))
    inputs = tf.constant(x.transpose(0, 2, 3, 1))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        out = keras.layers.MaxPooling2D(pool, strides=stride)(inputs)
    keras_grad = tape.gradient(out, inputs, output_gradients=tf.constant(dout.transpose(0, 2, 3, 1))).numpy().transpose(0, 3, 1, 2)
    ours = MaxPool2D(pool, stride=stride).backward({}, x, None, None, dout)[1]
    # a misrouted gradient is off by O(1); overlapping windows sum in each library's own order (1 ulp)
    assert np.abs(leaf.grad.numpy() - keras_grad).max() <= 1e-14 and np.abs(ours - leaf.grad.numpy()).max() <= 1e-14


def test_same_padding_torch_refuses_strides_and_tensorflow_pads_the_bottom_right(keras_tf):
    _, tf = keras_tf
    rng = np.random.default_rng(2)
    x, kernel = rng.normal(size=(2, 3, 7, 7)), rng.normal(size=(4, 3, 4, 4))
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided convolutions"):
        torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(kernel), stride=2, padding="same")
    for stride in (1, 2):
        expected = tf.nn.convolution(x.transpose(0, 2, 3, 1), kernel.transpose(2, 3, 1, 0), strides=stride,
                                     padding="SAME").numpy().transpose(0, 3, 1, 2)
        ours = Conv2D(4, 4, stride=stride, padding="same", bias=False).forward({"K": kernel}, x)[0]
        assert ours.shape == expected.shape and np.abs(ours - expected).max() < 1e-13
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that an even kernel needs a padded copy
        torch_same = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(kernel), padding="same").numpy()
    assert np.abs(torch_same - Conv2D(4, 4, padding="same", bias=False).forward({"K": kernel}, x)[0]).max() < 1e-13


def test_tensorflow_cpu_convolutions_are_channels_last_only(keras_tf):
    keras, _ = keras_tf
    with pytest.raises(Exception, match="NHWC"):
        keras.layers.Conv2D(2, 3, data_format="channels_first")(np.ones((1, 1, 5, 5)))


def test_which_layer_conventions_a_scenario_puts_in_play():
    keys = {name: {c["key"] for c in conventions.in_play(catalog.get(name))}
            for name in ("digits-cnn-momentum", "digits-cnn-adam", "digits-cnn-batchnorm-dropout")}
    assert {"max_pool_ties", "image_layout"} <= keys["digits-cnn-momentum"]
    assert not keys["digits-cnn-momentum"] & {"batch_norm_momentum", "dropout_masks", "conv_same_padding"}
    assert "conv_same_padding" in keys["digits-cnn-adam"]
    assert {"batch_norm_momentum", "batch_norm_eps", "batch_norm_running_variance", "dropout_masks"} <= keys["digits-cnn-batchnorm-dropout"]
    assert conventions.layers_coincide(catalog.get("digits-cnn-momentum").network, "torch", "keras")
    assert not conventions.layers_coincide(catalog.get("digits-cnn-batchnorm-dropout").network, "torch", "keras")
