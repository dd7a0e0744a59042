"""Scenarios: what to compare, as data (TOML or dict), validated with errors that name the field.

```toml
name = "xor-sigmoid-sgd"
description = "..."
[network]            # sizes, activations, init (name or table), bias
[loss]               # name, reduction, scale, l2
[optimizer]          # name + options in scratchnet.optim names (lr, momentum, beta_1, ...)
[data]               # name + scratchnet.data options
[run]                # steps, batch_size (omit: full batch), shuffle, dtype, seed, backends, mode, reference
[tolerances.float64] # optional overrides: free = {rtol = 1e-8, atol = 1e-12}, anchored = {...}
reason = "why the override is needed"
```
Specs are plain TOML/dicts: nothing is evaluated or unpickled.
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

import scratchnet as sn
from comparisons.tolerances import Tolerance, TolerancePolicy
from reference import BACKENDS
from scratchnet._checks import unknown_name

MODES = ("free", "anchored")
DTYPES = ("float32", "float64")
GRADIENT_OPTIMIZERS = sn.optim.NAMES

_SECTIONS: dict[str, dict[str, Any]] = {
    "network": {"sizes": None, "activations": None, "init": "glorot_uniform", "bias": True},
    "loss": {"name": "squared_error", "reduction": "mean", "scale": 1.0, "l2": 0.0},
    "optimizer": {"name": None},
    "data": {"name": None},
    "run": {"steps": 100, "batch_size": None, "shuffle": True, "dtype": "float64", "seed": 0,
            "backends": ["scratchnet", "torch", "keras"], "mode": "free", "reference": "torch"},
}
_TOP_LEVEL = ("name", "description", *_SECTIONS, "tolerances", "race")
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
    """A scenario field is missing, misspelled or has a bad value; the message names the field."""


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

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_toml(cls, path: str | Path) -> "Scenario":
        path = Path(path)
        try:
            with path.open("rb") as handle:
                raw = tomllib.load(handle)
        except FileNotFoundError:
            raise SpecError(f"scenario file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise SpecError(f"{path}: not valid TOML ({error})") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Scenario":
        if not isinstance(raw, Mapping):
            raise SpecError(f"a scenario must be a table/dict, got {type(raw).__name__}")
        _reject_unknown("", raw, _TOP_LEVEL)
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SpecError("name: required, a non-empty string")
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise SpecError("description: must be a string")
        sections = {}
        for section, defaults in _SECTIONS.items():
            given = raw.get(section, {})
            if not isinstance(given, Mapping):
                raise SpecError(f"{section}: must be a table, got {type(given).__name__}")
            if section not in ("optimizer", "data"):
                _reject_unknown(section, given, defaults)
            merged = {**copy.deepcopy(defaults), **copy.deepcopy(dict(given))}
            for key, value in merged.items():
                if value is None and key in ("sizes", "activations", "name"):
                    raise SpecError(f"{section}.{key}: required")
            sections[section] = merged
        _check_run(sections["run"])
        _check_optimizer(sections["optimizer"], sections["run"], sections["loss"])
        _check_network(sections["network"], sections["loss"], sections["run"]["dtype"])
        _check_data(sections["data"])
        tolerances = _parse_tolerances(raw.get("tolerances", {}))
        race = _check_race(raw.get("race"), sections["optimizer"]["name"])
        return cls(name.strip(), description, sections["network"], sections["loss"], sections["optimizer"],
                   sections["data"], sections["run"], tolerances, race)

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

    def build_network(self) -> sn.MLP:
        """The scratchnet network with the scenario's initial weights (seeded)."""
        network, loss = self.network, self.loss
        return sn.MLP(network["sizes"], network["activations"], loss=loss["name"], reduction=loss["reduction"],
                      scale=loss["scale"], l2=loss["l2"], bias=network["bias"], dtype=self.dtype,
                      init=network["init"], seed=self.run["seed"])

    def load_data(self) -> sn.data.Dataset:
        """The data set; ``input_scaling = "mapminmax"`` maps each input column to [-1, 1] as
        MATLAB's default pre-processing does."""
        options = {k: v for k, v in self.data.items() if k not in ("name", "input_scaling")}
        data = sn.data.load(self.data["name"], **options)
        if self.data.get("input_scaling") == "mapminmax":
            data = sn.data.Dataset(data.name, sn.data.mapminmax(data.X), data.y, data.description + ", inputs mapminmax to [-1, 1]", data.labels)
        return data


# ---------------------------------------------------------------------- field checks
def _reject_unknown(section: str, given: Mapping[str, Any], valid) -> None:
    for key in given:
        if key not in valid:
            where = f"{section}.{key}" if section else key
            raise SpecError(f"{where}: {unknown_name('key', key, valid)}")


def _integer(field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SpecError(f"{field}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_run(run: dict[str, Any]) -> None:
    run["steps"] = _integer("run.steps", run["steps"], 1)
    if run["batch_size"] is not None:
        run["batch_size"] = _integer("run.batch_size", run["batch_size"], 1)
    run["seed"] = _integer("run.seed", run["seed"], 0)
    if not isinstance(run["shuffle"], bool):
        raise SpecError(f"run.shuffle: must be true or false, got {run['shuffle']!r}")
    for key, valid in (("mode", MODES), ("dtype", DTYPES)):
        if run[key] not in valid:
            raise SpecError(f"run.{key}: {unknown_name(key, run[key], valid)}")
    backends = run["backends"]
    if isinstance(backends, str) or not isinstance(backends, (list, tuple)) or not backends:
        raise SpecError(f"run.backends: must be a non-empty list of backend names, got {backends!r}")
    for backend in backends:
        if backend not in BACKENDS:
            raise SpecError(f"run.backends: {unknown_name('backend', backend, BACKENDS)}")
    if len(set(backends)) != len(backends):
        raise SpecError(f"run.backends: lists a backend twice: {backends}")
    run["backends"] = list(backends)
    if run["reference"] not in BACKENDS:
        raise SpecError(f"run.reference: {unknown_name('backend', run['reference'], BACKENDS)}")
    if run["reference"] not in backends:
        raise SpecError(f"run.reference: {run['reference']!r} must be one of run.backends {backends}")


def _check_optimizer(optimizer: dict[str, Any], run: dict[str, Any], loss: dict[str, Any]) -> None:
    name = optimizer["name"]
    if name not in GRADIENT_OPTIMIZERS + FULL_BATCH_METHODS:
        raise SpecError(f"optimizer.name: {unknown_name('optimizer', name, GRADIENT_OPTIMIZERS + FULL_BATCH_METHODS)}")
    if name in FULL_BATCH_METHODS:
        _check_full_batch(optimizer, run, loss)
        return
    if "lr" not in optimizer:
        raise SpecError("optimizer.lr: required (torch and Keras default learning rates differ)")
    options = {k: v for k, v in optimizer.items() if k != "name"}
    try:
        for convention in sn.optim.CONVENTIONS:
            if convention == "keras" and "dampening" in options:
                continue
            sn.optim.get(name, convention=convention, **options)
    except (TypeError, ValueError) as error:
        raise SpecError(f"optimizer: {error}") from None


def _check_full_batch(optimizer: dict[str, Any], run: dict[str, Any], loss: dict[str, Any]) -> None:
    name = optimizer["name"]
    valid = LM_OPTIONS if name == "lm" else SCIPY_OPTIONS[name]
    _reject_unknown("optimizer", {k: v for k, v in optimizer.items() if k != "name"}, valid)
    if run["batch_size"] is not None:
        raise SpecError(f"run.batch_size: {name} trains on the full batch; remove batch_size")
    if name == "lm":
        options = {k: v for k, v in optimizer.items() if k != "name"}
        try:
            sn.optim.LevenbergMarquardt(**options)
        except (TypeError, ValueError) as error:
            raise SpecError(f"optimizer: {error}") from None
        if loss["name"] != "squared_error" or loss["l2"]:
            raise SpecError("loss: Levenberg-Marquardt needs loss.name = 'squared_error' and no l2")
        other = [b for b in run["backends"] if b not in ("scratchnet", "torch")]
        if other:
            raise SpecError(f"run.backends: lm compares the scratchnet and torch Jacobians only; remove {other}")


def _check_race(race: Any, method: str) -> dict[str, Any] | None:
    if race is None:
        return None
    if not isinstance(race, Mapping):
        raise SpecError("race: must be a table (goal, metric, gd_lr, max_epochs)")
    if method not in FULL_BATCH_METHODS:
        raise SpecError(f"race: only for full-batch optimizers {FULL_BATCH_METHODS}, not {method!r}")
    _reject_unknown("race", race, _RACE)
    merged = {**_RACE, **race}
    for key in ("goal", "gd_lr"):
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise SpecError(f"race.{key}: required, a number > 0, got {value!r}")
    if merged["metric"] not in ("mse", "loss"):
        raise SpecError(f"race.metric: {unknown_name('metric', merged['metric'], ('mse', 'loss'))}")
    merged["max_epochs"] = _integer("race.max_epochs", merged["max_epochs"], 1)
    return merged


def _check_network(network: dict[str, Any], loss: dict[str, Any], dtype: str) -> None:
    try:
        sn.MLP(network["sizes"], network["activations"], loss=loss["name"], reduction=loss["reduction"],
               scale=loss["scale"], l2=loss["l2"], bias=network["bias"], dtype=dtype, init=network["init"])
    except (TypeError, ValueError) as error:
        raise SpecError(f"network/loss: {error}") from None


def _check_data(data: dict[str, Any]) -> None:
    if data["name"] not in sn.data.LOADERS:
        raise SpecError(f"data.name: {unknown_name('data set', data['name'], sn.data.LOADERS)}")
    scaling = data.get("input_scaling", "none")
    if scaling not in ("none", "mapminmax"):
        raise SpecError(f"data.input_scaling: {unknown_name('input scaling', scaling, ('none', 'mapminmax'))}")


def _parse_tolerances(raw: Any) -> TolerancePolicy:
    if not isinstance(raw, Mapping):
        raise SpecError("tolerances: must be a table")
    overrides: dict[tuple[str, str], Tolerance] = {}
    reason = raw.get("reason", "")
    for dtype, modes in raw.items():
        if dtype == "reason":
            continue
        if dtype not in DTYPES:
            raise SpecError(f"tolerances.{dtype}: {unknown_name('dtype', dtype, DTYPES)}")
        if not isinstance(modes, Mapping):
            raise SpecError(f"tolerances.{dtype}: must be a table of modes")
        for mode, values in modes.items():
            if mode not in MODES:
                raise SpecError(f"tolerances.{dtype}.{mode}: {unknown_name('mode', mode, MODES)}")
            if not isinstance(values, Mapping) or set(values) != {"rtol", "atol"}:
                raise SpecError(f"tolerances.{dtype}.{mode}: needs exactly rtol and atol, got {values!r}")
            for key, value in values.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                    raise SpecError(f"tolerances.{dtype}.{mode}.{key}: must be a number >= 0, got {value!r}")
            overrides[(dtype, mode)] = Tolerance(float(values["rtol"]), float(values["atol"]))
    if overrides and not (isinstance(reason, str) and reason.strip()):
        raise SpecError("tolerances.reason: a tolerance override must say why it is needed")
    return TolerancePolicy(overrides, reason)
