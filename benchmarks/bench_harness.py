"""Benchmark 2: harness overhead. A lockstep run vs the sum of each framework's bare training loop
for the same steps and batches, with 2 backends (scratchnet, torch) and with 3 (+ Keras).

The bare loops use the same models, losses and optimizers as the backends but record nothing:
scratchnet `loss_and_grads` + `optimizer.step`; torch `zero_grad/backward/step`; Keras
`GradientTape` + `optimizer.apply` compiled with `tf.function` and called as the harness calls it
(its concrete function), so the comparison measures the recording, not a different Keras mode.
Each bare loop is timed after one untimed step (Keras traces its step there; the harness traces
it when it builds the backend). Overhead = lockstep time / sum of bare times (target <= 1.3), for
the whole run (data, building the backends incl. a scratchnet[keras] twin where the conventions
differ, building and tracing the Keras model: the model cache is cleared before each run, so
every run pays what a first run pays) and for the lockstep loop alone; in wall time, and in
process CPU time for the whole run (steadier on a loaded machine: time waiting for a core does
not count; with multithreaded BLAS/OpenMP it counts spinning threads, so compare CPU figures
with ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` set for the benchmark, bare loops included).
The bare loops are also timed interleaved (one step of each framework in turn, as the lockstep
run takes them, recording nothing): interleaved/bare is what interleaving alone costs (each step
finds the caches full of the other frameworks' code and data), loop/interleaved what the
harness adds on top. Rows are measured in rounds (every scenario and variant once per round,
its bare loops just before its run), so that machine load hits all alike; the table gives the
median and the range.

With ``--components`` the runs are instrumented (timers wrapped around the runner's lane calls,
its per-step diff and its non-finite check; about a microsecond per call, so the ratios move a
little) and a second table splits each lockstep loop into the lanes' time inside the loop (their
steps and anchoring), the diff, the non-finite check and the rest (records, pairings, table, the
driver), beside each framework's bare loop: where the harness's time goes, measured in the run.

    python benchmarks/bench_harness.py [--steps 200] [--rounds 3] [--sizes small,medium,large] [--components]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
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
VARIANTS = {2: ["scratchnet", "torch"], 3: ["scratchnet", "torch", "keras"]}


def bare_seconds(scenario, steps: int, backends: list[str]) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds of each framework's bare loop over the scenario's batches (after one
    untimed step), and under "interleaved" the same steps taken framework after framework at
    every step, as the lockstep run takes them (each step then finds the caches full of the
    other frameworks' code and data: the floor of any lockstep harness)."""
    net = scenario.build_network()
    data = scenario.load_data()
    X, y = net.check_inputs(data.X), net.check_targets(data.y, data.n_samples)
    problem = Problem(net.spec(), net.params, OptimizerSpec(scenario.optimizer["name"], scenario.optimizer_options))
    batches = [(X[i], y[i]) for i in sn.data.batch_schedule(len(X), scenario.run["batch_size"], steps + 1,
                                                           scenario.run["shuffle"], scenario.run["seed"])]
    loops = {"scratchnet": _scratchnet_loop, "torch": _torch_loop, "keras": _keras_loop}
    seconds = {name: _timed(*loops[name](reference.create(name, problem), batches)) for name in backends}
    interleaved = [loops[name](reference.create(name, problem), batches) for name in backends]

    def every_framework(index: int) -> None:
        for step, inputs in interleaved:
            step(*inputs[index])
    seconds["interleaved"] = _timed(every_framework, [(index,) for index in range(len(batches))])
    return seconds


def _timed(step, inputs) -> tuple[float, float]:
    step(*inputs[0])
    start, cpu = time.perf_counter(), time.process_time()
    for args in inputs[1:]:
        step(*args)
    return time.perf_counter() - start, time.process_time() - cpu


def _scratchnet_loop(backend, batches):
    """The step function and its inputs, one per batch."""
    def step(bx, by):
        _, grads = backend.net.loss_and_grads_checked(bx, by, backend.net.params)
        backend.optimizer.step(backend.net.params, grads)
    return step, batches


def _torch_loop(backend, batches):
    def step(bx, by):
        backend.optimizer.zero_grad(set_to_none=True)
        backend.network.loss(bx, by).backward()
        backend.optimizer.step()
    return step, [(backend._tensor(bx), backend._tensor(by)) for bx, by in batches]


def _keras_loop(backend, batches):
    return backend._step_function, [backend._tensors(bx, by) for bx, by in batches]  # the harness's own step


def measure(scenario, steps: int, backends: list[str], components: bool = False) -> dict[str, float]:
    """One row: bare seconds per framework and their sum, the run's and its loop's seconds (wall),
    and the run's and the bare loops' CPU seconds; with `components`, the loop's parts
    (`_component_timers`) under "in <lane>", "diff" and "nonfinite"."""
    bare = bare_seconds(scenario, steps, backends)
    if "keras" in backends:
        from reference import keras_backend

        keras_backend.clear_model_cache()  # the run builds and traces its model, as a first run does
    with (_component_timers() if components else contextlib.nullcontext({})) as parts:
        start, cpu = time.perf_counter(), time.process_time()
        result = comparisons.run(scenario.with_overrides(backends=backends))
        run, run_cpu = time.perf_counter() - start, time.process_time() - cpu
    if not result.passed:
        raise SystemExit(f"{scenario.name} with {backends} did not pass: {result.verdict()}")
    interleaved = bare.pop("interleaved")
    return {**{name: wall for name, (wall, _) in bare.items()}, "bare": sum(wall for wall, _ in bare.values()),
            "bare_cpu": sum(cpu for _, cpu in bare.values()), "interleaved": interleaved[0], "run": run,
            "run_cpu": run_cpu, "loop": result.seconds["lockstep_loop"], "twin": float("scratchnet[keras]" in result.seconds),
            **parts}


@contextlib.contextmanager
def _component_timers():
    """Accumulating timers around the runner's lane calls (per lane: "in <lane>"), its per-step
    diff ("diff") and its non-finite check ("nonfinite"), removed on exit."""
    from comparisons import runner

    parts: dict[str, float] = {}
    originals = {"call": runner._Run.call, "_diff": runner._Run._diff, "_finite": runner._finite}

    def timed(key_of, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                key = key_of(args)
                parts[key] = parts.get(key, 0.0) + time.perf_counter() - started
        return wrapper

    runner._Run.call = timed(lambda args: f"in {args[1]}", originals["call"])
    runner._Run._diff = timed(lambda args: "diff", originals["_diff"])
    runner._finite = timed(lambda args: "nonfinite", originals["_finite"])
    try:
        yield parts
    finally:
        runner._Run.call, runner._Run._diff, runner._finite = originals["call"], originals["_diff"], originals["_finite"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default=",".join(SCENARIOS))
    parser.add_argument("--components", action="store_true", help="time the loop's parts too (second table)")
    args = parser.parse_args()
    comparisons.run("xor-sigmoid-sgd", steps=2)  # import frameworks once, outside every timing
    sizes = args.sizes.split(",")
    scenarios = {}
    for size in sizes:
        name = SCENARIOS[size]
        base = comparisons.catalog.get(name) if isinstance(name, str) else comparisons.Scenario.from_dict(name)
        scenarios[size] = base.with_overrides(steps=args.steps)
    load = os.getloadavg()[0]
    rows: dict[tuple[str, int], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for size in sizes:
            for count, backends in VARIANTS.items():
                rows.setdefault((size, count), []).append(measure(scenarios[size], args.steps, backends, args.components))
    print(f"{args.steps} steps, {args.rounds} rounds, load average {load:.1f} -> {os.getloadavg()[0]:.1f}: "
          "seconds are medians, ratios median (range)")
    print(f"{'scenario':<8} {'backends':>8} {'scratchnet':>10} {'torch':>7} {'keras':>7} {'bare sum':>8} {'interleaved':>11} "
          f"{'run':>7} {'loop':>7} {'run/bare':>18} {'loop/bare':>18} {'run/bare CPU':>18} {'interleaved/bare':>18} "
          f"{'loop/interleaved':>18}")
    for (size, count), measured in rows.items():
        median = {key: statistics.median(row.get(key, 0.0) for row in measured) for key in measured[0]}
        label = f"{count}{' +twin' if median['twin'] else ''}"
        print(f"{size:<8} {label:>8} {median['scratchnet']:>10.3f} {median['torch']:>7.3f} {median.get('keras', 0.0):>7.3f} "
              f"{median['bare']:>8.3f} {median['interleaved']:>11.3f} {median['run']:>7.3f} {median['loop']:>7.3f} "
              f"{_ratios(measured, 'run', 'bare'):>18} {_ratios(measured, 'loop', 'bare'):>18} "
              f"{_ratios(measured, 'run_cpu', 'bare_cpu'):>18} {_ratios(measured, 'interleaved', 'bare'):>18} "
              f"{_ratios(measured, 'loop', 'interleaved'):>18}")
    if args.components:
        _print_components(rows)


def _print_components(rows: dict[tuple[str, int], list[dict[str, float]]]) -> None:
    """The loop's parts, medians in seconds: each lane inside the loop beside its bare loop
    ("in torch / bare torch"), the diff, the non-finite check and the rest of the loop."""
    print("\nloop parts (medians, s): in-loop lane time (bare loop), diff, non-finite check, the rest")
    for (size, count), measured in rows.items():
        lanes = sorted({key[3:] for row in measured for key in row if key.startswith("in ")})
        median = {key: statistics.median(row.get(key, 0.0) for row in measured)
                  for key in {key for row in measured for key in row}}
        rest = median["loop"] - sum(median[f"in {lane}"] for lane in lanes) - median.get("diff", 0.0) - median.get("nonfinite", 0.0)
        cells = "  ".join(f"{lane} {median[f'in {lane}']:.3f}" + (f" ({median[lane]:.3f})" if lane in median else "")
                          for lane in lanes)
        print(f"{size:<8} {count}  loop {median['loop']:.3f}  {cells}  diff {median.get('diff', 0.0):.3f}  "
              f"non-finite {median.get('nonfinite', 0.0):.3f}  rest {rest:.3f}")


def _ratios(rows: list[dict[str, float]], numerator: str, denominator: str) -> str:
    values = [row[numerator] / row[denominator] for row in rows]
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()
