"""`check_layer_file`: the layer doctor (`check_layer`) on the functions of a .py file, as
``parity doctor FILE --layer ...`` calls it.

cs231n's function names are recognised by themselves (`CS231N_NAMES`), so checking a whole
assignment file is one call::

    check_layer_file("cs231n/layers.py")                     # every known pair the file defines
    check_layer_file("cs231n/layers.py", layer="conv2d")     # conv_forward_naive/_backward_naive, ...
    check_layer_file("layers.py", forward="my_conv", backward="my_conv_back", layer="conv2d")

A named forward function without a named backward gets the name with ``forward`` replaced by
``backward`` (``conv_forward_fast`` -> ``conv_backward_fast``). The file is imported with its
folder on ``sys.path`` (so ``from cs231n.im2col import *`` style imports next to it work).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from comparisons.doctor.files import _import_user_file
from comparisons.doctor.layers import LAYERS, LayerCheckResult, check_layer, layer_kind
from comparisons.doctor.spec import DoctorInputError

#: layer kind -> the (forward, backward) function names cs231n's assignments use for it
CS231N_NAMES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "affine": (("affine_forward", "affine_backward"),),
    "relu": (("relu_forward", "relu_backward"),),
    "conv2d": tuple((f"conv_forward_{variant}", f"conv_backward_{variant}")
                    for variant in ("naive", "fast", "im2col", "strides")),
    "max_pool2d": tuple((f"max_pool_forward_{variant}", f"max_pool_backward_{variant}")
                        for variant in ("naive", "fast", "reshape", "im2col")),
    "batchnorm": (("batchnorm_forward", "batchnorm_backward"), ("batchnorm_forward", "batchnorm_backward_alt")),
    "spatial_batchnorm": (("spatial_batchnorm_forward", "spatial_batchnorm_backward"),),
    "dropout": (("dropout_forward", "dropout_backward"),),
    "softmax_loss": (("softmax_loss", None),),
    "svm_loss": (("svm_loss", None),),
}


@dataclass
class LayerFileCheck:
    """One (forward, backward) pair of the file, checked as `layer`."""

    layer: str
    forward: str
    backward: str | None
    result: LayerCheckResult

    @property
    def ok(self) -> bool:
        return self.result.ok

    def to_dict(self) -> dict[str, Any]:
        return {"forward": self.forward, "backward": self.backward, **self.result.to_dict()}

    def __str__(self) -> str:
        pair = self.forward if self.backward is None else f"{self.forward} / {self.backward}"
        return f"{pair}\n{self.result}"


def check_layer_file(path: str | Path, layer: str | None = None, forward: str | None = None,
                     backward: str | None = None, params: Mapping[str, Any] | None = None, style: str = "cs231n",
                     inputs: Sequence[str] | None = None, options: str | None = "dict", cache: bool = True,
                     trials: int = 3, seed: int = 0) -> list[LayerFileCheck]:
    """Check the layer functions of the Python file `path` (see the module docstring for how
    the pairs are chosen); the other arguments are `check_layer`'s. Raises `DoctorInputError`
    when the file cannot be imported, a named function is missing, or no pair is found."""
    path = Path(path)
    if layer is not None:
        layer_kind(layer)
    module, failure = _import_user_file(path)
    if failure is not None:
        raise DoctorInputError(str(failure))
    functions = {name: value for name, value in vars(module).items() if inspect.isfunction(value)}
    pairs = _pairs(path, functions, layer, forward, backward)
    return [LayerFileCheck(kind, fwd, bwd, check_layer(kind, functions[fwd], None if bwd is None else functions[bwd],
                                                       params=params, style=style, inputs=inputs, options=options,
                                                       cache=cache, trials=trials, seed=seed))
            for kind, fwd, bwd in pairs]


def _pairs(path: Path, functions: Mapping[str, Any], layer: str | None, forward: str | None,
           backward: str | None) -> list[tuple[str, str, str | None]]:
    """(layer, forward, backward) triples to check."""
    defined = ", ".join(sorted(functions)) or "none"
    if forward is None:
        if backward is not None:
            raise DoctorInputError("a backward function needs its forward one: name both (--forward and --backward)")
        kinds = [layer] if layer is not None else list(CS231N_NAMES)
        found = [(kind, fwd, bwd) for kind in kinds for fwd, bwd in CS231N_NAMES[kind]
                 if fwd in functions and (bwd is None or bwd in functions)]
        if not found:
            wanted = "; ".join(f"{fwd}/{bwd}" if bwd else fwd for kind in kinds for fwd, bwd in CS231N_NAMES[kind])
            raise DoctorInputError(f"{path} defines none of the cs231n layer functions ({wanted}); it defines: "
                                   f"{defined}. Name yours: --layer KIND --forward NAME [--backward NAME]")
        return found
    if forward not in functions:
        raise DoctorInputError(f"{path} defines no function {forward!r} (it defines: {defined})")
    if layer is None:
        kinds = [kind for kind, names in CS231N_NAMES.items() if any(forward == fwd for fwd, _ in names)]
        if not kinds:
            raise DoctorInputError(f"which layer is {forward!r}? Name it with --layer (one of {', '.join(LAYERS)})")
        layer = kinds[0]
    if layer_kind(layer).loss:
        if backward is not None:
            raise DoctorInputError(f"{layer} returns (loss, dx) from one function: give no backward function")
        return [(layer, forward, None)]
    if backward is None:
        backward = forward.replace("forward", "backward")
        if backward == forward or backward not in functions:
            raise DoctorInputError(f"{path} has no backward function for {forward!r} (looked for {backward!r}); "
                                   "name it with --backward")
    elif backward not in functions:
        raise DoctorInputError(f"{path} defines no function {backward!r} (it defines: {defined})")
    return [(layer, forward, backward)]
