"""Hidden sigmoid derivative written for the output a but called with the pre-activation z.

    def sigmoid_derivative(s): return s * (1 - s)        # expects s = sigmoid(z)
    delta1 = (delta2 @ W2.T) * sigmoid_derivative(z1)    # given z1
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[4, 6, 3], activations=["sigmoid", "softmax"], loss="categorical_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "wrong", "b1": "wrong", "W2": "ok", "b2": "ok"}
CULPRIT = ["W1", "b1"]
EVIDENCE = ["sigmoid' is computed as z*(1-z)", "only layer 0, nearest the input, is wrong", "the backprop is wrong"]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(s):
    return s * (1 - s)


def compute_gradients(params, X, y):
    z1 = X @ params["W1"] + params["b1"]
    a1 = sigmoid(z1)
    z2 = a1 @ params["W2"] + params["b2"]
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    a2 = e / e.sum(axis=1, keepdims=True)
    m = X.shape[0]
    loss = -np.sum(y * np.log(a2)) / m
    delta2 = (a2 - y) / m
    delta1 = (delta2 @ params["W2"].T) * sigmoid_derivative(z1)
    return loss, {"W1": X.T @ delta1, "b1": delta1.sum(0), "W2": a1.T @ delta2, "b2": delta2.sum(0)}


def data():
    rng = np.random.default_rng(11)
    params = {"W1": rng.normal(size=(4, 6)), "b1": rng.normal(size=6), "W2": rng.normal(size=(6, 3)), "b2": rng.normal(size=3)}
    X = rng.normal(size=(9, 4))
    return params, X, np.eye(3)[np.arange(9) % 3]


def doctor_kwargs():
    return {"grad_fn": compute_gradients}
