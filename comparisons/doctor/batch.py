"""The batch: the user's X, y as their code holds them, and the canonical float64 copies.

Samples are rows by default: X (m, sizes[0]), y (m, sizes[-1]) (or (m,) integer class labels for
categorical cross-entropy, or (m,) targets of a one-output network). With
``samples_as_columns=True`` the user's code holds X as (sizes[0], m) and y as (sizes[-1], m),
as in Andrew Ng's courses; the canonical copies are always samples-as-rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import scratchnet as sn
from comparisons.doctor.spec import DoctorInputError


@dataclass(frozen=True)
class Batch:
    """`X_user`/`y_user`: private copies in the user's orientation and dtype (handed to their code
    as further copies); `X`/`y`: canonical float64 (m, in) / (m, out); `m`: samples."""

    X_user: np.ndarray
    y_user: np.ndarray
    X: np.ndarray
    y: np.ndarray
    samples_as_columns: bool

    @property
    def m(self) -> int:
        return int(self.X.shape[0])

    def first(self, count: int, net: sn.MLP) -> "Batch":
        """The first `count` samples, in both orientations (for the batch-size probe)."""
        if self.samples_as_columns:
            X_user = self.X_user[:, :count]
            y_user = self.y_user[:, :count] if self.y_user.ndim == 2 else self.y_user[:count]
        else:
            X_user, y_user = self.X_user[:count], self.y_user[:count]
        return make_batch(net, X_user, y_user, self.samples_as_columns)


def make_batch(net: sn.MLP, X: object, y: object, samples_as_columns: bool) -> Batch:
    """Validate X, y against the declared network and build both views."""
    X_user, y_user = np.array(X, copy=True, subok=True), np.array(y, copy=True, subok=True)
    if X_user.dtype.kind not in "biuf" or y_user.dtype.kind not in "biuf":
        raise DoctorInputError(f"X and y must be numeric arrays, got dtypes {X_user.dtype} and {y_user.dtype}")
    if not isinstance(samples_as_columns, (bool, np.bool_)):
        raise DoctorInputError(f"samples_as_columns must be True or False, got {samples_as_columns!r}")
    if X_user.ndim != 2:
        raise DoctorInputError(f"X must be 2-D, got shape {X_user.shape}")
    X_rows = X_user.T if samples_as_columns else X_user
    y_rows = y_user.T if samples_as_columns and y_user.ndim == 2 else y_user
    orientation = "(features, m) because samples_as_columns=True" if samples_as_columns else "(m, features)"
    try:
        X_canonical = net.check_inputs(X_rows)
    except (TypeError, ValueError) as error:
        flip = "False" if samples_as_columns else "True"
        raise DoctorInputError(f"X has shape {X_user.shape}, expected {orientation} with {net.sizes[0]} features: "
                               f"{error} (if your code holds X the other way round, pass samples_as_columns={flip})") from None
    k = net.sizes[-1]
    labels = net.loss.name == "categorical_cross_entropy" and y_rows.ndim == 1 and y_rows.dtype.kind in "iu"
    if y_rows.ndim == 1 and k == 1 and not labels:
        y_rows = y_rows.reshape(-1, 1)
    try:
        y_canonical = net.check_targets(y_rows, X_canonical.shape[0]).astype(np.float64)
    except (TypeError, ValueError) as error:
        raise DoctorInputError(f"y has shape {y_user.shape}: {error}") from None
    return Batch(X_user, y_user, X_canonical.astype(np.float64), y_canonical, bool(samples_as_columns))
