"""reference.scipy_optim: least_squares (MINPACK lm, trf) on scratchnet's residuals and Jacobian."""
import numpy as np
import pytest
import scipy

import scratchnet as sn
from reference.scipy_optim import least_squares_lm, least_squares_trf
from scratchnet.lm import NetworkResiduals


def sin_problem(n_samples):
    data = sn.data.sin(n_samples)
    net = sn.MLP([1, 5, 1], ["tanh", "linear"], seed=0)
    return NetworkResiduals(net, data.X, data.y)


def test_lm_records_every_accepted_iterate_from_jac():
    problem = sin_problem(40)
    trace = least_squares_lm(problem.residuals, problem.residuals_and_jacobian, problem.x0, max_nfev=200)
    result = trace.result
    frame = trace.to_frame()
    # jac is called once per accepted iterate and once more at the end; a repeat of the last iterate is dropped
    assert result.njev <= len(trace.records) <= result.njev + 1
    assert frame.cost.is_monotonic_decreasing and frame.nfev.is_monotonic_increasing
    np.testing.assert_array_equal(trace.records[-1].x, result.x)
    assert trace.records[-1].cost == pytest.approx(result.cost, rel=1e-15)
    np.testing.assert_array_equal(trace.records[0].x, problem.x0)
    assert result.scipy_version == scipy.__version__ == frame.attrs["scipy_version"]


def test_lm_refuses_fewer_residuals_than_parameters_with_a_suggestion():
    problem = sin_problem(10)  # 10 residuals, 16 parameters
    with pytest.raises(ValueError) as info:
        least_squares_lm(problem.residuals, problem.residuals_and_jacobian, problem.x0)
    message = str(info.value)
    for fragment in ("10 residuals", "16 parameters", "method='trf'", "scratchnet.lm.LevenbergMarquardt"):
        assert fragment in message


def test_trf_handles_fewer_residuals_and_records_each_iteration():
    problem = sin_problem(10)
    seen = []
    trace = least_squares_trf(
        problem.residuals, problem.residuals_and_jacobian, problem.x0, max_nfev=30,
        callback=lambda intermediate_result: seen.append(intermediate_result.nit),
    )
    assert len(trace.records) == len(seen) + 1 and seen == list(range(1, len(seen) + 1))
    last = trace.records[-1]
    r, J = problem.residuals_and_jacobian(last.x)
    assert last.cost == pytest.approx(0.5 * r @ r, rel=1e-15)
    np.testing.assert_allclose(last.grad, J.T @ r, rtol=1e-13, atol=1e-16)
    np.testing.assert_array_equal(last.x, trace.result.x)
