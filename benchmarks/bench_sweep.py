"""Benchmark 7: sweep throughput. The same grid of small scenarios run serially (in this process),
on a local process pool of 2 workers and on an embedded 2-worker Dask LocalCluster, against the
bare cost of the scenarios (`comparisons.run` in a loop, frameworks already imported).

Printed per executor: wall time, scenarios per minute over the whole call and in the steady
state (first to last result), start-up (until the first result: worker processes, imports,
warm-up), finish (table and report), and the per-scenario overhead: steady-state seconds per
scenario per worker minus the bare seconds per scenario (classification, the scenario's TOML,
rows.jsonl, scheduling; scenarios that are not within tolerance would add their own report).

    python benchmarks/bench_sweep.py [--scenarios 48] [--steps 20] [--backends scratchnet,torch]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import comparisons
from comparisons.sweeps import Grid


def grid(scenarios: int, steps: int, backends: list[str]) -> dict:
    seeds = max(1, scenarios // 4)
    return {"name": "bench", "base": "xor-sigmoid-sgd",
            "set": {"run.steps": steps, "run.backends": backends, "run.mode": "anchored"},
            "axes": {"network.activations": [["sigmoid", "sigmoid"], ["tanh", "sigmoid"], ["relu", "sigmoid"],
                                             ["elu", "sigmoid"]],
                     "run.seed": list(range(seeds))}}


def bare(points) -> tuple[float, float]:
    """Median wall and CPU seconds of comparisons.run per scenario (after one warm-up run)."""
    scenarios = [comparisons.Scenario.from_dict(point.spec) for point in points]
    comparisons.run(scenarios[0])
    times, cpu = [], []
    for scenario in scenarios:
        start, cpu_start = time.perf_counter(), time.process_time()
        comparisons.run(scenario)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    return statistics.median(times), statistics.median(cpu)


def measure(spec: dict, workers: int, scheduler: str | None) -> dict:
    out = tempfile.mkdtemp(prefix="bench-sweep-")
    stamps: list[float] = []
    start = time.perf_counter()
    try:
        result = comparisons.sweep(spec, workers=workers, scheduler=scheduler, out=out, resume=False,
                                   progress=lambda done, total: stamps.append(time.perf_counter()))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    wall = time.perf_counter() - start
    n = len(result.points)
    per_scenario = result.table.groupby("scenario").first()
    steady = (stamps[-1] - stamps[0]) / max(n - 1, 1) if len(stamps) > 1 else float("nan")
    return {"executor": result.executor, "wall": wall, "n": n, "startup": stamps[0] - start,
            "finish": start + wall - stamps[-1], "per_minute": 60 * n / wall,
            "steady_per_minute": 60 / steady if steady == steady else float("nan"), "steady": steady,
            "classes": result.counts, "cpu": float(per_scenario.cpu_seconds.median()),
            "seconds": float(per_scenario.seconds.median())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=48)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--backends", default="scratchnet,torch")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",")]
    spec = grid(args.scenarios, args.steps, backends)
    points = Grid.from_dict(spec).points()
    print(f"{len(points)} scenarios: xor 2-3-1, {args.steps} anchored steps, backends {backends}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # as the sweep's workers run
        base, base_cpu = bare(points)
    print(f"bare comparisons.run: {base * 1e3:.1f} ms per scenario ({base_cpu * 1e3:.1f} ms CPU; median, 1 thread)\n")
    runs = [("serial", 1, None), ("pool x2", 2, None)] + ([] if args.no_dask else [("dask x2", 2, "local")])
    rows = []
    for label, workers, scheduler in runs:
        row = measure(spec, workers, scheduler)
        row["overhead"] = row["steady"] * workers - base
        rows.append((label, workers, row))
    print(f"{'executor':<10} {'wall s':>7} {'per min':>8} {'steady per min':>15} {'start-up s':>11} {'finish s':>9} "
          f"{'overhead ms/scenario':>21} {'worker ms/scenario (CPU)':>25}")
    for label, workers, row in rows:
        print(f"{label:<10} {row['wall']:>7.1f} {row['per_minute']:>8.0f} {row['steady_per_minute']:>15.0f} "
              f"{row['startup']:>11.1f} {row['finish']:>9.1f} {row['overhead'] * 1e3:>21.1f} "
              f"{row['seconds'] * 1e3:>12.1f} ({row['cpu'] * 1e3:.1f})")
    print(f"CPU overhead per scenario in a worker (classify, TOML, record) vs bare: "
          f"{(rows[0][2]['cpu'] - base_cpu) * 1e3:.1f} ms")
    serial = rows[0][2]
    for label, _, row in rows[1:]:
        print(f"{label} / serial: {row['per_minute'] / serial['per_minute']:.2f}x overall, "
              f"{row['steady_per_minute'] / serial['steady_per_minute']:.2f}x steady state")
    print(f"classes: {serial['classes']}")


if __name__ == "__main__":
    main()
