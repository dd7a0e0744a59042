"""The report's structure: one ordered section list behind both pages and the navigation, the
versioned summary.json schema (round trip, clear errors, older files refused), row kinds read
from the `kind` column (never from backend names), and shape/dtype findings with "k of n"
element counts shown in both pages."""
import dataclasses
import json
import pathlib
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest


from comparisons.report import content, load_records, render, write_report
from comparisons.report import records as report_records
from comparisons.report.html_page import render_page as render_html_page
from comparisons.report.markdown_page import render_page as render_markdown_page
from comparisons.report.schema import SCHEMA_VERSION, Summary, SummaryError, load_summary, worst_rows
from test_report_support import DoubledGradient, WrongShape, momentum_xor, run

DOCTOR = {"ok": False, "culprit": ["dense_1.W"], "notes": ["check the bias"],
          "findings": [{"param": "dense_1.W", "kind": "scaled", "factor": 2.0}]}
FINDING = "shape (3,) differs from the reference's (2,)"


def _written(tmp_path_factory, name, doctor=None, **run_options):
    with pytest.MonkeyPatch.context() as monkeypatch:
        comparison = run(monkeypatch, **run_options)
    out_dir = tmp_path_factory.mktemp(name)
    write_report(comparison, out_dir, doctor=doctor)
    return SimpleNamespace(comparison=comparison, dir=out_dir, records=load_records(out_dir),
                           html=(out_dir / "report.html").read_text(encoding="utf-8"),
                           md=(out_dir / "report.md").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def finding(tmp_path_factory):
    """torch reports dense_0.b's gradient one element short from step 2: a shape finding; with a doctor section."""
    return _written(tmp_path_factory, "finding", doctor=DOCTOR, torch_class=WrongShape,
                    backends=["scratchnet", "torch", "keras"], mode="anchored")


@pytest.fixture(scope="module")
def diverging(tmp_path_factory):
    return _written(tmp_path_factory, "diverging", scenario=momentum_xor(), torch_class=DoubledGradient,
                    backends=["scratchnet", "torch", "keras"], mode="anchored")


def _html_order(page):
    return re.findall(r'<section id="([^"]+)"', page)


def _nav_order(page):
    return re.findall(r'<a href="#([^"]+)"', page.split("<nav>")[1].split("</nav>")[0])


def _md_order(page, sections):
    by_title = {section.title: section.id for section in sections}
    return [by_title[title] for title in re.findall(r"^## (.+)$", page, re.MULTILINE) if title in by_title]


# ---------------------------------------------------------------------- one section list
@pytest.mark.parametrize("report", ["finding", "diverging"])
def test_both_pages_and_the_nav_follow_the_one_section_list(report, request):
    report = request.getfixturevalue(report)
    images = [name for name in content.PLOT_FILES if (report.dir / name).exists()]
    sections = content.build_page(report.records, images).sections
    ids = [section.id for section in sections]
    assert len(ids) == len(set(ids)) and {"loss", "divergence", "failures", "worst", "conventions", "spec"} <= set(ids)
    assert _html_order(report.html) == ids
    assert _nav_order(report.html) == ids
    assert _md_order(report.md, sections) == ids
    # every section title is a heading in both pages
    for section in sections:
        assert f"<h2>{section.title}</h2>" in report.html and f"\n## {section.title}\n" in report.md


def test_reordering_the_list_reorders_both_pages(finding):
    """The pages hold no order of their own: whatever order the list has, both render it."""
    page = content.build_page(finding.records, [])
    shuffled = dataclasses.replace(page, sections=page.sections[::-1])
    ids = [section.id for section in shuffled.sections]
    html_page, md_page = render_html_page(shuffled, {}), render_markdown_page(shuffled)
    assert _html_order(html_page) == ids and _nav_order(html_page) == ids
    assert _md_order(md_page, shuffled.sections) == ids


def test_the_findings_and_doctor_sections_appear_where_the_list_puts_them(finding):
    ids = _html_order(finding.html)
    assert ids[0] == "findings"  # shape/dtype mismatches come first, right under the verdict
    assert ids.index("conventions") < ids.index("doctor") < ids.index("environment")


# ---------------------------------------------------------------------- findings and "k of n"
def test_a_finding_row_is_shown_prominently_in_both_pages(finding):
    assert finding.comparison.first_divergence.step == 2
    rows = finding.comparison.diffs[finding.comparison.diffs.finding != ""]
    assert set(rows.finding) == {FINDING} and not rows.passed.any()
    html_page, md_page = finding.html, finding.md
    # an alert right under the verdict, before the facts
    assert html_page.index('id="verdict"') < html_page.index('class="alert"') < html_page.index('class="facts"')
    assert FINDING.replace("'", "&#x27;") in html_page.split('class="alert">')[1].split("</div>")[0]
    assert md_page.index("## ❌ FAIL") < md_page.index(f"> **2 tensors could not be compared") < md_page.index("## Shape")
    # the findings section lists them, with every element counted as mismatched
    findings_html = html_page.split('<section id="findings">')[1].split("</section>")[0]
    assert '<tr class="bad"><td>scratchnet vs torch</td><td>exact</td><td>grad</td><td>dense_0.b</td>' in findings_html
    assert "2 of 2 elements" in findings_html
    findings_md = md_page.split("## Shape and dtype mismatches")[1].split("\n## ")[0]
    assert "| scratchnet vs torch | exact | grad | dense_0.b |" in findings_md and "2 of 2 elements" in findings_md
    assert FINDING in findings_md


def test_first_divergence_and_worst_tables_say_k_of_n(finding, diverging):
    for report in (finding, diverging):
        divergence = report.comparison.first_divergence
        count = f"{divergence.mismatched} of {divergence.size} element"
        html_section = report.html.split('<section id="divergence">')[1].split("</section>")[0]
        md_section = report.md.split("## First divergence")[1].split("\n## ")[0]
        assert f"<tr><th>Elements beyond allowed</th><td>{count}" in html_section
        assert f"| Elements beyond allowed | {count}" in md_section
    # DoubledGradient doubles all 3 elements of dense_1.W
    assert "3 of 3 elements" in diverging.html and "3 of 3 elements" in diverging.md
    worst = [row for row in diverging.records.summary.worst if row.judged and row.quantity == "grad" and row.failed_rows]
    assert worst and worst[0].param == "dense_1.W" and (worst[0].mismatched, worst[0].size) == (3, 3)
    worst_html = diverging.html.split('<section id="worst">')[1]
    assert "<th>elements beyond allowed there</th>" in worst_html and '<td class="num">3 of 3</td>' in worst_html
    assert "| 3 of 3 |" in diverging.md.split("## Worst errors")[1]
    # a finding is the worst row of its group, with no made-up error
    finding_rows = [row for row in finding.records.summary.worst if row.finding]
    assert finding_rows and all((row.mismatched, row.size) == (2, 2) for row in finding_rows)


def test_divergence_tensors_are_the_diff_engines_statistics(diverging):
    divergence = diverging.comparison.first_divergence
    tensors = diverging.records.summary.report.first_divergence_tensors
    row = diverging.comparison.diffs.query("step == 3 and backend == 'scratchnet' and quantity == 'grad' "
                                           "and param == 'dense_1.W'").iloc[0]
    assert (tensors.mismatched, tensors.size) == (row.mismatched, row["size"]) == (3, 3)
    assert tensors.max_abs == row.max_abs and tensors.cosine == row.cosine and tensors.allowed == divergence.allowed
    assert tensors.scale_factor == pytest.approx(0.5) and tensors.shape == [3, 1]
    assert not hasattr(report_records, "tensor_summary")


# ---------------------------------------------------------------------- kinds, not names
def test_judged_rows_come_from_the_kind_column_not_the_backend_name(diverging):
    """Rename the convention twin to a name without brackets and give a judged pairing a
    bracketed name: the report follows `kind`."""
    records = diverging.records
    diffs = records.diffs.copy()
    diffs["backend"] = diffs.backend.replace({"scratchnet[keras]": "twin", "scratchnet": "scratchnet[torch]"})
    summary = dataclasses.replace(records.summary, worst=worst_rows(diffs))
    renamed = dataclasses.replace(records, diffs=diffs, summary=summary)
    page = content.build_page(renamed, [])
    worst = next(s for s in page.sections if s.id == "worst").blocks[0]
    labels = {(row[0], row[1]): (row[2], style) for row, style in zip(worst.rows, worst.row_styles)}
    assert labels[("twin vs scratchnet", "grad")] == ("convention gap (measured)", "convention")
    assert labels[("scratchnet[torch] vs torch", "grad")] == ("exact", "bad")
    sizes = next(s for s in page.sections if s.id == "conventions").blocks[-1]
    assert {row[0] for row in sizes.rows} == {"twin vs scratchnet"}


# ---------------------------------------------------------------------- the schema
def test_summary_json_round_trips_through_the_schema(finding):
    path = finding.dir / "summary.json"
    summary = load_summary(path)
    assert summary.schema_version == SCHEMA_VERSION == 2
    assert report_records.plain(summary.to_dict()) == json.loads(path.read_text())
    assert report_records.dumps(summary) == path.read_text()  # byte for byte
    assert Summary.from_dict(json.loads(path.read_text())) == summary
    fresh = finding.comparison.summary()
    assert fresh["schema_version"] == 2 and fresh["report"] is None
    assert fresh["first_divergence"]["finding"] == FINDING and fresh["findings"][0]["finding"] == FINDING
    assert Summary.from_dict(json.loads(report_records.dumps(fresh))).first_divergence.kind == "exact"


def _broken_copy(report, tmp_path, edit):
    shutil.copytree(report.dir, tmp_path, dirs_exist_ok=True)
    data = json.loads((tmp_path / "summary.json").read_text())
    edit(data)
    (tmp_path / "summary.json").write_text(json.dumps(data))
    return tmp_path / "summary.json"


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("verdict"), r"missing key 'verdict'"),
    (lambda d: d["first_divergence"].update(step="three"), r"first_divergence\.step: expected an integer, got str 'three'"),
    (lambda d: d["tolerance"].pop("rtol"), r"missing key 'tolerance\.rtol'"),
    (lambda d: d["worst"][1].update(kind=None), r"worst\[1\]\.kind: expected a string, got NoneType None"),
    (lambda d: d.update(colour="red"), r"unknown key 'colour'"),
    (lambda d: d["report"]["data_files"].update({"diffs.csv": 1}), r"report\.data_files\.diffs\.csv: expected a string"),
    (lambda d: d.update(passed="yes"), r"passed: expected true or false"),
    (lambda d: d.pop("report"), r"missing key 'report'"),
])
def test_a_malformed_summary_raises_an_error_naming_file_and_key(finding, tmp_path, edit, message):
    path = _broken_copy(finding, tmp_path, edit)
    with pytest.raises(SummaryError, match=re.escape(str(path)) + ": " + message):
        load_summary(path)
    with pytest.raises(SummaryError, match=message):
        render(tmp_path)


def test_invalid_json_and_other_versions_are_refused(finding, tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("{not json")
    with pytest.raises(SummaryError, match="not valid JSON"):
        load_summary(path)
    path = _broken_copy(finding, tmp_path, lambda d: d.update(schema_version=3))
    with pytest.raises(SummaryError, match="schema_version is 3; .* reads schema 2 only: upgrade scratchnet-parity"):
        load_summary(path)


def test_an_older_schema_1_summary_is_refused_with_the_advice_to_re_run(finding, tmp_path):
    """A summary written before schema_version existed (no kind/mismatched/size/finding): refused, not guessed at."""
    shutil.copytree(finding.dir, tmp_path, dirs_exist_ok=True)
    v1 = json.loads((finding.dir / "summary.json").read_text())
    v1.pop("schema_version")
    (tmp_path / "summary.json").write_text(json.dumps(v1))
    with pytest.raises(SummaryError, match=r"no 'schema_version'.*schema 1.*Re-run the comparison with `parity run"):
        render(tmp_path)


def test_a_schema_1_diffs_table_is_refused_naming_its_file(finding, tmp_path):
    shutil.copytree(finding.dir, tmp_path, dirs_exist_ok=True)
    csv = tmp_path / "diffs.csv"
    pd.read_csv(csv).drop(columns=["kind", "mismatched"]).to_csv(csv, index=False)
    with pytest.raises(SummaryError, match=re.escape(str(csv)) + r": missing columns \['kind', 'mismatched'\]"):
        render(tmp_path)


def test_a_producer_drifting_from_the_schema_is_caught_when_the_summary_is_made(finding):
    comparison = dataclasses.replace(finding.comparison, extras={"method": "lm", "runs_v2": {}})
    with pytest.raises(SummaryError, match=r"Comparison.summary\(\) of 'xor-sigmoid-sgd': extras: unknown key 'runs_v2'"):
        comparison.summary()


def test_full_batch_runs_are_complete_when_they_stop_on_their_own(finding):
    """expected_steps (not the scenario's step limit) decides INCOMPLETE: an LM run that reaches its goal
    after 5 of at most 60 epochs is complete."""
    summary = dataclasses.replace(finding.records.summary, steps=60, expected_steps=12, steps_completed=12)
    assert not summary.incomplete
    page = content.build_page(dataclasses.replace(finding.records, summary=summary), [])
    assert page.incomplete is None and ("Steps", "12 of 12 (stops on its own; limit 60)") in page.facts
    assert dataclasses.replace(summary, steps_completed=5).incomplete


def test_the_report_package_reads_every_summary_field_without_get():
    """The renderers read the typed summary: no defensive dict look-ups left in them."""
    folder = pathlib.Path(content.__file__).parent
    for name in ("content.py", "html_page.py", "markdown_page.py", "plots.py", "records.py", "doctor_section.py"):
        assert ".get(" not in (folder / name).read_text(), name


def test_summary_values_keep_non_finite_floats(tmp_path):
    """NaN/inf are written as strings and read back as floats."""
    from comparisons.report.schema import _value

    assert np.isnan(_value(float, "NaN", "s", "x")) and _value(float, "-Infinity", "s", "x") == -np.inf
    with pytest.raises(SummaryError, match="x: expected a number, got str 'nan'"):
        _value(float, "nan", "s", "x")
