"""The one comparison engine: statistics, findings, and the fused (numba) pass against NumPy's."""
import numpy as np
import pytest

from comparisons import _fused, diff
from comparisons.tolerances import Tolerance

TOL = Tolerance(rtol=1e-12, atol=1e-15)
EXACT = ("max_abs", "max_rel", "scale", "index", "value", "reference_value", "allowed", "passed", "mismatched", "size",
         "finding")


def pairs():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((300, 41))
    yield base + 1e-14 * rng.standard_normal(base.shape), base.copy()  # within tolerance
    base[7, 3] = base[9, 1] = 0.5
    bumped = base.copy()
    bumped[7, 3] = bumped[9, 1] = 0.5 + 1e-3  # the same error twice: the first index wins, as np.argmax
    yield bumped, base
    yield -base, base  # cosine -1
    yield np.zeros(5), np.zeros(5)  # two zero tensors agree
    yield np.zeros(5), np.ones(5)
    with_nan = base.copy()
    with_nan[2, 2] = np.nan
    yield with_nan, base  # NaN in the checked tensor only
    both = base.copy()
    both[0, 0] = np.inf
    yield both, both.copy()  # equal non-finite entries count as equal
    yield np.array([3.0]), np.array([3.0 + 1e-9])
    yield rng.standard_normal(70_001), rng.standard_normal(70_001)  # large: per-tensor path


@pytest.fixture(params=["fused", "numpy"])
def engine(request, monkeypatch):
    if request.param == "fused" and not _fused.AVAILABLE:
        pytest.skip("numba is not installed (the 'fast' extra)")
    if request.param == "numpy":
        monkeypatch.setattr(_fused, "AVAILABLE", False)
    return request.param


def test_compare_statistics(engine):
    a, b = next(p for i, p in enumerate(pairs()) if i == 1)
    row = diff.compare(a, b, TOL)
    assert (row.max_abs, row.index, row.mismatched, row.size) == (pytest.approx(1e-3, rel=1e-9), 7 * 41 + 3, 2, a.size)
    assert not row.passed and row.scale == np.abs(b).max() and row.max_rel == row.max_abs / row.scale


@pytest.mark.skipif(not _fused.AVAILABLE, reason="numba is not installed (the 'fast' extra)")
def test_fused_and_numpy_passes_agree(monkeypatch):
    fused = [diff.compare(a, b, TOL) for a, b in pairs()]
    many_fused = diff.compare_many(*zip(*[(a, b) for a, b in pairs() if a.size < 1000]), TOL)
    monkeypatch.setattr(_fused, "AVAILABLE", False)
    plain = [diff.compare(a, b, TOL) for a, b in pairs()]
    many_plain = diff.compare_many(*zip(*[(a, b) for a, b in pairs() if a.size < 1000]), TOL)
    for x, y in zip(fused, plain):
        for name in EXACT:
            assert getattr(x, name) == getattr(y, name) or (np.isnan(getattr(x, name)) and np.isnan(getattr(y, name))), name
        assert x.cosine == pytest.approx(y.cosine, abs=1e-15)
    for name in EXACT:
        np.testing.assert_array_equal(getattr(many_fused, name), getattr(many_plain, name), err_msg=name)
    np.testing.assert_allclose(many_fused.cosine, many_plain.cosine, atol=1e-15)


def test_compare_many_equals_compare_row_by_row(engine):
    small = [(a, b) for a, b in pairs() if a.size < 1000]
    batch = diff.compare_many([a for a, _ in small], [b for _, b in small], TOL)
    for i, (a, b) in enumerate(small):
        row, single = batch.row(i), diff.compare(a, b, TOL)
        for name in EXACT:
            assert getattr(row, name) == getattr(single, name) or (
                np.isnan(getattr(row, name)) and np.isnan(getattr(single, name))), (i, name)
        assert row.cosine == pytest.approx(single.cosine, abs=1e-15)


def test_special_values(engine):
    rows = [diff.compare(a, b, TOL) for a, b in pairs()]
    assert rows[0].passed and rows[0].cosine == pytest.approx(1.0)
    assert rows[2].cosine == pytest.approx(-1.0, abs=1e-15)
    assert rows[3].passed and rows[3].cosine == 1.0 and rows[4].cosine == 0.0
    assert rows[5].max_abs == np.inf and rows[5].index == 2 * 41 + 2 and rows[5].mismatched == 1
    assert rows[6].passed and rows[6].max_abs == 0.0


def test_shape_and_dtype_are_findings_not_exceptions():
    shape = diff.compare(np.zeros((3, 2)), np.zeros((2, 3)), TOL)
    assert not shape.passed and shape.finding == "shape (3, 2) differs from the reference's (2, 3)"
    dtype = diff.compare(np.zeros(3, dtype=np.float32), np.zeros(3), TOL)
    assert dtype.finding == "dtype float32 differs from the reference's float64"
    assert diff.compare(np.zeros(3, dtype=np.float32), np.zeros(3), TOL, check_dtype=False).passed
    batch = diff.compare_many([np.zeros(2), None], [np.zeros(2), np.zeros(4)], TOL)
    assert list(batch.passed) == [True, False] and batch.finding[1] == "missing from the backend's record"
    assert batch.mismatched[1] == batch.size[1] == 4
