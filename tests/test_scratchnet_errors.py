"""Bad input: every error is a ValueError/TypeError whose message names the argument and what
was expected (and, where one exists, the fix: transposed data, reshape, nearest valid name)."""
from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn

rng = np.random.default_rng(0)
X = rng.normal(size=(5, 3))
Y = rng.normal(size=(5, 2))
PROBABILITIES = rng.dirichlet(np.ones(3), size=5)


def regression_net(outputs: int = 2) -> sn.MLP:
    return sn.MLP([3, 4, outputs], ["tanh", "linear"])


def classifier(loss: str = "categorical_cross_entropy", output: str = "softmax") -> sn.MLP:
    return sn.MLP([3, 4, 3], ["tanh", output], loss=loss)


def with_value(array: np.ndarray, index: tuple[int, int], value: float) -> np.ndarray:
    out = array.copy()
    out[index] = value
    return out


def case(id, call, error, match):
    return pytest.param(call, error, match, id=id)


DATA_CASES = [
    case("X-transposed", lambda: regression_net().loss_and_grads(X.T, Y), ValueError,
         r"X has shape \(3, 5\), expected \(batch, 3\); it looks transposed \(samples must be rows\): pass X\.T"),
    case("X-1d", lambda: regression_net().predict(X[0]), ValueError,
         r"X has shape \(3,\), expected \(batch, 3\); for one sample use X\.reshape\(1, -1\)"),
    case("X-wrong-width", lambda: regression_net().predict(np.ones((5, 4))), ValueError,
         r"X has shape \(5, 4\), expected \(batch, 3\)"),
    case("X-empty", lambda: regression_net().predict(np.ones((0, 3))), ValueError, r"X has no samples"),
    case("X-strings", lambda: regression_net().predict(X.astype(str)), TypeError,
         r"X must hold real numbers \(bool, int or float\), got dtype <U"),
    case("X-complex", lambda: regression_net().predict(X + 1j), TypeError, r"X must hold real numbers .*complex128"),
    case("X-nan", lambda: regression_net().loss_value(with_value(X, (2, 1), np.nan), Y), ValueError,
         r"X contains NaN or Inf \(first at index \(2, 1\)\)"),
    case("X-inf", lambda: regression_net().loss_value(with_value(X, (0, 2), -np.inf), Y), ValueError,
         r"X contains NaN or Inf \(first at index \(0, 2\)\)"),
    case("y-wrong-shape", lambda: regression_net().loss_value(X, np.ones((5, 3))), ValueError,
         r"y has shape \(5, 3\) but the network outputs \(5, 2\) for this X"),
    case("y-transposed", lambda: regression_net().loss_value(X, Y.T), ValueError,
         r"y has shape \(2, 5\) but the network outputs \(5, 2\).*transposed.*pass y\.T"),
    case("y-1d-single-output", lambda: regression_net(1).loss_value(X, np.ones(5)), ValueError,
         r"y has shape \(5,\) but the network outputs \(5, 1\) for this X; reshape it with y\.reshape\(-1, 1\)"),
    case("y-nan", lambda: regression_net().loss_value(X, with_value(Y, (1, 0), np.nan)), ValueError,
         r"y contains NaN or Inf \(first at index \(1, 0\)\)"),
    case("y-inf", lambda: regression_net().loss_and_grads(X, with_value(Y, (4, 1), np.inf)), ValueError,
         r"y contains NaN or Inf \(first at index \(4, 1\)\)"),
    case("y-strings", lambda: regression_net().loss_value(X, Y.astype(str)), TypeError, r"y must hold real numbers"),
    case("bce-targets-outside-0-1", lambda: classifier("binary_cross_entropy", "sigmoid").loss_value(X, PROBABILITIES - 0.5),
         ValueError, r"binary_cross_entropy needs targets in \[0, 1\], got values in \[-0\.\d+, 0\.\d+\]"),
    case("cce-rows-not-distributions", lambda: classifier().loss_value(X, np.full((5, 3), 0.5)), ValueError,
         r"categorical_cross_entropy needs each target row to be a probability distribution \(sum 1\), but row 0 sums to 1\.5"),
    case("cce-label-too-large", lambda: classifier().loss_value(X, np.array([0, 1, 3, 2, 0])), ValueError,
         r"class label 3 in y is out of range for 3 outputs \(labels must be 0\.\.2\)"),
    case("cce-label-negative", lambda: classifier().loss_value(X, np.array([0, -1, 2, 2, 0])), ValueError,
         r"class label -1 in y is out of range for 3 outputs"),
    case("cce-float-labels", lambda: classifier().loss_value(X, np.array([0.0, 1, 2, 2, 0])), TypeError,
         r"1-D targets for categorical_cross_entropy must be integer class labels, got dtype float64; pass y\.astype\(int\)"),
    case("cce-label-count", lambda: classifier().loss_value(X, np.array([0, 1, 2])), ValueError,
         r"y has 3 labels but X has 5 samples"),
]

CONSTRUCTION_CASES = [
    case("softmax-not-last", lambda: sn.MLP([3, 4, 2], ["softmax", "sigmoid"]), ValueError,
         r"softmax is only allowed on the last layer, found at layer 0 of 2"),
    case("ce-without-probabilities", lambda: classifier("binary_cross_entropy", "relu"), ValueError,
         r"loss 'binary_cross_entropy' needs probabilities from the last layer, but its activation is 'relu'"),
    case("activation-count", lambda: sn.MLP([3, 4, 2], ["tanh"]), ValueError,
         r"activations must list one activation per weight layer: sizes \[3, 4, 2\] has 2 layers, got 1"),
    case("sizes-too-short", lambda: sn.MLP([3], []), ValueError, r"sizes must list at least the input and output units"),
    case("sizes-not-positive", lambda: sn.MLP([3, 0], ["tanh"]), ValueError, r"sizes\[1\] must be a positive integer, got 0"),
    case("dtype-float16", lambda: sn.MLP([3, 2], ["tanh"], dtype="float16"), TypeError,
         r"dtype must be 'float32' or 'float64', got 'float16'"),
    case("dtype-int", lambda: sn.MLP([3, 2], ["tanh"], dtype=int), TypeError, r"dtype must be 'float32' or 'float64'"),
    case("l2-negative", lambda: sn.MLP([3, 2], ["tanh"], l2=-0.1), ValueError, r"l2 must be a finite number >= 0, got -0\.1"),
    case("l2-string", lambda: sn.MLP([3, 2], ["tanh"], l2="0.1"), TypeError, r"l2 must be a number, got str"),
    case("scale-zero", lambda: sn.MLP([3, 2], ["tanh"], scale=0), ValueError, r"scale must be a finite number > 0, got 0"),
    case("bias-not-bool", lambda: sn.MLP([3, 2], ["tanh"], bias=1), TypeError, r"bias must be True or False, got 1"),
    case("activation-options", lambda: sn.MLP([3, 2], [{"name": "elu", "slope": 1}]), TypeError,
         r"bad options for activation 'elu'"),
    case("set-params-names", lambda: regression_net().set_params({"dense_0.W": np.zeros((3, 4))}), ValueError,
         r"parameter names do not match the network: missing \['dense_0\.b', 'dense_1\.W', 'dense_1\.b'\]"),
    case("set-params-shape", lambda: regression_net().set_params(
        {name: value.T for name, value in regression_net().params.items()}), ValueError,
         r"params\['dense_0\.W'\] has shape \(4, 3\), expected \(3, 4\) \(canonical layout"),
    case("fit-steps", lambda: sn.fit(regression_net(), X, Y, sn.optim.SGD(lr=0.1), steps=0), ValueError,
         r"steps must be a positive integer, got 0"),
]

NAME_CASES = [  # unknown names suggest the nearest valid one
    case("activation", lambda: sn.MLP([3, 2], ["tahn"]), ValueError, r"unknown activation 'tahn'; did you mean 'tanh'\?"),
    case("loss", lambda: sn.MLP([3, 2], ["tanh"], loss="squared_eror"), ValueError,
         r"unknown loss 'squared_eror'; did you mean 'squared_error'\?"),
    case("reduction", lambda: sn.MLP([3, 2], ["tanh"], reduction="batchmean"), ValueError,
         r"unknown reduction 'batchmean'; did you mean 'batch_mean'\?"),
    case("initializer", lambda: sn.MLP([3, 2], ["tanh"], init="he_unifrom"), ValueError,
         r"unknown initializer 'he_unifrom'; did you mean 'he_uniform'\?"),
    case("optimizer", lambda: sn.optim.get("adma"), ValueError, r"unknown optimizer 'adma'; did you mean 'adam'\?"),
    case("optimizer-option", lambda: sn.optim.get("sgd", momentun=0.9), ValueError,
         r"unknown sgd option 'momentun'; did you mean 'momentum'\?"),
    case("convention", lambda: sn.optim.get("sgd", convention="kera"), ValueError,
         r"unknown optimizer convention 'kera'; did you mean 'keras'\?"),
    case("data-set", lambda: sn.data.load("digit"), ValueError, r"unknown data set 'digit'; did you mean 'digits'\?"),
    case("no-close-match", lambda: sn.MLP([3, 2], ["zzz"]), ValueError,
         r"unknown activation 'zzz' \(valid: elu, leaky_relu, linear, relu, sigmoid, softmax, softplus, tanh\)"),
]

OPTIMIZER_CASES = [
    *[case(f"{name}-zero-lr-{convention}", lambda name=name, convention=convention: sn.optim.get(name, convention, lr=0),
           ValueError, rf"{name} option lr must be a finite number > 0, got 0")
      for name in sn.optim.NAMES for convention in sn.optim.CONVENTIONS],
    case("negative-momentum", lambda: sn.optim.SGD(lr=0.1, momentum=-0.9), ValueError,
         r"sgd option momentum must be a finite number >= 0, got -0\.9"),
    case("nesterov-without-momentum", lambda: sn.optim.SGD(lr=0.1, nesterov=True), ValueError,
         r"nesterov momentum needs momentum > 0 and dampening = 0"),
    case("nesterov-with-dampening", lambda: sn.optim.SGD(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
         r"nesterov momentum needs momentum > 0 and dampening = 0"),
    case("nesterov-not-bool", lambda: sn.optim.SGD(lr=0.1, momentum=0.9, nesterov="yes"), TypeError,
         r"sgd option nesterov must be True or False"),
    case("adam-beta-1", lambda: sn.optim.Adam(beta_1=1.0), ValueError, r"adam option beta_1 must be in \[0, 1\), got 1\.0"),
    case("lr-string", lambda: sn.optim.Adam(lr="0.1"), TypeError, r"adam option lr must be a number, got str"),
]


@pytest.mark.parametrize("call, error, match", DATA_CASES + CONSTRUCTION_CASES + NAME_CASES + OPTIMIZER_CASES)
def test_bad_input_raises_a_message_that_names_the_problem(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("method", ["predict", "loss_value", "loss_and_grads", "residual_jacobian"])
def test_every_entry_point_checks_X(method):
    net = regression_net()
    arguments = (X.T,) if method == "predict" else (X.T, Y)
    with pytest.raises(ValueError, match=r"it looks transposed"):
        getattr(net, method)(*arguments)
