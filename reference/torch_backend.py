"""PyTorch backend: an `nn.Sequential` of `nn.Linear` layers in the problem's dtype.

Layout: torch `Linear.weight` is (out, in), so canonical W = weight.T. Losses use torch's own
functions with the matching reduction: `mse_loss`, `binary_cross_entropy_with_logits` (sigmoid
output), `cross_entropy` with probability targets (softmax output; its 'mean' is the batch
mean). L2 is added to the loss as `l2 * sum(W**2)` so it appears in `p.grad`, as in the
canonical records. Gradients are captured after `backward()` and before `optimizer.step()`.
Optimizers run the single-tensor path (`foreach=False`), the CPU default.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from reference.protocol import MissingFramework, Params, Problem, StepRecord


def import_torch():
    try:
        import torch
    except ImportError as error:  # pragma: no cover - exercised where torch is absent
        raise MissingFramework(
            "the 'torch' backend needs PyTorch: pip install 'scratchnet-parity[torch]' "
            "-c constraints.txt (pins the CPU build torch==2.13.0)"
        ) from error
    return torch


_OPTIMIZER_OPTIONS = {  # scratchnet option -> torch keyword
    "sgd": {"lr": "lr", "momentum": "momentum", "dampening": "dampening", "nesterov": "nesterov", "weight_decay": "weight_decay"},
    "adam": {"lr": "lr", "epsilon": "eps", "weight_decay": "weight_decay", "amsgrad": "amsgrad"},
    "adamw": {"lr": "lr", "epsilon": "eps", "weight_decay": "weight_decay", "amsgrad": "amsgrad"},
    "rmsprop": {"lr": "lr", "rho": "alpha", "epsilon": "eps", "momentum": "momentum", "centered": "centered", "weight_decay": "weight_decay"},
    "adagrad": {"lr": "lr", "initial_accumulator_value": "initial_accumulator_value", "epsilon": "eps", "weight_decay": "weight_decay"},
}
_OPTIMIZER_CLASSES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}


def activation_module(spec, torch):
    """The torch module for a scratchnet activation spec (name or table)."""
    import scratchnet as sn

    activation = sn.activations.get(spec)
    nn = torch.nn
    return {
        "sigmoid": lambda: nn.Sigmoid(),
        "tanh": lambda: nn.Tanh(),
        "relu": lambda: nn.ReLU(),
        "leaky_relu": lambda: nn.LeakyReLU(activation.options().get("negative_slope", 0.01)),
        "elu": lambda: nn.ELU(activation.options().get("alpha", 1.0)),
        "softplus": lambda: nn.Softplus(),  # beta=1, threshold=20: returns z for z > 20
        "linear": lambda: nn.Identity(),
        "softmax": lambda: nn.Softmax(dim=1),
    }[activation.name]()


class TorchNetwork:
    """The model, the canonical <-> torch conversions and the loss, without an optimizer."""

    def __init__(self, network: Mapping, torch):
        self.torch = torch
        self.spec = network
        self.dtype = getattr(torch, network["dtype"])
        sizes, bias = network["sizes"], network["bias"]
        self.linears = [
            torch.nn.Linear(fan_in, fan_out, bias=bias, dtype=self.dtype)
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:])
        ]
        self.hidden = [activation_module(spec, torch) for spec in network["activations"][:-1]]
        self.last = activation_module(network["activations"][-1], torch)
        self.names = []  # canonical name of each torch parameter, in parameters() order
        for index, layer in enumerate(self.linears):
            self.names.append(f"dense_{index}.W")
            if bias:
                self.names.append(f"dense_{index}.b")
        self.parameters = [p for layer in self.linears for p in layer.parameters()]

    def load(self, params: Mapping[str, np.ndarray]) -> None:
        torch = self.torch
        with torch.no_grad():
            for name, parameter in zip(self.names, self.parameters):
                value = np.asarray(params[name])
                parameter.copy_(torch.from_numpy(np.ascontiguousarray(value.T if name.endswith(".W") else value)))

    def export(self, tensors=None) -> Params:
        tensors = self.parameters if tensors is None else tensors
        out = {}
        for name, tensor in zip(self.names, tensors):
            value = tensor.detach().cpu().numpy()
            out[name] = np.array(value.T if name.endswith(".W") else value, order="C", copy=True)
        return out

    def logits(self, X):
        current = X
        for index, layer in enumerate(self.linears):
            current = layer(current)
            if index < len(self.hidden):
                current = self.hidden[index](current)
        return current

    def loss(self, X, y):
        """Scalar loss tensor for X (batch, in), y (batch, out) tensors."""
        F = self.torch.nn.functional
        spec = self.spec
        z = self.logits(X)
        name, reduction, scale = spec["loss"], spec["reduction"], float(spec["scale"])
        last = self.last
        is_sigmoid = isinstance(last, self.torch.nn.Sigmoid)
        is_softmax = isinstance(last, self.torch.nn.Softmax)
        torch_reduction = "sum" if reduction == "batch_mean" else reduction
        divisor = 1.0
        if name == "squared_error":
            value = F.mse_loss(last(z), y, reduction=torch_reduction)
            if reduction == "batch_mean":
                divisor = y.shape[0]
        elif name == "binary_cross_entropy":
            value = (F.binary_cross_entropy_with_logits(z, y, reduction=torch_reduction) if is_sigmoid
                     else F.binary_cross_entropy(last(z), y, reduction=torch_reduction))
            if reduction == "batch_mean":
                divisor = y.shape[0]
        elif is_softmax:  # categorical CE from logits; torch's 'mean' is the batch mean
            value = F.cross_entropy(z, y, reduction="mean" if reduction == "batch_mean" else "sum")
            if reduction == "mean":
                divisor = y.numel()
        else:  # categorical CE on sigmoid outputs
            value = -(y * F.logsigmoid(z)).sum()
            divisor = {"mean": y.numel(), "batch_mean": y.shape[0], "sum": 1}[reduction]
        if divisor != 1.0:
            value = value / divisor
        if scale != 1.0:
            value = value * scale
        if spec["l2"]:
            value = value + spec["l2"] * sum((layer.weight**2).sum() for layer in self.linears)
        return value

    def predict(self, X):
        return self.last(self.logits(X))


class TorchBackend:
    name = "torch"
    convention = "torch"

    def __init__(self, problem: Problem):
        torch = self.torch = import_torch()
        self.network = TorchNetwork(problem.network, torch)
        self.network.load(problem.initial_params)
        options = dict(problem.optimizer.options)
        name = problem.optimizer.name
        mapping = _OPTIMIZER_OPTIONS[name]
        unknown = [key for key in options if key not in mapping and key not in ("beta_1", "beta_2")]
        if unknown:
            raise ValueError(f"torch {name} has no option {unknown[0]!r} (known: {sorted(mapping)})")
        kwargs = {mapping[key]: value for key, value in options.items() if key in mapping}
        if "beta_1" in options or "beta_2" in options:
            kwargs["betas"] = (options.get("beta_1", 0.9), options.get("beta_2", 0.999))
        optimizer_class = getattr(torch.optim, _OPTIMIZER_CLASSES[name])
        self.optimizer = optimizer_class(self.network.parameters, foreach=False, **kwargs)
        self.steps_taken = 0

    def _tensor(self, array):
        return self.torch.from_numpy(np.ascontiguousarray(array, dtype=self.network.spec["dtype"]))

    def step(self, X: np.ndarray, y: np.ndarray) -> StepRecord:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.network.loss(self._tensor(X), self._tensor(y))
        loss.backward()
        grads = self.network.export([p.grad for p in self.network.parameters])
        self.optimizer.step()
        state = {}
        for name, parameter in zip(self.network.names, self.network.parameters):
            for slot, value in self.optimizer.state.get(parameter, {}).items():
                if slot != "step" and hasattr(value, "numpy"):
                    array = value.detach().numpy()
                    state[f"{name}/{slot}"] = np.array(array.T if name.endswith(".W") else array, order="C", copy=True)
        self.steps_taken += 1
        return StepRecord(self.steps_taken, float(loss.detach()), grads, self.get_params(), state)

    def get_params(self) -> Params:
        return self.network.export()

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        self.network.load(params)

    def loss_and_grads(self, params, X, y):
        saved = self.get_params()
        try:
            self.network.load(params)
            for parameter in self.network.parameters:
                parameter.grad = None
            loss = self.network.loss(self._tensor(X), self._tensor(y))
            grads = self.torch.autograd.grad(loss, self.network.parameters)
            return float(loss.detach()), self.network.export(grads)
        finally:
            self.network.load(saved)


def reference_loss_and_grads(network: Mapping, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
    """Loss and autograd gradients of the declared network at canonical `params`, one call.

    `network` is `scratchnet.MLP.spec()` (sizes, activations, loss, reduction, scale, l2, bias,
    dtype; use dtype "float64" for a reference). `params` are canonical
    (`{"dense_0.W": (fan_in, fan_out), "dense_0.b": (fan_out,), ...}`), X is (batch, sizes[0]),
    y is (batch, sizes[-1]) real targets (one-hot for classes). Returns the loss as a float and
    the gradients in the canonical layout. Raises `MissingFramework` when torch is absent.
    """
    torch = import_torch()
    model = TorchNetwork(network, torch)
    model.load(params)
    dtype = network["dtype"]
    inputs = torch.from_numpy(np.ascontiguousarray(X, dtype=dtype))
    targets = torch.from_numpy(np.ascontiguousarray(y, dtype=dtype))
    loss = model.loss(inputs, targets)
    grads = torch.autograd.grad(loss, model.parameters)
    return float(loss.detach()), model.export(grads)
