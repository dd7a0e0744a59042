"""The multilayer perceptron: forward, loss, backprop, flat-vector and Jacobian views.

Canonical layout (see ARCHITECTURE.md): parameters are an ordered dict
``{"dense_0.W": (fan_in, fan_out), "dense_0.b": (fan_out,), "dense_1.W": ...}`` and the forward
pass of layer l is ``z_l = a_{l-1} @ W_l + b_l``, ``a_l = act_l(z_l)`` with samples as rows.

The total loss is ``scale * reduce(per-element loss) + l2 * sum_l sum(W_l ** 2)`` (weights only,
as Keras' ``L2`` kernel regularizer; biases are not penalised).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from scratchnet import activations as activations_module
from scratchnet import init as init_module
from scratchnet._checks import as_float_array, positive_number, resolve_dtype
from scratchnet.losses import Loss
from scratchnet.params import flatten, slices, unflatten

Params = dict[str, np.ndarray]


class MLP:
    """A fully connected network trained by exact backpropagation.

    Args:
        sizes: units per layer including the input, e.g. ``[4, 5, 3]``.
        activations: one per weight layer (``len(sizes) - 1``): names, tables such as
            ``{"name": "leaky_relu", "negative_slope": 0.2}``, or Activation objects.
            ``softmax`` is allowed on the last layer only.
        loss: ``squared_error``, ``binary_cross_entropy`` or ``categorical_cross_entropy``.
        reduction: ``mean`` (over all elements), ``sum`` or ``batch_mean`` (sum over outputs,
            mean over samples).
        scale: multiplies the reduced loss (0.5 gives the half sum of squares).
        l2: adds ``l2 * sum(W**2)`` over weights (not biases).
        bias: whether layers have biases.
        dtype: ``float32`` or ``float64`` (the reference precision).
        init: initializer name/table/object (see ``scratchnet.init``).
        seed: seed of the ``numpy.random.Generator`` that draws the initial weights.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activations: Sequence[str | Mapping[str, Any] | activations_module.Activation],
        loss: str = "squared_error",
        reduction: str = "mean",
        scale: float = 1.0,
        l2: float = 0.0,
        bias: bool = True,
        dtype: str = "float64",
        init: str | Mapping[str, Any] | init_module.Initializer = "glorot_uniform",
        seed: int | None = 0,
    ):
        self.sizes = _check_sizes(sizes)
        if isinstance(activations, (str, Mapping)) or len(activations) != len(self.sizes) - 1:
            count = 1 if isinstance(activations, (str, Mapping)) else len(activations)
            raise ValueError(
                f"activations must list one activation per weight layer: sizes {self.sizes} "
                f"has {len(self.sizes) - 1} layers, got {count}"
            )
        self.activations = [activations_module.get(spec) for spec in activations]
        for index, activation in enumerate(self.activations[:-1]):
            if activation.name == "softmax":
                raise ValueError(
                    f"softmax is only allowed on the last layer, found at layer {index} of "
                    f"{len(self.activations)}; use e.g. 'sigmoid' or 'tanh' for hidden layers"
                )
        if self.activations[-1].name == "softmax" and self.sizes[-1] == 1:
            raise ValueError(
                "softmax over a single output unit is always 1 (its gradient is 0); use 'sigmoid' for one "
                "output, or give the last layer one unit per class"
            )
        self.loss = Loss(loss, reduction, positive_number("scale", scale))
        self.loss.check_activation(self.activations[-1])
        self.l2 = positive_number("l2", l2, allow_zero=True)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bool(bias)
        self.dtype = resolve_dtype(dtype)
        self.init = init_module.get(init)
        self.seed = seed
        self.params: Params = init_module.initialize(
            self.init, self.sizes, self.activations, self.bias, self.dtype, seed
        )

    # ------------------------------------------------------------------ parameters
    @property
    def n_params(self) -> int:
        return sum(value.size for value in self.params.values())

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Copy canonical parameters into the network (names and shapes must match exactly)."""
        self.params = self.check_params(params)

    def check_params(self, params: Mapping[str, np.ndarray]) -> Params:
        """Validate a canonical mapping against this network and return a copy in its dtype."""
        missing = [name for name in self.params if name not in params]
        extra = [name for name in params if name not in self.params]
        if missing or extra:
            raise ValueError(
                f"parameter names do not match the network: missing {missing}, unexpected {extra} "
                f"(expected {list(self.params)})"
            )
        out: Params = {}
        for name, reference in self.params.items():
            value = as_float_array(f"params[{name!r}]", params[name], self.dtype)
            if value.shape != reference.shape:
                raise ValueError(
                    f"params[{name!r}] has shape {value.shape}, expected {reference.shape} "
                    "(canonical layout: W is (fan_in, fan_out), b is (fan_out,))"
                )
            out[name] = value.copy()
        return out

    def copy(self) -> "MLP":
        clone = object.__new__(MLP)
        clone.__dict__.update(self.__dict__)
        clone.params = {name: value.copy() for name, value in self.params.items()}
        return clone

    def spec(self) -> dict[str, Any]:
        """The constructor arguments as plain data."""
        return {
            "sizes": list(self.sizes),
            "activations": [activation.spec() for activation in self.activations],
            "loss": self.loss.name,
            "reduction": self.loss.reduction,
            "scale": self.loss.scale,
            "l2": self.l2,
            "bias": self.bias,
            "dtype": np.dtype(self.dtype).name,
        }

    # ------------------------------------------------------------------ data checks
    def check_inputs(self, X: Any) -> np.ndarray:
        """X as a C-contiguous (batch, sizes[0]) array in the network's dtype."""
        X = as_float_array("X", X, self.dtype)
        fan_in = self.sizes[0]
        if X.ndim != 2 or X.shape[1] != fan_in:
            hint = ""
            if X.ndim == 1:
                hint = "; for one sample use X.reshape(1, -1), for a 1-feature batch X.reshape(-1, 1)"
            elif X.ndim == 2 and X.shape[0] == fan_in:
                hint = "; it looks transposed (samples must be rows): pass X.T"
            raise ValueError(f"X has shape {X.shape}, expected (batch, {fan_in}){hint}")
        if X.shape[0] == 0:
            raise ValueError("X has no samples (shape (0, ...))")
        return X

    def check_targets(self, y: Any, batch: int) -> np.ndarray:
        """y as (batch, k) in the network's dtype; integer labels become one-hot for CE."""
        raw = np.asarray(y)
        if raw.dtype.kind not in "biuf":
            raise TypeError(f"y must hold real numbers, got dtype {raw.dtype}")
        if not (self.loss.name == "categorical_cross_entropy" and raw.ndim == 1):
            raw = as_float_array("y", raw, self.dtype)
        return np.ascontiguousarray(self.loss.check_targets(raw, self.sizes[-1], batch), dtype=self.dtype)

    # ------------------------------------------------------------------ forward / backward
    def forward(self, X: np.ndarray, params: Mapping[str, np.ndarray] | None = None):
        """Pre-activations and activations of every layer: (zs, outs), each a list of
        (batch, units) arrays; outs[-1] is the network output. X must already be checked."""
        params = self.params if params is None else params
        zs, outs = [], []
        current = X
        for index, activation in enumerate(self.activations):
            z = current @ params[f"dense_{index}.W"]
            if self.bias:
                z += params[f"dense_{index}.b"]
            current = activation.forward(z)
            zs.append(z)
            outs.append(current)
        return zs, outs

    def predict(self, X: Any) -> np.ndarray:
        """Network output, shape (batch, sizes[-1])."""
        return self.forward(self.check_inputs(X))[1][-1]

    def loss_value(self, X: Any, y: Any) -> float:
        """Total loss (data term plus L2) at the current parameters."""
        X = self.check_inputs(X)
        zs, outs = self.forward(X)
        value, _ = self.loss.value_and_delta(zs[-1], outs[-1], self.check_targets(y, X.shape[0]), self.activations[-1])
        return value + self._l2_value(self.params)

    def loss_and_grads(self, X: Any, y: Any, params: Mapping[str, np.ndarray] | None = None) -> tuple[float, Params]:
        """Loss and its exact gradient wrt every parameter (same keys and shapes as params).

        ``params`` evaluates at other canonical parameters without changing the network.
        """
        X = self.check_inputs(X)
        y = self.check_targets(y, X.shape[0])
        params = self.params if params is None else self.check_params(params)
        return self.loss_and_grads_checked(X, y, params)

    def loss_and_grads_checked(self, X: np.ndarray, y: np.ndarray, params: Mapping[str, np.ndarray]) -> tuple[float, Params]:
        """`loss_and_grads` for inputs that already passed `check_inputs`/`check_targets`
        (training loops check the data once, not every step)."""
        zs, outs = self.forward(X, params)
        value, delta = self.loss.value_and_delta(zs[-1], outs[-1], y, self.activations[-1])
        grads: Params = {}
        for index in range(self.n_layers - 1, -1, -1):
            W = params[f"dense_{index}.W"]
            inputs = X if index == 0 else outs[index - 1]
            grad_W = inputs.T @ delta
            if self.l2:
                grad_W += (2.0 * self.l2) * W
            grads[f"dense_{index}.W"] = grad_W
            if self.bias:
                grads[f"dense_{index}.b"] = delta.sum(axis=0)
            if index:
                delta = self.activations[index - 1].vjp(zs[index - 1], outs[index - 1], delta @ W.T)
        ordered = {name: grads[name] for name in params}
        return value + self._l2_value(params), ordered

    def _l2_value(self, params: Mapping[str, np.ndarray]) -> float:
        if not self.l2:
            return 0.0
        return self.l2 * sum(float(np.vdot(params[f"dense_{i}.W"], params[f"dense_{i}.W"])) for i in range(self.n_layers))

    # ------------------------------------------------------------------ flat views for scipy
    def loss_and_grad_flat(self, theta: np.ndarray, X: Any, y: Any) -> tuple[float, np.ndarray]:
        """(loss, gradient) at the flat parameter vector theta, as scipy.optimize wants them:
        a Python float and a 1-D float64 array of length n_params. The network is unchanged."""
        value, grads = self.loss_and_grads(X, y, unflatten(theta, self.params))
        return value, flatten(grads)

    def residual_jacobian(self, X: Any, y: Any, params: Mapping[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Residuals r = (output - y).ravel() of shape (m*k,) (sample-major) and their Jacobian
        J = dr/dtheta of shape (m*k, n_params) wrt the flat parameters, in float64.

        Squared-error networks only; sum(r**2) is the unreduced, unscaled data loss. Computed by
        one batched backward pass with a (m, k, units) seed, with no Python loop over samples.
        """
        if self.loss.name != "squared_error":
            raise ValueError(f"residual_jacobian needs loss='squared_error', this network uses {self.loss.name!r}")
        if self.l2:
            raise ValueError("residual_jacobian covers the data term only; build the network with l2=0")
        X = self.check_inputs(X).astype(np.float64)
        y = self.check_targets(y, X.shape[0]).astype(np.float64)
        params = {k: v.astype(np.float64) for k, v in (self.params if params is None else self.check_params(params)).items()}
        zs, outs = self.forward(X, params)
        m, k = outs[-1].shape
        jacobian = np.empty((m, k, self.n_params))
        where = slices(params)
        last = self.activations[-1]
        if last.name == "softmax":
            a = outs[-1]
            delta = a[:, :, None] * (np.eye(k)[None] - a[:, None, :])  # [i, j, :] = d a_ij / d z_i
        else:
            delta = np.eye(k)[None] * last.derivative(zs[-1], outs[-1])[:, None, :]
        for index in range(self.n_layers - 1, -1, -1):
            inputs = X if index == 0 else outs[index - 1]
            block = np.einsum("if,ijo->ijfo", inputs, delta, optimize=True)
            jacobian[:, :, where[f"dense_{index}.W"]] = block.reshape(m, k, -1)
            if self.bias:
                jacobian[:, :, where[f"dense_{index}.b"]] = delta
            if index:
                previous = self.activations[index - 1]
                delta = (delta @ params[f"dense_{index}.W"].T) * previous.derivative(zs[index - 1], outs[index - 1])[:, None, :]
        return (outs[-1] - y).ravel(), jacobian.reshape(m * k, -1)

    def __repr__(self) -> str:
        acts = ", ".join(a.name for a in self.activations)
        return (
            f"MLP(sizes={self.sizes}, activations=[{acts}], loss={self.loss.name!r}, "
            f"reduction={self.loss.reduction!r}, scale={self.loss.scale}, l2={self.l2}, "
            f"bias={self.bias}, dtype={np.dtype(self.dtype).name!r})"
        )


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < 2:
        raise ValueError(f"sizes must list at least the input and output units, e.g. [4, 5, 3], got {sizes!r}")
    out = []
    for index, size in enumerate(sizes):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"sizes[{index}] must be a positive integer, got {size!r}")
        out.append(int(size))
    return out
