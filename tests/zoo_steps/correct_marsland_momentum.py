"""Control: Marsland's mlp (weights (in + 1, out), the bias input -1 appended last), kind
"object", momentum buffers kept on the instance (``self.updatew1``), so they carry over from one
``train(inputs, targets, eta, niterations=1)`` call to the next. The fix of
`momentum_local_to_train`: the same network, data and scenario. No divergence over 20 steps,
anchored and free.
"""
import numpy as np

from . import momentum_local_to_train


class mlp(momentum_local_to_train.mlp):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.updatew1 = np.zeros(np.shape(self.weights1))      # created once, kept across calls
        self.updatew2 = np.zeros(np.shape(self.weights2))
        self.updatew3 = np.zeros(np.shape(self.weights3))

    def train(self, inputs, targets, eta, niterations):
        ndata = np.shape(inputs)[0]
        inputs = np.concatenate((inputs, -np.ones((ndata, 1))), axis=1)
        for n in range(niterations):
            self.outputs = self.forwardPass(inputs)
            diff = self.outputs - targets
            deltao = self.outputs * (diff - np.sum(diff * self.outputs, axis=1, keepdims=True))
            deltah2 = self.hidden2 * self.beta * (1.0 - self.hidden2) * np.dot(deltao, np.transpose(self.weights3))
            deltah1 = self.hidden1 * self.beta * (1.0 - self.hidden1) * np.dot(deltah2[:, :-1], np.transpose(self.weights2))
            self.updatew1 = eta * np.dot(np.transpose(inputs), deltah1[:, :-1]) + self.momentum * self.updatew1
            self.updatew2 = eta * np.dot(np.transpose(self.hidden1), deltah2[:, :-1]) + self.momentum * self.updatew2
            self.updatew3 = eta * np.dot(np.transpose(self.hidden2), deltao) + self.momentum * self.updatew3
            self.weights1 -= self.updatew1
            self.weights2 -= self.updatew2
            self.weights3 -= self.updatew3


def scenario():
    return momentum_local_to_train.scenario(mlp, "control-marsland-momentum")
