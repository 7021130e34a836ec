"""The inference build: a pass over a checked graph that leaves what eval mode computes.

``inference_graph(graph)`` returns a new graph (the checked one is not changed) and a
:class:`Build` saying what the generated module must do at load time:

* training-only layers and outputs are gone (``Build.dropped``: the state_dict prefixes of
  the layers that held weights, which loading skips);
* dropout (``Op.eval_identity``) is gone: its consumers read its input;
* a BatchNorm (``Op.foldable_norm``) whose input is a conv or linear (``Op.absorbs_norm``)
  that feeds nothing else is gone, and the layer before it has a bias
  (``Build.folds``). In eval mode BatchNorm is ``y = (x - mean) * g + b`` with
  ``g = weight / sqrt(running_var + eps)``, a per-channel affine, so
  ``conv(x) * g + (b - mean * g)`` is one conv with weight ``W * g`` and bias
  ``(bias - mean) * g + b`` (Jacob et al., arXiv 1712.05877, section 3.2);
* a network with a 2-D conv runs channels_last (``Build.channels_last``): on the CPU
  oneDNN's convolutions are faster in NHWC, and the layout alone was most of the gain
  measured in BENCHMARKS.md.

The generated module keeps every other name of the training build and folds at load time
(a ``load_state_dict`` pre-hook), so the training build's ``state_dict``, and a torchvision
checkpoint, load into it unchanged.

>>> g, build = inference_graph(archlang.check("zoo:resnet18").graph)  # doctest: +SKIP
>>> build.folds[0]  # doctest: +SKIP
Fold(layer='conv1', norm='bn1', eps=1e-05)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from archlang.graph.model import Graph, Node


@dataclass(frozen=True)
class Fold:
    """A BatchNorm folded into the layer before it (state_dict names, and its eps)."""

    layer: str
    norm: str
    eps: float


@dataclass
class Build:
    folds: list[Fold] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # "aux1." prefixes of training layers
    channels_last: bool = False


def inference_graph(graph: Graph) -> tuple[Graph, Build]:
    """The graph of the inference build and what loading it must do (see the module)."""
    g = copy.deepcopy(graph)
    build = Build(dropped=_training_prefixes(g))
    replace: dict[int, int] = {}  # removed node -> the node whose value it passes on
    for n in g.nodes:
        n.inputs = [_follow(replace, i) for i in n.inputs]
        if n.training_only:
            continue
        if n.impl.eval_identity and len(n.inputs) == 1:
            replace[n.id] = n.inputs[0]
        elif _foldable(g, n):
            layer = g.nodes[n.inputs[0]]
            build.folds.append(Fold(layer.name, n.name, n.attrs.eps))
            if not layer.attrs.bias:
                layer.attrs = layer.attrs.model_copy(update={"bias": True})
                ins = [g.nodes[i].shape for i in layer.inputs]
                layer.params = layer.impl.params(layer.attrs, ins, layer.shape)
            replace[n.id] = layer.id
    build.channels_last = any(n.impl.absorbs_norm and n.shape is not None and len(n.shape) == 3
                              for n in g.nodes if not n.training_only)
    return _compact(g, replace), build


def _foldable(g: Graph, n: Node) -> bool:
    """A BatchNorm with running statistics right after a conv/linear that feeds only it."""
    if not n.impl.foldable_norm or not n.attrs.track_running_stats or len(n.inputs) != 1:
        return False
    layer = g.nodes[n.inputs[0]]
    if not layer.impl.absorbs_norm or layer.training_only or layer.shape is None or \
            layer.impl.channel_axis(layer.shape) != 0:  # the norm's channels are dim 0
        return False
    readers = [m.id for m in g.nodes if layer.id in m.inputs]
    outputs = {o.node for o in g.outputs}
    return readers == [n.id] and layer.id not in outputs


def _training_prefixes(g: Graph) -> list[str]:
    """The state_dict prefixes of the training-only items that hold weights."""
    out = []
    for s in g.scopes:
        if s.training_only:
            continue
        for kind, i in s.items:
            if kind == "node" and g.nodes[i].training_only and \
                    (g.nodes[i].params or g.nodes[i].buffers):
                out.append(g.nodes[i].name + ".")
            elif kind == "scope" and g.scopes[i].training_only:
                inside = [n for n in g.nodes if i in g.lineage(n.scope)]
                if any(n.params or n.buffers for n in inside):
                    out.append(".".join(g.scopes[i].path) + ".")
    return out


def _follow(replace: dict[int, int], i: int) -> int:
    while i in replace:
        i = replace[i]
    return i


def _compact(g: Graph, replace: dict[int, int]) -> Graph:
    """Drop training-only and replaced nodes, renumber the rest (node ids are positions)."""
    keep = [n for n in g.nodes if not n.training_only and n.id not in replace]
    new_id = {n.id: k for k, n in enumerate(keep)}

    def moved(i: int | None) -> int | None:
        return None if i is None else new_id.get(_follow(replace, i))

    for n in keep:
        n.inputs = [moved(i) for i in n.inputs]
    for s in g.scopes:
        if s.training_only:  # unreachable now: no item names it
            s.items, s.input, s.output, s.ins, s.outs = [], None, None, [], []
            continue
        s.items = [(kind, new_id[i] if kind == "node" else i) for kind, i in s.items
                   if (kind == "node" and i in new_id)
                   or (kind == "scope" and not g.scopes[i].training_only)]
        s.input, s.output = moved(s.input), moved(s.output)
        # a block's inputs and outputs that only training outputs read are gone with them
        s.ins = [(name, moved(v)) for name, v in s.ins if moved(v) is not None]
        s.outs = [(name, moved(v)) for name, v in s.outs if moved(v) is not None]
        if len(s.outs) == 1:
            s.output = s.outs[0][1]
    for n in keep:
        n.id = new_id[n.id]
        n.init = {}  # an inference build is loaded, never initialised
    g.nodes = keep
    g.outputs = [o for o in g.outputs if not o.training]
    for o in g.outputs:
        o.node = moved(o.node)
    g.inputs = {name: new_id[i] for name, i in g.inputs.items()}
    return g


#: The generated inference build's load hook, a method of the network class (a method, so
#: that a pickled model names it through its instance): registered by ``__init__``.
FOLD_METHOD = '''
def fold_batchnorm(self, module, state_dict, prefix, *args) -> None:
    """Loads a training build's state_dict into this inference build: each BatchNorm in
    FOLDED is folded into the layer before it (weight * g and (bias - mean) * g + beta,
    with g = gamma / sqrt(running_var + eps), computed in float64), and the weights of
    training-only layers are skipped. This build's own state_dict loads as it is."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        if key[len(prefix):].startswith(self.DROPPED):
            del state_dict[key]
    for layer, norm, eps in self.FOLDED:
        layer, norm = prefix + layer + ".", prefix + norm + "."
        if norm + "running_var" not in state_dict:
            continue
        state_dict.pop(norm + "num_batches_tracked", None)
        mean = state_dict.pop(norm + "running_mean").double()
        gain = torch.rsqrt(state_dict.pop(norm + "running_var").double() + eps)
        if norm + "weight" in state_dict:
            gain = gain * state_dict.pop(norm + "weight").double()
        shift = state_dict.pop(norm + "bias").double() if norm + "bias" in state_dict else 0.0
        weight = state_dict[layer + "weight"]
        bias = state_dict.get(layer + "bias", torch.zeros_like(mean)).double()
        scale = gain.reshape(-1, *[1] * (weight.dim() - 1))
        state_dict[layer + "weight"] = (weight.double() * scale).to(weight.dtype)
        state_dict[layer + "bias"] = ((bias - mean) * gain + shift).to(weight.dtype)
'''


def inference_result(result):
    """A :class:`archlang.api.CheckResult` of the inference build (``archlang summary
    --inference``): its layers, and totals without the folded and training-only ones."""
    from archlang.analysis.report import totals
    from archlang.api import CheckResult

    graph, _ = inference_graph(result.graph)
    return CheckResult(graph, totals(graph), result.diagnostics)
