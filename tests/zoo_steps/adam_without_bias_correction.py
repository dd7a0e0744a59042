"""(g) Adam without bias correction: the moments are used raw.

    self.m[k] = beta1 * self.m[k] + (1 - beta1) * g
    self.v[k] = beta2 * self.v[k] + (1 - beta2) * g ** 2
    params[k] -= lr * self.m[k] / (np.sqrt(self.v[k]) + eps)      # no m / (1 - beta1**t), v / (1 - beta2**t)

An update-only class (kind "step": the instance is callable) with its own Adam, the scenario's
optimizer Adam (torch's convention: eps outside the root).

First shows at step 0, on the weights: at t = 1 the raw moments are ``0.1 g`` and ``0.001 g**2``,
so the first step is ``(1 - beta1) / sqrt(1 - beta2) = 3.16`` times the bias-corrected one
(for |g| >> eps). The factor shrinks towards 1 as t grows, which is why the bug "only" makes
early training erratic. Adam exposes no gradient, so the weights are compared.

`FrozenStepAdam` is the multi-step relative: bias correction with a step counter that is never
advanced (``t`` stays 1). Its first step is right; it first shows at step 1, where the
reference divides by ``1 - beta1**2`` and it still divides by ``1 - beta1``.

The doctor judges update-only code by its implied gradient ``(old - new) / lr``, which is the
gradient for plain SGD (and momentum SGD's first step) only; an Adam step is not a multiple of
the gradient, so whatever it says about these two is not about their (right) backprop.
"""
import numpy as np

from . import canonical, spec

FIRST = {"step": 0, "backend": "mine", "quantity": "param", "param": "dense_0.W", "alias": "W1"}
WHY = "at t = 1 the uncorrected step is (1 - beta1) / sqrt(1 - beta2) = 3.16 times the corrected one"
FIRST_FROZEN = {"step": 1, "backend": "mine", "quantity": "param", "param": "dense_0.W", "alias": "W1"}
WHY_FROZEN = "t = 1 is right at step 0; from step 1 the correction keeps dividing by 1 - beta^1"


def gradients(params, X, Y):
    m = len(X)
    H = np.maximum(0.0, X @ params["W1"] + params["b1"])
    out = H @ params["W2"] + params["b2"]
    d_out = (out - Y) / m                       # half squared error, averaged over the batch
    d_h = (d_out @ params["W2"].T) * (H > 0)
    return {"W1": X.T @ d_h, "b1": d_h.sum(axis=0), "W2": H.T @ d_out, "b2": d_out.sum(axis=0)}


class Adam:
    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m, self.v, self.t = {}, {}, 0

    def __call__(self, params, X, Y, lr):
        grads = gradients(params, X, Y)
        self.t += 1
        new = {}
        for k, g in grads.items():
            self.m[k] = self.beta1 * self.m.get(k, 0.0) + (1 - self.beta1) * g
            self.v[k] = self.beta2 * self.v.get(k, 0.0) + (1 - self.beta2) * g ** 2
            new[k] = params[k] - lr * self.update(k)
        return new

    def update(self, k):
        return self.m[k] / (np.sqrt(self.v[k]) + self.eps)      # the bug: no bias correction


class FrozenStepAdam(Adam):
    def update(self, k):
        t = 1                                                   # the bug: should be self.t
        m_hat = self.m[k] / (1 - self.beta1 ** t)
        v_hat = self.v[k] / (1 - self.beta2 ** t)
        return m_hat / (np.sqrt(v_hat) + self.eps)


def scenario(optimizer=Adam, name="zoo-adam-without-bias-correction"):
    return spec(
        name, sizes=[5, 8, 2], activations=["relu", "linear"],
        loss={"name": "squared_error", "reduction": "batch_mean", "scale": 0.5},
        optimizer={"name": "adam", "lr": 0.01},
        data={"name": "regression", "n_samples": 64, "n_features": 5, "n_outputs": 2}, run={"batch_size": 16},
        user={"code": optimizer(), "kind": "step", "mapping": canonical(2)},
    )


def frozen_step():
    return scenario(FrozenStepAdam, "zoo-adam-frozen-step-counter")
