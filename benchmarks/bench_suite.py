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
        wall, cpu, summary = timed(args.workers, args.pytest_args)
        print(f"run {run}: wall {wall:6.1f} s   CPU {cpu:6.1f} s   CPU / {cores} cores {cpu / cores:6.1f} s"
              f"   ({summary})")


if __name__ == "__main__":
    main()
