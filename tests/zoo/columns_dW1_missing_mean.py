"""Deep-learning-course style, samples as columns: X (n_x, m), W (n_out, n_in), b (n_out, 1), grads
keyed dW1, db1, ... Every gradient is averaged over m except dW1. The sigmoid helper's deriv=True
takes the activation (x * (1 - x)) and is called with AL: that is right and must not be blamed.

    grads["dW1"] = np.dot(dZ1, X.T)        # missing / m
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[5, 4, 1], activations=["relu", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0, "out_in"), "b1": Bias(0), "W2": Weight(1, "out_in"), "b2": Bias(1)}
SAMPLES_AS_COLUMNS = True
EXPECTED = {"W1": "scaled", "b1": "ok", "W2": "ok", "b2": "ok"}
CULPRIT = ["W1"]
EVIDENCE = ["the batch size m = 12", "follows the batch size", "the weight-gradient formula itself differs"]


def relu(x, deriv=False):
    return 1.0 * (x > 0) if deriv else np.maximum(0, x)


def sigmoid(x, deriv=False):
    return x * (1 - x) if deriv else 1 / (1 + np.exp(-x))


def forward_backward(X, Y, parameters):
    grads = {}
    m = Y.shape[1]
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = relu(Z1)
    Z2 = np.dot(parameters["W2"], A1) + parameters["b2"]
    AL = sigmoid(Z2)
    cost = (-1 / m) * np.sum(np.multiply(Y, np.log(AL)) + np.multiply(1 - Y, np.log(1 - AL)))
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    dZ2 = dAL * sigmoid(AL, deriv=True)
    grads["dW2"] = np.dot(dZ2, A1.T) / m
    grads["db2"] = np.sum(dZ2, axis=1, keepdims=True) / m
    dA1 = np.dot(parameters["W2"].T, dZ2)
    dZ1 = dA1 * relu(A1, deriv=True)
    grads["dW1"] = np.dot(dZ1, X.T)
    grads["db1"] = np.sum(dZ1, axis=1, keepdims=True) / m
    return AL, grads, cost


def doctor_grad_fn(params, X, Y):
    """The adapter a user writes for the doctor: the course's grads["dW1"] keyed by parameter name."""
    _, grads, cost = forward_backward(X, Y, params)
    return cost, {name: grads["d" + name] for name in ("W1", "b1", "W2", "b2")}


def data():
    rng = np.random.default_rng(19)
    params = {"W1": rng.standard_normal((4, 5)) * 0.5, "b1": rng.normal(0.2, 0.1, (4, 1)),
              "W2": rng.standard_normal((1, 4)) * 0.5, "b2": np.zeros((1, 1)) + 0.1}
    X = rng.random((5, 12))
    return params, X, (X[:1] > 0.5).astype(float)


def doctor_kwargs():
    return {"grad_fn": doctor_grad_fn}
