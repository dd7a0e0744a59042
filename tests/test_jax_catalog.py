"""Every catalog scenario with JAX as a fourth backend (scratchnet, torch, Keras, JAX), anchored and
free, a few steps each: nothing fails, JAX is judged exactly (against its `scratchnet[optax]` twin
where optax's formulas differ from the reference's, else against the reference), and the optax
convention gap is measured and labelled, never failed.

Levenberg-Marquardt runs without Keras (no Jacobian provider); free-running TNC drifts by design
(test_parity_catalog.py says why), so there only the run itself is checked. A scenario with a layer
kind the jax backend has no `LAYERS` entry for yet (batch_norm, dropout) must fail that lane
alone, with the kind named, while the other backends' comparison holds.
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


def missing_jax_layers(name: str) -> list[str]:
    from reference.jax_backend import LAYERS

    kinds = [layer["type"] for layer in catalog.get(name).build_network().spec()["layers"]]
    return [kind for kind in dict.fromkeys(kinds) if kind not in LAYERS]
CASES = [(name, mode) for name in catalog.list_scenarios() for mode in ("anchored", "free")]


@pytest.mark.parametrize("scenario, mode", CASES, ids=[f"{n}-{m}" for n, m in CASES])
def test_every_scenario_runs_with_jax_as_a_fourth_backend(scenario, mode):
    method = METHOD[scenario]
    backends = ["scratchnet", "torch", "jax"] if method == "lm" else ["scratchnet", "torch", "keras", "jax"]
    result = comparisons.run(scenario, backends=backends, mode=mode, steps=STEPS)
    missing = missing_jax_layers(scenario)
    if missing:
        # the jax lane, and its scratchnet[optax] twin where a layer has no optax convention yet (batch norm)
        assert "jax" in result.failures and set(result.failures) <= {"jax", "scratchnet[optax]"}, {
            name: failure.error for name, failure in result.failures.items()}
        assert f"the jax backend has no {missing[0]!r} layer yet" in result.failures["jax"].error
        if "scratchnet[optax]" in result.failures:
            assert "has no 'optax' convention yet" in result.failures["scratchnet[optax]"].error
        assert result.first_divergence is None, result.verdict()  # every judged row of the others passes
        return
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
