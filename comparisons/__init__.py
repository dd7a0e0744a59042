"""comparisons: scenarios, the lockstep runner, diffs, reports and the backprop doctor.

    import comparisons
    result = comparisons.run("xor-sigmoid-sgd", backends=["scratchnet", "torch"], mode="anchored")
    result.passed, result.first_divergence, result.diffs, result.losses
    sweep = comparisons.sweep("grid.toml", workers=2, out="reports/sweep")   # many scenarios, classified
    found = comparisons.fuzz(200, seed=0, out="reports/fuzz")                # generated scenarios, shrunk
"""
from comparisons import catalog
from comparisons.comparison import Comparison, Divergence
from comparisons.runner import run
from comparisons.spec import Scenario, SpecError
from comparisons.tolerances import Tolerance, TolerancePolicy

__all__ = ["Scenario", "SpecError", "run", "Comparison", "Divergence", "Tolerance", "TolerancePolicy", "catalog",
           "sweep", "fuzz"]


def __getattr__(name: str):
    """`sweep` and `fuzz` (comparisons.sweeps), imported on first use so `import comparisons` stays light."""
    if name in ("sweep", "fuzz"):
        from comparisons import sweeps

        return getattr(sweeps, name)
    raise AttributeError(f"module 'comparisons' has no attribute {name!r}")
