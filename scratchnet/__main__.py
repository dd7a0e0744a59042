"""`python -m scratchnet train NAME [--steps N]`: train a built-in problem, print per-step loss."""
from __future__ import annotations

import argparse
import sys

import scratchnet as sn

PROBLEMS = {
    "xor": dict(data="xor", sizes=[2, 3, 1], activations=["sigmoid", "sigmoid"], loss="squared_error",
                optimizer=("sgd", {"lr": 0.5, "momentum": 0.9}), batch_size=None),
    "and": dict(data="and", sizes=[2, 1], activations=["sigmoid"], loss="binary_cross_entropy",
                optimizer=("sgd", {"lr": 1.0}), batch_size=None),
    "sin": dict(data="sin", sizes=[1, 5, 1], activations=["tanh", "linear"], loss="squared_error",
                optimizer=("adam", {"lr": 0.01}), batch_size=None),
    "digits": dict(data="digits", sizes=[64, 25, 10], activations=["sigmoid", "softmax"],
                   loss="categorical_cross_entropy", optimizer=("sgd", {"lr": 0.5, "momentum": 0.9}), batch_size=64),
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
    net = sn.MLP(problem["sizes"], problem["activations"], loss=problem["loss"],
                 reduction="batch_mean" if problem["loss"] != "squared_error" else "mean", seed=args.seed)
    name, options = problem["optimizer"]
    optimizer = sn.optim.get(name, **options)
    print(f"{args.problem}: {net}\noptimizer: {optimizer}")
    history = sn.fit(net, data.X, data.y, optimizer, steps=args.steps, batch_size=problem["batch_size"], seed=args.seed)
    for step, loss in enumerate(history.losses):
        print(f"step {step:5d}  loss {loss:.10f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
