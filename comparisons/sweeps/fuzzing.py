"""Differential fuzzing: random scenarios over the supported space, drawn with Hypothesis
strategies, run like a sweep, and every unexplained disagreement shrunk to a minimal scenario.

**Generation.** `scenarios(space)` is a Hypothesis strategy of valid scenario specs: a task
(regression, binary or multi-class classification, on the generated data sets), an architecture
(1 to `max_layers` dense layers, hidden units, activations with their options, bias,
initializer), a loss with its reduction, scale and L2, an optimizer with its hyperparameters
(options left out on purpose too, so each framework's defaults meet), dtype, mode, batch size,
shuffling, seed and steps. `generate(budget, seed)` draws `budget` distinct scenarios, always the
same ones for the same seed and space: Hypothesis runs with that seed, no example database and
the generation phase only, and the specs are collected in order (duplicates dropped, further
rounds with seed+1, ... until the budget is met).

**Running.** The scenarios run on the sweep's executors (serial, local pool, Dask) into the same
folder layout (rows.jsonl, sweep.csv, report); a fuzz run resumes like a sweep.

**Shrinking.** For each pairing with an unexplained row (up to `shrink` pairings, the first
scenario of each), `shrink` repeatedly tries simpler variants of the scenario -- drop hidden
layers (or all of them, keeping one layer per activation in play), fewer units, a hidden
activation made linear, the optimizer made plain SGD or one option dropped, the loss made
squared error with mean reduction, scale 1 and no L2, fewer steps, full batch, no shuffling,
anchored, float64, seed 0, fewer samples and features, the default initializer -- runs each
round's candidates in parallel on the executor, and keeps the *simplest* (lowest `cost`) that
still shows an unexplained row for the same pairing, until no candidate does. Each accepted step
lowers `cost`, so it ends. Hypothesis' own shrinker is not used: it replays one example at a
time in this process, while these candidates are whole training runs best run in parallel, and a
scenario found by the pool cannot be handed back to it through its public API. The result is
written as ``minimal/<name>.toml``, which `parity run` reproduces.
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from comparisons.spec import Scenario, SpecError
from comparisons.sweeps import worker
from comparisons.sweeps.grid import Point, scenario_id

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "linear")
REGRESSION_OUTPUTS = ("linear", "tanh", "sigmoid", "softplus")
INITIALIZERS: tuple[Any, ...] = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "torch_default",
                                 {"name": "uniform", "a": -0.5, "b": 0.5}, {"name": "normal", "std": 0.3})
LEARNING_RATES = {"sgd": (0.01, 0.05, 0.1, 0.3), "adam": (0.001, 0.005, 0.02), "adamw": (0.001, 0.005, 0.02),
                  "rmsprop": (0.001, 0.005, 0.02), "adagrad": (0.01, 0.05, 0.2)}


@dataclass(frozen=True)
class FuzzSpace:
    """The part of the supported space fuzzing draws from."""

    backends: tuple[str, ...] = ("scratchnet", "torch", "keras")
    reference: str | None = None  # None: torch when listed, else the first backend
    max_layers: int = 3
    max_units: int = 5
    max_features: int = 4
    max_samples: int = 24
    max_steps: int = 4
    dtypes: tuple[str, ...] = ("float64", "float32")
    modes: tuple[str, ...] = ("anchored", "free")
    optimizers: tuple[str, ...] = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
    hidden_activations: tuple[str, ...] = HIDDEN_ACTIVATIONS
    tasks: tuple[str, ...] = ("regression", "binary", "multiclass")

    @property
    def chosen_reference(self) -> str:
        return self.reference or ("torch" if "torch" in self.backends else self.backends[0])


def scenarios(space: FuzzSpace = FuzzSpace()):
    """A Hypothesis strategy of scenario specs (plain dicts, valid by construction)."""
    from hypothesis import strategies as st

    @st.composite
    def draw_scenario(draw) -> dict[str, Any]:
        task = draw(st.sampled_from(space.tasks))
        n_features = draw(st.integers(1, space.max_features))
        n_samples = draw(st.integers(4, space.max_samples))
        layers = draw(st.integers(1, space.max_layers))
        hidden = [draw(st.integers(1, space.max_units)) for _ in range(layers - 1)]
        activations: list[Any] = [draw(_activation(st, space.hidden_activations)) for _ in hidden]
        data: dict[str, Any] = {"n_samples": n_samples, "n_features": n_features, "seed": draw(st.integers(0, 3))}
        if task == "regression":
            outputs = draw(st.integers(1, 2))
            data.update(name="regression", n_outputs=outputs)
            activations.append(draw(st.sampled_from(REGRESSION_OUTPUTS)))
            loss = "squared_error"
        elif task == "binary":
            outputs = 1
            data.update(name="classification", n_classes=2)
            activations.append("sigmoid")
            loss = draw(st.sampled_from(("binary_cross_entropy", "squared_error")))
        else:
            outputs = draw(st.integers(3, 4))
            data.update(name="classification", n_classes=outputs)
            last = draw(st.sampled_from(("softmax", "sigmoid")))
            activations.append(last)
            choices = ("categorical_cross_entropy", "squared_error") if last == "softmax" else (
                "binary_cross_entropy", "squared_error")
            loss = draw(st.sampled_from(choices))
        spec = {
            "network": {"sizes": [n_features, *hidden, outputs], "activations": activations,
                        "init": copy.deepcopy(draw(st.sampled_from(INITIALIZERS))), "bias": draw(st.booleans())},
            "loss": {"name": loss, "reduction": draw(st.sampled_from(("mean", "sum", "batch_mean"))),
                     "scale": draw(st.sampled_from((1.0, 0.5))), "l2": draw(st.sampled_from((0.0, 0.0, 1e-3)))},
            "optimizer": draw(_optimizer(st, space.optimizers)),
            "data": data,
            "run": {"steps": draw(st.integers(1, space.max_steps)),
                    "batch_size": draw(st.one_of(st.none(), st.integers(1, n_samples))),
                    "shuffle": draw(st.booleans()), "dtype": draw(st.sampled_from(space.dtypes)),
                    "seed": draw(st.integers(0, 3)), "mode": draw(st.sampled_from(space.modes)),
                    "backends": list(space.backends), "reference": space.chosen_reference},
        }
        return spec

    return draw_scenario()


def _activation(st, names: Sequence[str]):
    def with_options(name: str):
        if name == "leaky_relu":
            return st.sampled_from(("leaky_relu", {"name": "leaky_relu", "negative_slope": 0.1}))
        if name == "elu":
            return st.sampled_from(("elu", {"name": "elu", "alpha": 0.5}))
        return st.just(name)

    return st.sampled_from(tuple(names)).flatmap(with_options)


def _optimizer(st, names: Sequence[str]):
    maybe = lambda values: st.one_of(st.none(), st.sampled_from(values))  # noqa: E731  (None: left out)

    @st.composite
    def draw_optimizer(draw) -> dict[str, Any]:
        name = draw(st.sampled_from(tuple(names)))
        options: dict[str, Any] = {"name": name, "lr": draw(st.sampled_from(LEARNING_RATES[name]))}
        extra: dict[str, Any] = {}
        if name == "sgd":
            momentum = draw(maybe((0.5, 0.9)))
            extra["momentum"] = momentum
            if momentum:
                extra["nesterov"] = draw(st.booleans())
        elif name in ("adam", "adamw"):
            extra.update(beta_1=draw(maybe((0.8, 0.9))), beta_2=draw(maybe((0.99, 0.999))),
                         epsilon=draw(maybe((1e-8, 1e-7, 0.0))), amsgrad=draw(maybe((True, False))))
        elif name == "rmsprop":
            extra.update(rho=draw(maybe((0.9, 0.99))), epsilon=draw(maybe((1e-8, 1e-7))),
                         momentum=draw(maybe((0.0, 0.5))), centered=draw(maybe((True, False))))
        else:
            extra.update(initial_accumulator_value=draw(maybe((0.0, 0.1))), epsilon=draw(maybe((1e-10, 1e-7))))
        extra["weight_decay"] = draw(maybe((1e-3,)))
        options.update({k: v for k, v in extra.items() if v is not None})
        return options

    return draw_optimizer()


#: the first problem of each draw the scenario spec refused in this process (the strategy is wider
#: than what the spec accepts, e.g. an option one registered convention lacks); for diagnosis
REFUSED: list[str] = []


def generate(budget: int, seed: int = 0, space: FuzzSpace = FuzzSpace(), name: str = "fuzz",
             max_rounds: int = 8) -> list[Point]:
    """`budget` distinct valid scenarios (fewer only if the space is smaller), the same for the
    same seed and space. A draw the scenario spec refuses is skipped (recorded in `REFUSED`)."""
    try:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as hypothesis_seed
    except ImportError as error:  # pragma: no cover - the sweep extra installs it
        raise ImportError("fuzzing needs Hypothesis: pip install 'scratchnet-parity[sweep]' -c constraints.txt") from error
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    strategy = scenarios(space)
    specs: dict[str, dict[str, Any]] = {}
    refused: dict[str, int] = {}
    for round_ in range(max_rounds):
        drawn: list[dict[str, Any]] = []

        @hypothesis_seed(seed + round_)
        @settings(max_examples=budget, database=None, phases=[Phase.generate], deadline=None, derandomize=False,
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
        @given(strategy)
        def collect(spec):
            drawn.append(spec)

        collect()
        for spec in drawn:
            key = scenario_id(spec)
            if key in specs or key in refused:
                continue
            try:  # the spec is the judge of the supported space (it may be narrower than the strategy)
                Scenario.from_dict({"name": "draw", **spec})
            except SpecError as error:
                refused[key] = 1
                REFUSED.append(error.problems[0])
                continue
            specs[key] = spec
            if len(specs) == budget:
                break
        if len(specs) >= budget:
            break
    if not specs:
        raise SpecError(["fuzz: the scenario spec refused every generated scenario; the first: "
                         f"{REFUSED[-len(refused)] if refused else 'nothing was generated'}"])
    width = len(str(budget - 1))
    points = []
    for index, spec in enumerate(list(specs.values())[:budget]):
        point_name = f"{name}-{index:0{width}d}"
        raw = {"name": point_name, "description": f"fuzz seed {seed}, scenario {index}", **spec}
        points.append(Point(index, point_name, Scenario.from_dict(raw).to_dict()))
    return points


# ---------------------------------------------------------------------- shrinking
def cost(spec: Mapping[str, Any]) -> float:
    """How complicated a scenario is; every shrinking step lowers it."""
    network, loss, optimizer, run, data = (spec.get(k) or {} for k in ("network", "loss", "optimizer", "run", "data"))
    sizes, activations = list(network.get("sizes") or []), list(network.get("activations") or [])
    hidden = sizes[1:-1]
    total = 10.0 * max(len(sizes) - 2, 0) + sum(hidden) + (sizes[0] - 1 if sizes else 0) + (sizes[-1] - 1 if sizes else 0)
    total += sum(1 for a in activations[:-1] if (a if isinstance(a, str) else a.get("name")) != "linear")
    total += sum(1 for a in activations if not isinstance(a, str))
    total += 3 * (optimizer.get("name") != "sgd") + len([k for k in optimizer if k not in ("name", "lr")])
    total += (loss.get("name") != "squared_error") + (loss.get("reduction") != "mean") + (loss.get("scale", 1.0) != 1.0)
    total += (loss.get("l2", 0.0) != 0.0)
    total += (run.get("steps", 1) - 1) + (run.get("batch_size") is not None) + bool(run.get("shuffle"))
    total += (run.get("mode") != "anchored") + (run.get("dtype") != "float64") + (run.get("seed", 0) != 0)
    total += (network.get("init") != "glorot_uniform") + (not network.get("bias", True))
    total += 0.1 * data.get("n_samples", 0) + (data.get("seed", 0) != 0)
    return total


def candidates(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Simpler variants of `spec` (not yet validated), most aggressive first."""
    out: list[dict[str, Any]] = []

    def variant(change: Callable[[dict[str, Any]], None]) -> None:
        new = copy.deepcopy(dict(spec))
        change(new)
        out.append(new)

    network = spec["network"]
    sizes, activations = list(network["sizes"]), list(network["activations"])
    if len(sizes) > 2:
        for activation in dict.fromkeys(map(_plain_name, activations)):  # one layer with each activation in play
            def single(s, a=activation):
                s["network"]["sizes"] = [sizes[0], sizes[-1]]
                s["network"]["activations"] = [a if a != _plain_name(activations[-1]) else activations[-1]]
            variant(single)
        for i in range(len(sizes) - 2):  # drop hidden layer i
            def drop(s, i=i):
                del s["network"]["sizes"][i + 1]
                del s["network"]["activations"][i]
            variant(drop)
        for i, units in enumerate(sizes[1:-1]):
            for fewer in sorted({1, units // 2} - {units, 0}):
                variant(lambda s, i=i, fewer=fewer: s["network"]["sizes"].__setitem__(i + 1, fewer))
    for i, activation in enumerate(activations):
        if not isinstance(activation, str):
            variant(lambda s, i=i: s["network"]["activations"].__setitem__(i, _plain_name(activations[i])))
        if i < len(activations) - 1 and _plain_name(activation) != "linear":
            variant(lambda s, i=i: s["network"]["activations"].__setitem__(i, "linear"))
    optimizer = spec["optimizer"]
    if optimizer["name"] != "sgd":
        variant(lambda s: s.__setitem__("optimizer", {"name": "sgd", "lr": optimizer.get("lr", 0.1)}))
    for key in optimizer:
        if key not in ("name", "lr"):
            variant(lambda s, key=key: s["optimizer"].pop(key))
    loss = spec["loss"]
    for key, plain in (("name", "squared_error"), ("reduction", "mean"), ("scale", 1.0), ("l2", 0.0)):
        if loss.get(key) != plain:
            variant(lambda s, key=key, plain=plain: s["loss"].__setitem__(key, plain))
    run = spec["run"]
    if run["steps"] > 1:
        variant(lambda s: s["run"].__setitem__("steps", 1))
        if run["steps"] > 2:
            variant(lambda s: s["run"].__setitem__("steps", run["steps"] // 2))
    for key, plain in (("batch_size", None), ("shuffle", False), ("mode", "anchored"), ("dtype", "float64"), ("seed", 0)):
        if run.get(key) != plain:
            variant(lambda s, key=key, plain=plain: s["run"].__setitem__(key, plain))
    if network.get("init") != "glorot_uniform":
        variant(lambda s: s["network"].__setitem__("init", "glorot_uniform"))
    if not network.get("bias", True):
        variant(lambda s: s["network"].__setitem__("bias", True))
    data = spec["data"]
    smallest = max(2, int(data.get("n_classes", 2)))
    if data.get("n_samples", smallest) > smallest:
        for fewer in sorted({smallest, data["n_samples"] // 2} - {data["n_samples"]}):
            if fewer >= smallest:
                def samples(s, fewer=fewer):
                    s["data"]["n_samples"] = fewer
                    if (s["run"].get("batch_size") or 0) > fewer:
                        s["run"]["batch_size"] = None
                variant(samples)
    if sizes[0] > 1 and "n_features" in data:
        def features(s):
            s["data"]["n_features"] = 1
            s["network"]["sizes"][0] = 1
        variant(features)
    if data.get("n_outputs", 1) > 1:
        def outputs(s):
            s["data"]["n_outputs"] = 1
            s["network"]["sizes"][-1] = 1
        variant(outputs)
    if data.get("name") == "classification" and data.get("n_classes", 2) > 2:
        def binary(s):
            s["data"]["n_classes"] = 2
            s["network"]["sizes"][-1] = 1
            if _plain_name(s["network"]["activations"][-1]) == "softmax":
                s["network"]["activations"][-1] = "sigmoid"
            if s["loss"]["name"] == "categorical_cross_entropy":
                s["loss"]["name"] = "binary_cross_entropy"
        variant(binary)
    if data.get("seed", 0) != 0:
        variant(lambda s: s["data"].__setitem__("seed", 0))
    return out


def _plain_name(activation: Any) -> str:
    return activation if isinstance(activation, str) else str(activation.get("name"))


def reproduces(rows: Sequence[Mapping[str, Any]], backend: str, reference: str) -> bool:
    return any(r["classification"] == "unexplained" and r["backend"] == backend and r["reference"] == reference
               for r in rows)


@dataclass
class Shrunk:
    spec: dict[str, Any]
    backend: str
    reference: str
    origin: str
    rounds: int = 0
    candidates: int = 0
    detail: str = ""
    path: list[float] = field(default_factory=list)  # cost after each accepted round


def shrink(spec: Mapping[str, Any], backend: str, reference: str, run_many: Callable[[list[Point]], list[dict]],
           origin: str = "", max_rounds: int = 50) -> Shrunk:
    """Shrink `spec` while the (backend, reference) pairing stays unexplained (module docstring).
    ``run_many(points)`` runs candidate points and returns their results in order."""
    current = Scenario.from_dict(dict(spec)).to_dict()
    found = Shrunk(current, backend, reference, origin, path=[cost(current)])
    seen = {scenario_id(current)}
    for _ in range(max_rounds):
        points = []
        for candidate in candidates(current):
            if cost(candidate) >= cost(current):
                continue
            try:
                normalised = Scenario.from_dict(candidate).to_dict()
            except (SpecError, ValueError, TypeError):
                continue
            if scenario_id(normalised) in seen:
                continue
            seen.add(scenario_id(normalised))
            points.append(Point(len(points), f"{current['name']}-c{len(points)}", normalised))
        if not points:
            break
        results = run_many(points)
        found.candidates += len(points)
        good = [(cost(p.spec), i, p, r) for i, (p, r) in enumerate(zip(points, results))
                if r.get("status") == "ok" and reproduces(r["rows"], backend, reference)]
        if not good:
            break
        _, _, best, result = min(good, key=lambda g: (g[0], g[1]))
        current = dict(best.spec, name=spec["name"], description=spec.get("description", ""))
        found.spec, found.rounds = current, found.rounds + 1
        found.detail = next(r["detail"] for r in result["rows"] if r["backend"] == backend and r["reference"] == reference
                            and r["classification"] == "unexplained")
        found.path.append(cost(current))
    return found


def summary(spec: Mapping[str, Any]) -> str:
    network, run = spec["network"], spec["run"]
    acts = ", ".join(_plain_name(a) for a in network["activations"])
    return (f"sizes {network['sizes']}, activations [{acts}], {spec['loss']['name']} ({spec['loss']['reduction']}), "
            f"{spec['optimizer']['name']}, {run['dtype']}, {run['mode']}, {run['steps']} step(s), "
            f"batch {run['batch_size'] or 'full'}, data {spec['data']['name']} ({spec['data'].get('n_samples', '?')} samples)")


# ---------------------------------------------------------------------- the run
def fuzz(budget: int, seed: int = 0, out: str | os.PathLike | None = None, *, workers: int = 1, scheduler: Any = None,
         space: FuzzSpace | None = None, backends: Sequence[str] | None = None, shrink_limit: int = 3,
         threads_per_worker: int = 1, batch_seconds: float = 2.0, backend_modules: Sequence[str | os.PathLike] = (),
         scenario_reports: str = "notable", resume: bool = True, retries: int = 1,
         progress: Callable[[int, int], None] | None = None, name: str | None = None):
    """Run `budget` generated scenarios (see the module docstring); returns a `SweepResult`
    whose `minimal` lists the shrunk disagreements (also written to ``out/minimal/``).

    backends: shorthand for ``space=FuzzSpace(backends=...)``. shrink_limit: how many distinct
    (backend, reference) pairings with unexplained rows are shrunk (0: none). The other options
    are `comparisons.sweep`'s."""
    from comparisons.sweeps.api import _Keeping, run_points

    space = space or FuzzSpace()
    if backends is not None:
        space = FuzzSpace(**{**asdict(space), "backends": tuple(backends)})
    name = name or f"fuzz-{seed}"
    modules = worker.backend_modules(backend_modules)
    with worker.backend_modules_loaded(modules):
        points = generate(budget, seed, space, name=name)
    settings = {"budget": budget, "seed": seed, "space": asdict(space), "shrink_limit": shrink_limit}
    meta = {"kind": "fuzz", "name": name, "description": f"{len(points)} Hypothesis-generated scenarios, seed {seed}",
            "settings": settings, "axes": []}
    shrink_options = worker.WorkOptions(threads=threads_per_worker, backend_modules=modules, scenario_reports="none",
                                        files=False, explain=True,
                                        warm_backends=tuple(sorted(set(space.backends))))

    def after(result, engine) -> list[dict[str, Any]]:
        from comparisons.sweeps import execute

        targets = _targets(result, shrink_limit)
        minimal = []
        folder = None if out is None else Path(out) / "minimal"
        for k, (backend, reference, scenario_name, spec) in enumerate(targets):
            def run_many(cands: list[Point]) -> list[dict[str, Any]]:
                by_id: dict[str, dict[str, Any]] = {}
                execute.execute(cands, _WithOptions(_Keeping(engine), shrink_options),
                                lambda r, p: by_id.__setitem__(p.id, r), batch_seconds=batch_seconds, retries=0)
                return [by_id.get(p.id, {"status": "lost", "rows": []}) for p in cands]

            start = dict(spec, name=f"{name}-minimal-{k}",
                         description=f"shrunk from {scenario_name}: {backend} vs {reference} disagrees (fuzz seed {seed})")
            found = shrink(start, backend, reference, run_many, origin=scenario_name)
            minimal.append(_minimal_entry(found, folder, backend_modules))
        if folder is not None:
            from comparisons.report.records import atomic_write_text

            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(folder / "minimal.json", json.dumps(minimal, indent=2, default=str) + "\n")
        return minimal

    return run_points(points, meta, out=out, workers=workers, scheduler=scheduler, threads_per_worker=threads_per_worker,
                      batch_seconds=batch_seconds, modules=modules, scenario_reports=scenario_reports, resume=resume,
                      retries=retries, explain=True, progress=progress, after=after)


class _WithOptions:
    """An engine whose tasks carry other work options (the shrinker's: no files)."""

    def __init__(self, engine: Any, options: worker.WorkOptions):
        self._engine, self._options = engine, options

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def submit(self, points):
        return self._engine.submit(points, options=self._options)


def _targets(result, limit: int) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(backend, reference, scenario name, spec) of the first unexplained scenario per pairing."""
    if limit <= 0:
        return []
    rows = result.unexplained.sort_values("index", kind="stable")
    specs = {p.name: p.spec for p in result.points}
    targets: dict[tuple[str, str], tuple[str, str, str, dict[str, Any]]] = {}
    for row in rows.itertuples():
        key = (row.backend, row.reference)
        if key not in targets and row.scenario in specs:
            targets[key] = (row.backend, row.reference, row.scenario, dict(specs[row.scenario]))
        if len(targets) == limit:
            break
    return list(targets.values())


def _minimal_entry(found: Shrunk, folder: Path | None, module_args) -> dict[str, Any]:
    spec = found.spec
    file_name = f"{spec['name']}.toml"
    flags = "".join(f" --backend-module {os.fspath(m)}" for m in module_args)
    where = f"{folder}/{file_name}" if folder is not None else file_name
    command = f"parity run{flags} {where}"
    toml = (f"# Minimal scenario shrunk from {found.origin}: {found.backend} vs {found.reference} disagrees, unexplained.\n"
            f"# Reproduce: {command}\n" + worker.spec_toml(spec))
    if folder is not None:
        from comparisons.report.records import atomic_write_text

        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / file_name, toml)
    return {"pairing": f"{found.backend} vs {found.reference}", "backend": found.backend, "reference": found.reference,
            "origin": found.origin, "file": f"minimal/{file_name}", "rounds": found.rounds, "candidates": found.candidates,
            "cost": found.path, "summary": summary(spec), "detail": found.detail, "command": command, "toml": toml,
            "spec": spec}
