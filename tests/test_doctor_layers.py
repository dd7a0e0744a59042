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


def test_dropout_with_p_as_the_drop_probability_is_right_in_its_convention_and_says_so():
    """cs231n's 2016-2017 assignments kept 1 - p of the units (real solutions do); the layer is
    right for that convention, and the finding names it."""
    result = check_layer("dropout", broken.dropout_forward_drop_probability, c.dropout_backward, {"mode": "train", "p": 0.8})
    assert result.ok, str(result)
    assert "probability of dropping a unit (cs231n's 2016-2017 convention" in result.findings["out"].evidence
    assert "2016-2017 convention" in str(result)
    keep = check_layer("dropout", c.dropout_forward, c.dropout_backward, {"mode": "train", "p": 0.8})
    assert keep.ok and keep.findings["out"].evidence == ""


def test_unfinished_and_python2_code_is_named_as_such():
    def conv_backward_unwritten(dout, cache):
        x, w, b, _ = cache
        return np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)

    def conv_forward_python2(x, w, b, conv_param):
        for _ in xrange(1):  # noqa: F821 (Python 2)
            pass

    result = check_layer("conv2d", c.conv_forward_naive, conv_backward_unwritten, {"stride": 1, "pad": 1})
    assert {result.findings[key].kind for key in ("dx", "dw", "db")} == {"zero"}
    assert "all zeros where the reference is not (not written yet?)" in result.findings["dw"].evidence
    raised = check_layer("conv2d", conv_forward_python2, c.conv_backward_naive, {"stride": 1, "pad": 1})
    assert raised.findings["out"].kind == "raised" and "(Python 2 code: use range)" in raised.findings["out"].evidence


def test_real_code_mistakes_get_specific_evidence():
    """Seen in real cs231n solutions: dx sliced with pad:-pad (empty at pad 0), and a max-pool
    backward that assigns instead of adding (right only where windows do not overlap)."""
    sliced = check_layer("conv2d", c.conv_forward_naive, broken.conv_backward_pad_slice, {"stride": 1, "pad": 0})
    assert "slice such as dxp[:, :, pad:-pad] is empty when pad = 0" in sliced.findings["dx"].evidence
    assert check_layer("conv2d", c.conv_forward_naive, broken.conv_backward_pad_slice, {"stride": 1, "pad": 1}).ok
    assigned = check_layer("max_pool2d", c.max_pool_forward_naive, broken.max_pool_backward_assigned,
                           {"pool_height": 3, "pool_width": 3, "stride": 1})
    assert "with = instead of +=" in assigned.findings["dx"].evidence
    assert check_layer("max_pool2d", c.max_pool_forward_naive, broken.max_pool_backward_assigned,
                       {"pool_height": 2, "pool_width": 2, "stride": 2}).ok


def test_spatial_batchnorm_over_the_batch_alone_is_named_even_when_its_forward_raises():
    result = check_layer("spatial_batchnorm", broken.spatial_batchnorm_forward_per_position,
                         broken.spatial_batchnorm_backward_per_position, {"mode": "train"})
    out = result.findings["out"]
    assert out.kind == "wrong_axes" and "over the batch alone (axis 0)" in out.evidence
    assert "your forward raised with running statistics of shape (4,) passed" in out.evidence
    assert result.findings["dx"].kind == "wrong_axes" and result.findings["dbeta"].ok
    assert result.findings["running_mean"].kind == "shape_mismatch"


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
