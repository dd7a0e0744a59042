"""Benchmark 5: wall time of the parity test suite (`pytest -m parity`), serial and with
`pytest -n 2`, measured in one run.

    python benchmarks/bench_suite.py [--workers 2]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time


def timed(arguments: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "parity", "-q", "-p", "no:cacheprovider", *arguments],
                          capture_output=True, text=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    return time.perf_counter() - start, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    serial, serial_summary = timed([])
    parallel, parallel_summary = timed(["-n", str(args.workers)])
    print(f"serial:          {serial:7.1f} s   ({serial_summary})")
    print(f"-n {args.workers}:            {parallel:7.1f} s   ({parallel_summary})")
    print(f"speed-up:        {serial / parallel:7.2f}x")


if __name__ == "__main__":
    main()
