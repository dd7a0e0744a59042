"""Activation functions with their exact derivatives.

Every activation maps pre-activations ``z`` of shape ``(batch, units)`` to outputs ``a`` of the
same shape. Derivative conventions follow PyTorch 2.13 where a choice exists (see
``tools/autograd/derivatives.yaml`` in pytorch/pytorch): ReLU'(0) = 0, LeakyReLU'(0) = slope,
ELU'(0) = alpha. ``softplus`` is the exact ``log(1 + e^z)`` (torch switches to ``z`` above its
``threshold=20``; the difference is at most 7.6e-10 and only for z > 20).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from scratchnet._checks import positive_number, unknown_name


class Activation:
    """Base class. Subclasses define `forward` and `derivative` (elementwise) or override `vjp`."""

    name: str = ""
    #: derivative is discontinuous somewhere (gradcheck treats entries near the kink separately)
    kinked: bool = False

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """da/dz elementwise, given z and a = forward(z)."""
        raise NotImplementedError

    def vjp(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        """dL/dz given dL/da (vector-Jacobian product); elementwise activations multiply."""
        return grad_a * self.derivative(z, a)

    def options(self) -> dict[str, float]:
        """Options that change the function (e.g. the leaky-ReLU slope)."""
        return {}

    def spec(self) -> str | dict[str, Any]:
        """A plain-data description that `get` turns back into an equal activation."""
        return {"name": self.name, **self.options()} if self.options() else self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and other.spec() == self.spec()

    def __hash__(self) -> int:
        return hash(str(self.spec()))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({options})"


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, z):
        # 1 / (1 + e^-z), the form torch uses; e^-z overflows to inf for z < -709, giving exactly 0.
        with np.errstate(over="ignore"):
            out = np.exp(-z)
        out += 1.0
        np.reciprocal(out, out=out)
        return out

    def derivative(self, z, a):
        return a * (1.0 - a)


class Tanh(Activation):
    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def derivative(self, z, a):
        return 1.0 - a * a


class ReLU(Activation):
    name = "relu"
    kinked = True

    def forward(self, z):
        return np.maximum(z, 0.0)

    def derivative(self, z, a):
        return (z > 0).astype(z.dtype)

    def vjp(self, z, a, grad_a):
        # multiplying by the boolean mask keeps grad_a's dtype; np.where with a Python 0.0 takes a
        # slow casting path for float32 (6x slower, measured)
        return grad_a * (z > 0)


class LeakyReLU(Activation):
    """max(z, 0) + negative_slope * min(z, 0); torch's default slope 0.01 (Keras uses 0.2/0.3)."""

    name = "leaky_relu"
    kinked = True

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = positive_number("negative_slope", negative_slope, allow_zero=True)

    def forward(self, z):
        return np.where(z > 0, z, z * self.negative_slope)

    def derivative(self, z, a):
        one, slope = z.dtype.type(1), z.dtype.type(self.negative_slope)
        return np.where(z > 0, one, slope)

    def options(self):
        return {"negative_slope": self.negative_slope}


class ELU(Activation):
    """z for z > 0, alpha * (e^z - 1) otherwise; derivative at 0 is alpha (torch)."""

    name = "elu"
    kinked = True  # the derivative jumps at 0 unless alpha == 1

    def __init__(self, alpha: float = 1.0):
        self.alpha = positive_number("alpha", alpha)

    def forward(self, z):
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0.0)))

    def derivative(self, z, a):
        return np.where(z > 0, z.dtype.type(1), a + self.alpha)

    def options(self):
        return {"alpha": self.alpha}


class Softplus(Activation):
    """log(1 + e^z) in the overflow-free form max(z, 0) + log1p(e^-|z|)."""

    name = "softplus"

    def forward(self, z):
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))

    def derivative(self, z, a):
        return Sigmoid().forward(z)


class Linear(Activation):
    name = "linear"

    def forward(self, z):
        return z.copy()

    def derivative(self, z, a):
        return np.ones_like(z)

    def vjp(self, z, a, grad_a):
        return grad_a


class Softmax(Activation):
    """Row-wise softmax (max-subtracted). Allowed on the last layer only."""

    name = "softmax"

    def forward(self, z):
        shifted = z - z.max(axis=1, keepdims=True)
        out = np.exp(shifted)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def derivative(self, z, a):
        raise TypeError("softmax has a full Jacobian per sample; use vjp")

    def vjp(self, z, a, grad_a):
        # J_softmax^T g = a * (g - <g, a>) per row.
        return a * (grad_a - np.sum(grad_a * a, axis=1, keepdims=True))


_REGISTRY: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus, Linear, Softmax)
}
NAMES = tuple(_REGISTRY)


def get(spec: str | Mapping[str, Any] | Activation) -> Activation:
    """Resolve an activation from a name ("tanh"), a table ({"name": "leaky_relu",
    "negative_slope": 0.2}) or an Activation instance."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, Mapping):
        options = dict(spec)
        name = options.pop("name", None)
    else:
        name, options = spec, {}
    if not isinstance(name, str) or name not in _REGISTRY:
        raise unknown_name("activation", name, NAMES)
    try:
        return _REGISTRY[name](**options)
    except TypeError as error:
        raise TypeError(f"bad options for activation {name!r}: {options} ({error})") from None
