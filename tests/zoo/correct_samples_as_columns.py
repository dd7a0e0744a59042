"""Correct: deep-learning-course style with samples as columns (X (n_x, m), Y (1, m)), W (n_out, n_in),
b (n_out, 1), ReLU hidden, sigmoid output, cross-entropy averaged over m."""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[4, 3, 1], activations=["relu", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0, "out_in"), "b1": Bias(0), "W2": Weight(1, "out_in"), "b2": Bias(1)}
SAMPLES_AS_COLUMNS = True
EXPECTED = {name: "ok" for name in MAPPING}
CULPRIT = None
EVIDENCE = ["all 4 gradients match the reference"]


def propagate(parameters, X, Y):
    m = X.shape[1]
    Z1 = parameters["W1"] @ X + parameters["b1"]
    A1 = np.maximum(0, Z1)
    A2 = 1 / (1 + np.exp(-(parameters["W2"] @ A1 + parameters["b2"])))
    cost = -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m
    dZ2 = A2 - Y
    dZ1 = parameters["W2"].T @ dZ2 * (Z1 > 0)
    return cost, {"W2": dZ2 @ A1.T / m, "b2": np.sum(dZ2, axis=1, keepdims=True) / m,
                  "W1": dZ1 @ X.T / m, "b1": np.sum(dZ1, axis=1, keepdims=True) / m}


def data():
    rng = np.random.default_rng(34)
    params = {"W1": rng.standard_normal((3, 4)), "b1": rng.normal(0.3, 0.1, (3, 1)),
              "W2": rng.standard_normal((1, 3)), "b2": np.full((1, 1), -0.2)}
    X = rng.standard_normal((4, 10))
    return params, X, (X[:1] + X[1:2] > 0).astype(float)


def doctor_kwargs():
    return {"grad_fn": propagate}
