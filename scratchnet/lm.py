"""Levenberg-Marquardt training with MATLAB ``trainlm``'s damping schedule (NumPy/SciPy only).

Per epoch, at weights ``theta`` with residuals ``r`` (shape (N,), N = samples x outputs) and
Jacobian ``J = dr/dtheta`` (shape (N, P)):

    jj = J.T @ J,  je = J.T @ r            (both divided by c, see `normalization`)
    repeat:  delta = -(jj + mu * D) \\ je   (D = I or diag(jj), see `damping`; how: `solver`)
             if mse(theta + delta) < mse(theta): accept, mu = max(mu * mu_dec, mu_min), stop
             else: mu = mu * mu_inc, retry with the same J and r, while mu <= mu_max

Stops, checked in this order before every epoch: ``goal`` (mse <= goal), ``epochs``,
``min_grad`` (|grad mse| <= min_grad), ``mu_max`` (mu >= mu_max), ``max_fail`` (validation
error rose `max_fail` times since its best). Defaults are trainlm's: mu 1e-3, mu_dec 0.1,
mu_inc 10, mu_max 1e10, epochs 1000, goal 0, min_grad 1e-7, max_fail 6 (MathWorks doc page
``trainlm``; loop and stop order as in MathWorks' ``trainlm.m``, see
shared/research/anchors-lm-tnc.md §1). ``mu_min`` = 1e-20 is trainlm's floor.

`normalization` chooses c, which changes what the same numeric mu means:

| value          | c                    | system solved                      | matches |
|----------------|----------------------|------------------------------------|---------|
| ``none``       | 1                    | (JᵀJ + mu D) d = -Jᵀr              | trainlm doc formula, MATLAB R2010 ``perfs_jejj.m``, Octave nnet ``__trainlm.m`` |
| ``per_residual`` | N (all residuals)  | (JᵀJ/N + mu D) d = -Jᵀr/N          | MATLAB R2012+ ``nnCalcLib.perfsJEJJ`` with mse normalisation (JE, JJ / number of error elements) |
| ``per_sample`` | samples (batch size) | (JᵀJ/m + mu D) d = -Jᵀr/m          | torch-levenberg-marquardt / tf-levenberg-marquardt (1 / batch_size) |

`damping`: ``identity`` is trainlm's ``mu * I``; ``diag`` is Marquardt's / Fletcher's
``mu * diag(JᵀJ / c)`` (the ``fletcher`` mode of torch-levenberg-marquardt). With ``diag`` the
divisor c cancels (D is taken from the divided jj), so every normalization gives the same step.

`solver`: how each trial's step is computed (same mathematical step, different rounding):

* ``svd`` (default): the step is the solution of the damped least-squares problem
  min |J d + r|² + mu c dᵀ D d, from one Householder QR of [J r] and one SVD of its
  triangular factor per epoch; every mu trial of the epoch is then a P x P product
  (`DampedLeastSquares`, with the derivation). JᵀJ is never formed, so its rounding, which
  grows with cond(J)², never enters: on sin-lm-trainlm at epoch 5 (mu 1e-7,
  cond(JᵀJ + mu I) 6e9) the step is within 5e-12 (relative) of a 50-digit solve, against 9e-8
  for ``cholesky``.
* ``cholesky``: forms jj + mu D and solves it by Cholesky (``scipy.linalg.cho_factor`` /
  ``cho_solve``) -- the normal-equations arithmetic of MATLAB's ``(jj + I*mu) \\ je`` (mldivide
  takes its Cholesky path for that symmetric matrix with a positive diagonal); falls back to
  ``numpy.linalg.lstsq`` (minimum norm) when jj + mu D is not numerically positive definite.
* ``lstsq``: ``numpy.linalg.lstsq`` on the normal equations jj + mu D (minimum norm).

``fallbacks`` in the records counts trials whose damped system was singular and got the
minimum-norm step: ``cholesky``'s lstsq fallback, or with ``svd`` a parameter whose Jacobian
column is all zero under ``diag`` damping (its step is 0).

Differences from trainlm that remain: MATLAB's singular-matrix warning from ``\\``, which
trainlm counts as a failed trial, has no counterpart; no time limit; and data division,
mapminmax pre-processing and Nguyen-Widrow initialisation are the caller's
(``scratchnet.data.mapminmax``, ``init="nguyen_widrow"``).

Everything runs in float64 and is vectorized over samples (one batched Jacobian per epoch).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from scratchnet._checks import positive_number, unknown_name
from scratchnet.params import flatten, unflatten

DAMPINGS = ("identity", "diag")
NORMALIZATIONS = ("none", "per_residual", "per_sample")
SOLVERS = ("svd", "cholesky", "lstsq")
STOP_REASONS = ("goal", "epochs", "min_grad", "mu_max", "max_fail")

ResidualsAndJacobian = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
Residuals = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LMEpochRecord:
    """The state after epoch `epoch` (epoch 0: the initial weights, no trial).

    ``mu`` is the damping after the epoch's trials (the first value the next epoch tries);
    ``sse`` = sum(r**2) and ``mse`` = sse / N at the epoch's weights; ``grad_norm`` =
    |grad mse| = 2 |Jᵀr| / N (MATLAB R2012+'s ``gradient``, the quantity ``min_grad`` tests);
    ``accepted`` (0 or 1) and ``rejected`` count the epoch's trials; ``fallbacks`` counts linear
    solves that fell back to least squares; ``val_mse`` / ``val_fail`` are NaN / 0 without a
    validation set."""

    epoch: int
    mu: float
    sse: float
    mse: float
    grad_norm: float
    accepted: int
    rejected: int
    fallbacks: int = 0
    val_mse: float = float("nan")
    val_fail: int = 0


@dataclass
class LMResult:
    """A finished run: ``theta`` is the last iterate, ``best_theta`` the one trainlm returns
    (lowest validation mse when a validation set is used, else lowest training mse)."""

    theta: np.ndarray
    best_theta: np.ndarray
    best_epoch: int
    stop_reason: str
    records: list[LMEpochRecord]
    n_residual_evals: int
    n_jacobian_evals: int
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        """Epochs run (accepted or not), i.e. the index of the last record."""
        return self.records[-1].epoch

    @property
    def mse(self) -> float:
        return self.records[-1].mse

    def to_frame(self):
        """The records as a pandas DataFrame, one row per epoch (pandas is imported here only)."""
        import pandas as pd

        return pd.DataFrame([asdict(record) for record in self.records])


class NetworkResiduals:
    """Residuals r = (output - y).ravel() (sample-major, shape (m*k,)) and their Jacobian
    (m*k, n_params) of a squared-error `scratchnet.MLP` as functions of the flat parameter
    vector (``scratchnet.params.flatten`` order). The network itself is not modified; its
    ``reduction`` and ``scale`` do not matter here (LM's performance is sum(r**2) / (m*k))."""

    def __init__(self, net, X: Any, y: Any):
        if net.loss.name != "squared_error":
            raise ValueError(f"Levenberg-Marquardt needs loss='squared_error', the network uses {net.loss.name!r}")
        if net.l2:
            raise ValueError("Levenberg-Marquardt fits the data term only; build the network with l2=0")
        if np.dtype(net.dtype) != np.float64:
            raise ValueError(
                f"Levenberg-Marquardt runs in float64; the network is {np.dtype(net.dtype).name}: "
                "build it with dtype='float64'"
            )
        self.net = net
        self.X = net.check_inputs(X)
        self.y = net.check_targets(y, self.X.shape[0])
        self.n_samples, self.n_outputs = self.y.shape
        self.x0 = flatten(net.params)

    @property
    def n_residuals(self) -> int:
        return self.n_samples * self.n_outputs

    def params(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        return unflatten(theta, self.net.params)

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        outputs = self.net.forward(self.X, self.params(theta))[1][-1]
        return (outputs - self.y).ravel()

    def residuals_and_jacobian(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.net.residual_jacobian(self.X, self.y, self.params(theta))


_BLAS_LOCK = threading.Lock()
_BLAS_CONTROLLER: Any = None


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run the block on one BLAS thread (all BLAS libraries loaded when first used), then restore
    their thread counts; serialised by a lock (see `DampedLeastSquares`, "Threads")."""
    global _BLAS_CONTROLLER
    with _BLAS_LOCK:
        if _BLAS_CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER = ThreadpoolController().select(user_api="blas")
        with _BLAS_CONTROLLER.limit(limits=1):
            yield


def solve_damped(matrix: np.ndarray, rhs: np.ndarray, solver: str = "cholesky") -> tuple[np.ndarray, bool]:
    """Solve the symmetric normal-equations system ``matrix @ x = rhs`` (the ``cholesky`` and
    ``lstsq`` solvers); returns (x, fell_back).

    ``cholesky`` factors matrix = L Lᵀ (``scipy.linalg.cho_factor``) and solves with
    ``scipy.linalg.cho_solve``; if the factorisation fails (not numerically positive definite)
    or gives non-finite values, it falls back to ``numpy.linalg.lstsq`` (minimum-norm least
    squares), and fell_back is True. ``lstsq`` uses ``numpy.linalg.lstsq`` directly."""
    if solver == "cholesky":
        import scipy.linalg  # here, not at import: it costs every process that imports scratchnet ~0.16 s

        try:
            with np.errstate(all="ignore"):
                x = scipy.linalg.cho_solve(scipy.linalg.cho_factor(matrix, lower=True, check_finite=False), rhs,
                                           check_finite=False)
            if np.all(np.isfinite(x)):
                return x, False
        except np.linalg.LinAlgError:
            pass
        fell_back = True
    elif solver == "lstsq":
        fell_back = False
    else:
        raise unknown_name("normal-equations solver", solver, ("cholesky", "lstsq"))
    with np.errstate(all="ignore"):
        x = np.linalg.lstsq(matrix, rhs, rcond=None)[0]
    return x, fell_back


class DampedLeastSquares:
    """Every trial step of one epoch from one factorisation of J (the ``svd`` solver).

    ``step(mu)`` returns (delta, singular): delta solves the epoch's system for that mu,
    ``(JᵀJ/c + mu I) delta = -Jᵀr/c`` (``identity``) or
    ``(JᵀJ/c + mu diag(JᵀJ/c)) delta = -Jᵀr/c`` (``diag``), c the `normalization` divisor;
    singular is True when that system is singular (``diag`` with an all-zero Jacobian column).

    Derivation. Multiplying by c, both dampings are ``(JᵀJ + lam E²) delta = -Jᵀr`` with

    * ``identity``: E = I, lam = mu c;
    * ``diag``: E = diag(e), e_j = |J[:, j]| (so E² = diag(JᵀJ)), lam = mu (c cancels).

    These are the normal equations of the damped least-squares problem

        min_delta |J delta + r|² + lam |E delta|²  =  min |[J; sqrt(lam) E] delta + [r; 0]|²,

    which we solve without forming JᵀJ (whose condition number is cond(J)²):

    1. Columns with e_j = 0 (``diag`` only): J[:, j] = 0, so row and column j of JᵀJ + lam E²
       and (Jᵀr)_j are 0; equation j reads 0 = 0 and the minimum-norm solution (what
       ``numpy.linalg.lstsq`` returns, the ``cholesky`` solver's fallback) has delta_j = 0. The
       other columns form the problem below; from here on J means those columns.
    2. Substitute z = E delta and Ĵ = J E⁻¹ (columns of unit norm for ``diag``):
       min |Ĵ z + r|² + lam |z|², i.e. ``(ĴᵀĴ + lam I) z = -Ĵᵀr``.
    3. Householder QR, once per epoch: [J r] = Q [[R, q], [0, rho]] with Q orthogonal; so
       J = Q₁ R (Q₁ the first k = min(N, P) columns of Q, R k x P upper trapezoidal) and
       Q₁ᵀ r = q. Column scaling commutes with it: Ĵ = Q₁ (R E⁻¹), and R E⁻¹ is still upper
       trapezoidal (Householder QR is column-wise backward stable, so scaling R instead of J
       costs nothing in accuracy). Q is never formed: only R and q are kept.
    4. SVD, once per epoch: R E⁻¹ = U diag(s) Vᵀ (k x k, k, k x P). Then Ĵ = (Q₁U) diag(s) Vᵀ,
       ĴᵀĴ = V diag(s²) Vᵀ, Ĵᵀr = V diag(s) Uᵀq, and with g = Uᵀq

           (V diag(s²) Vᵀ + lam I) z = -V diag(s) g   =>   z = -V diag(s / (s² + lam)) g,

       the unique solution for lam > 0 (the right-hand side lies in range(V), and on its
       orthogonal complement the matrix is lam I, so z has no component there; this also
       covers P > N).
    5. delta = E⁻¹ z: per trial one k-vector of s / (s² + lam) and one P x k product.

    Threads: the QR and the SVD run on one BLAS thread (threadpoolctl, restored after; a lock
    keeps two Python threads from interleaving the limit and its restore). Their narrow panels
    give OpenBLAS threads little work per synchronisation, and NumPy's and SciPy's OpenBLAS
    pools (two libraries) spin against each other. Measured on the shared 2-core machine
    (medians, other jobs running): 2000 x 61, 1.5 ms on one thread against 63-294 ms on the
    default two; 10000 x 801, 1.8 s against 25 s.

    Rounding: QR and SVD are backward stable (the step is exact for a J and r perturbed by a
    few eps relative) and s / (s² + lam) adds positive numbers only, so the step is as accurate
    as the damped least-squares problem itself allows. Forming JᵀJ instead rounds its entries by
    eps |J|², i.e. by eps cond(J)² relative to its smallest eigenvalue, before any solve: on the
    sin-lm-trainlm epochs (cond(JᵀJ + mu I) 3e5 .. 6e9) the Cholesky step is 1e-11 .. 9e-8 off
    a 50-digit solve, this one 6e-15 .. 5e-12 (tests/test_lm.py checks an exactly known case).
    LAPACK's ``dgeqrt`` (recursive, compact-WY blocked QR) is used through
    ``scipy.linalg.lapack`` rather than ``scipy.linalg.qr`` (``dgeqrf``, level-2 panels): on the
    benchmark's 2000 x 62 [J r], one thread, 0.56 ms against 1.06 ms.
    """

    def __init__(self, J: np.ndarray, r: np.ndarray, damping: str, divisor: float):
        n_residuals, n_params = J.shape
        self.n_params = n_params
        self.divisor = float(divisor)
        self.damping = damping
        packed = np.empty((n_residuals, n_params + 1), order="F")
        packed[:, :n_params] = J
        packed[:, n_params] = r
        with _one_blas_thread():
            self._factor(packed, J, damping, n_residuals, n_params)

    def _factor(self, packed: np.ndarray, J: np.ndarray, damping: str, n_residuals: int, n_params: int) -> None:
        import scipy.linalg  # here, not at import (see solve_damped)
        from scipy.linalg import lapack

        block = max(1, min(32, n_residuals, n_params + 1))
        packed, _, info = lapack.dgeqrt(block, packed, overwrite_a=1)
        if info != 0:  # pragma: no cover - only for illegal arguments
            raise np.linalg.LinAlgError(f"LAPACK dgeqrt failed (info={info})")
        k = min(n_residuals, n_params)
        R = np.triu(packed[:k, :n_params])
        q = packed[:k, n_params].copy()
        if damping == "diag":
            column_sq = np.einsum("ij,ij->j", J, J)
            self.active = np.flatnonzero(column_sq > 0)
            self.singular = self.active.size < n_params
            self.inverse_scale = 1.0 / np.sqrt(column_sq[self.active])
            R = R[:, self.active] * self.inverse_scale
        else:
            self.active, self.singular, self.inverse_scale = None, False, None
        if R.shape[1] == 0:
            self.s = np.zeros(0)
            self.V = np.zeros((0, 0))
            self.g = np.zeros(0)
            return
        try:
            U, s, Vt = scipy.linalg.svd(R, full_matrices=False, check_finite=False)
        except np.linalg.LinAlgError:  # gesdd did not converge: the slower, sturdier driver
            U, s, Vt = scipy.linalg.svd(R, full_matrices=False, check_finite=False, lapack_driver="gesvd")
        self.s = s
        self.V = np.ascontiguousarray(Vt.T)
        self.g = U.T @ q

    def step(self, mu: float) -> tuple[np.ndarray, bool]:
        lam = mu * self.divisor if self.damping == "identity" else mu
        z = -(self.V @ (self.s / (self.s * self.s + lam) * self.g))
        if self.active is None:
            return z, False
        delta = np.zeros(self.n_params)
        delta[self.active] = z * self.inverse_scale
        return delta, self.singular


class LevenbergMarquardt:
    """trainlm's Levenberg-Marquardt rule; see the module docstring for the formulas.

    Args:
        mu, mu_dec, mu_inc, mu_max, mu_min: damping start, factor after an accepted step,
            factor after a rejected trial, upper limit, floor.
        epochs: most epochs (trials that exhaust mu still count as an epoch).
        goal: stop when the training mse is <= goal.
        min_grad: stop when |grad mse| <= min_grad.
        max_fail: stop after this many validation-error increases since the best (only with
            a validation set).
        damping: ``identity`` (mu I) or ``diag`` (mu diag(JᵀJ)).
        normalization: ``none``, ``per_residual`` or ``per_sample`` (which implementation each
            matches: module docstring).
        solver: ``svd`` (default: QR of [J r] and one SVD per epoch, stable), ``cholesky``
            (normal equations as MATLAB's backslash, lstsq fallback) or ``lstsq`` (normal
            equations, minimum norm); module docstring.

    Use `fit` for a network, `minimize` for callables, or `start` to step one epoch at a time.
    """

    name = "levenberg_marquardt"

    def __init__(
        self,
        mu: float = 1e-3,
        mu_dec: float = 0.1,
        mu_inc: float = 10.0,
        mu_max: float = 1e10,
        mu_min: float = 1e-20,
        epochs: int = 1000,
        goal: float = 0.0,
        min_grad: float = 1e-7,
        max_fail: int = 6,
        damping: str = "identity",
        normalization: str = "none",
        solver: str = "svd",
    ):
        self.mu = positive_number("mu", mu)
        self.mu_dec = positive_number("mu_dec", mu_dec)
        self.mu_inc = positive_number("mu_inc", mu_inc)
        self.mu_max = positive_number("mu_max", mu_max)
        self.mu_min = positive_number("mu_min", mu_min)
        if not self.mu_dec < 1 or not self.mu_inc > 1:
            raise ValueError(f"need mu_dec < 1 < mu_inc, got mu_dec={mu_dec!r}, mu_inc={mu_inc!r}")
        if not self.mu_min <= self.mu <= self.mu_max:
            raise ValueError(f"need mu_min <= mu <= mu_max, got {mu_min!r}, {mu!r}, {mu_max!r}")
        self.epochs = _count("epochs", epochs, allow_zero=True)
        self.goal = positive_number("goal", goal, allow_zero=True)
        self.min_grad = positive_number("min_grad", min_grad, allow_zero=True)
        self.max_fail = _count("max_fail", max_fail, allow_zero=False)
        for option, value, names in (
            ("damping", damping, DAMPINGS),
            ("normalization", normalization, NORMALIZATIONS),
            ("solver", solver, SOLVERS),
        ):
            if value not in names:
                raise unknown_name(f"Levenberg-Marquardt {option}", value, names)
        self.damping, self.normalization, self.solver = damping, normalization, solver

    def options(self) -> dict[str, Any]:
        keys = ("mu", "mu_dec", "mu_inc", "mu_max", "mu_min", "epochs", "goal", "min_grad", "max_fail",
                "damping", "normalization", "solver")
        return {key: getattr(self, key) for key in keys}

    def __repr__(self) -> str:
        return f"LevenbergMarquardt({', '.join(f'{k}={v!r}' for k, v in self.options().items())})"

    def start(
        self,
        residuals_and_jacobian: ResidualsAndJacobian,
        x0: Any,
        residuals: Residuals | None = None,
        n_samples: int | None = None,
        validation_residuals: Residuals | None = None,
    ) -> "LMRun":
        """A run positioned at x0 (epoch 0 evaluated), to advance with `LMRun.step()`.

        ``residuals_and_jacobian(theta) -> (r (N,), J (N, P))``; ``residuals(theta) -> r`` is
        used for trial steps (defaults to the first output of residuals_and_jacobian);
        ``n_samples`` is needed for ``normalization="per_sample"``;
        ``validation_residuals(theta) -> r_val`` enables the ``max_fail`` stop."""
        return LMRun(self, residuals_and_jacobian, x0, residuals, n_samples, validation_residuals)

    def minimize(
        self,
        residuals_and_jacobian: ResidualsAndJacobian,
        x0: Any,
        residuals: Residuals | None = None,
        n_samples: int | None = None,
        validation_residuals: Residuals | None = None,
    ) -> LMResult:
        """Run to a stop from x0; arguments as for `start`."""
        return self.start(residuals_and_jacobian, x0, residuals, n_samples, validation_residuals).run()

    def fit(self, net, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> LMResult:
        """Train a squared-error, float64 `scratchnet.MLP` on (X, y) and leave the returned
        weights (``result.best_theta``, as trainlm returns its best net) in ``net.params``."""
        problem = NetworkResiduals(net, X, y)
        validation = None
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val for a validation set, or neither")
        if X_val is not None:
            validation = NetworkResiduals(net, X_val, y_val).residuals
        result = self.minimize(
            problem.residuals_and_jacobian, problem.x0, problem.residuals, problem.n_samples, validation
        )
        net.set_params(problem.params(result.best_theta))
        return result


class LMRun:
    """One Levenberg-Marquardt run, advanced an epoch at a time (for lockstep comparisons).

    Attributes: ``theta`` (current weights, flat float64), ``mu``, ``epoch``, ``records``
    (one `LMEpochRecord` per epoch, epoch 0 first), ``stop_reason`` (None while running),
    ``residual`` and ``jacobian`` at ``theta``, ``je`` (Jᵀr / c) and, for the normal-equations
    solvers only, ``jj`` (JᵀJ / c; None with ``svd``)."""

    def __init__(self, lm, residuals_and_jacobian, x0, residuals, n_samples, validation_residuals):
        self.lm = lm
        self._residuals_and_jacobian = residuals_and_jacobian
        self._residuals = residuals
        self._validation = validation_residuals
        theta = np.asarray(x0)
        if theta.ndim != 1 or theta.dtype.kind not in "fiu" or theta.size == 0:
            raise ValueError(
                f"x0 must be a non-empty 1-D real vector (flat parameters), got shape {theta.shape} dtype {theta.dtype}"
            )
        self.theta = theta.astype(np.float64, copy=True)
        if lm.normalization == "per_sample" and n_samples is None:
            raise ValueError("normalization='per_sample' needs n_samples (the number of samples behind the residuals)")
        self.n_samples = n_samples
        self.mu = lm.mu
        self.epoch = 0
        self.stop_reason: str | None = None
        self.n_residual_evals = 0
        self.n_jacobian_evals = 0
        self.val_fail = 0
        self._evaluate()
        val_mse = self._validation_mse()
        self.best_theta, self.best_epoch = self.theta.copy(), 0
        self._best_perf = val_mse if self._validation is not None else self.mse
        self.records = [self._record(accepted=0, rejected=0, fallbacks=0, val_mse=val_mse)]

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self) -> None:
        r, J = self._residuals_and_jacobian(self.theta)
        self.n_jacobian_evals += 1
        r, J = _check_residuals_and_jacobian(r, J, self.theta.size)
        self.residual = r
        self.jacobian = J
        count = r.size
        divisor = {"none": 1.0, "per_residual": float(count), "per_sample": float(self.n_samples or 0)}[self.lm.normalization]
        je = J.T @ r
        self.sse = float(r @ r)
        self.mse = self.sse / count
        self.grad_norm = 2.0 * float(np.linalg.norm(je)) / count
        self.divisor = divisor
        self._factored: DampedLeastSquares | None = None  # built by the first trial that needs it
        if self.lm.solver == "svd":
            self.jj, self.je = None, (je / divisor if divisor != 1.0 else je)
            return
        jj = J.T @ J
        if divisor != 1.0:
            jj /= divisor
            je /= divisor
        self.jj, self.je = jj, je

    def _trial_mse(self, theta: np.ndarray) -> float:
        if self._residuals is None:
            r = self._residuals_and_jacobian(theta)[0]
        else:
            r = self._residuals(theta)
        self.n_residual_evals += 1
        r = np.asarray(r, dtype=np.float64).ravel()
        if r.size != self.residual.size:
            raise ValueError(f"residuals returned {r.size} values, residuals_and_jacobian returned {self.residual.size}")
        with np.errstate(over="ignore", invalid="ignore"):
            value = float(r @ r) / r.size
        return value if np.isfinite(value) else np.inf

    def _validation_mse(self) -> float:
        if self._validation is None:
            return float("nan")
        r = np.asarray(self._validation(self.theta), dtype=np.float64).ravel()
        return float(r @ r) / r.size

    def set_theta(self, theta: Any) -> None:
        """Move the run to other weights (anchored comparisons: set ``mu`` too to copy the
        reference's damping), keeping the epoch count; stops are checked again."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != self.theta.shape:
            raise ValueError(f"theta must have shape {self.theta.shape}, got {theta.shape}")
        self.theta = theta.copy()
        self.stop_reason = None
        self._evaluate()

    # ------------------------------------------------------------------ the rule
    def check_stop(self) -> str | None:
        """The trainlm stop that applies now, in trainlm's order, or None."""
        lm = self.lm
        if self.mse <= lm.goal:
            return "goal"
        if self.epoch >= lm.epochs:
            return "epochs"
        if self.grad_norm <= lm.min_grad:
            return "min_grad"
        if self.mu >= lm.mu_max:
            return "mu_max"
        if self._validation is not None and self.val_fail >= lm.max_fail:
            return "max_fail"
        return None

    def step(self) -> LMEpochRecord | None:
        """Run one epoch (trials until one lowers the mse or mu exceeds mu_max) and return its
        record, or None when a stop applies (then ``stop_reason`` says which)."""
        if self.stop_reason is None:
            self.stop_reason = self.check_stop()
        if self.stop_reason is not None:
            return None
        lm = self.lm
        accepted = rejected = fallbacks = 0
        while self.mu <= lm.mu_max:
            delta, fell_back = self.damped_step(self.mu)
            fallbacks += fell_back
            trial = self.theta + delta
            if self._trial_mse(trial) < self.mse:
                self.theta = trial
                self.mu = max(self.mu * lm.mu_dec, lm.mu_min)
                accepted = 1
                break
            self.mu = self.mu * lm.mu_inc
            rejected += 1
        if accepted:
            self._evaluate()
        self.epoch += 1
        val_mse = self._validation_mse()
        if self._validation is not None:
            if val_mse < self._best_perf:
                self._best_perf, self.best_theta, self.best_epoch, self.val_fail = val_mse, self.theta.copy(), self.epoch, 0
            elif val_mse > self._best_perf:
                self.val_fail += 1
        elif self.mse < self._best_perf:
            self._best_perf, self.best_theta, self.best_epoch = self.mse, self.theta.copy(), self.epoch
        record = self._record(accepted, rejected, fallbacks, val_mse)
        self.records.append(record)
        return record

    def damped_step(self, mu: float) -> tuple[np.ndarray, bool]:
        """The trial step for damping `mu` at the current weights (not applied) and whether it
        fell back to a minimum-norm solution; `lm.solver` says how (module docstring)."""
        if self.lm.solver == "svd":
            if self._factored is None:
                self._factored = DampedLeastSquares(self.jacobian, self.residual, self.lm.damping, self.divisor)
            return self._factored.step(mu)
        matrix = self.jj.copy()
        diagonal = 1.0 if self.lm.damping == "identity" else np.diag(self.jj)
        matrix[np.diag_indices_from(matrix)] += mu * diagonal
        return solve_damped(matrix, -self.je, self.lm.solver)

    def run(self) -> LMResult:
        """Step until a stop applies; return the result."""
        while self.step() is not None:
            pass
        return LMResult(
            theta=self.theta.copy(),
            best_theta=self.best_theta.copy(),
            best_epoch=self.best_epoch,
            stop_reason=self.stop_reason or "",
            records=list(self.records),
            n_residual_evals=self.n_residual_evals,
            n_jacobian_evals=self.n_jacobian_evals,
            options=self.lm.options(),
        )

    def _record(self, accepted: int, rejected: int, fallbacks: int, val_mse: float) -> LMEpochRecord:
        return LMEpochRecord(
            epoch=self.epoch, mu=self.mu, sse=self.sse, mse=self.mse, grad_norm=self.grad_norm,
            accepted=accepted, rejected=rejected, fallbacks=fallbacks, val_mse=val_mse, val_fail=self.val_fail,
        )


def _check_residuals_and_jacobian(r: Any, J: Any, n_params: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(r)
    J = np.asarray(J)
    if r.dtype.kind not in "fiu" or J.dtype.kind not in "fiu":
        raise TypeError(f"residuals and Jacobian must be real arrays, got dtypes {r.dtype} and {J.dtype}")
    r = r.astype(np.float64, copy=False).ravel()
    if J.ndim != 2 or J.shape != (r.size, n_params):
        raise ValueError(
            f"Jacobian must have shape (number of residuals, number of parameters) = ({r.size}, {n_params}), "
            f"got {J.shape}"
        )
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(J))):
        raise ValueError("residuals or Jacobian contain NaN or Inf at the current weights")
    return r, J.astype(np.float64, copy=False)


def _count(name: str, value: Any, allow_zero: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)
