"""The network's residuals, Jacobian, loss and gradient as functions of the flat parameter
vector, computed by PyTorch autograd in float64.

This is the torch side of the Levenberg-Marquardt and scipy comparisons: the same rule
(`scratchnet.lm.LevenbergMarquardt`, scipy's TNC / L-BFGS-B / least_squares) is driven once by
scratchnet's analytic Jacobian and once by this one, so any difference is the Jacobian's.

Conventions (as `scratchnet.MLP.residual_jacobian`): residuals r = (output - y).ravel(), sample
major, shape (m*k,); J = dr/dtheta, shape (m*k, P), by ``torch.func.jacrev`` over the flat
vector; theta in ``scratchnet.params.flatten`` order (``dense_0.W`` (fan_in, fan_out), C order,
then ``dense_0.b``, ...). Layers are ``torch.nn.functional.linear(x, W.T, b)`` followed by the
activation modules of `reference.torch_backend.TorchNetwork` (``nn.Tanh``, ``nn.Sigmoid``, ...);
the loss for `loss_and_grad_flat` is `TorchNetwork.loss` (torch's ``mse_loss`` etc.).

``num_threads`` (default 1) is torch's intra-op thread count during each call, restored
afterwards: one thread keeps reductions in one fixed order from run to run, and for these small
matrices it is also faster (measured 6 ms vs 49 ms per 100 x 16 Jacobian on a loaded 2-core
machine, where torch's thread pool competes with other processes). None leaves torch's setting.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Mapping

import numpy as np

from reference.torch_backend import TorchNetwork, import_torch


class TorchFlatNetwork:
    """Flat-vector views of a network given by its spec (``scratchnet.MLP.spec()``) on fixed
    data X (m, fan_in), y (m, k). Everything is computed in float64 whatever the spec's dtype."""

    def __init__(self, network: Mapping[str, Any], X: np.ndarray, y: np.ndarray, num_threads: int | None = 1):
        torch = self.torch = import_torch()
        if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(f"num_threads must be a positive integer or None, got {num_threads!r}")
        self.num_threads = num_threads
        self.spec = {**dict(network), "dtype": "float64"}
        self.network = TorchNetwork(self.spec, torch)
        sizes, bias = self.spec["sizes"], bool(self.spec["bias"])
        self.layout: list[tuple[str, tuple[int, ...]]] = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.layout.append((f"dense_{index}.W", (fan_in, fan_out)))
            if bias:
                self.layout.append((f"dense_{index}.b", (fan_out,)))
        self.n_params = sum(int(np.prod(shape)) for _, shape in self.layout)
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != sizes[0] or y.shape != (X.shape[0], sizes[-1]):
            raise ValueError(f"need X ({X.shape[0] if X.ndim else '?'}, {sizes[0]}) and y (m, {sizes[-1]}), got {X.shape} and {y.shape}")
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
        F = self.torch.nn.functional
        pieces, offset = {}, 0
        for name, shape in self.layout:
            size = int(np.prod(shape))
            pieces[name] = theta_tensor[offset : offset + size].reshape(shape)
            offset += size
        current = self.X
        n_layers = len(self.spec["sizes"]) - 1
        for index in range(n_layers):
            current = F.linear(current, pieces[f"dense_{index}.W"].T, pieces.get(f"dense_{index}.b"))
            activation = self.network.hidden[index] if index < n_layers - 1 else self.network.last
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
