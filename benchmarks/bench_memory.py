"""Benchmark 3: peak memory of a free-running comparison does not grow with steps.

Runs a ~270k-parameter network (784-300-100-10, ReLU/softmax, momentum SGD, batch 64) with
scratchnet, torch and Keras for 200 and for 2000 steps, each in a fresh subprocess, and prints
the peak RSS of each and their ratio (target: the 2000-step peak within 10 % of the 200-step one).

    python benchmarks/bench_memory.py [--short 200] [--long 2000] [--backends scratchnet,torch,keras]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import comparisons
spec = {
    "name": "memory-270k",
    "network": {"sizes": [784, 300, 100, 10], "activations": ["relu", "relu", "softmax"], "init": "he_uniform"},
    "loss": {"name": "categorical_cross_entropy", "reduction": "batch_mean"},
    "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
    "data": {"name": "classification", "n_samples": 1024, "n_features": 784, "n_classes": 10},
    "run": {"steps": int(sys.argv[1]), "batch_size": 64, "backends": sys.argv[2].split(","), "mode": "free"},
}
start = time.perf_counter()
result = comparisons.run(comparisons.Scenario.from_dict(spec))
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": len(result.diffs),
                  "seconds": time.perf_counter() - start, "passed": result.passed,
                  "params": result.scenario.build_network().n_params}))
"""


def measure(steps: int, backends: str) -> dict:
    output = subprocess.run([sys.executable, "-c", CHILD, str(steps), backends], capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=200)
    parser.add_argument("--long", type=int, default=2000)
    parser.add_argument("--backends", default="scratchnet,torch,keras")
    args = parser.parse_args()
    short, long = measure(args.short, args.backends), measure(args.long, args.backends)
    print(f"network parameters: {short['params']}; backends: {args.backends}")
    for steps, figures in ((args.short, short), (args.long, long)):
        print(f"{steps:>6} steps: peak RSS {figures['peak_mib']:8.1f} MiB, {figures['rows']:>7} diff rows, "
              f"{figures['seconds']:6.1f} s, {'passed' if figures['passed'] else 'FAILED'}")
    print(f"peak ratio {args.long}/{args.short} steps: {long['peak_mib'] / short['peak_mib']:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
