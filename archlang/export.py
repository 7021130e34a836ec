"""ONNX export: a network of a spec → an ``.onnx`` file whose inputs, outputs and dynamic
axes are the spec's.

The module is the one :func:`archlang.load` builds, in eval mode (training outputs are not
exported). The example input the exporter traces with has the smallest size each symbolic
input dimension admits (``Constraint.smallest``); every dimension that is symbolic in the spec
(``input x: [3, H, W]``) becomes a named dynamic axis, and the batch is always dynamic
(``batch``).

Export goes through ``torch.onnx.export(..., dynamo=True)``, the exporter PyTorch maintains
(the default since 2.9; the TorchScript-based one is deprecated). It needs ``onnx`` and
``onnxscript`` (``pip install 'archlang[export]'``) and nothing from the network: it runs
offline. Dynamic axes are given to it by name (``{0: "batch", 2: "H"}``), which it treats
as ``Dim.DYNAMIC`` and writes as those names into the graph, so a spec's size constraints
(``H % 32 == 0``) never make the export fail on a guard.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from archlang.analysis import dims as D

#: ONNX opset written by default: the one the dynamo exporter targets natively in torch
#: 2.14. Newer ones work; older ones are converted afterwards, which fails for some graphs
#: (then export raises rather than write another opset than asked for).
DEFAULT_OPSET = 18
BATCH = "batch"


class ExportError(RuntimeError):
    """The export cannot run: a missing package, or a network it cannot express."""


def require_export_packages() -> None:
    missing = [name for name in ("torch", "onnx", "onnxscript")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"ONNX export needs {', '.join(missing)}, which "
                          f"{'is' if len(missing) == 1 else 'are'} not installed: "
                          "pip install 'archlang[export]'")


def example_shapes(graph) -> dict[str, tuple[tuple[int, ...], dict[int, str]]]:
    """Per input: a concrete shape (batch 1, symbolic sizes at their smallest valid value)
    and its dynamic axes by position (the batch and every symbolic dimension)."""
    env = {name: c.smallest() or c.lower for name, c in graph.constraints.items()}
    out = {}
    for name, nid in graph.inputs.items():
        shape = graph.nodes[nid].shape
        concrete, axes = [1], {0: BATCH}
        for k, d in enumerate(shape, start=1):
            if isinstance(d, int):
                concrete.append(d)
            else:
                concrete.append(int(D.evaluate(d, env)))
                axes[k] = str(d) if str(d).isidentifier() else f"{name}_dim{k}"
        out[name] = (tuple(concrete), axes)
    return out


def export_onnx(path_or_text, path: str | os.PathLike, network: str | None = None, *,
                opset: int = DEFAULT_OPSET, state_dict=None, **params: Any) -> list[str]:
    """Export a network to ONNX at ``path``, with the weights of ``state_dict`` (a trained
    model's; default: freshly initialised ones); returns the graph's output names.

    >>> archlang.export_onnx("zoo:resnet18", "resnet18.onnx")  # doctest: +SKIP
    ['logits']
    """
    from archlang.api import check

    require_export_packages()
    return export_graph(check(path_or_text, network, **params).graph, path, opset=opset,
                        state_dict=state_dict)


def export_graph(graph, path: str | os.PathLike, *, opset: int = DEFAULT_OPSET,
                 state_dict=None) -> list[str]:
    """Export a checked graph's network (built as :func:`archlang.load` builds it)."""
    require_export_packages()
    import torch

    from archlang.backends.pytorch import generate_named
    from archlang.loader import _class_from_source, module_attribute_clashes

    module_attribute_clashes(graph)
    source, class_name = generate_named(graph)
    model = _class_from_source(source, graph.network, class_name)().eval()
    if state_dict is not None:
        model.load_state_dict(state_dict)
    outputs = [o.name for o in graph.outputs if not o.training]
    shapes = example_shapes(graph)
    args = tuple(torch.randn(shape) for shape, _ in shapes.values())
    dynamic = {name: axes for name, (_, axes) in shapes.items()}
    if len(graph.inputs) == 1:  # forward's one argument is called x
        dynamic = {"x": next(iter(dynamic.values()))}
    try:
        torch.onnx.export(model, args, os.fspath(path), input_names=list(shapes),
                          output_names=outputs, opset_version=opset, dynamo=True,
                          dynamic_shapes=dynamic, external_data=False, verbose=False)
    except Exception as exc:  # the exporter's errors are many types, none of them ours
        raise ExportError(f"torch.onnx.export failed for `{graph.network}`: "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    written = _opset(path)
    if written != opset:  # the exporter converts down from 18, and keeps 18 when it cannot
        os.remove(path)
        raise ExportError(f"torch.onnx could not convert `{graph.network}` to opset {opset} "
                          f"(it wrote opset {written}); use opset {DEFAULT_OPSET} or newer")
    return outputs


def _opset(path) -> int:
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
