"""Benchmark 1: one SGD training step, scratchnet vs torch (and JAX), MLP 784-256-256-10, batch 256.

Prints ms/step for both (medians; the steps and the reference product take turns in
blocks of calls), the ratio scratchnet/torch, and the GFLOP/s each achieves against a plain square
matrix product of the same total FLOP count measured in the same run (the practical limit of
this machine's BLAS), and against the step's own products alone (same shapes, preallocated: the
BLAS floor of any implementation). Same thread count for NumPy's BLAS and torch.
When JAX and optax are installed, a jitted JAX step (``jax.grad`` + ``optax.sgd`` +
``optax.apply_updates`` in one ``jax.jit``, waited for with ``block_until_ready``) takes its turn
too, with the ratios torch/JAX and scratchnet/JAX; XLA sizes its own CPU thread pool
(``--threads`` does not reach it).

Each dtype is measured twice: first with glibc's malloc as the process left it ("default": its
adaptive thresholds may hand the memory a step frees back to the kernel, so that the next step
page-faults it in again, or may not, depending on what the process allocated before), then after
`scratchnet.heap.reuse_freed_memory()` ("reused": freed memory is kept for the next step, as
`scratchnet.fit` runs its steps; a setting for the rest of the process, hence all "default" rows
first). The "faults" column is the minor page faults per scratchnet step.

    python benchmarks/bench_train_step.py [--repeats 200] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

SIZES = [784, 256, 256, 10]
BATCH = 256


def train_step_flops(sizes=SIZES, batch=BATCH) -> float:
    """Multiply-adds of forward (X W) and backward (dW = A^T delta, dA = delta W^T) matmuls, x2 for FLOPs."""
    total = 0
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        total += batch * fan_in * fan_out * (3 if index else 2)  # the first layer needs no input gradient
    return 2.0 * total


def interleaved_medians(functions: list, repeats: int, block: int = 25) -> list[float]:
    """Median seconds per call of each function. The functions take turns in blocks of `block`
    calls (the first 5 of each block discarded as warm-up: NumPy's and torch's thread pools
    spin-wait and fight when they alternate call by call), so that drifting machine load
    affects all of them alike and the ratios stay fair."""
    times = [[] for _ in functions]
    for _ in range(max(1, repeats // block)):
        for index, function in enumerate(functions):
            for call in range(block + 5):
                start = time.perf_counter()
                function()
                if call >= 5:
                    times[index].append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def scratchnet_step(dtype: str):
    import scratchnet as sn

    net = sn.MLP(SIZES, ["relu", "relu", "softmax"], loss="categorical_cross_entropy", reduction="batch_mean", dtype=dtype, seed=0)
    rng = np.random.default_rng(0)
    X = net.check_inputs(rng.random((BATCH, SIZES[0])))
    y = net.check_targets(rng.integers(0, 10, BATCH), BATCH)
    optimizer = sn.optim.SGD(lr=0.01)

    def step():
        _, grads = net.loss_and_grads_checked(X, y, net.params)
        optimizer.step(net.params, grads)

    return step


def torch_step(dtype: str):
    import torch

    torch_dtype = getattr(torch, dtype)
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out, dtype=torch_dtype))
        if index < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, foreach=False)
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.random((BATCH, SIZES[0])).astype(dtype))
    y = torch.from_numpy(rng.integers(0, 10, BATCH))

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(X), y).backward()
        optimizer.step()

    return step


def jax_step(dtype: str):
    """The same step in JAX: a jitted update (forward, jax.grad, optax.sgd, apply_updates); None
    when JAX is not installed."""
    try:
        from reference.jax_backend import import_jax

        jax, optax = import_jax()
    except ImportError:  # MissingFramework is an ImportError
        return None
    jnp = jax.numpy
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params.append((jnp.asarray(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)), jnp.zeros(fan_out, dtype)))
    X = jnp.asarray(rng.random((BATCH, SIZES[0])).astype(dtype))
    y = jnp.asarray(rng.integers(0, 10, BATCH))
    transform = optax.sgd(0.01)

    def loss(params, X, y):
        current = X
        for index, (W, b) in enumerate(params):
            current = current @ W + b
            if index < len(params) - 1:
                current = jax.nn.relu(current)
        return optax.losses.softmax_cross_entropy_with_integer_labels(current, y).mean()

    @jax.jit
    def update(params, state, X, y):
        grads = jax.grad(loss)(params, X, y)
        updates, state = transform.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    holder = [params, transform.init(params)]

    def step():
        holder[0], holder[1] = update(holder[0], holder[1], X, y)
        jax.block_until_ready(holder[0])

    step()  # compile outside the timing
    return step


def matmul_reference(dtype: str):
    """One (n x n) @ (n x n) product with the same FLOP count as a training step."""
    n = int(round((train_step_flops() / 2.0) ** (1.0 / 3.0)))
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    return (lambda: np.matmul(A, B, out=out)), 2.0 * n**3


def step_matmuls(dtype: str):
    """Only the step's own products (forward X W, backward A^T delta and delta W^T), same
    shapes, preallocated: the BLAS time a training step cannot go below."""
    rng = np.random.default_rng(0)
    widths = SIZES
    weights = [rng.random((a, b)).astype(dtype) for a, b in zip(widths[:-1], widths[1:])]
    acts = [rng.random((BATCH, w)).astype(dtype) for w in widths]
    deltas = [rng.random((BATCH, w)).astype(dtype) for w in widths[1:]]
    outs_fwd = [np.empty((BATCH, b), dtype) for b in widths[1:]]
    outs_dw = [np.empty(w.shape, dtype) for w in weights]
    outs_da = [np.empty((BATCH, a), dtype) for a in widths[:-1]]

    def products():
        for i, W in enumerate(weights):
            np.matmul(acts[i], W, out=outs_fwd[i])
            np.matmul(acts[i].T, deltas[i], out=outs_dw[i])
            if i:
                np.matmul(deltas[i], W.T, out=outs_da[i])

    return products


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    from scratchnet.heap import faults_per_call, reuse_freed_memory

    torch.set_num_threads(args.threads)
    flops = train_step_flops()
    print(f"MLP {SIZES}, batch {BATCH}, SGD; {flops / 1e9:.3f} GFLOP per step; {args.threads} threads")
    print(f"{'dtype':<8} {'heap':<8} {'faults':>6} {'scratchnet ms':>13} {'torch ms':>9} {'ratio':>6} {'sn GFLOP/s':>10} "
          f"{'torch GFLOP/s':>13} {'matmul GFLOP/s':>14} {'sn/matmul':>9} {'products ms':>11} {'sn/products':>11}"
          f" {'jax ms':>8} {'torch/jax':>9} {'sn/jax':>6}")
    with threadpool_limits(limits=args.threads):
        for heap in ("default", "reused"):
            if heap == "reused" and not reuse_freed_memory():
                print("(reuse_freed_memory() did nothing here: not glibc, or the environment tunes malloc itself)")
            for dtype in ("float32", "float64"):
                product, product_flops = matmul_reference(dtype)
                jax_function = jax_step(dtype)
                functions = [scratchnet_step(dtype), torch_step(dtype), product, step_matmuls(dtype)]
                faults = faults_per_call(functions[0])
                medians = interleaved_medians(functions + ([jax_function] if jax_function else []), args.repeats)
                ours, theirs, product_seconds, products = medians[:4]
                peak = product_flops / product_seconds
                jax_columns = (f" {medians[4] * 1e3:>8.3f} {theirs / medians[4]:>9.2f} {ours / medians[4]:>6.2f}"
                               if jax_function else f" {'(no JAX)':>8}")
                print(f"{dtype:<8} {heap:<8} {faults:>6.0f} {ours * 1e3:>13.3f} {theirs * 1e3:>9.3f} {ours / theirs:>6.2f} "
                      f"{flops / ours / 1e9:>10.1f} {flops / theirs / 1e9:>13.1f} {peak / 1e9:>14.1f} {flops / ours / peak:>9.0%} "
                      f"{products * 1e3:>11.3f} {products / ours:>11.0%}{jax_columns}")


if __name__ == "__main__":
    main()
