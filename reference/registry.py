"""The backend registry: every backend the runner can build, with what it declares about itself.

A backend declares its name, the optimizer convention it follows (``"torch"``, ``"keras"``, ...),
the distributions whose versions a run records, and the exactness settings it applies (float64
set-up, determinism, threads). The runner pairs backends by these declarations, the convention
table has one column per declared convention, and the environment record lists the packages
and settings of the backends a run used. Nothing else in the project enumerates backends.

Adding a framework is one module (implementing `reference.protocol.Backend`) plus one
`register(BackendInfo(...))` call; code outside the package registers its own the same way::

    from reference import BackendInfo, register
    register(BackendInfo("mine", convention="torch", factory=lambda problem, **_: MyBackend(problem)))
"""
from __future__ import annotations

import importlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

from reference.protocol import Backend, Problem

Factory = Callable[..., Backend]


@dataclass(frozen=True)
class BackendInfo:
    """What a backend declares about itself.

    Attributes:
        name: the name scenarios use in ``run.backends``.
        convention: the optimizer convention it follows; scratchnet can follow any convention
            in `scratchnet.optim.CONVENTIONS` and declares the one it follows by default.
        factory: ``factory(problem) -> Backend`` (called as ``factory(problem, convention=c)``
            when a convention is asked for), or ``"module:attribute"`` imported only when the
            backend is built (frameworks are imported lazily).
        packages: distributions whose installed versions the environment record lists.
        settings: exactness settings it applies (recorded in every run's environment).
        description: one line for ``parity list`` / docs.
        jacobian: optional ``jacobian(problem, X, y)`` (or ``"module:attribute"``) building a
            residual/Jacobian provider on flat parameters for Levenberg-Marquardt: an object with
            ``residuals(theta) -> (N,)`` and ``residuals_and_jacobian(theta) -> ((N,), (N, P))``
            in `scratchnet.params.flatten` order. Backends without one cannot run ``lm``.
    """

    name: str
    convention: str
    factory: Factory | str
    packages: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    jacobian: Callable[..., Any] | str | None = None

    def build(self, problem: Problem, convention: str | None = None) -> Backend:
        factory = _resolve(self.factory)
        return factory(problem) if convention is None else factory(problem, convention=convention)

    def build_jacobian(self, problem: Problem, X, y) -> Any:
        """The Levenberg-Marquardt residual/Jacobian provider (see `jacobian`)."""
        if self.jacobian is None:
            raise ValueError(f"backend {self.name!r} declares no Jacobian provider, so it cannot run 'lm'")
        return _resolve(self.jacobian)(problem, X, y)


def _resolve(target: Callable[..., Any] | str) -> Callable[..., Any]:
    if isinstance(target, str):
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)
    return target


def with_jacobian() -> tuple[str, ...]:
    """Registered backends that declare a Levenberg-Marquardt Jacobian provider."""
    return tuple(name for name, info in _REGISTRY.items() if info.jacobian is not None)


_REGISTRY: dict[str, BackendInfo] = {}


def register(info: BackendInfo, *, replace: bool = False) -> BackendInfo:
    """Add a backend. A name already registered is refused unless ``replace=True``."""
    if not isinstance(info, BackendInfo):
        raise TypeError(f"register() takes a BackendInfo, got {type(info).__name__}")
    if not info.name or "[" in info.name or "]" in info.name:
        raise ValueError(f"backend name {info.name!r}: must be non-empty and must not contain '[' or ']' "
                         "(reserved for convention twins such as 'scratchnet[keras]')")
    if info.name in _REGISTRY and not replace:
        raise ValueError(f"a backend named {info.name!r} is already registered; pass replace=True to replace it")
    _REGISTRY[info.name] = info
    return info


def unregister(name: str) -> None:
    """Remove a registered backend (no error when it is absent)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> BackendInfo:
    """The declaration of backend `name`; an unknown name raises ValueError with the nearest names."""
    from scratchnet._checks import unknown_name

    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("backend", name, tuple(_REGISTRY)) from None


def names() -> tuple[str, ...]:
    """Registered backend names, in registration order."""
    return tuple(_REGISTRY)


def create(name: str, problem: Problem, convention: str | None = None) -> Backend:
    """Build backend `name` for `problem`. `convention` asks a backend that can follow several
    optimizer conventions (scratchnet) to follow that one."""
    return get(name).build(problem, convention)


def twin_name(convention: str) -> str:
    """Display name of scratchnet following another convention, e.g. ``scratchnet[keras]``."""
    return f"scratchnet[{convention}]"


@contextmanager
def temporarily(infos: Iterable[BackendInfo]) -> Iterator[None]:
    """Register `infos` for the duration of a `with` block (a run's user backends)."""
    added = []
    try:
        for info in infos:
            register(info)
            added.append(info.name)
        yield
    finally:
        for name in added:
            unregister(name)
