"""Update-only code with the learning rate multiplied into the deltas and again into the update.

    deltas = learning_rate * error * output * (1 - output)
    W -= learning_rate * hidden.T @ deltas
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[3, 4, 2], activations=["sigmoid", "sigmoid"], loss="squared_error", reduction="sum", scale=0.5)
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "scaled", "b1": "scaled", "W2": "scaled", "b2": "scaled"}
CULPRIT = ["W2", "b2"]
EVIDENCE = ["the learning rate lr = 0.25", "follows lr", "remove it from the delta", "step_fn exposes none"]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def train_step(params, X, y, learning_rate):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    hidden = sigmoid(X @ W1 + b1)
    output = sigmoid(hidden @ W2 + b2)
    error = output - y
    deltas = learning_rate * error * output * (1 - output)
    hidden_deltas = (deltas @ W2.T) * hidden * (1 - hidden)
    W2 -= learning_rate * hidden.T @ deltas
    b2 -= learning_rate * deltas.sum(axis=0)
    W1 -= learning_rate * X.T @ hidden_deltas
    b1 -= learning_rate * hidden_deltas.sum(axis=0)
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def data():
    rng = np.random.default_rng(4)
    params = {"W1": rng.uniform(-1, 1, (3, 4)), "b1": rng.uniform(-1, 1, 4),
              "W2": rng.uniform(-1, 1, (4, 2)), "b2": rng.uniform(-1, 1, 2)}
    X = rng.integers(0, 2, (8, 3)).astype(float)
    y = rng.uniform(0.1, 0.9, (8, 2))
    return params, X, y


def doctor_kwargs():
    return {"step_fn": train_step, "lr": 0.25}
