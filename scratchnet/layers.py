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
the layer's position in the list, so a layer without parameters (``flatten``) still takes
an index: ``[dense, flatten, dense]`` has ``dense_0.W`` and ``dense_2.W``.

Kinds: ``dense``, ``conv2d``, ``max_pool2d``, ``avg_pool2d``, ``flatten``, ``batch_norm``,
``dropout``. Canonical layouts, declared once here: images channels-first ``(batch, channels,
height, width)`` (torch, cs231n); conv kernel ``K`` ``(out_channels, in_channels, kh, kw)``, bias
``b`` ``(out_channels,)``; dense ``W`` ``(fan_in, fan_out)``; batch norm ``gamma``, ``beta``
``(features,)`` with state ``running_mean``, ``running_var`` ``(features,)``. Dropout masks come
from `dropout_mask` (seed, step, layer index, shape), so every backend drops the same units.

Adding a layer type means one subclass here (registered in ``LAYER_TYPES``) and one entry in each
backend's layer table (``reference/torch_backend.py``, ``reference/keras_backend.py``).
"""
from __future__ import annotations

import copy
import difflib
from functools import partial
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


def fixed_data(layers: Sequence["Layer"], input_shape: Shape, X, y) -> tuple[np.ndarray, np.ndarray]:
    """X (m, *input_shape) and y (m, *output shape) as C-contiguous float64 copies for flat-vector
    providers (Jacobians) on fixed data; a shape that does not fit raises ValueError naming both."""
    output_shape = input_shapes(layers, input_shape)[-1]
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if X.shape[1:] != tuple(input_shape) or y.shape != (X.shape[0], *output_shape):
        raise ValueError(f"need X (m, {', '.join(map(str, input_shape))}) and y (m, {', '.join(map(str, output_shape))}), "
                         f"got {X.shape} and {y.shape}")
    return X, y


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
    #: the framework convention the layer follows where frameworks differ (batch norm's defaults
    #: and running variance); set through `Network.set_convention`
    convention: str = "torch"

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
        """(z, out) for a batch x. `state`: in training mode the layer's state to update in place
        (a training step), or None to leave it untouched (gradient evaluations); in eval mode the
        state to read (running statistics). Layers with `draws` also take those as keywords."""
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

    def draws(self, step: int, index: int, shape: tuple[int, ...], dtype) -> dict[str, np.ndarray]:
        """The random arrays of one pass (dropout's mask), drawn as a pure function of the training
        `step`, the layer's `index` and the input's `shape`, and passed to `forward`, `backward`
        and `backward_seeds` as keyword arguments. Empty for deterministic layers."""
        return {}

    def winners(self, x: np.ndarray) -> np.ndarray | None:
        """For a piecewise layer (max pooling): which input each output passes on. A finite
        difference that changes them crossed a kink (`scratchnet.gradcheck` skips it)."""
        return None

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


# ---------------------------------------------------------------------------------- image layers
def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _pair(name: str, value: Any, minimum: int = 1) -> tuple[int, int]:
    """An int n (meaning (n, n)) or a pair [height, width] of ints >= minimum."""
    items = [value, value] if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if (isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or len(items) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum for v in items)):
        lowest = "positive integer" if minimum == 1 else f"integer >= {minimum}"
        raise ValueError(f"{name} must be a {lowest} or a pair [height, width] of them, got {value!r}")
    return int(items[0]), int(items[1])


def _plain_pair(pair: tuple[int, int]) -> int | list[int]:
    """A pair as plain spec data: one int when both sides agree."""
    return pair[0] if pair[0] == pair[1] else list(pair)


def _image(kind: str, input_shape: Shape) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValueError(
            f"a {kind} layer takes channels-first images (channels, height, width), got input shape "
            f"{tuple(input_shape)}; give the network input_shape = [channels, height, width]"
        )
    return int(input_shape[0]), int(input_shape[1]), int(input_shape[2])


def _windows(x: np.ndarray, size: tuple[int, int], stride: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """A strided view (batch, channels, out_h, out_w, kh, kw) of every window of x (batch,
    channels, H, W); no copy."""
    view = np.lib.stride_tricks.sliding_window_view(x, size, axis=(2, 3))
    return view[:, :, : (out_hw[0] - 1) * stride[0] + 1 : stride[0], : (out_hw[1] - 1) * stride[1] + 1 : stride[1]]


class Conv2D(Layer):
    """2-D convolution as torch, Keras and cs231n compute it (cross-correlation: the kernel is
    not flipped), on channels-first images::

        z[n, f, i, j] = b[f] + sum_{c, a, b} K[f, c, a, b] * xp[n, c, i*sh + a, j*sw + b]

    ``xp`` is x zero-padded by `padding`: an int p or a pair [ph, pw] (p rows above and below, p
    columns left and right), ``"valid"`` (none) or ``"same"`` (TensorFlow's rule, for any kernel
    and stride: output size ceil(input / stride), total padding ``max((out - 1) * stride + k -
    input, 0)`` with the odd row or column at the bottom or right). Output size ``(H + 2p - kh) //
    stride + 1``.

    Canonical layout: ``K`` (out_channels, in_channels, kh, kw) as torch's ``Conv2d.weight``;
    ``b`` (out_channels,). Computed by im2col (an (in_channels*kh*kw, batch*out_h*out_w) matrix
    filled with one slice copy per kernel offset) and one matrix product; the backward is two
    matrix products, and the input gradient scatters back with one add per kernel offset (no
    Python loop over pixels or samples).
    """

    kind = "conv2d"
    LAYOUTS = {"K": "(out_channels, in_channels, kh, kw)", "b": "(out_channels,)"}
    PADDINGS = ("valid", "same")

    def __init__(self, filters: int, kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
                 padding: int | str | Sequence[int] = 0,
                 activation: str | Mapping[str, Any] | activations_module.Activation = "linear", bias: bool = True):
        self.filters = _positive_int("filters", filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride)
        if isinstance(padding, str):
            if padding not in self.PADDINGS:
                raise ValueError(f"padding must be 'valid', 'same', an integer >= 0 or a pair [rows, columns], got {padding!r}")
            self.padding: str | tuple[int, int] = padding
        else:
            try:
                self.padding = _pair("padding", padding, minimum=0)
            except ValueError:
                raise ValueError(f"padding must be 'valid', 'same', an integer >= 0 or a pair [rows, columns], got {padding!r}") from None
        self.activation = activations_module.get(activation)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bool(bias)

    def pads(self, input_hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zero rows/columns for an input of (height, width)."""
        if self.padding == "valid":
            return 0, 0, 0, 0
        if self.padding == "same":
            out = []
            for size, kernel, stride in zip(input_hw, self.kernel_size, self.stride):
                total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
                out += [total // 2, total - total // 2]
            return tuple(out)  # type: ignore[return-value]
        rows, columns = self.padding
        return rows, rows, columns, columns

    def param_slots(self):
        return ("K", "b") if self.bias else ("K",)

    def param_shapes(self, input_shape):
        channels, _, _ = _image(self.kind, input_shape)
        shapes = {"K": (self.filters, channels, *self.kernel_size)}
        if self.bias:
            shapes["b"] = (self.filters,)
        return shapes

    def regularized(self):
        return ("K",)

    def init_params(self, initializer, input_shape, rng, dtype):
        # one (K, b) draw even without a bias, as Dense does
        shape = self.param_shapes(input_shape)["K"]
        receptive = shape[2] * shape[3]
        kernel, biases = initializer.kernel(shape, shape[1] * receptive, shape[0] * receptive, self.activation, rng)
        params = {"K": np.ascontiguousarray(kernel, dtype=dtype)}
        if self.bias:
            params["b"] = np.ascontiguousarray(biases, dtype=dtype)
        return params

    def output_shape(self, input_shape):
        channels, height, width = _image(self.kind, input_shape)
        top, bottom, left, right = self.pads((height, width))
        kh, kw = self.kernel_size
        if height + top + bottom < kh or width + left + right < kw:
            raise ValueError(
                f"the {kh}x{kw} kernel does not fit the input {height}x{width} padded to "
                f"{height + top + bottom}x{width + left + right} (padding {self.options()['padding']!r}); "
                "use a smaller kernel_size or more padding"
            )
        return (self.filters, (height + top + bottom - kh) // self.stride[0] + 1,
                (width + left + right - kw) // self.stride[1] + 1)

    # -- computation -----------------------------------------------------------------------
    def _padded(self, x: np.ndarray) -> np.ndarray:
        top, bottom, left, right = self.pads(x.shape[2:])
        if top or bottom or left or right:
            return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
        return x

    def _columns(self, x: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """im2col: (in_channels*kh*kw, batch*out_h*out_w), filled by one slice copy per kernel
        offset, and (out_h, out_w)."""
        out_hw = self.output_shape(x.shape[1:])[1:]
        padded = self._padded(x).transpose(1, 0, 2, 3)  # (c, n, H, W), a view
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        columns = np.empty((x.shape[1], kh, kw, x.shape[0], *out_hw), dtype=x.dtype)
        for a in range(kh):
            for b in range(kw):
                columns[:, a, b] = padded[:, :, a : a + (out_hw[0] - 1) * sh + 1 : sh, b : b + (out_hw[1] - 1) * sw + 1 : sw]
        return columns.reshape(x.shape[1] * kh * kw, -1), out_hw

    def forward(self, params, x, state=None):
        columns, (out_h, out_w) = self._columns(x)
        z = params["K"].reshape(self.filters, -1) @ columns  # (filters, batch*out_h*out_w): one GEMM
        if self.bias:
            z += params["b"][:, None]
        z = np.ascontiguousarray(z.reshape(self.filters, x.shape[0], out_h, out_w).transpose(1, 0, 2, 3))
        return z, self.activation.forward(z)

    def _input_grad(self, grad_columns: np.ndarray, x_shape: tuple[int, ...], out_hw: tuple[int, int]) -> np.ndarray:
        """dL/dx from dL/d(columns) (in_channels*kh*kw, batch*out_h*out_w): the adjoint of
        `_columns`, one add per kernel offset."""
        batch, channels, height, width = x_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom, left, right = self.pads((height, width))
        pieces = grad_columns.reshape(channels, kh, kw, batch, *out_hw)
        padded = np.zeros((channels, batch, height + top + bottom, width + left + right), dtype=grad_columns.dtype)
        for a in range(kh):
            for b in range(kw):
                padded[:, :, a : a + (out_hw[0] - 1) * sh + 1 : sh, b : b + (out_hw[1] - 1) * sw + 1 : sw] += pieces[:, a, b]
        return np.ascontiguousarray(padded[:, :, top : top + height, left : left + width].transpose(1, 0, 2, 3))

    def _grad_rows(self, grad_z: np.ndarray) -> np.ndarray:
        """dL/dz as (filters, batch*out_h*out_w), the layout of the forward GEMM."""
        return np.ascontiguousarray(grad_z.transpose(1, 0, 2, 3)).reshape(self.filters, -1)

    def backward(self, params, x, z, out, grad_z, need_input_grad=True):
        columns, out_hw = self._columns(x)
        grad_rows = self._grad_rows(grad_z)
        kernel = params["K"].reshape(self.filters, -1)
        grads = {"K": (grad_rows @ columns.T).reshape(params["K"].shape)}
        if self.bias:
            grads["b"] = grad_rows.sum(axis=1)
        if not need_input_grad:
            return grads, None
        return grads, self._input_grad(kernel.T @ grad_rows, x.shape, out_hw)

    def backward_seeds(self, params, x, seeds, need_input_grad=True):
        m, k = seeds.shape[:2]
        out_hw = seeds.shape[3:]
        windows = _windows(self._padded(x), self.kernel_size, self.stride, out_hw)
        grads = {"K": np.einsum("ijfhw,ichwab->ijfcab", seeds, windows, optimize=True).reshape(m, k, -1)}
        if self.bias:
            grads["b"] = seeds.sum(axis=(3, 4))
        if not need_input_grad:
            return grads, None
        grad_rows = self._grad_rows(seeds.reshape(m * k, self.filters, *out_hw))
        below = self._input_grad(params["K"].reshape(self.filters, -1).T @ grad_rows, (m * k, *x.shape[1:]), out_hw)
        return grads, below.reshape(m, k, *x.shape[1:])

    def options(self):
        padding = self.padding if isinstance(self.padding, str) else _plain_pair(self.padding)
        return {"filters": self.filters, "kernel_size": _plain_pair(self.kernel_size), "stride": _plain_pair(self.stride),
                "padding": padding, "activation": self.activation.spec(), "bias": self.bias}


class _Pool2D(Layer):
    """Shared by the pooling layers: windows of `pool_size` every `stride` (default: pool_size),
    no padding, output size ``(H - ph) // stride + 1`` (torch ``ceil_mode=False``, Keras
    ``padding="valid"``); rows or columns left over at the bottom or right are not read.
    Computed with one vectorized operation per window offset (ph * pw of them)."""

    def __init__(self, pool_size: int | Sequence[int] = 2, stride: int | Sequence[int] | None = None):
        self.pool_size = _pair("pool_size", pool_size)
        self.stride = self.pool_size if stride is None else _pair("stride", stride)

    def output_shape(self, input_shape):
        channels, height, width = _image(self.kind, input_shape)
        ph, pw = self.pool_size
        if ph > height or pw > width:
            raise ValueError(f"the {ph}x{pw} pool is larger than its input {height}x{width}; use a smaller pool_size")
        return (channels, (height - ph) // self.stride[0] + 1, (width - pw) // self.stride[1] + 1)

    def _offsets(self, x: np.ndarray):
        """(a, b, view) for every window offset in row-major order: view[..., i, j] is element
        (a, b) of window (i, j); x is (..., H, W)."""
        out_h, out_w = self.output_shape(x.shape[-3:])[1:]
        (ph, pw), (sh, sw) = self.pool_size, self.stride
        for a in range(ph):
            for b in range(pw):
                yield a, b, x[..., a : a + (out_h - 1) * sh + 1 : sh, b : b + (out_w - 1) * sw + 1 : sw]

    def _scatter(self, pieces, shape: tuple[int, ...], dtype) -> np.ndarray:
        """Sum `pieces` ((a, b) -> (..., out_h, out_w) array) into an array of `shape` at the
        elements each window offset read."""
        out = np.zeros(shape, dtype=dtype)
        for a, b, view in self._offsets(out):
            view += pieces(a, b)
        return out

    def options(self):
        return {"pool_size": _plain_pair(self.pool_size), "stride": _plain_pair(self.stride)}


class MaxPool2D(_Pool2D):
    """Max pooling. The gradient goes to one element per window, its first maximum in row-major
    window order (ties: the top-left one), as torch's ``max_pool2d`` and TensorFlow's
    ``MaxPoolGrad`` route it (measured: identical on tied windows)."""

    kind = "max_pool2d"

    def winners(self, x: np.ndarray) -> np.ndarray:
        """The index (row-major within the window) of the element each window passes on: the first
        maximum (a later element wins only when strictly larger)."""
        offsets = self._offsets(x)
        _, _, first = next(offsets)
        best, winners = first.copy(), np.zeros(first.shape, dtype=np.intp)
        for index, (_, _, view) in enumerate(offsets, start=1):
            winners = np.where(view > best, index, winners)
            np.maximum(best, view, out=best)
        return winners

    def forward(self, params, x, state=None):
        offsets = self._offsets(x)
        out = next(offsets)[2].copy()
        for _, _, view in offsets:
            np.maximum(out, view, out=out)
        return out, out

    def _route(self, x: np.ndarray, grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """grad (..., channels, out_h, out_w) routed to the winners of x; `shape` is the result's."""
        winners = self.winners(x)
        if grad.ndim == 5:  # seeds (m, k, ...): the same winners for every residual of a sample
            winners = winners[:, None]
        width = self.pool_size[1]
        return self._scatter(lambda a, b: np.where(winners == a * width + b, grad, grad.dtype.type(0)), shape, grad.dtype)

    def backward(self, params, x, z, out, grad_z, need_input_grad=True):
        return {}, (self._route(x, grad_z, x.shape) if need_input_grad else None)

    def backward_seeds(self, params, x, seeds, need_input_grad=True):
        return {}, (self._route(x, seeds, (*seeds.shape[:2], *x.shape[1:])) if need_input_grad else None)


class AvgPool2D(_Pool2D):
    """Average pooling: the sum of each window divided by its size (ph * pw)."""

    kind = "avg_pool2d"

    def forward(self, params, x, state=None):
        offsets = self._offsets(x)
        out = next(offsets)[2].copy()
        for _, _, view in offsets:
            out += view
        out /= self.pool_size[0] * self.pool_size[1]
        return out, out

    def _spread(self, grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        share = grad / (self.pool_size[0] * self.pool_size[1])
        return self._scatter(lambda a, b: share, shape, grad.dtype)

    def backward(self, params, x, z, out, grad_z, need_input_grad=True):
        return {}, (self._spread(grad_z, x.shape) if need_input_grad else None)

    def backward_seeds(self, params, x, seeds, need_input_grad=True):
        return {}, (self._spread(seeds, (*seeds.shape[:2], *x.shape[1:])) if need_input_grad else None)


class Flatten(Layer):
    """Samples (d0, d1, ...) to flat vectors (d0*d1*...,) in C order: for channels-first images
    the index is ``(c * H + h) * W + w``, torch's ``nn.Flatten``. (Keras, channels-last, flattens
    ``(h * W + w) * C + c``; its backend converts, see `reference.keras_backend`.)"""

    kind = "flatten"

    def __init__(self):
        pass

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, params, x, state=None):
        out = x.reshape(x.shape[0], -1)
        return out, out

    def backward(self, params, x, z, out, grad_z, need_input_grad=True):
        return {}, (grad_z.reshape(x.shape) if need_input_grad else None)

    def backward_seeds(self, params, x, seeds, need_input_grad=True):
        return {}, (seeds.reshape(*seeds.shape[:2], *x.shape[1:]) if need_input_grad else None)


# ---------------------------------------------------------------------------------- batch norm
class BatchNorm(Layer):
    """Batch normalization over the feature axis (axis 1: the units of flat samples, as torch's
    ``BatchNorm1d``, or the channels of channels-first images, ``BatchNorm2d``)::

        training: mu, var = mean and biased variance over every axis but the features
        eval:     mu, var = running_mean, running_var
        z = gamma * (x - mu) / sqrt(var + eps) + beta

    Parameters ``gamma``, ``beta`` (features,) (initially 1 and 0); state ``running_mean``,
    ``running_var`` (features,) (initially 0 and 1), updated by training steps only (not by
    gradient evaluations, not in eval mode).

    `momentum` is the weight of the new batch statistic, as torch counts it; `momentum` and
    `eps` left as None take the default of the convention the network follows, which also
    decides the running-variance update (`set_convention`; `scratchnet.optim.CONVENTIONS`):

    * ``torch``: momentum 0.1, eps 1e-5; ``running = momentum * batch + (1 - momentum) *
      running``, the variance *unbiased* (n / (n - 1)) in the running statistic although the
      output uses the biased one (``aten/src/ATen/native/Normalization.cpp``);
    * ``keras``: Keras' ``momentum`` is the weight of the old value, ``1 - momentum`` here
      (default 0.99), eps 1e-3; ``running = running * m + batch * (1 - m)`` with the biased
      variance (``keras/src/layers/normalization/batch_normalization.py::call``);
    * ``optax`` (the jax backend; JAX has no batch norm, so this is ``flax.linen.BatchNorm``, flax
      0.12.8, ``flax/linen/normalization.py``): momentum 0.99 (the old value's weight, as Keras';
      ``1 - momentum`` here), epsilon 1e-5; ``BatchNorm.__call__`` updates ``ra = momentum * ra +
      (1 - momentum) * batch`` with the biased variance, the weights as Python floats;
      ``_normalize`` computes ``(x - mean) * (rsqrt(var + eps) * gamma) + beta``. The batch
      variance is ``_compute_stats``' two-pass form (flax's ``use_fast_variance=False``), the same
      as torch's and Keras'; flax's default one-pass ``max(0, mean(x**2) - mean(x)**2)`` is not
      followed: its rounding error, ~``eps_machine * mean**2``, is amplified ~1/eps where a feature
      saturates (measured in ``comparisons/conventions.py``, ``batch_norm_batch_variance``).
    """

    kind = "batch_norm"
    LAYOUTS = {"gamma": "(features,)", "beta": "(features,)"}
    #: per convention: momentum (``momentum``: the new batch's weight, torch's sense;
    #: ``keras_momentum`` / ``flax_momentum``: the old value's weight) and eps
    CONVENTIONS: ClassVar[dict[str, dict[str, Any]]] = {
        "torch": {"momentum": 0.1, "eps": 1e-5},
        "keras": {"keras_momentum": 0.99, "eps": 1e-3},
        "optax": {"flax_momentum": 0.99, "eps": 1e-5},
    }

    def __init__(self, momentum: float | None = None, eps: float | None = None):
        if momentum is not None:
            if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.integer, np.floating)) \
                    or not 0.0 <= float(momentum) <= 1.0:
                raise ValueError(f"momentum must be a number in [0, 1] (the weight of the new batch statistic, as torch "
                                 f"counts it; Keras' momentum m is 1 - m here) or None for each framework's default, got {momentum!r}")
            momentum = float(momentum)
        if eps is not None:
            if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)) \
                    or not (np.isfinite(eps) and eps > 0):
                raise ValueError(f"eps must be a number > 0 or None for each framework's default, got {eps!r}")
            eps = float(eps)
        self.momentum = momentum
        self.eps = eps

    # -- conventions -----------------------------------------------------------------------
    def _convention(self) -> dict[str, Any]:
        if self.convention not in self.CONVENTIONS:
            raise ValueError(f"batch_norm has no {self.convention!r} convention yet (known: {', '.join(self.CONVENTIONS)})")
        return self.CONVENTIONS[self.convention]

    @property
    def effective_eps(self) -> float:
        """eps as given, else the convention's default."""
        return self._convention()["eps"] if self.eps is None else self.eps

    # -- parameters and state --------------------------------------------------------------
    def param_slots(self):
        return ("gamma", "beta")

    def param_shapes(self, input_shape):
        return {"gamma": (int(input_shape[0]),), "beta": (int(input_shape[0]),)}

    def init_params(self, initializer, input_shape, rng, dtype):
        features = int(input_shape[0])
        return {"gamma": np.ones(features, dtype=dtype), "beta": np.zeros(features, dtype=dtype)}

    def state_slots(self):
        return ("running_mean", "running_var")

    def state_shapes(self, input_shape):
        return {"running_mean": (int(input_shape[0]),), "running_var": (int(input_shape[0]),)}

    def init_state(self, input_shape, dtype):
        features = int(input_shape[0])
        return {"running_mean": np.zeros(features, dtype=dtype), "running_var": np.ones(features, dtype=dtype)}

    def output_shape(self, input_shape):
        return tuple(input_shape)

    # -- computation -----------------------------------------------------------------------
    @staticmethod
    def _axes(x: np.ndarray) -> tuple[int, ...]:
        return (0, *range(2, x.ndim))

    @staticmethod
    def _column(values: np.ndarray, ndim: int) -> np.ndarray:
        return values.reshape(1, -1, *([1] * (ndim - 2)))

    def _statistics(self, x: np.ndarray, state: Mapping[str, np.ndarray] | None):
        """(mean, centred x, 1/sqrt(var + eps), var, sum of squared deviations or None, count) per
        feature: the batch's in training mode (var by the convention's formula), the running
        statistics in eval mode (then the sum and count are None)."""
        if self.training:
            count = x.size // x.shape[1]
            if count < 2:
                raise ValueError(
                    f"batch_norm in training mode needs more than one value per feature, got input shape {x.shape}; "
                    "use a larger batch (or eval mode)"
                )
            axes = self._axes(x)
            mean = x.mean(axis=axes)
            centred = x - self._column(mean, x.ndim)
            square_sum = np.square(centred).sum(axis=axes)
            variance = square_sum / count
        else:
            if state is None:
                raise ValueError("batch_norm in eval mode normalises with its running statistics: pass its state")
            mean, variance = state["running_mean"], state["running_var"]
            centred = x - self._column(mean, x.ndim)
            square_sum, count = None, None
        inv_std = 1.0 / np.sqrt(variance + x.dtype.type(self.effective_eps))
        return mean, centred, inv_std, variance, square_sum, count

    def _update(self, state: Mapping[str, np.ndarray], mean: np.ndarray, variance: np.ndarray,
                square_sum: np.ndarray | None, count: int) -> None:
        """Running statistics of one training step, in place, by the convention's formula."""
        rules = self._convention()
        running_mean, running_var = state["running_mean"], state["running_var"]
        dtype = running_mean.dtype.type
        if "momentum" in rules:  # torch: the new batch's weight; the unbiased variance
            weight = dtype(rules["momentum"] if self.momentum is None else self.momentum)
            running_mean[...] = weight * mean + (dtype(1.0) - weight) * running_mean
            running_var[...] = weight * (square_sum / (count - 1)) + (dtype(1.0) - weight) * running_var
            return
        if "flax_momentum" in rules:  # flax: momentum * ra + (1 - momentum) * batch, both Python floats
            keep = rules["flax_momentum"] if self.momentum is None else 1.0 - self.momentum
            old, new = dtype(keep), dtype(1.0 - keep)
        else:  # Keras: the weights in the variable's dtype
            old = dtype(rules["keras_momentum"] if self.momentum is None else 1.0 - self.momentum)
            new = dtype(1.0) - old
        running_mean[...] = running_mean * old + mean * new
        running_var[...] = running_var * old + variance * new

    def forward(self, params, x, state=None):
        mean, centred, inv_std, variance, square_sum, count = self._statistics(x, state)
        if self.training and state is not None:
            self._update(state, mean, variance, square_sum, count)
        z = centred * self._column(inv_std * params["gamma"], x.ndim) + self._column(params["beta"], x.ndim)
        return z, z

    def backward(self, params, x, z, out, grad_z, need_input_grad=True, state=None):
        _, centred, inv_std, _, _, count = self._statistics(x, state)
        axes = self._axes(x)
        normalised = centred * self._column(inv_std, x.ndim)
        grads = {"gamma": (grad_z * normalised).sum(axis=axes), "beta": grad_z.sum(axis=axes)}
        if not need_input_grad:
            return grads, None
        scale = self._column(params["gamma"] * inv_std, x.ndim)
        if not self.training:
            return grads, grad_z * scale
        column = partial(self._column, ndim=x.ndim)
        return grads, (scale / count) * (count * grad_z - column(grads["beta"]) - normalised * column(grads["gamma"]))

    def backward_seeds(self, params, x, seeds, need_input_grad=True, state=None):
        if self.training:
            raise NotImplementedError(
                "batch_norm in training mode couples the samples of a batch (every output depends on the batch mean "
                "and variance), so there is no per-sample residual Jacobian for lm; use tnc, lbfgs, cg or a gradient "
                "optimizer, or eval mode"
            )
        _, centred, inv_std, _, _, _ = self._statistics(x, state)
        normalised = (centred * self._column(inv_std, x.ndim))[:, None]
        spatial = tuple(range(3, seeds.ndim))
        grads = {"gamma": (seeds * normalised).sum(axis=spatial), "beta": seeds.sum(axis=spatial)}
        scale = (params["gamma"] * inv_std).reshape(1, 1, -1, *([1] * (seeds.ndim - 3)))
        return grads, (seeds * scale if need_input_grad else None)

    def options(self):
        return {"momentum": self.momentum, "eps": self.eps}


# ---------------------------------------------------------------------------------- dropout
def dropout_mask(seed: int, step: int, layer_index: int, shape: Sequence[int], rate: float) -> np.ndarray:
    """The units a dropout layer keeps (True) in one training step: a pure function of the
    network's dropout seed, the step (counted from 0 by each backend), the layer's position in the
    network and the input's canonical (batch, ...) shape, drawn by
    ``numpy.random.default_rng([seed, step, layer_index]).random(shape) >= rate``. Every backend
    calls it with the same arguments, so every backend drops the same units (torch, Keras and JAX
    get it injected: `reference.torch_backend`, `reference.keras_backend`, `reference.jax_backend`)."""
    for name, value in (("seed", seed), ("step", step), ("layer_index", layer_index)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    rng = np.random.default_rng([int(seed), int(step), int(layer_index)])
    return rng.random(tuple(int(size) for size in shape)) >= rate


def dropout_scale(seed: int, step: int, layer_index: int, shape: Sequence[int], rate: float, dtype=np.float64) -> np.ndarray:
    """`dropout_mask` as the factor the output is multiplied by: ``keep / (1 - rate)`` in `dtype`
    (0 for dropped units, 1 / (1 - rate) for kept ones: inverted dropout, as torch and Keras)."""
    dtype = np.dtype(dtype).type
    return dropout_mask(seed, step, layer_index, shape, rate).astype(dtype) / dtype(1.0 - rate)


class Dropout(Layer):
    """Inverted dropout: in training, ``out = x * keep / (1 - rate)`` with the step's mask
    (`dropout_mask`); in eval mode, ``out = x``.

    `seed` (with the step and the layer's index) draws the masks; a network fills a missing one
    with its own seed, so a scenario's masks follow from its ``run.seed``. The mask is not a
    parameter or state: the network computes it per pass (`draws`) and hands it to `forward` and
    `backward` as ``scale``; a gradient evaluation uses the mask of the network's next training
    step, so it is a deterministic function of the parameters (what scipy and LM need)."""

    kind = "dropout"

    def __init__(self, rate: float, seed: int | None = None):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be a number in [0, 1) (the fraction of units dropped), got {rate!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be an integer >= 0 or None (the network's seed), got {seed!r}")
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def draws(self, step: int, index: int, shape: tuple[int, ...], dtype) -> dict[str, np.ndarray]:
        if not self.training:
            return {}
        return {"scale": dropout_scale(self.seed or 0, step, index, shape, self.rate, dtype)}

    def _scale(self, scale: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
        if scale is None:
            raise ValueError("dropout in training mode needs the step's mask: pass scale=dropout_scale(seed, step, "
                             "layer_index, x.shape, rate) (a Network does), or switch the layer to eval mode")
        if scale.shape != shape:
            raise ValueError(f"dropout scale has shape {scale.shape}, the input {shape}")
        return scale

    def forward(self, params, x, state=None, scale=None):
        if not self.training:
            return x, x
        out = x * self._scale(scale, x.shape)
        return out, out

    def backward(self, params, x, z, out, grad_z, need_input_grad=True, scale=None):
        if not need_input_grad:
            return {}, None
        return {}, (grad_z * self._scale(scale, x.shape) if self.training else grad_z)

    def backward_seeds(self, params, x, seeds, need_input_grad=True, scale=None):
        if not need_input_grad:
            return {}, None
        return {}, (seeds * self._scale(scale, x.shape)[:, None] if self.training else seeds)

    def options(self):
        return {"rate": self.rate, "seed": self.seed}


#: every layer type by its `kind`; a new layer class is added here
LAYER_TYPES: dict[str, type[Layer]] = {cls.kind: cls for cls in (Dense, Conv2D, MaxPool2D, AvgPool2D, Flatten, BatchNorm, Dropout)}
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
