"""The README's "Your own network in lockstep" walkthrough runs as shown: its code blocks and
TOML specs are written to a folder, its commands are run there, and what they print is what the
README shows (the measured float errors aside: they are normalised, as they may differ in the
last bits with another BLAS)."""
import contextlib
import io
import re
import runpy
import sys
from pathlib import Path

import pytest

from comparisons.cli import main as cli_main

README = Path(__file__).parent.parent / "README.md"
FLOAT = re.compile(r"-?\d+\.\d+(?:e[-+]\d+)?")


def section():
    text = README.read_text()
    start = text.index("## Your own network in lockstep")
    return text[start:text.index("\n## ", start + 1)]


def blocks(lang):
    return [body for found, body in re.findall(r"```(\w*)\n(.*?)```", section(), flags=re.S) if found == lang]


def block(lang, containing):
    (body,) = [body for body in blocks(lang) if containing in body]
    return body


def normalised(text):
    return [FLOAT.sub("#", line).rstrip() for line in text.strip().splitlines()]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "xor_net.py").write_text(block("python", "def loss_and_grads"))
    (tmp_path / "xor_net.toml").write_text(block("toml", 'name = "my-xor"'))
    (tmp_path / "per_sample.py").write_text(block("python", "def backprop"))
    (tmp_path / "per_sample.toml").write_text(block("toml", 'name = "per-sample-xor"'))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def run_shown(shown, capsys):
    """Run the `$ parity ...` command that opens `shown` and return (exit code, its stdout)."""
    command, _, expected = shown.partition("\n")
    assert command.startswith("$ parity run ")
    code = cli_main(command.split()[2:])
    return code, capsys.readouterr().out, expected


@pytest.mark.parametrize("spec", ["xor_net.toml", "per_sample.toml"])
def test_each_style_passes_as_shown(folder, capsys, spec):
    code, out, expected = run_shown(block("", f"$ parity run {spec}"), capsys)
    assert code == 0, out
    assert normalised(out) == normalised(expected)
    assert out.startswith("PASS: parity holds")


def test_dropping_the_division_by_m_fails_at_step_0_with_the_doctors_verdict(folder, capsys):
    code = (folder / "xor_net.py").read_text()
    assert code.count("d2 = (a2 - y) / m") == 1
    (folder / "xor_net.py").write_text(code.replace("d2 = (a2 - y) / m", "d2 = a2 - y"))
    command = block("", "$ parity run xor_net.toml").partition("\n")[0]
    assert cli_main(command.split()[2:]) == 1
    out = capsys.readouterr().out
    shown = block("", "FAIL: first divergence at step 0")
    assert normalised(out.splitlines()[0]) == normalised(shown)
    assert "(relative 3.000e+00)" in out  # 4 times the reference: m = 4 on XOR's full batch


def test_the_python_block_prints_what_is_shown(folder):
    script = folder / "api.py"
    script.write_text(block("python", "import comparisons"))
    shown = block("", "over 50 steps (anchored)")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        runpy.run_path(str(script), run_name="__main__")
    sys.modules.pop("per_sample", None)
    assert stdout.getvalue().strip().splitlines() == shown.strip().splitlines()
