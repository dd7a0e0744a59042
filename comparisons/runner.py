"""The lockstep runner: every backend steps on the same batch from the same weights.

Pairings. scratchnet follows the optimizer convention of the reference (torch's when the
reference is scratchnet). Every other backend is diffed against the reference. A framework
whose convention differs from the reference's (Keras against torch) is also diffed against a
scratchnet twin running *its* convention (`scratchnet[keras]`): that pairing is exact and
judged by the tolerance. The twin is diffed against scratchnet too, which measures the
convention gap itself; a framework-vs-reference row is labelled ``expected="convention"``
(reported with its size, not a failure) exactly when that measured gap at the same step,
quantity and parameter exceeds the tolerance.

Modes. ``free``: each backend trains on its own from the identical start. ``anchored``: before
every step each backend is given the reference's current weights, so gradient errors show at
the step and parameter where they happen and never compound (optimizer state stays each
backend's own).

Robustness. A backend that cannot be built or raises mid-run is recorded with its traceback
and dropped; the others continue. A backend whose loss, gradients or weights become NaN/Inf is
recorded (first non-finite step) and stops; the others continue. Ctrl-C ends the run early with
the records so far and `interrupted=True`.
"""
from __future__ import annotations

import platform
import sys
import time
import traceback
from importlib import metadata
from typing import Any, Callable

import numpy as np
import pandas as pd

import reference
import scratchnet as sn
from comparisons import catalog, conventions, scipy_runner
from comparisons.comparison import BackendFailure, Comparison, Divergence, describe_error
from comparisons.diff import DiffTable, compare_many
from comparisons.spec import Scenario, SpecError
from comparisons.tolerances import Tolerance
from reference.protocol import OptimizerSpec, Problem, StepRecord

_CONVENTION_OF = {"torch": "torch", "keras": "keras"}


def run(
    scenario: Scenario | str,
    tolerance: Tolerance | None = None,
    progress: Callable[[int, int], None] | None = None,
    **overrides: Any,
) -> Comparison:
    """Run a scenario (object, catalog name or path to a .toml spec) on its backends in lockstep.

    Overrides: backends, steps, mode, dtype, reference, seed, batch_size, shuffle.
    `tolerance` replaces the scenario's tolerance for this run; `progress(done, total)` is
    called after every step.
    """
    scenario = resolve(scenario).with_overrides(**overrides)
    return _Run(scenario, tolerance or scenario.tolerance(), progress).execute()


def resolve(scenario: Scenario | str) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, str):
        if scenario.endswith(".toml"):
            return Scenario.from_toml(scenario)
        return catalog.get(scenario)
    raise TypeError(f"scenario must be a Scenario, a catalog name or a .toml path, got {type(scenario).__name__}")


class _Run:
    def __init__(self, scenario: Scenario, tolerance: Tolerance, progress=None):
        self.progress = progress
        self.scenario = scenario
        self.tolerance = tolerance
        self.table = DiffTable()
        self.failures: dict[str, BackendFailure] = {}
        self.nonfinite: dict[str, int] = {}
        self.first_divergence: Divergence | None = None
        self.losses: dict[str, list[float]] = {}
        self.seconds: dict[str, float] = {}

    # ------------------------------------------------------------------ set-up
    def _data(self, net: sn.MLP):
        try:
            data = self.scenario.load_data()
        except (TypeError, ValueError, FileNotFoundError) as error:
            raise SpecError(f"data: {error}") from None
        n_in, n_out = self.scenario.network["sizes"][0], self.scenario.network["sizes"][-1]
        if data.X.shape[1] != n_in:
            raise SpecError(f"network.sizes[0] is {n_in} but data {data.name!r} has {data.X.shape[1]} features")
        if data.y.shape[1] != n_out:
            raise SpecError(f"network.sizes[-1] is {n_out} but data {data.name!r} has {data.y.shape[1]} target columns")
        batch_size = self.scenario.run["batch_size"]
        if batch_size is not None and batch_size > data.n_samples:
            raise SpecError(f"run.batch_size is {batch_size} but data {data.name!r} has only {data.n_samples} samples")
        try:
            X = net.check_inputs(data.X)
            y = net.check_targets(data.y, X.shape[0])
        except (TypeError, ValueError) as error:
            raise SpecError(f"data {data.name!r} does not fit the network: {error}") from None
        return X, y

    def _build(self, problem: Problem) -> dict[str, Any]:
        """Backends by display name, reference first; twins for frameworks of another convention."""
        scenario = self.scenario
        base = _CONVENTION_OF.get(scenario.reference, "torch")
        wanted: list[tuple[str, str, str | None]] = []  # (display name, backend, scratchnet convention)
        for name in [scenario.reference] + [b for b in scenario.backends if b != scenario.reference]:
            wanted.append((name, name, base if name == "scratchnet" else None))
        for name in scenario.backends:
            convention = _CONVENTION_OF.get(name)
            if convention and convention != base:
                wanted.append((f"scratchnet[{convention}]", "scratchnet", convention))
                if "scratchnet" not in scenario.backends:
                    wanted.append(("scratchnet", "scratchnet", base))
        built = {}
        for display, name, convention in wanted:
            started = time.perf_counter()
            try:
                built[display] = reference.create(name, problem, convention)
            except Exception as error:  # isolate: one backend's failure never loses the others
                self.failures[display] = BackendFailure(display, None, describe_error(error), traceback.format_exc())
            self.seconds[display] = time.perf_counter() - started
        return built

    def _pairs(self, built: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(checked, reference, kind) with kind "exact", "cross" (judged unless the convention gap explains it) or "gap"."""
        scenario = self.scenario
        base = _CONVENTION_OF.get(scenario.reference, "torch")
        pairs = []
        for name in built:
            if name == scenario.reference or name.startswith("scratchnet["):
                continue
            convention = _CONVENTION_OF.get(name, base)
            pairs.append((name, scenario.reference, "exact" if convention == base else "cross"))
            if convention != base:
                pairs.append((name, f"scratchnet[{convention}]", "exact"))
        for name in built:
            if name.startswith("scratchnet["):
                pairs.append((name, "scratchnet", "gap"))
        if scenario.reference != "scratchnet" and "scratchnet" not in scenario.backends:
            pairs = [p for p in pairs if p[0] != "scratchnet"]
        return pairs

    # ------------------------------------------------------------------ the loop
    def execute(self) -> Comparison:
        scenario = self.scenario
        net = scenario.build_network()
        X, y = self._data(net)
        if scenario.optimizer["name"] in scipy_runner.METHODS:
            return scipy_runner.execute(scenario, self.tolerance, X, y, net, self.progress,
                                        environment(scenario), conventions.in_play(scenario))
        problem = Problem(net.spec(), net.params, OptimizerSpec(scenario.optimizer["name"], scenario.optimizer_options))
        backends = self._build(problem)
        pairs = self._pairs(backends)
        loop_started = time.perf_counter()
        anchor_source = scenario.reference if scenario.reference in backends else next(iter(backends), None)
        steps_completed, interrupted = 0, False
        schedule = sn.data.batch_schedule(X.shape[0], scenario.run["batch_size"], scenario.steps,
                                          scenario.run["shuffle"], scenario.run["seed"])
        try:
            for step, indices in enumerate(schedule):
                if not backends:
                    break
                batch_X, batch_y = X[indices], y[indices]
                anchor = backends[anchor_source].get_params() if scenario.mode == "anchored" and anchor_source in backends else None
                records = {}
                for name in list(backends):
                    started = time.perf_counter()
                    try:
                        if anchor is not None and name != anchor_source:
                            backends[name].set_params(anchor)
                        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # NaN/Inf is recorded below
                            record = backends[name].step(batch_X, batch_y)
                    except Exception as error:
                        self.failures[name] = BackendFailure(name, step, describe_error(error), traceback.format_exc())
                        del backends[name]
                        continue
                    finally:
                        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                    records[name] = record
                    self.losses.setdefault(name, [np.nan] * step).append(record.loss)
                    if not _finite(record):
                        self.nonfinite[name] = step
                        del backends[name]
                self._diff(step, records, pairs)
                steps_completed = step + 1
                if self.progress is not None:
                    self.progress(steps_completed, scenario.steps)
        except KeyboardInterrupt:
            interrupted = True
        self.seconds["lockstep_loop"] = time.perf_counter() - loop_started
        for name, values in self.losses.items():
            values.extend([np.nan] * (steps_completed - len(values)))
        losses = pd.DataFrame({name: values[:steps_completed] for name, values in self.losses.items()})
        losses.index.name = "step"
        return Comparison(
            scenario=scenario, tolerance=self.tolerance, diffs=self.table.to_frame(), losses=losses,
            first_divergence=self.first_divergence, failures=self.failures, nonfinite=self.nonfinite,
            conventions=conventions.in_play(scenario), environment=environment(scenario),
            steps_completed=steps_completed, interrupted=interrupted, seconds=self.seconds,
        )

    def _diff(self, step: int, records: dict[str, StepRecord], pairs) -> None:
        gaps: dict[str, dict[tuple[str, str], bool]] = {}  # convention twin -> (quantity, param) -> gap beyond tolerance
        ordered = sorted(pairs, key=lambda p: p[2] != "gap")  # measure gaps first
        for checked, against, kind in ordered:
            if checked not in records or against not in records:
                continue
            quantities, names, lefts, rights = _quantities(records[checked], records[against])
            batch = compare_many(lefts, rights, self.tolerance)  # one vectorized pass per pairing
            keys = list(zip(quantities, names))
            if kind == "gap":
                gaps[checked] = dict(zip(keys, ~batch.passed))
                expected = ["convention"] * len(keys)
            elif kind == "cross":
                gap = gaps.get(f"scratchnet[{_CONVENTION_OF[checked]}]", {})
                expected = ["convention" if gap.get(key, False) else "" for key in keys]
            else:
                expected = [""] * len(keys)
            self.table.extend(step, checked, against, quantities, names, batch, expected)
            if self.first_divergence is None:
                failing = [i for i in np.flatnonzero(~batch.passed) if not expected[i]]
                if failing:
                    i = failing[0]
                    self._record_divergence(step, checked, against, quantities[i], names[i], lefts[i], rights[i], batch.row(i))

    def _record_divergence(self, step, checked, against, quantity, param, left, right, diff) -> None:
        index = tuple(int(i) for i in np.unravel_index(diff.index, np.shape(right))) if np.ndim(right) else ()
        self.first_divergence = Divergence(
            step, checked, against, quantity, param, index, (diff.value, diff.reference_value),
            diff.max_abs, diff.max_rel, diff.allowed, self.tolerance,
            np.array(left, copy=True), np.array(right, copy=True),
        )


def _quantities(a: StepRecord, b: StepRecord):
    """Parallel lists (quantity, param, checked tensor, reference tensor) over loss, gradients,
    weights and the optimizer state both records hold, in that order."""
    quantities, names, lefts, rights = ["loss"], ["loss"], [np.float64(a.loss)], [np.float64(b.loss)]
    for quantity, left, right in (("grad", a.grads, b.grads), ("param", a.params, b.params), ("state", a.state, b.state)):
        for name in right:
            if name in left:
                quantities.append(quantity)
                names.append(name)
                lefts.append(left[name])
                rights.append(right[name])
    return quantities, names, lefts, rights


def _finite(record: StepRecord) -> bool:
    """No NaN/Inf in the loss, gradients or weights. A finite sum proves every entry finite
    (one reduction, no temporary); only a non-finite sum needs the elementwise check, since a
    sum of large finite entries can overflow."""
    if not np.isfinite(record.loss):
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        return all(np.isfinite(v.sum()) or np.all(np.isfinite(v)) for group in (record.grads, record.params)
                   for v in group.values())


def environment(scenario: Scenario) -> dict[str, Any]:
    """Versions and settings needed to reproduce a run."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("numpy", "scipy", "pandas", "torch", "tensorflow-cpu", "tensorflow", "keras", "scratchnet-parity"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    versions["settings"] = {
        "TF_ENABLE_ONEDNN_OPTS": "0", "tf_op_determinism": True, "torch_optimizer_path": "single-tensor (foreach=False)",
        "keras_hyperparameters": "np.float64", "dtype": scenario.dtype, "seed": scenario.run["seed"],
    }
    return versions
