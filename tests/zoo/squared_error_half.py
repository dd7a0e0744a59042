"""Mean over samples of the squared error declared, derivative written as (a - y) / m (no 2).

    J = np.sum((pred - y) ** 2) / m
    d_pred = (pred - y) / m                # d/dpred of (pred - y)^2 is 2 (pred - y)
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[3, 4, 1], activations=["relu", "linear"], loss="squared_error", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "scaled", "b1": "scaled", "W2": "scaled", "b2": "scaled"}
CULPRIT = ["W2", "b2"]
EVIDENCE = ["equals 0.5 x the reference", "multiply by 2, or declare scale=0.5"]


def cost_and_grads(params, X, y):
    m = len(X)
    Z1 = X @ params["W1"] + params["b1"]
    A1 = np.maximum(Z1, 0)
    pred = A1 @ params["W2"] + params["b2"]
    J = np.sum((pred - y) ** 2) / m
    d_pred = (pred - y) / m
    dZ1 = (d_pred @ params["W2"].T) * (Z1 > 0)
    return J, {"W1": X.T @ dZ1, "b1": dZ1.sum(0), "W2": A1.T @ d_pred, "b2": d_pred.sum(0)}


def data():
    rng = np.random.default_rng(6)
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(0.5, 0.1, 4),
              "W2": rng.normal(size=(4, 1)), "b2": np.array([0.3])}
    X = rng.normal(size=(10, 3))
    return params, X, (X.sum(axis=1, keepdims=True) > 0).astype(float)


def doctor_kwargs():
    return {"grad_fn": cost_and_grads}
