"""Bias gradient summed over the units axis instead of the samples axis (samples are rows).

    db2 = np.sum(d2, axis=1)               # (m,) instead of (fan_out,)
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[3, 5, 2], activations=["sigmoid", "linear"], loss="squared_error", reduction="mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "ok", "b1": "shape_mismatch", "W2": "ok", "b2": "shape_mismatch"}
CULPRIT = ["b2"]
EVIDENCE = ["summed over the units axis", "db = delta.sum(axis=0)", "only bias gradients are wrong"]


def gradients(params, X, Y):
    a1 = 1 / (1 + np.exp(-(X @ params["W1"] + params["b1"])))
    out = a1 @ params["W2"] + params["b2"]
    loss = np.mean((out - Y) ** 2)
    d2 = 2 * (out - Y) / Y.size
    d1 = (d2 @ params["W2"].T) * a1 * (1 - a1)
    return loss, {"W1": X.T @ d1, "b1": np.sum(d1, axis=1), "W2": a1.T @ d2, "b2": np.sum(d2, axis=1)}


def data():
    rng = np.random.default_rng(14)
    params = {"W1": rng.normal(size=(3, 5)), "b1": rng.normal(size=5), "W2": rng.normal(size=(5, 2)), "b2": rng.normal(size=2)}
    return params, rng.normal(size=(6, 3)), rng.normal(size=(6, 2))


def doctor_kwargs():
    return {"grad_fn": gradients}
