"""The network's residuals, Jacobian, loss and gradient as functions of the flat parameter
vector, computed by PyTorch autograd in float64.

This is the torch side of the Levenberg-Marquardt and scipy comparisons: the same rule
(`scratchnet.lm.LevenbergMarquardt`, scipy's TNC / L-BFGS-B / least_squares) is driven once by
scratchnet's analytic Jacobian and once by this one, so any difference is the Jacobian's.

Conventions (as `scratchnet.MLP.residual_jacobian`): residuals r = (output - y).ravel(), sample
major, shape (m*k,); J = dr/dtheta, shape (m*k, P), by ``torch.func.jacrev`` over the flat
vector; theta in ``scratchnet.params.flatten`` order (``dense_0.W`` (fan_in, fan_out), C order,
then ``dense_0.b``, ...). Layers are their torch table entry's functional form (dense:
``torch.nn.functional.linear(x, W.T, b)``, conv2d ``conv2d``, batch norm ``batch_norm`` with the
batch statistics, dropout the mask of step 0 (the step a full-batch run stays at: its objective
is one deterministic function)) followed by the activation modules of
`reference.torch_backend.TorchNetwork` (``nn.Tanh``, ``nn.Sigmoid``, ...);
the loss for `loss_and_grad_flat` is `TorchNetwork.loss` (torch's ``mse_loss`` etc.). The
residual Jacobian exists for any layer list here (autograd), but Levenberg-Marquardt compares it
with scratchnet's, which needs layers that act on each sample separately (not batch norm in
training mode; `scratchnet.Network.residual_jacobian`).

``num_threads`` (default 1) is torch's intra-op thread count during each call, restored
afterwards: one thread keeps reductions in one fixed order from run to run, and for these small
matrices it is also faster (measured 6 ms vs 49 ms per 100 x 16 Jacobian on a loaded 2-core
machine, where torch's thread pool competes with other processes). None leaves torch's setting.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Mapping

import numpy as np

import scratchnet as sn
from reference.torch_backend import TorchNetwork, import_torch


class TorchFlatNetwork:
    """Flat-vector views of a network given by its description (``scratchnet.Network.spec()``)
    on fixed data X (m, *input_shape), y (m, k). Each layer runs as its
    `reference.torch_backend.LAYERS` entry's ``functional`` on canonical-layout slices of theta.
    Everything is computed in float64 whatever the spec's dtype."""

    def __init__(self, network: Mapping[str, Any], X: np.ndarray, y: np.ndarray, num_threads: int | None = 1):
        torch = self.torch = import_torch()
        if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(f"num_threads must be a positive integer or None, got {num_threads!r}")
        self.num_threads = num_threads
        self.spec = {**dict(network), "dtype": "float64"}
        self.network = TorchNetwork(self.spec, torch)
        layers, input_shape = self.network.layers, self.network.input_shape
        #: (canonical name, canonical shape) in flat-vector order
        self.layout: list[tuple[str, tuple[int, ...]]] = list(sn.layers.param_shapes(layers, input_shape).items())
        self._layer_names = sn.layers.layer_param_names(layers)
        self.n_params = sum(int(np.prod(shape)) for _, shape in self.layout)
        X, y = sn.layers.fixed_data(layers, input_shape, X, y)
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y)

    @contextmanager
    def _threads(self):
        if self.num_threads is None:
            yield
            return
        previous = self.torch.get_num_threads()
        self.torch.set_num_threads(self.num_threads)
        try:
            yield
        finally:
            self.torch.set_num_threads(previous)

    def _theta(self, theta: np.ndarray):
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.n_params,):
            raise ValueError(f"theta must be a 1-D vector of length {self.n_params}, got shape {theta.shape}")
        return self.torch.from_numpy(theta.copy())

    def _outputs(self, theta_tensor):
        """Network outputs (m, k) as a differentiable function of the flat tensor."""
        pieces, offset = {}, 0
        for name, shape in self.layout:
            size = int(np.prod(shape))
            pieces[name] = theta_tensor[offset : offset + size].reshape(shape)
            offset += size
        current = self.X
        network = self.network
        for index, (layer, entry, names, activation) in enumerate(
                zip(network.layers, network.entries, self._layer_names, network.activations)):
            draws = {key: self.torch.from_numpy(value)
                     for key, value in layer.draws(network.step, index, tuple(current.shape), np.float64).items()}
            current = entry.functional(self.torch, layer, {slot: pieces[name] for slot, name in names.items()}, current, **draws)
            if activation is not None:
                current = activation(current)
        return current

    def _residual_function(self, theta_tensor):
        return (self._outputs(theta_tensor) - self.y).reshape(-1)

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """r = (output - y).ravel(), shape (m*k,), float64."""
        with self._threads(), self.torch.no_grad():
            return self._residual_function(self._theta(theta)).numpy().copy()

    def residuals_and_jacobian(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(r (m*k,), J (m*k, P)) with J from ``torch.func.jacrev`` (reverse mode, vmapped over
        the m*k output rows)."""
        theta_tensor = self._theta(theta)
        with self._threads():
            jacobian = self.torch.func.jacrev(self._residual_function)(theta_tensor)
            with self.torch.no_grad():
                r = self._residual_function(theta_tensor)
        return r.numpy().copy(), jacobian.detach().numpy().copy()

    def loss_and_grad_flat(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, gradient) of the spec's loss (`TorchNetwork.loss`: reduction, scale, l2) at the
        flat vector, as scipy.optimize wants them: a float and a 1-D float64 array."""
        torch = self.torch
        theta_tensor = self._theta(theta)
        pieces, offset = {}, 0
        for name, shape in self.layout:
            size = int(np.prod(shape))
            pieces[name] = theta_tensor[offset : offset + size].reshape(shape).numpy()
            offset += size
        self.network.load(pieces)
        with self._threads():
            loss = self.network.loss(self.X, self.y)
            grads = torch.autograd.grad(loss, self.network.parameters)
        exported = self.network.export(grads)
        return float(loss.detach()), np.concatenate([exported[name].ravel() for name, _ in self.layout])


def torch_flat_network(net, X: np.ndarray, y: np.ndarray, num_threads: int | None = 1) -> TorchFlatNetwork:
    """`TorchFlatNetwork` for a `scratchnet.MLP` (its spec) on (X, y)."""
    return TorchFlatNetwork(net.spec(), X, y, num_threads)


def jacobian_provider(problem, X: np.ndarray, y: np.ndarray) -> TorchFlatNetwork:
    """The registry's Levenberg-Marquardt provider for torch: autograd's Jacobian
    (`torch.func.jacrev`) of the problem's network on fixed data (float64)."""
    return TorchFlatNetwork(problem.network, X, y)
