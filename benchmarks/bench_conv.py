"""Benchmark: a LeNet-sized conv net, forward + backward (loss and every gradient), scratchnet vs
torch on the CPU, batch 64, float32 and float64, as a ratio measured in one run.

LeNet-5 shapes on 1x28x28 inputs: conv 6@5x5 pad 2 ReLU, 2x2 max-pool, conv 16@5x5 ReLU, 2x2
max-pool, flatten (400), dense 120 ReLU, dense 84 ReLU, dense 10 softmax + cross-entropy
(61.7k parameters). torch runs the same network built by the harness's torch table
(`reference.torch_backend.TorchNetwork`: nn.Conv2d, nn.MaxPool2d, nn.Linear, ...) from the same
weights, `torch.autograd.grad` of the same loss. The two take turns in blocks of calls (medians),
with the same thread count for NumPy's BLAS and torch. Also printed: where scratchnet's time goes,
layer by layer (forward and backward of each layer timed alone).

    python benchmarks/bench_conv.py [--repeats 200] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

BATCH = 64
LENET = [
    {"type": "conv2d", "filters": 6, "kernel_size": 5, "padding": 2, "activation": "relu"},
    {"type": "max_pool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 16, "kernel_size": 5, "activation": "relu"},
    {"type": "max_pool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 120, "activation": "relu"},
    {"type": "dense", "units": 84, "activation": "relu"},
    {"type": "dense", "units": 10, "activation": "softmax"},
]


def interleaved_medians(functions: list, repeats: int, block: int = 20) -> list[float]:
    """Median seconds per call of each function, taking turns in blocks of `block` calls (the
    first 3 of each block discarded as warm-up), so drifting load affects all alike."""
    times = [[] for _ in functions]
    for _ in range(max(1, repeats // block)):
        for index, function in enumerate(functions):
            for call in range(block + 3):
                start = time.perf_counter()
                function()
                if call >= 3:
                    times[index].append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def problem(dtype: str):
    import scratchnet as sn

    net = sn.Network(LENET, input_shape=[1, 28, 28], loss="categorical_cross_entropy", reduction="batch_mean",
                     dtype=dtype, init="he_uniform", seed=0)
    rng = np.random.default_rng(0)
    X = net.check_inputs(rng.random((BATCH, 1, 28, 28)))
    y = net.check_targets(rng.integers(0, 10, BATCH), BATCH)
    return net, X, y


def scratchnet_pass(net, X, y):
    return lambda: net.loss_and_grads_checked(X, y, net.params)


def torch_pass(net, X, y):
    import torch

    from reference.torch_backend import TorchNetwork

    model = TorchNetwork(net.spec(), torch)
    model.load(net.params)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)

    def run():
        loss = model.loss(inputs, targets)
        return torch.autograd.grad(loss, model.parameters)

    return run


def layer_profile(net, X, repeats: int = 20) -> list[tuple[str, float, float]]:
    """(layer, forward ms, backward ms) of each scratchnet layer on its own input (medians)."""
    zs, outs = net.forward(X)
    rows = []
    for index, layer in enumerate(net.layers):
        inputs = X if index == 0 else outs[index - 1]
        own = {slot: net.params[name] for slot, name in net.param_names(index).items()}
        grad = np.ones_like(outs[index])
        forward, backward = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            layer.forward(own, inputs)
            forward.append(time.perf_counter() - start)
            start = time.perf_counter()
            layer.backward(own, inputs, zs[index], outs[index], grad, need_input_grad=index > 0)
            backward.append(time.perf_counter() - start)
        rows.append((f"{index} {layer.kind}", 1e3 * float(np.median(forward)), 1e3 * float(np.median(backward))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:  # NumPy's BLAS keeps its own default
        pass
    print(f"LeNet-5 on 1x28x28, batch {BATCH}, forward + backward (loss and all gradients); {args.threads} threads; "
          f"torch {torch.__version__}, numpy {np.__version__}")
    print(f"{'dtype':<8} {'scratchnet ms':>14} {'torch ms':>10} {'scratchnet / torch':>19}")
    for dtype in ("float32", "float64"):
        net, X, y = problem(dtype)
        scratch, reference = interleaved_medians([scratchnet_pass(net, X, y), torch_pass(net, X, y)], args.repeats)
        print(f"{dtype:<8} {1e3 * scratch:>14.2f} {1e3 * reference:>10.2f} {scratch / reference:>18.2f}x")
    net, X, _ = problem("float32")
    print("\nscratchnet float32, per layer (ms): forward, backward")
    for name, forward, backward in layer_profile(net, X):
        print(f"  {name:<16} {forward:7.2f} {backward:7.2f}")


if __name__ == "__main__":
    main()
