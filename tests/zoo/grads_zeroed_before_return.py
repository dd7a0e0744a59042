"""A trainer that clears its gradient buffers (zero_grad) after the update and before they are read.

    self.backward(X, y); self.update(); self.zero_grad(); return self.grads
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[2, 3, 1], activations=["tanh", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "zero", "b1": "zero", "W2": "zero", "b2": "zero"}
CULPRIT = ["W2", "b2"]
EVIDENCE = ["never computed, or is reset before it is returned"]


class Trainer:
    def __init__(self):
        self.grads = {}

    def zero_grad(self):
        for name in self.grads:
            self.grads[name][...] = 0.0

    def loss_and_grads(self, params, X, y):
        m = len(X)
        h = np.tanh(X @ params["W1"] + params["b1"])
        p = 1 / (1 + np.exp(-(h @ params["W2"] + params["b2"])))
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        d2 = (p - y) / m
        d1 = d2 @ params["W2"].T * (1 - h * h)
        self.grads = {"W1": X.T @ d1, "b1": d1.sum(0), "W2": h.T @ d2, "b2": d2.sum(0)}
        self.zero_grad()
        return loss, self.grads


def data():
    rng = np.random.default_rng(9)
    params = {"W1": rng.normal(size=(2, 3)), "b1": rng.normal(size=3), "W2": rng.normal(size=(3, 1)), "b2": rng.normal(size=1)}
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    return params, X, np.array([[0], [1], [1], [0]], dtype=float)


def doctor_kwargs():
    return {"grad_fn": Trainer().loss_and_grads}
