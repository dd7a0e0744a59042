"""Scenarios: what to compare, as data (TOML or dict), validated with errors that name the field.

```toml
name = "xor-sigmoid-sgd"
description = "..."
[network]            # sizes, activations, init (name or table), bias -- or input_shape + layers, init
[loss]               # name, reduction, scale, l2
[optimizer]          # name + options in scratchnet.optim names (lr, momentum, beta_1, ...)
[data]               # name + scratchnet.data options
[run]                # steps, batch_size (omit: full batch), shuffle, dtype, seed, backends, mode, reference
[tolerances.float64] # optional overrides: free = {rtol = 1e-8, atol = 1e-12}, anchored = {...}
reason = "why the override is needed"
```
A network of other layers than dense ones is a layer list (`scratchnet.layers`), as
`scratchnet.Network.spec()` writes it::

    [network]
    input_shape = [1, 8, 8]            # channels, height, width
    layers = [
      {type = "conv2d", filters = 6, kernel_size = 3, padding = 1, activation = "relu"},
      {type = "max_pool2d", pool_size = 2},
      {type = "flatten"},
      {type = "dense", units = 10, activation = "softmax"},
    ]

Dropout layers without a ``seed`` draw their masks from ``run.seed``.
Specs are plain TOML/dicts: nothing is evaluated or unpickled. Every problem of a spec is reported
at once, in one `SpecError` (its `problems` list one each); a TOML spec without `name` takes the
file's stem as its name.
"""
from __future__ import annotations

import copy
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

import scratchnet as sn
from comparisons.tolerances import Tolerance, TolerancePolicy
import reference
from scratchnet._checks import unknown_name

MODES = ("free", "anchored")
DTYPES = ("float32", "float64")
GRADIENT_OPTIMIZERS = sn.optim.NAMES

_SECTIONS: dict[str, dict[str, Any]] = {
    "network": {"sizes": None, "activations": None, "init": "glorot_uniform", "bias": True, "input_shape": None, "layers": None},
    "loss": {"name": "squared_error", "reduction": "mean", "scale": 1.0, "l2": 0.0},
    "optimizer": {"name": None},
    "data": {"name": None},
    "run": {"steps": 100, "batch_size": None, "shuffle": True, "dtype": "float64", "seed": 0,
            "backends": ["scratchnet", "torch", "keras"], "mode": "free", "reference": "torch"},
}
_TOP_LEVEL = ("name", "description", *_SECTIONS, "tolerances", "race", "user")
# scipy.optimize.minimize options per method (scipy 1.17), passed through unchanged
SCIPY_OPTIONS = {
    "tnc": ("maxfun", "maxCGit", "eta", "stepmx", "accuracy", "minfev", "ftol", "xtol", "gtol", "rescale", "scale", "offset"),
    "lbfgs": ("maxcor", "ftol", "gtol", "maxfun", "maxiter", "maxls"),
    "cg": ("gtol", "norm", "maxiter", "c1", "c2"),
}
LM_OPTIONS = ("mu", "mu_dec", "mu_inc", "mu_max", "mu_min", "epochs", "goal", "min_grad", "max_fail",
              "damping", "normalization", "solver")
FULL_BATCH_METHODS = (*SCIPY_OPTIONS, "lm")
_RACE = {"goal": None, "metric": "mse", "gd_lr": None, "max_epochs": 20000}


class SpecError(ValueError):
    """A scenario spec is wrong: a field is missing, misspelled or has a bad value.

    `problems` lists every problem found, one line each, naming its field (``run.steps: must be
    an integer >= 1, got 0``) and the fix or the nearest valid name. The message is the problem
    itself when there is one, else a count followed by one problem per line.
    """

    def __init__(self, problems: str | Iterable[str], source: str | None = None):
        self.problems: list[str] = [problems] if isinstance(problems, str) else [str(p) for p in problems]
        self.source = source
        super().__init__(_format_problems(self.problems, source))

    def __reduce__(self):  # keep `problems` through pickling (process pools)
        return (type(self), (self.problems, self.source))


def _format_problems(problems: list[str], source: str | None) -> str:
    if len(problems) == 1:
        return problems[0]
    where = f"{source}: " if source else "scenario spec: "
    return f"{where}{len(problems)} problems\n" + "\n".join(f"  - {problem}" for problem in problems)


class _Problems:
    """Collects the problems of one spec (each once, in the order found)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        if message not in self.items:
            self.items.append(message)

    def unknown_keys(self, section: str, given: Mapping[str, Any], valid) -> set[str]:
        """Report each key of `given` not in `valid`; return the valid names suggested instead."""
        suggested = set()
        for key in given:
            if key not in valid:
                where = f"{section}.{key}" if section else str(key)
                self.add(f"{where}: {unknown_name('key', key, valid)}")
                suggested.update(difflib.get_close_matches(str(key), sorted(valid), n=1, cutoff=0.5))
        return suggested


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. `raw` keeps the normalised plain-data form (see `to_dict`)."""

    name: str
    description: str
    network: Mapping[str, Any]
    loss: Mapping[str, Any]
    optimizer: Mapping[str, Any]
    data: Mapping[str, Any]
    run: Mapping[str, Any]
    tolerances: TolerancePolicy
    race: Mapping[str, Any] | None = None
    #: user backends declared in ``[user.<name>]`` (`comparisons.user_backend.UserSpec`)
    user: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_toml(cls, path: str | Path) -> "Scenario":
        """Read a TOML spec; without a `name` the scenario is named after the file's stem."""
        path = Path(path)
        try:
            with path.open("rb") as handle:
                raw = tomllib.load(handle)
        except FileNotFoundError:
            raise SpecError(f"scenario file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise SpecError(f"{path}: not valid TOML ({error})") from None
        return cls._validated(raw, default_name=path.stem, source=str(path), base=path.parent)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], base: str | Path | None = None) -> "Scenario":
        """Validate a spec given as plain data (`name` is required); raises one `SpecError`
        listing every problem. Relative ``user.<name>.code`` paths start at `base` (default:
        the working directory); there ``code`` may also be a callable."""
        return cls._validated(raw, base=Path.cwd() if base is None else Path(base))

    @classmethod
    def _validated(cls, raw: Mapping[str, Any], default_name: str | None = None,
                   source: str | None = None, base: Path | None = None) -> "Scenario":
        if not isinstance(raw, Mapping):
            raise SpecError(f"a scenario must be a table/dict, got {type(raw).__name__}", source)
        problems = _Problems()
        # a misspelled key that suggests an absent one: its "required" and dependent checks would be noise
        absent = {key for key in problems.unknown_keys("", raw, _TOP_LEVEL) if key not in raw}
        name = raw.get("name", default_name)
        if (not isinstance(name, str) or not name.strip()) and "name" not in absent:
            problems.add("name: required, a non-empty string")
        description = raw.get("description", "")
        if not isinstance(description, str):
            problems.add("description: must be a string")
        sections: dict[str, dict[str, Any] | None] = {}  # None: the section's checks cannot run
        for section, defaults in _SECTIONS.items():
            given = raw.get(section, {})
            if section in absent:
                sections[section] = None
                continue
            if not isinstance(given, Mapping):
                problems.add(f"{section}: must be a table, got {type(given).__name__}")
                sections[section] = None
                continue
            suggested = set() if section in ("optimizer", "data") else problems.unknown_keys(section, given, defaults)
            merged = {**copy.deepcopy(defaults), **copy.deepcopy(dict(given))}
            for key in ("sizes", "activations", "name"):
                layered = section == "network" and merged.get("layers") is not None  # input_shape + layers instead
                if key in merged and merged[key] is None and key not in suggested and not layered:
                    problems.add(f"{section}.{key}: required")
            sections[section] = merged
        run, loss = sections["run"], sections["loss"]
        user = {}
        if "user" in raw:
            from comparisons.user_backend import parse_user_table

            user = parse_user_table(raw["user"], base or Path.cwd(), problems.add)
            clashes = [name for name in user if name in reference.names()]
            for name in clashes:
                problems.add(f"user.{name}: {name!r} is a built-in backend; give your code another name")
        declared = tuple(raw["user"]) if isinstance(raw.get("user"), Mapping) else ()
        valid_run = _check_run(run, problems, declared) if run is not None else set()
        if "backends" in valid_run:
            for unused in (user_name for user_name in declared if user_name not in run["backends"]):
                problems.add(f"user.{unused}: declared but not in run.backends {run['backends']}; add it there")
        method = None
        if sections["optimizer"] is not None and sections["optimizer"]["name"] is not None:
            method = _check_optimizer(sections["optimizer"], run, valid_run, loss, problems)
        dtype = run["dtype"] if "dtype" in valid_run else "float64"
        _check_network(sections["network"], loss, dtype, problems, method)
        if sections["data"] is not None:
            _check_data(sections["data"], problems)
        tolerances = _parse_tolerances(raw.get("tolerances", {}), problems)
        race = _check_race(raw.get("race"), method, loss, problems)
        if problems.items:
            raise SpecError(problems.items, source)
        return cls(name.strip(), description, sections["network"], sections["loss"], sections["optimizer"],
                   sections["data"], sections["run"], tolerances, race, user)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that `from_dict` turns back into an equal scenario."""
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        for section in _SECTIONS:
            out[section] = copy.deepcopy(dict(getattr(self, section)))
        if self.tolerances.overrides:
            table: dict[str, Any] = {"reason": self.tolerances.reason}
            for (dtype, mode), tolerance in self.tolerances.overrides.items():
                table.setdefault(dtype, {})[mode] = {"rtol": tolerance.rtol, "atol": tolerance.atol}
            out["tolerances"] = table
        if self.race:
            out["race"] = dict(self.race)
        if self.user:
            out["user"] = {name: user.to_dict() for name, user in self.user.items()}
        return out

    def with_overrides(self, **overrides: Any) -> "Scenario":
        """A new scenario with run settings replaced: backends, steps, mode, dtype, reference,
        seed, batch_size, shuffle. None values are ignored. When `backends` leaves out the
        scenario's reference and no `reference` is given, torch (if listed) or the first
        backend becomes the reference."""
        raw = self.to_dict()
        for key, value in overrides.items():
            if value is None:
                continue
            if key not in _SECTIONS["run"]:
                raise unknown_name("run override", key, _SECTIONS["run"])
            raw["run"][key] = list(value) if key == "backends" else value
        backends = raw["run"]["backends"]
        if overrides.get("reference") is None and isinstance(backends, list) and backends and raw["run"]["reference"] not in backends:
            raw["run"]["reference"] = "torch" if "torch" in backends else backends[0]
        return Scenario.from_dict(raw)

    # ------------------------------------------------------------------ derived views
    @property
    def steps(self) -> int:
        return int(self.run["steps"])

    @property
    def mode(self) -> str:
        return str(self.run["mode"])

    @property
    def dtype(self) -> str:
        return str(self.run["dtype"])

    @property
    def reference(self) -> str:
        return str(self.run["reference"])

    @property
    def backends(self) -> list[str]:
        return list(self.run["backends"])

    @property
    def optimizer_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.optimizer.items() if k != "name"}

    def tolerance(self) -> Tolerance:
        return self.tolerances.get(self.dtype, self.mode)

    def build_network(self) -> sn.Network:
        """The scratchnet network with the scenario's initial weights (seeded by ``run.seed``,
        which also seeds the dropout masks): an `MLP` from sizes + activations, a `Network` from
        input_shape + layers."""
        network, loss = self.network, self.loss
        options = dict(loss=loss["name"], reduction=loss["reduction"], scale=loss["scale"], l2=loss["l2"],
                       dtype=self.dtype, init=network["init"], seed=self.run["seed"])
        if network.get("layers") is not None:
            return sn.Network(network["layers"], network["input_shape"], **options)
        return sn.MLP(network["sizes"], network["activations"], bias=network["bias"], **options)

    def load_data(self) -> sn.data.Dataset:
        """The data set; ``input_scaling = "mapminmax"`` maps each input column to [-1, 1] as
        MATLAB's default pre-processing does."""
        options = {k: v for k, v in self.data.items() if k not in ("name", "input_scaling")}
        data = sn.data.load(self.data["name"], **options)
        if self.data.get("input_scaling") == "mapminmax":
            data = sn.data.Dataset(data.name, sn.data.mapminmax(data.X), data.y, data.description + ", inputs mapminmax to [-1, 1]", data.labels)
        return data


# ---------------------------------------------------------------------- field checks
# Each check adds its problems to `problems` and goes on; a check whose input is already known
# to be wrong (reported elsewhere) is skipped rather than reported twice.
def _integer(problems: _Problems, field: str, value: Any, minimum: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        problems.add(f"{field}: must be an integer >= {minimum}, got {value!r}")
        return None
    return int(value)


def _check_run(run: dict[str, Any], problems: _Problems, user: tuple[str, ...] = ()) -> set[str]:
    """Check the run section in place; return the names of its valid fields. `user`: the names
    of the spec's user backends, valid beside the registered ones."""
    valid: set[str] = set()
    for key, minimum in (("steps", 1), ("seed", 0)):
        value = _integer(problems, f"run.{key}", run[key], minimum)
        if value is not None:
            run[key] = value
            valid.add(key)
    if run["batch_size"] is not None:
        value = _integer(problems, "run.batch_size", run["batch_size"], 1)
        if value is not None:
            run["batch_size"] = value
            valid.add("batch_size")
    else:
        valid.add("batch_size")
    if not isinstance(run["shuffle"], bool):
        problems.add(f"run.shuffle: must be true or false, got {run['shuffle']!r}")
    for key, names in (("mode", MODES), ("dtype", DTYPES)):
        if run[key] in names:
            valid.add(key)
        else:
            problems.add(f"run.{key}: {unknown_name(key, run[key], names)}")
    registered = (*reference.names(), *user)
    backends = run["backends"]
    if isinstance(backends, str) or not isinstance(backends, (list, tuple)) or not backends:
        problems.add(f"run.backends: must be a non-empty list of backend names, got {backends!r}")
    else:
        backends = run["backends"] = list(backends)
        unknown = [backend for backend in backends if backend not in registered]
        for backend in unknown:
            problems.add(f"run.backends: {unknown_name('backend', backend, registered)}")
        if not unknown:
            valid.add("backends")
            if len(set(backends)) != len(backends):
                problems.add(f"run.backends: lists a backend twice: {backends}")
    if run["reference"] not in registered:
        problems.add(f"run.reference: {unknown_name('backend', run['reference'], registered)}")
    elif "backends" in valid and run["reference"] not in backends:  # (a misspelled backend may be the reference)
        problems.add(f"run.reference: {run['reference']!r} must be one of run.backends {backends}")
    return valid


def _option_problems(section: str, build: Callable[..., Any], options: Mapping[str, Any]) -> dict[str, str]:
    """Problems of `build(**options)` (which raises TypeError/ValueError), keyed by option: an
    option is wrong when it fails on its own and among the options that do not; a failure of
    the good options together is keyed "" (a combination the framework refuses)."""
    def error(chosen: Mapping[str, Any]) -> str | None:
        try:
            build(**chosen)
        except (TypeError, ValueError) as exception:
            return str(exception)
        return None

    whole = error(options)
    if whole is None:
        return {}
    good = {key: value for key, value in options.items() if error({key: value}) is None}
    found: dict[str, str] = {}
    for key, value in options.items():
        if key in good:
            continue
        message = error({**good, key: value})
        if message is None:
            good[key] = value  # fine among the others (e.g. nesterov with the given momentum)
        else:
            found[key] = f"{section}.{key}: {message}"
    if not found:
        return {"": f"{section}: {whole}"}
    rest = error(good)
    if rest is not None:
        found[""] = f"{section}: {rest}"
    return found


def _check_optimizer(optimizer: dict[str, Any], run: dict[str, Any] | None, valid_run: set[str],
                     loss: dict[str, Any] | None, problems: _Problems) -> str | None:
    """Check the optimizer section; return its name when that is valid."""
    name = optimizer["name"]
    if name not in GRADIENT_OPTIMIZERS + FULL_BATCH_METHODS:
        problems.add(f"optimizer.name: {unknown_name('optimizer', name, GRADIENT_OPTIMIZERS + FULL_BATCH_METHODS)}")
        return None
    if name in FULL_BATCH_METHODS:
        _check_full_batch(optimizer, run, valid_run, loss, problems)
        return name
    if "lr" not in optimizer:
        problems.add("optimizer.lr: required (torch and Keras default learning rates differ)")
    options = {k: v for k, v in optimizer.items() if k != "name"}
    found: dict[str, str] = {}
    for convention in _conventions_in_play(run, valid_run):
        # dampening is torch-only (Keras' and optax's SGD have none); the other options must suit
        # every convention the run's backends follow
        chosen = {k: v for k, v in options.items() if not (convention != "torch" and k == "dampening")}
        for key, message in _option_problems("optimizer", _optimizer_builder(name, convention), chosen).items():
            found.setdefault(key, message)
    for message in found.values():
        problems.add(message)
    return name


def _conventions_in_play(run: dict[str, Any] | None, valid_run: set[str]) -> tuple[str, ...]:
    """The optimizer conventions the run's registered backends declare (scratchnet follows the
    reference's); every convention when the backends are not known yet."""
    if run is None or "backends" not in valid_run:
        return tuple(sn.optim.CONVENTIONS)
    declared = {reference.get(name).convention for name in [*run["backends"], run["reference"]]
                if name in reference.names() and name != "scratchnet"}
    if "scratchnet" in run["backends"] and run["reference"] == "scratchnet":
        declared.add(reference.get("scratchnet").convention)
    return tuple(c for c in sn.optim.CONVENTIONS if c in declared) or tuple(sn.optim.CONVENTIONS)


def _optimizer_builder(name: str, convention: str) -> Callable[..., Any]:
    return lambda **options: sn.optim.get(name, convention=convention, **options)


def _check_full_batch(optimizer: dict[str, Any], run: dict[str, Any] | None, valid_run: set[str],
                      loss: dict[str, Any] | None, problems: _Problems) -> None:
    name = optimizer["name"]
    valid = LM_OPTIONS if name == "lm" else SCIPY_OPTIONS[name]
    options = {k: v for k, v in optimizer.items() if k != "name"}
    problems.unknown_keys("optimizer", options, valid)
    if run is not None and run["batch_size"] is not None:
        problems.add(f"run.batch_size: {name} trains on the full batch; remove batch_size")
    if name != "lm":
        return
    known = {k: v for k, v in options.items() if k in valid}
    for message in _option_problems("optimizer", sn.optim.LevenbergMarquardt, known).values():
        problems.add(message)
    if loss is not None and (loss["name"] != "squared_error" or loss["l2"]):
        problems.add("loss: Levenberg-Marquardt needs loss.name = 'squared_error' and no l2")
    if "backends" in valid_run:
        other = [b for b in run["backends"] if b not in reference.with_jacobian()]
        if other:
            problems.add(f"run.backends: lm needs a Jacobian provider, which only {list(reference.with_jacobian())} "
                         f"declare; remove {other}")


def _check_race(race: Any, method: str | None, loss: Mapping[str, Any] | None,
                problems: _Problems) -> dict[str, Any] | None:
    """Check the race table; `method` is the optimizer's name (None when that is wrong). The
    race reads the run's losses, so metric "mse" needs a loss that is the mean squared error."""
    if race is None:
        return None
    if not isinstance(race, Mapping):
        problems.add("race: must be a table (goal, metric, gd_lr, max_epochs)")
        return None
    if method is not None and method not in FULL_BATCH_METHODS:
        problems.add(f"race: only for full-batch optimizers {FULL_BATCH_METHODS}, not {method!r}")
    problems.unknown_keys("race", race, _RACE)
    merged = {**_RACE, **race}
    for key in ("goal", "gd_lr"):
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            problems.add(f"race.{key}: required, a number > 0, got {value!r}")
    if merged["metric"] not in ("mse", "loss"):
        problems.add(f"race.metric: {unknown_name('metric', merged['metric'], ('mse', 'loss'))}")
    elif merged["metric"] == "mse" and loss is not None and (loss["name"], loss["reduction"], loss["scale"], loss["l2"]) != (
            "squared_error", "mean", 1.0, 0.0):
        problems.add("race.metric: \"mse\" needs the loss to be the mean squared error (squared_error, reduction "
                     "mean, scale 1, l2 0); use metric = \"loss\" to race on the scenario's loss")
    max_epochs = _integer(problems, "race.max_epochs", merged["max_epochs"], 1)
    if max_epochs is not None:
        merged["max_epochs"] = max_epochs
    return merged


# the smallest network every loss accepts: field checks build it with one field changed
_PROBE = {"sizes": [1, 1], "activations": ["sigmoid"]}
# MLP argument -> (section, key) of the spec
_NETWORK_FIELDS = {"init": ("network", "init"), "bias": ("network", "bias"), "loss": ("loss", "name"),
                   "reduction": ("loss", "reduction"), "scale": ("loss", "scale"), "l2": ("loss", "l2")}


def _network_error(**arguments: Any) -> str | None:
    try:
        sn.MLP(**{**_PROBE, **arguments})
    except (TypeError, ValueError) as error:
        return str(error)
    return None


def _check_network(network: dict[str, Any] | None, loss: dict[str, Any] | None, dtype: str,
                   problems: _Problems, method: str | None = None) -> None:
    """Check each network and loss field on its own (with scratchnet's messages), then, when
    sizes and activations are valid, the network as a whole (layer counts, softmax placement,
    loss vs last activation) with the valid fields. A network given as input_shape + layers is
    checked layer by layer, then as a whole (`_check_layers`); `method` is the optimizer's name
    (None when unknown)."""
    layered = network is not None and network.get("layers") is not None
    sections = {"network": network, "loss": loss}
    valid: dict[str, Any] = {}
    for argument, (section, key) in _NETWORK_FIELDS.items():
        table = sections[section]
        if table is None or (layered and argument == "bias"):
            continue
        error = _network_error(**{argument: table[key]}, dtype=dtype)
        if error is None:
            valid[argument] = table[key]
        else:
            problems.add(f"{section}.{key}: {error}")
    if network is None:
        return
    if layered:
        _check_layers(network, dtype, valid, method, problems)
        return
    if network.get("input_shape") is not None:
        problems.add("network.input_shape: goes with network.layers (a layer list); an MLP gives sizes + activations")
    for key in ("input_shape", "layers"):  # an MLP keeps its plain form
        network.pop(key, None)
    sizes, activations = network["sizes"], network["activations"]
    sizes_valid = activations_valid = False
    if sizes is not None:
        layers = len(sizes) - 1 if isinstance(sizes, (list, tuple)) and len(sizes) >= 2 else 1
        error = _network_error(sizes=sizes, activations=["linear"] * layers)
        sizes_valid = error is None
        if error is not None:
            problems.add(f"network.sizes: {error}")
    if activations is not None:
        if isinstance(activations, (list, tuple)):
            activations_valid = True
            for index, spec in enumerate(activations):
                try:
                    sn.activations.get(spec)
                except (TypeError, ValueError) as error:
                    problems.add(f"network.activations[{index}]: {error}")
                    activations_valid = False
        else:
            problems.add(f"network.activations: must be a list with one activation per weight layer, got {activations!r}")
    if sizes_valid and activations_valid:
        try:
            sn.MLP(sizes, activations, dtype=dtype, **valid)
        except (TypeError, ValueError) as error:
            problems.add(f"network/loss: {error}")


def _check_layers(network: dict[str, Any], dtype: str, valid: Mapping[str, Any], method: str | None,
                  problems: _Problems) -> None:
    """A network given as input_shape + layers: each layer on its own (``network.layers[2]:
    ...``), then the whole network with the valid loss fields (shapes that do not fit name their
    layer). Levenberg-Marquardt needs layers that act on each sample separately."""
    for key in ("sizes", "activations"):
        if network.get(key) is not None:
            problems.add(f"network.{key}: a network with layers takes input_shape + layers; remove {key} "
                         "(or give sizes + activations without layers)")
    for key in ("sizes", "activations", "bias"):  # each layer has its own bias
        network.pop(key, None)
    input_shape = None
    if network.get("input_shape") is None:
        problems.add("network.input_shape: required with layers, e.g. [1, 8, 8] (channels, height, width) or [64]")
    else:
        try:
            input_shape = sn.layers.check_input_shape(network["input_shape"])
        except ValueError as error:
            problems.add(f"network.input_shape: {error}")
    specs = network["layers"]
    if isinstance(specs, (str, bytes, Mapping)) or not isinstance(specs, (list, tuple)) or not specs:
        problems.add(f"network.layers: must be a non-empty list of layer tables such as {{type = \"dense\", units = 3}}, "
                     f"got {specs!r}")
        return
    layers = []
    for index, spec in enumerate(specs):
        try:
            layers.append(sn.layers.layer_from_spec(spec))
        except (TypeError, ValueError) as error:
            problems.add(f"network.layers[{index}]: {error}")
    if input_shape is None or len(layers) != len(specs):
        return
    try:
        net = sn.Network(layers, input_shape, dtype=dtype, **valid)
    except (TypeError, ValueError) as error:
        message = str(error)
        problems.add(f"network.{message}" if message.startswith("layers[") else f"network/loss: {message}")
        return
    if method == "lm" and any(isinstance(layer, sn.layers.BatchNorm) for layer in net.layers):
        problems.add("optimizer.name: lm needs layers that act on each sample separately (dense, conv2d, pooling, flatten, "
                     "dropout); batch_norm in training mode couples the samples of a batch, so its residual Jacobian "
                     "has no per-sample form: use tnc, lbfgs or cg")


def _check_data(data: dict[str, Any], problems: _Problems) -> None:
    name = data["name"]
    if name is not None and (not isinstance(name, str) or name not in sn.data.LOADERS):
        problems.add(f"data.name: {unknown_name('data set', data['name'], sn.data.LOADERS)}")
    scaling = data.get("input_scaling", "none")
    if scaling not in ("none", "mapminmax"):
        problems.add(f"data.input_scaling: {unknown_name('input scaling', scaling, ('none', 'mapminmax'))}")


def _parse_tolerances(raw: Any, problems: _Problems) -> TolerancePolicy | None:
    if not isinstance(raw, Mapping):
        problems.add("tolerances: must be a table")
        return None
    overrides: dict[tuple[str, str], Tolerance] = {}
    reason = raw.get("reason", "")
    attempted = False
    for dtype, modes in raw.items():
        if dtype == "reason":
            continue
        attempted = True
        if dtype not in DTYPES:
            problems.add(f"tolerances.{dtype}: {unknown_name('dtype', dtype, DTYPES)}")
            continue
        if not isinstance(modes, Mapping):
            problems.add(f"tolerances.{dtype}: must be a table of modes")
            continue
        for mode, values in modes.items():
            if mode not in MODES:
                problems.add(f"tolerances.{dtype}.{mode}: {unknown_name('mode', mode, MODES)}")
                continue
            if not isinstance(values, Mapping) or set(values) != {"rtol", "atol"}:
                problems.add(f"tolerances.{dtype}.{mode}: needs exactly rtol and atol, got {values!r}")
                continue
            numbers_valid = True
            for key, value in values.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                    problems.add(f"tolerances.{dtype}.{mode}.{key}: must be a number >= 0, got {value!r}")
                    numbers_valid = False
            if numbers_valid:
                overrides[(dtype, mode)] = Tolerance(float(values["rtol"]), float(values["atol"]))
    if attempted and not (isinstance(reason, str) and reason.strip()):
        problems.add("tolerances.reason: a tolerance override must say why it is needed")
    return TolerancePolicy(overrides, reason)
