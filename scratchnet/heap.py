"""Keeping freed memory for reuse while training (glibc's malloc only).

A training step allocates its activations, deltas and gradients afresh and frees them when the
step ends (float64, MLP 784-256-256-10, batch 256: ~7.5 MB a step). glibc's malloc serves
requests above its mmap threshold with fresh ``mmap`` pages and returns the free top of its heap
to the kernel once it exceeds its trim threshold, so every step can page-fault that memory in
again. How much depends on what the process allocated before (glibc adapts both thresholds to
the largest block freed so far). Measured on the project's 2-core machine, float64: in one
process ~1,900 minor faults and ~5 ms of system time per step whose products take 4-6 ms (the
step at 53 % of its products' speed, 79-88 % without the faults); in `scratchnet.fit` processes
130-170 faults and ~0.5 ms per step; in others none.

`keep_freed_memory()` makes a training loop independent of that history: inside it glibc keeps
up to ``pad_bytes`` of free memory at the top of its heap (``M_TOP_PAD``) and serves requests
below 32 MiB from the heap (``M_MMAP_THRESHOLD``, the ceiling of glibc's own adaptive threshold
on 64-bit systems), so a step reuses the pages the previous step freed. `scratchnet.fit` runs
inside it; a hand-written loop can too (`faults_per_call` counts what a step costs)::

    with scratchnet.heap.keep_freed_memory():
        for X, y in batches:
            loss, grads = net.loss_and_grads(X, y)
            optimizer.step(net.params, grads)

On exit the pad goes back to glibc's default (128 KiB) and the next trim returns the memory to
the kernel. glibc has no way to read its settings back or to resume adapting its thresholds, so
after the first use the mmap threshold stays 32 MiB and the trim threshold stays where glibc had
moved it. Results are unchanged (only where the arrays live changes). Elsewhere (macOS, Windows,
musl) it does nothing and yields False.
"""
from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

DEFAULT_PAD_BYTES = 64 * 1024 * 1024
_GLIBC_DEFAULT_TOP_PAD = 128 * 1024  # DEFAULT_TOP_PAD in glibc's malloc-machine.h (man mallopt)
_MMAP_THRESHOLD = 32 * 1024 * 1024  # DEFAULT_MMAP_THRESHOLD_MAX for 64-bit glibc
_M_TOP_PAD, _M_MMAP_THRESHOLD = -2, -3  # <malloc.h>

_lock = threading.Lock()
_depth = 0
_pad = 0


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


@contextmanager
def keep_freed_memory(pad_bytes: int = DEFAULT_PAD_BYTES) -> Iterator[bool]:
    """Inside the block glibc keeps up to `pad_bytes` of freed heap for reuse (see the module
    docstring). Yields True where it applies (glibc), False where it does nothing. Nested and
    concurrent blocks share one setting: the outermost sets it, the largest pad wins, and the
    last to leave restores glibc's default pad."""
    global _depth, _pad
    if isinstance(pad_bytes, bool) or not isinstance(pad_bytes, int) or not 0 < pad_bytes < 2**31:
        raise ValueError(f"pad_bytes must be a positive int below 2**31 (a C int), got {pad_bytes!r}")
    if _MALLOPT is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            _MALLOPT(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        if pad_bytes > _pad:
            _MALLOPT(_M_TOP_PAD, pad_bytes)
            _pad = pad_bytes
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _MALLOPT(_M_TOP_PAD, _GLIBC_DEFAULT_TOP_PAD)
                _pad = 0


def faults_per_call(function: Callable[[], object], calls: int = 50, warmup: int = 5) -> float:
    """Minor page faults (pages the kernel had to map in) per call of ``function()``, averaged
    over `calls` calls after `warmup` untimed ones, from ``getrusage`` (Unix; the whole process,
    so other threads' faults count too)."""
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
