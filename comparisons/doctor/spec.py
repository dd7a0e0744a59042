"""The declared network the user's code is supposed to implement.

`NetSpec` carries the `scratchnet.MLP` constructor arguments that define the function (sizes,
activations, loss, reduction, scale, bias, l2) with the same meanings; the doctor always builds it
in float64, which is the reference precision. Its one description as plain data is
`network_dict()` (`scratchnet.MLP.spec()`: input_shape, layers, loss fields, dtype), and every
network the doctor uses is built from that by `scratchnet.network_from_spec`.

An L2 coefficient written per sample, as in Andrew Ng's ``lambda / (2 m) * sum(Theta**2)``, is
declared once with ``l2_per``: ``NetSpec(..., l2=1.0, l2_per="2m")`` means ``l2 = 1 / (2 m)`` on
every batch of m samples (``"m"``: ``l2 / m``). `at_batch(m)` gives the spec with that number,
which is what the reference of a batch of m samples uses.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import scratchnet as sn


L2_PER = (None, "m", "2m")


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
        l2_per: None (``l2`` is the coefficient), ``"m"`` or ``"2m"``: the coefficient on a batch
            of m samples is ``l2 / m`` or ``l2 / (2 m)`` (Ng's ``lambda / (2 m)``: ``l2=lambda,
            l2_per="2m"``).
    """

    sizes: Sequence[int]
    activations: Sequence[str | Mapping[str, Any]]
    loss: str = "squared_error"
    reduction: str = "mean"
    scale: float = 1.0
    bias: bool = True
    l2: float = 0.0
    l2_per: str | None = None
    _network: dict = field(init=False, repr=False, compare=False)
    _l2_text: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        if isinstance(self.sizes, (str, bytes)) or not isinstance(self.sizes, Sequence):
            raise DoctorInputError(f"NetSpec: sizes must be a list of layer sizes such as [4, 5, 3], got {self.sizes!r}")
        if isinstance(self.activations, (str, Mapping)):
            raise DoctorInputError(
                f"NetSpec: activations must list one activation per weight layer, e.g. ['tanh', 'softmax'], "
                f"got {self.activations!r}"
            )
        if self.l2_per not in L2_PER:
            raise DoctorInputError(f"NetSpec: l2_per must be one of {', '.join(map(repr, L2_PER))}, got {self.l2_per!r} "
                                   "(\"2m\": the penalty is l2 / (2 m) * sum(W**2) on a batch of m samples, as Ng's lambda / (2 m))")
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

    def at_batch(self, m: int) -> "NetSpec":
        """This spec on a batch of `m` samples: with ``l2_per`` the coefficient becomes the number
        ``l2 / m`` or ``l2 / (2 m)`` (and `describe` says where it came from); otherwise itself."""
        if self.l2_per is None:
            return self
        divisor = m if self.l2_per == "m" else 2 * m
        resolved = replace(self, l2=self.l2 / divisor, l2_per=None)
        object.__setattr__(resolved, "_l2_text", f"{self.l2 / divisor:g} (l2 / ({self.l2_per}) with l2 = {self.l2:g}, m = {m})")
        return resolved

    def without_l2(self) -> "NetSpec":
        """The same network without the penalty: its gradients are the data term alone."""
        return replace(self, l2=0.0, l2_per=None)

    def build(self) -> sn.MLP:
        """The declared network as a float64 `scratchnet.MLP` (its own weights are irrelevant),
        built from `network_dict()` by `scratchnet.network_from_spec`. With ``l2_per`` the
        penalty is only defined per batch: build ``at_batch(m)`` when the penalty matters."""
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
        l2 = self._l2_text or (f"{self.l2:g} / ({self.l2_per})" if self.l2_per else f"{self.l2:g}")
        return (
            f"sizes {list(self.sizes)}, activations [{activations}], loss {self.loss} "
            f"(reduction {self.reduction}, scale {self.scale:g}), l2 {l2}, bias {'on' if self.bias else 'off'}"
        )
