"""Losses, reductions and the fused output-layer gradients.

Shapes: outputs ``a`` and pre-activations ``z`` are ``(batch, k)``; targets ``y`` are ``(batch, k)``
(or integer class labels ``(batch,)`` for categorical cross-entropy).

Reductions (the sum is over every element of the per-element loss):
  * ``mean``       divide by batch * k   (torch's default ``reduction='mean'``)
  * ``sum``        no division           (torch ``reduction='sum'``)
  * ``batch_mean`` divide by batch       (Keras' CE, Andrew Ng's cost)
``scale`` multiplies the reduced loss (0.5 gives the textbook half sum of squares).

Sigmoid + binary cross-entropy and softmax + categorical cross-entropy are computed from the
logits (log-sum-exp forms), which is both stable and the exact gradient of the declared loss:
d/dz of -sum y log softmax(z) is softmax(z) * sum(y) - y, and d/dz of BCE(sigmoid(z)) is
sigmoid(z) - y. Other pairings use the probability forms.
"""
from __future__ import annotations

import numpy as np

from scratchnet._checks import unknown_name
from scratchnet.activations import Activation, Sigmoid, Softmax

NAMES = ("squared_error", "binary_cross_entropy", "categorical_cross_entropy")
REDUCTIONS = ("mean", "sum", "batch_mean")


class Loss:
    """A loss with its reduction and scale.

    `value_and_delta(z, a, y, activation)` returns the reduced, scaled loss and dL/dz for the
    last layer (shape of z).
    """

    def __init__(self, name: str, reduction: str = "mean", scale: float = 1.0):
        if name not in NAMES:
            raise unknown_name("loss", name, NAMES)
        if reduction not in REDUCTIONS:
            raise unknown_name("reduction", reduction, REDUCTIONS)
        self.name = name
        self.reduction = reduction
        self.scale = float(scale)

    def denominator(self, y_shape: tuple[int, ...]) -> int:
        """What the summed loss is divided by, for targets of shape (batch, k)."""
        if self.reduction == "mean":
            return int(np.prod(y_shape))
        if self.reduction == "batch_mean":
            return int(y_shape[0])
        return 1

    def check_activation(self, activation: Activation) -> None:
        """Cross-entropies need outputs in (0, 1): refuse a last layer that cannot give them."""
        if self.name != "squared_error" and activation.name not in ("sigmoid", "softmax"):
            raise ValueError(
                f"loss {self.name!r} needs probabilities from the last layer, but its activation "
                f"is {activation.name!r}; use 'sigmoid' (or 'softmax') on the last layer, or "
                "loss='squared_error'"
            )

    def check_targets(self, y: np.ndarray, k: int, batch: int) -> np.ndarray:
        """Validate targets against outputs (batch, k); integer labels become one-hot."""
        if self.name == "categorical_cross_entropy" and y.ndim == 1:
            if y.dtype.kind not in "iu":
                raise TypeError(
                    f"1-D targets for categorical_cross_entropy must be integer class labels, got "
                    f"dtype {y.dtype}; pass y.astype(int) or one-hot targets of shape ({batch}, {k})"
                )
            if y.shape[0] != batch:
                raise ValueError(f"y has {y.shape[0]} labels but X has {batch} samples")
            if y.size and (y.min() < 0 or y.max() >= k):
                bad = int(y[(y < 0) | (y >= k)][0])
                raise ValueError(
                    f"class label {bad} in y is out of range for {k} outputs (labels must be 0..{k - 1})"
                )
            onehot = np.zeros((batch, k))
            onehot[np.arange(batch), y] = 1.0
            return onehot
        if y.ndim != 2 or y.shape != (batch, k):
            hint = ""
            if y.ndim == 1 and y.shape[0] == batch and k == 1:
                hint = "; reshape it with y.reshape(-1, 1)"
            elif y.ndim == 2 and y.shape == (k, batch):
                hint = "; it looks transposed (samples must be rows): pass y.T"
            raise ValueError(
                f"y has shape {y.shape} but the network outputs ({batch}, {k}) for this X{hint}"
            )
        if self.name != "squared_error":
            if y.min(initial=0.0) < 0 or y.max(initial=0.0) > 1:
                raise ValueError(
                    f"{self.name} needs targets in [0, 1], got values in "
                    f"[{y.min():.4g}, {y.max():.4g}]"
                )
        if self.name == "categorical_cross_entropy":
            row_sums = y.sum(axis=1)
            tol = 1e-6 if y.dtype == np.float64 else 1e-4
            if not np.allclose(row_sums, 1.0, rtol=0, atol=tol):
                row = int(np.argmax(np.abs(row_sums - 1.0)))
                raise ValueError(
                    f"categorical_cross_entropy needs each target row to be a probability "
                    f"distribution (sum 1), but row {row} sums to {row_sums[row]:.6g}; use one-hot "
                    "targets or integer labels"
                )
        return y

    def value_and_delta(
        self, z: np.ndarray, a: np.ndarray, y: np.ndarray, activation: Activation
    ) -> tuple[float, np.ndarray]:
        """Reduced, scaled loss and dL/dz of the last layer."""
        factor = self.scale / self.denominator(y.shape)
        if self.name == "squared_error":
            error = a - y
            loss = float(np.dot(error.ravel(), error.ravel()))
            return loss * factor, activation.vjp(z, a, error * (2.0 * factor))
        if self.name == "binary_cross_entropy" and isinstance(activation, Sigmoid):
            # max(z,0) - z y + log1p(e^-|z|) = -[y log s + (1-y) log(1-s)], s = sigmoid(z)
            per_element = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))
            return float(per_element.sum()) * factor, (a - y) * factor
        if self.name == "categorical_cross_entropy" and isinstance(activation, Softmax):
            shifted = z - z.max(axis=1, keepdims=True)
            log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            loss = -float(np.sum(y * log_softmax))
            return loss * factor, (a * y.sum(axis=1, keepdims=True) - y) * factor
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.name == "binary_cross_entropy":
                per_element = -(y * np.log(a) + (1.0 - y) * np.log1p(-a))
                grad_a = (a - y) / (a * (1.0 - a))
            else:
                per_element = -np.where(y > 0, y * np.log(a), 0.0)
                grad_a = -np.where(y > 0, y / a, 0.0)
        return float(per_element.sum()) * factor, activation.vjp(z, a, grad_a * factor)
