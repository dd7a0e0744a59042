"""The declared network the user's code is supposed to implement.

`NetSpec` carries the `scratchnet.MLP` constructor arguments that define the function (sizes,
activations, loss, reduction, scale, bias, l2) with the same meanings; the doctor always builds it
in float64, which is the reference precision. Its one description as plain data is
`network_dict()` (`scratchnet.MLP.spec()`: input_shape, layers, loss fields, dtype), and every
network the doctor uses is built from that by `scratchnet.network_from_spec`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import scratchnet as sn


class DoctorInputError(ValueError):
    """A doctor argument is wrong (spec, mapping, parameters or data); the message names it and the fix."""


@dataclass(frozen=True)
class NetSpec:
    """A fully connected network as `scratchnet.MLP` defines it.

    Args:
        sizes: units per layer including the input, e.g. ``[4, 5, 3]`` (layer 0 is the first
            weight layer, nearest the input).
        activations: one per weight layer, names or tables as in ``scratchnet.activations``.
        loss: ``squared_error``, ``binary_cross_entropy`` or ``categorical_cross_entropy``.
        reduction: ``mean`` (all elements), ``sum`` or ``batch_mean`` (sum over outputs, mean
            over samples).
        scale: multiplies the reduced loss (0.5 gives the half sum of squares).
        bias: whether the layers have biases.
        l2: adds ``l2 * sum(W**2)`` over the weights (not the biases).
    """

    sizes: Sequence[int]
    activations: Sequence[str | Mapping[str, Any]]
    loss: str = "squared_error"
    reduction: str = "mean"
    scale: float = 1.0
    bias: bool = True
    l2: float = 0.0
    _network: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.sizes, (str, bytes)) or not isinstance(self.sizes, Sequence):
            raise DoctorInputError(f"NetSpec: sizes must be a list of layer sizes such as [4, 5, 3], got {self.sizes!r}")
        if isinstance(self.activations, (str, Mapping)):
            raise DoctorInputError(
                f"NetSpec: activations must list one activation per weight layer, e.g. ['tanh', 'softmax'], "
                f"got {self.activations!r}"
            )
        object.__setattr__(self, "sizes", tuple(self.sizes))
        object.__setattr__(self, "activations", tuple(self.activations))
        try:  # the MLP constructor checks the fields (its messages name them) and describes the network
            network = sn.MLP(
                list(self.sizes), list(self.activations), loss=self.loss, reduction=self.reduction,
                scale=self.scale, l2=self.l2, bias=self.bias, dtype="float64", seed=0,
            )
        except (TypeError, ValueError) as error:
            raise DoctorInputError(f"NetSpec: {error}") from None
        object.__setattr__(self, "_network", network.spec())

    def build(self) -> sn.MLP:
        """The declared network as a float64 `scratchnet.MLP` (its own weights are irrelevant),
        built from `network_dict()` by `scratchnet.network_from_spec`."""
        try:
            return sn.network_from_spec(self._network, seed=0)
        except (TypeError, ValueError) as error:
            raise DoctorInputError(f"NetSpec: {error}") from None

    @property
    def n_layers(self) -> int:
        """Number of weight layers (len(sizes) - 1)."""
        return len(self.sizes) - 1

    def fans(self, layer: int) -> tuple[int, int]:
        """(fan_in, fan_out) of weight layer `layer`."""
        return self.sizes[layer], self.sizes[layer + 1]

    def network_dict(self) -> dict[str, Any]:
        """The network's description (plain data, `scratchnet.MLP.spec()`, dtype float64), as
        reference backends and `scratchnet.network_from_spec` take it."""
        return copy.deepcopy(self._network)

    def describe(self) -> str:
        """One line: sizes, activations, loss, reduction, scale, l2, bias."""
        activations = ", ".join(a if isinstance(a, str) else str(dict(a)) for a in self.activations)
        return (
            f"sizes {list(self.sizes)}, activations [{activations}], loss {self.loss} "
            f"(reduction {self.reduction}, scale {self.scale:g}), l2 {self.l2:g}, bias {'on' if self.bias else 'off'}"
        )
