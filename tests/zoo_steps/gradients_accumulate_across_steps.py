"""(h) Gradient buffers allocated once and never zeroed between steps:

    def __init__(self):
        self.grads = {k: np.zeros(shape) for k, shape in shapes.items()}     # once
    def loss_and_grads(self, params, X, y):
        for i in range(m):                                               # per-sample backprop
            self.grads["W1"] += np.outer(x, d1) / m                      # never reset

The PyTorch habit (``optimizer.zero_grad()``) without PyTorch. A grad-kind class method with a
per-sample loop over the batch (sigmoid hidden layer, softmax output, cross-entropy averaged
over the batch); the engine applies the scenario's SGD.

First shows at step 1, on the gradient: at step 0 the buffers start at zero, so the first
gradient is right; at step 1 they return step 0's gradient plus step 1's. The doctor, at step
1's weights (called after the run, so the buffers hold all 20 steps' gradients), calls the code
twice at the same weights and gets different gradients: "stateful", for every array, with the
loss right (the forward pass is not the problem).
"""
import numpy as np

from . import canonical, spec

FIRST = {"step": 1, "backend": "mine", "quantity": "grad", "param": "dense_0.W", "alias": "W1"}
WHY = "the buffers start at zero, so step 0 is right; step 1 returns step 0's gradient plus its own"
SIZES = [4, 5, 3]


class SoftmaxNet:
    def __init__(self, sizes=SIZES):
        n_in, n_hidden, n_out = sizes
        self.grads = {"W1": np.zeros((n_in, n_hidden)), "b1": np.zeros(n_hidden),
                      "W2": np.zeros((n_hidden, n_out)), "b2": np.zeros(n_out)}

    def loss_and_grads(self, params, X, y):
        m = len(X)
        loss = 0.0
        for x, t in zip(X, y):
            h = 1.0 / (1.0 + np.exp(-(x @ params["W1"] + params["b1"])))
            s = h @ params["W2"] + params["b2"]
            p = np.exp(s - s.max())
            p /= p.sum()
            loss -= np.sum(t * np.log(p)) / m
            d2 = (p - t) / m
            d1 = (params["W2"] @ d2) * h * (1 - h)
            self.grads["W2"] += np.outer(h, d2)            # the bug: the buffers are never zeroed
            self.grads["b2"] += d2
            self.grads["W1"] += np.outer(x, d1)
            self.grads["b1"] += d1
        return loss, self.grads


def scenario():
    return spec(
        "zoo-gradients-accumulate", sizes=SIZES, activations=["sigmoid", "softmax"],
        loss={"name": "categorical_cross_entropy", "reduction": "batch_mean"},
        optimizer={"name": "sgd", "lr": 0.5},
        data={"name": "classification", "n_samples": 60, "n_features": 4, "n_classes": 3}, run={"batch_size": 12},
        user={"code": SoftmaxNet().loss_and_grads, "kind": "grad", "mapping": canonical(2)},
    )
