"""Full-batch comparisons driven by scipy.optimize (TNC, L-BFGS-B, CG) and Levenberg-Marquardt.

A step is one optimizer iteration. Records use the same tidy diff table as the lockstep runner:

* ``tnc`` / ``lbfgs`` / ``cg``: every backend is a *gradient provider* (its `loss_and_grads`
  on the full batch, flattened in canonical order). free: each provider drives its own
  ``minimize`` from the identical x0 (TNC scales by 1 + |x0|, so the same bits matter) and
  iteration k is diffed (cost and gradient at x_k, parameters x_{k+1}). anchored: only the
  reference drives scipy; every provider is evaluated at the reference's iterates, so gradient
  errors show without trajectory chaos.
* ``lm``: scratchnet's Levenberg-Marquardt (trainlm rule) fed by scratchnet's Jacobian and by
  torch autograd's (`torch.func.jacrev`); step = epoch; loss = mse, grad = d mse / d theta
  (2 Jᵀr / N), state = mu. anchored: each epoch the torch run is given the reference's theta
  and mu. scipy's ``least_squares(method="lm")`` (MINPACK: a different algorithm) runs on the
  same problem and is compared on final error, iterations and evaluations only.

A ``[race]`` table (goal, metric "mse" or "loss", gd_lr, max_epochs) also times full-batch
gradient descent from the same weights to the same goal.
"""
from __future__ import annotations

import time
import traceback
from typing import Any, Callable

import numpy as np
import pandas as pd

import reference
import scratchnet as sn
from comparisons.comparison import BackendFailure, Comparison, Divergence, describe_error
from comparisons.diff import DiffTable, compare
from comparisons.spec import Scenario
from comparisons.tolerances import Tolerance
from reference.protocol import OptimizerSpec, Problem

MINIMIZE_METHODS = ("tnc", "lbfgs", "cg")
METHODS = (*MINIMIZE_METHODS, "lm")


def execute(scenario: Scenario, tolerance: Tolerance, X: np.ndarray, y: np.ndarray, net: sn.MLP,
            progress: Callable[[int, int], None] | None, environment: dict, conventions: list) -> Comparison:
    """Run a scipy/LM scenario on checked full-batch data; see the module docstring."""
    table = DiffTable()
    failures: dict[str, BackendFailure] = {}
    histories: dict[str, list[dict[str, Any]]] = {}
    seconds: dict[str, float] = {}
    method = scenario.optimizer["name"]
    options = scenario.optimizer_options
    x0 = sn.params.flatten(net.params)
    try:
        if method == "lm":
            histories, extras = _lm_histories(scenario, X, y, net, x0, options, failures, seconds)
        else:
            histories, extras = _minimize_histories(scenario, X, y, net, x0, method, options, failures, seconds)
    except KeyboardInterrupt:
        histories, extras = {}, {}
    first_divergence = None
    lengths = {name: len(history) for name, history in histories.items()}
    steps = min(min(lengths.values(), default=0), scenario.steps)
    ref = scenario.reference
    for step in range(steps):
        for name, history in histories.items():
            if name == ref or ref not in histories:
                continue
            a, b = history[step], histories[ref][step]
            for quantity, param, left, right in _quantities(a, b, net.params):
                diff = compare(left, right, tolerance)
                table.append(step, name, ref, quantity, param, diff)
                if not diff.passed and first_divergence is None:
                    index = tuple(int(i) for i in np.unravel_index(diff.index, np.shape(right))) if np.ndim(right) else ()
                    first_divergence = Divergence(step, name, ref, quantity, param, index, (diff.value, diff.reference_value),
                                                  diff.max_abs, diff.max_rel, diff.allowed, tolerance,
                                                  np.array(left, copy=True), np.array(right, copy=True))
        if progress is not None:
            progress(step + 1, steps)
    extras["iterations"] = lengths
    if scenario.mode == "free" and len(set(lengths.values())) > 1:
        extras["note"] = (f"the free-running trajectories stopped after different numbers of iterations {lengths}; "
                          f"the first {steps} are compared")
    if scenario.race:
        extras["race"] = _race(scenario, X, y, net, histories.get("scratchnet"), seconds.get("scratchnet"))
    longest = max(lengths.values(), default=0)
    losses = pd.DataFrame({name: [h["loss"] for h in history] + [np.nan] * (longest - len(history))
                           for name, history in histories.items()})
    losses.index.name = "step"
    return Comparison(
        scenario=scenario, tolerance=tolerance, diffs=table.to_frame(), losses=losses,
        first_divergence=first_divergence, failures=failures, nonfinite={}, conventions=conventions,
        environment=environment, steps_completed=steps, interrupted=False, seconds=seconds,
        extras=extras, expected_steps=steps,
    )


def _quantities(a: dict, b: dict, like: dict):
    yield "loss", "loss", np.float64(a["loss"]), np.float64(b["loss"])
    for label, key in (("grad", "grad"), ("param", "x_next")):
        if a.get(key) is not None and b.get(key) is not None:
            left, right = sn.params.unflatten(a[key], like), sn.params.unflatten(b[key], like)
            for name in like:
                yield label, name, left[name], right[name]
    if "mu" in a and "mu" in b:
        yield "state", "mu", np.float64(a["mu"]), np.float64(b["mu"])


# ---------------------------------------------------------------------- TNC, L-BFGS-B, CG
def _minimize_histories(scenario, X, y, net, x0, method, options, failures, seconds):
    from reference import scipy_optim

    problem = Problem(net.spec(), net.params, OptimizerSpec("sgd", {"lr": 1.0}))  # optimizer unused here
    providers = {}
    for name in scenario.backends:
        try:
            backend = reference.create(name, problem)
        except Exception as error:
            failures[name] = BackendFailure(name, None, describe_error(error), traceback.format_exc())
            continue
        providers[name] = _flat_provider(backend, net.params, X, y)
    histories, extras = {}, {"method": method, "scipy_version": scipy_optim.SCIPY_VERSION}
    drivers = [scenario.reference] if scenario.mode == "anchored" else list(providers)
    traces = {}
    for name in drivers:
        if name not in providers:
            continue
        started = time.perf_counter()
        try:
            traces[name] = scipy_optim.run_minimize(method, providers[name], x0, **dict(options))
        except Exception as error:
            failures[name] = BackendFailure(name, None, describe_error(error), traceback.format_exc())
        seconds[name] = time.perf_counter() - started
    if scenario.mode == "anchored" and scenario.reference in traces:
        records = traces[scenario.reference].records
        points = [record.x for record in records]
        for name, provider in providers.items():
            history = []
            for k, x in enumerate(points):
                cost, grad = provider(x)
                history.append({"loss": cost, "grad": grad, "nfev": records[k].nfev,
                                "x_next": points[k + 1] if k + 1 < len(points) else None})
            histories[name] = history
    else:
        for name, trace in traces.items():
            records = trace.records
            histories[name] = [{"loss": r.cost, "grad": r.grad, "nfev": r.nfev,
                                "x_next": records[k + 1].x if k + 1 < len(records) else None}
                               for k, r in enumerate(records)]
    extras["runs"] = {name: {"iterations": len(t.records) - 1, "nfev": int(t.result.nfev), "final_cost": float(t.result.fun),
                             "message": str(t.result.message)} for name, t in traces.items()}
    return histories, extras


def _flat_provider(backend, like, X, y):
    def loss_and_grad_flat(theta):
        loss, grads = backend.loss_and_grads(sn.params.unflatten(theta, like), X, y)
        return float(loss), sn.params.flatten(grads)
    return loss_and_grad_flat


# ---------------------------------------------------------------------- Levenberg-Marquardt
def _lm_histories(scenario, X, y, net, x0, options, failures, seconds):
    from reference import scipy_optim

    lm = sn.optim.LevenbergMarquardt(**options)
    jacobians = {}
    for name in scenario.backends:
        try:
            if name == "scratchnet":
                problem = sn.lm.NetworkResiduals(net, X, y)
                jacobians[name] = (problem.residuals_and_jacobian, problem.residuals)
            else:
                from reference.torch_jacobian import TorchFlatNetwork

                flat = TorchFlatNetwork(net.spec(), X, y)
                jacobians[name] = (flat.residuals_and_jacobian, flat.residuals)
        except Exception as error:
            failures[name] = BackendFailure(name, None, describe_error(error), traceback.format_exc())
    runs = {name: lm.start(jac, x0, res, n_samples=X.shape[0]) for name, (jac, res) in jacobians.items()}
    histories: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    ref = scenario.reference
    for name in runs:
        seconds[name] = 0.0
    while runs:
        if scenario.mode == "anchored" and ref in runs:
            for name, run in runs.items():
                if name != ref:
                    run.mu = runs[ref].mu
                    run.set_theta(runs[ref].theta)
        for name in list(runs):
            run = runs[name]
            started = time.perf_counter()
            before = {"loss": run.mse, "grad": 2.0 * (run.jacobian.T @ run.residual) / run.residual.size}
            record = run.step()
            seconds[name] += time.perf_counter() - started
            if record is None:
                del runs[name]
                continue
            histories[name].append({**before, "x_next": run.theta.copy(), "mu": record.mu, "loss_after": record.mse,
                                    "accepted": record.accepted, "rejected": record.rejected})
        if any(len(h) >= scenario.steps for h in histories.values()):
            break
    extras: dict[str, Any] = {"method": "lm", "lm_options": lm.options()}
    for name, history in histories.items():
        extras.setdefault("runs", {})[name] = {
            "epochs": len(history), "final_mse": history[-1]["loss_after"] if history else None,
            "mu_sequence_head": [h["mu"] for h in history[:10]],
        }
    if "scratchnet" in jacobians:
        jac, res = jacobians["scratchnet"]
        started = time.perf_counter()
        try:
            trace = scipy_optim.least_squares_lm(res, jac, x0)
            r = res(trace.result.x)
            extras["least_squares_lm"] = {
                "algorithm": "MINPACK trust-region LM (not trainlm's mu schedule): compared on outcome only",
                "final_mse": float(r @ r) / r.size, "iterations": len(trace.records), "nfev": int(trace.result.nfev),
                "njev": int(trace.result.njev or 0), "seconds": time.perf_counter() - started,
                "scipy_version": scipy_optim.SCIPY_VERSION,
            }
        except ValueError as error:
            extras["least_squares_lm"] = {"error": str(error)}
    return histories, extras


# ---------------------------------------------------------------------- race against plain GD
def _race(scenario, X, y, net, history, optimizer_seconds) -> dict[str, Any]:
    race = scenario.race
    goal, metric = race["goal"], race.get("metric", "mse")
    rows = []
    if history:
        # iterations needed: TNC-style histories hold the loss at x_k (k iterations done); LM's
        # also hold the mse after epoch k (k + 1 epochs done)
        after = [h.get("loss_after") for h in history]
        if after[0] is not None:
            reached = next((k + 1 for k, value in enumerate(after) if value <= goal), None)
            final = after[-1]
        else:
            reached = next((k for k, h in enumerate(history) if h["loss"] <= goal), None)
            final = history[-1]["loss"]
        evaluations = history[reached].get("nfev") if reached is not None and reached < len(history) else None
        rows.append({"method": f"{scenario.optimizer['name']} (scratchnet)", "reached": reached is not None,
                     "epochs": reached, "function_evaluations": evaluations, "seconds_total": optimizer_seconds,
                     "final": final})
    gd_net = net.copy()
    optimizer = sn.optim.SGD(lr=race["gd_lr"])
    started, reached, value = time.perf_counter(), None, np.inf
    for epoch in range(int(race.get("max_epochs", 20000))):
        loss, grads = gd_net.loss_and_grads_checked(X, y, gd_net.params)
        value = float(np.mean((gd_net.forward(X)[1][-1] - y) ** 2)) if metric == "mse" else loss
        if value <= goal:
            reached = epoch
            break
        optimizer.step(gd_net.params, grads)
    rows.append({"method": f"gradient descent lr={race['gd_lr']} (scratchnet)", "reached": reached is not None,
                 "epochs": reached, "function_evaluations": None if reached is None else reached + 1,
                 "seconds_total": time.perf_counter() - started, "final": value})
    return {"goal": goal, "metric": metric, "rows": rows}
