"""Correct: Marsland's mlp (weights (in + 1, out), bias input -1 appended last, beta = 1) trained by
update-only code with momentum: updatew = eta * grad + momentum * updatew; weights -= updatew."""
import numpy as np

from comparisons.doctor import AugmentedWeight, NetSpec

SPEC = NetSpec(sizes=[2, 4, 1], activations=["sigmoid", "sigmoid"], loss="squared_error", reduction="sum", scale=0.5)
MAPPING = {"weights1": AugmentedWeight(0, "in_out", "last", -1.0), "weights2": AugmentedWeight(1, "in_out", "last", -1.0)}
EXPECTED = {"weights1": "ok", "weights2": "ok"}
CULPRIT = None
EVIDENCE = ["all 2 gradients match the reference", "momentum 0.9", "step_fn exposes no loss"]


class mlp:
    def __init__(self, eta=0.25, momentum=0.9):
        self.eta, self.momentum = eta, momentum
        self.updatew1 = np.zeros((3, 4))
        self.updatew2 = np.zeros((5, 1))

    def mlptrain_step(self, params, inputs, targets):
        self.weights1, self.weights2 = params["weights1"], params["weights2"]
        inputs = np.concatenate((inputs, -np.ones((np.shape(inputs)[0], 1))), axis=1)
        self.hidden = 1.0 / (1.0 + np.exp(-np.dot(inputs, self.weights1)))
        self.hidden = np.concatenate((self.hidden, -np.ones((np.shape(inputs)[0], 1))), axis=1)
        outputs = 1.0 / (1.0 + np.exp(-np.dot(self.hidden, self.weights2)))
        deltao = (outputs - targets) * outputs * (1.0 - outputs)
        deltah = self.hidden * (1.0 - self.hidden) * np.dot(deltao, np.transpose(self.weights2))
        self.updatew1 = self.eta * np.dot(np.transpose(inputs), deltah[:, :-1]) + self.momentum * self.updatew1
        self.updatew2 = self.eta * np.dot(np.transpose(self.hidden), deltao) + self.momentum * self.updatew2
        self.weights1 -= self.updatew1
        self.weights2 -= self.updatew2
        return {"weights1": self.weights1, "weights2": self.weights2}


def data():
    rng = np.random.default_rng(33)
    params = {"weights1": (rng.random((3, 4)) - 0.5) * 2 / np.sqrt(2), "weights2": (rng.random((5, 1)) - 0.5) * 2 / np.sqrt(4)}
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    return params, X, np.array([[0], [1], [1], [0]], dtype=float)


def doctor_kwargs():
    return {"step_fn": mlp().mlptrain_step, "lr": 0.25}
