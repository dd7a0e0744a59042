"""reference.scipy_optim: TNC (and L-BFGS-B, CG) with validated returns and recorded iterates."""
import warnings

import numpy as np
import pytest

import scratchnet as sn
from reference.scipy_optim import (
    ConversionWarning,
    minimize_cg,
    minimize_lbfgs,
    minimize_tnc,
    run_tnc,
)

FLATTEN_HINT = "np.concatenate([g.ravel() for g in grads])"


@pytest.fixture(scope="module")
def problem():
    data = sn.data.sin(40)
    net = sn.MLP([1, 5, 1], ["tanh", "linear"], seed=0)
    return net, data.X, data.y, sn.params.flatten(net.params)


def cost_and_grad(theta, net, X, y):
    return net.loss_and_grad_flat(theta, X, y)


def per_layer(theta, net, X, y):
    cost, grads = net.loss_and_grads(X, y, sn.params.unflatten(theta, net.params))
    return cost, list(grads.values())


MALFORMED = {
    "list of per-layer arrays": (per_layer, ["list of 4 arrays", "(1, 5)", "(5,)", FLATTEN_HINT]),
    "tuple of per-layer arrays": (lambda t, *a: (per_layer(t, *a)[0], tuple(per_layer(t, *a)[1])), ["tuple", FLATTEN_HINT]),
    "tuple of numbers": (lambda t, *a: (cost_and_grad(t, *a)[0], tuple(cost_and_grad(t, *a)[1])), ["a tuple of 16 items", "where a vector belongs"]),
    "too short": (lambda t, *a: (cost_and_grad(t, *a)[0], cost_and_grad(t, *a)[1][:-1]), ["shape (15,)", "15 elements, not 16"]),
    "too long": (lambda t, *a: (cost_and_grad(t, *a)[0], np.append(cost_and_grad(t, *a)[1], 0.0)), ["17 elements", FLATTEN_HINT]),
    "strings": (lambda t, *a: (cost_and_grad(t, *a)[0], cost_and_grad(t, *a)[1].astype(str)), ["dtype <U", "not real numbers"]),
    "object dtype": (lambda t, *a: (per_layer(t, *a)[0], np.array(per_layer(t, *a)[1], dtype=object)), ["shape (4,) and dtype object", "per-layer"]),
    "matrix gradient": (lambda t, *a: (cost_and_grad(t, *a)[0], cost_and_grad(t, *a)[1].reshape(4, 4)), ["shape (4, 4)", "ambiguous"]),
    "NaN gradient": (lambda t, *a: (cost_and_grad(t, *a)[0], np.where(np.arange(16) == 3, np.nan, cost_and_grad(t, *a)[1])), ["NaN/Inf", "index 3: nan"]),
    "Inf gradient": (lambda t, *a: (cost_and_grad(t, *a)[0], np.where(np.arange(16) == 7, np.inf, cost_and_grad(t, *a)[1])), ["NaN/Inf", "index 7: inf"]),
    "non-scalar cost": (lambda t, *a: (np.full(3, cost_and_grad(t, *a)[0]), cost_and_grad(t, *a)[1]), ["a cost that is an array of shape (3,)", "not a scalar"]),
    "NaN cost": (lambda t, *a: (float("nan"), cost_and_grad(t, *a)[1]), ["a cost of nan"]),
    "string cost": (lambda t, *a: ("0.5", cost_and_grad(t, *a)[1]), ["a cost that is str", "not a real number"]),
    "cost only": (lambda t, *a: cost_and_grad(t, *a)[0], ["returned float", "only a cost, no gradient"]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_return_gets_a_clear_error(problem, case):
    net, X, y, x0 = problem
    fun, fragments = MALFORMED[case]
    with pytest.raises(ValueError) as info:
        minimize_tnc(fun, x0, args=(net, X, y), maxfun=20)
    message = str(info.value)
    assert "TNC needs" in message and "1-D float64 gradient of length n = 16" in message and FLATTEN_HINT in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


CONVERTIBLE = {
    "column gradient": (lambda x0: x0, lambda t, *a: (cost_and_grad(t, *a)[0], cost_and_grad(t, *a)[1].reshape(-1, 1)), "shape (16, 1)", True),
    "matrix row gradient": (lambda x0: x0, lambda t, *a: (cost_and_grad(t, *a)[0], np.asmatrix(cost_and_grad(t, *a)[1])), "shape (1, 16)", True),
    "list of numbers": (lambda x0: x0, lambda t, *a: (cost_and_grad(t, *a)[0], cost_and_grad(t, *a)[1].tolist()), "list of 16 numbers", True),
    "float32 gradient": (lambda x0: x0, lambda t, *a: (cost_and_grad(t, *a)[0], cost_and_grad(t, *a)[1].astype(np.float32)), "dtype float32", False),
    "size-1 cost": (lambda x0: x0, lambda t, *a: (np.array([[cost_and_grad(t, *a)[0]]]), cost_and_grad(t, *a)[1]), "cost of shape (1, 1)", True),
    "float32 x0": (lambda x0: x0.astype(np.float32), cost_and_grad, "x0 of dtype float32", False),
    "list x0": (lambda x0: x0.tolist(), cost_and_grad, "x0 (list of 16 numbers)", True),
}


@pytest.mark.parametrize("case", list(CONVERTIBLE))
def test_convertible_input_warns_once_and_works(problem, case):
    net, X, y, x0 = problem
    make_x0, fun, fragment, exact = CONVERTIBLE[case]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = minimize_tnc(fun, make_x0(x0), args=(net, X, y), maxfun=60)
    conversions = [w for w in caught if issubclass(w.category, ConversionWarning)]
    assert len(conversions) == 1, [str(w.message) for w in conversions]
    assert fragment in str(conversions[0].message)
    reference = minimize_tnc(cost_and_grad, x0, args=(net, X, y), maxfun=60)
    if exact:  # lossless conversions give the identical trajectory
        np.testing.assert_array_equal(result.x, reference.x)
        assert result.nit == reference.nit and result.nfev == reference.nfev
    else:
        assert result.fun < reference.trajectory.cost.iloc[0]


def test_trajectory_has_one_row_per_iteration(problem):
    net, X, y, x0 = problem
    seen = []
    result = minimize_tnc(cost_and_grad, x0, args=(net, X, y), maxfun=150, callback=lambda xk: seen.append(xk.copy()))
    frame = result.trajectory
    assert list(frame.columns) == ["iteration", "cost", "grad_norm", "nfev"]
    assert list(frame.iteration) == list(range(result.nit + 1)) and len(seen) == result.nit
    # scipy re-evaluates at the returned x after TNC stops: nfev can be maxfun + 1
    assert frame.nfev.is_monotonic_increasing and frame.nfev.iloc[-1] <= result.nfev <= 150 + 1
    assert frame.cost.iloc[0] == net.loss_value(X, y)
    np.testing.assert_array_equal(result.iterates[-1].x, seen[-1])
    assert result.scipy_version and frame.attrs["method"] == "TNC"
    cost, grad = net.loss_and_grad_flat(seen[3], X, y)
    assert frame.cost.iloc[4] == cost and frame.grad_norm.iloc[4] == np.linalg.norm(grad)


def test_tnc_is_deterministic_and_unchanged_by_recording(problem):
    import scipy.optimize

    net, X, y, x0 = problem
    plain = scipy.optimize.minimize(cost_and_grad, x0, args=(net, X, y), jac=True, method="TNC", options={"maxfun": 100})
    recorded = minimize_tnc(cost_and_grad, x0, args=(net, X, y), maxfun=100)
    np.testing.assert_array_equal(plain.x, recorded.x)
    assert plain.nfev == recorded.nfev and plain.nit == recorded.nit


@pytest.mark.parametrize("minimize", [minimize_lbfgs, minimize_cg])
def test_lbfgs_and_cg_record_the_same_way(problem, minimize):
    net, X, y, x0 = problem
    result = minimize(cost_and_grad, x0, args=(net, X, y), maxiter=30)
    assert len(result.trajectory) == result.nit + 1
    assert result.trajectory.nfev.iloc[-1] == result.nfev
    assert result.trajectory.cost.iloc[-1] == result.fun
    with pytest.raises(ValueError, match="L-BFGS-B needs|CG needs"):
        minimize(per_layer, x0, args=(net, X, y), maxiter=5)


@pytest.mark.parametrize(
    "x0, fragment",
    [
        ([np.zeros((1, 5)), np.zeros(5)], "flatten per-layer arrays"),
        (np.zeros((4, 4)), "np.ravel(x0)"),
        (np.array(["1.0"] * 16), "not real numbers"),
    ],
)
def test_malformed_x0_gets_a_clear_error(problem, x0, fragment):
    net, X, y, _ = problem
    with pytest.raises(ValueError, match="TNC needs x0 as a 1-D float64 vector") as info:
        minimize_tnc(cost_and_grad, x0, args=(net, X, y))
    assert fragment in str(info.value)


def test_options_reach_scipy(problem):
    net, X, y, x0 = problem
    result = minimize_tnc(cost_and_grad, x0, args=(net, X, y), maxfun=25, maxCGit=0)  # steepest descent
    assert result.nfev <= 26 and result.status == 3  # 3: maximum number of function evaluations
    bounded = minimize_tnc(cost_and_grad, x0, args=(net, X, y), maxfun=50, bounds=[(-0.1, 0.1)] * x0.size)
    assert np.all(np.abs(bounded.x) <= 0.1) and np.all(np.abs(np.vstack([r.x for r in bounded.iterates[1:]])) <= 0.1)
