"""Finite-difference gradient check with kink handling.

The numerical derivative is the fourth-order central stencil
``(f(t-2h) - 8 f(t-h) + 8 f(t+h) - f(t+2h)) / (12 h)`` with ``h = eps**(1/5) * max(1, |t|)``
(about 7e-4 in float64): truncation error O(h^4) and rounding error about ``eps |f| / h``, so
relative errors near 1e-10 are typical, where the two-point stencil manages about 1e-7.

An entry whose perturbation moves any ReLU/leaky-ReLU/ELU pre-activation across 0, or changes
which element a max-pooling window passes on (`Layer.winners`: a tie or near-tie between
window elements), sits on a kink, where no finite difference estimates the derivative: it is
counted in ``kinks`` and left out of the error, not reported as a failure. The network is
evaluated as its gradients are (training mode: batch statistics, the dropout masks of its next
step, state unchanged; or eval mode), so dropout and batch norm are checked as smooth functions.

Relative error per element: ``|analytic - numeric| / max(|analytic|, |numeric|, floor)`` with
``floor = 1e-4 * max(1, |loss|)``. The rounding noise of the stencil is about
``1.5 eps |loss| / h`` (5e-13 |loss|), so an entry much smaller than the floor cannot be judged
relatively; an analytic error still fails the check as soon as it exceeds
``tolerance * floor`` (1e-11 |loss| at the default tolerance), far below any real backprop bug.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scratchnet.layers import Layer
from scratchnet.network import Network


@dataclass
class ParamCheck:
    max_abs: float
    max_rel: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    kinks: int


@dataclass
class GradcheckResult:
    params: dict[str, ParamCheck]
    tolerance: float
    floor: float
    loss: float
    max_rel: float = field(init=False)

    def __post_init__(self):
        self.max_rel = max((check.max_rel for check in self.params.values()), default=0.0)

    @property
    def ok(self) -> bool:
        return self.max_rel < self.tolerance

    def __str__(self) -> str:
        lines = [f"gradcheck: max relative error {self.max_rel:.3e} (tolerance {self.tolerance:g}) -> {'ok' if self.ok else 'FAILED'}"]
        for name, check in self.params.items():
            kinks = f", {check.kinks} kink entries skipped" if check.kinks else ""
            lines.append(
                f"  {name:<14} max_rel {check.max_rel:.3e}  max_abs {check.max_abs:.3e}  worst {check.worst_index}: "
                f"analytic {check.analytic:.10g} numeric {check.numeric:.10g}{kinks}"
            )
        return "\n".join(lines)


def gradcheck(net: Network, X: Any, y: Any, tolerance: float = 1e-7) -> GradcheckResult:
    """Compare `net.loss_and_grads(X, y)` with finite differences, per parameter entry.
    Use a float64 network: float32 cannot reach the default tolerance."""
    X = net.check_inputs(X)
    y = net.check_targets(y, X.shape[0])
    params = {name: value.copy() for name, value in net.params.items()}
    loss, analytic = net.loss_and_grads_checked(X, y, params)
    kinked_layers = [i for i, a in enumerate(net.activations) if a.kinked]
    kinked_layers = sorted({*kinked_layers, *(i for i, layer in enumerate(net.layers) if type(layer).winners is not Layer.winners)})
    _, base_signs = _loss_and_signs(net, X, y, params, kinked_layers)
    eps = np.finfo(net.dtype).eps
    floor = 1e-4 * max(1.0, abs(loss))
    results = {}
    for name, value in params.items():
        numeric = np.zeros_like(value, dtype=np.float64)
        kink = np.zeros(value.shape, dtype=bool)
        for index in np.ndindex(value.shape):
            original = value[index]
            h = eps ** 0.2 * max(1.0, abs(float(original)))
            samples = []
            for multiple in (-2, -1, 1, 2):
                value[index] = original + multiple * h
                watch = kinked_layers if not kink[index] else []
                sample, signs = _loss_and_signs(net, X, y, params, watch)
                samples.append(sample)
                if watch:
                    kink[index] = any(not np.array_equal(s, b) for s, b in zip(signs, base_signs))
            value[index] = original
            numeric[index] = (samples[0] - 8 * samples[1] + 8 * samples[2] - samples[3]) / (12 * h)
        results[name] = _summarise(analytic[name].astype(np.float64), numeric, kink, floor)
    return GradcheckResult(results, tolerance, floor, loss)


def _loss_and_signs(net: Network, X, y, params, layers) -> tuple[float, list[np.ndarray]]:
    """The loss at `params` and, from the same forward pass, `_kink_signs` of `layers`."""
    zs, outs = net.forward(X, params)
    value, _ = net.loss.value_and_delta(zs[-1], outs[-1], y, net.activations[-1])
    return value + net._l2_value(params), _kink_signs(net, X, zs, outs, layers)


def _kink_signs(net: Network, X, zs, outs, layers) -> list[np.ndarray]:
    """Per kinked layer: the signs of its activation's input, or which elements its windows
    pass on (max pooling)."""
    signs = []
    for i in layers:
        winners = net.layers[i].winners(X if i == 0 else outs[i - 1])
        signs.append(winners if winners is not None else zs[i] > 0)
    return signs


def _summarise(analytic: np.ndarray, numeric: np.ndarray, kink: np.ndarray, floor: float) -> ParamCheck:
    error = np.abs(analytic - numeric)
    rel = error / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    rel[kink] = 0.0
    error = np.where(kink, 0.0, error)
    worst = np.unravel_index(int(np.argmax(rel)), rel.shape) if rel.size else ()
    return ParamCheck(
        max_abs=float(error.max(initial=0.0)),
        max_rel=float(rel.max(initial=0.0)),
        worst_index=tuple(int(i) for i in worst),
        analytic=float(analytic[worst]) if rel.size else 0.0,
        numeric=float(numeric[worst]) if rel.size else 0.0,
        kinks=int(kink.sum()),
    )
