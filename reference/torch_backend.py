"""PyTorch backend: the problem's layers as torch modules in the problem's dtype.

Each scratchnet layer kind maps to torch through one entry of `LAYERS` (its module, its
parameters, state buffers and their layout conversions): dense is `nn.Linear` + the activation
module, and torch `Linear.weight` is (out, in), so canonical W = weight.T; conv2d is
`nn.Conv2d` (its weight (out, in, kh, kw) is the canonical K; "same" or uneven padding pads
explicitly first, TensorFlow's rule, which torch's ``padding="same"`` refuses for stride > 1),
`nn.MaxPool2d`, `nn.AvgPool2d`, `nn.Flatten`, `nn.BatchNorm1d/2d` (buffers running_mean and
running_var are the canonical state; momentum and eps left unset take torch's defaults) and,
for dropout, a module that multiplies by the step's mask / (1 - rate) drawn by
`scratchnet.layers.dropout_mask` (torch's own `nn.Dropout` draws from torch's generator, so no
other backend could drop the same units). Modules stay in training mode; `TorchNetwork.step`
is the step whose masks the next pass uses (`TorchBackend` sets it from its step count). Losses use torch's own
functions with the matching reduction: `mse_loss`, `binary_cross_entropy_with_logits` (sigmoid
output), `cross_entropy` with probability targets (softmax output; its 'mean' is the batch
mean). L2 is added to the loss as `l2 * sum(W**2)` so it appears in `p.grad`, as in the
canonical records. Gradients are captured after `backward()` and before `optimizer.step()`.
Optimizers run the single-tensor path (`foreach=False`), the CPU default. `device="cuda"`
(`TorchCudaBackend`, registered as ``torch_cuda``) runs the same on the GPU with TF32 off
(`resolve_device`); records are copied to the host.
"""
from __future__ import annotations

import os
import sys

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping

import numpy as np

from reference.protocol import MissingFramework, Params, Problem, StepRecord, readonly


def import_torch():
    """Import torch. Before its first import, OpenMP's idle threads are told to sleep instead of
    spinning (``OMP_WAIT_POLICY=PASSIVE``, unless the environment already sets it): in a lockstep
    run torch's OpenMP threads otherwise spin between steps on the cores NumPy's BLAS and
    TensorFlow need next (torch steps measured 8.7x slower on 2 cores). Users need not know;
    code that imported torch earlier keeps its own setting."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError as error:  # pragma: no cover - exercised where torch is absent
        raise MissingFramework(
            "the 'torch' backend needs PyTorch: pip install 'scratchnet-parity[torch]' "
            "-c constraints.txt (pins the CPU build torch==2.13.0)"
        ) from error
    return torch


#: devices the torch backend can run on
DEVICES = ("cpu", "cuda")


def resolve_device(torch, device: str):
    """The torch device for `device` ("cpu" or "cuda"). For CUDA, float32 matrix products and
    convolutions are kept in IEEE float32 (no TF32: ``fp32_precision = "ieee"`` for cuBLAS and
    cuDNN, the API of torch >= 2.9; docs: notes/cuda.html, "TensorFloat-32 (TF32) on Ampere and
    later devices"), reduced-precision reductions of half-precision products are off, and cuDNN
    picks deterministic algorithms (no benchmarking); float64 is float64 on the GPU anyway. These
    are process-wide torch settings, recorded in the environment (`CUDA_SETTINGS`). A ValueError
    names what is missing when there is no CUDA device: nothing falls back to the CPU silently."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r} for the torch backend (valid: {', '.join(DEVICES)})")
    if device == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise ValueError(f"the torch backend was asked for device 'cuda', but torch {torch.__version__} ({build}) sees "
                             "no CUDA device; install a CUDA build of torch on a machine with an NVIDIA GPU, or use the "
                             "CPU backend 'torch'")
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    return torch.device(device)


#: what a CUDA lane sets (`resolve_device`), for the environment record
CUDA_SETTINGS = {"device": "cuda", "cuda_matmul_fp32_precision": "ieee (no TF32)",
                 "cudnn_conv_fp32_precision": "ieee (no TF32)", "reduced_precision_reductions": False,
                 "cudnn_deterministic": True}

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


def _numpy(value: np.ndarray, copy: bool) -> np.ndarray:
    """A tensor's NumPy values (`tensor.numpy()`, shared memory, perhaps converted), C-ordered:
    a copy, or a read-only array that may share the tensor's memory."""
    return np.array(value, order="C", copy=True) if copy else readonly(np.ascontiguousarray(value))


@dataclass(frozen=True)
class TorchLayer:
    """How one scratchnet layer kind is built in torch, and how its parameters convert.

    `module(layer, input_shape, torch, dtype)` builds the torch module (the layer's activation is
    added separately); `params` maps each canonical slot to the module attribute holding it, in
    canonical order; `to_torch` / `to_canonical` convert a slot's array between the canonical
    layout and torch's (slots not listed have the same layout in both); `functional(torch, layer,
    params, x, **draws)` is the module's computation on canonical-layout tensors (for
    `torch.func`; `draws` are the layer's `draws`, e.g. dropout's ``scale``, as tensors); `state`
    maps each canonical state slot to the module buffer holding it (same layout)."""

    module: Callable[..., Any]
    params: Mapping[str, str]
    to_torch: Mapping[str, Callable[[Any], Any]]
    to_canonical: Mapping[str, Callable[[Any], Any]]
    functional: Callable[..., Any]
    state: Mapping[str, str] = field(default_factory=dict)


@lru_cache(maxsize=None)
def _modules(torch):
    """Module classes the table needs beyond torch's own (defined once torch is imported)."""
    nn, F = torch.nn, torch.nn.functional

    class PaddedConv2d(nn.Conv2d):
        """`nn.Conv2d` after explicit zero padding (left, right, top, bottom): uneven padding, as
        TensorFlow's "same" gives for even kernels or strides > 1."""

        def __init__(self, pads, *args, **kwargs):
            super().__init__(*args, padding=0, **kwargs)
            self.pads = tuple(pads)

        def forward(self, x):
            return super().forward(F.pad(x, self.pads))

    class InjectedDropout(nn.Module):
        """Dropout with a mask from outside: ``x * scale``, where `TorchNetwork` sets ``scale``
        (the step's mask / (1 - rate), `scratchnet.layers.dropout_scale`) before each pass."""

        def __init__(self, rate: float):
            super().__init__()
            self.rate = rate
            self.scale = None

        def forward(self, x):
            if not self.training:
                return x
            if self.scale is None or tuple(self.scale.shape) != tuple(x.shape):
                raise RuntimeError("InjectedDropout needs the step's mask for this batch (TorchNetwork sets it)")
            return x * self.scale

    return PaddedConv2d, InjectedDropout


def _conv2d(layer, input_shape, torch, dtype):
    top, bottom, left, right = layer.pads(tuple(input_shape[1:]))
    options = dict(stride=layer.stride, bias=layer.bias, dtype=dtype)
    if (top, left) == (bottom, right):
        return torch.nn.Conv2d(input_shape[0], layer.filters, layer.kernel_size, padding=(top, left), **options)
    return _modules(torch)[0]((left, right, top, bottom), input_shape[0], layer.filters, layer.kernel_size, **options)


def _conv2d_functional(torch, layer, params, x, **draws):
    top, bottom, left, right = layer.pads(tuple(x.shape[2:]))
    if (top, left) != (bottom, right):
        x, top, left = torch.nn.functional.pad(x, (left, right, top, bottom)), 0, 0
    return torch.nn.functional.conv2d(x, params["K"], params.get("b"), stride=layer.stride, padding=(top, left))


def _batch_norm(layer, input_shape, torch, dtype):
    if len(input_shape) > 3:
        raise ValueError(f"the torch backend has batch_norm for inputs (features,), (channels, length) and "
                         f"(channels, height, width), not {tuple(input_shape)}")
    module = torch.nn.BatchNorm2d if len(input_shape) == 3 else torch.nn.BatchNorm1d
    options = {key: value for key, value in (("momentum", layer.momentum), ("eps", layer.eps)) if value is not None}
    return module(input_shape[0], dtype=dtype, **options)  # unset options: torch's defaults (0.1, 1e-5)


def _batch_norm_functional(torch, layer, params, x, **draws):
    """Training-mode batch norm (batch statistics), without running statistics."""
    eps = 1e-5 if layer.eps is None else layer.eps
    return torch.nn.functional.batch_norm(x, None, None, params["gamma"], params["beta"], training=True, eps=eps)


#: scratchnet layer kind -> torch; a new layer type needs one entry here
LAYERS: dict[str, TorchLayer] = {
    "dense": TorchLayer(
        module=lambda layer, input_shape, torch, dtype: torch.nn.Linear(input_shape[0], layer.units, bias=layer.bias, dtype=dtype),
        params={"W": "weight", "b": "bias"},
        to_torch={"W": _transpose},  # Linear.weight is (out, in): canonical W = weight.T
        to_canonical={"W": _transpose},
        functional=lambda torch, layer, params, x, **draws: torch.nn.functional.linear(x, params["W"].T, params.get("b")),
    ),
    "conv2d": TorchLayer(  # Conv2d.weight (out, in, kh, kw) is the canonical K
        module=_conv2d, params={"K": "weight", "b": "bias"}, to_torch={}, to_canonical={}, functional=_conv2d_functional,
    ),
    "max_pool2d": TorchLayer(
        module=lambda layer, input_shape, torch, dtype: torch.nn.MaxPool2d(layer.pool_size, stride=layer.stride),
        params={}, to_torch={}, to_canonical={},
        functional=lambda torch, layer, params, x, **draws: torch.nn.functional.max_pool2d(x, layer.pool_size, layer.stride),
    ),
    "avg_pool2d": TorchLayer(
        module=lambda layer, input_shape, torch, dtype: torch.nn.AvgPool2d(layer.pool_size, stride=layer.stride),
        params={}, to_torch={}, to_canonical={},
        functional=lambda torch, layer, params, x, **draws: torch.nn.functional.avg_pool2d(x, layer.pool_size, layer.stride),
    ),
    "flatten": TorchLayer(  # nn.Flatten is C order over (channels, height, width): the canonical order
        module=lambda layer, input_shape, torch, dtype: torch.nn.Flatten(),
        params={}, to_torch={}, to_canonical={}, functional=lambda torch, layer, params, x, **draws: x.flatten(1),
    ),
    "batch_norm": TorchLayer(
        module=_batch_norm, params={"gamma": "weight", "beta": "bias"}, to_torch={}, to_canonical={},
        functional=_batch_norm_functional, state={"running_mean": "running_mean", "running_var": "running_var"},
    ),
    "dropout": TorchLayer(
        module=lambda layer, input_shape, torch, dtype: _modules(torch)[1](layer.rate),
        params={}, to_torch={}, to_canonical={}, functional=lambda torch, layer, params, x, scale=None: x * scale,
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
    each layer is built through its `LAYERS` entry. `step` is the training step whose dropout
    masks the next pass uses; `state_names` / `buffers` are the layer state (batch-norm running
    statistics) under canonical names."""

    def __init__(self, network: Mapping, torch, device: str = "cpu"):
        import scratchnet as sn

        self.torch = torch
        self.device = resolve_device(torch, device)
        self.spec = network
        self.dtype = getattr(torch, network["dtype"])
        self.layers = sn.layers.layers_from_spec(network["layers"])
        self.input_shape = sn.layers.check_input_shape(network["input_shape"])
        shapes = sn.layers.input_shapes(self.layers, self.input_shape)
        self.entries = [layer_entry(layer) for layer in self.layers]
        self.modules = [entry.module(layer, shape, torch, self.dtype).to(self.device)
                        for entry, layer, shape in zip(self.entries, self.layers, shapes)]
        #: activation module of each layer (None: the layer has none)
        self.activations = [None if layer.activation is None else activation_module(layer.activation, torch)
                            for layer in self.layers]
        self.last = self.activations[-1] if self.activations[-1] is not None else torch.nn.Identity()
        self.names = []  # canonical name of each torch parameter, in parameters() order
        self.parameters = []
        self._to_torch, self._to_canonical = [], []  # per parameter: conversion or None
        self.regularized = []  # parameters under the L2 penalty (dense: the weights)
        self.step = 0
        self.numpy_dtype = np.dtype(network["dtype"])
        self.state_names, self.buffers = [], []
        for layer, entry, module, names in zip(self.layers, self.entries, self.modules, sn.layers.layer_state_names(self.layers)):
            for slot, name in names.items():
                self.state_names.append(name)
                self.buffers.append(getattr(module, entry.state[slot]))
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
        """Canonical parameters (every one) and layer state (the names given) into the modules."""
        torch = self.torch
        with torch.no_grad():
            for name, parameter, convert in zip(self.names, self.parameters, self._to_torch):
                value = np.asarray(params[name])
                parameter.copy_(torch.from_numpy(np.ascontiguousarray(value if convert is None else convert(value))))
            for name, buffer in zip(self.state_names, self.buffers):
                if name in params:
                    buffer.copy_(torch.from_numpy(np.ascontiguousarray(params[name], dtype=self.numpy_dtype)))

    def export_state(self, copy: bool = True) -> Params:
        """The layer state (running statistics) under canonical names: copies, or read-only views
        of the live buffers (`copy=False`)."""
        return {name: _numpy(buffer.detach().cpu().numpy(), copy) for name, buffer in zip(self.state_names, self.buffers)}

    def train(self, mode: bool = True) -> "TorchNetwork":
        """Training (True) or eval (False) mode of every module and of the scratchnet layers that
        draw the masks; the backend itself always trains."""
        for layer, module in zip(self.layers, self.modules):
            layer.train(mode)
            module.train(mode)
        return self

    def canonical(self, position: int, tensor, copy: bool = True) -> np.ndarray:
        """A tensor shaped like parameter `position` (its value, its gradient or an optimizer
        slot) in the canonical layout, C-ordered: a copy, or (`copy=False`) read-only, a view of
        the tensor where the layouts agree (a transposed slot, dense W = weight.T, is copied)."""
        value = tensor.detach().cpu().numpy()
        convert = self._to_canonical[position]
        return _numpy(value if convert is None else convert(value), copy)

    def export(self, tensors=None, copy: bool = True) -> Params:
        """Canonical parameters (or `tensors` shaped like them, in parameter order): copies, or
        read-only views where the layouts agree (`copy=False`)."""
        tensors = self.parameters if tensors is None else tensors
        return {name: self.canonical(position, tensor, copy)
                for position, (name, tensor) in enumerate(zip(self.names, tensors))}

    def logits(self, X):
        current = X
        last = len(self.modules) - 1
        for index, (layer, module, activation) in enumerate(zip(self.layers, self.modules, self.activations)):
            for key, value in layer.draws(self.step, index, tuple(current.shape), self.numpy_dtype).items():
                setattr(module, key, self.torch.from_numpy(value).to(self.device))
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

    def __init__(self, problem: Problem, device: str = "cpu"):
        torch = self.torch = import_torch()
        self.network = TorchNetwork(problem.network, torch, device)
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
        return self.torch.from_numpy(np.ascontiguousarray(array, dtype=self.network.spec["dtype"])).to(self.network.device)

    def step(self, X: np.ndarray, y: np.ndarray) -> StepRecord:
        """One step. The record holds read-only views of the tensors wherever the canonical
        layout is torch's: the gradients (fresh tensors every step: `zero_grad(set_to_none=True)`,
        and no optimizer writes into them), and the weights and optimizer and layer state, which
        the next step updates in place (the runner diffs a step before any lane takes the next)."""
        network = self.network
        self.optimizer.zero_grad(set_to_none=True)
        network.step = self.steps_taken
        loss = network.loss(self._tensor(X), self._tensor(y))
        loss.backward()
        grads = network.export([p.grad for p in network.parameters], copy=False)
        self.optimizer.step()
        state = {}
        for position, (name, parameter) in enumerate(zip(network.names, network.parameters)):
            for slot, value in self.optimizer.state.get(parameter, {}).items():
                if slot != "step" and hasattr(value, "numpy"):
                    state[f"{name}/{slot}"] = network.canonical(position, value, copy=False)
        state.update(network.export_state(copy=False))
        self.steps_taken += 1
        return StepRecord(self.steps_taken, float(loss.detach()), grads, network.export(copy=False), state)

    def get_params(self) -> Params:
        """Parameters, then layer state (running statistics), canonical names, copies."""
        return {**self.network.export(), **self.network.export_state()}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Parameters (every one) and layer state (when given: anchoring carries it)."""
        self.network.load(params)

    def loss_and_grads(self, params, X, y):
        saved = self.get_params()  # the state too: a training-mode pass moves batch norm's running statistics
        try:
            self.network.step = self.steps_taken  # the masks of the next step
            self.network.load(params)
            for parameter in self.network.parameters:
                parameter.grad = None
            loss = self.network.loss(self._tensor(X), self._tensor(y))
            grads = self.torch.autograd.grad(loss, self.network.parameters)
            return float(loss.detach()), self.network.export(grads)
        finally:
            self.network.load(saved)


class TorchCudaBackend(TorchBackend):
    """The torch backend on the GPU (registered as ``torch_cuda``): the same modules, optimizer
    and records, the tensors on CUDA with TF32 off (`resolve_device`)."""

    name = "torch_cuda"

    def __init__(self, problem: Problem):
        super().__init__(problem, device="cuda")


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
