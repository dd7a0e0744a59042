"""Error term written as target - output, gradients returned with that sign.

    error = y - a2            # should be a2 - y
    delta2 = error * a2 * (1 - a2)
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[3, 4, 2], activations=["sigmoid", "sigmoid"], loss="squared_error", reduction="sum", scale=0.5)
MAPPING = {"W1": Weight(0, "in_out"), "b1": Bias(0), "W2": Weight(1, "in_out"), "b2": Bias(1)}
EXPECTED = {"W1": "sign_flipped", "b1": "sign_flipped", "W2": "sign_flipped", "b2": "sign_flipped"}
CULPRIT = ["W2", "b2"]
EVIDENCE = ["sign is flipped", "y - a where a - y is due"]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def backprop(params, X, y):
    a1 = sigmoid(np.dot(X, params["W1"]) + params["b1"])
    a2 = sigmoid(np.dot(a1, params["W2"]) + params["b2"])
    loss = 0.5 * np.sum((a2 - y) ** 2)
    error = y - a2
    delta2 = error * a2 * (1 - a2)
    delta1 = np.dot(delta2, params["W2"].T) * a1 * (1 - a1)
    grads = {"W2": np.dot(a1.T, delta2), "b2": np.sum(delta2, axis=0),
             "W1": np.dot(X.T, delta1), "b1": np.sum(delta1, axis=0)}
    return loss, grads


def data():
    rng = np.random.default_rng(1)
    params = {"W1": rng.uniform(-1, 1, (3, 4)), "b1": rng.uniform(-1, 1, 4),
              "W2": rng.uniform(-1, 1, (4, 2)), "b2": rng.uniform(-1, 1, 2)}
    X = rng.normal(size=(6, 3))
    y = rng.uniform(0, 1, (6, 2))
    return params, X, y


def doctor_kwargs():
    return {"grad_fn": backprop}
