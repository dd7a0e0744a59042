"""Marsland-style MLP (bias as a -1 input appended last, (in+1, out) weights, momentum) with two
sigmoid hidden layers and a softmax output trained on the half sum of squares; the softmax
derivative is taken elementwise, y * (1 - y), instead of the full Jacobian.

    deltao = (self.outputs - targets) * self.outputs * (1.0 - self.outputs)
"""
import numpy as np

from comparisons.doctor import AugmentedWeight, NetSpec

SPEC = NetSpec(sizes=[4, 5, 4, 3], activations=["sigmoid", "sigmoid", "softmax"], loss="squared_error", reduction="sum", scale=0.5)
MAPPING = {"weights1": AugmentedWeight(0, "in_out", "last", -1.0), "weights2": AugmentedWeight(1, "in_out", "last", -1.0),
           "weights3": AugmentedWeight(2, "in_out", "last", -1.0)}
EXPECTED = {"weights1": "wrong", "weights2": "wrong", "weights3": "wrong"}
CULPRIT = ["weights3"]
EVIDENCE = ["the softmax Jacobian is taken elementwise", "momentum 0.9", "the output delta or the loss derivative"]


class MarslandMLP:
    def __init__(self, eta, momentum=0.9, beta=1.0):
        self.eta, self.momentum, self.beta = eta, momentum, beta
        self.updatew1 = self.updatew2 = self.updatew3 = 0.0

    def forward(self, inputs):
        self.hidden1 = 1.0 / (1.0 + np.exp(-self.beta * np.dot(inputs, self.weights1)))
        self.hidden1 = np.concatenate((self.hidden1, -np.ones((inputs.shape[0], 1))), axis=1)
        self.hidden2 = 1.0 / (1.0 + np.exp(-self.beta * np.dot(self.hidden1, self.weights2)))
        self.hidden2 = np.concatenate((self.hidden2, -np.ones((inputs.shape[0], 1))), axis=1)
        outputs = np.exp(np.dot(self.hidden2, self.weights3))
        return outputs / np.sum(outputs, axis=1, keepdims=True)

    def train_step(self, params, inputs, targets):
        self.weights1, self.weights2, self.weights3 = params["weights1"], params["weights2"], params["weights3"]
        ndata = np.shape(inputs)[0]
        inputs = np.concatenate((inputs, -np.ones((ndata, 1))), axis=1)
        self.outputs = self.forward(inputs)
        deltao = (self.outputs - targets) * self.outputs * (1.0 - self.outputs)
        deltah2 = self.hidden2 * self.beta * (1.0 - self.hidden2) * np.dot(deltao, np.transpose(self.weights3))
        deltah1 = self.hidden1 * self.beta * (1.0 - self.hidden1) * np.dot(deltah2[:, :-1], np.transpose(self.weights2))
        self.updatew1 = self.eta * np.dot(np.transpose(inputs), deltah1[:, :-1]) + self.momentum * self.updatew1
        self.updatew2 = self.eta * np.dot(np.transpose(self.hidden1), deltah2[:, :-1]) + self.momentum * self.updatew2
        self.updatew3 = self.eta * np.dot(np.transpose(self.hidden2), deltao) + self.momentum * self.updatew3
        self.weights1 -= self.updatew1
        self.weights2 -= self.updatew2
        self.weights3 -= self.updatew3
        return {"weights1": self.weights1, "weights2": self.weights2, "weights3": self.weights3}


def data():
    rng = np.random.default_rng(13)
    params = {"weights1": (rng.random((5, 5)) - 0.5) * 2 / np.sqrt(4), "weights2": (rng.random((6, 4)) - 0.5) * 2 / np.sqrt(5),
              "weights3": (rng.random((5, 3)) - 0.5) * 2 / np.sqrt(4)}
    inputs = rng.random((9, 4))
    return params, inputs, np.eye(3)[np.arange(9) % 3]


def doctor_kwargs():
    return {"step_fn": MarslandMLP(eta=0.2).train_step, "lr": 0.2}
