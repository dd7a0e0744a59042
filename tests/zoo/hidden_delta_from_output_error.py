"""One output unit; the hidden delta multiplies the output error straight into the hidden
derivative (numpy broadcasts (m, 1) against (m, 4)), without the output weights.

    hidden_delta = output_delta * hidden * (1 - hidden)     # should use output_delta @ W2.T
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[2, 4, 1], activations=["sigmoid", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "wrong", "b1": "wrong", "W2": "ok", "b2": "ok"}
CULPRIT = ["W1", "b1"]
EVIDENCE = ["the weights of layer 1 are missing from the upstream term"]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def loss_and_gradients(params, X, y):
    hidden = sigmoid(X @ params["W1"] + params["b1"])
    output = sigmoid(hidden @ params["W2"] + params["b2"])
    loss = -np.mean(y * np.log(output) + (1 - y) * np.log(1 - output))
    output_delta = (output - y) / len(X)
    hidden_delta = output_delta * hidden * (1 - hidden)
    return loss, {"W2": hidden.T @ output_delta, "b2": output_delta.sum(axis=0),
                  "W1": X.T @ hidden_delta, "b1": hidden_delta.sum(axis=0)}


def data():
    rng = np.random.default_rng(17)
    params = {"W1": rng.normal(size=(2, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 1)), "b2": rng.normal(size=1)}
    X = rng.normal(size=(6, 2))
    return params, X, (X[:, :1] * X[:, 1:] > 0).astype(float)


def doctor_kwargs():
    return {"grad_fn": loss_and_gradients}
