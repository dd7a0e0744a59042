"""(d) Ng-style L2 scaled by the mini-batch size instead of the training-set size:

    m = X.shape[0]                                      # the batch
    J += lam / (2 * m) * (np.sum(W1 ** 2) + np.sum(W2 ** 2))   # Ng's lambda / (2 n), n = 200
    dW1 += lam / m * W1

The penalty Ng's course writes as ``lambda / (2 m)`` has m the number of training examples; in a
mini-batch loop ``X.shape[0]`` is the batch. With full-batch gradient descent (the course's
fmincg, or a one-batch check on the whole training set) the two are the same number, so the code
is right there: `full_batch()` is the same code and scenario with ``batch_size`` omitted, and
passes. With mini-batches of 20 the penalty is 10 times too strong.

First shows at step 0, on the loss (the first row compared): the penalty is in the loss as well
as in the weight gradients, and it is wrong from the first batch on. The doctor at step 0 finds
the loss off and the weight gradients (not the biases) wrong.
"""
import numpy as np

from . import canonical, spec

FIRST = {"step": 0, "backend": "mine", "quantity": "loss", "param": "loss", "alias": ""}
WHY = "m is the batch (20) from the first batch on; it equals the training-set size only in a full-batch run"
N_TRAIN, LAM, BATCH = 200, 0.5, 20


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def nn_cost_function(params, X, y, lam=LAM):
    m = X.shape[0]                      # the bug: the batch size, not the training-set size (200)
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    a2 = sigmoid(X @ W1 + b1)
    h = sigmoid(a2 @ W2 + b2)
    J = -np.sum(y * np.log(h) + (1 - y) * np.log(1 - h)) / m
    J += lam / (2 * m) * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    d3 = h - y
    d2 = (d3 @ W2.T) * a2 * (1 - a2)
    grads = {"W1": X.T @ d2 / m + lam / m * W1, "b1": d2.sum(axis=0) / m,
             "W2": a2.T @ d3 / m + lam / m * W2, "b2": d3.sum(axis=0) / m}
    return J, grads


def scenario(batch_size=BATCH, name="zoo-weight-decay-batch-size"):
    return spec(
        name, sizes=[20, 10, 1], activations=["sigmoid", "sigmoid"],
        loss={"name": "binary_cross_entropy", "reduction": "batch_mean", "l2": LAM / (2 * N_TRAIN)},
        optimizer={"name": "sgd", "lr": 0.5},
        data={"name": "classification", "n_samples": N_TRAIN, "n_features": 20}, run={"batch_size": batch_size},
        user={"code": nn_cost_function, "kind": "grad", "mapping": canonical(2)},
    )


def full_batch():
    return scenario(batch_size=None, name="zoo-weight-decay-full-batch")
