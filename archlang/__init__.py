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

from archlang.api import CheckResult, check
from archlang.diagnostics import ArchError, Diagnostic
from archlang.limits import Limits
from archlang.ops.registry import register as register_op
from archlang.plugins import PluginError, use_plugin

__all__ = ["ArchError", "CheckResult", "Diagnostic", "Limits", "PluginError", "check",
           "compile_source", "export_onnx", "list_models", "load", "load_class", "models",
           "register_op", "use_plugin"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # the zoo's module is imported when first asked for: checking a spec file never needs it
    if name in ("models", "list_models"):
        import importlib

        models = importlib.import_module("archlang.models")
        return models if name == "models" else models.list_models
    raise AttributeError(f"module 'archlang' has no attribute {name!r}")


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
    from archlang.export import DEFAULT_OPSET, export_onnx as _export

    return _export(path_or_text, path, network, opset=opset or DEFAULT_OPSET,
                   state_dict=state_dict, **params)
