"""scratchnet: an exact, from-scratch NumPy multilayer perceptron.

    import scratchnet as sn
    net = sn.MLP(sizes=[4, 5, 3], activations=["tanh", "softmax"],
                 loss="categorical_cross_entropy", reduction="batch_mean", seed=0)
    loss, grads = net.loss_and_grads(X, y)

Depends on NumPy only. Canonical parameters: {"dense_0.W": (fan_in, fan_out), "dense_0.b": (fan_out,), ...}.
"""
from scratchnet import activations, data, init, lm, losses, optim, params
from scratchnet.gradcheck import GradcheckResult, gradcheck
from scratchnet.network import MLP
from scratchnet.train import History, fit

__all__ = [
    "MLP",
    "fit",
    "History",
    "gradcheck",
    "GradcheckResult",
    "activations",
    "data",
    "init",
    "lm",
    "losses",
    "optim",
    "params",
]
__version__ = "0.1.0"
