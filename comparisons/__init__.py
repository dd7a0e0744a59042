"""comparisons: scenarios, the lockstep runner, diffs, reports and the backprop doctor.

    import comparisons
    result = comparisons.run("xor-sigmoid-sgd", backends=["scratchnet", "torch"], mode="anchored")
    result.passed, result.first_divergence, result.diffs, result.losses
"""
from comparisons import catalog
from comparisons.comparison import Comparison, Divergence
from comparisons.runner import run
from comparisons.spec import Scenario, SpecError
from comparisons.tolerances import Tolerance, TolerancePolicy

__all__ = ["Scenario", "SpecError", "run", "Comparison", "Divergence", "Tolerance", "TolerancePolicy", "catalog"]
