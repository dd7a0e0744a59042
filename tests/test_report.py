"""Reports: files written atomically and readable, a self-contained and escaped HTML page,
re-rendering from the saved files, and failing, crashed and interrupted runs shown as such.

Each kind of report is written once per module (fixtures below) and inspected by several tests."""
import json
import os
import re
import shutil
import tomllib
from types import SimpleNamespace

import pandas as pd
import pytest

from comparisons.report import load_records, render, render_doctor_section, write_report
from comparisons.report import records as report_records
from test_report_support import (HOSTILE, momentum_xor, Crashing, DoubledGradient, Exploding, Interrupting, Unbuildable,
                                 hostile_scenario, run)

PAGES = ("report.html", "report.md", "loss.png", "errors.png", "heatmap.png")
DOCTOR = {"ok": False, "culprit": HOSTILE, "notes": [HOSTILE], "findings": [{"param": HOSTILE, "evidence": HOSTILE}]}


def _written(tmp_path_factory, name, doctor=None, **run_options):
    with pytest.MonkeyPatch.context() as monkeypatch:
        comparison = run(monkeypatch, **run_options)
    out_dir = tmp_path_factory.mktemp(name)
    files = write_report(comparison, out_dir, doctor=doctor)
    return SimpleNamespace(comparison=comparison, dir=out_dir, files=files,
                           html=(out_dir / "report.html").read_text(encoding="utf-8"),
                           md=(out_dir / "report.md").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def passing(tmp_path_factory):
    return _written(tmp_path_factory, "passing", scenario=momentum_xor(), backends=["scratchnet", "torch", "keras"])


@pytest.fixture(scope="module")
def diverging(tmp_path_factory):
    return _written(tmp_path_factory, "diverging", doctor={"ok": True, "findings": [], "notes": "fine"},
                    torch_class=DoubledGradient, backends=["scratchnet", "torch", "keras"], mode="anchored")


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """Hostile strings everywhere; keras crashes at step 2, torch turns NaN at step 3."""
    return _written(tmp_path_factory, "broken", doctor=DOCTOR, scenario=hostile_scenario(), torch_class=Exploding,
                    keras_class=Crashing, backends=["scratchnet", "torch", "keras"])


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    return _written(tmp_path_factory, "interrupted", torch_class=Interrupting, backends=["scratchnet", "torch"])


def _strict_json(path):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def _temporary_files(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")]


# ---------------------------------------------------------------------- files
def test_every_file_is_written_and_reads_back(passing):
    expected = {"summary.json", "diffs.csv", "losses.csv", *PAGES}
    assert expected <= set(passing.files) and all(path.is_file() for path in passing.files.values())
    summary = _strict_json(passing.files["summary.json"])
    assert summary["verdict"] == passing.comparison.verdict() and summary["passed"] is True
    assert len(pd.read_csv(passing.files["diffs.csv"])) == len(passing.comparison.diffs)
    assert len(pd.read_csv(passing.files["losses.csv"])) == passing.comparison.steps_completed
    for name in ("loss.png", "errors.png", "heatmap.png"):
        assert passing.files[name].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert not _temporary_files(passing.dir)


@pytest.mark.parametrize("report", ["passing", "broken"])  # broken: NaN losses and infinite errors
def test_saved_tables_round_trip_exactly(report, request):
    report = request.getfixturevalue(report)
    records = load_records(report.dir)
    pd.testing.assert_frame_equal(records.diffs, report_records.normalise_diffs(report.comparison.diffs))
    pd.testing.assert_frame_equal(records.losses, report_records.normalise_losses(report.comparison.losses))
    assert report_records.plain(records.summary.to_dict()) == json.loads((report.dir / "summary.json").read_text())


def test_parquet_is_written_only_with_pyarrow(passing, monkeypatch, tmp_path):
    if report_records.parquet_available():
        assert len(pd.read_parquet(passing.dir / "diffs.parquet")) == len(passing.comparison.diffs)
    else:
        assert not (passing.dir / "diffs.parquet").exists()
        assert "pyarrow is not installed" in passing.html and "pyarrow is not installed" in passing.md
    monkeypatch.setattr(report_records, "parquet_available", lambda: False)
    written = write_report(passing.comparison, tmp_path, formats=("json", "parquet"))
    assert set(written) == {"summary.json"}
    note = _strict_json(tmp_path / "summary.json")["report"]["data_files"]["diffs.parquet"]
    assert note.startswith("skipped: pyarrow is not installed")


def test_writes_are_atomic(passing, monkeypatch, tmp_path):
    write_report(passing.comparison, tmp_path, formats=("json", "csv"))
    before = (tmp_path / "summary.json").read_bytes()

    def crash(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_report(passing.comparison, tmp_path, formats=("json", "csv"))
    assert (tmp_path / "summary.json").read_bytes() == before  # the old file survives a failed write
    assert not _temporary_files(tmp_path)


def test_unknown_format_is_refused(passing, tmp_path):
    with pytest.raises(ValueError, match=r"formats: unknown format\(s\) \['pdf'\]"):
        write_report(passing.comparison, tmp_path, formats=("html", "pdf"))


# ---------------------------------------------------------------------- the page
def test_html_is_one_self_contained_page(passing):
    page = passing.html
    assert '<span class="big">PASS</span>' in page and passing.comparison.verdict() in page
    assert page.count('src="data:image/png;base64,') == 3
    assert not re.search(r"https?://", page)
    assert not re.search(r"<script|<link|@import|url\(|<iframe", page, re.IGNORECASE)
    for section in ("loss", "divergence", "failures", "errors", "heatmap", "worst", "conventions", "environment",
                    "spec", "files"):
        assert f'<section id="{section}">' in page
    assert "INCOMPLETE" not in page


def test_user_strings_are_escaped(broken):
    assert HOSTILE in broken.comparison.scenario.name and HOSTILE in broken.comparison.failures["keras"].error
    page = broken.html
    assert "<script" not in page.lower() and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE not in broken.md.split("```")[0]  # outside code blocks it is escaped


def test_render_reproduces_the_report_from_the_saved_files(diverging, tmp_path):
    shutil.copytree(diverging.dir, tmp_path, dirs_exist_ok=True)
    for name in PAGES:
        (tmp_path / name).unlink()
    written = render(tmp_path)
    assert set(written) == set(PAGES)
    for name in PAGES:
        assert (tmp_path / name).read_bytes() == (diverging.dir / name).read_bytes(), name


def test_render_names_the_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="summary.json, diffs.csv, losses.csv"):
        render(tmp_path)


def test_first_divergence_shows_the_offending_values(diverging):
    divergence = diverging.comparison.first_divergence
    assert (divergence.step, divergence.backend, divergence.quantity, divergence.param) == (3, "scratchnet", "grad",
                                                                                            "dense_1.W")
    tensors = _strict_json(diverging.dir / "summary.json")["report"]["first_divergence_tensors"]
    assert tensors["scale_factor"] == pytest.approx(0.5)  # scratchnet's gradient is half of the doubled one
    assert tensors["shape"] == [3, 1] and tensors["checked"] and len(tensors["worst_elements"]) == 3
    assert '<span class="big">FAIL</span>' in diverging.html
    for text in ("scratchnet vs torch", "dense_1.W at index [", repr(divergence.values[0]), repr(divergence.values[1]),
                 f"{divergence.allowed:.3e}", "Largest element differences"):
        assert text in diverging.html, text
    assert "❌ FAIL" in diverging.md and repr(divergence.values[1]) in diverging.md


def test_failures_tracebacks_and_nonfinite_steps_are_shown(broken):
    assert broken.comparison.failures["keras"].step == 2
    page = broken.html
    assert "keras failed at step 2" in page and "<pre>Traceback (most recent call last)" in page
    assert f'<td>torch</td><td class="num">{broken.comparison.nonfinite["torch"]}</td>' in page
    assert "### keras failed at step 2" in broken.md and "Traceback (most recent call last)" in broken.md


def test_incomplete_runs_are_marked_at_the_top(interrupted):
    assert interrupted.comparison.interrupted and interrupted.comparison.steps_completed == 5
    page = interrupted.html
    assert page.index('id="incomplete"') < page.index('id="verdict"') < page.index('id="loss"')
    assert "<title>INCOMPLETE FAIL" in page and "after 5 of 12 steps" in page
    assert interrupted.md.startswith("> **INCOMPLETE**: The run was interrupted after 5 of 12")


def test_a_run_that_never_stepped_is_reported(monkeypatch, tmp_path):
    comparison = run(monkeypatch, torch_class=Unbuildable, backends=["torch"], reference="torch")
    assert comparison.steps_completed == 0 and comparison.losses.empty
    written = write_report(comparison, tmp_path)
    assert not {"loss.png", "errors.png", "heatmap.png"} & set(written)
    page = (tmp_path / "report.html").read_text()
    assert "INCOMPLETE" in page and "covers no step" in page and "torch failed while being built" in page
    render(tmp_path)


def test_conventions_are_listed_with_their_measured_size(passing):
    assert passing.comparison.conventions
    for convention in passing.comparison.conventions:
        assert f"<td>{convention['title']}</td>" in passing.html
    assert "<h3>Measured size</h3>" in passing.html and "scratchnet[keras] vs scratchnet" in passing.html


def test_the_spec_is_shown_as_toml_that_reads_back(passing):
    block = passing.md.split("```toml\n")[1].split("\n```")[0]
    expected = passing.comparison.scenario.to_dict()
    expected["run"] = {k: v for k, v in expected["run"].items() if v is not None}
    assert tomllib.loads(block) == expected


def test_a_run_without_pairings_still_reports(monkeypatch, tmp_path):
    comparison = run(monkeypatch, backends=["scratchnet"], reference="scratchnet")
    assert comparison.diffs.empty
    written = write_report(comparison, tmp_path)
    assert "loss.png" in written and "errors.png" not in written
    assert "No pairing produced diff rows" in (tmp_path / "report.html").read_text()
    render(tmp_path)


# ---------------------------------------------------------------------- doctor
def test_doctor_results_are_shown_and_kept_for_re_rendering(broken, diverging):
    assert 'id="doctor"' in broken.html and "PROBLEM" in broken.html and "## Doctor" in broken.md
    assert _strict_json(diverging.dir / "summary.json")["report"]["doctor"]["notes"] == "fine"
    assert 'id="doctor"' in diverging.html and "<li>fine</li>" in diverging.html


def test_doctor_section_is_generic_and_escaped():
    section = render_doctor_section({
        "ok": False, "culprit": ["dense_1.W"], "notes": "check <the> bias", "cause": "batch size",
        "findings": [{"param": "dense_1.W", "kind": "scaled", "factor": 0.25, "max_abs": 1e-3, "max_rel": 0.75,
                      "evidence": "ratio 0.25 everywhere", "layer": 1, "fix": None}],
    })
    assert 'id="doctor"' in section and "PROBLEM" in section and "<td>0.25</td>" in section
    assert "<th>layer</th>" in section and "<th>fix</th>" not in section  # empty extra keys are left out
    assert "check &lt;the&gt; bias" in section and "<th>cause</th><td>batch size</td>" in section
    assert "OK" in render_doctor_section({"ok": True})
