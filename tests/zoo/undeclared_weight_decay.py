"""Nielsen-style network2 update with L2 weight decay, (1 - eta * lmbda / n) * w, while the
declared network has no penalty (l2 = 0). Biases are not decayed, so only weights differ.

    self.weights = [(1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw ...]
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[3, 4, 2], activations=["sigmoid", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean")
MAPPING = {"w0": Weight(0, "out_in"), "b0": Bias(0), "w1": Weight(1, "out_in"), "b1": Bias(1)}
EXPECTED = {"w0": "wrong", "b0": "ok", "w1": "wrong", "b1": "ok"}
CULPRIT = ["w1"]
EVIDENCE = ["your code has an L2 penalty 0.025 * sum(W**2) on the weights", "only weight gradients are wrong"]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, weights, biases):
        self.weights, self.biases = weights, biases

    def backprop(self, x, y):
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = activations[-1] - y
        nabla_b, nabla_w = [None, delta], [None, np.dot(delta, activations[-2].transpose())]
        sp = sigmoid(zs[0]) * (1 - sigmoid(zs[0]))
        delta = np.dot(self.weights[1].transpose(), delta) * sp
        nabla_b[0], nabla_w[0] = delta, np.dot(delta, activations[0].transpose())
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [(1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]


def step(params, X, Y, eta):
    net = Network([params["w0"], params["w1"]], [params["b0"], params["b1"]])
    mini_batch = [(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(X, Y)]
    net.update_mini_batch(mini_batch, eta, lmbda=5.0, n=100)
    return {"w0": net.weights[0], "w1": net.weights[1], "b0": net.biases[0], "b1": net.biases[1]}


def data():
    rng = np.random.default_rng(22)
    params = {"w0": rng.normal(size=(4, 3)) / np.sqrt(3), "b0": rng.normal(size=(4, 1)),
              "w1": rng.normal(size=(2, 4)) / 2, "b1": rng.normal(size=(2, 1))}
    X = rng.normal(size=(6, 3))
    return params, X, (rng.random((6, 2)) > 0.5).astype(float)


def doctor_kwargs():
    return {"step_fn": step, "lr": 0.5}
