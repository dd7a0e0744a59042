"""Reference loss and gradients of the declared network at the user's weights, in float64.

PyTorch autograd through `reference.torch_backend.reference_loss_and_grads` is the reference;
where torch is not installed, scratchnet's exact backprop stands in (it matches torch to rounding
in the project's own parity tests) and the report says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from comparisons.doctor.spec import NetSpec
from reference.protocol import MissingFramework

TORCH_SOURCE = "torch autograd in float64"
FALLBACK_SOURCE = "scratchnet exact backprop in float64 (torch is not installed, so it stands in for torch autograd)"


@dataclass(frozen=True)
class Reference:
    """`loss`: the declared loss; `grads`: canonical gradients; `source`: who computed them."""

    loss: float
    grads: dict[str, np.ndarray]
    source: str


def reference_gradients(spec: NetSpec, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> Reference:
    """Reference loss and canonical gradients at canonical `params` for X (m, in), y (m, out)."""
    from reference.torch_backend import reference_loss_and_grads

    try:
        loss, grads = reference_loss_and_grads(spec.network_dict(), params, X, y)
        return Reference(loss, grads, TORCH_SOURCE)
    except MissingFramework:
        loss, grads = spec.build().loss_and_grads(X, y, params)
        return Reference(float(loss), grads, FALLBACK_SOURCE)
