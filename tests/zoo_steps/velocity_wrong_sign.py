"""(b) Momentum whose old velocity enters with the wrong sign ("friction" subtracted):

    velocity[k] = grads[k] - momentum * velocity[k]      # should be momentum * velocity[k] + grads[k]
    params[k] = params[k] - lr * velocity[k]

Update-only code (kind "step"), its velocity in a closure, one tanh hidden layer and a softmax
output on a 3-class problem, momentum SGD (0.9) in the scenario.

First shows at step 1, on the weights: at step 0 the velocity is zero, so ``grad - 0.9 * 0`` is
the gradient and the update is right; at step 1 the buffer is ``g1 - 0.9 g0`` instead of
``g1 + 0.9 g0``. The doctor, at step 1's weights, sees the implied gradient of a stateful
update: two calls at the same weights return different updates.
"""
import numpy as np

from . import canonical, spec

FIRST = {"step": 1, "backend": "mine", "quantity": "param", "param": "dense_0.W", "alias": "W1"}
WHY = "the velocity is zero at step 0, so the sign of its term only matters from step 1"


def make_trainer(momentum=0.9):
    velocity = {}

    def train_step(params, X, y, lr):
        m = X.shape[0]
        z1 = X @ params["W1"] + params["b1"]
        a1 = np.tanh(z1)
        scores = a1 @ params["W2"] + params["b2"]
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        dscores = (probs - y) / m
        grads = {"W2": a1.T @ dscores, "b2": dscores.sum(axis=0)}
        dz1 = dscores @ params["W2"].T * (1 - a1 ** 2)
        grads["W1"], grads["b1"] = X.T @ dz1, dz1.sum(axis=0)
        new = {}
        for k in ("W1", "b1", "W2", "b2"):
            velocity[k] = grads[k] - momentum * velocity.get(k, 0.0)   # the bug: the old velocity's sign
            new[k] = params[k] - lr * velocity[k]
        return new

    return train_step


def scenario():
    return spec(
        "zoo-velocity-wrong-sign", sizes=[4, 6, 3], activations=["tanh", "softmax"],
        loss={"name": "categorical_cross_entropy", "reduction": "batch_mean"},
        optimizer={"name": "sgd", "lr": 0.2, "momentum": 0.9},
        data={"name": "classification", "n_samples": 60, "n_features": 4, "n_classes": 3}, run={"batch_size": 10},
        user={"code": make_trainer(), "kind": "step", "mapping": canonical(2)},
    )
