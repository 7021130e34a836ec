"""The op registry: every op, by name and alias.

The built-in ops are discovered: every :class:`~archlang.ops.base.Op` subclass with a
``name`` defined in a module of this package. Ops from other packages come in through
:func:`register` (see docs/plugins.md).
"""

from __future__ import annotations

import importlib
import pkgutil

import archlang.ops as _package
from archlang.ops.base import Op

OPS: dict[str, Op] = {}
ALIASES: dict[str, str] = {}


def register(cls: type[Op]) -> type[Op]:
    """Add an op class to the registry (returns it, so it can decorate the class)."""
    op = cls()
    taken = {*OPS, *ALIASES}
    for name in (op.name, *cls.aliases):
        if name in taken:
            raise ValueError(f"op name `{name}` is already taken")
    OPS[op.name] = op
    for alias in cls.aliases:
        ALIASES[alias] = op.name
    return cls


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(_package.__path__), key=lambda m: m.name):
        if info.name in ("base", "registry"):
            continue
        module = importlib.import_module(f"{_package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Op) and \
                    value.__module__ == module.__name__ and "name" in vars(value):
                register(value)


_discover()


def lookup(name: str) -> Op | None:
    """The op a spec calls by this name or alias (never the input op)."""
    op = OPS.get(ALIASES.get(name, name))
    return None if op is None or op.source else op


def layer_ops() -> list[Op]:
    """Every op a spec can call."""
    return [op for op in OPS.values() if not op.source]


def input_op() -> Op:
    """The op of the network's inputs."""
    return next(op for op in OPS.values() if op.source)


def construct_op(construct: str) -> Op:
    """The op a language construct makes (``concat { }`` → concat)."""
    return next(op for op in OPS.values() if op.construct == construct)


def all_names() -> list[str]:
    return sorted([*(op.name for op in layer_ops()), *ALIASES])
