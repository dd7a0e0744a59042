"""A minimal training loop on a deterministic batch schedule."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from scratchnet.data import batch_schedule
from scratchnet.heap import reuse_freed_memory
from scratchnet.network import Network
from scratchnet.optim import Optimizer


@dataclass
class History:
    """losses[t] is the loss of batch t at the weights before update t."""

    losses: np.ndarray


def fit(
    net: Network,
    X: Any,
    y: Any,
    optimizer: Optimizer,
    steps: int,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    callback: Callable[[int, float, dict[str, np.ndarray]], None] | None = None,
) -> History:
    """Train `net` in place for `steps` updates on batches from `batch_schedule(len(X),
    batch_size, steps, shuffle, seed)`. `callback(step, loss, grads)` runs after each update.
    Each step updates the layer state (batch-norm running statistics) and draws new dropout masks.
    It first calls `scratchnet.heap.reuse_freed_memory()` (glibc then keeps the memory a step
    frees for the next step instead of page-faulting it in again; the same bits)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    X = net.check_inputs(X)
    y = net.check_targets(y, X.shape[0])
    losses = np.empty(steps)
    full_batch = batch_size is None or batch_size == X.shape[0]
    reuse_freed_memory()  # each step reuses the pages the last one freed (scratchnet.heap)
    for step, indices in enumerate(batch_schedule(X.shape[0], batch_size, steps, shuffle, seed)):
        batch_X, batch_y = (X, y) if full_batch and not shuffle else (X[indices], y[indices])
        loss, grads = net.loss_and_grads_checked(batch_X, batch_y, net.params, update_state=True)
        optimizer.step(net.params, grads)
        losses[step] = loss
        if callback is not None:
            callback(step, loss, grads)
    return History(losses)
