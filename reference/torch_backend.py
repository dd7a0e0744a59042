"""PyTorch backend: the problem's layers as torch modules in the problem's dtype.

Each scratchnet layer kind maps to torch through one entry of `LAYERS` (its module, its
parameters and their layout conversions): dense is `nn.Linear` + the activation module, and
torch `Linear.weight` is (out, in), so canonical W = weight.T. Losses use torch's own
functions with the matching reduction: `mse_loss`, `binary_cross_entropy_with_logits` (sigmoid
output), `cross_entropy` with probability targets (softmax output; its 'mean' is the batch
mean). L2 is added to the loss as `l2 * sum(W**2)` so it appears in `p.grad`, as in the
canonical records. Gradients are captured after `backward()` and before `optimizer.step()`.
Optimizers run the single-tensor path (`foreach=False`), the CPU default.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

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


def _transpose(array):
    return array.T


@dataclass(frozen=True)
class TorchLayer:
    """How one scratchnet layer kind is built in torch, and how its parameters convert.

    `module(layer, input_shape, torch, dtype)` builds the torch module (the layer's activation is
    added separately); `params` maps each canonical slot to the module attribute holding it, in
    canonical order; `to_torch` / `to_canonical` convert a slot's array between the canonical
    layout and torch's (slots not listed have the same layout in both); `functional(torch, layer,
    params, x)` is the module's computation on canonical-layout tensors (for `torch.func`)."""

    module: Callable[..., Any]
    params: Mapping[str, str]
    to_torch: Mapping[str, Callable[[Any], Any]]
    to_canonical: Mapping[str, Callable[[Any], Any]]
    functional: Callable[..., Any]


#: scratchnet layer kind -> torch; a new layer type needs one entry here
LAYERS: dict[str, TorchLayer] = {
    "dense": TorchLayer(
        module=lambda layer, input_shape, torch, dtype: torch.nn.Linear(input_shape[0], layer.units, bias=layer.bias, dtype=dtype),
        params={"W": "weight", "b": "bias"},
        to_torch={"W": _transpose},  # Linear.weight is (out, in): canonical W = weight.T
        to_canonical={"W": _transpose},
        functional=lambda torch, layer, params, x: torch.nn.functional.linear(x, params["W"].T, params.get("b")),
    ),
}


def layer_entry(layer) -> TorchLayer:
    """The `LAYERS` entry of a scratchnet layer; a clear error for a kind torch cannot build yet."""
    if layer.kind not in LAYERS:
        raise ValueError(f"the torch backend has no {layer.kind!r} layer yet (supported: {', '.join(LAYERS)})")
    return LAYERS[layer.kind]


class TorchNetwork:
    """The model, the canonical <-> torch conversions and the loss, without an optimizer.

    `network` is the description `scratchnet.Network.spec()` (input_shape, layers, loss, ...);
    each layer is built through its `LAYERS` entry."""

    def __init__(self, network: Mapping, torch):
        import scratchnet as sn

        self.torch = torch
        self.spec = network
        self.dtype = getattr(torch, network["dtype"])
        self.layers = sn.layers.layers_from_spec(network["layers"])
        self.input_shape = sn.layers.check_input_shape(network["input_shape"])
        shapes = sn.layers.input_shapes(self.layers, self.input_shape)
        self.entries = [layer_entry(layer) for layer in self.layers]
        self.modules = [entry.module(layer, shape, torch, self.dtype)
                        for entry, layer, shape in zip(self.entries, self.layers, shapes)]
        #: activation module of each layer (None: the layer has none)
        self.activations = [None if layer.activation is None else activation_module(layer.activation, torch)
                            for layer in self.layers]
        self.last = self.activations[-1] if self.activations[-1] is not None else torch.nn.Identity()
        self.names = []  # canonical name of each torch parameter, in parameters() order
        self.parameters = []
        self._to_torch, self._to_canonical = [], []  # per parameter: conversion or None
        self.regularized = []  # parameters under the L2 penalty (dense: the weights)
        for layer, entry, module, names in zip(self.layers, self.entries, self.modules, sn.layers.layer_param_names(self.layers)):
            for slot, name in names.items():
                parameter = getattr(module, entry.params[slot])
                self.names.append(name)
                self.parameters.append(parameter)
                self._to_torch.append(entry.to_torch.get(slot))
                self._to_canonical.append(entry.to_canonical.get(slot))
                if slot in layer.regularized():
                    self.regularized.append(parameter)

    def load(self, params: Mapping[str, np.ndarray]) -> None:
        torch = self.torch
        with torch.no_grad():
            for name, parameter, convert in zip(self.names, self.parameters, self._to_torch):
                value = np.asarray(params[name])
                parameter.copy_(torch.from_numpy(np.ascontiguousarray(value if convert is None else convert(value))))

    def canonical(self, position: int, tensor) -> np.ndarray:
        """A C-ordered NumPy copy of a tensor shaped like parameter `position` (its value, its
        gradient or an optimizer slot), in the canonical layout."""
        value = tensor.detach().cpu().numpy()
        convert = self._to_canonical[position]
        return np.array(value if convert is None else convert(value), order="C", copy=True)

    def export(self, tensors=None) -> Params:
        tensors = self.parameters if tensors is None else tensors
        return {name: self.canonical(position, tensor) for position, (name, tensor) in enumerate(zip(self.names, tensors))}

    def logits(self, X):
        current = X
        last = len(self.modules) - 1
        for index, (module, activation) in enumerate(zip(self.modules, self.activations)):
            current = module(current)
            if index < last and activation is not None:
                current = activation(current)
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
            value = value + spec["l2"] * sum((parameter**2).sum() for parameter in self.regularized)
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
        # Only the options the scenario sets are passed: the others take torch's own constructor
        # defaults (never scratchnet's, the code under test). A lone beta_1 or beta_2 is paired
        # with the other half of torch's default `betas`, read from the signature.
        options = {key: value for key, value in problem.optimizer.options.items() if value is not None}
        name = problem.optimizer.name
        mapping = _OPTIMIZER_OPTIONS[name]
        optimizer_class = getattr(torch.optim, _OPTIMIZER_CLASSES[name])
        betas = ("beta_1", "beta_2") if name in ("adam", "adamw") else ()
        unknown = [key for key in options if key not in mapping and key not in betas]
        if unknown:
            raise ValueError(f"torch {name} has no option {unknown[0]!r} (known: {sorted([*mapping, *betas])})")
        kwargs = {mapping[key]: value for key, value in options.items() if key in mapping}
        if any(key in options for key in betas):
            import inspect

            default_betas = inspect.signature(optimizer_class.__init__).parameters["betas"].default
            kwargs["betas"] = tuple(options.get(key, default) for key, default in zip(betas, default_betas))
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
        for position, (name, parameter) in enumerate(zip(self.network.names, self.network.parameters)):
            for slot, value in self.optimizer.state.get(parameter, {}).items():
                if slot != "step" and hasattr(value, "numpy"):
                    state[f"{name}/{slot}"] = self.network.canonical(position, value)
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

    `network` is the description `scratchnet.Network.spec()` (input_shape, layers, loss,
    reduction, scale, l2, dtype; use dtype "float64" for a reference). `params` are canonical
    (`{"dense_0.W": (fan_in, fan_out), "dense_0.b": (fan_out,), ...}`), X is (batch, *input_shape),
    y is (batch, outputs) real targets (one-hot for classes). Returns the loss as a float and
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
