"""The batch: the user's X, y as their code holds them, and the canonical float64 copies.

Samples are rows by default: X (m, sizes[0]), y (m, sizes[-1]) (or (m,) integer class labels for
categorical cross-entropy, or (m,) targets of a one-output network). With
``samples_as_columns=True`` the user's code holds X as (sizes[0], m) and y as (sizes[-1], m),
as in Andrew Ng's courses; the canonical copies are always samples-as-rows.

Class labels are declared, never guessed (``labels``): ``"one_hot"`` (y holds one target per
output), ``"zero_based"`` (integer labels 0..k-1) or ``"one_based"`` (1..k, as Ng's ex4 data), as
(m,), (m, 1) or (1, m) arrays, integers or integral floats. The reference gets them one-hot; the
user's code gets y exactly as given. Undeclared, 1-D integer labels of a categorical
cross-entropy network are zero-based (scratchnet's own convention); any other integer labels
are refused with the declaration that fits them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import scratchnet as sn
from comparisons.doctor.spec import DoctorInputError

LABELS = ("one_hot", "zero_based", "one_based")


@dataclass(frozen=True)
class Batch:
    """`X_user`/`y_user`: private copies in the user's orientation and dtype (handed to their code
    as further copies); `X`/`y`: canonical float64 (m, in) / (m, out); `m`: samples; `labels`:
    the declared label encoding; `y_axis`: the samples axis of `y_user`."""

    X_user: np.ndarray
    y_user: np.ndarray
    X: np.ndarray
    y: np.ndarray
    samples_as_columns: bool
    labels: str | None = None
    y_axis: int = 0

    @property
    def m(self) -> int:
        return int(self.X.shape[0])

    def first(self, count: int, net: sn.MLP) -> "Batch":
        """The first `count` samples, in both orientations (for the batch-size probe)."""
        X_user = self.X_user[:, :count] if self.samples_as_columns else self.X_user[:count]
        y_user = self.y_user[:, :count] if self.y_axis == 1 else self.y_user[:count]
        return make_batch(net, X_user, y_user, self.samples_as_columns, self.labels)


def make_batch(net: sn.MLP, X: object, y: object, samples_as_columns: bool, labels: str | None = None) -> Batch:
    """Validate X, y against the declared network and build both views."""
    X_user, y_user = np.array(X, copy=True, subok=True), np.array(y, copy=True, subok=True)
    if X_user.dtype.kind not in "biuf" or y_user.dtype.kind not in "biuf":
        raise DoctorInputError(f"X and y must be numeric arrays, got dtypes {X_user.dtype} and {y_user.dtype}")
    if not isinstance(samples_as_columns, (bool, np.bool_)):
        raise DoctorInputError(f"samples_as_columns must be True or False, got {samples_as_columns!r}")
    if labels is not None and labels not in LABELS:
        raise DoctorInputError(f"labels must be one of {', '.join(map(repr, LABELS))} (or None), got {labels!r}: "
                               "'one_hot' when y holds one target per output, 'zero_based' for class labels 0..k-1, "
                               "'one_based' for 1..k")
    if X_user.ndim != 2:
        raise DoctorInputError(f"X must be 2-D, got shape {X_user.shape}")
    X_canonical = _inputs(net, X_user, bool(samples_as_columns))
    m, k = X_canonical.shape[0], net.sizes[-1]
    encoding = _label_encoding(net, y_user, m, k, labels, bool(samples_as_columns))
    if encoding in ("zero_based", "one_based"):
        y_canonical = _one_hot(y_user, m, k, encoding)
        y_axis = 1 if y_user.ndim == 2 and y_user.shape[0] == 1 and m != 1 else 0
    else:
        y_canonical = _targets(net, y_user, m, k, bool(samples_as_columns))
        y_axis = 1 if samples_as_columns and y_user.ndim == 2 else 0
    return Batch(X_user, y_user, X_canonical.astype(np.float64), y_canonical.astype(np.float64), bool(samples_as_columns),
                 labels, y_axis)


def _inputs(net: sn.MLP, X_user: np.ndarray, samples_as_columns: bool) -> np.ndarray:
    """X as canonical rows, or one message saying which orientation the shape has and what to pass."""
    features = net.sizes[0]
    feature_axis = 0 if samples_as_columns else 1
    shape = X_user.shape
    if shape[feature_axis] != features:
        if shape[1 - feature_axis] == features and samples_as_columns:
            raise DoctorInputError(
                f"X has shape {shape}: with samples_as_columns=True X must be (features, m) = ({features}, m), but yours "
                f"has the {features} features on axis 1, so it holds samples as rows: pass samples_as_columns=False if your "
                "code takes samples as rows, or pass X.T (and y.T)")
        if shape[1 - feature_axis] == features:
            raise DoctorInputError(
                f"X has shape {shape}: X must be (m, features) = (m, {features}), but yours has the {features} features on "
                "axis 0, so it holds samples as columns; pass samples_as_columns=True if your code holds X that way, "
                "or pass X.T")
        expected = f"({features}, m) with samples_as_columns=True" if samples_as_columns else f"(m, {features})"
        raise DoctorInputError(f"X has shape {shape}, but the network takes {features} features (sizes[0] = {features}): "
                               f"expected {expected}")
    try:
        return net.check_inputs(X_user.T if samples_as_columns else X_user)
    except (TypeError, ValueError) as error:
        raise DoctorInputError(f"X: {error}") from None


def _label_shaped(y: np.ndarray, m: int) -> bool:
    return (y.ndim == 1 and y.shape[0] == m) or (y.ndim == 2 and y.shape in ((m, 1), (1, m)))


def _integral(y: np.ndarray) -> bool:
    if y.dtype.kind in "biu":
        return True
    return bool(y.size) and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))


def _label_encoding(net: sn.MLP, y: np.ndarray, m: int, k: int, labels: str | None, samples_as_columns: bool) -> str:
    """'one_hot' (targets), 'zero_based' or 'one_based' for the user's y, or a DoctorInputError
    that names the declaration to add."""
    if labels in ("zero_based", "one_based"):
        if k == 1:
            raise DoctorInputError(f"labels={labels!r} is for networks with one output per class, but this one has 1 output: "
                                   "y is the target itself; drop labels")
        if not _label_shaped(y, m) or not _integral(y):
            raise DoctorInputError(
                f"labels={labels!r} needs one integer class label per sample, as an array of shape ({m},), ({m}, 1) or "
                f"(1, {m}); y has shape {y.shape} and dtype {y.dtype}")
        low, high = (0, k - 1) if labels == "zero_based" else (1, k)
        bad = (y < low) | (y > high)
        if np.any(bad):
            value = y[bad].ravel()[0]
            other = ("one_based", 1, k) if labels == "zero_based" else ("zero_based", 0, k - 1)
            fits_other = other[1] <= y.min() and y.max() <= other[2]
            hint = f"; y holds {_number(y.min())}..{_number(y.max())}, which fits labels={other[0]!r}" if fits_other else ""
            raise DoctorInputError(f"labels={labels!r} means class labels {low}..{high} for {k} outputs, but y holds "
                                   f"{_number(value)}{hint}")
        return labels
    if labels == "one_hot" or k == 1 or not _label_shaped(y, m) or not _integral(y):
        return "one_hot"
    if net.loss.name == "categorical_cross_entropy" and y.ndim == 1 and y.dtype.kind in "iu" and y.min() >= 0 and y.max() < k:
        return "zero_based"
    raise DoctorInputError(_labels_message(y, m, k))


def _labels_message(y: np.ndarray, m: int, k: int) -> str:
    low, high = y.min(), y.max()
    options = []
    if low >= 1 and high <= k:
        options.append(f"labels=\"one_based\" (class labels 1..{k}, as Ng's ex4 data holds them)")
    if low >= 0 and high <= k - 1:
        options.append(f"labels=\"zero_based\" (class labels 0..{k - 1})")
    text = (f"y has shape {y.shape} and holds integer class labels {_number(low)}..{_number(high)}, but the network has {k} "
            "outputs, so the reference needs one target per output: ")
    if options:
        fits = "fit both; say which your code uses" if len(options) == 2 else "fit"
        return (text + f"declare the label encoding, {' or '.join(options)} ({_number(low)}..{_number(high)} {fits}); the "
                f"doctor then one-hot encodes y for the reference and your code still gets y as it is. Or pass one-hot "
                f"targets of shape ({m}, {k})")
    return text + (f"class labels must lie in 0..{k - 1} (labels=\"zero_based\") or 1..{k} (labels=\"one_based\"); or pass "
                   f"one-hot targets of shape ({m}, {k})")


def _number(value) -> str:
    return f"{float(value):g}"


def _one_hot(y: np.ndarray, m: int, k: int, encoding: str) -> np.ndarray:
    indices = y.reshape(m).astype(np.int64) - (1 if encoding == "one_based" else 0)
    return np.eye(k)[indices]


def _targets(net: sn.MLP, y_user: np.ndarray, m: int, k: int, samples_as_columns: bool) -> np.ndarray:
    """Targets (one per output) as canonical rows, or one message naming the orientation to pass."""
    if y_user.ndim == 2 and k > 1 and m != k:
        due, flipped = ((k, m), (m, k)) if samples_as_columns else ((m, k), (k, m))
        if y_user.shape == flipped:
            fix = ("pass y.T, or samples_as_columns=False if your code holds samples as rows" if samples_as_columns else
                   "pass y.T, or samples_as_columns=True if your code holds X and y with samples as columns")
            orientation = "(outputs, m) with samples_as_columns=True" if samples_as_columns else "(m, outputs)"
            raise DoctorInputError(f"y has shape {y_user.shape}: it must be {orientation} = {due}, and yours has the samples "
                                   f"on the other axis; {fix}")
    y_rows = y_user.T if samples_as_columns and y_user.ndim == 2 else y_user
    if y_rows.ndim == 1 and k == 1:
        y_rows = y_rows.reshape(-1, 1)
    try:
        return net.check_targets(y_rows, m)
    except (TypeError, ValueError) as error:
        message = str(error)
        if samples_as_columns and y_user.ndim == 2:
            message = message.replace(f"y has shape {y_rows.shape}", f"y has shape {y_user.shape} (samples as columns, "
                                      f"so {y_rows.shape} as rows)")
        raise DoctorInputError(message) from None
