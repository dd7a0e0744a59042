"""Benchmark 6: the cost of running your own code as a backend. Per-step time of a user backend in
a lockstep run (the user backend alone: ``backends = ["mine"]``, reference "mine", free mode) vs
calling the same code in a bare loop on the same batches.

kind "grad": the bare loop is ``loss, grads = code(params, X, y)`` then the same optimizer
update (scratchnet's, which the backend applies) on the user's arrays. kind "step": the bare loop
is ``params = code(params, X, y, lr)``. Small: XOR 2-3-1, full batch of 4, plain SGD. Medium:
digits 64-128-64-10 (sigmoid, sigmoid, softmax + cross-entropy), batch 64, momentum SGD. Each
timing is the best of `--repeats` runs; the lockstep figure includes building the run (data,
network, registration) and the loop, reported apart. BLAS runs on `--threads` threads (default 1,
for both timings): on a busy 2-core machine two OpenBLAS threads made the medium timings vary
threefold between runs, which hid the harness's own cost.

    python benchmarks/bench_user_backend.py [--steps 1000] [--repeats 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

import comparisons
import scratchnet as sn


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def loss_and_grads(params, X, y):
    """A right backprop for sigmoid hidden layers and a sigmoid (1 output, cross-entropy) or
    softmax (cross-entropy) output, canonical layout, names W1, b1, W2, b2, ..."""
    n = len(params) // 2
    acts = [X]
    for layer in range(1, n):
        acts.append(sigmoid(acts[-1] @ params[f"W{layer}"] + params[f"b{layer}"]))
    z = acts[-1] @ params[f"W{n}"] + params[f"b{n}"]
    m = X.shape[0]
    if z.shape[1] == 1:
        out = sigmoid(z)
        loss = -np.mean(y * np.log(out) + (1 - y) * np.log(1 - out))
    else:
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        out = np.exp(log_p)
        loss = -np.sum(y * log_p) / m
    delta = (out - y) / m
    grads = {}
    for layer in range(n, 0, -1):
        grads[f"W{layer}"] = acts[layer - 1].T @ delta
        grads[f"b{layer}"] = delta.sum(axis=0)
        if layer > 1:
            delta = (delta @ params[f"W{layer}"].T) * acts[layer - 1] * (1 - acts[layer - 1])
    return loss, grads


def make_step(momentum: float):
    """Update-only code: the same backprop, then SGD (with momentum in a closure)."""
    velocity = {}

    def step(params, X, y, lr):
        _, grads = loss_and_grads(params, X, y)
        new = {}
        for name, g in grads.items():
            if momentum:
                velocity[name] = momentum * velocity[name] + g if name in velocity else g.copy()
                g = velocity[name]
            new[name] = params[name] - lr * g
        return new

    return step


CASES = {
    "small": {"sizes": [2, 3, 1], "activations": ["sigmoid", "sigmoid"], "loss": "binary_cross_entropy",
              "optimizer": {"name": "sgd", "lr": 0.5}, "data": {"name": "xor"}, "batch_size": None},
    "medium": {"sizes": [64, 128, 64, 10], "activations": ["sigmoid", "sigmoid", "softmax"],
               "loss": "categorical_cross_entropy", "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
               "data": {"name": "digits"}, "batch_size": 64},
}


def spec(case: dict, kind: str, steps: int) -> dict:
    n = len(case["sizes"]) - 1
    mapping = {}
    for layer in range(n):
        mapping[f"W{layer + 1}"] = {"kind": "weight", "layer": layer, "layout": "in_out"}
        mapping[f"b{layer + 1}"] = {"kind": "bias", "layer": layer}
    code = loss_and_grads if kind == "grad" else make_step(case["optimizer"].get("momentum", 0.0))
    return {"name": f"bench-user-{kind}", "network": {"sizes": case["sizes"], "activations": case["activations"]},
            "loss": {"name": case["loss"], "reduction": "batch_mean"}, "optimizer": dict(case["optimizer"]),
            "data": dict(case["data"]),
            "run": {"steps": steps, "batch_size": case["batch_size"], "backends": ["mine"], "reference": "mine",
                    "mode": "free"},
            "user": {"mine": {"code": code, "kind": kind, "mapping": mapping}}}


def bare_seconds(scenario: comparisons.Scenario, case: dict, kind: str, steps: int) -> float:
    """The same code on the same batches from the same initial weights, nothing recorded."""
    net = scenario.build_network()
    data = scenario.load_data()
    X, y = net.check_inputs(data.X), net.check_targets(data.y, data.n_samples)
    names = {f"dense_{layer}.{slot}": f"{slot}{layer + 1}" for layer in range(len(case["sizes"]) - 1) for slot in "Wb"}
    params = {names[name]: value.copy() for name, value in net.params.items()}
    batches = [(X[i], y[i]) for i in sn.data.batch_schedule(len(X), scenario.run["batch_size"], steps,
                                                           scenario.run["shuffle"], scenario.run["seed"])]
    lr = case["optimizer"]["lr"]
    if kind == "grad":
        optimizer = sn.optim.get(case["optimizer"]["name"], **{k: v for k, v in case["optimizer"].items() if k != "name"})
        start = time.perf_counter()
        for bx, by in batches:
            _, grads = loss_and_grads(params, bx, by)
            optimizer.step(params, grads)
        return time.perf_counter() - start
    step = make_step(case["optimizer"].get("momentum", 0.0))
    start = time.perf_counter()
    for bx, by in batches:
        params = step(params, bx, by, lr)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both timings")
    args = parser.parse_args()
    with threadpool_limits(limits=args.threads, user_api="blas"):
        measure(args)


def measure(args) -> None:
    comparisons.run(comparisons.Scenario.from_dict(spec(CASES["small"], "grad", 2)))  # imports, outside every timing
    print(f"{'network':<7} {'kind':<5} {'steps':>5} {'bare ms/step':>12} {'loop ms/step':>12} {'run ms/step':>11} "
          f"{'overhead ms/step':>16} {'loop/bare':>9} {'run/bare':>8}")
    for size, case in CASES.items():
        for kind in ("grad", "step"):
            bare, loop, whole = [], [], []
            for _ in range(args.repeats):
                scenario = comparisons.Scenario.from_dict(spec(case, kind, args.steps))
                bare.append(bare_seconds(scenario, case, kind, args.steps))
                scenario = comparisons.Scenario.from_dict(spec(case, kind, args.steps))
                start = time.perf_counter()
                result = comparisons.run(scenario)
                whole.append(time.perf_counter() - start)
                loop.append(result.seconds["lockstep_loop"])
                assert result.passed and result.steps_completed == args.steps, result.verdict()
            b, lo, w = min(bare), min(loop), min(whole)
            per = 1e3 / args.steps
            print(f"{size:<7} {kind:<5} {args.steps:>5} {b * per:>12.4f} {lo * per:>12.4f} {w * per:>11.4f} "
                  f"{(lo - b) * per:>16.4f} {lo / b:>8.1f}x {w / b:>7.1f}x")


if __name__ == "__main__":
    main()
