"""The built-in scenarios: TOML files in `comparisons/scenarios/`, one per network people ask about."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

from comparisons.spec import Scenario
from scratchnet._checks import unknown_name


@lru_cache(maxsize=None)
def _scenarios() -> dict[str, Scenario]:
    folder = resources.files("comparisons").joinpath("scenarios")
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as path:
                scenario = Scenario.from_toml(path)
            out[scenario.name] = scenario
    return out


def list_scenarios() -> list[str]:
    """Names of the catalog scenarios, sorted."""
    return sorted(_scenarios())


def get(name: str) -> Scenario:
    """A catalog scenario by name (suggests the nearest name when unknown)."""
    scenarios = _scenarios()
    if name not in scenarios:
        raise unknown_name("scenario", name, scenarios)
    return scenarios[name]


def describe() -> dict[str, str]:
    """name -> one-line description."""
    return {name: scenario.description for name, scenario in sorted(_scenarios().items())}
