"""Data sets and batching.

Every loader returns a `Dataset` with X of shape (n, features) and y of shape (n, outputs)
(one-hot for classification) in float64; image sets can give X as channels-first images
(n, channels, height, width) instead (``digits`` and ``mnist`` with ``as_images=True``; an
``npz`` file whose X has more than two axes). Names for `load`: ``xor``, ``and``, ``parity3``,
``sin``, ``digits``, ``classification``, ``regression``, ``mnist`` (needs ``path``), ``npz``
(needs ``path``).
"""
from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from scratchnet._checks import unknown_name


@dataclass(frozen=True)
class Dataset:
    """X (n, features) or channels-first images (n, channels, height, width), and y (n, outputs),
    float64, plus integer labels for classification."""

    name: str
    X: np.ndarray
    y: np.ndarray
    description: str = ""
    labels: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])


def one_hot(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """(n,) integer labels -> (n, n_classes) float64 one-hot."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}")
    out = np.zeros((labels.size, n_classes))
    out[np.arange(labels.size), labels] = 1.0
    return out


def mapminmax(X: np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """MATLAB `mapminmax`: map each column linearly to [low, high] (constant columns to low)."""
    X = np.asarray(X, dtype=np.float64)
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (X - lo) / span * (high - low) + low


def xor() -> Dataset:
    """The 4 XOR patterns, targets (4, 1)."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    return Dataset("xor", X, np.array([[0], [1], [1], [0]], dtype=np.float64), "XOR truth table")


def and_() -> Dataset:
    """The 4 AND patterns, targets (4, 1): learnable by a single neuron."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    return Dataset("and", X, np.array([[0], [0], [0], [1]], dtype=np.float64), "AND truth table")


def parity3() -> Dataset:
    """All 8 patterns of 3 binary inputs with the targets of the 3-input tanh perceptron question."""
    X = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)], dtype=np.float64)
    y = np.array([[1], [0], [0], [1], [0], [1], [1], [0]], dtype=np.float64)
    return Dataset("parity3", X, y, "3-bit patterns, target 1 for even parity")


def sin(n_samples: int = 100, low: float = -np.pi, high: float = np.pi, noise: float = 0.0, seed: int = 0) -> Dataset:
    """y = sin(x) on an even grid of `n_samples` points in [low, high], optional Gaussian noise."""
    if n_samples < 2:
        raise ValueError(f"sin needs n_samples >= 2, got {n_samples}")
    x = np.linspace(low, high, n_samples).reshape(-1, 1)
    y = np.sin(x) + noise * np.random.default_rng(seed).normal(size=x.shape)
    return Dataset("sin", x, y, f"sin(x) on {n_samples} points in [{low:.4g}, {high:.4g}]")


def digits(n_samples: int | None = None, scale: bool = True, as_images: bool = False) -> Dataset:
    """The UCI handwritten digits (1797 x 64, pixels 0..16; scaled to [0, 1] by default), one-hot
    targets (n, 10). `n_samples` takes the first n rows. ``as_images=True`` gives X as 8x8
    one-channel images (n, 1, 8, 8) (the 64 columns are the rows of the image, top first)."""
    if not isinstance(as_images, (bool, np.bool_)):
        raise TypeError(f"as_images must be true or false, got {as_images!r}")
    table = _digits_table()
    if n_samples is not None:
        if not 1 <= n_samples <= table.shape[0]:
            raise ValueError(f"digits has {table.shape[0]} samples, n_samples={n_samples} asked")
        table = table[:n_samples]
    X = table[:, :-1] / (16.0 if scale else 1.0)
    labels = table[:, -1].astype(np.int64)
    if as_images:
        return Dataset("digits", X.reshape(-1, 1, 8, 8), one_hot(labels, 10), "UCI optical handwritten digits, 8x8 images", labels)
    return Dataset("digits", X, one_hot(labels, 10), "UCI optical handwritten digits, 8x8", labels)


@lru_cache(maxsize=1)
def _digits_table() -> np.ndarray:
    """The shipped digits file parsed once per process (1797 x 65, read-only: callers derive
    new arrays from it)."""
    raw = resources.files("scratchnet").joinpath("datasets/digits.csv.gz").read_bytes()
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",")
    table.flags.writeable = False
    return table


def classification(n_samples: int = 200, n_features: int = 20, n_classes: int = 2, seed: int = 0, separation: float = 1.0) -> Dataset:
    """Gaussian blobs, one per class, centres drawn with the given separation. Two classes give
    (n, 1) 0/1 targets (for sigmoid + BCE); more give one-hot (n, n_classes)."""
    if n_classes < 2 or n_samples < n_classes or n_features < 1:
        raise ValueError(f"classification needs n_classes >= 2, n_samples >= n_classes and n_features >= 1, got "
                         f"n_classes={n_classes}, n_samples={n_samples}, n_features={n_features}")
    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % n_classes
    rng.shuffle(labels)
    centres = rng.normal(scale=separation, size=(n_classes, n_features))
    X = centres[labels] + rng.normal(size=(n_samples, n_features))
    y = labels.reshape(-1, 1).astype(np.float64) if n_classes == 2 else one_hot(labels, n_classes)
    return Dataset("classification", X, y, f"{n_classes} Gaussian blobs in {n_features} dims", labels)


def regression(n_samples: int = 200, n_features: int = 5, n_outputs: int = 1, noise: float = 0.1, seed: int = 0) -> Dataset:
    """y = tanh(X A) B + noise: a smooth nonlinear target an MLP can fit."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    hidden = np.tanh(X @ rng.normal(size=(n_features, 8)) / np.sqrt(n_features))
    y = hidden @ rng.normal(size=(8, n_outputs)) + noise * rng.normal(size=(n_samples, n_outputs))
    return Dataset("regression", X, y, f"nonlinear regression, {n_features} -> {n_outputs}")


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format; `.gz` accepted): magic 0x0000TTNN, NN big-endian
    int32 dimensions, then the data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is not a valid gzip file ({error})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions need {header} bytes, the file has {len(data)})")
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">i4"))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes) but {len(data) - header} bytes follow")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def mnist(path: str | Path, kind: str = "train", n_samples: int | None = None, as_images: bool = False) -> Dataset:
    """MNIST from the four IDX files in `path` (``train-images-idx3-ubyte[.gz]`` etc.; kind is
    ``train`` or ``t10k``): X (n, 784) in [0, 1], or (n, 1, 28, 28) with ``as_images=True``,
    one-hot y (n, 10)."""
    if kind not in ("train", "t10k"):
        raise unknown_name("MNIST kind", kind, ("train", "t10k"))
    folder = Path(path)

    def find(stem: str) -> Path:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.exists():
                return candidate
        raise FileNotFoundError(f"MNIST file {stem}[.gz] not found in {folder}")

    images = read_idx(find(f"{kind}-images-idx3-ubyte"))
    labels = read_idx(find(f"{kind}-labels-idx1-ubyte")).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST {kind}: {images.shape[0]} images but {labels.shape[0]} labels")
    if n_samples is not None:
        images, labels = images[:n_samples], labels[:n_samples]
    X = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    if as_images:
        X = X.reshape(images.shape[0], 1, *images.shape[1:])
    return Dataset("mnist", X, one_hot(labels, 10), f"MNIST {kind}", labels)


def npz(path: str | Path, x_key: str = "X", y_key: str = "y") -> Dataset:
    """Arrays from a user's ``.npz`` file, loaded with ``allow_pickle=False`` (no code can run).
    X is (samples, features) or channels-first images (samples, channels, height, width); y is
    (n, k), or 1-D: integer labels become one-hot, floats one column."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"npz data file {str(path)!r} does not exist")
    with np.load(path, allow_pickle=False) as archive:
        missing = [key for key in (x_key, y_key) if key not in archive.files]
        if missing:
            raise ValueError(f"{path} has no array {missing[0]!r} (arrays in the file: {archive.files})")
        X, y = archive[x_key], archive[y_key]
    if X.ndim not in (2, 4):
        raise ValueError(f"{path}: {x_key} must be (samples, features) or channels-first images (samples, channels, "
                         f"height, width), got shape {X.shape}")
    labels = None
    if y.ndim == 1:
        if y.dtype.kind in "iu":
            labels, y = y.astype(np.int64), one_hot(y.astype(np.int64))
        else:
            y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{path}: {y_key} has shape {y.shape}, expected ({X.shape[0]}, outputs) to match {x_key} {X.shape}")
    return Dataset("npz", X.astype(np.float64), y.astype(np.float64), f"arrays {x_key}, {y_key} from {path.name}", labels)


LOADERS: dict[str, Callable[..., Dataset]] = {
    "xor": xor,
    "and": and_,
    "parity3": parity3,
    "sin": sin,
    "digits": digits,
    "classification": classification,
    "regression": regression,
    "mnist": mnist,
    "npz": npz,
}


def load(name: str, **options: Any) -> Dataset:
    """Load a data set by name with its options, e.g. ``load("sin", n_samples=50)``."""
    if name not in LOADERS:
        raise unknown_name("data set", name, LOADERS)
    try:
        return LOADERS[name](**options)
    except TypeError as error:
        raise TypeError(f"bad options for data set {name!r}: {options} ({error})") from None


def batch_schedule(n_samples: int, batch_size: int | None, steps: int, shuffle: bool = True, seed: int = 0) -> Iterator[np.ndarray]:
    """Index arrays for `steps` mini-batches: epochs of a permutation (from
    ``numpy.random.default_rng(seed)``, one new permutation per epoch) cut into consecutive
    batches; the last, shorter batch of an epoch is kept. ``batch_size=None`` is full batch.
    The same arguments give the same sequence on every machine."""
    if n_samples < 1:
        raise ValueError("batch_schedule needs at least one sample")
    batch_size = n_samples if batch_size is None else batch_size
    if not 1 <= batch_size <= n_samples:
        raise ValueError(f"batch_size must be in 1..{n_samples} (the number of samples), got {batch_size}")
    rng = np.random.default_rng(seed)
    produced = 0
    while produced < steps:
        order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
        for start in range(0, n_samples, batch_size):
            if produced == steps:
                return
            yield order[start : start + batch_size]
            produced += 1
