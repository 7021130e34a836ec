"""Loading: a checked spec → a live ``nn.Module`` class, from exactly the source that
``archlang compile`` writes (:mod:`archlang.backends.pytorch`).

The source is executed in a fresh namespace, with its lines in ``linecache`` so that
``inspect.getsource`` and tracebacks show it, and published in ``sys.modules`` as
``archlang_generated.<network>_<digest>`` (the ``__module__`` of its classes) so that
``pickle`` (``torch.save`` of a whole model) finds the classes by name. Classes are memoised
per spec, network and parameters while the files read are unchanged (the 64 most recently
used).

A long-running process may load any number of specs, so neither table grows without bound:
the entry in ``sys.modules`` (a :class:`GeneratedModule`) holds the source's classes and
functions only weakly. While anything holds one of them (the memo, a model, a class kept by
the user, a ``torch.compile`` of it) the namespace is alive and the module stays, with its
lines; once all of them are gone, the module leaves ``sys.modules`` and its lines leave
``linecache``. ``copy.deepcopy`` and DDP need neither table; ``pickle`` and
``inspect.getsource`` need both, for live classes only.
"""

from __future__ import annotations

import hashlib
import linecache
import os
import sys
import threading
import types
import weakref
from collections import OrderedDict

from archlang.backends.pytorch import generate, generate_named
from archlang.graph.model import Graph


def compile_source(path_or_text, network=None, *, inference: bool = False, **params) -> str:
    from archlang.api import check

    return generate(check(path_or_text, network, **params).graph, inference=inference)


_PACKAGE = "archlang_generated"


class GeneratedModule(types.ModuleType):
    """``sys.modules``' entry for one generated source: its imports as plain attributes, its
    classes and functions through weak references (so that this entry never keeps them
    alive). It leaves ``sys.modules`` and ``linecache`` when the last of them dies."""

    def __getattr__(self, name: str):
        ref = self.__dict__.get("_archlang_refs", {}).get(name)
        obj = ref() if ref is not None else None
        if obj is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        return obj

    def __dir__(self):
        return sorted(set(self.__dict__) | set(self.__dict__.get("_archlang_refs", ())))

    def _archlang_live(self) -> dict | None:
        """Strong references to every class and function of the source, or None once one
        of them has died (then all of them are going)."""
        objs = {name: ref() for name, ref in self._archlang_refs.items()}
        return None if any(obj is None for obj in objs.values()) else objs

    def _archlang_died(self, _ref) -> None:  # a weakref callback: may run in any thread
        self._archlang_alive -= 1
        if self._archlang_alive == 0:
            _retire(self)


#: guards the generated modules in ``sys.modules`` and their lines in ``linecache``
_MODULES_LOCK = threading.Lock()
#: modules whose objects all died while another call held the lock: swept by the next holder
_RETIRED: list[GeneratedModule] = []


def _retire(module: GeneratedModule) -> None:
    _RETIRED.append(module)
    # a garbage collection can run this in any thread, also in one that holds the lock: never
    # wait for it (the holder sweeps before it lets go)
    if _MODULES_LOCK.acquire(blocking=False):
        try:
            _sweep()
        finally:
            _MODULES_LOCK.release()


def _sweep() -> None:
    """Take retired modules out of ``sys.modules`` and their lines out of ``linecache``, unless
    a newer module of the same source has replaced them there. With the lock held."""
    while _RETIRED:
        module = _RETIRED.pop()
        if sys.modules.get(module.__name__) is module:
            del sys.modules[module.__name__]
        if linecache.cache.get(module.__file__) is module._archlang_lines:
            del linecache.cache[module.__file__]


def _generated(source: str, network: str) -> tuple[GeneratedModule, dict]:
    """The module of ``source`` (a live one if this source was loaded before) and strong
    references to its classes and functions, by name."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    modname = f"{_PACKAGE}.{network}_{digest}"
    with _MODULES_LOCK:
        try:
            module = sys.modules.get(modname)
            if isinstance(module, GeneratedModule):
                objs = module._archlang_live()
                if objs is not None:
                    return module, objs
            filename = f"<archlang {network} {digest}>"
            lines = (len(source), None, source.splitlines(keepends=True), filename)
            linecache.cache[filename] = lines  # before exec: a traceback from it shows lines
            code = compile(source, filename, "exec")
            namespace = {"__name__": modname, "__file__": filename}
            exec(code, namespace)  # noqa: S102 - executes archlang's own generated source
            module = GeneratedModule(modname, namespace.get("__doc__"))
            module.__file__ = filename
            module._archlang_lines = lines
            module._archlang_refs = refs = {}
            objs = {}
            for name, value in namespace.items():
                if isinstance(value, (type, types.FunctionType)) \
                        and getattr(value, "__module__", None) == modname:
                    refs[name] = weakref.ref(value, module._archlang_died)
                    objs[name] = value
                elif name != "__builtins__":
                    module.__dict__.setdefault(name, value)
            module._archlang_alive = len(refs)
            # published only once complete
            sys.modules.setdefault(_PACKAGE, types.ModuleType(_PACKAGE))
            sys.modules[modname] = module
            return module, objs
        finally:
            _sweep()


def _class_from_source(source: str, network: str, class_name: str) -> type:
    return _generated(source, network)[1][class_name]


def _module_from_source(source: str, network: str):
    """The module of ``source`` with its classes held by the module itself, as any module
    does: for callers that take the classes from the module. It stays in ``sys.modules``
    for the life of the process (``load_class`` holds the classes it returns instead)."""
    module, objs = _generated(source, network)
    module.__dict__.update(objs)
    return module


def forget_generated() -> None:
    """Forget every memoised class and take every generated module out of ``sys.modules``
    and ``linecache`` now, live or not (for measuring a first load; a model alive still
    runs, it just cannot be pickled any more)."""
    with _CLASSES_LOCK:
        _CLASSES.clear()
    with _MODULES_LOCK:
        for name, module in list(sys.modules.items()):
            if name.startswith(_PACKAGE + ".") and isinstance(module, GeneratedModule):
                _RETIRED.append(module)
        _sweep()


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


def _class_key(path_or_text, network, params, inference=False) -> tuple:
    spec = os.fspath(path_or_text)
    # relative paths and the imports of a spec given as text depend on the working directory
    return spec, os.getcwd(), network, repr(sorted(params.items())), inference


def load_class(path_or_text, network=None, *, inference: bool = False, **params):
    """The generated network class, from exactly the source ``archlang compile`` writes
    (``inference=True``: ``archlang compile --inference``'s, see archlang/inference.py).

    Classes are memoised in the process: a second call with the same spec, network and
    parameters returns the same class without checking and generating again, as long as
    every file that was read (the spec and its imports) still has the same bytes.
    """
    from archlang.api import check

    require_torch()
    key = _class_key(path_or_text, network, params, inference)
    cls = _memo_hit(key)
    if cls is not None:
        return cls
    with _key_lock(key):  # one build per key: threads asking at once get one class
        cls = _memo_hit(key)
        if cls is not None:
            return cls
        graph = check(path_or_text, network, **params).graph
        module_attribute_clashes(graph)
        source, class_name = generate_named(graph, inference=inference)
        _, objs = _generated(source, graph.network)
        recipe = (_spec_ref(path_or_text), network, dict(params), inference)
        for obj in objs.values():
            if isinstance(obj, type):
                obj._archlang_recipe = recipe
                obj.__reduce_ex__ = _reduce_generated
        cls = objs[class_name]
        with _CLASSES_LOCK:
            _CLASSES[key] = (graph.deps, cls)
            _CLASSES.move_to_end(key)
            while len(_CLASSES) > _MAX_CLASSES:
                _CLASSES.popitem(last=False)
    return cls


def _spec_ref(path_or_text) -> str:
    """How a fresh process finds the spec again: a file's absolute path, ``zoo:NAME``, or
    the spec's text."""
    spec = os.fspath(path_or_text)
    if not spec.startswith("zoo:") and "\n" not in spec and os.path.isfile(spec):
        return os.path.abspath(spec)
    return spec


def _reduce_generated(self, protocol):
    """Pickling (``torch.save`` of a whole model): as ``object.__reduce_ex__`` does, except
    that the class is named by the spec it was generated from (``_generated_instance``),
    since a fresh process has no ``archlang_generated`` module to import."""
    cls = type(self)
    state = self.__getstate__() if hasattr(self, "__getstate__") else self.__dict__
    return (_generated_instance, (cls.__module__, cls.__qualname__, cls._archlang_recipe), state)


def _generated_instance(module: str, name: str, recipe: tuple):
    """An empty instance of a generated class (its state follows): the live class when the
    module is loaded in this process, else the spec is loaded again (``load_class``)."""
    live = sys.modules.get(module)
    cls = getattr(live, name, None) if live is not None else None
    if cls is None:
        spec, network, params, inference = recipe
        load_class(spec, network, inference=inference, **params)
        held = _generated_classes(module)
        if name not in held:
            raise RuntimeError(f"cannot unpickle {name}: its spec ({spec}) no longer generates "
                               "the same source; save a state_dict instead and load it into "
                               "archlang.load(...)")
        cls = held[name]
    return cls.__new__(cls)


def _generated_classes(module: str) -> dict:
    live = sys.modules.get(module)
    if not isinstance(live, GeneratedModule):
        return {}
    return live._archlang_live() or {}


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
        name = graph.local("node", n.id).split(".")[0]  # a list's item: the list's name
        if n.path and name in attrs and not n.is_input:
            rep.error("E018", f"`{name}` cannot name a layer: it is an attribute of "
                      "torch.nn.Module in this torch", n.span, "invalid layer name",
                      help=[f"rename it, e.g. `{name}_`"], chain=n.chain)
    for sc in graph.scopes[1:]:
        name = graph.local("scope", sc.id).split(".")[0]
        if sc.path and name in attrs:
            rep.error("E018", f"`{name}` cannot name a layer: it is an attribute of "
                      "torch.nn.Module in this torch", sc.span, "invalid layer name",
                      help=[f"rename it, e.g. `{name}_`"])
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


def load(path_or_text, network=None, *, inference: bool = False, **params):
    """An instance of the generated network (every parameter exists on return)."""
    return load_class(path_or_text, network, inference=inference, **params)()
