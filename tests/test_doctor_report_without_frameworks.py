"""tests/test_doctor_report.py on a machine without torch, TensorFlow and Keras: nothing fails,
the tests that need torch skip with the reason.

The frameworks are made unimportable in a child pytest by a `sitecustomize.py` on PYTHONPATH whose
import hook raises ModuleNotFoundError for them, as on a machine where they are not installed."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("torch", "tensorflow", "keras")
SITECUSTOMIZE = f'''
import sys


class _NotInstalled:
    """Import hook: {", ".join(BLOCKED)} behave as if they were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
'''


def test_doctor_report_tests_skip_without_frameworks(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr, probe.stderr  # the hook works
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "tests/test_doctor_report.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    output = done.stdout + done.stderr
    summary = output.strip().splitlines()[-1]
    assert done.returncode == 0, output[-4000:]
    assert not re.search(r"\d+ (failed|errors?)\b", summary), summary
    assert re.search(r"\d+ passed", summary) and re.search(r"\d+ skipped", summary), summary
    assert "needs torch" in output, output[-4000:]  # skipped for the reason, not by accident
