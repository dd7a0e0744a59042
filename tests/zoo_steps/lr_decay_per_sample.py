"""(c) A 1/t learning-rate decay meant per epoch, counted per sample:

    for x, t in zip(X, Y):                         # per-sample backprop
        ...
        self.seen += 1                             # meant: epochs
    self.eta = self.eta0 / (1 + self.decay * self.seen)

A class with a per-sample backprop loop (tanh hidden layer, linear output, half squared error
averaged over the mini-batch), trained by ``train(X, Y, eta)`` with its own decay schedule. The
rate is meant to drop once per epoch: 20 steps of 8 samples stay inside the first epoch of the
200-sample data set (an epoch is 25 steps), where the scenario's constant rate is the intended
one.

First shows at step 1, on the weights (and on the implied gradient: plain SGD, so the engine
compares ``(old - new) / lr`` too, and the gradient row comes first): step 0 uses ``eta0``
(nothing seen yet); by step 1 the counter has advanced by the 8 samples of the first batch, so
the rate is ``eta0 / (1 + 8 decay)``. The implied gradient is the right one times
``1 / (1 + 8 decay)``. The doctor, called after the run (160 samples seen), calls the object
twice at the same weights and gets two different updates, the second ``(1 + 160 decay) / (1 +
168 decay) = 0.970`` times the first: "stateful", the code keeps state between calls.
"""
import numpy as np

from . import canonical, spec

FIRST = {"step": 1, "backend": "mine", "quantity": "grad", "param": "dense_0.W", "alias": "W1"}
WHY = "nothing is counted before step 0's update; by step 1 the counter holds 8 samples instead of 0 epochs"
DECAY = 0.01


class Regressor:
    def __init__(self, decay=DECAY):
        self.decay, self.seen = decay, 0
        self.eta0 = None

    def train(self, X, Y, eta):
        if self.eta0 is None:
            self.eta0 = eta
        eta = self.eta0 / (1.0 + self.decay * self.seen)
        m = len(X)
        grads = {k: np.zeros_like(getattr(self, k)) for k in ("W1", "b1", "W2", "b2")}
        for x, t in zip(X, Y):
            h = np.tanh(x @ self.W1 + self.b1)
            out = h @ self.W2 + self.b2
            d_out = out - t
            d_h = (self.W2 @ d_out) * (1 - h ** 2)
            grads["W2"] += np.outer(h, d_out)
            grads["b2"] += d_out
            grads["W1"] += np.outer(x, d_h)
            grads["b1"] += d_h
            self.seen += 1                       # the bug: counts samples, meant to count epochs
        for k, g in grads.items():
            setattr(self, k, getattr(self, k) - eta * g / m)


def scenario():
    return spec(
        "zoo-lr-decay-per-sample", sizes=[3, 5, 1], activations=["tanh", "linear"],
        loss={"name": "squared_error", "reduction": "batch_mean", "scale": 0.5},
        optimizer={"name": "sgd", "lr": 0.1},
        data={"name": "regression", "n_samples": 200, "n_features": 3}, run={"batch_size": 8},
        user={"code": Regressor, "kind": "object", "call": {"X": "X", "Y": "y", "eta": "lr"}, "mapping": canonical(2)},
    )
