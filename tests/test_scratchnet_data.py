"""Data sets, the deterministic batch schedule, and IDX/MNIST files written by the tests."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.data import batch_schedule, read_idx

BITS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)


@pytest.mark.parametrize("name, targets", [("xor", [0, 1, 1, 0]), ("and", [0, 0, 0, 1])])
def test_truth_tables(name, targets):
    data = sn.data.load(name)
    np.testing.assert_array_equal(data.X, BITS)
    np.testing.assert_array_equal(data.y, np.array(targets, dtype=np.float64).reshape(4, 1))
    assert data.X.dtype == data.y.dtype == np.float64 and data.n_samples == 4


def test_parity3_is_every_3_bit_pattern_with_even_parity_targets():
    data = sn.data.parity3()
    assert data.X.shape == (8, 3) and data.y.shape == (8, 1)
    assert len({tuple(row) for row in data.X}) == 8 and set(data.X.ravel()) == {0.0, 1.0}
    np.testing.assert_array_equal(data.y.ravel(), data.X.sum(axis=1) % 2 == 0)


def test_sin_is_an_even_grid_with_seeded_noise():
    clean = sn.data.load("sin", n_samples=7)
    np.testing.assert_array_equal(clean.X.ravel(), np.linspace(-np.pi, np.pi, 7))
    np.testing.assert_array_equal(clean.y, np.sin(clean.X))
    noisy, same, other = (sn.data.sin(7, noise=0.1, seed=seed) for seed in (1, 1, 2))
    np.testing.assert_array_equal(noisy.y, same.y)
    assert not np.array_equal(noisy.y, other.y)
    assert 0 < np.abs(noisy.y - clean.y).max() < 0.5


def test_digits_is_1797_by_64_with_one_hot_ten_classes():
    data = sn.data.load("digits")
    assert data.X.shape == (1797, 64) and data.y.shape == (1797, 10)
    assert data.X.min() == 0.0 and data.X.max() == 1.0
    assert set(np.unique(data.y)) == {0.0, 1.0}
    np.testing.assert_array_equal(data.y.sum(axis=1), 1.0)
    np.testing.assert_array_equal(data.y.argmax(axis=1), data.labels)
    assert np.bincount(data.labels).min() > 170  # every digit, roughly balanced
    raw = sn.data.digits(n_samples=10, scale=False)
    np.testing.assert_array_equal(raw.X, data.X[:10] * 16)
    assert set(np.unique(raw.X)) <= set(range(17))


# ---------------------------------------------------------------- batch_schedule
def epochs(batches, n_samples, batch_size):
    per_epoch = -(-n_samples // batch_size)
    return [batches[start : start + per_epoch] for start in range(0, len(batches), per_epoch)]


def test_batch_schedule_epochs_are_permutations_with_the_short_batch_kept():
    batches = list(batch_schedule(10, 4, steps=9, seed=3))
    assert [len(batch) for batch in batches] == [4, 4, 2] * 3
    permutations = [np.concatenate(epoch) for epoch in epochs(batches, 10, 4)]
    for order in permutations:
        np.testing.assert_array_equal(np.sort(order), np.arange(10))
    assert not np.array_equal(permutations[0], permutations[1])  # a new permutation every epoch


def test_batch_schedule_is_deterministic_and_seeded():
    first, again, other = (list(batch_schedule(10, 3, steps=7, seed=seed)) for seed in (0, 0, 1))
    assert all(np.array_equal(a, b) for a, b in zip(first, again)) and len(first) == 7
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_batch_schedule_without_shuffle_and_full_batch():
    assert [list(batch) for batch in batch_schedule(5, 2, steps=4, shuffle=False)] == [[0, 1], [2, 3], [4], [0, 1]]
    full = list(batch_schedule(5, None, steps=2, shuffle=False))
    assert [list(batch) for batch in full] == [[0, 1, 2, 3, 4]] * 2


@pytest.mark.parametrize("n_samples, batch_size, message", [
    (5, 0, r"batch_size must be in 1\.\.5"),
    (5, 6, r"batch_size must be in 1\.\.5 \(the number of samples\), got 6"),
    (0, None, "at least one sample"),
])
def test_batch_schedule_refuses_bad_sizes(n_samples, batch_size, message):
    with pytest.raises(ValueError, match=message):
        list(batch_schedule(n_samples, batch_size, steps=1))


# ---------------------------------------------------------------- IDX / MNIST
IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f8"): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding: magic 0x0000TTNN, big-endian int32 dimensions, then the data."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.tobytes()


def write_idx(path, array: np.ndarray) -> None:
    blob = idx_bytes(array)
    path.write_bytes(gzip.compress(blob) if path.suffix == ".gz" else blob)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("array", [
    np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    np.array([-5, 0, 70000], dtype=">i4"),
    np.linspace(-1, 1, 6).astype(">f8").reshape(3, 2),
], ids=["uint8-3d", "int32-1d", "float64-2d"])
def test_read_idx_round_trip(tmp_path, suffix, array):
    path = tmp_path / f"data.idx{suffix}"
    write_idx(path, array)
    loaded = read_idx(path)
    assert loaded.shape == array.shape and loaded.dtype == array.dtype
    np.testing.assert_array_equal(loaded, array)


GOOD = idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))


CORRUPT = {  # file name -> (content, message fragment)
    "bad-magic": (b"\x01\x02" + GOOD[2:], "is not an IDX file"),
    "bad-type": (GOOD[:2] + b"\x07" + GOOD[3:], "is not an IDX file"),
    "empty": (b"", "is not an IDX file"),
    "short-data": (GOOD[:-1], r"header says shape \(2, 3\) \(6 bytes\) but 5 bytes follow"),
    "extra-data": (GOOD + b"\x00", r"but 7 bytes follow"),
    "short-header": (GOOD[:6], r"truncated IDX header \(2 dimensions need 12 bytes"),
    "not-gzip.gz": (GOOD, "is not a valid gzip file"),
    "cut-gzip.gz": (gzip.compress(GOOD, mtime=0)[:-12], "is not a valid gzip file"),
}


@pytest.mark.parametrize("name", CORRUPT)
def test_read_idx_refuses_corrupt_files(tmp_path, name):
    content, message = CORRUPT[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)
    assert name in str(error.value)  # the message names the file


def write_mnist(folder, kind, images, labels, suffix=""):
    write_idx(folder / f"{kind}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{kind}-labels-idx1-ubyte{suffix}", labels)


@pytest.mark.parametrize("kind, suffix", [("train", ""), ("t10k", ".gz")])
def test_mnist_reads_the_four_file_layout(tmp_path, kind, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28)).astype(np.uint8)
    labels = np.array([3, 0, 9, 1, 1, 7, 5], dtype=np.uint8)
    write_mnist(tmp_path, kind, images, labels, suffix)
    data = sn.data.load("mnist", path=tmp_path, kind=kind)
    assert data.X.shape == (7, 784) and data.y.shape == (7, 10) and data.X.dtype == np.float64
    np.testing.assert_array_equal(data.X, images.reshape(7, -1) / 255.0)
    np.testing.assert_array_equal(data.y, np.eye(10)[labels])
    np.testing.assert_array_equal(data.labels, labels)
    assert sn.data.mnist(tmp_path, kind=kind, n_samples=3).X.shape == (3, 784)


def test_mnist_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\[\.gz\] not found"):
        sn.data.mnist(tmp_path)
    write_mnist(tmp_path, "train", np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        sn.data.mnist(tmp_path)
    with pytest.raises(ValueError, match="did you mean 'train'"):
        sn.data.mnist(tmp_path, kind="trian")
