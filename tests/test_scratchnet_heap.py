"""`scratchnet.heap.keep_freed_memory`: freed memory is reused inside it (glibc), the settings
nest and are restored, it does nothing elsewhere, and `fit` trains the same inside it."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import scratchnet as sn
import scratchnet.train
from scratchnet import heap

glibc_only = pytest.mark.skipif(heap._MALLOPT is None, reason="glibc's mallopt only: this C library is not glibc")


def _allocate_and_free() -> None:
    """Allocates, touches and frees 2 x 8 MB (about 3,900 pages when nothing is reused)."""
    first = np.ones((1000, 1000))
    second = first * 2.0
    del first, second


@glibc_only
def test_freed_memory_is_reused_inside():
    with heap.keep_freed_memory() as applied:
        assert applied is True
        assert heap.faults_per_call(_allocate_and_free, calls=10, warmup=3) < 50  # glibc's default returned it: ~1,300 a round, measured


def test_settings_nest_the_largest_pad_wins_and_the_last_exit_restores(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "_MALLOPT", lambda option, value: calls.append((option, value)) or 1)
    with heap.keep_freed_memory(1 << 20):
        with heap.keep_freed_memory(1 << 24):
            with heap.keep_freed_memory(1 << 22):
                pass
        assert calls == [(heap._M_MMAP_THRESHOLD, heap._MMAP_THRESHOLD), (heap._M_TOP_PAD, 1 << 20),
                         (heap._M_TOP_PAD, 1 << 24)]
    assert calls[-1] == (heap._M_TOP_PAD, heap._GLIBC_DEFAULT_TOP_PAD) and len(calls) == 4
    assert heap._depth == 0 and heap._pad == 0


def test_the_default_is_restored_when_the_block_raises(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "_MALLOPT", lambda option, value: calls.append((option, value)) or 1)
    with pytest.raises(KeyError):
        with heap.keep_freed_memory():
            raise KeyError("inside")
    assert calls[-1] == (heap._M_TOP_PAD, heap._GLIBC_DEFAULT_TOP_PAD) and heap._depth == 0


def test_without_glibc_it_does_nothing(monkeypatch):
    monkeypatch.setattr(heap, "_MALLOPT", None)
    with heap.keep_freed_memory() as applied:
        assert applied is False


@pytest.mark.parametrize("pad", [0, -1, 2**31, 1.5, True, "64M"])
def test_a_bad_pad_is_refused_by_name(pad):
    with pytest.raises(ValueError, match="pad_bytes must be a positive int"):
        with heap.keep_freed_memory(pad):
            pass


def test_faults_are_counted_per_call():
    pages = []
    assert heap.faults_per_call(lambda: pages.append(np.ones(1)), calls=4, warmup=2) >= 0
    assert len(pages) == 6
    for bad in ({"calls": 0}, {"warmup": -1}, {"calls": 2.0}):
        with pytest.raises(ValueError, match="must be an int"):
            heap.faults_per_call(lambda: None, **bad)


def test_fit_trains_the_same_bits_with_and_without_it(monkeypatch):
    data = sn.data.xor()

    def trained():
        net = sn.MLP([2, 8, 1], ["relu", "sigmoid"], loss="binary_cross_entropy", seed=4)
        history = sn.fit(net, data.X, data.y, sn.optim.Adam(lr=0.05), steps=30, batch_size=2, seed=1)
        return history.losses, net.params

    entered = []

    @contextlib.contextmanager
    def recorded():
        with heap.keep_freed_memory() as applied:
            entered.append(applied)
            yield applied

    monkeypatch.setattr(scratchnet.train, "keep_freed_memory", recorded)
    losses, params = trained()
    assert len(entered) == 1  # fit's loop ran inside it
    monkeypatch.setattr(scratchnet.train, "keep_freed_memory", lambda: contextlib.nullcontext(False))
    plain_losses, plain_params = trained()
    np.testing.assert_array_equal(losses, plain_losses)
    for name in params:
        np.testing.assert_array_equal(params[name], plain_params[name])
