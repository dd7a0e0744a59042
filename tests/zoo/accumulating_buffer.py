"""Gradient buffers created once in __init__ and += into on every call, never reset.

    self.dW1 += X.T @ d1                   # accumulates across calls
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[3, 4, 2], activations=["tanh", "linear"], loss="squared_error", reduction="batch_mean", scale=0.5)
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "stateful", "b1": "stateful", "W2": "stateful", "b2": "stateful"}
CULPRIT = ["W2", "b2"]
EVIDENCE = ["gradients accumulate across calls", "np.zeros_like(W)", "state carries over between calls"]


class Network:
    def __init__(self):
        self.dW1, self.db1 = np.zeros((3, 4)), np.zeros(4)
        self.dW2, self.db2 = np.zeros((4, 2)), np.zeros(2)

    def backprop(self, params, X, y):
        m = X.shape[0]
        a1 = np.tanh(X @ params["W1"] + params["b1"])
        out = a1 @ params["W2"] + params["b2"]
        loss = 0.5 * np.sum((out - y) ** 2) / m
        d2 = (out - y) / m
        d1 = d2 @ params["W2"].T * (1 - a1 ** 2)
        self.dW2 += a1.T @ d2
        self.db2 += d2.sum(axis=0)
        self.dW1 += X.T @ d1
        self.db1 += d1.sum(axis=0)
        return loss, {"W1": self.dW1, "b1": self.db1, "W2": self.dW2, "b2": self.db2}


def data():
    rng = np.random.default_rng(10)
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 2)), "b2": rng.normal(size=2)}
    return params, rng.normal(size=(6, 3)), rng.normal(size=(6, 2))


def doctor_kwargs():
    return {"grad_fn": Network().backprop}
