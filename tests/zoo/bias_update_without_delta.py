"""XOR with node and link objects (True=0.9, False=0.1, gamma=0.5). Weight adjustments are
gamma * error_signal * output, but the bias adjustment was guessed as gamma * output of the
previous layer's last node: it never sees the error signal.

    self.links[bias_link].weight += 0.5 * self.layers[i].nodes[m].output
"""
import numpy as np

from comparisons.doctor import Bias, NetSpec, Weight

SPEC = NetSpec(sizes=[2, 3, 1], activations=["sigmoid", "sigmoid"], loss="squared_error", reduction="sum", scale=0.5)
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
EXPECTED = {"W1": "ok", "b1": "wrong", "W2": "ok", "b2": "wrong"}
CULPRIT = ["b2"]
EVIDENCE = ["does not depend on each unit's delta", "only bias gradients are wrong"]


class Node:
    def __init__(self, bias):
        self.bias, self.output, self.error_signal = bias, 0.0, 0.0


class Link:
    def __init__(self, weight):
        self.weight = weight


class Network:
    def __init__(self, params):
        self.layers = [[Node(False) for _ in range(2)], [Node(True) for _ in range(3)], [Node(True)]]
        self.links = {}
        for i, (W, b) in enumerate([(params["W1"], params["b1"]), (params["W2"], params["b2"])]):
            for n in range(W.shape[1]):
                for m in range(W.shape[0]):
                    self.links[(i, m, i + 1, n)] = Link(float(W[m, n]))
                self.links[(-1, -1, i + 1, n)] = Link(float(b[n]))
        self.adjust = {key: 0.0 for key in self.links}

    def apply_inputs(self, inputs):
        for m, value in enumerate(inputs):
            self.layers[0][m].output = value
        for i in range(len(self.layers) - 1):
            for n, node in enumerate(self.layers[i + 1]):
                total = sum(self.links[(i, m, i + 1, n)].weight * mode.output for m, mode in enumerate(self.layers[i]))
                if node.bias:
                    total += self.links[(-1, -1, i + 1, n)].weight
                node.output = 1.0 / (1.0 + np.exp(-total))

    def compute_error_signals(self, target):
        out = self.layers[2][0]
        out.error_signal = (target - out.output) * out.output * (1 - out.output)
        for j, hid in enumerate(self.layers[1]):
            hid.error_signal = hid.output * (1 - hid.output) * out.error_signal * self.links[(1, j, 2, 0)].weight

    def compute_weight_adjustments(self):
        for i in range(len(self.layers) - 1):
            for n, node in enumerate(self.layers[i + 1]):
                for m, mode in enumerate(self.layers[i]):
                    self.adjust[(i, m, i + 1, n)] += 0.5 * node.error_signal * mode.output
                if node.bias:
                    self.adjust[(-1, -1, i + 1, n)] += 0.5 * self.layers[i][m].output

    def export(self):
        out = {}
        for i, (fan_in, fan_out) in enumerate([(2, 3), (3, 1)]):
            out[f"W{i + 1}"] = np.array([[self.links[(i, m, i + 1, n)].weight + self.adjust[(i, m, i + 1, n)]
                                          for n in range(fan_out)] for m in range(fan_in)])
            out[f"b{i + 1}"] = np.array([self.links[(-1, -1, i + 1, n)].weight + self.adjust[(-1, -1, i + 1, n)]
                                         for n in range(fan_out)])
        return out


def train_batch(params, X, y):
    net = Network(params)
    for inputs, target in zip(X, y):
        net.apply_inputs(inputs)
        net.compute_error_signals(target[0])
        net.compute_weight_adjustments()
    return net.export()


def data():
    rng = np.random.default_rng(15)
    params = {"W1": rng.uniform(-1, 1, (2, 3)), "b1": rng.uniform(-1, 1, 3), "W2": rng.uniform(-1, 1, (3, 1)), "b2": rng.uniform(-1, 1, 1)}
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    return params, X, np.array([[0.1], [0.9], [0.9], [0.1]])


def doctor_kwargs():
    return {"step_fn": train_batch, "lr": 0.5}
