"""archlang: a declarative language and compiler for neural-network architectures.

>>> import archlang
>>> result = archlang.check("specs/resnet.arch", network="resnet50")  # doctest: +SKIP
>>> result.params  # doctest: +SKIP
25557032
>>> archlang.check("zoo:resnet50").params  # the zoo ships in the package  # doctest: +SKIP
25557032

``check`` never imports torch; ``load`` and ``load_class`` do (lazily). Ops from other
packages: ``register_op`` and ``use_plugin`` (docs/plugins.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archlang import models
    from archlang.api import CheckResult, check
    from archlang.diagnostics import ArchError, Diagnostic
    from archlang.limits import Limits
    from archlang.models import list_models
    from archlang.ops.registry import register as register_op
    from archlang.plugins import PluginError, use_plugin

__all__ = ["ArchError", "CheckResult", "Diagnostic", "Limits", "PluginError", "check",
           "compile_source", "export_onnx", "list_models", "load", "load_class", "models",
           "register_op", "use_plugin"]
__version__ = "0.1.0"


#: what ``archlang.NAME`` is, imported on first use: ``import archlang`` itself imports
#: nothing, so a command that needs none of it (``archlang check`` replaying an unchanged
#: result, :mod:`archlang.cache`) does not pay for the checker, pydantic or lark
_LAZY = {
    "CheckResult": ("archlang.api", "CheckResult"), "check": ("archlang.api", "check"),
    "ArchError": ("archlang.diagnostics", "ArchError"),
    "Diagnostic": ("archlang.diagnostics", "Diagnostic"), "Limits": ("archlang.limits", "Limits"),
    "register_op": ("archlang.ops.registry", "register"),
    "PluginError": ("archlang.plugins", "PluginError"),
    "use_plugin": ("archlang.plugins", "use_plugin"),
    "models": ("archlang.models", None), "list_models": ("archlang.models", "list_models"),
}


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'archlang' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def compile_source(path_or_text, network=None, *, inference: bool = False, **params) -> str:
    """The generated PyTorch source for a network (what ``archlang compile`` writes;
    ``inference=True``: ``archlang compile --inference``, docs/deploy.md)."""
    from archlang.loader import compile_source as _compile

    return _compile(path_or_text, network, inference=inference, **params)


def load(path_or_text, network=None, *, inference: bool = False, **params):
    """Build the network as a ``torch.nn.Module`` instance from its generated source
    (``inference=True``: the inference build, which loads the same state_dict)."""
    from archlang.loader import load as _load

    return _load(path_or_text, network, inference=inference, **params)


def load_class(path_or_text, network=None, *, inference: bool = False, **params):
    """The generated ``torch.nn.Module`` class (construct it with no arguments)."""
    from archlang.loader import load_class as _load_class

    return _load_class(path_or_text, network, inference=inference, **params)


def export_onnx(path_or_text, path, network=None, *, opset=None, state_dict=None,
                **params) -> list[str]:
    """Export a network to an ONNX file, with a trained ``state_dict``'s weights (needs
    ``archlang[export]``; docs/deploy.md)."""
    from archlang.export import DEFAULT_OPSET
    from archlang.export import export_onnx as _export

    return _export(path_or_text, path, network, opset=opset or DEFAULT_OPSET,
                   state_dict=state_dict, **params)
