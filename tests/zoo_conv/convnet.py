"""A small convolutional network written the way cs231n's three-layer ConvNet is: conv - relu -
2x2 max pool - affine - softmax, composed from cs231n-style layer functions
(tests/zoo_layers/correct.py), with parameters W1 (F, C, HH, WW), b1 (F,), W2 (D, M), b2 (M,).

`make_loss_and_grads(**layers)` swaps in broken layer functions; each zoo entry below is
(name, grad_fn, {array: the kind the doctor must name}, the culprit arrays)."""
import numpy as np

from tests.zoo_layers import broken
from tests.zoo_layers import correct as c

LAYERS = [{"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": 1, "activation": "relu"},
          {"type": "max_pool2d", "pool_size": 2}, {"type": "flatten"},
          {"type": "dense", "units": 10, "activation": "softmax"}]
#: the network description the doctor takes (a scenario spells the loss in its own [loss] table)
NETWORK = {"input_shape": [1, 8, 8], "layers": LAYERS, "loss": "categorical_cross_entropy", "reduction": "batch_mean"}
CONV_PARAM = {"stride": 1, "pad": 1}
POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}


def make_loss_and_grads(conv_forward=c.conv_forward_naive, conv_backward=c.conv_backward_naive,
                        pool_backward=c.max_pool_backward_naive, affine_backward=c.affine_backward,
                        relu_backward=c.relu_backward, loss=c.softmax_loss):
    def loss_and_grads(params, X, y):
        conv, conv_cache = conv_forward(X, params["W1"], params["b1"], CONV_PARAM)
        relu, relu_cache = c.relu_forward(conv)
        pool, pool_cache = c.max_pool_forward_naive(relu, POOL_PARAM)
        scores, affine_cache = c.affine_forward(pool, params["W2"], params["b2"])
        value, dscores = loss(scores, y.argmax(axis=1))
        dpool, dW2, db2 = affine_backward(dscores, affine_cache)
        drelu = pool_backward(dpool, pool_cache)
        dconv = relu_backward(drelu, relu_cache)
        _, dW1, db1 = conv_backward(dconv, conv_cache)
        return value, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    return loss_and_grads


MAPPING = {"W1": "conv2d_0.K", "b1": "conv2d_0.b", "W2": "dense_3.W", "b2": "dense_3.b"}

ZOO = [
    ("correct", make_loss_and_grads(), {}, None),
    ("conv backward flips the kernel", make_loss_and_grads(conv_backward=broken.conv_backward_flipped),
     {"W1": "flipped_kernel"}, ["W1"]),
    ("pool gradient to every window element", make_loss_and_grads(pool_backward=broken.max_pool_backward_all),
     {"W1": "wrong", "b1": "wrong"}, ["W1", "b1"]),
    ("affine db with the wrong sign", make_loss_and_grads(affine_backward=broken.affine_backward_db_sign),
     {"b2": "sign_flipped"}, ["b2"]),
    ("softmax loss summed over the batch", make_loss_and_grads(loss=broken.softmax_loss_summed),
     {"W1": "scaled", "b1": "scaled", "W2": "scaled", "b2": "scaled"}, ["W2", "b2"]),
]
