"""Output-layer weight gradient computed as delta.T @ a_prev (fan_out, fan_in) for (fan_in, fan_out)
weights; silent because the layer is square (4 x 4).

    dW2 = d2.T @ a1                        # should be a1.T @ d2
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[3, 4, 4], activations=["relu", "linear"], loss="squared_error", reduction="mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "ok", "b1": "ok", "W2": "transposed", "b2": "ok"}
CULPRIT = ["W2"]
EVIDENCE = ["equals the reference transposed", "a_prev.T @ delta", "the weight-gradient formula itself differs"]


def forward_backward(params, x, t):
    z1 = x @ params["W1"] + params["b1"]
    a1 = np.maximum(0.0, z1)
    out = a1 @ params["W2"] + params["b2"]
    loss = np.mean((out - t) ** 2)
    d2 = 2.0 * (out - t) / out.size
    d1 = (d2 @ params["W2"].T) * (z1 > 0)
    return loss, {"W1": x.T @ d1, "b1": d1.sum(axis=0), "W2": d2.T @ a1, "b2": d2.sum(axis=0)}


def data():
    rng = np.random.default_rng(7)
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(0.3, 0.2, 4),
              "W2": rng.normal(size=(4, 4)), "b2": rng.normal(size=4)}
    return params, rng.normal(size=(5, 3)), rng.normal(size=(5, 4))


def doctor_kwargs():
    return {"grad_fn": forward_backward}
