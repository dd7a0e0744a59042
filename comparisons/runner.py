"""The run pipeline: one runner for every training method.

A *driver* (`comparisons.drivers`: gradient steps, scipy minimize, Levenberg-Marquardt) advances
the backends one step at a time and hands over one `StepRecord` per backend per step. This
runner alone owns what is common to all of them:

* **lanes and pairings** from the backend registry: scratchnet follows the optimizer convention
  of the reference (torch's when the reference is scratchnet). Every other backend is diffed
  against the reference. A framework whose declared convention differs from the reference's
  (Keras against torch) is also diffed against a scratchnet twin running *its* convention
  (``scratchnet[keras]``): that pairing is exact and judged by the tolerance. The twin is
  diffed against scratchnet too, which measures the convention gap itself; a
  framework-vs-reference row (kind ``cross``) is labelled ``expected="convention"`` (reported
  with its size, not a failure) exactly when that measured gap at the same step, quantity and
  parameter exceeds the tolerance. Full-batch methods have no optimizer convention: every
  backend is diffed ``exact`` against the reference.
* **anchoring** (``anchored``: before every step each lane gets the reference's state, so
  gradient errors show at the step and parameter where they happen and never compound;
  optimizer state stays each backend's own) -- see each driver for what its state is;
* **isolation**: a backend that cannot be built or raises mid-run (its own code, or a record the
  comparison cannot read) is recorded with its traceback and retired; the others continue;
* **non-finite detection**: a lane whose loss, gradients or weights become NaN/Inf is recorded
  (first non-finite step) and retired;
* **diffing**: a step is diffed as soon as every live lane has pushed it (`comparisons.diff`,
  one tolerance policy, one call for every pairing), then its records are dropped. Records may
  hold views of the backends' live tensors (`reference.protocol`): a step is always diffed
  before any lane takes the next one (a lane retired mid-step completes the step at once), and
  records kept longer (the race's) are copies;
* **interruption**: Ctrl-C ends the run early with every step completed so far and
  ``interrupted=True`` (the report says INCOMPLETE, the CLI exits 130).
"""
from __future__ import annotations

import math
import time
import traceback
from typing import Any, Callable

import numpy as np
import pandas as pd

import reference
import scratchnet as sn
from comparisons import catalog, conventions, drivers, race
from comparisons.comparison import BackendFailure, Comparison, Divergence, describe_error
from comparisons.diff import DiffTable, compare_many
from comparisons.environment import environment
from comparisons.spec import Scenario, SpecError
from comparisons.tolerances import Tolerance
from reference.protocol import StepRecord


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


def run_until(scenario: Scenario, stop: Callable[[int, dict[str, StepRecord]], bool]) -> Comparison:
    """Run `scenario` until ``stop(step, records)`` holds after a step (or its steps run out)."""
    return _Run(scenario, scenario.tolerance(), stop=stop).execute()


def resolve(scenario: Scenario | str) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, str):
        if scenario.endswith(".toml"):
            return Scenario.from_toml(scenario)
        return catalog.get(scenario)
    raise TypeError(f"scenario must be a Scenario, a catalog name or a .toml path, got {type(scenario).__name__}")


class _Run:
    """One run of a scenario: the lanes (one backend each), the pairings, and the runner's
    services to the driver (`comparisons.drivers.Lanes`)."""

    def __init__(self, scenario: Scenario, tolerance: Tolerance, progress=None, stop=None):
        self.progress = progress
        self.stop = stop  # stop(step, records) -> True ends the run after that step (the race)
        self.scenario = scenario
        self.tolerance = tolerance
        self.mode = scenario.mode
        self.reference = scenario.reference
        self.table = DiffTable()
        self.failures: dict[str, BackendFailure] = {}
        self.nonfinite: dict[str, int] = {}
        self.first_divergence: Divergence | None = None
        self.losses: dict[str, dict[int, float]] = {}
        self.records: dict[str, list[StepRecord]] = {}  # kept only when `keep_records`
        self.keep_records: tuple[str, ...] = ()
        self.seconds: dict[str, float] = {}
        self.extras: dict[str, Any] = {}
        self.lanes: dict[str, Any] = {}
        self._pending: dict[int, dict[str, StepRecord]] = {}  # step -> lane -> record, until the step is complete
        self._awaiting: set[str] = set()  # lanes that will still push records
        self._next_step = 0
        self.divergence_snapshot: tuple[Any, Any] | None = None  # (lane, its snapshot) at user code's first divergence

    # ------------------------------------------------------------------ set-up
    def _data(self, net: sn.Network):
        """The data set checked against the network's input and output shapes."""
        try:
            data = self.scenario.load_data()
        except (TypeError, ValueError, FileNotFoundError) as error:
            raise SpecError(f"data: {error}") from None
        n_out = net.output_shape[0]
        sample = tuple(data.X.shape[1:])
        if isinstance(net, sn.MLP):
            if sample != net.input_shape:
                has = f"{sample[0]} features" if len(sample) == 1 else (
                    f"image samples of shape {list(sample)} (declare them with network.input_shape and layers)")
                raise SpecError(f"network.sizes[0] is {net.input_shape[0]} but data {data.name!r} has {has}")
            outputs = f"network.sizes[-1] is {n_out}"
        else:
            if sample != net.input_shape:
                hint = ""
                if int(np.prod(sample)) == int(np.prod(net.input_shape)):
                    hint = (" (the same number of values: for the digits set use data.as_images = true, or give the network "
                            f"input_shape = {list(sample)} and a flatten layer)")
                raise SpecError(f"network.input_shape is {list(net.input_shape)} but data {data.name!r} has samples of "
                                f"shape {list(sample)}{hint}")
            outputs = f"the network's last layer has {n_out} outputs"
        if data.y.shape[1] != n_out:
            raise SpecError(f"{outputs} but data {data.name!r} has {data.y.shape[1]} target columns")
        batch_size = self.scenario.run["batch_size"]
        if batch_size is not None and batch_size > data.n_samples:
            raise SpecError(f"run.batch_size is {batch_size} but data {data.name!r} has only {data.n_samples} samples")
        try:
            X = net.check_inputs(data.X)
            y = net.check_targets(data.y, X.shape[0])
        except (TypeError, ValueError) as error:
            raise SpecError(f"data {data.name!r} does not fit the network: {error}") from None
        return X, y

    def _wanted(self, driver: drivers.Driver) -> list[tuple[str, str, str | None, str]]:
        """(display name, backend, convention asked for, convention followed), reference first,
        then the scenario's other backends, then the convention twins a pairing needs. A
        framework whose declared convention makes bit-identical updates to the reference's for
        this optimizer (`conventions.coincide`, a dry run) follows the reference's: no twin."""
        scenario = self.scenario
        base = reference.get(scenario.reference).convention
        ordered = [scenario.reference] + [b for b in scenario.backends if b != scenario.reference]
        if not driver.uses_conventions:
            return [(name, name, None, base) for name in ordered]
        followed = {name: base if name == "scratchnet" else self._followed(name, base) for name in ordered}
        wanted = [(name, name, base if name == "scratchnet" else None, followed[name]) for name in ordered]
        for name in scenario.backends:
            if followed[name] != base:
                twin = reference.twin_name(followed[name])
                if twin not in [w[0] for w in wanted]:
                    wanted.append((twin, "scratchnet", followed[name], followed[name]))
                if "scratchnet" not in [w[0] for w in wanted]:
                    wanted.append(("scratchnet", "scratchnet", base, base))
        return wanted

    def _followed(self, name: str, base: str) -> str:
        """The convention backend `name` is paired by: its declared one, or the reference's when
        the two coincide for this scenario's optimizer (recorded in extras["twins_skipped"])."""
        declared = reference.get(name).convention
        scenario = self.scenario
        if declared == base or declared not in sn.optim.CONVENTIONS or not conventions.coincide(
                scenario.optimizer["name"], scenario.optimizer_options, base, declared, scenario.dtype) or not (
                conventions.layers_coincide(scenario.network, base, declared)):
            return declared
        self.extras.setdefault("twins_skipped", {})[name] = (
            f"scratchnet's {scenario.optimizer['name']} makes bit-identical updates in the {base} and {declared} "
            f"conventions for these options (dry run), so {name} is judged exactly against {scenario.reference} "
            f"without a scratchnet[{declared}] twin")
        return base

    def _build(self, driver: drivers.Driver) -> list[tuple[str, str, str]]:
        """Build every lane (isolated); return the pairings (checked, reference, kind).

        kind ``exact``: same convention as the reference; ``cross``: a framework of another
        convention against the reference (judged unless the measured gap explains it); ``gap``:
        a convention twin against scratchnet. A framework of another convention is also checked
        ``exact`` against its twin."""
        scenario = self.scenario
        wanted = self._wanted(driver)
        base = wanted[0][3]
        for display, name, convention, _ in wanted:
            started = time.perf_counter()
            try:
                self.lanes[display] = driver.build(name, convention)
            except Exception as error:  # isolate: one backend's failure never loses the others
                self.failures[display] = BackendFailure(display, None, describe_error(error), traceback.format_exc())
            self.seconds[display] = time.perf_counter() - started
        self._awaiting = set(self.lanes)
        followed = {display: follows for display, _, _, follows in wanted}
        twins = {display for display, name, convention, _ in wanted if display != name}
        shown = set(scenario.backends) | twins
        pairs = []
        for display, _, _, follows in wanted:
            if display == scenario.reference or display in twins or display not in shown:
                continue
            pairs.append((display, scenario.reference, "exact" if follows == base else "cross"))
            if follows != base:
                pairs.append((display, reference.twin_name(follows), "exact"))
        pairs += [(twin, "scratchnet", "gap") for twin in twins if followed[twin] != base]
        self.twin_of = {checked: against for checked, against, kind in pairs if kind == "exact" and against in twins}
        return pairs

    # ------------------------------------------------------------------ services to drivers
    def alive(self, name: str) -> bool:
        return name in self.lanes

    def call(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """fn(*args, **kwargs) for lane `name`, timed and isolated: an exception records the
        backend's failure (with its traceback) and retires the lane. Returns (ok, value)."""
        started = time.perf_counter()
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # NaN/Inf is recorded by push
                return True, fn(*args, **kwargs)
        except drivers.LaneRetired:
            return False, None
        except Exception as error:
            if self.alive(name):
                self.failures[name] = BackendFailure(name, self._next_step, describe_error(error), traceback.format_exc())
                self._retire(name)
                self._flush()  # the others' records of this step may be views their next step changes
            return False, None
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def anchor(self, read: Callable[[Any], Any], write: Callable[[Any, Any], None]) -> None:
        """Anchored mode: give every lane the reference lane's state (the first lane when the
        reference has failed)."""
        source = self.reference if self.alive(self.reference) else next(iter(self.lanes), None)
        if source is None:
            return
        ok, state = self.call(source, read, self.lanes[source])
        if not ok:
            return
        for name in list(self.lanes):
            if name != source:
                self.call(name, write, self.lanes[name], state)

    def push(self, name: str, step: int, record: StepRecord) -> None:
        """Take lane `name`'s record of `step`; retire the lane at its first NaN/Inf; diff every
        step that is now complete."""
        try:
            finite = _finite(record)
        except Exception as error:  # not a StepRecord of numbers: the backend's fault, isolated
            self.failures[name] = BackendFailure(name, step, describe_error(error), traceback.format_exc())
            self._retire(name)
            self._flush()
            return
        self._pending.setdefault(step, {})[name] = record
        self.losses.setdefault(name, {})[step] = np.nan if record.loss is None else float(record.loss)
        if name in self.keep_records:
            self.records.setdefault(name, []).append(record.copy())
        if not finite:
            self.nonfinite[name] = step
            self._retire(name)
        self._flush()

    def finish(self, name: str) -> None:
        """Lane `name` has ended on its own; later steps are diffed without it."""
        self._awaiting.discard(name)
        self._flush()

    def _retire(self, name: str) -> None:
        self.lanes.pop(name, None)
        self._awaiting.discard(name)

    def _flush(self) -> None:
        while self._next_step in self._pending:
            records = self._pending[self._next_step]
            if not self._awaiting <= set(records):
                return
            del self._pending[self._next_step]
            self._diff(self._next_step, records)
            self._next_step += 1
            if self.progress is not None:
                self.progress(self._next_step, self.scenario.steps)
            if self.stop is not None and self.stop(self._next_step - 1, records):
                raise _Stop

    # ------------------------------------------------------------------ the run
    def execute(self) -> Comparison:
        """Register the scenario's user backends for the run, then run it."""
        with reference.registry.temporarily(_user_backends(self.scenario)):
            return self._execute()

    def _execute(self) -> Comparison:
        scenario = self.scenario
        net = scenario.build_network()
        X, y = self._data(net)
        driver = drivers.for_scenario(scenario, net, X, y)
        self.pairs = self._build(driver)
        names = {name: lane.user_names for name, lane in self.lanes.items() if hasattr(lane, "user_names")}
        if names:
            self.extras["user_names"] = names
        if scenario.race and "scratchnet" in self.lanes:
            self.keep_records = ("scratchnet",)
        loop_started = time.perf_counter()
        interrupted = False
        try:
            driver.run(self)
            self._awaiting.clear()
            self._flush()
        except _Stop:
            pass
        except KeyboardInterrupt:
            interrupted = True  # every step that all lanes completed is kept; the step in progress is not
        self.seconds["lockstep_loop"] = time.perf_counter() - loop_started
        steps_completed = self._next_step
        if not driver.uses_conventions and not interrupted:
            self.extras["iterations"] = {name: len(values) for name, values in self.losses.items()}
            lengths = set(self.extras["iterations"].values())
            if scenario.mode == "free" and len(lengths) > 1:
                self.extras["note"] = (f"the free-running trajectories stopped after different numbers of iterations "
                                       f"{self.extras['iterations']}; each step compares the backends that reached it")
        diagnosis = None
        if self.divergence_snapshot is not None:
            lane, snapshot = self.divergence_snapshot
            diagnosis = self._diagnose(lane, snapshot)
        if scenario.race and not interrupted:
            self.extras["race"] = race.race(scenario, self.records.get("scratchnet"), self.seconds.get("scratchnet"))
        losses = pd.DataFrame({name: [values.get(step, np.nan) for step in range(steps_completed)]
                               for name, values in self.losses.items()})
        losses.index.name = "step"
        expected_steps = scenario.steps if driver.uses_conventions and self.stop is None else steps_completed
        return Comparison(
            scenario=scenario, tolerance=self.tolerance, diffs=self.table.to_frame(), losses=losses,
            first_divergence=self.first_divergence, failures=self.failures, nonfinite=self.nonfinite,
            conventions=conventions.in_play(scenario), environment=environment(scenario, self._used()),
            steps_completed=steps_completed, interrupted=interrupted, seconds=self.seconds,
            extras=self.extras, expected_steps=expected_steps, diagnosis=diagnosis,
        )

    def _diagnose(self, lane: Any, snapshot: Any) -> Any:
        """The backprop doctor at the first divergence of user code (None when it cannot run)."""
        try:
            return lane.diagnose_at(snapshot)
        except Exception as error:  # the diagnosis is an extra: its failure never loses the run
            self.extras["doctor_error"] = describe_error(error)
            return None

    def _used(self) -> list[str]:
        """Every backend the run built or tried to build (twins included)."""
        return [name for name in dict.fromkeys([*self.scenario.backends, *self.seconds]) if name != "lockstep_loop"]

    def _diff(self, step: int, records: dict[str, StepRecord]) -> None:
        """Diff every pairing of the step's records (one `compare_many` call for all of them),
        gap rows first: a cross row is expected where the gap at its key exceeds the tolerance."""
        pairings = [(pair, _quantities(records[pair[0]], records[pair[1]]))
                    for pair in sorted(self.pairs, key=lambda p: p[2] != "gap")  # measure gaps first
                    if pair[0] in records and pair[1] in records]
        everything = compare_many([left for _, part in pairings for left in part[2]],
                                  [right for _, part in pairings for right in part[3]], self.tolerance)
        gaps: dict[str, dict[tuple[str, str], bool]] = {}  # convention twin -> (quantity, param) -> gap beyond tolerance
        offset = 0
        for (checked, against, kind), (quantities, names, lefts, rights) in pairings:
            batch = everything.rows(slice(offset, offset + len(names)))
            offset += len(names)
            keys = list(zip(quantities, names))
            if kind == "gap":
                gaps[checked] = dict(zip(keys, ~batch.passed))
                expected = ["convention"] * len(keys)
            elif kind == "cross":
                gap = gaps.get(self.twin_of.get(checked, ""), {})
                expected = ["convention" if gap.get(key, False) else "" for key in keys]
            else:
                expected = [""] * len(keys)
            self.table.extend(step, checked, against, kind, quantities, names, batch, expected)
            if self.first_divergence is None:
                failing = [i for i in np.flatnonzero(~batch.passed) if not expected[i]]
                if failing:
                    i = failing[0]
                    self._record_divergence(step, checked, against, quantities[i], names[i], lefts[i], rights[i], batch.row(i))

    def _record_divergence(self, step, checked, against, quantity, param, left, right, diff) -> None:
        lane = self.lanes.get(checked)
        if hasattr(lane, "snapshot"):  # user code: keep its weights and batch for the doctor
            self.divergence_snapshot = (lane, lane.snapshot())
        index = (tuple(int(i) for i in np.unravel_index(diff.index, np.shape(right)))
                 if np.ndim(right) and not diff.finding else ())
        self.first_divergence = Divergence(
            step, checked, against, quantity, param, index, (diff.value, diff.reference_value),
            diff.max_abs, diff.max_rel, diff.allowed, self.tolerance,
            np.array(left, copy=True), np.array(right, copy=True), diff.mismatched, diff.size, diff.finding,
            getattr(lane, "user_names", {}).get(param, ""),
        )


def _user_backends(scenario: Scenario) -> list[reference.BackendInfo]:
    """Registry entries for the scenario's user backends. Their code is loaded here, so a
    missing file or attribute, or an import that raises, is a SpecError (CLI exit 2)."""
    from comparisons.user_backend import UserBackend

    infos = []
    for name, user in scenario.user.items():
        try:
            target = user.load()
        except ValueError as error:
            raise SpecError(str(error)) from None
        base = reference.get(scenario.reference).convention if scenario.reference in reference.names() else "torch"
        convention = user.convention or base

        def factory(problem, convention=convention, user=user, target=target):
            return UserBackend(problem, user, convention, target)
        infos.append(reference.BackendInfo(
            name, convention, factory, settings={"user_code": str(getattr(user.code, "__qualname__", user.code)),
                                                 "kind": user.kind, "samples_as_columns": user.samples_as_columns},
            description=f"user code ({user.kind})"))
    return infos


class _Stop(BaseException):
    """The run's stop condition held. Not an error, and not an `Exception`, so that no
    isolation handler mistakes it for a backend's failure."""


def _quantities(a: StepRecord, b: StepRecord):
    """Parallel lists (quantity, param, checked tensor, reference tensor) over loss, gradients,
    weights and optimizer state, in that order. A record provides a quantity unless it is None
    (a loss) or empty (gradients of update-only user code, weights of a provider evaluated at
    another backend's iterate). Where both provide gradients or weights, every reference tensor
    is compared (one missing from `a` becomes a finding: None); state where both name the same
    slot (frameworks name their slots differently)."""
    quantities, names, lefts, rights = [], [], [], []
    if a.loss is not None and b.loss is not None:
        quantities, names, lefts, rights = ["loss"], ["loss"], [np.float64(a.loss)], [np.float64(b.loss)]
    for quantity, left, right in (("grad", a.grads, b.grads), ("param", a.params, b.params), ("state", a.state, b.state)):
        if quantity in ("grad", "param") and not (left and right):
            continue
        for name in right:
            if name in left or quantity != "state":
                quantities.append(quantity)
                names.append(name)
                lefts.append(left.get(name))
                rights.append(right[name])
    return quantities, names, lefts, rights


def _finite(record: StepRecord) -> bool:
    """No NaN/Inf in the loss, gradients or weights. A finite total of the tensors' sums proves
    every entry finite (one reduction per tensor, no temporary: a NaN or infinite entry makes
    its tensor's sum, and so the total, NaN or infinite); only a non-finite total needs the
    elementwise check, since a sum of large finite entries can overflow."""
    if record.loss is not None and not math.isfinite(float(record.loss)):
        return False
    tensors = [*record.grads.values(), *record.params.values()]
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(sum(float(np.add.reduce(v, axis=None)) for v in tensors)):
            return True
        return all(np.all(np.isfinite(v)) for v in tensors)
