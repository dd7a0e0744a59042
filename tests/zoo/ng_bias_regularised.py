"""Andrew Ng's ex4 network: Theta1 (25 x 401)-style augmented weights, (out, in + 1) with the bias
column first fed by +1, regularised cost lambda/(2m) * sum(Theta[:, 1:]**2). The cost skips the
bias column but the gradient regularises it.

    Theta1_grad = Delta1 / m + (lmbda / m) * Theta1       # column 0 should not get the penalty
"""
import numpy as np

from comparisons.doctor import AugmentedWeight, NetSpec

LAMBDA, M = 1.0, 10
SPEC = NetSpec(sizes=[3, 5, 2], activations=["sigmoid", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean",
               l2=LAMBDA / (2 * M))
MAPPING = {"Theta1": AugmentedWeight(0, "out_in", "first", 1.0), "Theta2": AugmentedWeight(1, "out_in", "first", 1.0)}
EXPECTED = {"Theta1": "wrong", "Theta2": "wrong"}
CULPRIT = ["Theta2"]
EVIDENCE = ["only column 0 (the bias column) of 6 differs", "the L2 gradient is applied to the biases too",
            "only bias gradients are wrong"]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def nn_cost_function(params, X, y):
    Theta1, Theta2 = params["Theta1"], params["Theta2"]
    m = X.shape[0]
    a1 = np.hstack([np.ones((m, 1)), X])
    z2 = a1 @ Theta1.T
    a2 = np.hstack([np.ones((m, 1)), sigmoid(z2)])
    h = sigmoid(a2 @ Theta2.T)
    J = np.sum(-y * np.log(h) - (1 - y) * np.log(1 - h)) / m
    J += LAMBDA / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
    d3 = h - y
    d2 = (d3 @ Theta2)[:, 1:] * sigmoid(z2) * (1 - sigmoid(z2))
    Theta1_grad = d2.T @ a1 / m + (LAMBDA / m) * Theta1
    Theta2_grad = d3.T @ a2 / m + (LAMBDA / m) * Theta2
    return J, {"Theta1": Theta1_grad, "Theta2": Theta2_grad}


def data():
    rng = np.random.default_rng(18)
    epsilon = 0.12 * 4
    params = {"Theta1": rng.random((5, 4)) * 2 * epsilon - epsilon, "Theta2": rng.random((2, 6)) * 2 * epsilon - epsilon}
    X = rng.normal(size=(M, 3))
    return params, X, np.eye(2)[rng.integers(0, 2, M)]


def doctor_kwargs():
    return {"grad_fn": nn_cost_function}
