"""Backprop gradients against finite differences (`sn.gradcheck`) and against torch autograd.

Every hidden activation x (output activation, loss) pairing x reduction, plus variants (scale,
l2, no bias, activation options, integer class labels), plus random architectures drawn by
hypothesis. Networks are tiny (a few units, batch 5) so the whole module runs in seconds.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet as sn

GRADCHECK_TOLERANCE = 1e-7
TORCH_TOLERANCE = 1e-10

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "linear")
OUTPUT_LOSS = [(output, "squared_error") for output in HIDDEN + ("softmax",)] + [
    (output, loss)
    for loss in ("binary_cross_entropy", "categorical_cross_entropy")
    for output in ("sigmoid", "softmax")
]
REDUCTIONS = ("mean", "sum", "batch_mean")
VARIANTS = {  # name -> (hidden activation, extra MLP arguments)
    "scale": ("tanh", {"scale": 0.5}),
    "l2": ("softplus", {"l2": 0.03}),
    "no_bias": ("relu", {"bias": False}),
    "leaky_slope": ({"name": "leaky_relu", "negative_slope": 0.2}, {}),
    "elu_alpha": ({"name": "elu", "alpha": 0.5}, {}),
    "combined": ("sigmoid", {"scale": 2.5, "l2": 0.01, "bias": False}),
}


def _case(hidden, output, loss, reduction, options=None, labels=False, id=None):
    case = {"hidden": hidden, "output": output, "loss": loss, "reduction": reduction,
            "options": options or {}, "labels": labels}
    return pytest.param(case, id=id or f"{hidden}-{output}-{loss}-{reduction}")


CASES = (
    [_case(h, o, loss, r) for h in HIDDEN for o, loss in OUTPUT_LOSS for r in REDUCTIONS]
    + [_case(h, o, loss, r, options, id=f"{variant}-{o}-{loss}-{r}")
       for variant, (h, options) in VARIANTS.items() for o, loss in OUTPUT_LOSS for r in REDUCTIONS]
    + [_case("tanh", o, "categorical_cross_entropy", r, labels=True, id=f"int_labels-{o}-{r}")
       for o in ("sigmoid", "softmax") for r in REDUCTIONS]
)


def make_targets(loss: str, batch: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Valid (batch, k) float targets for the loss: N(0,1), U(0,1) or probability rows."""
    if loss == "squared_error":
        return rng.normal(size=(batch, k))
    if loss == "binary_cross_entropy":
        return rng.uniform(size=(batch, k))
    return rng.dirichlet(np.ones(k), size=batch)


def build(case: dict, sizes=(3, 4, 4, 3), batch: int = 5, seed: int = 0):
    """(net, X, y for scratchnet, y as a float array for torch). Uniform(-1, 1) init so that
    biases are non-zero (a zero bias would hide a forward pass that forgets it)."""
    activations = [case["hidden"]] * (len(sizes) - 2) + [case["output"]]
    net = sn.MLP(list(sizes), activations, loss=case["loss"], reduction=case["reduction"],
                 init="uniform", seed=seed, **case["options"])
    rng = np.random.default_rng(seed + 1000)
    X = rng.normal(size=(batch, sizes[0]))
    if case["labels"]:
        labels = rng.integers(0, sizes[-1], size=batch)
        return net, X, labels, np.eye(sizes[-1])[labels]
    y = make_targets(case["loss"], batch, sizes[-1], rng)
    return net, X, y, y


def normwise_relative(actual: np.ndarray, expected: np.ndarray) -> float:
    """max|actual - expected| / max|expected| (the absolute error where expected is all zero)."""
    error = float(np.max(np.abs(np.asarray(actual) - np.asarray(expected)), initial=0.0))
    scale = float(np.max(np.abs(expected), initial=0.0))
    return error / scale if scale > 0 else error


def torch_loss_and_grads(net: sn.MLP, X: np.ndarray, y: np.ndarray):
    """Loss and canonical gradients from torch autograd on the network's exact weights."""
    torch = pytest.importorskip("torch")
    from reference.torch_backend import TorchNetwork

    model = TorchNetwork(net.spec(), torch)
    model.load(net.params)
    loss = model.loss(torch.from_numpy(X), torch.from_numpy(y))
    loss.backward()
    return float(loss.detach()), model.export([p.grad for p in model.parameters])


def worst_torch_error(net, X, y, y_torch) -> float:
    loss, grads = net.loss_and_grads(X, y)
    torch_loss, torch_grads = torch_loss_and_grads(net, X, y_torch)
    assert list(grads) == list(torch_grads)
    errors = [normwise_relative(grads[name], torch_grads[name]) for name in grads]
    return max(errors + [normwise_relative(loss, torch_loss)])


@pytest.mark.parametrize("case", CASES)
def test_gradcheck(case):
    net, X, y, _ = build(case)
    result = sn.gradcheck(net, X, y)
    assert result.max_rel < GRADCHECK_TOLERANCE, str(result)


@pytest.mark.parametrize("case", CASES)
def test_matches_torch_autograd(case):
    net, X, y, y_torch = build(case)
    assert worst_torch_error(net, X, y, y_torch) < TORCH_TOLERANCE


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_integer_labels_equal_one_hot(output):
    net, X, labels, onehot = build({"hidden": "tanh", "output": output, "loss": "categorical_cross_entropy",
                                    "reduction": "batch_mean", "options": {}, "labels": True})
    loss_labels, grads_labels = net.loss_and_grads(X, labels)
    loss_onehot, grads_onehot = net.loss_and_grads(X, onehot)
    assert loss_labels == loss_onehot
    for name in grads_onehot:
        np.testing.assert_array_equal(grads_labels[name], grads_onehot[name])


def test_gradcheck_detects_a_wrong_derivative(monkeypatch):
    """The check can fail: a tanh derivative off by a factor is caught."""
    monkeypatch.setattr(sn.activations.Tanh, "derivative", lambda self, z, a: 1.1 * (1.0 - a * a))
    net, X, y, _ = build({"hidden": "tanh", "output": "linear", "loss": "squared_error",
                          "reduction": "mean", "options": {}, "labels": False})
    result = sn.gradcheck(net, X, y)
    assert not result.ok and result.max_rel > 1e-3


def test_gradcheck_skips_kinks_but_reports_them():
    net = sn.MLP([1, 1], ["relu"])
    net.set_params({"dense_0.W": [[1.0]], "dense_0.b": [-1.0 + 1e-5]})
    X = np.array([[1.0], [3.0]])  # the first pre-activation, 1e-5, is within the stencil's reach of 0
    result = sn.gradcheck(net, X, np.zeros((2, 1)))
    assert result.params["dense_0.W"].kinks == 1 and result.params["dense_0.b"].kinks == 1
    assert result.ok


# ---------------------------------------------------------------- random architectures
HYPOTHESIS_HIDDEN = HIDDEN + ({"name": "leaky_relu", "negative_slope": 0.2}, {"name": "elu", "alpha": 0.5})


@st.composite
def random_problems(draw):
    """A random tiny MLP (1-3 weight layers, widths 1-6) with valid data, inputs ~ N(0, 1)."""
    n_layers = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 6), min_size=n_layers + 1, max_size=n_layers + 1))
    loss = draw(st.sampled_from(("categorical_cross_entropy", "binary_cross_entropy", "squared_error")))
    output = draw(st.sampled_from([output for output, paired in OUTPUT_LOSS if paired == loss]))
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)  # a one-unit softmax is constantly 1: MLP refuses it
    hidden = draw(st.lists(st.sampled_from(HYPOTHESIS_HIDDEN), min_size=n_layers - 1, max_size=n_layers - 1))
    net = sn.MLP(
        sizes, hidden + [output], loss=loss,
        reduction=draw(st.sampled_from(REDUCTIONS)),
        scale=draw(st.sampled_from((1.0, 0.5, 3.0))),
        l2=draw(st.sampled_from((0.0, 0.01, 0.5))),
        bias=draw(st.sampled_from((True, False))),  # hypothesis favours the first: the general case
        init=draw(st.sampled_from(("uniform", "torch_default", "he_normal"))),
        seed=draw(st.integers(0, 2**16)),
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    batch = draw(st.integers(1, 6))
    X = rng.normal(size=(batch, sizes[0]))
    if loss == "categorical_cross_entropy" and draw(st.booleans()):
        labels = rng.integers(0, sizes[-1], size=batch)
        return net, X, labels, np.eye(sizes[-1])[labels]
    y = make_targets(loss, batch, sizes[-1], rng)
    return net, X, y, y


@pytest.mark.slow
@settings(max_examples=200, deadline=None, derandomize=True)
@given(random_problems())
def test_gradcheck_random_architectures(problem):
    net, X, y, _ = problem
    result = sn.gradcheck(net, X, y)
    assert result.max_rel < GRADCHECK_TOLERANCE, f"{net!r}\n{result}"


@pytest.mark.slow
@settings(max_examples=200, deadline=None, derandomize=True)
@given(random_problems())
def test_matches_torch_random_architectures(problem):
    net, X, y, y_torch = problem
    assert worst_torch_error(net, X, y, y_torch) < TORCH_TOLERANCE, repr(net)
