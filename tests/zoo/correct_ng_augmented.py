"""Correct: Andrew Ng's ex4 network (Theta (out, in + 1), bias column first fed by +1), regularised
without the bias column, in the cost and in the gradient."""
import numpy as np

from comparisons.doctor import AugmentedWeight, NetSpec

LAMBDA, M = 3.0, 8
SPEC = NetSpec(sizes=[4, 5, 3], activations=["sigmoid", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean",
               l2=LAMBDA / (2 * M))
MAPPING = {"Theta1": AugmentedWeight(0, "out_in", "first", 1.0), "Theta2": AugmentedWeight(1, "out_in", "first", 1.0)}
EXPECTED = {"Theta1": "ok", "Theta2": "ok"}
CULPRIT = None
EVIDENCE = ["all 2 gradients match the reference", "forward pass and loss formula agree"]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def nn_cost_function(params, X, y):
    Theta1, Theta2 = params["Theta1"], params["Theta2"]
    m = X.shape[0]
    a1 = np.column_stack([np.ones(m), X])
    z2 = a1 @ Theta1.T
    a2 = np.column_stack([np.ones(m), sigmoid(z2)])
    h = sigmoid(a2 @ Theta2.T)
    J = np.sum(-y * np.log(h) - (1 - y) * np.log(1 - h)) / m
    J += LAMBDA / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
    Delta1, Delta2 = np.zeros_like(Theta1), np.zeros_like(Theta2)
    for t in range(m):
        d3 = h[t] - y[t]
        d2 = (Theta2.T @ d3)[1:] * sigmoid(z2[t]) * (1 - sigmoid(z2[t]))
        Delta2 += np.outer(d3, a2[t])
        Delta1 += np.outer(d2, a1[t])
    Theta1_grad, Theta2_grad = Delta1 / m, Delta2 / m
    Theta1_grad[:, 1:] += LAMBDA / m * Theta1[:, 1:]
    Theta2_grad[:, 1:] += LAMBDA / m * Theta2[:, 1:]
    return J, {"Theta1": Theta1_grad, "Theta2": Theta2_grad}


def data():
    rng = np.random.default_rng(32)
    params = {"Theta1": rng.uniform(-0.5, 0.5, (5, 5)), "Theta2": rng.uniform(-0.5, 0.5, (3, 6))}
    X = rng.normal(size=(M, 4))
    return params, X, np.eye(3)[rng.integers(0, 3, M)]


def doctor_kwargs():
    return {"grad_fn": nn_cost_function}
