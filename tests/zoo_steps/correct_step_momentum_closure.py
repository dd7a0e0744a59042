"""Control: update-only code (kind "step") with momentum SGD, the velocity in a closure,
cs231n's form ``v = mu * v - lr * dw; w += v`` (the same numbers as torch's ``buf = mu * buf +
g; w -= lr * buf`` for a constant lr). A leaky-ReLU hidden layer, linear output, half squared
error averaged over the batch. No divergence over 20 steps, anchored and free.
"""
import numpy as np

from . import spec


def make_sgd_momentum(mu=0.9):
    v = {}

    def step(params, X, y, learning_rate):
        W1, b1, W2, b2 = params["w1"], params["b1"], params["w2"], params["b2"]
        z = X @ W1 + b1
        h = np.where(z > 0, z, 0.1 * z)
        out = h @ W2 + b2
        dout = (out - y) / X.shape[0]
        dz = (dout @ W2.T) * np.where(z > 0, 1.0, 0.1)
        grads = {"w1": X.T @ dz, "b1": dz.sum(axis=0), "w2": h.T @ dout, "b2": dout.sum(axis=0)}
        new = {}
        for k, dw in grads.items():
            v[k] = mu * v.get(k, 0.0) - learning_rate * dw
            new[k] = params[k] + v[k]
        return new

    return step


def scenario():
    mapping = {"w1": {"kind": "weight", "layer": 0}, "b1": {"kind": "bias", "layer": 0},
               "w2": {"kind": "weight", "layer": 1}, "b2": {"kind": "bias", "layer": 1}}
    return spec(
        "control-step-momentum-closure", sizes=[1, 6, 1],
        activations=[{"name": "leaky_relu", "negative_slope": 0.1}, "linear"],
        loss={"name": "squared_error", "reduction": "batch_mean", "scale": 0.5},
        optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9},
        data={"name": "sin", "n_samples": 60}, run={"batch_size": 6, "steps": 20},
        user={"code": make_sgd_momentum(), "kind": "step", "mapping": mapping},
    )
