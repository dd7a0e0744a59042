"""The layer-level doctor (`comparisons.doctor.check_layer`): correct cs231n-style layers pass; each
broken one in tests/zoo_layers is diagnosed with its kind on the output it breaks, and every
other output stays ok; the generic style; wrong calls."""
from __future__ import annotations

import numpy as np
import pytest

from tests.zoo_layers import broken
from tests.zoo_layers import correct as c

pytest.importorskip("torch", reason="the layer doctor compares with torch autograd: pip install -e '.[torch]'")
from comparisons.doctor import check_layer  # noqa: E402
from comparisons.doctor.layers import LAYER_KINDS, LayerCheckError  # noqa: E402


@pytest.mark.parametrize("name, layer, forward, backward, params", broken.CORRECT, ids=[case[0] for case in broken.CORRECT])
def test_correct_layers_pass(name, layer, forward, backward, params):
    result = check_layer(layer, forward, backward, params)
    assert result.ok, str(result)
    assert all(finding.max_rel < 1e-12 for finding in result.findings.values())


@pytest.mark.parametrize("name, layer, forward, backward, params, expected", broken.ZOO, ids=[case[0] for case in broken.ZOO])
def test_each_broken_layer_is_diagnosed_with_its_kind(name, layer, forward, backward, params, expected):
    result = check_layer(layer, forward, backward, params)
    assert not result.ok
    assert {output: finding.kind for output, finding in result.findings.items() if not finding.ok} == expected, str(result)
    assert all(finding.kind in LAYER_KINDS and finding.evidence for finding in result.findings.values() if not finding.ok)
    assert result.to_dict()["ok"] is False


def test_evidence_names_the_mistake():
    result = check_layer("conv2d", broken.conv_forward_flipped, broken.conv_backward_flipped, {"stride": 1, "pad": 1})
    assert "kernel flipped" in result.findings["out"].evidence and "cross-correlation" in result.findings["out"].evidence
    summed = check_layer("softmax_loss", broken.softmax_loss_summed)
    assert "(N)" in summed.findings["dx"].evidence and summed.findings["dx"].factor == pytest.approx(summed.trials[0]["dx"].factor)
    new_mask = check_layer("dropout", c.dropout_forward, broken.dropout_backward_new_mask, {"mode": "train"})
    assert "draws a new mask" in new_mask.findings["dx"].evidence
    assert "MISTAKES FOUND" in str(new_mask) and "mask_not_reused" in str(new_mask)


def test_generic_style_with_keywords_and_no_cache():
    def forward(x, w, b, stride=1, pad=0):
        return c.conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})[0]

    def backward(dout, x, w, b, stride=1, pad=0):
        _, cache = c.conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
        dx, dw, db = c.conv_backward_naive(dout, cache)
        return {"dw": dw, "dx": dx, "db": db}

    assert check_layer("conv2d", forward, backward, {"stride": 2, "pad": 1}, style="generic", options="keywords", cache=False).ok


def test_user_code_that_raises_is_reported_not_raised():
    def forward(x, w, b):
        raise RuntimeError("not implemented yet")

    result = check_layer("affine", forward, c.affine_backward)
    assert result.findings["out"].kind == "raised" and "not implemented yet" in result.findings["out"].evidence


@pytest.mark.parametrize("call, message", [
    (lambda: check_layer("conv", c.conv_forward_naive, c.conv_backward_naive), r"unknown layer 'conv'; did you mean 'conv2d'"),
    (lambda: check_layer("conv2d", c.conv_forward_naive, None), r"conv2d needs backward"),
    (lambda: check_layer("softmax_loss", c.softmax_loss, c.relu_backward), r"returns \(loss, dx\) from one function"),
    (lambda: check_layer("relu", c.relu_forward, c.relu_backward, style="torch"), r"style must be one of"),
    (lambda: check_layer("relu", c.relu_forward, c.relu_backward, trials=0), r"trials must be a positive integer"),
    (lambda: check_layer("affine", c.affine_forward, c.affine_backward, style="generic", inputs=("x", "w")),
     r"inputs must name affine's arrays"),
])
def test_wrong_calls_say_how(call, message):
    with pytest.raises(LayerCheckError, match=message):
        call()


def test_trials_vary_shapes_and_configurations():
    result = check_layer("conv2d", c.conv_forward_naive, c.conv_backward_naive, trials=3)
    configurations = {(t["out"].trial["stride"], t["out"].trial["pad"], tuple(t["out"].trial["w"])) for t in result.trials}
    assert len(configurations) == 3 and result.ok
    assert np.isfinite(result.findings["dw"].max_rel)
