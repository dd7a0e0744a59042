"""Correct, in float32 (weights, data and arithmetic): compared with a float64 reference at a
looser tolerance, so rounding is not a finding."""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[5, 8, 3], activations=["sigmoid", "softmax"], loss="categorical_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {name: "ok" for name in MAPPING}
CULPRIT = None
EVIDENCE = ["all 4 gradients match the reference", "float32/float16"]


def grads32(params, X, y):
    a1 = (1 / (1 + np.exp(-(X @ params["W1"] + params["b1"])))).astype(np.float32)
    z2 = a1 @ params["W2"] + params["b2"]
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p = p / p.sum(axis=1, keepdims=True)
    m = np.float32(len(X))
    d2 = (p - y) / m
    d1 = (d2 @ params["W2"].T) * a1 * (1 - a1)
    return -np.sum(y * np.log(p)) / m, {"W1": X.T @ d1, "b1": d1.sum(0), "W2": a1.T @ d2, "b2": d2.sum(0)}


def data():
    rng = np.random.default_rng(38)
    params = {"W1": rng.normal(size=(5, 8)).astype(np.float32), "b1": rng.normal(size=8).astype(np.float32),
              "W2": rng.normal(size=(8, 3)).astype(np.float32), "b2": rng.normal(size=3).astype(np.float32)}
    X = rng.normal(size=(16, 5)).astype(np.float32)
    return params, X, np.eye(3, dtype=np.float32)[np.arange(16) % 3]


def doctor_kwargs():
    return {"grad_fn": grads32}
