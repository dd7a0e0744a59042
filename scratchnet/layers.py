"""Layers: a scratchnet network is an ordered list of them, numbered from the input side.

Each layer class declares, once, everything the rest of the project needs to know about its kind:

* ``kind``: the type name used in specs and in canonical names (``"dense"``);
* its parameters: slot names (``param_slots``), their canonical shapes given the layer's input
  shape (``param_shapes``) and a one-line description of the layouts (``LAYOUTS``), which slots the
  network's L2 penalty applies to (``regularized``), and how they are initialised
  (``init_params``);
* its state (``state_slots``, ``state_shapes``, ``init_state``): arrays that are not trained by
  gradients but change during training, such as batch-norm running statistics; named like
  parameters and diffed like optimizer state. Dense has none;
* its output shape given its input shape (``output_shape``); shapes exclude the batch axis, images
  are channels-first ``(channels, height, width)``;
* ``forward`` and ``backward`` (vectorized NumPy, samples along axis 0), ``backward_seeds`` (a
  batch of backward passes, for the residual Jacobian) and the activation's vector-Jacobian product;
* a train/eval switch (``train(mode)``, read through ``self.training`` by layers whose forward
  differs between the two, such as batch norm or dropout);
* ``to_spec`` / ``from_spec``: a plain-data round trip (``{"type": "dense", "units": 3,
  "activation": "sigmoid", "bias": True}``).

Canonical names are made here and nowhere else: ``layer_prefix(kind, index)`` gives ``"dense_0"``,
``param_name(kind, index, slot)`` gives ``"dense_0.W"``, and ``param_names(layers)`` /
``layer_param_names(layers)`` / ``state_names(layers)`` list them for a whole network. The index is
the layer's position in the list, so a layer without parameters (a future ``flatten``) still takes
an index: ``[dense, flatten, dense]`` has ``dense_0.W`` and ``dense_2.W``.

Adding a layer type means one subclass here (registered in ``LAYER_TYPES``) and one entry in each
backend's layer table (``reference/torch_backend.py``, ``reference/keras_backend.py``).
"""
from __future__ import annotations

import copy
import difflib
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from scratchnet import activations as activations_module
from scratchnet._checks import unknown_name

Shape = tuple[int, ...]
Arrays = dict[str, np.ndarray]


# ---------------------------------------------------------------------------------- naming
def layer_prefix(kind: str, index: int) -> str:
    """The prefix of every parameter and state name of the layer at `index` (counted from the
    input side, 0 first; every layer counts, with or without parameters): ``"dense_0"``."""
    return f"{kind}_{index}"


def param_name(kind: str, index: int, slot: str) -> str:
    """The canonical name of one parameter (or state array): ``param_name("dense", 0, "W") == "dense_0.W"``."""
    return f"{layer_prefix(kind, index)}.{slot}"


def parse_name(name: str) -> tuple[str, int, str]:
    """(kind, index, slot) of a canonical name: ``"dense_0.W"`` -> ``("dense", 0, "W")``."""
    prefix, dot, slot = name.partition(".")
    kind, underscore, index = prefix.rpartition("_")
    if not (dot and underscore and kind and slot and index.isdigit()):
        raise ValueError(f"{name!r} is not a canonical name such as 'dense_0.W' (kind_index.slot)")
    return kind, int(index), slot


def layer_param_names(layers: Sequence["Layer"]) -> list[dict[str, str]]:
    """Per layer, {slot: canonical name} in the layer's slot order (empty for parameterless layers)."""
    return [{slot: param_name(layer.kind, index, slot) for slot in layer.param_slots()} for index, layer in enumerate(layers)]


def param_names(layers: Sequence["Layer"]) -> list[str]:
    """Every canonical parameter name of a network, in the canonical (flat-vector) order."""
    return [name for names in layer_param_names(layers) for name in names.values()]


def layer_state_names(layers: Sequence["Layer"]) -> list[dict[str, str]]:
    """Per layer, {state slot: canonical name} (empty for stateless layers such as dense)."""
    return [{slot: param_name(layer.kind, index, slot) for slot in layer.state_slots()} for index, layer in enumerate(layers)]


def state_names(layers: Sequence["Layer"]) -> list[str]:
    """Every canonical state name of a network (e.g. ``batch_norm_1.running_mean``), in order."""
    return [name for names in layer_state_names(layers) for name in names.values()]


# ---------------------------------------------------------------------------------- shapes
def check_input_shape(input_shape: Any) -> Shape:
    """An input shape (without the batch axis) as a tuple of positive ints; an int n means (n,)."""
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) or not input_shape:
        raise ValueError(
            f"input_shape must list the shape of one sample, e.g. [4] for 4 features or [1, 28, 28] for a "
            f"channels-first image, got {input_shape!r}"
        )
    out = []
    for index, size in enumerate(input_shape):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"input_shape[{index}] must be a positive integer, got {size!r}")
        out.append(int(size))
    return tuple(out)


def input_shapes(layers: Sequence["Layer"], input_shape: Shape) -> list[Shape]:
    """The input shape of every layer, followed by the network's output shape (len(layers) + 1
    entries). Raises ValueError naming the first layer that cannot take its input."""
    shapes = [tuple(input_shape)]
    for index, layer in enumerate(layers):
        try:
            shapes.append(tuple(layer.output_shape(shapes[-1])))
        except ValueError as error:
            raise ValueError(f"layers[{index}] ({layer.kind}): {error}") from None
    return shapes


def param_shapes(layers: Sequence["Layer"], input_shape: Shape) -> dict[str, Shape]:
    """{canonical name: canonical shape} of a network with `input_shape`, in canonical order."""
    shapes = input_shapes(layers, input_shape)
    out: dict[str, Shape] = {}
    for layer, names, shape in zip(layers, layer_param_names(layers), shapes):
        slot_shapes = layer.param_shapes(shape)
        for slot, name in names.items():
            out[name] = tuple(slot_shapes[slot])
    return out


# ---------------------------------------------------------------------------------- layers
class Layer:
    """Base class of every layer. Subclasses set `kind` and `LAYOUTS` and override what applies.

    Conventions: ``x`` is the layer input with the batch on axis 0; ``forward`` returns
    ``(z, out)``, ``z`` the value before the layer's activation (``out`` itself for a layer without
    one) and ``out = activation(z)``; ``backward`` takes ``dL/dz``. Parameter and state arguments
    are {slot: array} mappings in the canonical layout of this layer.
    """

    kind: ClassVar[str] = ""
    #: canonical layout of each parameter slot, for messages: {"W": "(fan_in, fan_out)"}
    LAYOUTS: ClassVar[dict[str, str]] = {}
    #: the activation applied after the layer's own computation (None: none)
    activation: activations_module.Activation | None = None
    #: train (True) or eval (False) mode; see `train`
    training: bool = True

    # -- parameters and state --------------------------------------------------------------
    def param_slots(self) -> tuple[str, ...]:
        """Parameter slot names in canonical order (empty for layers without parameters)."""
        return ()

    def param_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        """{slot: canonical shape} for an input of shape `input_shape` (no batch axis)."""
        return {}

    def regularized(self) -> tuple[str, ...]:
        """Slots the network's L2 penalty applies to (weights and kernels, not biases)."""
        return ()

    def layout_text(self) -> str:
        """The canonical layouts in words, e.g. "W is (fan_in, fan_out), b is (fan_out,)"."""
        return ", ".join(f"{slot} is {axes}" for slot, axes in self.LAYOUTS.items())

    def init_params(self, initializer, input_shape: Shape, rng: np.random.Generator, dtype) -> Arrays:
        """Initial {slot: array} drawn from `rng` (each layer in turn, from the input side)."""
        return {}

    def state_slots(self) -> tuple[str, ...]:
        """State slot names (e.g. running statistics); empty for stateless layers."""
        return ()

    def state_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {}

    def init_state(self, input_shape: Shape, dtype) -> Arrays:
        """Initial {state slot: array}."""
        return {}

    @property
    def has_state(self) -> bool:
        return bool(self.state_slots())

    # -- mode ------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Layer":
        """Switch to training (True) or evaluation (False) behaviour; returns the layer. Layers
        whose forward differs by mode read ``self.training``; dense behaves the same in both."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode must be True (train) or False (eval), got {mode!r}")
        self.training = bool(mode)
        return self

    # -- computation -----------------------------------------------------------------------
    def output_shape(self, input_shape: Shape) -> Shape:
        """Shape of one output sample; raises ValueError if the layer cannot take this input."""
        raise NotImplementedError

    def forward(self, params: Mapping[str, np.ndarray], x: np.ndarray, state: Mapping[str, np.ndarray] | None = None):
        """(z, out) for a batch x. `state` is the layer's state to update in place (training-mode
        statistics), or None to leave it untouched (gradient evaluations)."""
        raise NotImplementedError

    def backward(self, params: Mapping[str, np.ndarray], x: np.ndarray, z: np.ndarray, out: np.ndarray,
                 grad_z: np.ndarray, need_input_grad: bool = True) -> tuple[Arrays, np.ndarray | None]:
        """({slot: dL/dparam}, dL/dx) given dL/dz; dL/dx is None when `need_input_grad` is False."""
        raise NotImplementedError

    def backward_seeds(self, params: Mapping[str, np.ndarray], x: np.ndarray, seeds: np.ndarray,
                       need_input_grad: bool = True) -> tuple[Arrays, np.ndarray | None]:
        """A batch of backward passes for the residual Jacobian: `seeds` (m, k, *z_shape) holds
        d r_ij / d z_i for k residuals per sample. Returns ({slot: (m, k, slot size)} blocks of the
        Jacobian, (m, k, *x_shape) seeds for the layer below)."""
        raise NotImplementedError(f"{self.kind} layers do not support residual_jacobian yet")

    def activation_vjp(self, z: np.ndarray, out: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
        """dL/dz given dL/dout."""
        return grad_out if self.activation is None else self.activation.vjp(z, out, grad_out)

    def activation_seeds(self, z: np.ndarray, out: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """`activation_vjp` for (m, k, *shape) seeds (elementwise activations only)."""
        if self.activation is None:
            return seeds
        return seeds * np.expand_dims(self.activation.derivative(z, out), 1)

    # -- plain data ------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The constructor arguments as plain data (without "type")."""
        return {}

    def to_spec(self) -> dict[str, Any]:
        """Plain data that `from_spec` (or `layer_from_spec`) turns back into an equal layer."""
        return {"type": self.kind, **self.options()}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "Layer":
        if not isinstance(spec, Mapping):
            raise TypeError(f"a {cls.kind} layer spec must be a table such as {{'type': {cls.kind!r}, ...}}, got {spec!r}")
        options = dict(spec)
        kind = options.pop("type", cls.kind)
        if kind != cls.kind:
            raise ValueError(f"layer spec of type {kind!r} given to {cls.__name__} ({cls.kind!r})")
        valid = _constructor_options(cls)
        unknown = [key for key in options if key not in valid]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), valid, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{cls.kind} layer has no option {unknown[0]!r}{hint} (valid: type, {', '.join(valid)})")
        return cls(**options)

    def copy(self) -> "Layer":
        return copy.copy(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layer) and other.to_spec() == self.to_spec()

    def __hash__(self) -> int:
        return hash(str(self.to_spec()))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({options})"


class Dense(Layer):
    """Fully connected: ``z = x @ W + b``, ``out = activation(z)``; x is (batch, fan_in).

    Canonical layout: ``W`` (fan_in, fan_out), ``b`` (fan_out,), samples as rows.
    """

    kind = "dense"
    LAYOUTS = {"W": "(fan_in, fan_out)", "b": "(fan_out,)"}

    def __init__(self, units: int, activation: str | Mapping[str, Any] | activations_module.Activation = "linear",
                 bias: bool = True):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.units = int(units)
        self.activation = activations_module.get(activation)
        self.bias = bool(bias)

    def param_slots(self):
        return ("W", "b") if self.bias else ("W",)

    def param_shapes(self, input_shape):
        fan_in = self._fan_in(input_shape)
        shapes = {"W": (fan_in, self.units)}
        if self.bias:
            shapes["b"] = (self.units,)
        return shapes

    def regularized(self):
        return ("W",)

    def init_params(self, initializer, input_shape, rng, dtype):
        # One draw of (W, b) per layer even without a bias, so that a seed gives the same W either way.
        weights, biases = initializer.layer(self._fan_in(input_shape), self.units, self.activation, rng)
        params = {"W": np.ascontiguousarray(weights, dtype=dtype)}
        if self.bias:
            params["b"] = np.ascontiguousarray(biases, dtype=dtype)
        return params

    def output_shape(self, input_shape):
        self._fan_in(input_shape)
        return (self.units,)

    @staticmethod
    def _fan_in(input_shape: Shape) -> int:
        if len(input_shape) != 1:
            raise ValueError(
                f"a dense layer takes flat samples (features,), got input shape {tuple(input_shape)}; "
                "flatten image inputs first"
            )
        return int(input_shape[0])

    def forward(self, params, x, state=None):
        z = x @ params["W"]
        if self.bias:
            z += params["b"]
        return z, self.activation.forward(z)

    def backward(self, params, x, z, out, grad_z, need_input_grad=True):
        grads = {"W": x.T @ grad_z}
        if self.bias:
            grads["b"] = grad_z.sum(axis=0)
        return grads, (grad_z @ params["W"].T if need_input_grad else None)

    def backward_seeds(self, params, x, seeds, need_input_grad=True):
        m, k = seeds.shape[:2]
        grads = {"W": np.einsum("if,ijo->ijfo", x, seeds, optimize=True).reshape(m, k, -1)}
        if self.bias:
            grads["b"] = seeds
        return grads, (seeds @ params["W"].T if need_input_grad else None)

    def options(self):
        return {"units": self.units, "activation": self.activation.spec(), "bias": self.bias}


#: every layer type by its `kind`; a new layer class is added here
LAYER_TYPES: dict[str, type[Layer]] = {cls.kind: cls for cls in (Dense,)}
KINDS = tuple(LAYER_TYPES)


def layer_from_spec(spec: Mapping[str, Any] | Layer) -> Layer:
    """A layer from its plain-data spec ({"type": "dense", "units": 3, ...}) or a Layer (returned as is)."""
    if isinstance(spec, Layer):
        return spec
    if not isinstance(spec, Mapping):
        raise TypeError(f"a layer spec must be a table such as {{'type': 'dense', 'units': 3}}, got {spec!r}")
    kind = spec.get("type")
    if not isinstance(kind, str) or kind not in LAYER_TYPES:
        if kind is None:
            raise ValueError(f"layer spec {dict(spec)!r} has no 'type' (valid: {', '.join(KINDS)})")
        raise unknown_name("layer type", kind, KINDS)
    return LAYER_TYPES[kind].from_spec(spec)


def layers_from_spec(specs: Sequence[Mapping[str, Any] | Layer]) -> list[Layer]:
    """A list of layers from plain data; errors name the position (``layers[1]: ...``)."""
    if isinstance(specs, (str, bytes, Mapping)) or not isinstance(specs, Sequence) or not specs:
        raise ValueError(f"layers must be a non-empty list of layer specs such as {{'type': 'dense', 'units': 3}}, got {specs!r}")
    out = []
    for index, spec in enumerate(specs):
        try:
            out.append(layer_from_spec(spec))
        except (TypeError, ValueError) as error:
            raise type(error)(f"layers[{index}]: {error}") from None
    return out


def _constructor_options(cls: type[Layer]) -> list[str]:
    import inspect

    return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
