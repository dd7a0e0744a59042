"""Correct: update-only plain SGD that takes the learning rate, leaky-ReLU hidden layer (slope 0.1),
half squared error averaged over the samples."""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[2, 5, 1], activations=[{"name": "leaky_relu", "negative_slope": 0.1}, "linear"],
               loss="squared_error", reduction="batch_mean", scale=0.5)
MAPPING = {"w1": Weight(0), "b1": Bias(0), "w2": Weight(1), "b2": Bias(1)}
EXPECTED = {name: "ok" for name in MAPPING}
CULPRIT = None
EVIDENCE = ["all 4 gradients match the reference"]


def sgd_step(params, x, y, lr):
    w1, b1, w2, b2 = (params[k].copy() for k in ("w1", "b1", "w2", "b2"))
    z = x @ w1 + b1
    h = np.where(z > 0, z, 0.1 * z)
    out = h @ w2 + b2
    g_out = (out - y) / len(x)
    g_z = (g_out @ w2.T) * np.where(z > 0, 1.0, 0.1)
    return {"w1": w1 - lr * x.T @ g_z, "b1": b1 - lr * g_z.sum(0), "w2": w2 - lr * h.T @ g_out, "b2": b2 - lr * g_out.sum(0)}


def data():
    rng = np.random.default_rng(36)
    params = {"w1": rng.normal(size=(2, 5)), "b1": rng.normal(size=5), "w2": rng.normal(size=(5, 1)), "b2": rng.normal(size=1)}
    x = rng.uniform(-1, 1, (9, 2))
    return params, x, np.sin(3 * x[:, :1]) * x[:, 1:]


def doctor_kwargs():
    return {"step_fn": sgd_step, "lr": 0.05}
