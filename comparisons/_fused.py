"""One pass over a tensor pair for every diff statistic, compiled with numba when it is installed.

`pair(a, b)` reads each float64 vector once and returns ``(max_abs, index, scale, dot, aa, bb,
finite)``: the largest |a - b| and its first index (as ``np.argmax``), ``scale = max|b|``, the
dot products a·b, a·a, b·b (four interleaved partial sums, so rounding stays near pairwise
summation), and whether every |a - b| was a number. `segments(a, b, starts, sizes)` does the
same for many pairs laid end to end. The NumPy formulation in `comparisons.diff` reads each
tensor about eight times; this one reads it once, which is what the lockstep overhead needs on
large networks. max_abs, index and scale are exact either way (no rounding in max); the dot
products may differ from BLAS's in the last bits, so cosines can differ at the 1e-16 level.

Without numba (``pip install 'scratchnet-parity[fast]'``), `AVAILABLE` is False and
`comparisons.diff` uses its NumPy formulation; tests check that both give the same statistics.
"""
from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

AVAILABLE = numba is not None


def _pair(a, b):
    n = a.size
    max_abs, index, scale, finite = -1.0, 0, 0.0, True
    d0 = d1 = d2 = d3 = 0.0
    p0 = p1 = p2 = p3 = 0.0
    q0 = q1 = q2 = q3 = 0.0
    i = 0
    while i < n:
        x, y = a[i], b[i]
        error = abs(x - y)
        if not error <= max_abs:
            if error != error:
                finite = False
            else:
                max_abs, index = error, i
        magnitude = abs(y)
        if magnitude > scale:
            scale = magnitude
        lane = i & 3
        if lane == 0:
            d0 += x * y
            p0 += x * x
            q0 += y * y
        elif lane == 1:
            d1 += x * y
            p1 += x * x
            q1 += y * y
        elif lane == 2:
            d2 += x * y
            p2 += x * x
            q2 += y * y
        else:
            d3 += x * y
            p3 += x * x
            q3 += y * y
        i += 1
    return max_abs, index, scale, (d0 + d1) + (d2 + d3), (p0 + p1) + (p2 + p3), (q0 + q1) + (q2 + q3), finite


def _segments(a, b, starts, sizes):
    count = starts.size
    max_abs = np.empty(count)
    index = np.empty(count, dtype=np.int64)
    scale = np.empty(count)
    dot = np.empty(count)
    aa = np.empty(count)
    bb = np.empty(count)
    finite = np.empty(count, dtype=np.bool_)
    for k in range(count):
        start, size = starts[k], sizes[k]
        m, j, s, d, p, q, f = _pair(a[start:start + size], b[start:start + size])
        max_abs[k], index[k], scale[k], dot[k], aa[k], bb[k], finite[k] = m, j, s, d, p, q, f
    return max_abs, index, scale, dot, aa, bb, finite


if AVAILABLE:
    _pair = numba.njit(cache=True, nogil=True)(_pair)
    _segments = numba.njit(cache=True, nogil=True)(_segments)


def pair(a: np.ndarray, b: np.ndarray) -> tuple[float, int, float, float, float, float, bool]:
    """Statistics of two contiguous float64 vectors of equal, non-zero length (see module docstring)."""
    return _pair(a, b)


def segments(a: np.ndarray, b: np.ndarray, starts: np.ndarray, sizes: np.ndarray):
    """`pair` for each segment ``[start, start + size)`` of two concatenated vectors: arrays of
    max_abs, index (within the segment), scale, dot, aa, bb, finite."""
    return _segments(a, b, starts, sizes)
