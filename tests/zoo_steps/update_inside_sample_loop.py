"""(e) Weights updated inside the per-sample loop of a mini-batch step:

    for x, t in zip(X, Y):
        dW1, db1, dW2, db2 = backprop(W, x, t)
        W1 -= lr / m * dW1                     # updates before the next sample's backprop
        ...

Each sample's gradient is right at the weights it sees, so a gradient check of ``backprop``
passes, and with ``batch_size = 1`` the loop is plain SGD and right: `online()` runs the same
code on single samples and passes. In a mini-batch of 4 the 2nd to 4th samples see weights the
earlier samples already moved: that is online SGD with rate lr/m, not mini-batch SGD.

First shows at step 0: the first batch already has 4 samples. Plain SGD, so the engine compares
the implied gradient ``(old - new) / lr`` with the reference's (the gradient rows come before
the weights): dense_0.W. The doctor (update-only code, one batch) names the weights as wrong by
a small amount, every layer.
"""
import numpy as np

from . import canonical, spec

FIRST = {"step": 0, "backend": "mine", "quantity": "grad", "param": "dense_0.W", "alias": "W1"}
WHY = "the first batch already has 4 samples; samples 2-4 see weights that samples 1-3 moved"


def backprop(W1, b1, W2, b2, x, t):
    h = np.tanh(W1.T @ x + b1)
    out = W2.T @ h + b2
    d_out = out - t
    d_h = (W2 @ d_out) * (1 - h ** 2)
    return np.outer(x, d_h), d_h, np.outer(h, d_out), d_out


def sgd_step(params, X, Y, lr):
    W1, b1, W2, b2 = (params[k].copy() for k in ("W1", "b1", "W2", "b2"))
    m = len(X)
    for x, t in zip(X, Y):
        dW1, db1, dW2, db2 = backprop(W1, b1, W2, b2, x, t)
        W1 -= lr / m * dW1                 # the bug: updated before the next sample's backprop
        b1 -= lr / m * db1
        W2 -= lr / m * dW2
        b2 -= lr / m * db2
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def scenario(batch_size=4, name="zoo-update-inside-sample-loop"):
    return spec(
        name, sizes=[3, 5, 2], activations=["tanh", "linear"],
        loss={"name": "squared_error", "reduction": "batch_mean", "scale": 0.5},
        optimizer={"name": "sgd", "lr": 0.1},
        data={"name": "regression", "n_samples": 40, "n_features": 3, "n_outputs": 2}, run={"batch_size": batch_size},
        user={"code": sgd_step, "kind": "step", "mapping": canonical(2)},
    )


def online():
    return scenario(batch_size=1, name="zoo-update-inside-sample-loop-online")
