"""cs231n-style layers with one classic mistake each. `ZOO` lists them: (name, layer, forward,
backward, params, {output: the kind the doctor must name}); every other output must be ok."""
import numpy as np

from tests.zoo_layers import correct as c


# conv: a true convolution (flipped kernel), consistently in forward and backward
def conv_forward_flipped(x, w, b, conv_param):
    return c.conv_forward_naive(x, w[:, :, ::-1, ::-1], b, conv_param)


def conv_backward_flipped(dout, cache):
    x, w, b, conv_param = cache
    dx, dw, db = c.conv_backward_naive(dout, cache)
    return dx, dw[:, :, ::-1, ::-1], db


# conv: dx cut out of the padded gradient with pad:-pad, empty when pad = 0 (five real solutions)
def conv_backward_pad_slice(dout, cache):
    x, w, b, conv_param = cache
    pad = conv_param["pad"]
    dx, dw, db = c.conv_backward_naive(dout, cache)
    dxp = np.pad(dx, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return dxp[:, :, pad:-pad, pad:-pad], dw, db


# conv: dw returned as (C, F, HH, WW)
def conv_backward_dw_axes_swapped(dout, cache):
    dx, dw, db = c.conv_backward_naive(dout, cache)
    return dx, dw.transpose(1, 0, 2, 3), db


# affine: db with the wrong sign; dw transposed (M, D); dx not reshaped back
def affine_backward_db_sign(dout, cache):
    dx, dw, db = c.affine_backward(dout, cache)
    return dx, dw, -db


def affine_backward_dw_transposed(dout, cache):
    x, w, b = cache
    dx, _, db = c.affine_backward(dout, cache)
    return dx, dout.T @ x.reshape(x.shape[0], -1), db


def affine_backward_dx_flat(dout, cache):
    x, w, b = cache
    _, dw, db = c.affine_backward(dout, cache)
    return dout @ w.T, dw, db


# max pool: the gradient to every element of the window; spread evenly over it
def max_pool_backward_all(dout, cache):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[:, :, i, j][:, :, None, None]
    return dx


def max_pool_backward_assigned(dout, cache):
    """dx[window] = (window == max) * dout: right for stride = pool size, wrong where windows
    overlap (three real solutions)."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            mask = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw] = mask * dout[:, :, i, j][..., None, None]
    return dx


def spatial_batchnorm_forward_per_position(x, gamma, beta, bn_param):
    """Normalises each (channel, position) over the batch alone, as two real solutions do; its
    running statistics are (C, H, W), so running statistics of shape (C,) make it raise."""
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    mean, var = x.mean(axis=0), x.var(axis=0)
    bn_param["running_mean"] = momentum * bn_param.get("running_mean", np.zeros_like(mean)) + (1 - momentum) * mean
    bn_param["running_var"] = momentum * bn_param.get("running_var", np.zeros_like(var)) + (1 - momentum) * var
    xhat = (x - mean) / np.sqrt(var + eps)
    return gamma[None, :, None, None] * xhat + beta[None, :, None, None], (xhat, var, eps, gamma)


def spatial_batchnorm_backward_per_position(dout, cache):
    xhat, var, eps, gamma = cache
    n = dout.shape[0]
    dxhat = dout * gamma[None, :, None, None]
    dx = (dxhat * n - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * np.sqrt(var + eps))
    return dx, (dout * xhat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))


def max_pool_backward_average(dout, cache):
    x, pool_param = cache
    return max_pool_backward_all(dout, cache) / (pool_param["pool_height"] * pool_param["pool_width"])


# batch norm: the backward without the mean and variance terms; without the variance term
def batchnorm_backward_no_terms(dout, cache):
    xhat, gamma, std = cache
    return gamma * dout / std, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def batchnorm_backward_no_variance_term(dout, cache):
    xhat, gamma, std = cache
    return gamma / std * (dout - dout.mean(axis=0)), (dout * xhat).sum(axis=0), dout.sum(axis=0)


def batchnorm_forward_torch_momentum(x, gamma, beta, bn_param):
    """torch's meaning of momentum (the new batch's weight) in cs231n's formula."""
    old_mean = bn_param.get("running_mean")
    out, cache = c.batchnorm_forward(x, gamma, beta, dict(bn_param))
    if bn_param["mode"] == "train":
        momentum = bn_param.get("momentum", 0.9)
        bn_param["running_mean"] = (1 - momentum) * old_mean + momentum * x.mean(axis=0)
        bn_param["running_var"] = (1 - momentum) * bn_param["running_var"] + momentum * x.var(axis=0)
    return out, cache


# dropout: a new mask in backward; no 1/p (not inverted); p used as the drop probability
def dropout_backward_new_mask(dout, cache):
    dropout_param, _ = cache
    if dropout_param["mode"] != "train":
        return dout
    p = dropout_param["p"]
    return dout * (np.random.rand(*dout.shape) < p) / p


def dropout_forward_not_inverted(x, dropout_param):
    out, (param, mask) = c.dropout_forward(x, dropout_param)
    if mask is None:
        return out, (param, mask)
    mask = mask * dropout_param["p"]
    return x * mask, (param, mask)


def dropout_forward_drop_probability(x, dropout_param):
    """Right in cs231n's 2016-2017 convention (p is the drop probability): not a mistake, the
    doctor names the convention (tests/test_doctor_layers.py)."""
    p = dropout_param["p"]
    np.random.seed(dropout_param.get("seed", 0))
    if dropout_param["mode"] != "train":
        return x, (dropout_param, None)
    mask = (np.random.rand(*x.shape) < 1 - p) / (1 - p)
    return x * mask, (dropout_param, mask)


def dropout_forward_drop_but_keep_scale(x, dropout_param):
    """Drops with probability p but scales by 1 / p, mixing the two conventions (seen in a real
    2019 solution)."""
    p = dropout_param["p"]
    np.random.seed(dropout_param.get("seed", 0))
    if dropout_param["mode"] != "train":
        return x, (dropout_param, None)
    mask = (np.random.rand(*x.shape) < 1 - p) / p
    return x * mask, (dropout_param, mask)


# losses: the sum over the batch instead of the mean; svm gradient with the sign flipped
def softmax_loss_summed(x, y):
    loss, dx = c.softmax_loss(x, y)
    return loss * x.shape[0], dx * x.shape[0]


def svm_loss_sign(x, y):
    loss, dx = c.svm_loss(x, y)
    return loss, -dx


# relu: the gradient through the output's complement (x <= 0) -- wrong, no known mistake's form
def relu_backward_inverted(dout, cache):
    return dout * (cache <= 0)


CORRECT = [
    ("affine", "affine", c.affine_forward, c.affine_backward, None),
    ("relu", "relu", c.relu_forward, c.relu_backward, None),
    ("conv2d", "conv2d", c.conv_forward_naive, c.conv_backward_naive, {"stride": 1, "pad": 1}),
    ("conv2d-varied", "conv2d", c.conv_forward_naive, c.conv_backward_naive, None),
    ("max_pool2d", "max_pool2d", c.max_pool_forward_naive, c.max_pool_backward_naive, None),
    ("batchnorm", "batchnorm", c.batchnorm_forward, c.batchnorm_backward, None),
    ("spatial_batchnorm", "spatial_batchnorm", c.spatial_batchnorm_forward, c.spatial_batchnorm_backward, None),
    ("dropout", "dropout", c.dropout_forward, c.dropout_backward, None),
    ("softmax_loss", "softmax_loss", c.softmax_loss, None, None),
    ("svm_loss", "svm_loss", c.svm_loss, None, None),
]

ZOO = [
    ("conv-flipped-kernel", "conv2d", conv_forward_flipped, conv_backward_flipped, {"stride": 1, "pad": 1},
     {"out": "flipped_kernel", "dx": "flipped_kernel", "dw": "flipped_kernel"}),
    ("conv-dw-axes-swapped", "conv2d", c.conv_forward_naive, conv_backward_dw_axes_swapped, {"stride": 1, "pad": 1},
     {"dw": "transposed"}),
    ("affine-db-sign", "affine", c.affine_forward, affine_backward_db_sign, None, {"db": "sign_flipped"}),
    ("affine-dw-transposed", "affine", c.affine_forward, affine_backward_dw_transposed, None, {"dw": "transposed"}),
    ("affine-dx-not-reshaped", "affine", c.affine_forward, affine_backward_dx_flat, None, {"dx": "shape_mismatch"}),
    ("max-pool-every-element", "max_pool2d", c.max_pool_forward_naive, max_pool_backward_all, None, {"dx": "argmax_routing"}),
    ("max-pool-averaged", "max_pool2d", c.max_pool_forward_naive, max_pool_backward_average, None, {"dx": "argmax_routing"}),
    ("batchnorm-no-terms", "batchnorm", c.batchnorm_forward, batchnorm_backward_no_terms, {"mode": "train"},
     {"dx": "missing_batchnorm_terms"}),
    ("batchnorm-no-variance-term", "batchnorm", c.batchnorm_forward, batchnorm_backward_no_variance_term, {"mode": "train"},
     {"dx": "missing_batchnorm_terms"}),
    ("batchnorm-torch-momentum", "batchnorm", batchnorm_forward_torch_momentum, c.batchnorm_backward, {"mode": "train"},
     {"running_mean": "wrong", "running_var": "wrong"}),
    ("conv-pad-slice", "conv2d", c.conv_forward_naive, conv_backward_pad_slice, {"stride": 1, "pad": 0},
     {"dx": "shape_mismatch"}),
    ("max-pool-assigned", "max_pool2d", c.max_pool_forward_naive, max_pool_backward_assigned,
     {"pool_height": 3, "pool_width": 3, "stride": 1}, {"dx": "overwrites_overlap"}),
    ("dropout-new-mask", "dropout", c.dropout_forward, dropout_backward_new_mask, {"mode": "train"}, {"dx": "mask_not_reused"}),
    ("dropout-not-inverted", "dropout", dropout_forward_not_inverted, c.dropout_backward, {"mode": "train"},
     {"out": "scaled", "dx": "scaled"}),
    ("dropout-drop-but-keep-scale", "dropout", dropout_forward_drop_but_keep_scale, c.dropout_backward,
     {"mode": "train", "p": 0.8}, {"out": "scaled", "dx": "scaled"}),
    ("softmax-loss-summed", "softmax_loss", softmax_loss_summed, None, None, {"loss": "scaled", "dx": "scaled"}),
    ("svm-loss-dx-sign", "svm_loss", svm_loss_sign, None, None, {"dx": "sign_flipped"}),
    ("relu-inverted-mask", "relu", c.relu_forward, relu_backward_inverted, None, {"dx": "wrong"}),
]
