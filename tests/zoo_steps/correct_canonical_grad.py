"""Control: a right backprop in the canonical layout, kind "grad", no mapping at all.

Without a mapping the code gets the canonical names and layouts: ``dense_0.W`` (fan_in,
fan_out), ``dense_0.b`` (fan_out,), ... The engine applies the scenario's momentum SGD (torch's
convention) to the returned gradients. No divergence over 20 steps, anchored and free.
"""
import numpy as np

from . import spec


def loss_and_grads(params, X, y):
    W1, b1, W2, b2 = (params[k] for k in ("dense_0.W", "dense_0.b", "dense_1.W", "dense_1.b"))
    m = X.shape[0]
    h = np.tanh(X @ W1 + b1)
    s = h @ W2 + b2
    s = s - s.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    loss = -np.sum(y * log_p) / m
    d2 = (np.exp(log_p) - y) / m
    d1 = d2 @ W2.T * (1 - h ** 2)
    return loss, {"dense_0.W": X.T @ d1, "dense_0.b": d1.sum(axis=0), "dense_1.W": h.T @ d2, "dense_1.b": d2.sum(axis=0)}


def scenario():
    return spec(
        "control-canonical-grad", sizes=[4, 8, 3], activations=["tanh", "softmax"],
        loss={"name": "categorical_cross_entropy", "reduction": "batch_mean"},
        optimizer={"name": "sgd", "lr": 0.3, "momentum": 0.9},
        data={"name": "classification", "n_samples": 90, "n_features": 4, "n_classes": 3},
        run={"batch_size": 15, "steps": 24},
        user={"code": loss_and_grads, "kind": "grad"},
    )
