"""scratchnet: an exact, from-scratch NumPy neural network (MLPs and conv nets).

    import scratchnet as sn
    net = sn.MLP(sizes=[4, 5, 3], activations=["tanh", "softmax"],
                 loss="categorical_cross_entropy", reduction="batch_mean", seed=0)
    loss, grads = net.loss_and_grads(X, y)

A network is an ordered list of layers (`scratchnet.layers`: dense, conv2d, max/avg pooling,
flatten, batch norm, dropout; `MLP` builds a list of `Dense` layers). `net.spec()` describes it as plain data and `network_from_spec(spec, params)` builds it
back. Depends on NumPy only. Canonical parameters: {"dense_0.W": (fan_in, fan_out),
"dense_0.b": (fan_out,), ...}, names from `scratchnet.layers.param_names`.
"""
from scratchnet import activations, data, heap, init, layers, lm, losses, optim, params
from scratchnet.gradcheck import GradcheckResult, gradcheck
from scratchnet.layers import AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D
from scratchnet.network import MLP, Network, network_from_spec
from scratchnet.train import History, fit

__all__ = [
    "MLP",
    "Network",
    "network_from_spec",
    "Layer",
    "Dense",
    "Conv2D",
    "MaxPool2D",
    "AvgPool2D",
    "Flatten",
    "BatchNorm",
    "Dropout",
    "layers",
    "fit",
    "History",
    "gradcheck",
    "GradcheckResult",
    "activations",
    "data",
    "heap",
    "init",
    "lm",
    "losses",
    "optim",
    "params",
]
__version__ = "0.1.0"
