"""Benchmark 2: harness overhead. A 3-backend lockstep run (scratchnet, torch, Keras) vs the sum
of each framework's bare training loop for the same steps and batches.

The bare loops use the same models, losses and optimizers as the backends but record nothing:
scratchnet `loss_and_grads` + `optimizer.step`; torch `zero_grad/backward/step`; Keras
`GradientTape` + `optimizer.apply`. Overhead = lockstep time / sum of bare times (target <= 1.3).

    python benchmarks/bench_harness.py [--steps 200]
"""
from __future__ import annotations

import argparse
import time

import comparisons
import reference
import scratchnet as sn
from reference.protocol import OptimizerSpec, Problem

SCENARIOS = {"small": "xor-sigmoid-sgd", "medium": "digits-sigmoid-softmax-momentum"}


def bare_seconds(scenario, steps: int) -> dict[str, float]:
    net = scenario.build_network()
    data = scenario.load_data()
    X, y = net.check_inputs(data.X), net.check_targets(data.y, data.n_samples)
    problem = Problem(net.spec(), net.params, OptimizerSpec(scenario.optimizer["name"], scenario.optimizer_options))
    batches = [(X[i], y[i]) for i in sn.data.batch_schedule(len(X), scenario.run["batch_size"], steps,
                                                           scenario.run["shuffle"], scenario.run["seed"])]
    out = {}

    scratch = reference.create("scratchnet", problem)
    start = time.perf_counter()
    for bx, by in batches:
        _, grads = scratch.net.loss_and_grads_checked(bx, by, scratch.net.params)
        scratch.optimizer.step(scratch.net.params, grads)
    out["scratchnet"] = time.perf_counter() - start

    torch_backend = reference.create("torch", problem)
    tensors = [(torch_backend._tensor(bx), torch_backend._tensor(by)) for bx, by in batches]
    start = time.perf_counter()
    for bx, by in tensors:
        torch_backend.optimizer.zero_grad(set_to_none=True)
        torch_backend.network.loss(bx, by).backward()
        torch_backend.optimizer.step()
    out["torch"] = time.perf_counter() - start

    keras_backend = reference.create("keras", problem)
    keras_backend._loss_and_grad_tensors(*batches[0])  # warm-up outside the timing, as the harness builds first
    start = time.perf_counter()
    for bx, by in batches:
        _, grads = keras_backend._loss_and_grad_tensors(bx, by)
        keras_backend.optimizer.apply(grads, keras_backend.model.trainable_variables)
    out["keras"] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    comparisons.run("xor-sigmoid-sgd", steps=2)  # import frameworks once, outside every timing
    print(f"{'scenario':<8} {'steps':>5} {'scratchnet s':>12} {'torch s':>8} {'keras s':>8} {'bare sum s':>10} {'lockstep s':>10} {'overhead':>8}")
    for size, name in SCENARIOS.items():
        scenario = comparisons.catalog.get(name).with_overrides(steps=args.steps)
        bare = bare_seconds(scenario, args.steps)
        start = time.perf_counter()
        result = comparisons.run(scenario)
        lockstep = time.perf_counter() - start
        total = sum(bare.values())
        print(f"{size:<8} {args.steps:>5} {bare['scratchnet']:>12.3f} {bare['torch']:>8.3f} {bare['keras']:>8.3f} "
              f"{total:>10.3f} {lockstep:>10.3f} {lockstep / total:>7.2f}x   ({'passed' if result.passed else 'FAILED'})")


if __name__ == "__main__":
    main()
