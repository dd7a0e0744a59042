"""The same LM rule driven by scratchnet's Jacobian and by torch autograd's gives the same run."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet.lm import LevenbergMarquardt, NetworkResiduals

CASES = {
    "sin 1-5-1 tanh/linear": (lambda: sn.data.sin(), [1, 5, 1], ["tanh", "linear"], {}, 100),
    "regression 3-6-2 tanh/linear, per_residual": (
        lambda: sn.data.regression(n_samples=60, n_features=3, n_outputs=2), [3, 6, 2], ["tanh", "linear"],
        {"normalization": "per_residual"}, 60,
    ),
}


@pytest.fixture(scope="module")
def torch_jacobian():
    """The module, with torch imported and torch.func warmed up once (about 4 s on the first
    call of a session: the import, then jacrev's first vmap)."""
    from reference import MissingFramework, torch_jacobian

    data = sn.data.sin(3)
    try:
        warm = torch_jacobian.torch_flat_network(sn.MLP([1, 2, 1], ["tanh", "linear"]), data.X, data.y)
    except MissingFramework as error:
        pytest.skip(str(error))
    warm.residuals_and_jacobian(np.zeros(7))
    return torch_jacobian


def problems(torch_jacobian, load, sizes, activations, seed=0):
    data = load()
    net = sn.MLP(sizes, activations, seed=seed)
    return NetworkResiduals(net, data.X, data.y), torch_jacobian.torch_flat_network(net, data.X, data.y)


@pytest.mark.parametrize("case", list(CASES))
def test_residuals_and_jacobian_match(torch_jacobian, case):
    load, sizes, activations, _, _ = CASES[case]
    ours, theirs = problems(torch_jacobian, load, sizes, activations, seed=2)
    r, J = ours.residuals_and_jacobian(ours.x0)
    r_torch, J_torch = theirs.residuals_and_jacobian(ours.x0)
    assert r_torch.shape == r.shape and J_torch.shape == J.shape and J_torch.dtype == np.float64
    np.testing.assert_allclose(r_torch, r, rtol=0, atol=1e-15)
    assert np.abs(J_torch - J).max() <= 1e-14 * np.abs(J).max()


@pytest.mark.parametrize("case", list(CASES))
def test_lm_per_epoch_parity_scratchnet_vs_torch_jacobian(torch_jacobian, case):
    load, sizes, activations, options, epochs = CASES[case]
    ours, theirs = problems(torch_jacobian, load, sizes, activations)
    lm = LevenbergMarquardt(epochs=epochs, **options)
    a = lm.minimize(ours.residuals_and_jacobian, ours.x0, ours.residuals, n_samples=ours.n_samples).to_frame()
    b = lm.minimize(theirs.residuals_and_jacobian, ours.x0, theirs.residuals, n_samples=ours.n_samples).to_frame()
    assert len(a) == len(b) == epochs + 1
    assert list(a.mu) == list(b.mu)  # identical damping sequence, bit for bit
    assert list(a.rejected) == list(b.rejected)
    np.testing.assert_allclose(b.sse, a.sse, rtol=1e-10)


@pytest.mark.slow
def test_lm_anchored_parity_where_free_running_drifts(torch_jacobian):
    """1-10-1 on sin: free-running, the two runs first pick a different mu near epoch 250 (last-bit
    Jacobian differences compound near convergence); anchored at scratchnet's weights and mu every
    epoch, each epoch's step agrees to ~1e-10 for all 300 epochs."""
    ours, theirs = problems(torch_jacobian, sn.data.sin, [1, 10, 1], ["tanh", "linear"])
    lm = LevenbergMarquardt(epochs=300)
    a = lm.start(ours.residuals_and_jacobian, ours.x0, ours.residuals)
    b = lm.start(theirs.residuals_and_jacobian, ours.x0, theirs.residuals)
    while (record := a.step()) is not None:
        other = b.step()
        assert (other.mu, other.rejected) == (record.mu, record.rejected), record.epoch
        assert np.abs(b.theta - a.theta).max() <= 1e-9 * np.abs(a.theta).max(), record.epoch
        b.mu = a.mu
        b.set_theta(a.theta)
    assert a.epoch == 300


def test_free_running_scenario_agrees_to_1e_11_at_the_default_tolerance(torch_jacobian):
    """sin-lm-trainlm free-running, scratchnet's vs torch's Jacobian: with the QR + SVD step
    (cond(J), not cond(JᵀJ + mu I) up to 6e9, multiplies the rounding) loss, gradient and
    weights agree to <= 1e-11 relative (measured 7.5e-13, 4.1e-13, 6.0e-13; the normal-equations
    Cholesky solve gave 1.3e-8, 9.9e-9, 1.2e-8) under the default float64 tolerance, and the
    mu sequence is identical."""
    import comparisons
    from comparisons.tolerances import DEFAULTS

    result = comparisons.run("sin-lm-trainlm", backends=["scratchnet", "torch"], mode="free")
    assert result.tolerance == DEFAULTS[("float64", "free")]  # the scenario overrides nothing
    assert result.passed and result.steps_completed == 5
    worst = result.worst().set_index("quantity").max_rel
    assert worst[["loss", "grad", "param"]].max() <= 1e-11, worst
    mu = result.diffs[result.diffs.quantity == "state"]
    assert len(mu) == result.steps_completed and (mu.max_abs == 0).all()
