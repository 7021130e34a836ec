"""Loading: a checked spec → a live ``nn.Module`` class, from exactly the source that
``archlang compile`` writes (:mod:`archlang.backends.pytorch`).

The source is executed in a fresh module registered in ``linecache``, so
``inspect.getsource`` and tracebacks show it. Classes are memoised per spec, network and
parameters while the files read are unchanged.
"""

from __future__ import annotations

import hashlib
import linecache
import os
import sys
import threading
import types
from collections import OrderedDict

from archlang.backends.pytorch import generate, generate_named
from archlang.graph.model import Graph


def compile_source(path_or_text, network=None, **params) -> str:
    from archlang.api import check

    return generate(check(path_or_text, network, **params).graph)


def _module_from_source(source: str, network: str):
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    modname = f"archlang_generated.{network}_{digest}"
    if modname in sys.modules:
        return sys.modules[modname]
    filename = f"<archlang {network} {digest}>"
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    code = compile(source, filename, "exec")
    module = types.ModuleType(modname)
    module.__file__ = filename
    exec(code, module.__dict__)  # noqa: S102 - executes archlang's own generated source
    # published only once complete; if another thread won the race, use its module
    sys.modules.setdefault("archlang_generated", types.ModuleType("archlang_generated"))
    return sys.modules.setdefault(modname, module)


def require_torch() -> None:
    """A clear error, naming the extra to install, when PyTorch is missing."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise ModuleNotFoundError(
            "archlang.load and archlang.load_class build PyTorch modules, and PyTorch is not "
            "installed: pip install 'archlang[torch]' (check, summary, diagram and compile work "
            "without it)", name="torch")


#: load_class's memo: key → (the files read, the class); least recently used first
_CLASSES: OrderedDict[tuple, tuple[list, type]] = OrderedDict()
_MAX_CLASSES = 64
_CLASSES_LOCK = threading.Lock()


def _class_key(path_or_text, network, params) -> tuple:
    spec = os.fspath(path_or_text)
    # relative paths and the imports of a spec given as text depend on the working directory
    return spec, os.getcwd(), network, repr(sorted(params.items()))


def load_class(path_or_text, network=None, **params):
    """The generated network class, from exactly the source ``archlang compile`` writes.

    Classes are memoised in the process: a second call with the same spec, network and
    parameters returns the same class without checking and generating again, as long as
    every file that was read (the spec and its imports) still has the same bytes.
    """
    from archlang.api import check

    require_torch()
    key = _class_key(path_or_text, network, params)
    cls = _memo_hit(key)
    if cls is not None:
        return cls
    with _key_lock(key):  # one build per key: threads asking at once get one class
        cls = _memo_hit(key)
        if cls is not None:
            return cls
        graph = check(path_or_text, network, **params).graph
        module_attribute_clashes(graph)
        source, class_name = generate_named(graph)
        cls = getattr(_module_from_source(source, graph.network), class_name)
        with _CLASSES_LOCK:
            _CLASSES[key] = (graph.deps, cls)
            _CLASSES.move_to_end(key)
            while len(_CLASSES) > _MAX_CLASSES:
                _CLASSES.popitem(last=False)
    return cls


def module_attribute_clashes(graph: Graph) -> None:
    """The checker refuses the attributes of ``torch.nn.Module`` it knows (archlang/names.py,
    kept equal to the tested torch's); the torch installed here may have more. Loading
    compares every layer name with ``dir(torch.nn.Module)`` of this torch: a clash is a
    located E018, never a layer that silently replaces a method."""
    from torch import nn

    from archlang.diagnostics import ArchError, Reporter

    attrs = set(dir(nn.Module))
    rep = Reporter()
    for n in graph.nodes:
        if n.path and n.path[-1] in attrs and n.op != "input":
            rep.error("E018", f"`{n.path[-1]}` cannot name a layer: it is an attribute of "
                      "torch.nn.Module in this torch", n.span, "invalid layer name",
                      help=[f"rename it, e.g. `{n.path[-1]}_`"], chain=n.chain)
    for sc in graph.scopes[1:]:
        if sc.path and sc.path[-1] in attrs:
            rep.error("E018", f"`{sc.path[-1]}` cannot name a layer: it is an attribute of "
                      "torch.nn.Module in this torch", sc.span, "invalid layer name",
                      help=[f"rename it, e.g. `{sc.path[-1]}_`"])
    if rep.failed:
        raise ArchError(rep.diagnostics)


_KEY_LOCKS: dict[tuple, threading.Lock] = {}


def _key_lock(key: tuple) -> threading.Lock:
    with _CLASSES_LOCK:
        if len(_KEY_LOCKS) > 4 * _MAX_CLASSES:
            _KEY_LOCKS.clear()  # locks in use stay referenced by their holders
        return _KEY_LOCKS.setdefault(key, threading.Lock())


def _memo_hit(key: tuple):
    from archlang.program import unchanged

    with _CLASSES_LOCK:
        hit = _CLASSES.get(key)
    if hit is None or not unchanged(hit[0]):
        return None
    with _CLASSES_LOCK:
        if key in _CLASSES:
            _CLASSES.move_to_end(key)
    return hit[1]


def load(path_or_text, network=None, **params):
    """An instance of the generated network (every parameter exists on return)."""
    return load_class(path_or_text, network, **params)()
