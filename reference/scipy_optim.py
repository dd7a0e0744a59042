"""scipy.optimize as a reference optimizer: TNC, L-BFGS-B, CG and least_squares (lm, trf) on a
flat parameter vector, with every iterate recorded and every malformed input explained.

Facts this module relies on (scipy 1.17; shared/research/anchors-lm-tnc.md §3-4):

* ``minimize(method="TNC")`` calls ``callback(xk)`` once per main iteration; ``maxfun`` counts
  function+gradient evaluations including the finite-difference Hessian-vector products of its
  CG loop (scipy then evaluates once more at the returned x, so ``result.nfev`` can be
  maxfun + 1); ``maxiter`` is not a TNC option. TNC scales variables by 1 + |x0|, so identical x0
  bits are needed for identical trajectories. x0 must be float64 (float32 gives "Buffer dtype
  mismatch") and the gradient a float64 vector of length n (a list of per-layer arrays is the
  classic "tnc: invalid gradient vector").
* ``least_squares(method="lm")`` is MINPACK's trust-region Levenberg-Marquardt (not MATLAB's
  trainlm schedule: use `scratchnet.lm.LevenbergMarquardt` for that); it needs at least as many
  residuals as parameters and ignores ``callback``, so iterates are logged in ``jac`` (each call
  is at an accepted iterate, plus one call at the solution at the end, dropped when it repeats
  the last iterate). scipy 1.16 changed its ``x_scale`` default to ``'jac'``: every result here
  carries ``scipy_version``.
* ``least_squares(method="trf")`` calls ``callback(intermediate_result)`` per iteration.

Providers are functions of the flat vector: ``loss_and_grad_flat(theta) -> (float, 1-D float64
gradient)`` for minimize, ``residuals(theta) -> r`` and ``residuals_and_jacobian(theta) ->
(r, J)`` for least squares (``scratchnet.MLP.loss_and_grad_flat``,
``scratchnet.lm.NetworkResiduals``, ``reference.torch_jacobian.TorchFlatNetwork``).

Records: iteration 0 is x0; iteration k the k-th iterate scipy reports. ``cost`` is the
function value for minimize and scipy's ``0.5 * sum(r**2)`` for least_squares; ``nfev`` counts
the function evaluations scipy had requested when the iterate was reported.
"""
from __future__ import annotations

import inspect
import numbers
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import scipy
import scipy.optimize

SCIPY_VERSION = scipy.__version__

LossAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]
METHODS = {"tnc": "TNC", "lbfgs": "L-BFGS-B", "cg": "CG"}
# keyword arguments of scipy.optimize.minimize itself; everything else goes into options=
_MINIMIZE_KEYWORDS = ("bounds", "callback", "tol")


class ConversionWarning(UserWarning):
    """An input was not what scipy needs but was converted safely (dtype or a singleton axis)."""


@dataclass(frozen=True)
class IterateRecord:
    """One iterate: x (flat, float64 copy), cost, gradient (for least squares Jᵀr), |gradient|
    and the number of function evaluations scipy had requested by then."""

    iteration: int
    x: np.ndarray = field(repr=False)
    cost: float
    grad: np.ndarray = field(repr=False)
    grad_norm: float
    nfev: int


@dataclass
class Trace:
    """A recorded scipy run: the records, scipy's OptimizeResult and the scipy version."""

    method: str
    records: list[IterateRecord]
    result: scipy.optimize.OptimizeResult
    scipy_version: str = SCIPY_VERSION

    @property
    def iterates(self) -> list[np.ndarray]:
        return [record.x for record in self.records]

    def to_frame(self) -> pd.DataFrame:
        """One row per iterate: iteration, cost, grad_norm, nfev (x and grad left out)."""
        frame = pd.DataFrame(
            {
                "iteration": [r.iteration for r in self.records],
                "cost": [r.cost for r in self.records],
                "grad_norm": [r.grad_norm for r in self.records],
                "nfev": [r.nfev for r in self.records],
            }
        )
        frame.attrs.update(method=self.method, scipy_version=self.scipy_version)
        return frame


# ---------------------------------------------------------------------------------- validation
def describe(value: Any) -> str:
    """A short description of a returned value: type, and shapes/dtypes of what it holds."""
    if isinstance(value, np.ndarray):
        kind = "a NumPy matrix" if isinstance(value, np.matrix) else "an array"
        return f"{kind} of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        kind = type(value).__name__
        if not value:
            return f"an empty {kind}"
        if all(isinstance(item, np.ndarray) for item in value):
            shapes = [item.shape for item in value]
            total = sum(item.size for item in value)
            return f"a {kind} of {len(value)} arrays with shapes {shapes} ({total} elements in total)"
        types = sorted({type(item).__name__ for item in value})
        return f"a {kind} of {len(value)} items of type {', '.join(types)}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"a {type(value).__module__}.{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r:.60}"


def _invalid(method: str, n: int, what: str, hint: str = "") -> ValueError:
    """The one message shape for a malformed return: what came back, what is needed, how to fix."""
    return ValueError(
        f"{method}: fun returned {what}{f' ({hint})' if hint else ''}. {method} needs fun(x) to return "
        f"(cost, gradient): a finite scalar cost and a finite 1-D float64 gradient of length n = {n} "
        f"(one entry per element of x0). Flatten per-layer gradients in the order of x0, e.g. "
        f"np.concatenate([g.ravel() for g in grads]) (scratchnet: scratchnet.params.flatten(grads))."
    )


def check_x0(x0: Any, method: str = "TNC") -> tuple[np.ndarray, list[str]]:
    """x0 as a 1-D float64 C-contiguous copy, plus notes on what was converted.

    Converted (noted): lists/tuples of numbers, float32/float16/integer arrays. Refused
    (ValueError): non-numeric values, NaN/Inf, anything not 1-D."""
    notes = []
    need = f"{method} needs x0 as a 1-D float64 vector of the flat parameters, got {describe(x0)}"
    if isinstance(x0, (list, tuple)) and x0 and all(isinstance(item, np.ndarray) and item.ndim for item in x0):
        raise ValueError(f"{need}; flatten per-layer arrays: np.concatenate([w.ravel() for w in weights])")
    try:
        array = np.asarray(x0)
    except ValueError:
        raise ValueError(f"{need}; flatten per-layer arrays: np.concatenate([w.ravel() for w in weights])") from None
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{need}; its values are not real numbers")
    if array.ndim != 1:
        raise ValueError(f"{need}; use np.ravel(x0) if that order is the one fun expects")
    if array.size == 0:
        raise ValueError(f"{method}: x0 is empty")
    if not isinstance(x0, np.ndarray):
        notes.append(f"x0 ({type(x0).__name__} of {array.size} numbers) converted to a float64 array")
    elif array.dtype != np.float64:
        notes.append(f"x0 of dtype {array.dtype} converted to float64")
    x = np.array(array, dtype=np.float64, order="C", copy=True)
    if not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.isfinite(x))
        raise ValueError(f"{method}: x0 contains NaN or Inf ({bad.size} entries, first at index {bad[0]})")
    return x, notes


def check_cost_and_gradient(value: Any, n: int, method: str = "TNC") -> tuple[float, np.ndarray, list[str]]:
    """Validate what ``fun`` returned: (cost, 1-D float64 gradient of length n, notes).

    Converted (noted): a float32 or size-1 array cost; a gradient that is an (n, 1) / (1, n)
    array or matrix, a float32/float16/integer array, or a flat list of n numbers. Everything
    else raises ValueError saying what was returned and what is needed."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        hint = "only a cost, no gradient" if isinstance(value, numbers.Real) or np.ndim(value) == 0 else "not a (cost, gradient) pair"
        raise _invalid(method, n, describe(value), hint)
    cost, notes = _check_cost(value[0], n, method)
    gradient, more = _check_gradient(value[1], n, method)
    return cost, gradient, notes + more


def _check_cost(cost: Any, n: int, method: str) -> tuple[float, list[str]]:
    notes = []
    if isinstance(cost, (bool, np.bool_)) or not (
        isinstance(cost, numbers.Real) or (isinstance(cost, np.ndarray) and cost.dtype.kind in "fiu")
    ):
        raise _invalid(method, n, f"a cost that is {describe(cost)}", "not a real number")
    if isinstance(cost, np.ndarray):
        if cost.size != 1:
            raise _invalid(method, n, f"a cost that is {describe(cost)}", "not a scalar: reduce it, e.g. with .sum() or .mean()")
        if cost.ndim:
            notes.append(f"cost of shape {cost.shape} converted to a float")
        number = float(cost.reshape(()))
    else:
        if isinstance(cost, np.floating) and cost.dtype != np.float64:
            notes.append(f"cost of dtype {cost.dtype} converted to float")
        number = float(cost)
    if not np.isfinite(number):
        raise _invalid(method, n, f"a cost of {number} ({type(cost).__name__})", "check for overflow, log(0) or a division by zero")
    return number, notes


def _check_gradient(gradient: Any, n: int, method: str) -> tuple[np.ndarray, list[str]]:
    notes = []
    what = f"a gradient that is {describe(gradient)}"
    if isinstance(gradient, tuple):
        raise _invalid(method, n, what, "a tuple where a vector belongs: per-layer gradients, or (cost, grad) from a jac= function?")
    from_list = isinstance(gradient, list)
    if from_list:
        if gradient and all(isinstance(item, np.ndarray) and item.ndim > 0 for item in gradient):
            raise _invalid(method, n, what, "one array per layer")
        if not all(isinstance(item, numbers.Real) and not isinstance(item, (bool, np.bool_)) for item in gradient):
            raise _invalid(method, n, what, "not a flat list of numbers")
        notes.append(f"gradient (a list of {len(gradient)} numbers) converted to a float64 array")
        array = np.asarray(gradient, dtype=np.float64)
    elif isinstance(gradient, np.ndarray) or (hasattr(gradient, "__array__") and hasattr(gradient, "shape")):
        array = np.asarray(gradient)
        if not isinstance(gradient, np.ndarray):
            notes.append(f"gradient ({type(gradient).__name__}) converted to a NumPy array")
        if array.dtype.kind not in "fiu":
            hint = "an object array usually holds per-layer arrays" if array.dtype.kind == "O" else "its values are not real numbers"
            raise _invalid(method, n, what, hint)
    else:
        raise _invalid(method, n, what, "not an array")
    if array.size != n:
        raise _invalid(method, n, what, f"{array.size} elements, not {n}")
    if array.ndim != 1:
        if sum(dim != 1 for dim in array.shape) > 1:
            raise _invalid(method, n, what, "a matrix: the order in which to flatten it is ambiguous")
        notes.append(f"gradient of shape {array.shape} flattened to ({n},)")
    if not from_list and array.dtype != np.float64:
        notes.append(f"gradient of dtype {array.dtype} converted to float64")
    vector = np.array(array, dtype=np.float64, order="C", copy=True).reshape(n)
    if not np.all(np.isfinite(vector)):
        bad = np.flatnonzero(~np.isfinite(vector))
        hint = f"{bad.size} NaN/Inf entries, the first at index {bad[0]}: {float(vector[bad[0]])}; check the backward pass for overflow or log(0)"
        raise _invalid(method, n, what, hint)
    return vector, notes


def _warn_conversions(notes: list[str], function: str, stacklevel: int = 4) -> None:
    if notes:
        warnings.warn(
            f"{function} converted its inputs to what scipy needs: {'; '.join(notes)}. "
            "Pass a float64 1-D x0 and return a float cost and a 1-D float64 gradient to avoid this.",
            ConversionWarning,
            stacklevel=stacklevel,
        )


# ---------------------------------------------------------------------------------- minimize
class _Recorder:
    """Wraps a (cost, gradient) provider for scipy: validates every return, counts requests,
    keeps the last evaluations so iterates reported by callbacks can be recorded without
    evaluating again, and warns once (the first time anything is converted)."""

    def __init__(self, provider: Callable, x0: np.ndarray, method: str, x0_notes: list[str], cache_size: int = 64):
        self.provider, self.method, self.n = provider, method, x0.size
        self.requests = 0
        self.extra_evaluations = 0  # evaluations made for recording, outside scipy's count
        self.cache: OrderedDict[bytes, tuple[float, np.ndarray]] = OrderedDict()
        self.cache_size = cache_size
        self.warned = False
        self._pending_notes = list(x0_notes)
        self._evaluate(x0)  # validates fun's return before scipy sees it
        self._pending_x0 = x0.tobytes()

    def _evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        cost, gradient, notes = check_cost_and_gradient(self.provider(x.copy()), self.n, self.method)
        if not self.warned and (notes or self._pending_notes):
            self.warned = True
            _warn_conversions(self._pending_notes + notes, f"scipy {self.method}", stacklevel=7)
        key = x.tobytes()
        self.cache[key] = (cost, gradient)
        self.cache.move_to_end(key)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return cost, gradient

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.requests += 1
        key, pending = x.tobytes(), self._pending_x0
        self._pending_x0 = None
        if key == pending:  # scipy's first request, at x0: answered by the validating call
            cost, gradient = self.cache[key]
        else:
            cost, gradient = self._evaluate(x)
        return cost, gradient.copy()

    def record(self, iteration: int, x: np.ndarray) -> IterateRecord:
        x = np.array(x, dtype=np.float64, copy=True)
        cached = self.cache.get(x.tobytes())
        if cached is None:
            self.extra_evaluations += 1
            cached = self._evaluate(x)
        cost, gradient = cached
        return IterateRecord(iteration, x, cost, gradient.copy(), float(np.linalg.norm(gradient)), self.requests)


def run_minimize(method: str, loss_and_grad_flat: LossAndGrad, x0: Any, **options: Any) -> Trace:
    """Run ``scipy.optimize.minimize(method=...)`` (``tnc``, ``lbfgs``, ``cg`` or scipy's own
    names) from x0 with ``jac=True`` and record every iterate.

    ``options``: ``bounds``, ``callback`` and ``tol`` go to ``minimize``; the rest are the
    method's options (TNC: maxfun, maxCGit, eta, stepmx, accuracy, ftol, xtol, gtol, rescale,
    scale, offset, ...). A user ``callback`` is called as scipy would call it. ``on_record``,
    if given, is called with every `IterateRecord` as soon as it exists (iterate 0 first), so a
    caller can act on iterates while scipy runs (the run pipeline diffs them step by step)."""
    scipy_method = METHODS.get(method.lower(), method)
    if scipy_method not in METHODS.values():
        raise ValueError(f"method must be one of {sorted(METHODS)} (or {sorted(METHODS.values())}), got {method!r}")
    x, notes = check_x0(x0, scipy_method)
    recorder = _Recorder(loss_and_grad_flat, x, scipy_method, notes)
    keywords = {key: options.pop(key) for key in _MINIMIZE_KEYWORDS if key in options}
    user_callback = keywords.pop("callback", None)
    on_record = options.pop("on_record", None)
    records: list[IterateRecord] = []

    def keep(record: IterateRecord) -> None:
        records.append(record)
        if on_record is not None:
            on_record(record)

    keep(recorder.record(0, x))

    if scipy_method == "TNC":  # callback(xk) only (no intermediate_result for TNC)
        def callback(xk):
            keep(recorder.record(len(records), xk))
            if user_callback is not None:
                user_callback(xk)
    else:
        wants_result = user_callback is not None and "intermediate_result" in inspect.signature(user_callback).parameters

        def callback(intermediate_result):
            keep(recorder.record(len(records), intermediate_result.x))
            if user_callback is not None:
                user_callback(intermediate_result) if wants_result else user_callback(np.copy(intermediate_result.x))

    result = scipy.optimize.minimize(
        recorder, x, jac=True, method=scipy_method, callback=callback, options=options, **keywords
    )
    result.extra_evaluations = recorder.extra_evaluations
    return Trace(scipy_method, records, result)


def run_tnc(loss_and_grad_flat: LossAndGrad, x0: Any, **options: Any) -> Trace:
    """`run_minimize` with TNC: one record per main iteration (its ``callback(xk)``)."""
    return run_minimize("TNC", loss_and_grad_flat, x0, **options)


def run_lbfgs(loss_and_grad_flat: LossAndGrad, x0: Any, **options: Any) -> Trace:
    """`run_minimize` with L-BFGS-B."""
    return run_minimize("L-BFGS-B", loss_and_grad_flat, x0, **options)


def run_cg(loss_and_grad_flat: LossAndGrad, x0: Any, **options: Any) -> Trace:
    """`run_minimize` with CG (Polak-Ribière)."""
    return run_minimize("CG", loss_and_grad_flat, x0, **options)


def _minimize(method: str, fun: Callable, x0: Any, args: Sequence, options: dict) -> scipy.optimize.OptimizeResult:
    args = tuple(args) if isinstance(args, (list, tuple)) else (args,)
    trace = run_minimize(method, lambda x: fun(x, *args), x0, **options)
    result = trace.result
    result.trajectory = trace.to_frame()
    result.iterates = trace.records
    result.scipy_version = trace.scipy_version
    return result


def minimize_tnc(fun: Callable, x0: Any, args: Sequence = (), **options: Any) -> scipy.optimize.OptimizeResult:
    """``scipy.optimize.minimize(fun, x0, args, jac=True, method="TNC", options=options)`` with
    the checks scipy lacks.

    ``fun(x, *args)`` returns (cost, gradient). Before scipy sees a return it is validated:
    a malformed one (a list of per-layer arrays, a tuple, the wrong length, non-numeric values,
    NaN/Inf, a non-scalar cost) raises ValueError saying what was returned and what TNC needs;
    a safely convertible one (an (n, 1) gradient, float32 gradient or x0, a list x0) is
    converted with one `ConversionWarning`.

    Returns scipy's OptimizeResult plus ``trajectory`` (DataFrame: iteration, cost, grad_norm,
    nfev; iteration 0 is x0), ``iterates`` (the `IterateRecord` list, with x and gradient) and
    ``scipy_version``. ``options`` as for `run_minimize` (maxfun, ..., bounds, callback)."""
    return _minimize("TNC", fun, x0, args, options)


def minimize_lbfgs(fun: Callable, x0: Any, args: Sequence = (), **options: Any) -> scipy.optimize.OptimizeResult:
    """`minimize_tnc` for L-BFGS-B (options maxcor, ftol, gtol, maxiter, maxfun, maxls, ...)."""
    return _minimize("L-BFGS-B", fun, x0, args, options)


def minimize_cg(fun: Callable, x0: Any, args: Sequence = (), **options: Any) -> scipy.optimize.OptimizeResult:
    """`minimize_tnc` for CG (options gtol, norm, maxiter, c1, c2, ...)."""
    return _minimize("CG", fun, x0, args, options)


# ---------------------------------------------------------------------------------- least squares
class _LeastSquaresRecorder:
    """Residual and Jacobian wrappers for least_squares: counts scipy's residual requests,
    serves its first request at x0 from the residuals computed to check sizes, and keeps
    recent evaluations so callbacks can be recorded without evaluating again."""

    def __init__(self, residuals: Callable, residuals_and_jacobian: Callable, x0: np.ndarray, cache_size: int = 8):
        self.residuals_fn, self.rj_fn = residuals, residuals_and_jacobian
        self.residuals_cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.jacobian_cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.cache_size = cache_size
        self.requests = 0
        self.r0 = self._residuals(x0)
        self._pending_x0 = x0.tobytes()

    def _remember(self, cache: OrderedDict, x: np.ndarray, value: np.ndarray) -> None:
        cache[x.tobytes()] = value
        cache.move_to_end(x.tobytes())
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def _residuals(self, x: np.ndarray) -> np.ndarray:
        r = np.asarray(self.residuals_fn(x.copy()), dtype=np.float64).ravel()
        self._remember(self.residuals_cache, x, r)
        return r

    def fun(self, x: np.ndarray) -> np.ndarray:
        self.requests += 1
        key, pending = x.tobytes(), self._pending_x0
        self._pending_x0 = None
        if key == pending:  # scipy's first request, at x0: answered by the size check's evaluation
            return self.r0.copy()
        return self._residuals(x)

    def jac(self, x: np.ndarray) -> np.ndarray:
        r, J = self.rj_fn(x.copy())
        J = np.asarray(J, dtype=np.float64)
        self._remember(self.residuals_cache, x, np.asarray(r, dtype=np.float64).ravel())
        self._remember(self.jacobian_cache, x, J)
        return J

    def record(self, iteration: int, x: np.ndarray, nfev: int) -> IterateRecord:
        x = np.array(x, dtype=np.float64, copy=True)
        r, J = self.residuals_cache.get(x.tobytes()), self.jacobian_cache.get(x.tobytes())
        if r is None or J is None:
            J = self.jac(x)
            r = self.residuals_cache[x.tobytes()]
        gradient = J.T @ r
        return IterateRecord(iteration, x, 0.5 * float(r @ r), gradient, float(np.linalg.norm(gradient)), nfev)


def least_squares_lm(
    residuals: Callable[[np.ndarray], np.ndarray],
    residuals_and_jacobian: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    x0: Any,
    **options: Any,
) -> Trace:
    """``scipy.optimize.least_squares(residuals, x0, jac=..., method="lm", **options)`` with
    every accepted iterate recorded (logged in ``jac``, since lm ignores ``callback``).

    Raises ValueError, before scipy runs, when there are fewer residuals than parameters
    (MINPACK's requirement), suggesting `least_squares_trf` or `scratchnet.lm`. Records hold
    cost = 0.5 sum(r**2) (scipy's), gradient Jᵀr and nfev = residual evaluations so far.
    ``result.scipy_version`` records the version (1.16 changed the lm ``x_scale`` default)."""
    if "callback" in options:
        raise ValueError("least_squares(method='lm') ignores callback; iterates are recorded in the returned Trace")
    x, notes = check_x0(x0, "least_squares(method='lm')")
    _warn_conversions(notes, "least_squares_lm", stacklevel=3)
    recorder = _LeastSquaresRecorder(residuals, residuals_and_jacobian, x)
    if recorder.r0.size < x.size:
        raise ValueError(
            f"least_squares(method='lm') needs at least as many residuals as parameters (MINPACK), but there are "
            f"{recorder.r0.size} residuals (samples x outputs) for {x.size} parameters. Use method='trf' "
            "(reference.scipy_optim.least_squares_trf), which accepts any number of residuals, or "
            "scratchnet.lm.LevenbergMarquardt (trainlm's rule on the damped normal equations), or use more "
            "samples / a smaller network."
        )
    records: list[IterateRecord] = []

    def jac(xk):
        J = recorder.jac(xk)
        if not records or not np.array_equal(records[-1].x, xk):  # the extra final call repeats the solution
            records.append(recorder.record(len(records), xk, recorder.requests))
        return J

    result = scipy.optimize.least_squares(recorder.fun, x, jac=jac, method="lm", **options)
    result.scipy_version = SCIPY_VERSION
    return Trace("least_squares-lm", records, result)


def least_squares_trf(
    residuals: Callable[[np.ndarray], np.ndarray],
    residuals_and_jacobian: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    x0: Any,
    **options: Any,
) -> Trace:
    """``scipy.optimize.least_squares(..., method="trf")`` recorded through its per-iteration
    ``callback(intermediate_result)`` (scipy >= 1.16); works for any number of residuals.
    A user ``callback`` in options is called after recording."""
    x, notes = check_x0(x0, "least_squares(method='trf')")
    _warn_conversions(notes, "least_squares_trf", stacklevel=3)
    recorder = _LeastSquaresRecorder(residuals, residuals_and_jacobian, x)
    user_callback = options.pop("callback", None)
    records: list[IterateRecord] = []

    def jac(xk):
        J = recorder.jac(xk)
        if not records:
            records.append(recorder.record(0, xk, recorder.requests))
        return J

    def callback(intermediate_result):
        records.append(recorder.record(len(records), intermediate_result.x, int(intermediate_result.nfev)))
        if user_callback is not None:
            user_callback(intermediate_result)

    result = scipy.optimize.least_squares(recorder.fun, x, jac=jac, method="trf", callback=callback, **options)
    result.scipy_version = SCIPY_VERSION
    return Trace("least_squares-trf", records, result)
