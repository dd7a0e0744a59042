"""Bias gradients allocated but never filled in.

    db1 = np.zeros_like(b1); db2 = np.zeros_like(b2)     # the delta sums were forgotten
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[4, 5, 3], activations=["sigmoid", "softmax"], loss="categorical_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "ok", "b1": "zero", "W2": "ok", "b2": "zero"}
CULPRIT = ["b2"]
EVIDENCE = ["all zeros while the reference is not", "only bias gradients are wrong"]


def loss_and_grads(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    a1 = 1.0 / (1.0 + np.exp(-(X @ W1 + b1)))
    scores = a1 @ W2 + b2
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    loss = -np.mean(np.sum(y * np.log(probs), axis=1))
    db1 = np.zeros_like(b1)
    db2 = np.zeros_like(b2)
    d2 = (probs - y) / m
    d1 = d2 @ W2.T * a1 * (1 - a1)
    return loss, {"W1": X.T @ d1, "b1": db1, "W2": a1.T @ d2, "b2": db2}


def data():
    rng = np.random.default_rng(8)
    params = {"W1": rng.normal(size=(4, 5)), "b1": rng.normal(size=5),
              "W2": rng.normal(size=(5, 3)), "b2": rng.normal(size=3)}
    X = rng.normal(size=(7, 4))
    return params, X, np.eye(3)[rng.integers(0, 3, 7)]


def doctor_kwargs():
    return {"grad_fn": loss_and_grads}
