"""scratchnet.lm: MATLAB trainlm's Levenberg-Marquardt rule."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet.lm import DAMPINGS, LevenbergMarquardt, NetworkResiduals, solve_damped


def linear(A, b):
    """r = A theta - b: (residuals_and_jacobian, residuals)."""
    A, b = np.asarray(A, float), np.asarray(b, float)
    return (lambda theta: (A @ theta - b, A.copy())), (lambda theta: A @ theta - b)


def arctan_problem():
    """r = atan(theta) from theta = 2: the Gauss-Newton step overshoots until mu >= ~0.015."""
    return (
        lambda theta: (np.arctan(theta), np.array([[1.0 / (1.0 + theta[0] ** 2)]])),
        lambda theta: np.arctan(theta),
    )


def test_rejection_multiplies_mu_by_10_and_acceptance_divides_by_10():
    rj, r = arctan_problem()
    run = LevenbergMarquardt().start(rj, [2.0], r)
    record = run.step()
    assert (record.accepted, record.rejected) == (1, 2)  # tried mu = 1e-3, 1e-2 (rejected), 1e-1 (accepted)
    assert record.mu == 1e-3 * 10 * 10 * 0.1
    assert abs(np.arctan(run.theta[0])) < np.arctan(2.0)
    expected = 2.0 - (1 / 5) * np.arctan(2.0) / ((1 / 5) ** 2 + 1e-3 * 10 * 10)
    assert run.theta[0] == pytest.approx(expected, rel=1e-14)


def test_step_is_the_damped_gauss_newton_step():
    A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]])
    b = np.array([1.0, -1.0, 2.0])
    rj, r = linear(A, b)
    theta0 = np.array([0.5, -0.25])
    for damping, D in (("identity", np.eye(2)), ("diag", np.diag(np.diag(A.T @ A)))):
        run = LevenbergMarquardt(damping=damping).start(rj, theta0, r)
        run.step()
        step = -np.linalg.solve(A.T @ A + 1e-3 * D, A.T @ (A @ theta0 - b))
        np.testing.assert_allclose(run.theta, theta0 + step, rtol=1e-13)


def test_mu_floor_is_mu_min():
    rj, r = linear([[2.0]], [1.0])
    run = LevenbergMarquardt(mu=1e-20).start(rj, [3.0], r)
    assert run.step().mu == 1e-20


def test_stops_at_mu_max_when_no_trial_lowers_the_error():
    A, b = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), np.array([1.0, 2.0, 3.0])
    wrong_sign = lambda theta: (A @ theta - b, -A)  # noqa: E731  every step goes uphill
    result = LevenbergMarquardt(mu=1.0, mu_max=1e3).minimize(wrong_sign, np.zeros(2), lambda theta: A @ theta - b)
    assert result.stop_reason == "mu_max"
    first = result.records[1]
    assert (first.accepted, first.rejected, first.mu) == (0, 4, 1e4)  # tried 1, 10, 100, 1000
    assert result.epochs == 1
    np.testing.assert_array_equal(result.theta, np.zeros(2))


def test_stop_reasons_goal_epochs_min_grad():
    A, b = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), np.array([1.0, 2.0, 3.0])
    rj, r = linear(A, b)
    assert LevenbergMarquardt(goal=10.0).minimize(rj, np.zeros(2), r).stop_reason == "goal"
    assert LevenbergMarquardt(epochs=0).minimize(rj, np.zeros(2), r).stop_reason == "epochs"
    result = LevenbergMarquardt().minimize(rj, np.zeros(2), r)  # inconsistent: residual never reaches 0
    assert result.stop_reason == "min_grad" and result.records[-1].grad_norm <= 1e-7
    np.testing.assert_allclose(result.theta, np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-6)
    assert result.records[-1].grad_norm == pytest.approx(2 * np.linalg.norm(A.T @ r(result.theta)) / 3)


def test_validation_failures_stop_and_best_weights_are_returned():
    rj, r = linear([[1.0]], [1.0])  # training pulls theta from 0 towards 1
    validation = lambda theta: theta + 1.0  # noqa: E731  validation error grows as theta does
    lm = LevenbergMarquardt(mu=100.0, mu_dec=0.99)
    result = lm.minimize(rj, np.zeros(1), r, validation_residuals=validation)
    assert result.stop_reason == "max_fail" and result.epochs == 6
    assert [record.val_fail for record in result.records] == [0, 1, 2, 3, 4, 5, 6]
    assert result.best_epoch == 0 and result.best_theta[0] == 0.0 and result.theta[0] > 0


def test_normalizations_rescale_mu():
    data = sn.data.sin(30)
    net = sn.MLP([1, 4, 1], ["tanh", "linear"], seed=3)
    problem = NetworkResiduals(net, data.X, data.y)
    N = problem.n_residuals
    plain = LevenbergMarquardt(mu=1e-3 * N, mu_max=1e12).start(problem.residuals_and_jacobian, problem.x0, problem.residuals)
    per_residual = LevenbergMarquardt(normalization="per_residual").start(problem.residuals_and_jacobian, problem.x0, problem.residuals)
    per_sample = LevenbergMarquardt(normalization="per_sample").start(
        problem.residuals_and_jacobian, problem.x0, problem.residuals, n_samples=problem.n_samples
    )
    plain.step(), per_residual.step(), per_sample.step()
    np.testing.assert_allclose(per_residual.theta, plain.theta, rtol=1e-12)
    np.testing.assert_array_equal(per_sample.theta, per_residual.theta)  # one output: samples == residuals
    with pytest.raises(ValueError, match="n_samples"):
        LevenbergMarquardt(normalization="per_sample").start(problem.residuals_and_jacobian, problem.x0)


def test_cholesky_falls_back_to_lstsq_on_a_singular_system():
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    x, fell_back = solve_damped(singular, np.array([2.0, 2.0]))
    assert fell_back and np.allclose(singular @ x, [2.0, 2.0])
    x, fell_back = solve_damped(np.array([[4.0, 1.0], [1.0, 3.0]]), np.array([1.0, 2.0]))
    assert not fell_back and np.allclose(x, np.linalg.solve([[4.0, 1.0], [1.0, 3.0]], [1.0, 2.0]), rtol=1e-14)
    rng = np.random.default_rng(0)
    M = rng.normal(size=(150, 150))
    spd = M @ M.T + 150 * np.eye(150)
    rhs = rng.normal(size=150)
    np.testing.assert_allclose(solve_damped(spd, rhs)[0], np.linalg.solve(spd, rhs), rtol=1e-12)
    # a parameter the residuals do not depend on: diag(JᵀJ) has a zero, mu*diag cannot help
    A = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    rj, r = linear(A, [1.0, 2.0, 2.0])
    record = LevenbergMarquardt(damping="diag").start(rj, np.zeros(2), r).step()
    assert record.fallbacks >= 1 and record.accepted == 1


def test_reaches_the_seed_goal_on_sin_with_matlab_defaults():
    data = sn.data.sin()
    net = sn.MLP([1, 5, 1], ["tanh", "linear"], init="nguyen_widrow", seed=0)
    result = LevenbergMarquardt(goal=3e-4).fit(net, sn.data.mapminmax(data.X), data.y)
    assert result.stop_reason == "goal" and result.epochs <= 10
    assert result.mse <= 3e-4
    assert net.loss_value(sn.data.mapminmax(data.X), data.y) == pytest.approx(result.mse, rel=1e-12)
    frame = result.to_frame()
    assert list(frame.columns[:7]) == ["epoch", "mu", "sse", "mse", "grad_norm", "accepted", "rejected"]
    assert frame.mse.is_monotonic_decreasing and len(frame) == result.epochs + 1


def test_reaches_the_goal_from_raw_inputs_and_glorot_weights_more_slowly():
    data = sn.data.sin()
    net = sn.MLP([1, 5, 1], ["tanh", "linear"], seed=0)
    result = LevenbergMarquardt(goal=3e-4).fit(net, data.X, data.y)
    assert result.stop_reason == "goal" and result.epochs > 100


def test_bad_options_and_inputs_are_named():
    with pytest.raises(ValueError, match="damping"):
        LevenbergMarquardt(damping="fletcher")
    with pytest.raises(ValueError, match="mu_dec < 1 < mu_inc"):
        LevenbergMarquardt(mu_inc=0.5)
    with pytest.raises(ValueError, match="epochs"):
        LevenbergMarquardt(epochs=-1)
    net = sn.MLP([1, 2, 1], ["tanh", "sigmoid"], loss="binary_cross_entropy")
    with pytest.raises(ValueError, match="squared_error"):
        LevenbergMarquardt().fit(net, np.zeros((3, 1)), np.zeros((3, 1)))
    bad_shape = lambda theta: (np.zeros(3), np.zeros((3, 5)))  # noqa: E731
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        LevenbergMarquardt().start(bad_shape, np.zeros(2))


def ill_conditioned_problem(inconsistent: float):
    """J = Q diag(s) Wᵀ (64 x 16) built from Hadamard matrices and powers of two, so J, r and
    the damped step are exact in closed form: s = 2^-k with k from 0 to 20 (cond(J) 1e6,
    cond(JᵀJ) 1e12), Q = H64[:, :16]/8 and W = H16/4 orthonormal, every entry of J a short sum
    of powers of two (no rounding). r = Q g + `inconsistent` x (a unit vector orthogonal to
    range(J)). Exact step: delta = -W diag(s/(s²+lam)) g (checked against a 60-digit mpmath
    solve of the normal equations: 1.4e-16)."""
    from scipy.linalg import hadamard

    H64, H16 = hadamard(64).astype(float), hadamard(16).astype(float)
    Q, W = H64[:, :16] / 8, H16 / 4
    s = 2.0 ** -np.round(np.linspace(0, 20, 16))
    J = (Q * s) @ W.T
    g = (np.arange(16) + 1) / 4 * np.where(np.arange(16) % 2, 1.0, -1.0)
    r = Q @ g + inconsistent * H64[:, 16] / 8
    return J, r, s, W, g


@pytest.mark.parametrize("inconsistent", [0.0, 8.0])
@pytest.mark.parametrize("damping", ["identity", "diag"])
@pytest.mark.parametrize("mu", [1e-16, 1e-13, 1e-10])
def test_svd_step_keeps_the_digits_the_normal_equations_lose(mu, damping, inconsistent):
    J, r, s, W, g = ill_conditioned_problem(inconsistent)
    if damping == "identity":
        scale, lam = np.ones(16), mu
    else:  # columns scaled by powers of two: mu diag(JᵀJ) = scale (mu c0 I) scale, c0 = |J[:, j]|² = sum(s²)/16
        scale, lam = 2.0 ** np.array([(-1) ** j * (j % 5) for j in range(16)]), mu * np.sum(s * s) / 16
    J = J * scale
    exact = -(W @ (s / (s * s + lam) * g)) / scale
    errors = {}
    for solver in ("svd", "cholesky"):
        rj, res = linear(J, -r)  # r(theta) = J theta + r, so the first trial from 0 is the damped step
        run = LevenbergMarquardt(mu=mu, damping=damping, solver=solver).start(rj, np.zeros(16), res)
        record = run.step()
        assert (record.accepted, record.rejected) == (1, 0)
        errors[solver] = np.abs(run.theta - exact).max() / np.abs(exact).max()
    assert errors["svd"] <= 1e-10, errors  # measured 1e-12 .. 9e-12
    assert errors["cholesky"] > 1e-10, errors  # the old normal-equations solve fails the same check (6e-8 .. 1e-5)


def test_svd_solver_agrees_with_the_normal_equations_where_they_are_well_conditioned():
    rng = np.random.default_rng(1)
    cases = {
        "tall": (rng.normal(size=(30, 6)), rng.normal(size=30)),
        "wide (P > N)": (rng.normal(size=(3, 7)), rng.normal(size=3)),
        "zero column": (np.column_stack([rng.normal(size=(20, 3)), np.zeros(20), rng.normal(size=(20, 2))]), rng.normal(size=20)),
    }
    for name, (A, b) in cases.items():
        rj, r = linear(A, b)
        theta0 = rng.normal(size=A.shape[1])
        for damping in DAMPINGS:
            for normalization in ("none", "per_residual", "per_sample"):
                steps = {}
                for solver in ("svd", "cholesky"):
                    run = LevenbergMarquardt(mu=0.3, damping=damping, normalization=normalization, solver=solver).start(
                        rj, theta0, r, n_samples=A.shape[0] // 2 + 1)
                    steps[solver] = [run.damped_step(mu) for mu in (0.3, 3.0, 30.0)]
                for (svd, singular), (chol, fell_back) in zip(steps["svd"], steps["cholesky"]):
                    np.testing.assert_allclose(svd, chol, rtol=1e-12, atol=1e-14 * np.abs(chol).max(), err_msg=name)
                    assert singular == fell_back == (name == "zero column" and damping == "diag"), name
                    if name == "zero column" and damping == "diag":
                        assert svd[3] == 0.0  # the minimum-norm choice for a parameter r does not depend on


def test_one_factorisation_serves_every_trial_of_an_epoch(monkeypatch):
    import scratchnet.lm as lm_module

    built = []
    original = lm_module.DampedLeastSquares.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(lm_module.DampedLeastSquares, "__init__", counting)
    rj, r = arctan_problem()
    run = LevenbergMarquardt().start(rj, [2.0], r)
    record = run.step()
    assert record.accepted + record.rejected == 3 and len(built) == 1  # 3 mu trials, one QR + SVD
    run.set_theta(run.theta)  # anchoring re-evaluates; the factorisation waits for the next trial
    assert len(built) == 1


def test_unknown_solver_is_named():
    with pytest.raises(ValueError, match="did you mean 'svd'"):
        LevenbergMarquardt(solver="svdd")


def test_the_factorisation_leaves_blas_thread_counts_as_it_found_them():
    from threadpoolctl import threadpool_info, threadpool_limits

    def counts():
        return sorted((info["filepath"], info["num_threads"]) for info in threadpool_info() if info["user_api"] == "blas")

    rj, r = arctan_problem()
    with threadpool_limits(limits=2, user_api="blas"):  # not 1 even where the suite runs BLAS on 1 thread (conftest)
        before = counts()
        assert all(n == 2 for _, n in before)
        LevenbergMarquardt().start(rj, [2.0], r).step()
        assert counts() == before
        with threadpool_limits(limits=1, user_api="blas"):
            LevenbergMarquardt().start(rj, [2.0], r).step()
            assert all(n == 1 for _, n in counts())
        assert counts() == before
