"""Michael Nielsen's network.py (`nielsen_network`, MIT, trimmed and ported to Python 3) in
lockstep with torch, three ways:

* `scenario_wrapper`: kind "grad", a wrapper that loops ``backprop(x, y)`` over the mini-batch's
  columns and returns ``(loss, {"W1": ..., "b1": ..., ...})`` averaged over the batch;
* `scenario_grads_order`: kind "grad", a smaller wrapper that returns Nielsen's own
  ``(nabla_b, nabla_w)`` lists (summed over the columns, divided by m) and lets
  ``grads_order = [["b1", "b2"], ["W1", "W2"]]`` name them;
* `scenario_object`: kind "object", Nielsen's ``Network`` itself, its ``update_mini_batch``
  driving the update (a subclass adds W1/b1/W2/b2 properties over ``self.weights`` /
  ``self.biases`` and a ``train(X, Y, eta)`` that builds the list of ``(x, y)`` column pairs).

The network Nielsen's code implements, declared in the scenario: sigmoid layers, the cost
``C_x = 0.5 * ||a - y||**2`` per sample (``cost_derivative`` returns ``a - y``) and
``update_mini_batch`` stepping by ``eta / len(mini_batch)`` times the summed gradients, so
loss squared_error, reduction batch_mean (sum over outputs, mean over samples), scale 0.5, plain
SGD with lr = eta. Samples are columns, weights (out, in), biases (out, 1). Digits (8x8, 64
inputs) stand in for MNIST: sizes [64, 30, 10], eta 3.0, mini-batches of 10 as in the book.
"""
import numpy as np

from . import canonical, spec
from zoo.real.nielsen_network import Network  # the one committed copy of Nielsen's network.py (MIT)

SIZES = [64, 30, 10]
MAPPING = canonical(2, layout="out_in", bias_shape=lambda layer: (SIZES[layer + 1], 1))


def _network(params):
    return Network(SIZES, [params["W1"], params["W2"]], [params["b1"], params["b2"]])


def _cost(net, X, Y):
    return 0.5 * np.sum((net.feedforward(X) - Y) ** 2) / X.shape[1]


def loss_and_grads(params, X, Y):
    """The wrapper: Nielsen's per-sample backprop over the batch's columns, as a dict."""
    net = _network(params)
    m = X.shape[1]
    nabla_b = [np.zeros(b.shape) for b in net.biases]
    nabla_w = [np.zeros(w.shape) for w in net.weights]
    for i in range(m):
        delta_nabla_b, delta_nabla_w = net.backprop(X[:, i:i + 1], Y[:, i:i + 1])
        nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
        nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
    return _cost(net, X, Y), {"W1": nabla_w[0] / m, "b1": nabla_b[0] / m, "W2": nabla_w[1] / m, "b2": nabla_b[1] / m}


def loss_and_nablas(params, X, Y):
    """The grads_order wrapper: Nielsen's (nabla_b, nabla_w) structure, averaged over the batch."""
    net = _network(params)
    m = X.shape[1]
    pairs = [net.backprop(X[:, i:i + 1], Y[:, i:i + 1]) for i in range(m)]
    nabla_b = [sum(p[0][l] for p in pairs) / m for l in range(2)]
    nabla_w = [sum(p[1][l] for p in pairs) / m for l in range(2)]
    return _cost(net, X, Y), (nabla_b, nabla_w)


class LockstepNetwork(Network):
    """Nielsen's Network with the arrays named for the mapping and one mini-batch per call."""

    W1 = property(lambda self: self.weights[0], lambda self, value: self._set(self.weights, 0, value))
    W2 = property(lambda self: self.weights[1], lambda self, value: self._set(self.weights, 1, value))
    b1 = property(lambda self: self.biases[0], lambda self, value: self._set(self.biases, 0, value))
    b2 = property(lambda self: self.biases[1], lambda self, value: self._set(self.biases, 1, value))

    def __init__(self, sizes):  # the engine writes the scenario's weights before the first step
        super().__init__(sizes, [np.zeros((y, x)) for x, y in zip(sizes[:-1], sizes[1:])],
                         [np.zeros((y, 1)) for y in sizes[1:]])

    @staticmethod
    def _set(arrays, index, value):
        arrays[index] = value

    def train(self, X, Y, eta):
        self.update_mini_batch([(X[:, i:i + 1], Y[:, i:i + 1]) for i in range(X.shape[1])], eta)


def _scenario(name, user):
    return spec(
        name, sizes=SIZES, activations=["sigmoid", "sigmoid"],
        loss={"name": "squared_error", "reduction": "batch_mean", "scale": 0.5},
        optimizer={"name": "sgd", "lr": 3.0},
        data={"name": "digits"}, run={"batch_size": 10},
        user={"kind": "grad", "samples_as_columns": True, "mapping": MAPPING, **user},
    )


def scenario_wrapper():
    return _scenario("nielsen-wrapper", {"code": loss_and_grads})


def scenario_grads_order():
    return _scenario("nielsen-grads-order", {"code": loss_and_nablas, "grads_order": [["b1", "b2"], ["W1", "W2"]]})


def scenario_object():
    return _scenario("nielsen-object", {"code": LockstepNetwork, "kind": "object", "init": {"sizes": SIZES},
                                        "call": {"X": "X", "Y": "y", "eta": "lr"}})
