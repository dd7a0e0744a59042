"""The `parity` command line (also `python -m comparisons`).

Exit codes: 0 parity holds, 1 divergence beyond tolerance (or a backend failed), 2 bad usage or
a bad spec (the message names the field), 130 interrupted (Ctrl-C; the records so far are
written as a report marked incomplete).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXAMPLES = {
    "list": "examples:\n  parity list",
    "run": ("examples:\n  parity run xor-sigmoid-sgd\n  parity run digits-ng-l2 --backends scratchnet,torch --mode anchored\n"
            "  parity run my_spec.toml --steps 50 --dtype float32 --out reports/mine --format html,json"),
    "report": "examples:\n  parity report reports/xor-sigmoid-sgd",
    "conventions": "examples:\n  parity conventions",
    "doctor": ("examples:\n  parity doctor my_net.py:loss_and_grads --spec doctor.toml\n"
               "  parity doctor my_net.py:train_step --spec doctor.toml --step --lr 0.1 --out reports/doctor\n"
               "  layer functions (cs231n names are found by themselves):\n"
               "  parity doctor cs231n/layers.py                      # every affine/relu/conv/pool/batchnorm/... pair\n"
               "  parity doctor cs231n/layers.py --layer conv2d --param stride=1 --param pad=1\n"
               "  parity doctor mine.py:conv_fwd --layer conv2d --backward conv_bwd\n"
               "exit codes: 0 the gradients are right, 1 a gradient is wrong (or matches another spec only),\n"
               "  2 bad usage or spec, or your function raised / returned the wrong structure (nothing judged)"),
    "sweep": ("examples:\n  parity sweep grid.toml --out reports/sweep\n"
              "  parity sweep grid.toml --out reports/sweep --workers 4                  # local process pool\n"
              "  parity sweep grid.toml --out reports/sweep --scheduler tcp://head:8786  # a Dask cluster\n"
              "  parity sweep grid.toml --out reports/sweep --scheduler local --workers 2  # embedded Dask LocalCluster\n"
              "the same command again resumes (finished scenarios are skipped); Ctrl-C keeps every finished result\n"
              "exit codes: 0 no unexplained disagreement, 1 unexplained rows or errors, 2 bad grid, 130 interrupted"),
    "fuzz": ("examples:\n  parity fuzz --budget 200 --seed 0 --out reports/fuzz\n"
             "  parity fuzz --budget 50 --backends scratchnet,torch --workers 2 --out reports/fuzz\n"
             "unexplained disagreements are shrunk to minimal scenarios in OUT/minimal/*.toml (`parity run` them)\n"
             "exit codes: 0 no unexplained disagreement, 1 unexplained rows or errors, 2 bad usage, 130 interrupted"),
}
FORMATS = ("html", "md", "csv", "json", "parquet")


class UsageError(Exception):
    """Bad command-line usage; exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parity",
        description="Run a from-scratch NumPy network side by side with PyTorch, Keras and scipy on identical "
                    "weights, diff every step, and diagnose broken backprop.",
        epilog="exit codes: 0 parity holds, 1 divergence beyond tolerance, 2 bad usage or spec, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES[name],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    add("list", "list the catalog scenarios with a one-line description each")
    run = add("run", "run a comparison, write its report and print the verdict")
    run.add_argument("scenario", help="catalog name (see `parity list`) or path to a .toml spec")
    run.add_argument("--backends", help="comma-separated backends, e.g. scratchnet,torch,keras")
    run.add_argument("--reference", help="backend the others are diffed against (default: the spec's)")
    run.add_argument("--steps", type=int, help="number of training steps")
    run.add_argument("--mode", choices=["free", "anchored"], help="free-running or anchored (teacher-forced)")
    run.add_argument("--dtype", choices=["float32", "float64"])
    run.add_argument("--seed", type=int)
    run.add_argument("--batch-size", type=int)
    run.add_argument("--out", type=Path, help="report folder (default: reports/<scenario>)")
    run.add_argument("--format", default=",".join(FORMATS), help=f"comma-separated subset of {','.join(FORMATS)}")
    run.add_argument("--backend-module", action="append", default=[], metavar="MODULE",
                     help="module name or .py file that registers extra backends (repeatable)")
    report = add("report", "re-render a report from its saved records without re-running")
    report.add_argument("directory", type=Path)
    add("conventions", "list the known PyTorch/Keras convention differences with formulas and sources")
    sweep = add("sweep", "run a grid of scenarios, classify every pairing, write a sweep report")
    sweep.add_argument("grid", type=Path, help="grid .toml: base scenario and [axes] over dotted keys")
    _add_execution_options(sweep)
    fuzz = add("fuzz", "run Hypothesis-generated scenarios and shrink every unexplained disagreement")
    fuzz.add_argument("--budget", type=int, required=True, help="number of scenarios to run")
    fuzz.add_argument("--seed", type=int, default=0, help="generation seed (the same seed gives the same scenarios)")
    fuzz.add_argument("--backends", help="comma-separated backends of every scenario (default scratchnet,torch,keras)")
    fuzz.add_argument("--reference", help="reference backend (default: torch when listed, else the first)")
    fuzz.add_argument("--shrink", type=int, default=3, help="pairings with unexplained rows to shrink (default 3)")
    _add_execution_options(fuzz)
    doctor = add("doctor", "diagnose a hand-written backprop (a network with --spec, or layer functions)")
    doctor.add_argument("target", help="path/to/file.py:function, or path/to/file.py for its layer functions")
    doctor.add_argument("--spec", type=Path, help="network doctor: TOML with the NetSpec, mapping and data")
    doctor.add_argument("--step", action="store_true", help="the function is an update step (params, X, y) -> new params")
    doctor.add_argument("--lr", type=float, help="learning rate used by the update step (with --step; or lr in the spec)")
    doctor.add_argument("--out", type=Path, help="also write the report files (network: doctor.html/.md/.json; "
                                                 "layers: layers.json) into this folder")
    layer = doctor.add_argument_group("layer doctor (check_layer against torch autograd; without --spec)")
    layer.add_argument("--layer", help="layer kind: affine, relu, conv2d, max_pool2d, batchnorm, spatial_batchnorm, "
                                       "dropout, softmax_loss, svm_loss (default: every cs231n pair the file defines)")
    layer.add_argument("--backward", help="backward function (default: the forward's name with forward -> backward)")
    layer.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                       help="a fixed layer option, e.g. --param stride=2 --param pad=1 (repeatable; else varied)")
    layer.add_argument("--style", choices=["cs231n", "generic"], default="cs231n", help="calling convention")
    layer.add_argument("--inputs", help="generic style: your array arguments in order, comma-separated (e.g. x,w,b)")
    layer.add_argument("--options", choices=["dict", "keywords", "none"], default="dict",
                       help="generic style: how the options are passed (default dict, as cs231n)")
    layer.add_argument("--no-cache", action="store_true",
                       help="generic style: forward returns out (not (out, cache)); backward(dout, *arrays, options)")
    layer.add_argument("--trials", type=int, default=3, help="random shapes and configurations (default 3)")
    layer.add_argument("--seed", type=int, default=0, help="seed of the trials (default 0)")
    return parser


def _add_execution_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (resumed when it holds results)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1: serial, in this process)")
    parser.add_argument("--scheduler", nargs="?", const="local", metavar="ADDRESS",
                        help="run on Dask: a scheduler address (tcp://host:8786), or `local` / no value for an "
                             "embedded LocalCluster of --workers workers")
    parser.add_argument("--threads-per-worker", type=int, default=1, help="BLAS/OpenMP threads per worker (default 1)")
    parser.add_argument("--batch-seconds", type=float, default=2.0, help="target seconds of work per task (default 2)")
    parser.add_argument("--backend-module", action="append", default=[], metavar="MODULE",
                        help="module name or .py file that registers extra backends, imported on every worker "
                             "(repeatable)")
    parser.add_argument("--scenario-reports", choices=["notable", "all", "none"], default="notable",
                        help="a report per scenario: for those with an unexplained, error or rounding row "
                             "(default), all, none")
    parser.add_argument("--retries", type=int, default=1,
                        help="runs of a scenario that killed its worker alone before it is recorded (default 1)")
    parser.add_argument("--restart", action="store_true", help="ignore results already in --out and start over")


def _progress():
    """A progress callback: a bar on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        try:
            from rich.progress import Progress
        except ImportError:
            Progress = None
        if Progress is not None:
            bar = Progress(transient=True)
            state = {}

            def update(done: int, total: int) -> None:
                if "task" not in state:
                    bar.start()
                    state["task"] = bar.add_task("steps", total=total)
                bar.update(state["task"], completed=done)
                if done == total:
                    bar.stop()

            return update

    def lines(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"step {done}/{total}", file=sys.stderr, flush=True)

    return lines


def _cmd_list(args) -> int:
    from comparisons import catalog

    descriptions = catalog.describe()
    width = max(map(len, descriptions))
    for name, description in descriptions.items():
        print(f"{name:<{width}}  {description}")
    return 0


def _cmd_run(args) -> int:
    import comparisons
    from comparisons.report import write_report

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UsageError(f"--format: unknown format {unknown[0]!r} (choose from {', '.join(FORMATS)})")
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else None
    overrides = {"backends": backends, "steps": args.steps, "mode": args.mode, "dtype": args.dtype,
                 "seed": args.seed, "batch_size": args.batch_size, "reference": args.reference}
    with _backend_modules(args.backend_module):
        scenario = comparisons.runner.resolve(args.scenario).with_overrides(**overrides)
        comparison = comparisons.run(scenario, progress=_progress())
    out = args.out or Path("reports") / scenario.name
    written = write_report(comparison, out, formats=formats)
    _print_verdict(comparison)
    print(f"report: {written.get('report.html', out)}")
    if comparison.interrupted:
        return 130
    return 0 if comparison.passed else 1


def verdict_note(row) -> str:
    """The note of one worst-row (`comparisons.report.schema.WorstRow`), from its kind, never its backend name."""
    from comparisons.report.schema import kind_label

    if row.kind == "gap" or not row.judged:
        return kind_label(row.kind, row.expected)
    if row.finding:
        return f"FAIL: {row.param}: {row.finding}"
    if row.failed_rows:
        return f"FAIL ({row.failed_rows} of {row.rows} rows; {row.mismatched} of {row.size} elements at step {row.step})"
    return "ok"


def _print_verdict(comparison) -> None:
    from comparisons.report.schema import worst_rows

    print(comparison.verdict())
    rows = worst_rows(comparison.diffs)
    if rows:
        print(f"{'backend':<20} {'vs':<20} {'kind':<6} {'quantity':<8} {'max_abs':>10} {'max_rel':>10}  note")
        for row in rows:
            print(f"{row.backend:<20} {row.reference:<20} {row.kind:<6} {row.quantity:<8} {row.max_abs:>10.2e} "
                  f"{row.max_rel:>10.2e}  {verdict_note(row)}")


def _backend_modules(specs):
    """Import backend modules (names or .py files) for the command; unregistered afterwards."""
    from contextlib import nullcontext

    if not specs:
        return nullcontext()
    from comparisons.sweeps import worker

    return worker.backend_modules_loaded(worker.backend_modules(specs))


def _sweep_progress(label: str):
    def lines(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"{label} {done}/{total}", file=sys.stderr, flush=True)

    return lines


def _execution(args) -> dict:
    if args.workers < 1 or args.threads_per_worker < 1:
        raise UsageError("--workers and --threads-per-worker must be >= 1")
    if args.batch_seconds <= 0 or args.retries < 0:
        raise UsageError("--batch-seconds must be > 0 and --retries >= 0")
    return {"workers": args.workers, "scheduler": args.scheduler, "threads_per_worker": args.threads_per_worker,
            "batch_seconds": args.batch_seconds, "backend_modules": args.backend_module,
            "scenario_reports": args.scenario_reports, "retries": args.retries, "resume": not args.restart}


def _sweep_outcome(result) -> int:
    counts = ", ".join(f"{n} {name}" for name, n in result.counts.items())
    print(f"{'PASS' if result.passed else 'FAIL'}: {len(result.points)} scenarios, {len(result.table)} rows ({counts}); "
          f"{result.ran} run now, {result.resumed} resumed; {result.executor}")
    for row in result.unexplained.head(5).itertuples():
        print(f"  unexplained: {row.scenario} {row.backend} vs {row.reference}: {row.detail}")
    for item in result.minimal:
        print(f"  minimal: {item['pairing']}: {item['summary']}\n    reproduce: {item['command']}")
    print(f"report: {result.report}")
    if result.interrupted:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    return 0 if result.passed else 1


def _cmd_sweep(args) -> int:
    from comparisons.sweeps import sweep

    try:
        result = sweep(args.grid, out=args.out, progress=_sweep_progress("scenarios"), **_execution(args))
    except (ConnectionError, ImportError) as error:  # no scheduler there, no Dask, a backend module that fails
        raise UsageError(str(error)) from None
    return _sweep_outcome(result)


def _cmd_fuzz(args) -> int:
    from comparisons.sweeps import fuzz
    from comparisons.sweeps.fuzzing import FuzzSpace

    if args.budget < 1 or args.shrink < 0:
        raise UsageError("--budget must be >= 1 and --shrink >= 0")
    backends = tuple(b.strip() for b in args.backends.split(",")) if args.backends else FuzzSpace.backends
    if args.reference is not None and args.reference not in backends:
        raise UsageError(f"--reference {args.reference!r} must be one of the backends {list(backends)}")
    try:
        result = fuzz(args.budget, args.seed, args.out, space=FuzzSpace(backends=backends, reference=args.reference),
                      shrink_limit=args.shrink, progress=_sweep_progress("scenarios"), **_execution(args))
    except (ConnectionError, ImportError) as error:
        raise UsageError(str(error)) from None
    return _sweep_outcome(result)


def _cmd_report(args) -> int:
    from comparisons.report import render

    if (args.directory / "sweep.json").exists():  # a sweep or fuzz folder
        from comparisons.sweeps import render as render_sweep

        print(f"report: {render_sweep(args.directory)['report.html']}")
        return 0
    if not (args.directory / "summary.json").exists():
        raise UsageError(f"{args.directory} holds no saved records (summary.json missing); run `parity run` first")
    written = render(args.directory)
    print(f"report: {written.get('report.html', args.directory)}")
    return 0


def _cmd_conventions(args) -> int:
    from comparisons.conventions import describe

    print(describe())
    return 0


def _cmd_doctor(args) -> int:
    from comparisons.doctor import diagnose_file

    if args.spec is None:
        return _doctor_layers(args)
    if args.layer is not None:
        raise UsageError("--spec diagnoses a network and --layer checks layer functions: give one of them")
    path, _, function = args.target.rpartition(":")
    if not path or not function:
        raise UsageError(f"doctor target must look like path/to/file.py:function, got {args.target!r}")
    result = diagnose_file(path, function, args.spec, step=args.step, lr=args.lr)
    print(result)
    if args.out is not None:
        from comparisons.report.doctor_page import write_doctor_report

        print(f"report: {write_doctor_report(result, args.out)['doctor.html']}")
    if result.error is not None:  # nothing was judged: the function raised or returned the wrong structure
        return 2
    return 0 if result.ok else 1


def _doctor_layers(args) -> int:
    from comparisons.doctor.layer_file import check_layer_file

    path, separator, function = args.target.rpartition(":")
    if not (separator and path and function.isidentifier()):
        path, function = args.target, None
    checks = check_layer_file(path, layer=args.layer, forward=function, backward=args.backward,
                              params=dict(_layer_param(item) for item in args.param) or None, style=args.style,
                              inputs=None if args.inputs is None else [name.strip() for name in args.inputs.split(",")],
                              options=None if args.options == "none" else args.options, cache=not args.no_cache,
                              trials=args.trials, seed=args.seed)
    for check in checks:
        print(check, end="\n\n")
    failing = [check.forward if check.backward is None else f"{check.forward}/{check.backward}"
               for check in checks if not check.ok]
    print(f"{len(checks)} layer function pair(s) checked against torch autograd: {len(checks) - len(failing)} ok"
          + (f", mistakes in {', '.join(failing)}" if failing else ""))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        target = args.out / "layers.json"
        target.write_text(json.dumps([check.to_dict() for check in checks], indent=2))
        print(f"report: {target}")
    return 1 if failing else 0


def _layer_param(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of --param: VALUE read as JSON (numbers, true/false, null), else as text."""
    key, separator, text = item.partition("=")
    if not separator or not key.strip():
        raise UsageError(f"--param takes KEY=VALUE (e.g. --param stride=2), got {item!r}")
    try:
        return key.strip(), json.loads(text)
    except json.JSONDecodeError:
        return key.strip(), text


def main(argv: list[str] | None = None) -> int:
    from comparisons.doctor.layers import LayerCheckError
    from comparisons.doctor.spec import DoctorInputError
    from comparisons.report.schema import SummaryError
    from reference.protocol import MissingFramework
    from comparisons.spec import SpecError

    args = _parser().parse_args(argv)
    handler = {"list": _cmd_list, "run": _cmd_run, "report": _cmd_report,
               "conventions": _cmd_conventions, "doctor": _cmd_doctor, "sweep": _cmd_sweep,
               "fuzz": _cmd_fuzz}[args.command]
    try:
        return handler(args)
    except (UsageError, SpecError, DoctorInputError, LayerCheckError, SummaryError, MissingFramework,
            FileNotFoundError) as error:
        print(f"parity {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader closed the pipe (`parity run ... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
