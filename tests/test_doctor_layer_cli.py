"""`parity doctor FILE [--layer ...]`: the layer doctor on a file's functions, from the command line."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the layer doctor compares with torch autograd: pip install -e '.[torch]'")
from comparisons.cli import main  # noqa: E402
from comparisons.doctor.layer_file import check_layer_file  # noqa: E402
from comparisons.doctor.spec import DoctorInputError  # noqa: E402

CORRECT = Path(__file__).parent / "zoo_layers" / "correct.py"
BROKEN = Path(__file__).parent / "zoo_layers" / "broken.py"


def _write(tmp_path: Path, source: str, name: str = "layers.py") -> Path:
    """A user's file in `tmp_path`, beside a copy of the correct layers (importable as `correct`)
    and the broken ones (as `broken`), as a user's own folder would hold them."""
    (tmp_path / "correct.py").write_text(CORRECT.read_text())
    (tmp_path / "broken.py").write_text(BROKEN.read_text().replace("from tests.zoo_layers import correct as c",
                                                                   "import correct as c"))
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_every_cs231n_pair_of_a_correct_file_is_found_and_passes(capsys):
    assert main(["doctor", str(CORRECT), "--trials", "1"]) == 0
    out = capsys.readouterr().out
    for pair in ("affine_forward / affine_backward", "conv_forward_naive / conv_backward_naive",
                 "max_pool_forward_naive / max_pool_backward_naive", "batchnorm_forward / batchnorm_backward",
                 "spatial_batchnorm_forward / spatial_batchnorm_backward", "dropout_forward / dropout_backward",
                 "softmax_loss", "svm_loss"):
        assert pair in out
    assert "9 layer function pair(s) checked against torch autograd: 9 ok" in out


def test_a_file_with_a_flipped_kernel_and_all_window_routing_exits_1_and_names_both(tmp_path, capsys):
    path = _write(tmp_path, """
        from correct import affine_forward, affine_backward, max_pool_forward_naive
        from broken import conv_forward_flipped as conv_forward_naive
        from broken import conv_backward_flipped as conv_backward_naive
        from broken import max_pool_backward_all as max_pool_backward_naive
    """)
    assert main(["doctor", str(path), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "flipped_kernel" in out and "argmax_routing" in out
    assert "3 layer function pair(s) checked against torch autograd: 1 ok, mistakes in " \
           "conv_forward_naive/conv_backward_naive, max_pool_forward_naive/max_pool_backward_naive" in out
    saved = json.loads((tmp_path / "out" / "layers.json").read_text())
    by_forward = {entry["forward"]: entry for entry in saved}
    assert by_forward["affine_forward"]["ok"] is True
    assert by_forward["conv_forward_naive"]["findings"]["out"]["kind"] == "flipped_kernel"
    assert by_forward["max_pool_forward_naive"]["findings"]["dx"]["kind"] == "argmax_routing"


def test_named_functions_fixed_params_and_the_backward_name_inferred(tmp_path, capsys):
    path = _write(tmp_path, """
        from correct import conv_forward_naive as my_conv_forward
        from correct import conv_backward_naive as my_conv_backward
    """)
    assert main(["doctor", f"{path}:my_conv_forward", "--layer", "conv2d", "--param", "stride=2",
                 "--param", "pad=0", "--trials", "2"]) == 0
    out = capsys.readouterr().out
    assert "my_conv_forward / my_conv_backward" in out and "1 ok" in out
    [check] = check_layer_file(path, layer="conv2d", forward="my_conv_forward", params={"stride": 2, "pad": 0}, trials=2)
    assert all(trial["out"].trial["stride"] == 2 and trial["out"].trial["pad"] == 0 for trial in check.result.trials)


def test_batchnorm_backward_alt_is_checked_beside_batchnorm_backward(tmp_path):
    path = _write(tmp_path, """
        from correct import batchnorm_forward, batchnorm_backward
        from broken import batchnorm_backward_no_terms as batchnorm_backward_alt
    """)
    checks = check_layer_file(path, layer="batchnorm", trials=1)
    assert [(check.backward, check.ok) for check in checks] == [("batchnorm_backward", True),
                                                                ("batchnorm_backward_alt", False)]
    assert checks[1].result.findings["dx"].kind == "missing_batchnorm_terms"


@pytest.mark.parametrize("argv, message", [
    (["--layer", "conv2dd"], "unknown layer 'conv2dd'; did you mean 'conv2d'?"),
    ([":conv_forward_naive", "--backward", "nope"], "defines no function 'nope'"),
    ([":conv_forward_naive", "--param", "stride"], "--param takes KEY=VALUE"),
    ([":softmax_loss", "--backward", "svm_loss"], "softmax_loss returns (loss, dx) from one function"),
    (["--layer", "conv2d", "--spec", "net.toml"], "--spec diagnoses a network and --layer checks layer functions"),
], ids=["unknown-layer", "missing-backward", "bad-param", "loss-with-backward", "spec-and-layer"])
def test_wrong_usage_exits_2_and_says_how(argv, message, capsys):
    target = str(CORRECT) + argv[0] if argv[0].startswith(":") else str(CORRECT)
    rest = argv[1:] if argv[0].startswith(":") else argv
    assert main(["doctor", target, *rest]) == 2
    assert message in capsys.readouterr().err


def test_files_without_layer_functions_or_that_fail_to_import_say_so(tmp_path):
    plain = _write(tmp_path, "def helper(x):\n    return x\n", "plain.py")
    with pytest.raises(DoctorInputError, match=r"defines none of the cs231n layer functions .* it defines: helper\. "
                                               r"Name yours: --layer KIND --forward NAME"):
        check_layer_file(plain)
    with pytest.raises(DoctorInputError, match=r"which layer is 'helper'\? Name it with --layer"):
        check_layer_file(plain, forward="helper")
    broken = _write(tmp_path, "import not_a_module_anywhere\n", "broken.py")
    with pytest.raises(DoctorInputError, match=r"importing .*broken.py raised: ModuleNotFoundError"):
        check_layer_file(broken)


def test_a_file_inside_a_package_imports_as_the_course_layout_has_it(tmp_path, capsys):
    """cs231n's assignment2/cs231n/layers.py does `from cs231n.im2col import *` (and fast_layers
    relative imports): run from anywhere, the file is imported as cs231n.layers."""
    package = tmp_path / "assignment2" / "cs231n"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "im2col.py").write_text(CORRECT.read_text())
    (package / "layers.py").write_text("from cs231n.im2col import affine_forward, affine_backward\n"
                                       "from .im2col import relu_forward, relu_backward\n")
    assert main(["doctor", str(package / "layers.py"), "--trials", "1"]) == 0
    assert "2 layer function pair(s) checked against torch autograd: 2 ok" in capsys.readouterr().out

