"""Correct: torch-like layout, weights (out, in) applied as x @ W.T, biases (1, out), ReLU hidden,
mean squared error over every element (torch's MSELoss default)."""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[3, 6, 2], activations=["relu", "linear"], loss="squared_error", reduction="mean")
MAPPING = {"fc1.weight": Weight(0, "out_in"), "fc1.bias": Bias(0), "fc2.weight": Weight(1, "out_in"), "fc2.bias": Bias(1)}
EXPECTED = {name: "ok" for name in MAPPING}
CULPRIT = None
EVIDENCE = ["all 4 gradients match the reference"]


def mse_grads(params, x, target):
    h_pre = x @ params["fc1.weight"].T + params["fc1.bias"]
    h = np.maximum(h_pre, 0)
    out = h @ params["fc2.weight"].T + params["fc2.bias"]
    loss = np.mean((out - target) ** 2)
    g_out = 2 * (out - target) / out.size
    g_h = (g_out @ params["fc2.weight"]) * (h_pre > 0)
    return loss, {"fc2.weight": g_out.T @ h, "fc2.bias": g_out.sum(0, keepdims=True),
                  "fc1.weight": g_h.T @ x, "fc1.bias": g_h.sum(0, keepdims=True)}


def data():
    rng = np.random.default_rng(31)
    params = {"fc1.weight": rng.uniform(-0.6, 0.6, (6, 3)), "fc1.bias": rng.uniform(-0.6, 0.6, (1, 6)),
              "fc2.weight": rng.uniform(-0.4, 0.4, (2, 6)), "fc2.bias": rng.uniform(-0.4, 0.4, (1, 2))}
    return params, rng.normal(size=(10, 3)), rng.normal(size=(10, 2))


def doctor_kwargs():
    return {"grad_fn": mse_grads}
