"""report.html in a real browser: headless Chromium shows the verdict and loads every image.

The report itself has no JavaScript. The test injects a small checker script into a *copy* of the
page; on the window's load event it records whether the verdict box is visible and, for every
<img>, whether it finished loading with a natural width > 0, in a <div id="browser-check">. Chromium's
--dump-dom prints the DOM after the load, so no WebDriver is needed (Debian: apt-get install
chromium). Host names resolve nowhere (--host-resolver-rules), so a page that needed the network
would show broken images here.
"""
import html
import json
import os
import re
import shutil
import subprocess

import pytest

from comparisons.report import write_report
from test_report_support import Crashing, DoubledGradient, hostile_scenario, run

CHECKER = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var verdict = document.getElementById("verdict");
  var box = verdict ? verdict.getBoundingClientRect() : null;
  var out = document.createElement("div");
  out.id = "browser-check";
  out.textContent = JSON.stringify({
    images: images.length,
    loaded: images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    widths: images.map(function (i) { return i.naturalWidth; }),
    verdict: verdict ? verdict.innerText : null,
    verdictVisible: !!box && box.width > 0 && box.height > 0,
    scripts: document.scripts.length
  });
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")


def _check_in_browser(report, tmp_path) -> dict:
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    copy = tmp_path / "checked.html"
    copy.write_text(page.replace("</body>", CHECKER + "\n</body>"), encoding="utf-8")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}",
               "--virtual-time-budget=5000", "--dump-dom", copy.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    found = re.search(r'<div id="browser-check">(.*?)</div>', result.stdout, re.DOTALL)
    assert found, f"no check result from Chromium (exit {result.returncode}): {result.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("case", ["passing", "failing"])
def test_the_report_shows_its_verdict_and_every_image_in_chromium(case, monkeypatch, tmp_path):
    if case == "passing":
        comparison = run(monkeypatch, backends=["scratchnet", "torch", "keras"])
    else:
        comparison = run(monkeypatch, hostile_scenario(), torch_class=DoubledGradient, keras_class=Crashing,
                         backends=["scratchnet", "torch", "keras"], mode="anchored")
    write_report(comparison, tmp_path / "report", formats=("html",))
    check = _check_in_browser(tmp_path / "report" / "report.html", tmp_path)
    word = "PASS" if comparison.passed else "FAIL"
    assert check["verdictVisible"] and check["verdict"].startswith(word), check
    assert comparison.verdict() in check["verdict"]
    assert check["images"] == 3 and check["loaded"] == 3 and min(check["widths"]) > 0, check
    assert check["scripts"] == 1  # only the checker: the report runs no script of its own


def test_the_check_notices_an_image_that_does_not_load(monkeypatch, tmp_path):
    write_report(run(monkeypatch), tmp_path / "report", formats=("html",))
    report = tmp_path / "report" / "report.html"
    page = report.read_text(encoding="utf-8")
    report.write_text(page.replace("data:image/png;base64,", "https://example.invalid/plot.png#", 1), encoding="utf-8")
    check = _check_in_browser(report, tmp_path)
    assert check["images"] == 3 and check["loaded"] == 2, check
