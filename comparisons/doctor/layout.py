"""Where each of the user's arrays sits in the declared network, and the conversions.

Canonical layout (ARCHITECTURE.md, `scratchnet.layers.Dense`): ``dense_{l}.W`` is (fan_in, fan_out)
and ``dense_{l}.b`` is (fan_out,), forward ``z = x @ W + b`` with samples as rows; the names come
from `canonical_name` (`scratchnet.layers.param_name`). A user's array is declared by one
placement, never guessed:

* ``Weight(l, "in_out")``: (fan_in, fan_out), forward ``x @ W`` (scratchnet, Keras, Marsland);
  ``Weight(l, "out_in")``: (fan_out, fan_in), forward ``W @ x`` or ``x @ W.T`` (torch, Ng, DLS).
* ``Bias(l)``: any of (fan_out,), (fan_out, 1), (1, fan_out).
* ``AugmentedWeight(l, layout, bias_position, bias_input)``: weights with the bias as one extra
  input fed by the constant ``bias_input`` (+1 as in Andrew Ng's code, -1 as in Marsland's):
  (fan_in + 1, fan_out) for "in_out", (fan_out, fan_in + 1) for "out_in", the bias row/column
  first or last. Then ``b = bias_input * bias_row`` and ``dL/d bias_row = bias_input * dL/db``.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Mapping, Union

import numpy as np

import scratchnet as sn
from comparisons.doctor.spec import DoctorInputError, NetSpec

LAYOUTS = ("in_out", "out_in")
BIAS_POSITIONS = ("first", "last")


def _check_choice(owner: str, argument: str, value: object, valid: tuple[str, ...]) -> None:
    if value not in valid:
        close = difflib.get_close_matches(str(value), valid, n=1, cutoff=0.4)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DoctorInputError(f"{owner}: unknown {argument} {value!r}{hint} (valid: {', '.join(map(repr, valid))})")


def _check_layer(owner: str, layer: object) -> None:
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or layer < 0:
        raise DoctorInputError(f"{owner}: layer must be a weight-layer index >= 0 (0 is nearest the input), got {layer!r}")


@dataclass(frozen=True)
class Weight:
    """The weight matrix of layer `layer` (0 = nearest the input) in `layout` "in_out" or "out_in"."""

    layer: int
    layout: str = "in_out"

    slots = ("W",)

    def __post_init__(self) -> None:
        _check_layer("Weight", self.layer)
        _check_choice("Weight", "layout", self.layout, LAYOUTS)

    def default_shape(self, fan_in: int, fan_out: int, samples_as_columns: bool = False) -> tuple[int, ...]:
        return (fan_in, fan_out) if self.layout == "in_out" else (fan_out, fan_in)

    def accepts(self, shape: tuple[int, ...], fan_in: int, fan_out: int) -> bool:
        return tuple(shape) == self.default_shape(fan_in, fan_out)

    def expected_text(self, fan_in: int, fan_out: int) -> str:
        axes = "(fan_in, fan_out)" if self.layout == "in_out" else "(fan_out, fan_in)"
        return f"{axes} = {self.default_shape(fan_in, fan_out)}"

    def to_canonical(self, array: np.ndarray, fan_in: int, fan_out: int) -> dict[str, np.ndarray]:
        return {"W": array if self.layout == "in_out" else array.T}

    def from_canonical(self, canonical: Mapping[str, np.ndarray], shape: tuple[int, ...], parameters: bool = False) -> np.ndarray:
        W = canonical["W"]
        return np.array(W if self.layout == "in_out" else W.T)

    def describe(self) -> str:
        return f"Weight({self.layer}, layout={self.layout!r})"


@dataclass(frozen=True)
class Bias:
    """The bias vector of layer `layer`: (fan_out,), (fan_out, 1) or (1, fan_out).

    `shape` only matters when the doctor draws the parameters itself (``diagnose_file`` with an
    initializer); by default it is (fan_out, 1) for samples-as-columns code, else (fan_out,).
    """

    layer: int
    shape: tuple[int, ...] | None = None

    slots = ("b",)

    def __post_init__(self) -> None:
        _check_layer("Bias", self.layer)
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))

    def default_shape(self, fan_in: int, fan_out: int, samples_as_columns: bool = False) -> tuple[int, ...]:
        if self.shape is not None:
            return self.shape
        return (fan_out, 1) if samples_as_columns else (fan_out,)

    def accepts(self, shape: tuple[int, ...], fan_in: int, fan_out: int) -> bool:
        return tuple(shape) in ((fan_out,), (fan_out, 1), (1, fan_out))

    def expected_text(self, fan_in: int, fan_out: int) -> str:
        return f"any of ({fan_out},), ({fan_out}, 1), (1, {fan_out})"

    def to_canonical(self, array: np.ndarray, fan_in: int, fan_out: int) -> dict[str, np.ndarray]:
        return {"b": array.reshape(fan_out)}

    def from_canonical(self, canonical: Mapping[str, np.ndarray], shape: tuple[int, ...], parameters: bool = False) -> np.ndarray:
        return np.array(canonical["b"]).reshape(shape)

    def describe(self) -> str:
        return f"Bias({self.layer})"


@dataclass(frozen=True)
class AugmentedWeight:
    """Weights of layer `layer` carrying the bias as an extra row/column fed by `bias_input`."""

    layer: int
    layout: str = "in_out"
    bias_position: str = "first"
    bias_input: float = 1.0

    slots = ("W", "b")

    def __post_init__(self) -> None:
        _check_layer("AugmentedWeight", self.layer)
        _check_choice("AugmentedWeight", "layout", self.layout, LAYOUTS)
        _check_choice("AugmentedWeight", "bias_position", self.bias_position, BIAS_POSITIONS)
        value = self.bias_input
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value) or value == 0:
            raise DoctorInputError(
                f"AugmentedWeight: bias_input must be the constant fed to the bias row, a finite nonzero number "
                f"such as 1.0 (Ng) or -1.0 (Marsland), got {value!r}"
            )
        object.__setattr__(self, "bias_input", float(value))

    def default_shape(self, fan_in: int, fan_out: int, samples_as_columns: bool = False) -> tuple[int, ...]:
        return (fan_in + 1, fan_out) if self.layout == "in_out" else (fan_out, fan_in + 1)

    def accepts(self, shape: tuple[int, ...], fan_in: int, fan_out: int) -> bool:
        return tuple(shape) == self.default_shape(fan_in, fan_out)

    def expected_text(self, fan_in: int, fan_out: int) -> str:
        axes = "(fan_in + 1, fan_out)" if self.layout == "in_out" else "(fan_out, fan_in + 1)"
        return f"{axes} = {self.default_shape(fan_in, fan_out)}"

    @property
    def bias_axis(self) -> str:
        """'row' or 'column': how the bias entries sit in the user's array."""
        return "row" if self.layout == "in_out" else "column"

    def bias_index(self, fan_in: int) -> int:
        """Index of the bias row/column along `bias_axis`."""
        return 0 if self.bias_position == "first" else fan_in

    def to_canonical(self, array: np.ndarray, fan_in: int, fan_out: int) -> dict[str, np.ndarray]:
        rows = array if self.layout == "in_out" else array.T  # (fan_in + 1, fan_out)
        index = self.bias_index(fan_in)
        weights = np.delete(rows, index, axis=0)
        return {"W": weights, "b": self.bias_input * rows[index]}

    def from_canonical(self, canonical: Mapping[str, np.ndarray], shape: tuple[int, ...], parameters: bool = False) -> np.ndarray:
        """Gradients (default) or `parameters` back in the user's layout: the bias row of a
        gradient is ``bias_input * dL/db``, of a parameter ``b / bias_input``."""
        W, b = canonical["W"], canonical["b"]
        index = self.bias_index(W.shape[0])
        rows = np.insert(W, index, b / self.bias_input if parameters else self.bias_input * b, axis=0)
        return np.array(rows if self.layout == "in_out" else rows.T)

    def describe(self) -> str:
        return (f"AugmentedWeight({self.layer}, layout={self.layout!r}, bias_position={self.bias_position!r}, "
                f"bias_input={self.bias_input:g})")


Placement = Union[Weight, Bias, AugmentedWeight]


def canonical_name(layer: int, slot: str) -> str:
    """The canonical name of slot "W" or "b" of weight layer `layer` of a NetSpec ("dense_0.W")."""
    return sn.layers.param_name(sn.layers.Dense.kind, layer, slot)


def canonical_mapping(spec: NetSpec) -> dict[str, Placement]:
    """The mapping for canonical names: "dense_0.W" (fan_in, fan_out), "dense_0.b" (fan_out,), ..."""
    mapping: dict[str, Placement] = {}
    for layer in range(spec.n_layers):
        mapping[canonical_name(layer, "W")] = Weight(layer, "in_out")
        if spec.bias:
            mapping[canonical_name(layer, "b")] = Bias(layer)
    return mapping


class NetworkLayout:
    """A validated mapping: user name -> placement, with the user's array shapes. `names` keeps
    the mapping's order, which is the order of the findings.

    Raises `DoctorInputError` for a placement outside the network, a bias in a bias-free
    network, a network parameter placed twice or not at all, and a shape no declared layout has.
    """

    def __init__(self, spec: NetSpec, mapping: Mapping[str, Placement] | None, shapes: Mapping[str, tuple[int, ...]]):
        self.spec = spec
        mapping = canonical_mapping(spec) if mapping is None else mapping
        if not isinstance(mapping, Mapping) or not mapping:
            raise DoctorInputError(
                "mapping must be a dict {your array name: Weight(...) | Bias(...) | AugmentedWeight(...)}, "
                f"got {mapping!r}"
            )
        owners: dict[tuple[int, str], str] = {}
        for name, placement in mapping.items():
            if not isinstance(placement, (Weight, Bias, AugmentedWeight)):
                raise DoctorInputError(
                    f"mapping[{name!r}] must be Weight(layer, layout), Bias(layer) or AugmentedWeight(layer, ...), "
                    f"got {placement!r}"
                )
            if placement.layer >= spec.n_layers:
                raise DoctorInputError(
                    f"mapping[{name!r}] = {placement.describe()} places layer {placement.layer}, but the network "
                    f"sizes {list(spec.sizes)} has {spec.n_layers} weight layers (0..{spec.n_layers - 1})"
                )
            if "b" in placement.slots and not spec.bias:
                raise DoctorInputError(
                    f"mapping[{name!r}] = {placement.describe()} holds a bias, but the NetSpec has bias=False: "
                    "declare bias=True or map the array as Weight"
                )
            for slot in placement.slots:
                key = (placement.layer, slot)
                if key in owners:
                    raise DoctorInputError(
                        f"mapping places the {'weights' if slot == 'W' else 'bias'} of layer {placement.layer} twice: "
                        f"{owners[key]!r} and {name!r}"
                    )
                owners[key] = name
        missing = []
        for layer in range(spec.n_layers):
            fan_in, fan_out = spec.fans(layer)
            if (layer, "W") not in owners:
                missing.append(f"the weights of layer {layer} (e.g. 'W{layer + 1}': Weight({layer}, layout='in_out') for "
                               f"({fan_in}, {fan_out}) or layout='out_in' for ({fan_out}, {fan_in}))")
            if spec.bias and (layer, "b") not in owners:
                missing.append(f"the bias of layer {layer} (e.g. 'b{layer + 1}': Bias({layer}), shape ({fan_out},))")
        if missing:
            raise DoctorInputError("mapping does not cover every network parameter; missing " + "; ".join(missing))
        self.names = list(mapping)
        self.placements: dict[str, Placement] = {name: mapping[name] for name in self.names}
        self.shapes: dict[str, tuple[int, ...]] = {}
        for name in self.names:
            if name not in shapes:
                raise DoctorInputError(
                    f"params has no array {name!r}, which the mapping places as {self.placements[name].describe()}"
                )
            self.shapes[name] = tuple(int(n) for n in shapes[name])
            self._check_shape(name, self.shapes[name])
        extra = [name for name in shapes if name not in self.placements]
        if extra:
            raise DoctorInputError(
                f"params has {extra} which the mapping does not place; pass only the network's parameters "
                f"(mapped: {self.names})"
            )

    @classmethod
    def for_params(cls, spec: NetSpec, mapping: Mapping[str, Placement] | None, params: Mapping[str, object]) -> "NetworkLayout":
        """Validate the user's parameter dict (numeric, finite arrays) and build the layout."""
        if not isinstance(params, Mapping):
            raise DoctorInputError(f"params must be a dict {{name: array}}, got {type(params).__name__}")
        shapes = {}
        for name, value in params.items():
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise DoctorInputError(f"params[{name!r}] must be a numeric array, got dtype {array.dtype}")
            if not np.all(np.isfinite(array)):
                raise DoctorInputError(f"params[{name!r}] contains NaN or Inf")
            shapes[name] = array.shape
        return cls(spec, mapping, shapes)

    def layer(self, name: str) -> int:
        return self.placements[name].layer

    def canonical_names(self) -> dict[str, str]:
        """canonical parameter -> the user's array holding it ("dense_0.W" -> "W1")."""
        return {canonical_name(placement.layer, slot): name for name, placement in self.placements.items()
                for slot in placement.slots}

    def fans(self, name: str) -> tuple[int, int]:
        return self.spec.fans(self.layer(name))

    def expected_text(self, name: str) -> str:
        return self.placements[name].expected_text(*self.fans(name))

    def _check_shape(self, name: str, shape: tuple[int, ...]) -> None:
        placement = self.placements[name]
        fan_in, fan_out = self.fans(name)
        if placement.accepts(shape, fan_in, fan_out):
            return
        hints = []
        for layout in LAYOUTS:
            if isinstance(placement, Weight) and layout != placement.layout and Weight(placement.layer, layout).accepts(shape, fan_in, fan_out):
                hints.append(f"that is the {layout!r} layout: declare Weight({placement.layer}, layout={layout!r})")
            if isinstance(placement, Weight) and AugmentedWeight(placement.layer, layout).accepts(shape, fan_in, fan_out):
                hints.append(f"it has one extra row/column: declare AugmentedWeight({placement.layer}, layout={layout!r}, ...)")
            if isinstance(placement, AugmentedWeight) and Weight(placement.layer, layout).accepts(shape, fan_in, fan_out):
                hints.append(f"it has no bias row/column: declare Weight({placement.layer}, layout={layout!r}) plus a Bias")
            if isinstance(placement, AugmentedWeight) and layout != placement.layout and AugmentedWeight(placement.layer, layout).accepts(shape, fan_in, fan_out):
                hints.append(f"that is the {layout!r} layout: declare layout={layout!r}")
        for layer in range(self.spec.n_layers):
            if layer != placement.layer and type(placement)(layer).accepts(shape, *self.spec.fans(layer)):
                hints.append(f"it fits layer {layer}")
        hint = "; " + "; ".join(dict.fromkeys(hints)) if hints else ""
        raise DoctorInputError(
            f"params[{name!r}] has shape {shape}, but {placement.describe()} of sizes {list(self.spec.sizes)} expects "
            f"{placement.expected_text(fan_in, fan_out)}{hint}"
        )

    def to_canonical(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The user's arrays as canonical float64 parameters (new arrays, in network order)."""
        parts: dict[tuple[int, str], np.ndarray] = {}
        for name in self.names:
            array = np.array(params[name], dtype=np.float64)
            for slot, value in self.placements[name].to_canonical(array, *self.fans(name)).items():
                parts[(self.layer(name), slot)] = np.ascontiguousarray(value)
        canonical = {}
        for layer in range(self.spec.n_layers):
            canonical[canonical_name(layer, "W")] = parts[(layer, "W")]
            if self.spec.bias:
                canonical[canonical_name(layer, "b")] = parts[(layer, "b")]
        return canonical

    def to_user(self, canonical: Mapping[str, np.ndarray], parameters: bool = False) -> dict[str, np.ndarray]:
        """Canonical gradients (or `parameters`) in the user's names, layouts and shapes."""
        out = {}
        for name in self.names:
            layer = self.layer(name)
            slots = {slot: np.asarray(canonical[canonical_name(layer, slot)], dtype=np.float64) for slot in self.placements[name].slots}
            out[name] = self.placements[name].from_canonical(slots, self.shapes[name], parameters)
        return out
