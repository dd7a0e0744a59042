"""comparisons: scenarios, the lockstep runner, diffs, reports and the backprop doctor.

    import comparisons
    result = comparisons.run("xor-sigmoid-sgd", backends=["scratchnet", "torch"], mode="anchored")
    result.passed, result.first_divergence, result.diffs, result.losses
    sweep = comparisons.sweep("grid.toml", workers=2, out="reports/sweep")   # many scenarios, classified
    found = comparisons.fuzz(200, seed=0, out="reports/fuzz")                # generated scenarios, shrunk
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type checkers; at run time each name is imported on first use (below)
    from comparisons import catalog
    from comparisons.comparison import Comparison, Divergence
    from comparisons.runner import run
    from comparisons.spec import Scenario, SpecError
    from comparisons.sweeps import fuzz, sweep
    from comparisons.tolerances import Tolerance, TolerancePolicy

#: public name -> the module that defines it. Imported on first use, so `import comparisons` (and
#: the pytest plugin, which every pytest run in this environment loads through its entry point)
#: stays light: the runner pulls in pandas, numba and the catalog (~1.2 s).
_PUBLIC = {"Scenario": "comparisons.spec", "SpecError": "comparisons.spec", "run": "comparisons.runner",
           "Comparison": "comparisons.comparison", "Divergence": "comparisons.comparison",
           "Tolerance": "comparisons.tolerances", "TolerancePolicy": "comparisons.tolerances",
           "sweep": "comparisons.sweeps", "fuzz": "comparisons.sweeps"}

__all__ = ["Scenario", "SpecError", "run", "Comparison", "Divergence", "Tolerance", "TolerancePolicy", "catalog",
           "sweep", "fuzz"]


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    try:  # a submodule reached as an attribute (comparisons.runner, comparisons.catalog, ...)
        return import_module(f"comparisons.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"comparisons.{name}":
            raise
    raise AttributeError(f"module 'comparisons' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
