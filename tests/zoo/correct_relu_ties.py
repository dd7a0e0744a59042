"""Correct, with a convention: zero biases and an all-zero input row put ReLU pre-activations at
exactly 0, where this code takes the derivative as 1 (z >= 0) and torch as 0. Not a bug."""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[2, 4, 1], activations=["relu", "linear"], loss="squared_error", reduction="sum")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {name: "ok" for name in MAPPING}
CULPRIT = None
EVIDENCE = ["all 4 gradients match the reference", "your code uses derivative 1 there"]


def relu_grads(params, X, y):
    z1 = X @ params["W1"] + params["b1"]
    a1 = np.maximum(z1, 0)
    out = a1 @ params["W2"] + params["b2"]
    loss = np.sum((out - y) ** 2)
    d2 = 2 * (out - y)
    d1 = (d2 @ params["W2"].T) * (z1 >= 0)
    return loss, {"W1": X.T @ d1, "b1": d1.sum(0), "W2": a1.T @ d2, "b2": d2.sum(0)}


def data():
    rng = np.random.default_rng(37)
    params = {"W1": rng.normal(size=(2, 4)), "b1": np.zeros(4), "W2": rng.normal(size=(4, 1)), "b2": np.zeros(1)}
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    return params, X, np.array([[0.5], [1], [1], [0]])


def doctor_kwargs():
    return {"grad_fn": relu_grads}
