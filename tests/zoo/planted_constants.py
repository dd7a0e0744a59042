"""Gradient-checking exercise style (samples as columns, three layers): two constants planted in
single formulas, dW2 doubled and db1 divided by m / 4, while every delta is right.

    dW2 = 1. / m * np.dot(dZ2, A1.T) * 2
    db1 = 4. / m * np.sum(dZ1, axis=1, keepdims=True)
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[4, 5, 3, 1], activations=["relu", "relu", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0, "out_in"), "b1": Bias(0), "W2": Weight(1, "out_in"), "b2": Bias(1), "W3": Weight(2, "out_in"),
           "b3": Bias(2)}
SAMPLES_AS_COLUMNS = True
EXPECTED = {"W1": "ok", "b1": "scaled", "W2": "scaled", "b2": "ok", "W3": "ok", "b3": "ok"}
CULPRIT = ["W2"]
EVIDENCE = ["do not follow the layer rule", "each wrong gradient's own formula is wrong (b1, W2)", "equals 4 x the reference"]


def forward_propagation_n(X, parameters):
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = np.maximum(0, Z1)
    Z2 = np.dot(parameters["W2"], A1) + parameters["b2"]
    A2 = np.maximum(0, Z2)
    A3 = 1 / (1 + np.exp(-(np.dot(parameters["W3"], A2) + parameters["b3"])))
    return A3, (Z1, A1, Z2, A2, A3)


def backward_propagation_n(X, Y, parameters, cache):
    m = X.shape[1]
    Z1, A1, Z2, A2, A3 = cache
    dZ3 = A3 - Y
    dW3 = 1. / m * np.dot(dZ3, A2.T)
    db3 = 1. / m * np.sum(dZ3, axis=1, keepdims=True)
    dZ2 = np.multiply(np.dot(parameters["W3"].T, dZ3), np.int64(A2 > 0))
    dW2 = 1. / m * np.dot(dZ2, A1.T) * 2
    db2 = 1. / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.multiply(np.dot(parameters["W2"].T, dZ2), np.int64(A1 > 0))
    dW1 = 1. / m * np.dot(dZ1, X.T)
    db1 = 4. / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}


def cost_and_gradients(parameters, X, Y):
    A3, cache = forward_propagation_n(X, parameters)
    cost = -np.mean(Y * np.log(A3) + (1 - Y) * np.log(1 - A3))
    return cost, backward_propagation_n(X, Y, parameters, cache)


def data():
    rng = np.random.default_rng(23)
    params = {"W1": rng.normal(size=(5, 4)), "b1": rng.normal(0.5, 0.2, (5, 1)), "W2": rng.normal(size=(3, 5)),
              "b2": rng.normal(0.5, 0.2, (3, 1)), "W3": rng.normal(size=(1, 3)), "b3": rng.normal(size=(1, 1))}
    X = rng.normal(size=(4, 5))
    return params, X, np.array([[1, 0, 1, 1, 0]], dtype=float)


def doctor_kwargs():
    return {"grad_fn": cost_and_gradients}
