"""Update-only code that updates the output weights first and then backpropagates through the
already-updated weights.

    W2 -= lr * a1.T @ d2
    d1 = (d2 @ W2.T) * (1 - a1 ** 2)       # uses the new W2
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[3, 4, 2], activations=["tanh", "linear"], loss="squared_error", reduction="sum", scale=0.5)
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "wrong", "b1": "wrong", "W2": "ok", "b2": "ok"}
CULPRIT = ["W1", "b1"]
EVIDENCE = ["the weights of layer 1 are updated before the delta of layer 0 is computed from them"]


def sgd_step(params, X, y, lr):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    a1 = np.tanh(X @ W1 + b1)
    out = a1 @ W2 + b2
    d2 = out - y
    W2 -= lr * a1.T @ d2
    b2 -= lr * d2.sum(axis=0)
    d1 = (d2 @ W2.T) * (1 - a1 ** 2)
    W1 -= lr * X.T @ d1
    b1 -= lr * d1.sum(axis=0)
    return params


def data():
    rng = np.random.default_rng(20)
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 2)), "b2": rng.normal(size=2)}
    return params, rng.normal(size=(5, 3)), rng.normal(size=(5, 2))


def doctor_kwargs():
    return {"step_fn": sgd_step, "lr": 0.1}
