"""Three layers; the second hidden layer's delta forgets its sigmoid derivative.

    delta2 = delta3 @ W3.T                 # missing * a2 * (1 - a2)
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[4, 6, 5, 3], activations=["sigmoid", "sigmoid", "softmax"], loss="categorical_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1), "W3": Weight(2), "b3": Bias(2)}
EXPECTED = {"W1": "wrong", "b1": "wrong", "W2": "wrong", "b2": "wrong", "W3": "ok", "b3": "ok"}
CULPRIT = ["W2", "b2"]
EVIDENCE = ["the sigmoid derivative of layer 1 is missing", "layer 1 and every layer below it are wrong; the layers above it match"]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backward(params, X, Y):
    m = X.shape[0]
    a1 = sigmoid(X @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    z3 = a2 @ params["W3"] + params["b3"]
    a3 = np.exp(z3 - z3.max(1, keepdims=True))
    a3 /= a3.sum(1, keepdims=True)
    loss = -np.sum(Y * np.log(a3)) / m
    delta3 = (a3 - Y) / m
    delta2 = delta3 @ params["W3"].T
    delta1 = (delta2 @ params["W2"].T) * a1 * (1 - a1)
    return loss, {"W3": a2.T @ delta3, "b3": delta3.sum(0), "W2": a1.T @ delta2, "b2": delta2.sum(0),
                  "W1": X.T @ delta1, "b1": delta1.sum(0)}


def data():
    rng = np.random.default_rng(16)
    params = {"W1": rng.normal(size=(4, 6)), "b1": rng.normal(size=6), "W2": rng.normal(size=(6, 5)), "b2": rng.normal(size=5),
              "W3": rng.normal(size=(5, 3)), "b3": rng.normal(size=3)}
    return params, rng.normal(size=(7, 4)), np.eye(3)[[0, 1, 2, 0, 1, 2, 0]]


def doctor_kwargs():
    return {"grad_fn": backward}
