"""The one protocol every backend implements, and the records it produces.

A backend is built from a `Problem` (network spec, initial canonical parameters, optimizer and
dtype), then driven one step at a time by the runner. Conversions between the framework's
layout and the canonical one (`{"dense_0.W": (fan_in, fan_out), "dense_0.b": (fan_out,)}`)
happen inside the backend, nowhere else.

A record's arrays may be read-only views of the backend's live tensors (`readonly`), valid
until the backend's next call: the runner diffs every step before any lane takes the next one,
and whatever keeps a record longer keeps `StepRecord.copy()`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np

Params = dict[str, np.ndarray]


class MissingFramework(ImportError):
    """An optional framework is not installed; the message names the extra to install."""


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer by scratchnet name with the options the scenario sets explicitly.

    Options left out take each framework's own default (as writing the same code in each
    framework would); `scratchnet.optim` knows both frameworks' defaults."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """Everything a backend needs to build its model and optimizer."""

    network: Mapping[str, Any]  # scratchnet.Network.spec(): input_shape, layers, loss, reduction, scale, l2, dtype
    initial_params: Mapping[str, np.ndarray]
    optimizer: OptimizerSpec

    @property
    def dtype(self) -> str:
        return str(self.network["dtype"])

    def configuration(self) -> str:
        """What a model built for this problem depends on, as a key: the network description and
        the optimizer with its options (not the initial weights, which every run sets). Backends
        that reuse built models or compiled functions across runs key them by it."""
        return json.dumps({"network": self.network, "optimizer": [self.optimizer.name, dict(self.optimizer.options)]},
                          sort_keys=True, default=_exact_json)


def _exact_json(value: Any) -> Any:
    """JSON for a NumPy value, every digit kept (their repr rounds and elides); TypeError for
    anything else, so that two different values never make the same key."""
    if isinstance(value, (np.generic, np.ndarray)):
        return {"numpy": str(np.asarray(value).dtype), "value": np.asarray(value).tolist()}
    raise TypeError(f"a problem's network and optimizer options must be plain data (JSON), got {type(value).__name__}: "
                    f"{value!r}")


@dataclass(frozen=True)
class StepExtras:
    """Method-specific facts of one step, typed (None where the method has no such notion).

    * ``evaluations``: function (and gradient) evaluations scipy's minimize had requested when
      the step ended;
    * ``loss_after``: the loss at the weights *after* the step (LM knows it from its trials);
    * ``mu``: LM damping after the epoch; ``accepted`` / ``rejected``: LM trials of the epoch.
    """

    evaluations: int | None = None
    loss_after: float | None = None
    mu: float | None = None
    accepted: int | None = None
    rejected: int | None = None


@dataclass
class StepRecord:
    """One backend, one step -- the only record type of the run pipeline.

    ``loss`` and ``grads`` at the weights *before* the update (gradients canonical, before any
    optimizer transform), ``params`` canonical *after* the update (empty when the step has no
    weights of its own, e.g. a provider evaluated at another backend's iterate), ``state``:
    optimizer and layer state under canonical names (``"dense_0.W/m"``, ``"mu"``), and typed
    ``extras``."""

    step: int
    loss: float
    grads: Params
    params: Params
    state: Params = field(default_factory=dict)
    extras: StepExtras = field(default_factory=StepExtras)

    def copy(self) -> "StepRecord":
        """The record with its own copies of every array (a backend's record may hold views of
        tensors its next step changes)."""
        def own(group: Params) -> Params:
            return {name: np.array(value, copy=True) for name, value in group.items()}
        return StepRecord(self.step, self.loss, own(self.grads), own(self.params), own(self.state), self.extras)


def readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view of `array`: a backend hands out its live tensors this way, so that no
    consumer of a record can change the backend's state by writing into it."""
    view = array.view()
    view.flags.writeable = False
    return view


@runtime_checkable
class Backend(Protocol):
    name: str
    #: optimizer formula family this backend follows ("torch", "keras", ...); also declared
    #: in its registry entry (`reference.registry.BackendInfo.convention`)
    convention: str

    def step(self, X: np.ndarray, y: np.ndarray) -> StepRecord:
        """One optimizer step on the batch (X (batch, in), y (batch, out)). The record's arrays
        may be views of live tensors (read-only, `readonly`), valid until the next call."""

    def get_params(self) -> Params:
        """Current parameters, canonical layout, copies; then the layer state (batch-norm
        running statistics, ``batch_norm_1.running_mean``) if the network has any, so that
        anchoring carries it."""

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Overwrite the parameters (canonical layout) and the layer state entries given;
        optimizer state is kept."""

    def loss_and_grads(self, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        """Loss and gradients at `params` without changing the model or optimizer."""
