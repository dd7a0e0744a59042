"""Half sum of squared errors (no averaging) declared, but every delta is divided by m.

    cost = 0.5 * np.sum((out - t) ** 2)
    d_out = (out - t) / n_samples          # the loss never divided by n_samples
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[2, 5, 1], activations=["sigmoid", "linear"], loss="squared_error", reduction="sum", scale=0.5)
MAPPING = {"w_hidden": Weight(0), "b_hidden": Bias(0), "w_out": Weight(1), "b_out": Bias(1)}
EXPECTED = {"w_hidden": "scaled", "b_hidden": "scaled", "w_out": "scaled", "b_out": "scaled"}
CULPRIT = ["w_out", "b_out"]
EVIDENCE = ["1/m, one over the batch size m = 10", "follows 1/m", "remove the extra division by m"]


def gradient(params, inputs, targets):
    n_samples = inputs.shape[0]
    hidden = 1 / (1 + np.exp(-(inputs @ params["w_hidden"] + params["b_hidden"])))
    out = hidden @ params["w_out"] + params["b_out"]
    cost = 0.5 * np.sum((out - targets) ** 2)
    d_out = (out - targets) / n_samples
    d_hidden = (d_out @ params["w_out"].T) * hidden * (1 - hidden)
    return cost, {"w_out": hidden.T @ d_out, "b_out": d_out.sum(0), "w_hidden": inputs.T @ d_hidden,
                  "b_hidden": d_hidden.sum(0)}


def data():
    rng = np.random.default_rng(3)
    params = {"w_hidden": rng.normal(size=(2, 5)), "b_hidden": rng.normal(size=5),
              "w_out": rng.normal(size=(5, 1)), "b_out": rng.normal(size=1)}
    x = np.linspace(-2, 2, 10).reshape(-1, 1)
    inputs = np.hstack([x, x ** 2])
    return params, inputs, np.sin(x)


def doctor_kwargs():
    return {"grad_fn": gradient}
