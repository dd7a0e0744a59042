"""Half sum of squares as the cost, but the derivative keeps the 2 of d(a - y)^2/da.

    E = 0.5 * sum((a - y)^2)
    dE/da = 2 * (a - y)                    # the 0.5 cancels the 2
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[2, 3, 2], activations=["tanh", "linear"], loss="squared_error", reduction="sum", scale=0.5)
MAPPING = {"W1": Weight(0, "out_in"), "b1": Bias(0), "W2": Weight(1, "out_in"), "b2": Bias(1)}
EXPECTED = {"W1": "scaled", "b1": "scaled", "W2": "scaled", "b2": "scaled"}
CULPRIT = ["W2", "b2"]
EVIDENCE = ["2 (a - y)", "drop the 2, or declare scale=1.0", "does not change with the batch size"]


def grads(params, X, Y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    A1 = np.tanh(X @ W1.T + b1)
    A2 = A1 @ W2.T + b2
    E = 0.5 * np.sum((A2 - Y) ** 2)
    dA2 = 2 * (A2 - Y)
    dA1 = (dA2 @ W2) * (1 - A1 ** 2)
    return E, {"W2": dA2.T @ A1, "b2": dA2.sum(0), "W1": dA1.T @ X, "b1": dA1.sum(0)}


def data():
    rng = np.random.default_rng(5)
    params = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=3),
              "W2": rng.normal(size=(2, 3)), "b2": rng.normal(size=2)}
    X = rng.normal(size=(6, 2))
    return params, X, np.stack([X[:, 0] * X[:, 1], X[:, 0] - X[:, 1]], axis=1)


def doctor_kwargs():
    return {"grad_fn": grads}
