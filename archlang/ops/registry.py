"""The op registry: every op, by name and alias.

The built-in ops are discovered: every :class:`~archlang.ops.base.Op` subclass with a
``name`` defined in a module of this package. Ops from other packages come in two ways,
never from a spec (docs/plugins.md):

* entry points of the group ``archlang.ops`` of installed distributions, each naming one
  ``Op`` subclass under the op's name. They are loaded once per process, when the registry
  is first asked for a name it does not know or for the list of every op
  (:func:`archlang.plugins.load_installed`);
* :func:`register`, called by a module the user names (``archlang --plugin MODULE``,
  :func:`archlang.use_plugin`).

A built-in op's name is never given to another op: an installed package cannot change
what a spec that uses only built-in ops means.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading

import archlang.ops as _package
from archlang.ops.base import Op

OPS: dict[str, Op] = {}
ALIASES: dict[str, str] = {}
#: Where each op that is not built in comes from ("distribution `x 1.0`", "module `m`").
ORIGINS: dict[str, str] = {}

_LOCK = threading.Lock()
#: Calls of :func:`register` so far (a plugin module that registers nothing is a mistake).
register_calls = 0


def register(cls: type[Op]) -> type[Op]:
    """Add an op class to the registry (returns it, so it can decorate the class).

    Registering the same class again does nothing. A name or alias that another op already
    has is a ``ValueError``; a class that is not an ``Op`` with a ``name`` a ``TypeError``.
    """
    global register_calls
    register_calls += 1
    return _register(cls, f"module `{getattr(cls, '__module__', '?')}`")


def _register(cls: type[Op], origin: str | None) -> type[Op]:
    if not (isinstance(cls, type) and issubclass(cls, Op)):
        raise TypeError(f"{cls!r} is not a subclass of archlang.ops.base.Op")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"op class {cls.__qualname__} has no `name` that a spec can call "
                        f"(got {name!r})")
    with _LOCK:
        held = OPS.get(name)
        if held is not None and type(held) is cls:
            return cls
        for n in (name, *cls.aliases):
            owner = ALIASES.get(n, n if n in OPS else None)
            if owner is not None:
                by = f"op from {ORIGINS[owner]}" if owner in ORIGINS else "built-in op"
                what = "" if owner == n else f" (an alias of `{owner}`)"
                raise ValueError(f"op name `{n}` is already taken by the {by} `{owner}`{what}")
        if not cls.stateful and not cls.source and cls.torch_call is Op.torch_call:
            # the generated forward calls a stateless op functionally unless it is a named
            # layer: without torch_call it would have nothing to write
            raise TypeError(f"op class {cls.__qualname__} is stateless and has no "
                            "`torch_call`: give it one (or set `stateful = True` to always "
                            "emit its module)")
        op = cls()
        OPS[name] = op
        for alias in cls.aliases:
            ALIASES[alias] = name
        if origin is not None:
            ORIGINS[name] = origin
    return cls


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(_package.__path__), key=lambda m: m.name):
        if info.name in ("base", "registry"):
            continue
        module = importlib.import_module(f"{_package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Op) and \
                    value.__module__ == module.__name__ and "name" in vars(value):
                _register(value, None)


_discover()


def _installed() -> None:
    """Load the installed plugins' ops, once (see :func:`archlang.plugins.load_installed`)."""
    from archlang import plugins

    plugins.load_installed()


def lookup(name: str, installed: bool = True) -> Op | None:
    """The op a spec calls by this name or alias (never the input op).

    A name that no op has loads the installed plugins first (once per process), unless
    ``installed`` is false: a spec's own blocks come before installed plugins' ops, so the
    passes ask for those only for a name nothing else defines (a check of a spec that names
    no plugin op never pays for scanning the installed packages).
    """
    op = OPS.get(ALIASES.get(name, name))
    if op is None and installed:
        _installed()
        op = OPS.get(ALIASES.get(name, name))
    return None if op is None or op.source else op


def layer_ops() -> list[Op]:
    """Every op a spec can call, the installed plugins' included."""
    _installed()
    return [op for op in OPS.values() if not op.source]


def input_op() -> Op:
    """The op of the network's inputs."""
    return next(op for op in OPS.values() if op.source)


def construct_op(construct: str) -> Op:
    """The op a language construct makes (``concat { }`` → concat)."""
    return next(op for op in OPS.values() if op.construct == construct)


def all_names() -> list[str]:
    """Every name and alias a spec can call, the installed plugins' included."""
    return sorted([*(op.name for op in layer_ops()), *ALIASES])
