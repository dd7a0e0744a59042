"""pytest plugin (registered through the `pytest11` entry point as `parity`).

Gives every suite:
* fixtures `parity_run(scenario, **overrides) -> Comparison` and
  `assert_parity(scenario, **overrides) -> Comparison` (raises with a step/backend/param/
  index/values/tolerance message);
* the marker `@pytest.mark.parity` and `parametrize_catalog()` to run a test over the catalog;
* `--parity-report DIR`: every comparison made through the fixtures writes its report to
  DIR/<test id>/ (safe under `pytest -n auto`: one folder per test).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("parity", "scratchnet-parity comparisons")
    group.addoption("--parity-report", metavar="DIR", default=None,
                    help="write a comparison report per parity test into DIR/<test id>/")


def pytest_configure(config):
    config.addinivalue_line("markers", "parity: a parity comparison between scratchnet and reference frameworks")


def parametrize_catalog(argname: str = "scenario", names: list[str] | None = None):
    """`@parametrize_catalog()` runs the test once per catalog scenario (ids are the names)."""
    from comparisons import catalog

    names = catalog.list_scenarios() if names is None else names
    return pytest.mark.parametrize(argname, names, ids=names)


def _report_folder(request) -> Path | None:
    root = request.config.getoption("--parity-report")
    if not root:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
    return Path(root) / safe


@pytest.fixture
def parity_run(request):
    """`parity_run(scenario, **overrides)`: run a comparison (and write its report with --parity-report)."""
    from comparisons import run

    folder = _report_folder(request)
    counter = iter(range(1_000_000))

    def runner(scenario, **overrides):
        comparison = run(scenario, **overrides)
        if folder is not None:
            from comparisons.report import write_report

            index = next(counter)
            write_report(comparison, folder if index == 0 else folder.with_name(f"{folder.name}-{index}"))
        return comparison

    return runner


@pytest.fixture
def assert_parity(parity_run):
    """`assert_parity(scenario, **overrides)`: fail the test with a torch.testing-style message unless parity holds."""
    from comparisons.testing import ParityError, failure_message

    def check(scenario, **overrides):
        comparison = parity_run(scenario, **overrides)
        if not comparison.passed:
            raise ParityError(failure_message(comparison), comparison)
        return comparison

    return check
