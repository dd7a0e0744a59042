"""Control: Nielsen-style code, samples as columns, weights (out, in), biases (out, 1), a
per-sample backprop summed over the mini-batch's columns, kind "grad".

Nielsen's cost is half the squared error per sample and his update divides the summed
gradients by the mini-batch size: loss squared_error, reduction batch_mean, scale 0.5. No
divergence over 20 steps, anchored and free.
"""
import numpy as np

from . import canonical, spec

SIZES = [3, 6, 2]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def backprop_batch(params, X, Y):
    weights = [params["W1"], params["W2"]]
    biases = [params["b1"], params["b2"]]
    nabla_w = [np.zeros(w.shape) for w in weights]
    nabla_b = [np.zeros(b.shape) for b in biases]
    m = X.shape[1]
    cost = 0.0
    for i in range(m):
        activation = X[:, i:i + 1]
        activations, zs = [activation], []
        for w, b in zip(weights, biases):
            z = w @ activation + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        y = Y[:, i:i + 1]
        cost += 0.5 * np.sum((activations[-1] - y) ** 2) / m
        delta = (activations[-1] - y) * sigmoid(zs[-1]) * (1 - sigmoid(zs[-1]))
        nabla_b[-1] += delta
        nabla_w[-1] += delta @ activations[-2].T
        for l in range(2, len(SIZES)):
            sp = sigmoid(zs[-l]) * (1 - sigmoid(zs[-l]))
            delta = (weights[-l + 1].T @ delta) * sp
            nabla_b[-l] += delta
            nabla_w[-l] += delta @ activations[-l - 1].T
    return cost, {"W1": nabla_w[0] / m, "b1": nabla_b[0] / m, "W2": nabla_w[1] / m, "b2": nabla_b[1] / m}


def scenario():
    return spec(
        "control-nielsen-columns", sizes=SIZES, activations=["sigmoid", "sigmoid"],
        loss={"name": "squared_error", "reduction": "batch_mean", "scale": 0.5},
        optimizer={"name": "sgd", "lr": 3.0},
        data={"name": "regression", "n_samples": 50, "n_features": 3, "n_outputs": 2}, run={"batch_size": 10},
        user={"code": backprop_batch, "kind": "grad", "samples_as_columns": True,
              "mapping": canonical(2, layout="out_in", bias_shape=lambda layer: (SIZES[layer + 1], 1))},
    )
