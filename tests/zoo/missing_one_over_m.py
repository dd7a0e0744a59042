"""Cross-entropy averaged in the loss, but the gradients are sums over the batch (no 1/m).

    cost = -np.sum(Y * np.log(probs)) / m
    dZ2 = probs - Y                       # missing / m
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[4, 6, 3], activations=["tanh", "softmax"], loss="categorical_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "scaled", "b1": "scaled", "W2": "scaled", "b2": "scaled"}
CULPRIT = ["W2", "b2"]
EVIDENCE = ["the batch size m = 8", "follows the batch size", "divide it by m", "the backprop is wrong"]


def softmax(scores):
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def loss_and_grads(params, X, Y):
    m = X.shape[0]
    hidden = np.tanh(X.dot(params["W1"]) + params["b1"])
    probs = softmax(hidden.dot(params["W2"]) + params["b2"])
    cost = -np.sum(Y * np.log(probs)) / m
    dZ2 = probs - Y
    dZ1 = dZ2.dot(params["W2"].T) * (1 - hidden ** 2)
    return cost, {"W1": X.T.dot(dZ1), "b1": dZ1.sum(axis=0), "W2": hidden.T.dot(dZ2), "b2": dZ2.sum(axis=0)}


def data():
    rng = np.random.default_rng(2)
    params = {"W1": rng.normal(0, 0.5, (4, 6)), "b1": rng.normal(0, 0.1, 6),
              "W2": rng.normal(0, 0.5, (6, 3)), "b2": rng.normal(0, 0.1, 3)}
    X = rng.normal(size=(8, 4))
    Y = np.eye(3)[rng.integers(0, 3, 8)]
    return params, X, Y


def doctor_kwargs():
    return {"grad_fn": loss_and_grads}
