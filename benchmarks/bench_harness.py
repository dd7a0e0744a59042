"""Benchmark 2: harness overhead. A 3-backend lockstep run (scratchnet, torch, Keras) vs the sum
of each framework's bare training loop for the same steps and batches.

The bare loops use the same models, losses and optimizers as the backends but record nothing:
scratchnet `loss_and_grads` + `optimizer.step`; torch `zero_grad/backward/step`; Keras
`GradientTape` + `optimizer.apply` compiled with `tf.function` (the harness's own step, so
the comparison measures the recording, not a different Keras mode). Overhead = lockstep time / sum of bare times (target <= 1.3),
for the whole run (data, building four backends incl. the scratchnet[keras] twin, tracing the
Keras step, the loop) and for the lockstep loop alone.

    python benchmarks/bench_harness.py [--steps 200]
"""
from __future__ import annotations

import argparse
import time

import comparisons
import reference
import scratchnet as sn
from reference.protocol import OptimizerSpec, Problem

SCENARIOS = {"small": "xor-sigmoid-sgd", "medium": "digits-sigmoid-softmax-momentum", "large": {
    "name": "large-270k",
    "network": {"sizes": [784, 300, 100, 10], "activations": ["relu", "relu", "softmax"], "init": "he_uniform"},
    "loss": {"name": "categorical_cross_entropy", "reduction": "batch_mean"},
    "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
    "data": {"name": "classification", "n_samples": 1024, "n_features": 784, "n_classes": 10},
    "run": {"batch_size": 64},
}}


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
    keras_tensors = [keras_backend._tensors(bx, by) for bx, by in batches]
    step = keras_backend._compiled_step  # the same tf.function step the harness runs
    start = time.perf_counter()
    for bx, by in keras_tensors:
        step(bx, by)
    out["keras"] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    comparisons.run("xor-sigmoid-sgd", steps=2)  # import frameworks once, outside every timing
    print(f"{'scenario':<8} {'steps':>5} {'scratchnet s':>12} {'torch s':>8} {'keras s':>8} {'bare sum s':>10} "
          f"{'run s':>7} {'loop s':>7} {'run/bare':>8} {'loop/bare':>9}")
    for size, name in SCENARIOS.items():
        base = comparisons.catalog.get(name) if isinstance(name, str) else comparisons.Scenario.from_dict(name)
        scenario = base.with_overrides(steps=args.steps)
        bare = bare_seconds(scenario, args.steps)
        start = time.perf_counter()
        result = comparisons.run(scenario)
        lockstep = time.perf_counter() - start
        total = sum(bare.values())
        loop = result.seconds["lockstep_loop"]
        print(f"{size:<8} {args.steps:>5} {bare['scratchnet']:>12.3f} {bare['torch']:>8.3f} {bare['keras']:>8.3f} "
              f"{total:>10.3f} {lockstep:>7.3f} {loop:>7.3f} {lockstep / total:>7.2f}x {loop / total:>8.2f}x   "
              f"({'passed' if result.passed else 'FAILED'})")


if __name__ == "__main__":
    main()
