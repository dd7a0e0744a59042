"""One pass over a tensor pair for every diff statistic, compiled with numba when it is installed.

`pair(a, b)` reads each float64 vector once and returns ``(max_abs, index, scale, dot, aa, bb,
finite)``: the largest |a - b| and its first index (as ``np.argmax``), ``scale = max|b|``, the
dot products a·b, a·a, b·b, and whether every entry of a and b is finite (when not, the other
statistics are meaningless and `comparisons.diff` takes its NumPy path). `many(lefts, rights,
...)` does the same for a list of pairs of any shape (small pairs in one call over their
concatenation, large ones where they are) and also judges them (`row_statistics`: max_rel,
cosine, allowed, passed) in the same compiled call, as `comparisons.diff.compare_many`'s
columns. The NumPy formulation in `comparisons.diff` reads each tensor about eight times; this
one reads it once, which is what the lockstep overhead needs on large networks.

Rounding: each dot product is four interleaved partial sums (entry i goes to sum i mod 4, in
order; the result is ``(s0 + s1) + (s2 + s3)``), so it stays near pairwise summation. max_abs,
index and scale are exact (no rounding in a maximum); the dot products may differ from BLAS's in
the last bits, so cosines can differ at the 1e-16 level from the NumPy path.

Speed: the four sums are four SIMD lanes. The pass runs over blocks of `_GROUPS` groups of four
entries, keeping per-lane maxima of |a - b| and |b| (no index), and remembers the first block
whose maximum beats every earlier one; the first index of the maximum is then found by scanning
that block alone. The kernel returns the lanes and the caller combines them (combining them in
the kernel stops LLVM from vectorizing the loop). numba leaves LLVM's SLP vectorizer off by
default (numba#8852: miscompilations in other code), so the kernels are compiled with it on
(`_compile`); tests check every statistic bit for bit against a plain Python loop. About 6x
faster than the scalar loop of the previous version (0.07 ms against 0.41 ms CPU for a 235k
pair, hot in cache); in a lockstep run the pass is memory-bound (about 1 ns per entry pair).

Without numba (``pip install 'scratchnet-parity[fast]'``), `AVAILABLE` is False and
`comparisons.diff` uses its NumPy formulation; tests check that both give the same statistics.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

AVAILABLE = numba is not None

_GROUPS = 64  # groups of four entries per block: 256 entries, 4 KiB of each operand
_TINY = float(np.finfo(np.float64).tiny)


def _block(a, b, start, groups, s, d, p, q):
    """`groups` groups of four entries from `start`: the block's largest |a - b| (-1.0 when all
    are NaN), and the lanes' running max|b| (s), a·b (d), a·a (p), b·b (q), updated."""
    s0, s1, s2, s3 = s
    d0, d1, d2, d3 = d
    p0, p1, p2, p3 = p
    q0, q1, q2, q3 = q
    e0 = e1 = e2 = e3 = -1.0
    for group in range(groups):
        i = start + 4 * group
        x0 = a[i]
        x1 = a[i + 1]
        x2 = a[i + 2]
        x3 = a[i + 3]
        y0 = b[i]
        y1 = b[i + 1]
        y2 = b[i + 2]
        y3 = b[i + 3]
        r0 = abs(x0 - y0)
        r1 = abs(x1 - y1)
        r2 = abs(x2 - y2)
        r3 = abs(x3 - y3)
        e0 = r0 if r0 > e0 else e0
        e1 = r1 if r1 > e1 else e1
        e2 = r2 if r2 > e2 else e2
        e3 = r3 if r3 > e3 else e3
        t0 = abs(y0)
        t1 = abs(y1)
        t2 = abs(y2)
        t3 = abs(y3)
        s0 = t0 if t0 > s0 else s0
        s1 = t1 if t1 > s1 else s1
        s2 = t2 if t2 > s2 else s2
        s3 = t3 if t3 > s3 else s3
        d0 += x0 * y0
        d1 += x1 * y1
        d2 += x2 * y2
        d3 += x3 * y3
        p0 += x0 * x0
        p1 += x1 * x1
        p2 += x2 * x2
        p3 += x3 * x3
        q0 += y0 * y0
        q1 += y1 * y1
        q2 += y2 * y2
        q3 += y3 * y3
    top = max(max(e0, e1), max(e2, e3))
    return top, (s0, s1, s2, s3), (d0, d1, d2, d3), (p0, p1, p2, p3), (q0, q1, q2, q3)


def _blocks(a, b, groups):
    """The first `groups` groups of four entries, block by block: the largest |a - b|, the start
    of the first block holding it, and the lanes (see `_block`)."""
    zero = (0.0, 0.0, 0.0, 0.0)
    s, d, p, q = zero, zero, zero, zero
    max_abs, found = -1.0, 0
    for group in range(0, groups, _GROUPS):
        top, s, d, p, q = _block(a, b, 4 * group, min(_GROUPS, groups - group), s, d, p, q)
        if top > max_abs:
            max_abs, found = top, 4 * group
    return max_abs, found, s, d, p, q


def _lanes(a, b, out):
    """One pass over a, b (float64 vectors of equal, non-zero length): ``out[0:4]`` the lanes'
    max|b|, ``out[4:8]`` a·b, ``out[8:12]`` a·a, ``out[12:16]`` b·b (entry i in lane i mod 4);
    returns max|a - b| and its first index. The lanes are combined by the caller: combining them
    here stops LLVM from vectorizing the loop. With NaN in a - b the maximum and index are
    meaningless (the caller sees the non-finite sums)."""
    n = a.size
    groups = n >> 2
    max_abs, found, s, d, p, q = _blocks(a, b, groups)
    s0, s1, s2, s3 = s
    d0, d1, d2, d3 = d
    p0, p1, p2, p3 = p
    q0, q1, q2, q3 = q
    for i in range(4 * groups, n):  # the last n % 4 entries, lanes 0, 1, 2
        x, y = a[i], b[i]
        error, magnitude, lane = abs(x - y), abs(y), i & 3
        if error > max_abs:
            max_abs, found = error, i
        s0 = magnitude if magnitude > s0 else s0
        if lane == 0:
            d0 += x * y
            p0 += x * x
            q0 += y * y
        elif lane == 1:
            d1 += x * y
            p1 += x * x
            q1 += y * y
        else:
            d2 += x * y
            p2 += x * x
            q2 += y * y
    out[0], out[1], out[2], out[3] = s0, s1, s2, s3
    out[4], out[5], out[6], out[7] = d0, d1, d2, d3
    out[8], out[9], out[10], out[11] = p0, p1, p2, p3
    out[12], out[13], out[14], out[15] = q0, q1, q2, q3
    index = found
    while index < n and abs(a[index] - b[index]) != max_abs:  # the first entry of the maximum in its block
        index += 1
    return max_abs, (index if index < n else 0)


def _segments(a, b, starts, sizes, rows, lanes, max_abs, index, value, reference_value):
    """`_lanes` for each segment ``[starts[k], starts[k] + sizes[k])`` of a and b, into row
    ``rows[k]`` of the outputs: lanes, max|a - b|, its index and the entries there."""
    for k in range(starts.size):
        start, size, row = starts[k], sizes[k], rows[k]
        max_abs[row], at = _lanes(a[start:start + size], b[start:start + size], lanes[row])
        index[row], value[row], reference_value[row] = at, a[start + at], b[start + at]


def row_statistics(max_abs, scale, dot, norm_a, norm_b, floor, atol, rtol):
    """The judged statistics of one pair, ``(max_rel, cosine, allowed, passed)``, from its
    largest error, reference scale, dot product and norms (`comparisons.diff` defines them):
    max_rel = max_abs / max(scale, floor, tiny); cosine = dot / (|a| |b|) clipped to [-1, 1], 1
    for two zero tensors, 0 for one, NaN where it needs the tensors themselves (a norm product
    that overflows or underflows); allowed = atol + rtol * scale; passed = max_abs <= allowed.
    Plain float arithmetic: the same bits interpreted or compiled."""
    max_rel = max_abs / max(max(scale, floor), _TINY)
    norms = norm_a * norm_b
    if norm_a == 0.0 and norm_b == 0.0:
        cosine = 1.0
    elif norm_a == 0.0 or norm_b == 0.0:
        cosine = 0.0
    elif math.isfinite(norms) and norms > 0.0:
        cosine = min(1.0, max(-1.0, dot / norms))
    else:
        cosine = math.nan
    allowed = atol + rtol * scale
    return max_rel, cosine, allowed, max_abs <= allowed


def _judge(max_abs, value, scale, dot, aa, bb, floor, atol, rtol):
    """`row_statistics` for every pair: (max_abs, max_rel, cosine, allowed, passed) arrays, with
    max_abs NaN where a statistic is not finite or the cosine needs the tensors (the caller
    redoes those pairs one by one)."""
    count = max_abs.size
    usable_max = np.empty(count)
    max_rel = np.empty(count)
    cosine = np.empty(count)
    allowed = np.empty(count)
    passed = np.empty(count, dtype=np.bool_)
    for k in range(count):
        usable = math.isfinite(max_abs[k]) and math.isfinite(value[k]) and math.isfinite(aa[k]) and math.isfinite(bb[k])
        usable_max[k] = max_abs[k] if usable else math.nan
        max_rel[k], cosine[k], allowed[k], passed[k] = row_statistics(
            usable_max[k], scale[k], dot[k], math.sqrt(aa[k]), math.sqrt(bb[k]), floor, atol, rtol)
        if math.isnan(cosine[k]):
            usable_max[k] = math.nan
    return usable_max, max_rel, cosine, allowed, passed


def _combine(lanes):
    """(scale, dot, aa, bb) from lane results (count, 16): max of the lane maxima, (l0 + l1) + (l2 + l3)."""
    count = lanes.shape[0]
    scale, dot, aa, bb = np.empty(count), np.empty(count), np.empty(count), np.empty(count)
    for k in range(count):
        l = lanes[k]
        scale[k] = max(max(l[0], l[1]), max(l[2], l[3]))
        dot[k] = (l[4] + l[5]) + (l[6] + l[7])
        aa[k] = (l[8] + l[9]) + (l[10] + l[11])
        bb[k] = (l[12] + l[13]) + (l[14] + l[15])
    return scale, dot, aa, bb


def _finish(lanes, max_abs, value, floor, atol, rtol):
    """`_combine`, then `_judge`: (max_abs, max_rel, cosine, scale, allowed, passed)."""
    scale, dot, aa, bb = _combine(lanes)
    max_abs, max_rel, cosine, allowed, passed = _judge(max_abs, value, scale, dot, aa, bb, floor, atol, rtol)
    return max_abs, max_rel, cosine, scale, allowed, passed


def _compile(function, signature, **options):
    """numba.njit(signature) with LLVM's SLP vectorizer on for this compilation only (numba
    reads the setting when it builds a module's pass manager; explicit signatures compile now,
    or load the on-disk cache)."""
    previous = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        return numba.njit(signature, cache=True, nogil=True, error_model="numpy", **options)(function)
    finally:
        numba.config.SLP_VECTORIZE = previous


if AVAILABLE:
    _block = numba.njit(inline="always", error_model="numpy")(_block)
    _blocks = numba.njit(error_model="numpy")(_blocks)
    row_statistics = numba.njit(error_model="numpy")(row_statistics)
    _judge = numba.njit(cache=True, error_model="numpy")(_judge)
    _combine = numba.njit(error_model="numpy")(_combine)
    _finish = numba.njit(cache=True, error_model="numpy")(_finish)
    _VECTOR = numba.types.Array(numba.types.float64, 1, "C", readonly=True)  # takes writable arrays too
    _lanes = _compile(_lanes, numba.types.Tuple((numba.float64, numba.int64))(_VECTOR, _VECTOR, numba.float64[::1]))
    _segments = _compile(_segments, numba.types.none(_VECTOR, _VECTOR, numba.int64[::1], numba.int64[::1], numba.int64[::1],
                                                     numba.float64[:, ::1], numba.float64[::1], numba.int64[::1],
                                                     numba.float64[::1], numba.float64[::1]))


_CONCATENATE_BELOW = 4096  # pairs smaller than this go through one `_segments` call over their concatenation


def pair(a: np.ndarray, b: np.ndarray) -> tuple[float, int, float, float, float, float, bool]:
    """Statistics of two contiguous float64 vectors of equal, non-zero length (see module docstring)."""
    lanes = np.empty(16)
    max_abs, index = _lanes(a, b, lanes)
    s0, s1, s2, s3, d0, d1, d2, d3, p0, p1, p2, p3, q0, q1, q2, q3 = lanes.tolist()
    aa, bb = (p0 + p1) + (p2 + p3), (q0 + q1) + (q2 + q3)
    return (max_abs, index, max(max(s0, s1), max(s2, s3)), (d0 + d1) + (d2 + d3), aa, bb,
            _finite(aa, bb, a, b))


class Statistics(NamedTuple):
    """The statistics of several tensor pairs, one entry per pair (`comparisons.diff` defines
    them); max_abs is NaN for a pair with a non-finite entry or statistic, or whose cosine needs
    the tensors (to redo one by one)."""

    max_abs: np.ndarray
    max_rel: np.ndarray
    cosine: np.ndarray
    scale: np.ndarray
    index: np.ndarray
    value: np.ndarray
    reference_value: np.ndarray
    allowed: np.ndarray
    passed: np.ndarray
    size: np.ndarray


def many(lefts: Sequence[np.ndarray], rights: Sequence[np.ndarray], sizes: Sequence[int], floor: float, atol: float,
         rtol: float) -> Statistics:
    """The statistics of every pair (lefts[k], rights[k]): real arrays of any shape and layout
    with the same number of entries, sizes[k] (non-zero), compared in C order as float64. Small
    pairs are concatenated into one pass; large ones are read where they are (copied only when
    not C-contiguous float64)."""
    count = len(rights)
    sizes = np.array(sizes, dtype=np.int64)
    lanes = np.empty((count, 16))
    max_abs, index = np.empty(count), np.empty(count, dtype=np.int64)
    value, reference_value = np.empty(count), np.empty(count)
    small = sizes < _CONCATENATE_BELOW
    rows = np.flatnonzero(small) if not small.all() else np.arange(count)
    if rows.size:
        starts = np.zeros(rows.size, dtype=np.int64)
        np.cumsum(sizes[rows][:-1], out=starts[1:])
        a = np.concatenate([_flat(lefts[k]) for k in rows], dtype=np.float64)
        b = np.concatenate([_flat(rights[k]) for k in rows], dtype=np.float64)
        _segments(a, b, starts, sizes[rows], rows, lanes, max_abs, index, value, reference_value)
    for k in np.flatnonzero(~small).tolist():
        a, b = vector(lefts[k]), vector(rights[k])
        max_abs[k], index[k] = _lanes(a, b, lanes[k])
        value[k], reference_value[k] = a[index[k]], b[index[k]]
    max_abs, max_rel, cosine, scale, allowed, passed = _finish(lanes, max_abs, value, floor, atol, rtol)
    return Statistics(max_abs, max_rel, cosine, scale, index, value, reference_value, allowed, passed, sizes)


def _flat(value) -> np.ndarray:
    return value.ravel() if isinstance(value, (np.ndarray, np.generic)) else np.ravel(value)


def vector(value) -> np.ndarray:
    """A contiguous float64 vector of a tensor's entries in C order (a view when it can be)."""
    return np.ascontiguousarray(value, dtype=np.float64).reshape(-1)


def _finite(aa: float, bb: float, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether every entry of a and b is finite: finite sums of squares prove it; they overflow
    only for entries beyond 1e154, so a non-finite sum needs the elementwise check."""
    return bool((math.isfinite(aa) and math.isfinite(bb)) or (np.isfinite(a).all() and np.isfinite(b).all()))
