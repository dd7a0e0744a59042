"""Loss and gradients both sum over the batch, while the declared loss averages (batch_mean).
The backprop is consistent with its own loss; the loss is not the declared one.

    loss = -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))     # no / m
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[2, 4, 1], activations=["tanh", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "scaled", "b1": "scaled", "W2": "scaled", "b2": "scaled"}
CULPRIT = ["W2", "b2"]
EVIDENCE = ["reduction='sum'", "agrees with central differences of your own loss", "your loss is not the declared one"]


def loss_grads(params, X, y):
    h = np.tanh(X @ params["W1"] + params["b1"])
    p = 1 / (1 + np.exp(-(h @ params["W2"] + params["b2"])))
    loss = -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    d2 = p - y
    d1 = (d2 @ params["W2"].T) * (1 - h ** 2)
    return loss, {"W1": X.T @ d1, "b1": d1.sum(0), "W2": h.T @ d2, "b2": d2.sum(0)}


def data():
    rng = np.random.default_rng(21)
    params = {"W1": rng.normal(size=(2, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 1)), "b2": rng.normal(size=1)}
    X = rng.normal(size=(6, 2))
    return params, X, (X.sum(1, keepdims=True) > 0).astype(float)


def doctor_kwargs():
    return {"grad_fn": loss_grads}
