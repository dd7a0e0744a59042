"""`sn.fit`: learns XOR, is deterministic, records the loss before each update."""
from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn

XOR = sn.data.xor()


def xor_net(seed: int = 0) -> sn.MLP:
    return sn.MLP([2, 4, 1], ["tanh", "sigmoid"], loss="binary_cross_entropy", seed=seed)


@pytest.mark.parametrize("optimizer, batch_size", [
    (lambda: sn.optim.Adam(lr=0.1), None),
    (lambda: sn.optim.SGD(lr=0.5, momentum=0.9), 2),
])
def test_fit_learns_xor(optimizer, batch_size):
    net = xor_net()
    history = sn.fit(net, XOR.X, XOR.y, optimizer(), steps=300, batch_size=batch_size)
    assert history.losses.shape == (300,)
    assert history.losses[-10:].mean() < 0.05 * history.losses[0]
    np.testing.assert_array_equal(net.predict(XOR.X).round(), XOR.y)


def test_fit_is_deterministic():
    runs = []
    for _ in range(2):
        net = xor_net(seed=3)
        history = sn.fit(net, XOR.X, XOR.y, sn.optim.Adam(lr=0.05), steps=40, batch_size=3, seed=11)
        runs.append((history.losses, net.params))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for name in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][name], runs[1][1][name])
    other = sn.fit(xor_net(seed=3), XOR.X, XOR.y, sn.optim.Adam(lr=0.05), steps=40, batch_size=3, seed=12)
    assert not np.array_equal(other.losses, runs[0][0])  # the schedule seed matters


def test_fit_records_the_loss_before_each_update_and_calls_back():
    net = xor_net()
    initial = net.loss_value(XOR.X, XOR.y)
    seen = []
    history = sn.fit(net, XOR.X, XOR.y, sn.optim.SGD(lr=0.1), steps=3, shuffle=False,
                     callback=lambda step, loss, grads: seen.append((step, loss, sorted(grads))))
    assert history.losses[0] == initial
    assert [(step, loss) for step, loss, _ in seen] == list(enumerate(history.losses))
    assert seen[0][2] == sorted(net.params)


def test_fit_follows_the_batch_schedule():
    """Each step's loss is the loss of its scheduled batch at the weights before the update."""
    net, replay = xor_net(), xor_net()
    optimizer, replay_optimizer = sn.optim.SGD(lr=0.3), sn.optim.SGD(lr=0.3)
    history = sn.fit(net, XOR.X, XOR.y, optimizer, steps=5, batch_size=3, seed=4)
    for step, indices in enumerate(sn.data.batch_schedule(4, 3, 5, seed=4)):
        loss, grads = replay.loss_and_grads(XOR.X[indices], XOR.y[indices])
        assert history.losses[step] == loss
        replay_optimizer.step(replay.params, grads)
