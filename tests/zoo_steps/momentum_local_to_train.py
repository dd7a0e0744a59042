"""(a) The MNIST question (shared seed 000): Marsland's mlp with two sigmoid hidden layers and a
softmax output, trained by ``train(inputs, targets, eta, niterations)``, whose momentum buffers
are local variables of ``train()``:

    def train(self, inputs, targets, eta, niterations):
        updatew1 = np.zeros(np.shape(self.weights1))     # a fresh buffer on every call
        ...
        for n in range(niterations):
            updatew1 = eta * dW1 + self.momentum * updatew1

Called once per mini-batch (``niterations = 1``), every call starts again at zero velocity: the
code is plain SGD that looks like momentum SGD. The backprop is right (here with the full softmax
Jacobian, so that the buffer is the only bug).

First shows at step 1, on the weights: at step 0 the reference's momentum buffer is also zero, so
both updates are ``eta * grad``; at step 1 the reference adds ``0.9 * buffer`` and this code adds
nothing. Every later step differs the same way. Update-only code with momentum exposes no
gradient, so the weights are compared (quantity "param"); the first canonical parameter is
dense_0.W, the W part of ``weights1``. The doctor, run at step 1's weights and batch, finds the
backprop right (its implied gradient equals the reference's gradient: no momentum at all) and
its state probe finds that no state is carried between calls.
"""
import numpy as np

from . import augmented, spec

FIRST = {"step": 1, "backend": "mine", "quantity": "param", "param": "dense_0.W", "alias": "weights1"}
WHY = "step 0 has zero velocity in both; from step 1 the reference adds 0.9 * its buffer and train() restarts at zero"


class mlp:
    def __init__(self, inputs, targets, nhidden1, nhidden2, beta=1.0, momentum=0.9):
        self.nin, self.nout = inputs, targets
        self.beta, self.momentum = beta, momentum
        rng = np.random.default_rng(0)
        self.weights1 = (rng.random((self.nin + 1, nhidden1)) - 0.5) * 2 / np.sqrt(self.nin)
        self.weights2 = (rng.random((nhidden1 + 1, nhidden2)) - 0.5) * 2 / np.sqrt(nhidden1)
        self.weights3 = (rng.random((nhidden2 + 1, self.nout)) - 0.5) * 2 / np.sqrt(nhidden2)

    def train(self, inputs, targets, eta, niterations):
        ndata = np.shape(inputs)[0]
        inputs = np.concatenate((inputs, -np.ones((ndata, 1))), axis=1)
        updatew1 = np.zeros(np.shape(self.weights1))      # the bug: local, zero on every call
        updatew2 = np.zeros(np.shape(self.weights2))
        updatew3 = np.zeros(np.shape(self.weights3))
        for n in range(niterations):
            self.outputs = self.forwardPass(inputs)
            error = 0.5 * np.sum((self.outputs - targets) ** 2)
            # softmax output, sum-of-squares error: the full Jacobian of the softmax
            diff = self.outputs - targets
            deltao = self.outputs * (diff - np.sum(diff * self.outputs, axis=1, keepdims=True))
            deltah2 = self.hidden2 * self.beta * (1.0 - self.hidden2) * np.dot(deltao, np.transpose(self.weights3))
            deltah1 = self.hidden1 * self.beta * (1.0 - self.hidden1) * np.dot(deltah2[:, :-1], np.transpose(self.weights2))
            updatew1 = eta * np.dot(np.transpose(inputs), deltah1[:, :-1]) + self.momentum * updatew1
            updatew2 = eta * np.dot(np.transpose(self.hidden1), deltah2[:, :-1]) + self.momentum * updatew2
            updatew3 = eta * np.dot(np.transpose(self.hidden2), deltao) + self.momentum * updatew3
            self.weights1 -= updatew1
            self.weights2 -= updatew2
            self.weights3 -= updatew3
        return error

    def forwardPass(self, inputs):
        self.hidden1 = 1.0 / (1.0 + np.exp(-self.beta * np.dot(inputs, self.weights1)))
        self.hidden1 = np.concatenate((self.hidden1, -np.ones((np.shape(self.hidden1)[0], 1))), axis=1)
        self.hidden2 = 1.0 / (1.0 + np.exp(-self.beta * np.dot(self.hidden1, self.weights2)))
        self.hidden2 = np.concatenate((self.hidden2, -np.ones((np.shape(self.hidden2)[0], 1))), axis=1)
        outputs = np.exp(np.dot(self.hidden2, self.weights3))
        return outputs / np.sum(outputs, axis=1, keepdims=True)


def scenario(cls=mlp, name="zoo-momentum-local-to-train"):
    return spec(
        name, sizes=[64, 16, 12, 10], activations=["sigmoid", "sigmoid", "softmax"],
        loss={"name": "squared_error", "reduction": "sum", "scale": 0.5},
        optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9},
        data={"name": "digits"}, run={"batch_size": 20},
        user={"code": cls, "kind": "object", "init": {"inputs": 64, "targets": 10, "nhidden1": 16, "nhidden2": 12},
              "call": {"inputs": "X", "targets": "y", "eta": "lr", "niterations": 1},
              "mapping": {"weights1": augmented(0), "weights2": augmented(1), "weights3": augmented(2)}},
    )
