"""Ops from other packages: installed plugins (entry points) and explicit plugin modules.

A spec never loads code. Ops come from outside archlang in two ways only (docs/plugins.md):

* **Installed**: a distribution declares entry points in the group ``archlang.ops``, one per
  op, each named after the op and naming its :class:`~archlang.ops.base.Op` subclass::

      [project.entry-points."archlang.ops"]
      pixel_shuffle = "archlang_vision_ops.ops:PixelShuffle"

  :func:`load_installed` loads them all, once per process; the registry calls it on the
  first name it does not know and before it lists every op, so ``import archlang`` never
  scans the installed distributions (~2.6 ms inside a check with 62 of them,
  docs/plugins.md). A broken plugin is a :class:`PluginWarning`, and that plugin is
  skipped: it was installed, not asked for, and it must not stop every command on every
  spec; a spec that uses its op gets the usual E010 (unknown layer).
* **Explicit**: ``archlang <command> --plugin MODULE`` or :func:`use_plugin` imports a
  module that calls :func:`archlang.register_op` for each of its ops. The user asked for
  it, so any failure is a :class:`PluginError`.

>>> import archlang
>>> archlang.use_plugin("archlang_vision_ops.plugin")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import sys
import threading
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

from archlang.ops import registry
from archlang.ops.base import Op

#: The entry-point group that installed plugins declare their ops in.
GROUP = "archlang.ops"


class OracleExample(NamedTuple):
    """One case for archlang's op oracle (``Op.oracle_examples``; tests/test_ops_oracle.py).

    The oracle checks the spec ``network n { input <name>: [<shape>] ...; <call>; output y }``
    against ``reference()``, a ``torch.nn.Module`` built with torch alone (never through
    archlang) taking the inputs in order: when archlang accepts, the output shape (batch 2,
    train and eval mode), parameters, buffers, MACs and, with the reference's weights,
    the outputs agree; when archlang rejects, building or running the reference must raise.
    """

    inputs: list[tuple[str, tuple[int, ...]]]  # [("x", (8, 3, 5))]: name, shape without batch
    call: str  # the statement calling the op: "pixel_shuffle(2)"
    reference: Callable[[], Any]  # builds the same layer in plain torch


class PluginError(Exception):
    """An explicitly requested plugin module cannot be used (names the module)."""


class PluginWarning(UserWarning):
    """An installed plugin was skipped (names the plugin and its distribution)."""


# "no" → "loading" (by the thread holding _LOCK; a plugin that asks the registry for a name
# while it is imported must not load again) → "done".
_state = "no"
_LOCK = threading.RLock()


def load_installed() -> None:
    """Register the op of every entry point in the group ``archlang.ops``, once per process.

    Safe to call from several threads: the first loads, the others wait for it. Each
    broken entry point (it fails to import, names no ``Op`` subclass, is not named after
    its op, or its op's name is taken) is a :class:`PluginWarning` and is skipped.
    """
    global _state
    if _state == "done":
        return
    with _LOCK:
        if _state != "no":  # done by another thread, or being done by this one
            return
        _state = "loading"
        try:
            from importlib.metadata import entry_points

            for ep in sorted(entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
                problem = _load(ep)
                if problem:
                    warnings.warn(f"{_describe(ep)} is skipped: {problem}", PluginWarning,
                                  stacklevel=2)
        finally:
            _state = "done"


def _describe(ep) -> str:
    dist = getattr(ep, "dist", None)
    where = f" from distribution `{dist.name} {dist.version}`" if dist is not None else ""
    return f"plugin `{ep.name}` ({ep.value}){where}"


def _load(ep) -> str:
    """Register one entry point's op; what is wrong with it, or ``""``."""
    try:
        cls = ep.load()
    except Exception as exc:  # noqa: BLE001 - a plugin may fail in any way; it is skipped
        return f"importing it failed: {type(exc).__name__}: {exc}"
    if not (isinstance(cls, type) and issubclass(cls, Op)):
        return f"it names {_kind(cls)}, not an archlang Op subclass"
    name = getattr(cls, "name", None)
    if name != ep.name:
        return (f"its op is named {f'`{name}`' if isinstance(name, str) else 'nothing'}; an "
                "entry point must have the name of its op")
    dist = getattr(ep, "dist", None)
    origin = f"distribution `{dist.name} {dist.version}`" if dist is not None else \
        f"entry point `{ep.value}`"
    try:
        registry._register(cls, origin)
    except (TypeError, ValueError) as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - constructing the op is the plugin's code
        return f"constructing its op failed: {type(exc).__name__}: {exc}"
    return ""


def _kind(value) -> str:
    if isinstance(value, ModuleType):
        return f"module `{value.__name__}`"
    if isinstance(value, type):
        return f"class `{value.__module__}.{value.__qualname__}`"
    return f"a value of type `{type(value).__name__}`"


def use_plugin(module: str) -> ModuleType:
    """Import the plugin module ``module`` (a dotted name), which registers its ops with
    :func:`archlang.register_op` when imported; returns the module.

    The installed plugins are loaded first, so that a name clash is always this module's
    error. Importing a module twice registers nothing twice. Raises :class:`PluginError`
    when the module cannot be imported, fails while it is imported (a clash included), or
    is imported now and registers no op.
    """
    if not isinstance(module, str) or not all(p.isidentifier() for p in module.split(".")):
        raise PluginError(f"`{module}` is not a module name (a plugin is given by its dotted "
                          "module name, never by a file path)")
    load_installed()
    fresh = module not in sys.modules
    before = registry.register_calls
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
            raise PluginError(f"no module named `{module}`; install the package that "
                              "provides it, or add its directory to PYTHONPATH") from None
        raise PluginError(f"plugin module `{module}` failed to import: "
                          f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # the plugin's own code may raise anything
        raise PluginError(f"plugin module `{module}` failed to import: "
                          f"{type(exc).__name__}: {exc}") from exc
    if fresh and registry.register_calls == before:
        raise PluginError(f"module `{module}` registered no op; a plugin module calls "
                          "archlang.register_op(...) for each op when it is imported")
    return mod


__all__ = ["GROUP", "OracleExample", "PluginError", "PluginWarning", "load_installed", "use_plugin"]
