"""Keeping freed memory for reuse between training steps (glibc's malloc only).

A training step allocates its activations, deltas and gradients afresh and frees them when the
step ends (float64, MLP 784-256-256-10, batch 256: ~7.5 MB a step). glibc's malloc serves a
request at or above its mmap threshold with fresh ``mmap`` pages, and returns the free top of its
heap to the kernel once it exceeds its trim threshold; both thresholds start at 128 KiB and rise
only when the process frees an mmapped block larger than them (to its size, and twice its size;
at most 32 MiB and 64 MiB). A step whose arrays are as large as the largest block freed so far
is therefore served by mmap every time, and page-faults all its memory in again every step.
Measured on the project's 2-core machine, float64, a hand-written loop of `loss_and_grads` and
`optimizer.step` in a fresh process: 1,960 minor faults a step and 11.1 ms against 7.8 ms without
them; in another process ~1,900 faults and ~5 ms of system time per step whose products take
4-6 ms; in processes whose history had raised the thresholds (JAX frees large blocks at start-up),
none. That history is one reason the same step measured anywhere between 57 % and 72 % of the
machine's matmul rate in different runs.

`reuse_freed_memory()` puts glibc where its own adaptive thresholds end up once a process has
freed one 32 MiB block: requests below 32 MiB come from the heap (``M_MMAP_THRESHOLD``) and up to
64 MiB of free heap is kept before trimming (``M_TRIM_THRESHOLD``, twice the mmap threshold, as
glibc's own rule), so a step reuses the pages the previous step freed. It is a setting for the
rest of the process (glibc cannot read its settings back, and once they are set it stops adapting
them); once more than 64 MiB is free at the top of the heap, glibc still gives it back.
`scratchnet.fit` calls it; a hand-written loop can call it once (`faults_per_call` counts what a
step costs)::

    scratchnet.heap.reuse_freed_memory()
    for X, y in batches:
        loss, grads = net.loss_and_grads(X, y)
        optimizer.step(net.params, grads)

Only where the arrays live changes; results are the same bits (measured: `fit` on a network whose
arrays are mmapped without it, in fresh processes with and without, tests/test_scratchnet_heap.py).
It does nothing, and returns False, where the C library is not glibc (macOS, Windows, musl) and
where the environment already tunes glibc's malloc (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``, ``MALLOC_MMAP_MAX_``, or ``glibc.malloc`` tunables in
``GLIBC_TUNABLES``): a setting the user chose is left as it is.
"""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Callable

_MMAP_THRESHOLD = 32 * 1024 * 1024  # DEFAULT_MMAP_THRESHOLD_MAX, the adaptive ceiling of 64-bit glibc
_TRIM_THRESHOLD = 2 * _MMAP_THRESHOLD  # glibc's adaptive rule: twice the mmap threshold
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")

_lock = threading.Lock()
_applied = False


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or None where the C library is not glibc."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return None
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, ValueError):  # no confstr name, no C library, no mallopt
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


_MALLOPT = _glibc_mallopt()


def user_tuned(environment: dict[str, str] | None = None) -> bool:
    """Whether the environment tunes glibc's malloc itself (then `reuse_freed_memory` leaves it)."""
    environment = os.environ if environment is None else environment
    return any(name in environment for name in _USER_SETTINGS) or "glibc.malloc." in environment.get("GLIBC_TUNABLES", "")


def reuse_freed_memory() -> bool:
    """Make glibc keep the memory a training step frees for the next step, for the rest of the
    process (see the module docstring). Returns True when the setting is in place (set now or
    by an earlier call), False where it does nothing (not glibc, glibc refused it, or the
    environment tunes malloc itself)."""
    global _applied
    if _MALLOPT is None or user_tuned():
        return False
    with _lock:
        if not _applied:
            # mallopt returns 1 on success
            _applied = bool(_MALLOPT(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)) & bool(_MALLOPT(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
        return _applied


def faults_per_call(function: Callable[[], object], calls: int = 50, warmup: int = 5) -> float:
    """Minor page faults per call of ``function()`` (each maps in one page or, with transparent
    huge pages or fault-around, several), averaged over `calls` calls after `warmup` untimed ones,
    from ``getrusage`` (Unix; the whole process, so other threads' faults count too)."""
    import resource  # Unix only: imported where it is used

    for name, value, least in (("calls", calls, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    for _ in range(warmup):
        function()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        function()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls
