"""Benchmark 5: wall and CPU time of the whole test suite as `make test` runs it.

    python benchmarks/bench_suite.py [--workers 2] [--repeats 2] [-- PYTEST ARGS]

Each run is `make test WORKERS=N PYTEST_ARGS="-q ..."` (the Makefile's pytest command: xdist
workers, bytecode cached) with the given pytest arguments (e.g. `-- -m parity` for the parity
subset), started from the repository root. Printed per run: the wall time, the
CPU time (user + system of pytest and of every process it waited for: its xdist workers and the
processes the tests start), and CPU / cores, the wall time the run would take at best on an
otherwise idle machine with this many cores. On a shared machine the wall time depends on the
other jobs; the CPU time much less.

The first run of a fresh checkout also fills JAX's persistent compilation cache in
`.pytest_cache` (tests/conftest.py), so with `--repeats 2` the second run is the warm figure.

Before each run a fixed one-core workload is timed (`machine_seconds`: the best of three of a
pure-Python loop plus the best of three of 40 NumPy matrix products on one BLAS thread, ~0.25 s on
the project's sandbox): the same code measured minutes apart on a shared machine varies by 15 %
and more, and this column says how fast the machine was just before the run (it varies itself,
0.24-0.34 s in eight calls a second apart on the sandbox, so it is a hint, not a correction).
"""
from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_seconds() -> float:
    """Seconds of a fixed one-core workload: 3M iterations of a Python loop, then 40 products of
    400 x 400 float64 matrices on one BLAS thread (best of 3 for each)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    def loop() -> None:
        total = 0
        for i in range(3_000_000):
            total += i * i

    matrix = np.random.default_rng(0).random((400, 400))

    def products() -> None:
        for _ in range(40):
            matrix @ matrix

    with threadpool_limits(limits=1):
        return sum(min(_seconds(work) for _ in range(3)) for work in (loop, products))


def _seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def timed(workers: int, arguments: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, pytest's summary line) of one `make test` run."""
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(["make", "--no-print-directory", "test", f"WORKERS={workers}",
                           f"PYTEST_ARGS={shlex.join(['-q', *arguments])}"], cwd=ROOT, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    lines = done.stdout.strip().splitlines()
    return wall, cpu, lines[-1] if lines else done.stderr[-200:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"make test WORKERS={args.workers} PYTEST_ARGS='-q {' '.join(args.pytest_args)}'   ({cores} cores)")
    for run in range(1, args.repeats + 1):
        machine = machine_seconds()
        wall, cpu, summary = timed(args.workers, args.pytest_args)
        print(f"run {run}: machine {machine:5.3f} s   wall {wall:6.1f} s   CPU {cpu:6.1f} s   CPU / {cores} cores "
              f"{cpu / cores:6.1f} s   ({summary})")


if __name__ == "__main__":
    main()
