"""Weight initializers, all drawn from one seeded ``numpy.random.Generator``.

Layers are initialised in order from the input side, W then b, so one seed gives one set of
weights on every machine. W has the canonical shape (fan_in, fan_out); b has shape (fan_out,).
Each layer class draws its own parameters (`scratchnet.layers.Layer.init_params`) through
`Initializer.layer` (dense) or `Initializer.kernel` (convolution kernels (out, in, kh, kw), with
fan_in = in*kh*kw and fan_out = out*kh*kw as torch's ``_calculate_fan_in_and_fan_out`` and Keras'
``compute_fans`` count them; the table's formulas apply with these fans and the bias has shape
(out,)); `initialize_layers` walks a network's layer list. Batch norm starts at gamma = 1,
beta = 0 and draws nothing.

| name            | W                                        | b                          | follows |
|-----------------|------------------------------------------|----------------------------|---------|
| glorot_uniform  | U(-l, l), l = sqrt(6 / (fan_in+fan_out))  | 0                          | Keras `GlorotUniform`, torch `xavier_uniform_` |
| glorot_normal   | N(0, 2 / (fan_in+fan_out))                | 0                          | torch `xavier_normal_` (Keras truncates its normal) |
| he_uniform      | U(-l, l), l = sqrt(6 / fan_in)            | 0                          | torch `kaiming_uniform_(nonlinearity='relu')` |
| he_normal       | N(0, 2 / fan_in)                          | 0                          | torch `kaiming_normal_` (Keras truncates) |
| torch_default   | U(-1/sqrt(fan_in), 1/sqrt(fan_in))        | same distribution          | `torch.nn.Linear.reset_parameters` |
| normal(std)     | N(0, std^2), std=0.05                     | same distribution          | Keras `RandomNormal` default std |
| uniform(a, b)   | U(a, b), a=-1, b=1                        | same distribution          | `2*np.random.random(shape)-1` of hand-written code |
| nguyen_widrow   | MATLAB `initnw` for sigmoid/tanh layers   | spread over the active range | Nguyen & Widrow (1990), MATLAB `initnw` |
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from scratchnet._checks import positive_number, unknown_name
from scratchnet.activations import Activation
from scratchnet.layers import Dense, Layer, input_shapes, layer_param_names

Pair = tuple[np.ndarray, np.ndarray]


class Initializer:
    name: str = ""

    def layer(self, fan_in: int, fan_out: int, activation: Activation, rng: np.random.Generator) -> Pair:
        """Return (W of shape (fan_in, fan_out), b of shape (fan_out,)) in float64."""
        raise NotImplementedError

    def kernel(self, shape: tuple[int, ...], fan_in: int, fan_out: int, activation: Activation,
               rng: np.random.Generator) -> Pair:
        """Return (K of `shape` (out, in, kh, kw), b of shape (out,)) in float64. This default
        reshapes a dense draw with one unit per output channel (``layer(fan_in, out)``, W.T);
        initializers whose formula only needs the fans draw K directly."""
        weights, biases = self.layer(fan_in, shape[0], activation, rng)
        return weights.T.reshape(shape), biases

    def options(self) -> dict[str, float]:
        return {}

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({options})"


class GlorotUniform(Initializer):
    name = "glorot_uniform"

    def layer(self, fan_in, fan_out, activation, rng):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out)), np.zeros(fan_out)

    def kernel(self, shape, fan_in, fan_out, activation, rng):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape), np.zeros(shape[0])


class GlorotNormal(Initializer):
    name = "glorot_normal"

    def layer(self, fan_in, fan_out, activation, rng):
        std = np.sqrt(2.0 / (fan_in + fan_out))
        return rng.normal(0.0, std, (fan_in, fan_out)), np.zeros(fan_out)

    def kernel(self, shape, fan_in, fan_out, activation, rng):
        return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), shape), np.zeros(shape[0])


class HeUniform(Initializer):
    name = "he_uniform"

    def layer(self, fan_in, fan_out, activation, rng):
        limit = np.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, (fan_in, fan_out)), np.zeros(fan_out)

    def kernel(self, shape, fan_in, fan_out, activation, rng):
        limit = np.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, shape), np.zeros(shape[0])


class HeNormal(Initializer):
    name = "he_normal"

    def layer(self, fan_in, fan_out, activation, rng):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)), np.zeros(fan_out)

    def kernel(self, shape, fan_in, fan_out, activation, rng):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape), np.zeros(shape[0])


class TorchDefault(Initializer):
    """What torch.nn.Linear and Conv2d do: kaiming_uniform_(a=sqrt(5)) reduces to
    U(+-1/sqrt(fan_in)), and so does the bias."""

    name = "torch_default"

    def layer(self, fan_in, fan_out, activation, rng):
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out)

    def kernel(self, shape, fan_in, fan_out, activation, rng):
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape), rng.uniform(-bound, bound, shape[0])


class Normal(Initializer):
    name = "normal"

    def __init__(self, std: float = 0.05):
        self.std = positive_number("std", std)

    def layer(self, fan_in, fan_out, activation, rng):
        return rng.normal(0.0, self.std, (fan_in, fan_out)), rng.normal(0.0, self.std, fan_out)

    def kernel(self, shape, fan_in, fan_out, activation, rng):
        return rng.normal(0.0, self.std, shape), rng.normal(0.0, self.std, shape[0])

    def options(self):
        return {"std": self.std}


class Uniform(Initializer):
    name = "uniform"

    def __init__(self, a: float = -1.0, b: float = 1.0):
        if not (np.isfinite(a) and np.isfinite(b) and a < b):
            raise ValueError(f"uniform init needs finite a < b, got a={a!r}, b={b!r}")
        self.a, self.b = float(a), float(b)

    def layer(self, fan_in, fan_out, activation, rng):
        return rng.uniform(self.a, self.b, (fan_in, fan_out)), rng.uniform(self.a, self.b, fan_out)

    def kernel(self, shape, fan_in, fan_out, activation, rng):
        return rng.uniform(self.a, self.b, shape), rng.uniform(self.a, self.b, shape[0])

    def options(self):
        return {"a": self.a, "b": self.b}


class NguyenWidrow(Initializer):
    """MATLAB ``initnw`` for layers with a bounded active region (sigmoid, tanh), assuming
    inputs in [-1, 1] (use ``scratchnet.data.mapminmax`` first, as MATLAB does):
    magnitude 0.7 * fan_out**(1/fan_in), random unit directions per neuron, and biases spread
    evenly over [-magnitude, magnitude] with the sign of each neuron's first weight. Other
    layers (e.g. a linear output) get U(-1, 1) weights and biases, as ``initnw`` falls back to
    ``rands``. A convolution kernel treats each output channel as one neuron with in*kh*kw
    inputs (the default `Initializer.kernel`)."""

    name = "nguyen_widrow"

    def layer(self, fan_in, fan_out, activation, rng):
        if activation.name not in ("sigmoid", "tanh"):
            return rng.uniform(-1.0, 1.0, (fan_in, fan_out)), rng.uniform(-1.0, 1.0, fan_out)
        magnitude = 0.7 * fan_out ** (1.0 / fan_in)
        directions = rng.normal(size=(fan_in, fan_out))
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)
        weights = magnitude * directions
        if fan_out == 1:
            bias = np.zeros(1)
        else:
            bias = magnitude * np.linspace(-1.0, 1.0, fan_out) * np.sign(weights[0])
        return weights, bias


_REGISTRY: dict[str, type[Initializer]] = {
    cls.name: cls
    for cls in (GlorotUniform, GlorotNormal, HeUniform, HeNormal, TorchDefault, Normal, Uniform, NguyenWidrow)
}
NAMES = tuple(_REGISTRY)


def get(spec: str | Mapping[str, Any] | Initializer) -> Initializer:
    """Resolve an initializer from a name, a table ({"name": "normal", "std": 0.1}) or an instance."""
    if isinstance(spec, Initializer):
        return spec
    if isinstance(spec, Mapping):
        options = dict(spec)
        name = options.pop("name", None)
    else:
        name, options = spec, {}
    if not isinstance(name, str) or name not in _REGISTRY:
        raise unknown_name("initializer", name, NAMES)
    try:
        return _REGISTRY[name](**options)
    except TypeError as error:
        raise TypeError(f"bad options for initializer {name!r}: {options} ({error})") from None


def initialize_layers(
    spec: str | Mapping[str, Any] | Initializer,
    layers: Sequence[Layer],
    input_shape: tuple[int, ...],
    dtype: type[np.floating],
    seed: int | None,
) -> dict[str, np.ndarray]:
    """Canonical parameters of a list of layers with inputs of `input_shape`, drawn layer by layer
    from the input side (each layer's `init_params`), named by `scratchnet.layers.param_names`."""
    initializer = get(spec)
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    shapes = input_shapes(layers, tuple(input_shape))
    for layer, names, shape in zip(layers, layer_param_names(layers), shapes):
        values = layer.init_params(initializer, shape, rng, dtype)
        for slot, name in names.items():
            params[name] = values[slot]
    return params


def initialize(
    spec: str | Mapping[str, Any] | Initializer,
    sizes: list[int],
    activations: list[Activation],
    bias: bool,
    dtype: type[np.floating],
    seed: int | None,
) -> dict[str, np.ndarray]:
    """Canonical parameters for an MLP: {"dense_0.W": (sizes[0], sizes[1]), "dense_0.b": ...}."""
    layers = [Dense(fan_out, activation, bias) for fan_out, activation in zip(sizes[1:], activations)]
    return initialize_layers(spec, layers, (sizes[0],), dtype, seed)
