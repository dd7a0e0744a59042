"""Sweep grids: a base scenario and axes over dotted keys, expanded deterministically.

```toml
name = "activations-x-optimizers"   # optional in a file: defaults to the file's stem
base = "digits-ng-l2"               # a catalog name, a .toml path (relative to this file), or an inline [base] table
[set]                               # optional: dotted keys set on every point
"run.steps" = 10
"run.backends" = ["scratchnet", "torch"]
[axes]                              # dotted key -> list of values; the first axis varies slowest
"network.activations" = [["sigmoid", "sigmoid"], ["tanh", "sigmoid"]]
"optimizer.name" = ["sgd", "adam"]
"run.seed" = [0, 1, 2]
```

A dotted key names a field of the scenario spec (``run.dtype``, ``optimizer.lr``,
``network.sizes.1`` for one list element); a key of one section name (``optimizer``) replaces
the whole table. Points are the Cartesian product of the axes in the order written (the first
axis slowest), so the same grid always gives the same points with the same names. Each point is
validated as a scenario; a point the spec refuses (Adam with an SGD-only option) is kept as an
``invalid`` point with the spec's problems and not run. Every point has an ``id``: a hash of its
normalised spec without name and description, which is how a resumed sweep recognises the
scenarios it has already run even when the grid was extended or reordered.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from comparisons.spec import Scenario, SpecError
from scratchnet._checks import unknown_name

#: top-level keys of a scenario spec an axis may start with
SPEC_KEYS = ("name", "description", "network", "loss", "optimizer", "data", "run", "tolerances", "race", "user")
_GRID_KEYS = ("name", "description", "base", "set", "axes")


@dataclass(frozen=True)
class Point:
    """One scenario of a sweep or fuzz run: its position, identity and spec (plain data).

    ``problems`` is non-empty for a point the scenario spec refuses (then ``spec`` is the raw,
    unvalidated dict and the point is recorded without running)."""

    index: int
    name: str
    spec: Mapping[str, Any]
    axes: Mapping[str, Any] = field(default_factory=dict)  # dotted key -> value at this point
    problems: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return scenario_id(self.spec)

    @property
    def valid(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "id": self.id, "spec": self.spec, "axes": dict(self.axes),
                "problems": list(self.problems)}


def scenario_id(spec: Mapping[str, Any]) -> str:
    """A short stable hash of a spec's content (name and description left out)."""
    content = {k: v for k, v in spec.items() if k not in ("name", "description")}
    text = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def axis_text(value: Any) -> str:
    """An axis value as one table cell: strings as they are, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


@dataclass(frozen=True)
class Grid:
    """A validated grid: the base spec (plain data), fixed settings and axes (dotted key -> values)."""

    name: str
    base: Mapping[str, Any]
    axes: Mapping[str, Sequence[Any]]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    base_name: str = ""  # the catalog name or file the base came from ("" for an inline table)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_toml(cls, path: str | Path) -> "Grid":
        path = Path(path)
        try:
            with path.open("rb") as handle:
                raw = tomllib.load(handle)
        except FileNotFoundError:
            raise SpecError(f"grid file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise SpecError(f"{path}: not valid TOML ({error})") from None
        return cls.from_dict(raw, default_name=path.stem, base_dir=path.parent, source=str(path))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], default_name: str = "sweep", base_dir: str | Path | None = None,
                  source: str | None = None) -> "Grid":
        """Validate a grid given as plain data; every problem is reported at once (`SpecError`)."""
        if not isinstance(raw, Mapping):
            raise SpecError(f"a grid must be a table/dict, got {type(raw).__name__}", source)
        problems: list[str] = []
        for key in raw:
            if key not in _GRID_KEYS:
                problems.append(f"{key}: {unknown_name('grid key', key, _GRID_KEYS)}")
        name = raw.get("name", default_name)
        if not isinstance(name, str) or not name.strip():
            problems.append("name: must be a non-empty string")
            name = default_name
        base, base_name = _base(raw.get("base"), Path(base_dir) if base_dir is not None else Path.cwd(), problems)
        fixed = raw.get("set", {})
        if not isinstance(fixed, Mapping):
            problems.append(f"set: must be a table of dotted keys, got {type(fixed).__name__}")
            fixed = {}
        axes = raw.get("axes", {})
        if not isinstance(axes, Mapping):
            problems.append(f"axes: must be a table of dotted keys, each a list of values, got {type(axes).__name__}")
            axes = {}
        for section, table in (("set", fixed), ("axes", axes)):
            for key, values in table.items():
                head = str(key).split(".", 1)[0]
                if head not in SPEC_KEYS:
                    problems.append(f"{section}.\"{key}\": {unknown_name('scenario section', head, SPEC_KEYS)}")
                if section == "axes" and (isinstance(values, (str, Mapping)) or not isinstance(values, Sequence)
                                          or not values):
                    problems.append(f"axes.\"{key}\": must be a non-empty list of values, got {values!r}")
        if problems:
            raise SpecError(problems, source)
        description = raw.get("description", "")
        return cls(name.strip(), base, {str(k): list(v) for k, v in axes.items()}, {str(k): v for k, v in fixed.items()},
                   description if isinstance(description, str) else "", base_name)

    @classmethod
    def load(cls, grid: "Grid | Mapping[str, Any] | str | Path") -> "Grid":
        """A grid from a Grid, a dict or a .toml path."""
        if isinstance(grid, Grid):
            return grid
        if isinstance(grid, Mapping):
            return cls.from_dict(grid)
        if isinstance(grid, (str, Path)):
            return cls.from_toml(grid)
        raise TypeError(f"grid must be a Grid, a dict or a path to a .toml file, got {type(grid).__name__}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["base"] = self.base_name or copy.deepcopy(dict(self.base))
        if self.fixed:
            out["set"] = copy.deepcopy(dict(self.fixed))
        out["axes"] = {key: list(values) for key, values in self.axes.items()}
        return out

    # ------------------------------------------------------------------ expansion
    @property
    def size(self) -> int:
        size = 1
        for values in self.axes.values():
            size *= len(values)
        return size

    def points(self) -> list[Point]:
        """Every point, in product order (first axis slowest), each validated as a scenario.

        Raises SpecError when no point is valid (the grid itself is wrong: the problems of the
        first point are listed)."""
        keys = list(self.axes)
        width = len(str(max(self.size - 1, 0)))
        points = []
        for index, values in enumerate(itertools.product(*(self.axes[key] for key in keys))):
            raw = copy.deepcopy(dict(self.base))
            problems: list[str] = []
            for key, value in [*self.fixed.items(), *zip(keys, values)]:
                error = set_dotted(raw, key, copy.deepcopy(value))
                if error:
                    problems.append(error)
            name = f"{self.name}-{index:0{width}d}"
            raw["name"] = name
            chosen = dict(zip(keys, values))
            label = ", ".join(f"{key}={axis_text(value)}" for key, value in chosen.items())
            raw["description"] = f"{self.name} point {index}: {label}" if label else f"{self.name} point {index}"
            spec: Mapping[str, Any] = raw
            if not problems:
                try:
                    spec = Scenario.from_dict(raw).to_dict()
                except SpecError as error:
                    problems = list(error.problems)
            points.append(Point(index, name, spec, chosen, tuple(problems)))
        if points and not any(point.valid for point in points):
            raise SpecError([f"every point of the grid is invalid; point 0: {p}" for p in points[0].problems])
        return points


def _base(base: Any, base_dir: Path, problems: list[str]) -> tuple[dict[str, Any], str]:
    from comparisons import catalog

    if base is None:
        problems.append("base: required: a catalog name (see `parity list`), a .toml path or an inline [base] table")
        return {}, ""
    try:
        if isinstance(base, Mapping):
            raw = dict(base)
            raw.setdefault("name", "base")
            return Scenario.from_dict(raw).to_dict(), ""
        if isinstance(base, str):
            if base.endswith(".toml"):
                path = Path(base) if Path(base).is_absolute() else base_dir / base
                return Scenario.from_toml(path).to_dict(), base
            return catalog.get(base).to_dict(), base
    except SpecError as error:
        problems.extend(f"base: {problem}" for problem in error.problems)
        return {}, ""
    except ValueError as error:  # an unknown catalog name (with the nearest one)
        problems.append(f"base: {error}")
        return {}, ""
    problems.append(f"base: must be a catalog name, a .toml path or a table, got {type(base).__name__}")
    return {}, ""


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> str:
    """Set `key` ("optimizer.lr", "network.sizes.1") in the nested dict `raw`; "" or the problem."""
    parts = key.split(".")
    target: Any = raw
    for depth, part in enumerate(parts[:-1]):
        where = ".".join(parts[:depth + 1])
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                return f"{key}: {where!r} is a list of {len(target)}; {part!r} is not an index into it"
            target = target[int(part)]
            continue
        if not isinstance(target, dict):
            return f"{key}: {'.'.join(parts[:depth])!r} is {target!r}, not a table"
        if target.get(part) is None:
            target[part] = {}
        target = target[part]
    last = parts[-1]
    if isinstance(target, list):
        if not last.isdigit() or int(last) >= len(target):
            return f"{key}: {'.'.join(parts[:-1])!r} is a list of {len(target)}; {last!r} is not an index into it"
        target[int(last)] = value
    elif isinstance(target, dict):
        target[last] = value
    else:
        return f"{key}: {'.'.join(parts[:-1])!r} is {target!r}, not a table"
    return ""


def get_dotted(raw: Mapping[str, Any], key: str, default: Any = None) -> Any:
    target: Any = raw
    for part in key.split("."):
        if isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        elif isinstance(target, Mapping) and part in target:
            target = target[part]
        else:
            return default
    return target
