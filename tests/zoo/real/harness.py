"""Load a file of tests/zoo/real/ with bugs injected, and adapt it to the doctor's calls.

`load(stem, *edits)` reads the file, applies each ``(old, new)`` edit (``old`` must occur, and every
occurrence is replaced, so a bug written once in a helper lands everywhere the helper is used) and
executes the result as a fresh module. Each family below gives the doctor what a user would write:
a spec, a mapping, a point (weights, X, y) and a grad_fn or step_fn around the real code.
"""
from __future__ import annotations

import types
from pathlib import Path

import numpy as np

from comparisons.doctor import AugmentedWeight, Bias, NetSpec, Weight

HERE = Path(__file__).parent


def load(stem: str, *edits: tuple[str, str]) -> types.ModuleType:
    """The module tests/zoo/real/<stem>.py with `edits` applied (each ``old`` must occur)."""
    source = (HERE / f"{stem}.py").read_text()
    for old, new in edits:
        if old not in source:
            raise AssertionError(f"edit target {old!r} is not in {stem}.py")
        source = source.replace(old, new)
    module = types.ModuleType(f"real_{stem}")
    module.__file__ = str(HERE / f"{stem}.py")
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


# --- Nielsen: samples as columns, (out, in) weights, (out, 1) biases, update-only code -------------

NIELSEN_MAPPING = {"w0": Weight(0, "out_in"), "b0": Bias(0), "w1": Weight(1, "out_in"), "b1": Bias(1)}


def nielsen_point(sizes=(4, 6, 10), m=8, seed=7):
    """Weights as Nielsen draws them (network2's default initializer: N(0, 1/fan_in) weights,
    N(0, 1) biases), X (features, m) and one-hot Y (outputs, m)."""
    rng = np.random.default_rng(seed)
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"w{layer}"] = rng.normal(size=(fan_out, fan_in)) / np.sqrt(fan_in)
        params[f"b{layer}"] = rng.normal(size=(fan_out, 1))
    X = rng.normal(size=(sizes[0], m))
    Y = np.eye(sizes[-1])[:, rng.integers(0, sizes[-1], m)]
    return params, X, Y


def nielsen_net(module, params, **kwargs):
    sizes = [params["w0"].shape[1], params["w0"].shape[0], params["w1"].shape[0]]
    return module.Network(sizes, [params["w0"], params["w1"]], [params["b0"], params["b1"]], **kwargs)


def nielsen_step(module, update_kwargs=None, net_kwargs=None):
    """step_fn(params, X, Y, eta): one ``update_mini_batch`` on the columns of X, Y."""
    def step(params, X, Y, eta):
        net = nielsen_net(module, params, **(net_kwargs or {}))
        mini_batch = [(X[:, [i]], Y[:, [i]]) for i in range(X.shape[1])]
        net.update_mini_batch(mini_batch, eta, **(update_kwargs or {}))
        return {"w0": net.weights[0], "b0": net.biases[0], "w1": net.weights[1], "b1": net.biases[1]}
    return step


# --- cs231n TwoLayerNet.loss(X, y, reg): W (in, out), b (out,), integer labels, its own init -------

CS231N_SIZES = (4, 10, 3)
CS231N_MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}


def cs231n_point(module, std=1e-4, m=5, seed=0):
    """The assignment's own initialisation (std 1e-4 weights, zero biases) and its toy data
    (X = 10 * randn, labels 0..C-1)."""
    params = module.TwoLayerNet(*CS231N_SIZES, std=std, seed=seed).params
    rng = np.random.default_rng(seed + 1)
    X = 10 * rng.normal(size=(m, CS231N_SIZES[0]))
    y = np.array([0, 1, 2, 2, 1, 0, 1, 2][:m])
    return params, X, y


def cs231n_spec(l2):
    return NetSpec(sizes=list(CS231N_SIZES), activations=["relu", "softmax"], loss="categorical_cross_entropy",
                   reduction="batch_mean", l2=l2)


def cs231n_grad_fn(module, reg):
    """grad_fn(params, X, y) = TwoLayerNet.loss(X, y, reg) with the params given."""
    def loss_and_grads(params, X, y):
        net = module.TwoLayerNet(*CS231N_SIZES)
        net.params = params
        return net.loss(X, y, reg=reg)
    return loss_and_grads


# --- Ng ex4: one unrolled vector, Theta (out, in + 1) bias column first, labels 1..K ----------------

NG_SIZES = (4, 6, 3)
NG_MAPPING = {"Theta1": AugmentedWeight(0, "out_in", "first", 1.0), "Theta2": AugmentedWeight(1, "out_in", "first", 1.0)}


def ng_point(m=10, seed=3):
    """Weights from randInitializeWeights (epsilon 0.12, so the bias column is not zero), X, and
    labels 1..K as a column vector (m, 1), as ex4data1.mat holds them."""
    rng = np.random.RandomState(seed)
    params = {"Theta1": rng.rand(NG_SIZES[1], NG_SIZES[0] + 1) * 0.24 - 0.12,
              "Theta2": rng.rand(NG_SIZES[2], NG_SIZES[1] + 1) * 0.24 - 0.12}
    X = rng.normal(size=(m, NG_SIZES[0]))
    y = (np.arange(m) % NG_SIZES[2] + 1).reshape(-1, 1)
    return params, X, y


def ng_grad_fn(module, lambda_):
    """grad_fn(params, X, y): unroll Theta1, Theta2 into nn_params, call nnCostFunction, and roll
    the gradient back the same (row-major) way, as ex4's own script does with reshape."""
    def cost(params, X, y):
        Theta1, Theta2 = params["Theta1"], params["Theta2"]
        nn_params = np.concatenate([Theta1.ravel(), Theta2.ravel()])
        J, grad = module.nnCostFunction(nn_params, NG_SIZES[0], NG_SIZES[1], NG_SIZES[2], X, y, lambda_)
        return J, {"Theta1": grad[:Theta1.size].reshape(Theta1.shape), "Theta2": grad[Theta1.size:].reshape(Theta2.shape)}
    return cost
