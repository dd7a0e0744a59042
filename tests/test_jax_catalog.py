"""Every catalog scenario with JAX as a fourth backend (scratchnet, torch, Keras, JAX), anchored and
free, a few steps each: nothing fails, JAX is judged exactly (against its `scratchnet[optax]` twin
where optax's formulas differ from the reference's, else against the reference), and the optax
convention gap is measured and labelled, never failed.

Levenberg-Marquardt runs without Keras (no Jacobian provider); free-running TNC drifts by design
(test_parity_catalog.py says why), so there only the run itself is checked. The jax backend has
every layer kind of the catalog (batch norm as flax.linen.BatchNorm's formulas, dropout with the
injected masks); where a scenario has batch norm, its running statistics are diffed as state.

The jax lane's batch variance is two-pass (flax's use_fast_variance=False) so that it can be
exact: flax's default one-pass form is not reproducible at the anchored rtol where a feature
saturates (comparisons/conventions.py, batch_norm_batch_variance).
"""
import pytest

import comparisons
from comparisons import catalog

pytest.importorskip("torch", reason="needs torch: pip install -e '.[torch]'")
pytest.importorskip("keras", reason="needs keras: pip install -e '.[keras]'")
pytest.importorskip("optax", reason="needs JAX and optax: pip install -e '.[jax]' -c constraints.txt")
pytest.importorskip("jax", reason="needs JAX and optax: pip install -e '.[jax]' -c constraints.txt")
pytestmark = [pytest.mark.parity, pytest.mark.slow]

STEPS = 3
METHOD = {name: catalog.get(name).optimizer["name"] for name in catalog.list_scenarios()}


def kinds(name: str) -> set[str]:
    return {layer["type"] for layer in catalog.get(name).build_network().spec()["layers"]}


CASES = [(name, mode) for name in catalog.list_scenarios() for mode in ("anchored", "free")]


@pytest.mark.parametrize("scenario, mode", CASES, ids=[f"{n}-{m}" for n, m in CASES])
def test_every_scenario_runs_with_jax_as_a_fourth_backend(scenario, mode):
    method = METHOD[scenario]
    backends = ["scratchnet", "torch", "jax"] if method == "lm" else ["scratchnet", "torch", "keras", "jax"]
    result = comparisons.run(scenario, backends=backends, mode=mode, steps=STEPS)
    assert not result.failures, {name: failure.error for name, failure in result.failures.items()}
    diffs = result.diffs
    jax_rows = diffs[diffs.backend == "jax"]
    assert not jax_rows.empty
    if mode == "free" and method in ("tnc", "lbfgs", "cg"):
        assert result.losses["jax"].notna().sum() > 1  # its own scipy run (it may stop at another iteration)
        return  # free-running TNC drifts by design; anchored TNC is judged below
    assert result.losses["jax"].notna().all()
    assert result.passed, result.verdict()
    exact = jax_rows[jax_rows.kind == "exact"]
    assert not exact.empty and exact.passed.all()
    if "batch_norm" in kinds(scenario):  # the running statistics, judged like optimizer state
        state = exact[exact.quantity == "state"]
        assert {"batch_norm_1.running_mean", "batch_norm_1.running_var"} <= set(state.param) and state.passed.all()
    if method in ("tnc", "lbfgs", "cg", "lm"):
        return  # one algorithm for every backend: no optimizer convention
    twin = diffs[(diffs.backend == "jax") & (diffs.reference == "scratchnet[optax]")]
    if twin.empty:  # optax's formula makes bit-identical updates to the reference's for these options
        assert "jax" in result.extras.get("twins_skipped", {}), result.extras
        assert (exact.reference == "torch").all()
    else:
        assert (twin.kind == "exact").all()
        gap = diffs[(diffs.backend == "scratchnet[optax]") & (diffs.reference == "scratchnet")]
        assert not gap.empty and (gap.kind == "gap").all()
        cross = jax_rows[jax_rows.kind == "cross"]
        assert cross.passed.all() or (cross[~cross.passed].expected == "convention").all()
