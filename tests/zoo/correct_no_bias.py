"""Correct: a bias-free network (bias=False), tanh hidden, linear output, squared error averaged
over every element."""
import numpy as np

from comparisons.doctor import NetSpec, Weight

SPEC = NetSpec(sizes=[3, 4, 2], activations=["tanh", "linear"], loss="squared_error", reduction="mean", bias=False)
MAPPING = {"W_in": Weight(0), "W_out": Weight(1, "out_in")}
EXPECTED = {"W_in": "ok", "W_out": "ok"}
CULPRIT = None
EVIDENCE = ["all 2 gradients match the reference"]


def grads(params, X, Y):
    H = np.tanh(X @ params["W_in"])
    O = H @ params["W_out"].T
    E = O - Y
    loss = np.mean(E ** 2)
    dO = 2 * E / E.size
    dH = dO @ params["W_out"] * (1 - H ** 2)
    return loss, {"W_in": X.T @ dH, "W_out": dO.T @ H}


def data():
    rng = np.random.default_rng(35)
    params = {"W_in": rng.normal(size=(3, 4)), "W_out": rng.normal(size=(2, 4))}
    return params, rng.normal(size=(7, 3)), rng.normal(size=(7, 2))


def doctor_kwargs():
    return {"grad_fn": grads}
