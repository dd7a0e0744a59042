"""(f) An output bias that is never updated: the gradient is computed, the update loop leaves it
out.

    for param, grad in zip([self.W1, self.b1, self.W2], [dW1, db1, dW2]):   # b2 forgotten
        param -= lr * grad

A class whose ``fit_batch(X, Y, lr)`` does a right backprop (sigmoid hidden layer, sigmoid
output, cross-entropy averaged over the batch), so a gradient check of its ``gradients`` method
passes; the in-place update list simply has no ``self.b2``.

First shows at step 0: the first update already leaves b2 where it was. Plain SGD, so the engine
compares the implied gradient ``(old - new) / lr``: it is exactly zero for b2, against the
reference's nonzero gradient, while W1, b1 and W2 match (dense_1.b is the first row that
fails). The doctor calls b2's gradient "zero" and names b2 as the culprit.
"""
import numpy as np

from . import canonical, spec

FIRST = {"step": 0, "backend": "mine", "quantity": "grad", "param": "dense_1.b", "alias": "b2"}
WHY = "the first update already leaves b2 unchanged: its implied gradient is zero from step 0"


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class TwoLayerClassifier:
    def __init__(self, n_in=2, n_hidden=4, n_out=1):
        self.W1, self.b1 = np.zeros((n_in, n_hidden)), np.zeros(n_hidden)
        self.W2, self.b2 = np.zeros((n_hidden, n_out)), np.zeros(n_out)

    def gradients(self, X, Y):
        m = len(X)
        H = sigmoid(X @ self.W1 + self.b1)
        P = sigmoid(H @ self.W2 + self.b2)
        dZ2 = (P - Y) / m
        dZ1 = dZ2 @ self.W2.T * H * (1 - H)
        return X.T @ dZ1, dZ1.sum(axis=0), H.T @ dZ2, dZ2.sum(axis=0)

    def fit_batch(self, X, Y, lr):
        dW1, db1, dW2, db2 = self.gradients(X, Y)
        for param, grad in zip([self.W1, self.b1, self.W2], [dW1, db1, dW2]):   # the bug: no self.b2
            param -= lr * grad


def scenario():
    return spec(
        "zoo-bias-never-updated", sizes=[2, 4, 1], activations=["sigmoid", "sigmoid"],
        loss={"name": "binary_cross_entropy", "reduction": "batch_mean"},
        optimizer={"name": "sgd", "lr": 0.5},
        data={"name": "xor"}, run={"batch_size": 2},
        user={"code": TwoLayerClassifier, "kind": "object", "method": "fit_batch",
              "call": {"X": "X", "Y": "y", "lr": "lr"}, "mapping": canonical(2)},
    )
