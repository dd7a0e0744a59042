"""Drivers: how a scenario's optimizer advances its backends, one step at a time.

A driver knows one training method; the runner (`comparisons.runner`) knows everything else.
A driver builds one *lane* per backend (`build`) and then `run`s the steps through the
runner's services (`Lanes` protocol below):

* ``lanes.call(name, fn, *args)`` -- an isolated call: an exception records the backend's
  failure with its traceback and retires the lane; the others go on;
* ``lanes.push(name, step, record)`` -- hand over one `StepRecord`; the runner checks it for
  NaN/Inf and diffs a step as soon as every live lane has pushed it;
* ``lanes.anchor(read, write)`` -- anchored mode: copy the reference lane's state into every
  other lane (isolated);
* ``lanes.finish(name)`` -- the lane ended on its own (scipy converged, LM reached its goal).

Drivers:

* `GradientDriver` (sgd, adam, adamw, rmsprop, adagrad): a step is one optimizer step on the
  step's batch; anchored = every backend gets the reference's weights before the step.
* `MinimizeDriver` (tnc, lbfgs, cg): every backend is a gradient provider (its
  ``loss_and_grads`` on the full batch, flattened in canonical order) for
  ``scipy.optimize.minimize``; a step is one iteration: loss and gradient at x_k, params
  x_{k+1}. free: each provider drives its own minimize from the identical x0 (TNC scales by
  1 + |x0|, so the same bits matter). anchored: only the reference drives scipy; every other
  provider is evaluated at the reference's iterates, so gradient errors show without the
  trajectory chaos of free-running TNC.
* `LevenbergMarquardtDriver` (lm): `scratchnet.optim.LevenbergMarquardt` (trainlm's rule) fed
  by each backend's Jacobian provider (declared in the registry); a step is one epoch: loss =
  mse, grad = d mse / d theta = 2 Jᵀr / N, params after the epoch, state ``mu``, typed extras
  (accepted/rejected trials, mse after the epoch). anchored: each epoch every lane gets the
  reference's theta and mu. scipy's ``least_squares(method="lm")`` (MINPACK: another
  algorithm) runs on the scratchnet problem and is compared on outcome only.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

import reference
import scratchnet as sn
from comparisons.spec import Scenario
from reference.protocol import OptimizerSpec, Problem, StepExtras, StepRecord

GRADIENT_METHODS = tuple(sn.optim.NAMES)
MINIMIZE_METHODS = ("tnc", "lbfgs", "cg")
LM_METHODS = ("lm",)


class LaneRetired(Exception):
    """Raised inside a driver's callback to stop work for a lane the runner has retired."""


class Lanes(Protocol):
    """The runner's services to a driver (implemented by `comparisons.runner`)."""

    mode: str
    reference: str
    lanes: dict[str, Any]
    extras: dict[str, Any]

    def call(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]: ...

    def push(self, name: str, step: int, record: StepRecord) -> None: ...

    def anchor(self, read: Callable[[Any], Any], write: Callable[[Any, Any], None]) -> None: ...

    def finish(self, name: str) -> None: ...

    def alive(self, name: str) -> bool: ...


class Driver:
    """Base: the scenario, its network (initial weights) and its checked data."""

    #: whether backends follow optimizer conventions (then frameworks of another convention get
    #: a scratchnet twin); full-batch methods apply the same algorithm to every backend
    uses_conventions = False

    def __init__(self, scenario: Scenario, net: sn.MLP, X: np.ndarray, y: np.ndarray):
        self.scenario, self.net, self.X, self.y = scenario, net, X, y

    def problem(self) -> Problem:
        return Problem(self.net.spec(), self.net.params,
                       OptimizerSpec(self.scenario.optimizer["name"], self.scenario.optimizer_options))

    def build(self, name: str, convention: str | None) -> Any:
        """The lane object for backend `name` (following `convention` where it can choose)."""
        return reference.create(name, self.problem(), convention)

    def run(self, lanes: Lanes) -> None:
        raise NotImplementedError


class GradientDriver(Driver):
    uses_conventions = True

    def run(self, lanes: Lanes) -> None:
        scenario = self.scenario
        schedule = sn.data.batch_schedule(self.X.shape[0], scenario.run["batch_size"], scenario.steps,
                                          scenario.run["shuffle"], scenario.run["seed"])
        for step, indices in enumerate(schedule):
            if not lanes.lanes:
                return
            batch_X, batch_y = self.X[indices], self.y[indices]
            if lanes.mode == "anchored":
                lanes.anchor(lambda backend: backend.get_params(), lambda backend, params: backend.set_params(params))
            for name in list(lanes.lanes):
                ok, record = lanes.call(name, lanes.lanes[name].step, batch_X, batch_y)
                if ok:
                    lanes.push(name, step, record)


class MinimizeDriver(Driver):
    def problem(self) -> Problem:
        return Problem(self.net.spec(), self.net.params, OptimizerSpec("sgd", {"lr": 1.0}))  # the optimizer is scipy's

    def build(self, name: str, convention: str | None) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        backend = reference.create(name, self.problem())
        like, X, y = self.net.params, self.X, self.y

        def loss_and_grad_flat(theta: np.ndarray) -> tuple[float, np.ndarray]:
            loss, grads = backend.loss_and_grads(sn.params.unflatten(theta, like), X, y)
            return float(loss), sn.params.flatten(grads)
        return loss_and_grad_flat

    def run(self, lanes: Lanes) -> None:
        from reference import scipy_optim

        method, like = self.scenario.optimizer["name"], self.net.params
        x0 = sn.params.flatten(like)
        drivers = [lanes.reference] if lanes.mode == "anchored" else list(lanes.lanes)
        runs = lanes.extras.setdefault("runs", {})
        lanes.extras.update(method=method, scipy_version=scipy_optim.SCIPY_VERSION)
        for name in drivers:
            if not lanes.alive(name):
                continue
            followers = [other for other in lanes.lanes if other != name] if lanes.mode == "anchored" else []
            previous: list[Any] = []  # the last iterate seen; its record is pushed when the next x is known

            def on_record(iterate, name=name, followers=followers, previous=previous) -> None:
                if not lanes.alive(name):
                    raise LaneRetired(name)
                if previous:
                    self._push(lanes, name, previous.pop(), sn.params.unflatten(iterate.x, like))
                previous.append(iterate)
                for other in followers:  # anchored: the others at the reference's iterate
                    if lanes.alive(other):
                        ok, value = lanes.call(other, lanes.lanes[other], iterate.x.copy())
                        if ok:
                            loss, grad = value
                            lanes.push(other, iterate.iteration, StepRecord(
                                iterate.iteration, loss, sn.params.unflatten(grad, like), {},
                                extras=StepExtras(evaluations=iterate.nfev)))

            ok, trace = lanes.call(name, scipy_optim.run_minimize, method, lanes.lanes.get(name), x0,
                                   on_record=on_record, **dict(self.scenario.optimizer_options))
            if previous and lanes.alive(name):
                self._push(lanes, name, previous.pop(), {})
            if ok:
                runs[name] = {"iterations": len(trace.records) - 1, "nfev": int(trace.result.nfev),
                              "final_cost": float(trace.result.fun), "message": str(trace.result.message)}
            for lane in [name, *followers]:
                lanes.finish(lane)

    def _push(self, lanes: Lanes, name: str, iterate, params_after: dict[str, np.ndarray]) -> None:
        """Iterate k as a StepRecord: cost and gradient at x_k, `params_after` = x_{k+1} (empty
        for the last iterate, whose successor does not exist)."""
        lanes.push(name, iterate.iteration, StepRecord(
            iterate.iteration, iterate.cost, sn.params.unflatten(iterate.grad, self.net.params), params_after,
            extras=StepExtras(evaluations=iterate.nfev)))


class LevenbergMarquardtDriver(Driver):
    def __init__(self, scenario: Scenario, net: sn.MLP, X: np.ndarray, y: np.ndarray):
        super().__init__(scenario, net, X, y)
        self.lm = sn.optim.LevenbergMarquardt(**scenario.optimizer_options)

    def build(self, name: str, convention: str | None) -> Any:
        provider = reference.get(name).build_jacobian(self.problem(), self.X, self.y)
        return self.lm.start(provider.residuals_and_jacobian, sn.params.flatten(self.net.params),
                             provider.residuals, n_samples=self.X.shape[0])

    def run(self, lanes: Lanes) -> None:
        like = self.net.params
        lanes.extras.update(method="lm", lm_options=self.lm.options())
        for step in range(self.scenario.steps):
            if not lanes.lanes:
                break
            if lanes.mode == "anchored":
                lanes.anchor(lambda run: (run.theta.copy(), run.mu), _set_theta_and_mu)
            for name in list(lanes.lanes):
                ok, record = lanes.call(name, _epoch, lanes.lanes[name], step, like)
                if not ok:
                    continue
                if record is None:
                    lanes.finish(name)
                else:
                    lanes.push(name, step, record)
        self._least_squares_outcome(lanes)

    def _least_squares_outcome(self, lanes: Lanes) -> None:
        """scipy's MINPACK LM on scratchnet's problem, compared on outcome only."""
        import time

        from reference import scipy_optim

        problem = sn.lm.NetworkResiduals(self.net, self.X, self.y)
        started = time.perf_counter()
        try:
            trace = scipy_optim.least_squares_lm(problem.residuals, problem.residuals_and_jacobian, problem.x0)
        except ValueError as error:
            lanes.extras["least_squares_lm"] = {"error": str(error)}
            return
        r = problem.residuals(trace.result.x)
        lanes.extras["least_squares_lm"] = {
            "algorithm": "MINPACK trust-region LM (not trainlm's mu schedule): compared on outcome only",
            "final_mse": float(r @ r) / r.size, "iterations": len(trace.records), "nfev": int(trace.result.nfev),
            "njev": int(trace.result.njev or 0), "seconds": time.perf_counter() - started,
            "scipy_version": scipy_optim.SCIPY_VERSION,
        }


def _set_theta_and_mu(run: Any, anchor: tuple[np.ndarray, float]) -> None:
    theta, mu = anchor
    run.set_theta(theta)
    run.mu = mu


def _epoch(run: Any, step: int, like: dict[str, np.ndarray]) -> StepRecord | None:
    """One LM epoch as a StepRecord (None when the run has stopped on its own)."""
    loss = run.mse
    grad = 2.0 * (run.jacobian.T @ run.residual) / run.residual.size
    epoch = run.step()
    if epoch is None:
        return None
    return StepRecord(step, loss, sn.params.unflatten(grad, like), sn.params.unflatten(run.theta.copy(), like),
                      {"mu": np.float64(epoch.mu)},
                      StepExtras(loss_after=epoch.mse, mu=epoch.mu, accepted=epoch.accepted, rejected=epoch.rejected))


def for_scenario(scenario: Scenario, net: sn.MLP, X: np.ndarray, y: np.ndarray) -> Driver:
    """The driver of the scenario's optimizer."""
    name = scenario.optimizer["name"]
    if name in MINIMIZE_METHODS:
        return MinimizeDriver(scenario, net, X, y)
    if name in LM_METHODS:
        return LevenbergMarquardtDriver(scenario, net, X, y)
    return GradientDriver(scenario, net, X, y)
