"""tanh derivative written as 1 - a instead of 1 - a**2.

    dh = (dout @ W2.T) * (1 - h)
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[3, 5, 2], activations=["tanh", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "wrong", "b1": "wrong", "W2": "ok", "b2": "ok"}
CULPRIT = ["W1", "b1"]
EVIDENCE = ["tanh' is written as 1 - a instead of 1 - a**2"]


def step_grads(params, X, Y):
    N = X.shape[0]
    h = np.tanh(X.dot(params["W1"]) + params["b1"])
    out = 1.0 / (1.0 + np.exp(-(h.dot(params["W2"]) + params["b2"])))
    loss = -np.sum(Y * np.log(out) + (1 - Y) * np.log(1 - out)) / N
    dout = (out - Y) / N
    dh = dout.dot(params["W2"].T) * (1 - h)
    return loss, {"W1": X.T.dot(dh), "b1": dh.sum(axis=0), "W2": h.T.dot(dout), "b2": dout.sum(axis=0)}


def data():
    rng = np.random.default_rng(12)
    params = {"W1": rng.normal(size=(3, 5)), "b1": rng.normal(size=5), "W2": rng.normal(size=(5, 2)), "b2": rng.normal(size=2)}
    X = rng.normal(size=(8, 3))
    return params, X, (rng.uniform(size=(8, 2)) > 0.5).astype(float)


def doctor_kwargs():
    return {"grad_fn": step_grads}
