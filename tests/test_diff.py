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


def _plain_loop(a, b):
    """The fused pass's definition as a plain Python loop: largest |a - b| and its first index,
    max |b|, and a·b, a·a, b·b as four interleaved partial sums combined (s0 + s1) + (s2 + s3)."""
    max_abs, index, scale = -1.0, 0, 0.0
    sums = [[0.0] * 4 for _ in range(3)]
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
        if abs(x - y) > max_abs:
            max_abs, index = abs(x - y), i
        scale = max(scale, abs(y))
        for total, value in zip(sums, (x * y, x * x, y * y)):
            total[i % 4] += value
    return (max_abs, index, scale, *((s[0] + s[1]) + (s[2] + s[3]) for s in sums))


@pytest.mark.skipif(not _fused.AVAILABLE, reason="numba is not installed (the 'fast' extra)")
@pytest.mark.parametrize("size", [1, 3, 4, 5, 255, 256, 257, 1023, 1027, 4099])
def test_the_vectorized_pass_is_the_plain_loop_bit_for_bit(size):
    """Lanes, blocks and the block search of the compiled pass (SLP-vectorized) change no bit:
    sums in the same order, and the first index of a maximum repeated across lanes and blocks."""
    rng = np.random.default_rng(size)
    a = rng.standard_normal(size)
    b = a + rng.standard_normal(size) * 1e-9
    assert _fused.pair(a, b)[:6] == _plain_loop(a, b) and _fused.pair(a, b)[6]
    whole = np.round(a * 100)
    tied = whole.copy()
    tied[[k for k in (size - 1, size // 2, 3, 300, 301) if k < size]] += 3.0  # the same error, several times
    assert _fused.pair(tied, whole)[:6] == _plain_loop(tied, whole)
    assert _fused.pair(tied, whole)[1] == int(np.argmax(np.abs(tied - whole)))


def test_compare_many_takes_views_and_any_layout_as_compare_does(engine):
    """Read-only views (records hold them), transposed arrays, scalars, pairs large enough to be
    read in place and small ones concatenated, findings and NaN in one batch: each row is `compare`'s."""
    rng = np.random.default_rng(1)
    large = rng.standard_normal((100, 60))
    readonly = large.view()
    readonly.flags.writeable = False
    with_nan = rng.standard_normal(7)
    with_nan[3] = np.nan
    lefts = [readonly + 1e-13, readonly.T.copy().T, np.float64(2.0), rng.standard_normal(5), np.zeros(3, np.float32),
             with_nan]
    rights = [readonly, large, np.float64(2.0 + 1e-15), rng.standard_normal(5), np.zeros(3), rng.standard_normal(7)]
    batch = diff.compare_many(lefts, rights, TOL)
    for i, (a, b) in enumerate(zip(lefts, rights)):
        row, single = batch.row(i), diff.compare(a, b, TOL)
        for name in EXACT:
            assert getattr(row, name) == getattr(single, name) or (
                np.isnan(getattr(row, name)) and np.isnan(getattr(single, name))), (i, name)
        assert row.cosine == pytest.approx(single.cosine, abs=1e-15, nan_ok=True)  # bit-equal with numba
        if engine == "fused":
            assert row.cosine == single.cosine or np.isnan(row.cosine) and np.isnan(single.cosine)
    assert batch.passed.tolist() == [True, True, True, False, False, False] and batch.finding[4].startswith("dtype")
