"""`scratchnet.heap.reuse_freed_memory`: a step's freed memory is reused afterwards (glibc), a
user's own malloc tuning is left alone, nothing happens off glibc, `fit` trains the same bits
with and without it; `faults_per_call` counts per call. The settings last for the process, so
the tests that apply them run in fresh interpreters."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from scratchnet import heap

glibc_only = pytest.mark.skipif(heap._MALLOPT is None, reason="glibc's mallopt only: this C library is not glibc")
CLEAN = {name: value for name, value in os.environ.items() if name not in heap._USER_SETTINGS and name != "GLIBC_TUNABLES"}


def _python(code: str, **environment: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
                          env={**CLEAN, **environment})
    assert done.returncode == 0, done.stderr
    return done.stdout


@glibc_only
def test_freed_memory_is_reused_after_the_call():
    """2 x 8 MB allocated and freed a round: glibc's default maps them in afresh every round
    (its adaptive threshold rises to the freed block's size, and a request of that size is
    mmapped again), after the call the heap keeps them."""
    out = _python("""
        import numpy as np
        from scratchnet import heap

        def round_trip():
            first = np.ones((1000, 1000))
            second = first * 2.0
            del first, second

        before = heap.faults_per_call(round_trip, calls=10, warmup=3)
        applied = heap.reuse_freed_memory()
        print(before, applied, heap.faults_per_call(round_trip, calls=10, warmup=3), heap.reuse_freed_memory())
    """)
    before, applied, after, again = out.split()
    assert applied == again == "True"
    assert float(before) > 200 and float(after) < float(before) / 20, out


@glibc_only
def test_a_user_tuned_malloc_is_left_alone():
    out = _python("from scratchnet import heap; print(heap.reuse_freed_memory())", MALLOC_TRIM_THRESHOLD_="1048576")
    assert out.split() == ["False"]
    assert heap.user_tuned({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4096"})
    assert not heap.user_tuned({"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}) and not heap.user_tuned({})


def test_without_glibc_it_does_nothing(monkeypatch):
    monkeypatch.setattr(heap, "_MALLOPT", None)
    assert heap.reuse_freed_memory() is False


@glibc_only
def test_fit_trains_the_same_bits_with_and_without_it():
    """A network whose activations (256 x 600 float64, 1.2 MB) are mmapped under glibc's
    defaults: fresh processes, one with the setting (fit's own), one where the environment tunes
    malloc itself (so fit leaves glibc as it is)."""
    code = """
        import numpy as np
        import scratchnet as sn
        from scratchnet import heap

        data = np.random.default_rng(0)
        X, y = data.normal(size=(512, 64)), data.integers(0, 10, 512)
        net = sn.MLP([64, 600, 10], ["relu", "softmax"], loss="categorical_cross_entropy", seed=3)
        history = sn.fit(net, X, y, sn.optim.SGD(lr=0.05, momentum=0.9), steps=12, batch_size=256, seed=1)
        print(heap._applied, *[float(v).hex() for v in history.losses], *[float(w).hex() for w in net.params["dense_0.W"].ravel()[::997]])
    """
    reused = _python(code).split()
    plain = _python(code, MALLOC_TOP_PAD_="131072").split()
    assert reused[0] == "True" and plain[0] == "False"
    assert reused[1:] == plain[1:]


def test_faults_are_counted_per_call():
    calls = []
    assert isinstance(heap.faults_per_call(lambda: calls.append(np.ones(1)), calls=4, warmup=2), float)
    assert len(calls) == 6
    for bad in ({"calls": 0}, {"warmup": -1}, {"calls": 2.0}):
        with pytest.raises(ValueError, match="must be an int"):
            heap.faults_per_call(lambda: None, **bad)
