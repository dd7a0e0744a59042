"""`python -m scratchnet train NAME [--steps N]`: train a built-in problem, print per-step loss."""
from __future__ import annotations

import argparse
import sys

import scratchnet as sn

def _dense(*layers: tuple[int, str]) -> list[dict]:
    return [{"type": "dense", "units": units, "activation": activation} for units, activation in layers]


PROBLEMS = {  # network: the description network_from_spec builds (MLP.spec() format)
    "xor": dict(data="xor", optimizer=("sgd", {"lr": 0.5, "momentum": 0.9}), batch_size=None,
                network={"input_shape": [2], "layers": _dense((3, "sigmoid"), (1, "sigmoid")),
                         "loss": "squared_error", "reduction": "mean"}),
    "and": dict(data="and", optimizer=("sgd", {"lr": 1.0}), batch_size=None,
                network={"input_shape": [2], "layers": _dense((1, "sigmoid")),
                         "loss": "binary_cross_entropy", "reduction": "batch_mean"}),
    "sin": dict(data="sin", optimizer=("adam", {"lr": 0.01}), batch_size=None,
                network={"input_shape": [1], "layers": _dense((5, "tanh"), (1, "linear")),
                         "loss": "squared_error", "reduction": "mean"}),
    "digits": dict(data="digits", optimizer=("sgd", {"lr": 0.5, "momentum": 0.9}), batch_size=64,
                   network={"input_shape": [64], "layers": _dense((25, "sigmoid"), (10, "softmax")),
                            "loss": "categorical_cross_entropy", "reduction": "batch_mean"}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scratchnet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a built-in problem and print its per-step loss")
    train.add_argument("problem", choices=sorted(PROBLEMS))
    train.add_argument("--steps", type=int, default=100)
    train.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    problem = PROBLEMS[args.problem]
    data = sn.data.load(problem["data"])
    net = sn.network_from_spec(problem["network"], seed=args.seed)
    name, options = problem["optimizer"]
    optimizer = sn.optim.get(name, **options)
    print(f"{args.problem}: {net}\noptimizer: {optimizer}")
    history = sn.fit(net, data.X, data.y, optimizer, steps=args.steps, batch_size=problem["batch_size"], seed=args.seed)
    for step, loss in enumerate(history.losses):
        print(f"step {step:5d}  loss {loss:.10f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
