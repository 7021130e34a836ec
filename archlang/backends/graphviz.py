"""Diagrams: the expanded graph as Graphviz DOT text, rendered to SVG, PNG or PDF by ``dot``.

>>> from archlang.api import check
>>> d = Diagram(check("network n {\\n input x: [3, 8, 8]\\n c: conv2d(4, 3)\\n output y\\n}").graph)
>>> print(d.source.splitlines()[1])
digraph "n" {

What is drawn
-------------
* Every op node is a box labelled with its layer name (when it has one) and the op
  registry's ``label()`` (``conv2d 3x3/2, 128``), filled with its op family's colour
  (:data:`FAMILY_COLORS`). ``add`` is a small circle ``+`` and ``concat`` a small trapezium.
  Inputs are ``invhouse`` shapes, and every output is a ``house`` node of its own, named
  by the output name. The SVG tooltip of a node gives its full path, output shape,
  parameters, MACs and source location.
* Every edge is labelled with the shape of the tensor it carries (``fmt_shape``;
  symbolic sizes print as expressions such as ``(H+1)//2``).
* Training-only nodes, edges, blocks and outputs are dashed.
* A folded block with several inputs or outputs lists its outputs' shapes, and each of its
  edges is labelled with its port: the output's or input's name before the shape.
* Block instances are clusters labelled ``name: Block`` (``inception3a: Inception``);
  sequence groups (``[...]``, ``{...}``, a residual's shortcut) are clusters labelled
  with their name. A cluster's name is the shortest tail of its module path that starts
  with a written name: ``layer3.0``, ``branch2``, ``branch2.0``.

Depth and folding
-----------------
Depth counts scope nesting: the network is depth 0, its direct children (blocks and
groups written in the network) depth 1, their children depth 2 and so on.
``depth=N`` draws scopes shallower than ``N`` as clusters and folds each scope *at*
depth ``N`` into one node (a ``box3d`` for a block, a ``folder`` for a group) that shows
its name, its block name (or, for a group, what it holds), its total parameters (the sum
over all its nodes) and its output shape. ``depth=1`` shows only the network's direct
children. A depth deeper than the deepest scope draws every op node.

A run of two or more consecutive sibling block instances that are all folded, have the
same block name, the same arguments and the same input and output shape (so every copy
has the same parameters and MACs), that form a chain (each takes the previous one's
output) and whose intermediate values are used by nothing outside the run, is drawn as
one node ``layer3.1 … layer3.5`` / ``Bottleneck ×5``. The first block of a ResNet stage
differs (stride, channels) and stays on its own.

Default depth (``depth=None``): the deepest level whose diagram has at most
:data:`MAX_BOXES` (90) boxes (op nodes, folded nodes and outputs), and everything when
the whole graph fits; never less than 1. Networks of fewer than 90 layers (AlexNet, VGG,
ResNet-18) are therefore drawn in full; GoogLeNet folds at depth 2 (80 boxes: each
Inception module a cluster of four folded branches and its concat); ResNet-34 to
ResNet-152 fold at depth 2 (17 boxes: each stage a cluster of its first block and one
``×N`` run). Depth 3 would draw every layer of those (129 and 513 boxes).

Errors
------
A partial graph (``ArchError.graph``) is drawn as far as it was built. A node whose
shape rule failed (``node.error`` set or ``shape is None``) is drawn red with the
diagnostic's code and message in its label, and every scope that contains it is drawn
as a cluster (with a red border) whatever the depth, so the failing node is always
visible. Error diagnostics passed in ``diagnostics`` that belong to no node are matched
to a node with the same span and call chain (``E032`` unused value, ``E054`` too many
parameters) or else listed in red under the title.

The DOT text is deterministic: it depends only on the graph (nodes and scopes in their
order), never on hashing or dict/set order, so it is byte-identical across runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlang.analysis import dims as D
from archlang.graph.model import Graph, Node, Scope
from archlang.graph.values import show

#: Most boxes the default depth allows (see the module docstring).
MAX_BOXES = 90

#: Fill colour of each op family (``Op.family``), of inputs, outputs and folded scopes.
FAMILY_COLORS: dict[str, str] = {
    "conv": "#cfe2f3",  # blue
    "pool": "#d9ead3",  # green
    "norm": "#fff2cc",  # yellow
    "act": "#fce5cd",  # orange
    "dense": "#d9d2e9",  # purple
    "merge": "#eeeeee",  # light grey
    "shape": "#d0e0e3",  # grey-cyan
    "reg": "#ead1dc",  # pink
    "tensor": "#f9cb9c",  # light brown: learnable tensors
    "other": "#ffffff",  # white
    "source": "#b6d7a8",  # green: the inputs
    "output": "#a4c2f4",  # blue
    "block": "#e3e8f0",  # folded block or group
}
ERROR_FILL = "#f4cccc"
ERROR_COLOR = "#cc0000"
#: Cluster fills by nesting depth (deeper clusters are darker).
CLUSTER_FILLS = ("#f6f8fb", "#eceff5", "#e2e7ef", "#d8dfea")

FORMATS = {".dot": None, ".gv": None, ".svg": "svg", ".png": "png", ".pdf": "pdf"}
DIRECTIONS = ("TB", "LR", "BT", "RL")

INSTALL_HELP = ("install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS) or `conda install graphviz`; "
                "writing DOT text with `-o file.dot` works without it")


class DotNotFound(RuntimeError):
    """Graphviz's ``dot`` program is not installed (or not on ``PATH``)."""

    def __init__(self, what: str = "render a diagram"):
        super().__init__(f"Graphviz's `dot` program was not found on PATH; it is needed to "
                         f"{what}. To fix, {INSTALL_HELP}.")


# ---- escaping ------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(text: Any) -> str:
    """Text that DOT and XML accept: newlines normalised, no control characters, no
    lone surrogates (from undecodable file names)."""
    t = str(text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    t = _CONTROL.sub("\ufffd", t)
    return t.encode("utf-8", "replace").decode("utf-8")


def dot_string(text: Any) -> str:
    """A DOT double-quoted string (an ID): ``\\`` and ``"`` escaped, newlines as ``\\n``."""
    t = _clean(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{t}"'


def quote(text: Any) -> str:
    """A quoted plain label whose text Graphviz shows exactly as ``text``.

    Graphviz decodes HTML entities in labels and expands escString sequences (``\\N``,
    ``\\G``, ``\\n``...), so ``&`` becomes ``&amp;``, a backslash ``\\\\`` and a
    newline ``\\n`` (a line break).
    """
    return dot_string(_clean(text).replace("&", "&amp;"))


def quote_tooltip(text: Any) -> str:
    """A quoted tooltip. Tooltips go through one more unescaping pass than labels
    (``interpretCRNL`` in Graphviz's emit.c), so a backslash is written four times."""
    return dot_string(_clean(text).replace("&", "&amp;").replace("\\", "\\\\"))


def html(text: Any) -> str:
    """Text inside a DOT HTML-like label: ``& < > "`` as entities, a backslash doubled
    (Graphviz expands ``\\N`` and the like in HTML text too), newlines as ``<BR/>``."""
    t = _clean(text).replace("\\", "\\\\")
    t = t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return t.replace("\n", "<BR/>")


def _small(text: str, color: str = "#555555") -> str:
    return f'<FONT POINT-SIZE="8" COLOR="{color}">{html(text)}</FONT>'


def _shape(shape) -> str:
    return "?" if shape is None else D.fmt_shape(shape)


def _is_name(part: str) -> bool:
    return not part.isdigit()


def display_name(path: tuple[str, ...]) -> str:
    """The shortest tail of a module path that starts with a written name
    (``("layer3", "0")`` → ``layer3.0``; ``("inception3a", "branch2")`` → ``branch2``)."""
    for k in range(len(path) - 1, -1, -1):
        if _is_name(path[k]):
            return ".".join(path[k:])
    return ".".join(path)


# ---- the plan: what is visible at a depth ---------------------------------------------------


@dataclass
class _Box:
    """A folded scope or a run of folded block instances."""

    id: str
    scopes: list[int]


@dataclass
class _Plan:
    depth: int | None
    mode: dict[int, str] = field(default_factory=dict)  # scope -> cluster | fold | skip
    boxes: dict[int, _Box] = field(default_factory=dict)  # first scope of a box -> box
    rep: dict[int, str] = field(default_factory=dict)  # node id -> DOT id drawn for it
    count: int = 0  # boxes drawn (op nodes, folded nodes, outputs)


class Diagram:
    """A diagram of an expanded (possibly partial) graph.

    ``depth``: fold scopes at this nesting depth (``None``: chosen as the module docstring
    says). ``direction``: Graphviz ``rankdir`` (``TB`` or ``LR``; ``BT``/``RL`` too).
    ``diagnostics``: the run's diagnostics, so errors that belong to no node still show.
    """

    def __init__(self, graph: Graph | None, depth: int | None = None, direction: str = "TB",
                 diagnostics=None):
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)
                                  or depth < 1):
            raise ValueError(f"depth must be a positive integer or None, got {depth!r}")
        direction = str(direction).upper()
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, "
                             f"got {direction!r}")
        self.graph = graph
        self.direction = direction
        self.diagnostics = list(diagnostics or [])
        self._source: str | None = None
        self._index()
        self.requested_depth = depth
        self.plan = self._choose(depth)

    @property
    def depth(self) -> int | None:
        """The depth drawn (``None``: everything)."""
        return self.plan.depth

    # -- analysis ------------------------------------------------------------------------
    def _index(self) -> None:
        g = self.graph
        self.scope_depth: dict[int, int] = {}
        self.subtree: dict[int, list[int]] = {}  # scope -> node ids, in execution order
        self.consumers: dict[int, list[int]] = {}
        self.failed: dict[int, list[str]] = {}  # node id -> messages
        self.loose: list = []  # error diagnostics that belong to no node
        self.red_scopes: set[int] = set()
        self.output_nodes = {o.node for o in g.outputs} if g is not None else set()
        if g is None:
            self.loose = [d for d in self.diagnostics if d.severity == "error"]
            return
        for s in g.scopes:
            self.scope_depth[s.id] = 0 if s.parent is None else self.scope_depth[s.parent] + 1
            self.subtree[s.id] = []
        for n in g.nodes:
            for i in n.inputs:
                self.consumers.setdefault(i, []).append(n.id)
            for sid in self.graph.lineage(n.scope):
                self.subtree[sid].append(n.id)
        for n in g.nodes:
            if n.error is not None:
                self.failed[n.id] = [f"error[{n.error.code}]: {n.error.message}"]
            elif n.shape is None:
                self.failed[n.id] = ["shape could not be inferred"]
        attached = {id(n.error) for n in g.nodes if n.error is not None}
        by_span: dict[tuple, list[int]] = {}
        for n in g.nodes:
            by_span.setdefault((n.span, n.chain), []).append(n.id)
        for d in self.diagnostics:
            if d.severity != "error" or id(d) in attached:
                continue
            hits = by_span.get((d.span, d.chain), []) if d.span is not None else []
            if len(hits) == 1:
                self.failed.setdefault(hits[0], []).append(f"error[{d.code}]: {d.message}")
            else:
                self.loose.append(d)
        for i in self.failed:
            self.red_scopes.update(self.graph.lineage(g.nodes[i].scope))

    def _in_shape(self, s: Scope):
        return self.graph.nodes[s.input].shape if s.input is not None else None

    def _out_node(self, sid: int) -> int:
        s = self.graph.scopes[sid]
        return s.output if s.output is not None else self.subtree[sid][-1]

    def _out_text(self, sid: int, sep: str) -> str:
        """A scope's output shape, or each of its outputs' (``c2: 256 x 56 x 56``)."""
        s = self.graph.scopes[sid]
        if len(s.outs) > 1:  # one a line after `out:` in a box, in a row in a tooltip
            return ("\n" if sep == "\n" else "") + sep.join(
                f"{name}: {_shape(shape)}" for name, shape in self.graph.out_shapes(s))
        return _shape(self.graph.nodes[self._out_node(sid)].shape)

    def _port(self, box: str | None, node: int, side: str) -> str:
        """The name of the input or output of a folded block (``box``) that carries
        ``node``, with ": ", or ""."""
        if box is None or not box.startswith("s"):
            return ""
        s = self.graph.scopes[self.plan.boxes[int(box[1:])].scopes[0 if side == "ins" else -1]]
        ports = s.ins if side == "ins" else s.outs
        if len(ports) < 2:
            return ""
        return next((f"{name}: " for name, v in ports if v == node), "")

    # -- planning ------------------------------------------------------------------------
    def _choose(self, depth: int | None) -> _Plan:
        if self.graph is None:
            return _Plan(depth)
        deepest = max(self.scope_depth.values()) + 1
        if depth is not None or deepest == 1:
            return self._plan(None if depth is None or depth >= deepest else depth)
        full = self._plan(None)
        if full.count <= MAX_BOXES:
            return full
        best = self._plan(1)
        for d in range(2, deepest):
            p = self._plan(d)
            if p.count > MAX_BOXES:
                break
            best = p
        return best

    def _plan(self, depth: int | None) -> _Plan:
        g = self.graph
        plan = _Plan(depth)
        for s in g.scopes:
            if not self.subtree[s.id]:
                plan.mode[s.id] = "skip"
            elif s.parent is None or depth is None or self.scope_depth[s.id] < depth \
                    or s.id in self.red_scopes:
                plan.mode[s.id] = "cluster"
            else:
                plan.mode[s.id] = "fold"
        for s in g.scopes:
            if plan.mode[s.id] != "cluster":
                continue
            items = s.items
            k = 0
            while k < len(items):
                kind, i = items[k]
                if kind == "node":
                    plan.rep[i] = f"n{i}"
                    plan.count += 1
                    k += 1
                    continue
                if plan.mode[i] != "fold":
                    k += 1
                    continue
                run, inside = [i], set(self.subtree[i])
                while k + len(run) < len(items) and \
                        self._extends(plan, run, inside, items[k + len(run)]):
                    run.append(items[k + len(run)][1])
                    inside.update(self.subtree[run[-1]])
                box = _Box(f"s{i}", run)
                plan.boxes[i] = box
                plan.count += 1
                for sid in run:
                    for nid in self.subtree[sid]:
                        plan.rep[nid] = box.id
                k += len(run)
        plan.count += len(g.outputs)
        return plan

    def _extends(self, plan: _Plan, run: list[int], inside: set[int],
                 item: tuple[str, int]) -> bool:
        kind, nxt = item
        if kind != "scope" or plan.mode.get(nxt) != "fold":
            return False
        g = self.graph
        first, prev, s = g.scopes[run[0]], g.scopes[run[-1]], g.scopes[nxt]
        if s.kind != "block" or first.kind != "block" or s.name != first.name:
            return False
        if _args_key(s.args) != _args_key(first.args) or s.training_only != first.training_only:
            return False
        shape = self._in_shape(first)
        if shape is None or self._in_shape(s) != shape or s.output is None \
                or any(g.nodes[self._out_node(x)].shape != shape for x in (first.id, nxt)):
            return False
        if s.input != prev.output:
            return False
        mine = set(self.subtree[nxt])
        for n in self.subtree[prev.id]:  # the previous copy's values feed only the run
            if n in self.output_nodes or any(c not in inside and c not in mine
                                             for c in self.consumers.get(n, ())):
                return False
        return all(i in inside or i in mine for n in mine for i in g.nodes[n].inputs)

    # -- DOT -------------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The diagram as DOT text (deterministic)."""
        if self._source is None:
            self._source = self._dot()
        return self._source

    def _dot(self) -> str:
        g = self.graph
        name = g.network if g is not None else "archlang"
        depth = "all" if self.depth is None else str(self.depth)
        out = [f"// archlang diagram of {dot_string(name)}, depth {depth}",
               f"digraph {dot_string(name)} {{"]
        title = f"<B>{html(name)}</B>"
        if g is not None:
            title += "<BR/>" + _small(f"{D.fmt_count(sum(n.params for n in g.nodes))} params")
        for line in self._loose_lines():
            title += "<BR/>" + f'<FONT POINT-SIZE="9" COLOR="{ERROR_COLOR}">{html(line)}</FONT>'
        out.append(f'  graph [rankdir={self.direction}, fontname="Helvetica", fontsize=12, '
                   f'labelloc=t, nodesep=0.25, ranksep=0.3, forcelabels=true, '
                   f'tooltip={quote_tooltip(name)}, label=<{title}>];')
        out.append('  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", '
                   'color="#555555", fillcolor="#ffffff", height=0.3, margin="0.08,0.03"];')
        out.append('  edge [fontname="Helvetica", fontsize=8, fontcolor="#555555", '
                   'color="#666666", arrowsize=0.6];')
        if g is None:
            out.append("}")
            return "\n".join(out) + "\n"
        self._emit_scope(0, out, "  ")
        for k, o in enumerate(g.outputs):
            label = f"<B>{html(o.name)}</B>" + ("<BR/>" + _small("training") if o.training else "")
            tip = f"output {o.name}" + (" (training only)" if o.training else "") + \
                f"\n{_shape(g.nodes[o.node].shape)}\n{o.span}"
            style = "filled,dashed" if o.training else "filled"
            out.append(f'  out{k} [label=<{label}>, shape=house, style="{style}", '
                       f'fillcolor="{FAMILY_COLORS["output"]}", tooltip={quote_tooltip(tip)}];')
        out.extend(self._edges())
        out.append("}")
        return "\n".join(out) + "\n"

    def _loose_lines(self) -> list[str]:
        lines = []
        for d in self.loose[:5]:
            where = f" ({d.span})" if d.span is not None else ""
            lines.extend(_wrap(f"error[{d.code}]: {d.message}{where}", 90))
        if len(self.loose) > 5:
            lines.append(f"… and {len(self.loose) - 5} more errors")
        return lines

    def _emit_scope(self, sid: int, out: list[str], ind: str) -> None:
        g, plan = self.graph, self.plan
        for kind, i in g.scopes[sid].items:
            if kind == "node":
                out.append(ind + self._node(g.nodes[i]))
            elif plan.mode[i] == "cluster":
                s = g.scopes[i]
                out.append(f"{ind}subgraph cluster_s{i} {{")
                out.append(f"{ind}  graph [{self._cluster_attrs(s)}];")
                self._emit_scope(i, out, ind + "  ")
                out.append(f"{ind}}}")
            elif i in plan.boxes:
                out.append(ind + self._box(plan.boxes[i]))

    def _cluster_attrs(self, s: Scope) -> str:
        name = display_name(s.path)
        label = f"<B>{html(name)}</B>" + (f": {html(s.name)}" if s.kind == "block" else "")
        if s.training_only:
            label += " " + _small("(training)")
        dashed = ",dashed" if s.training_only else ""
        color = ERROR_COLOR if s.id in self.red_scopes else "#9aa5b1"
        if s.kind == "block":
            fill = CLUSTER_FILLS[min(self.scope_depth[s.id], len(CLUSTER_FILLS)) - 1]
            style = f'style="rounded,filled{dashed}", fillcolor="{fill}"'
        else:
            style = f'style="rounded{dashed}"'
        tip = self._scope_tip([s.id])
        return (f'label=<{label}>, {style}, color="{color}", fontsize=10, labeljust=l, '
                f'tooltip={quote_tooltip(tip)}')

    def _scope_tip(self, sids: list[int]) -> str:
        g = self.graph
        first, last = g.scopes[sids[0]], g.scopes[sids[-1]]
        path = ".".join(first.path)
        if len(sids) > 1:
            path += " … " + ".".join(last.path)
        head = path
        if first.kind == "block":
            args = ", ".join(f"{k}={show(v)}" for k, v in first.args.items())
            times = f"{len(sids)} × " if len(sids) > 1 else ""
            head += f": {times}{first.name}({args})"
        nodes = [n for sid in sids for n in self.subtree[sid]]
        params = sum(g.nodes[n].params for n in nodes)
        macs = 0
        for n in nodes:
            macs = D.plus(macs, g.nodes[n].macs)
        lines = [head, f"out: {self._out_text(sids[-1], ', ')}",
                 f"params: {D.fmt_count(params)}", f"MACs: {D.fmt_count(macs)}",
                 f"layers: {len(nodes)}", str(first.span)]
        if first.training_only:
            lines.append("training only")
        return "\n".join(lines)

    def _box(self, box: _Box) -> str:
        g = self.graph
        first = g.scopes[box.scopes[0]]
        name = display_name(first.path)
        if len(box.scopes) > 1:
            name += " … " + display_name(g.scopes[box.scopes[-1]].path)
        if first.kind == "block":
            what = first.name + (f" ×{len(box.scopes)}" if len(box.scopes) > 1 else "")
            shape = "box3d"
        else:
            what = self._contents(first)
            shape = "folder"
        params = sum(g.nodes[n].params for sid in box.scopes for n in self.subtree[sid])
        outs = self._out_text(box.scopes[-1], "\n")
        label = (f"<B>{html(name)}</B><BR/>{html(what)}<BR/>"
                 + _small(f"{D.fmt_count(params)} params") + "<BR/>" + _small(f"out: {outs}"))
        style = "filled,dashed" if first.training_only else "filled"
        tip = quote_tooltip(self._scope_tip(box.scopes))
        return (f'{box.id} [label=<{label}>, shape={shape}, style="{style}", '
                f'fillcolor="{FAMILY_COLORS["block"]}", tooltip={tip}];')

    def _contents(self, s: Scope) -> str:
        """What a folded group holds: ``BasicConv → BasicConv``, or ``N layers``."""
        g = self.graph
        parts = []
        for kind, i in s.items:
            if kind == "node":
                parts.append(self._op_label(g.nodes[i]))
            elif self.subtree[i]:
                c = g.scopes[i]
                parts.append(c.name if c.kind == "block" else display_name(c.path))
        text = " → ".join(parts)
        if len(text) > 40 or not parts:
            n = len(self.subtree[s.id])
            text = f"{n} layer{'s' if n != 1 else ''}"
        return text

    def _op_label(self, n: Node) -> str:
        op = n.impl
        try:
            return op.label(n.attrs, [self.graph.nodes[i].shape for i in n.inputs])
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            # a label must never stop a diagram of a broken graph
            return op.name

    def _node(self, n: Node) -> str:
        nid = f"n{n.id}"
        local = self.graph.local("node", n.id)  # `conv1`, or `convs.0` in the list `convs`
        named = not n.implicit and _is_name(local)
        dashed = ",dashed" if n.training_only else ""
        op = n.impl
        if op.diagram_shape == "source":
            label = f"<B>{html(n.path[-1])}</B><BR/>" + _small(_shape(n.shape))
            tip = f"input {n.name}\n{_shape(n.shape)}\n{n.span}"
            return (f'{nid} [label=<{label}>, shape=invhouse, style="filled", '
                    f'fillcolor="{FAMILY_COLORS[op.family]}", tooltip={quote_tooltip(tip)}];')
        fill = FAMILY_COLORS.get(op.family, FAMILY_COLORS["other"])
        text = self._op_label(n)
        tip = self._node_tip(n, text)
        if n.id in self.failed:
            lines = [f"<B>{html(local)}</B>"] if named else []
            lines.append(html(text))
            for msg in self.failed[n.id]:
                wrapped = _wrap(msg, 44)
                lines.append(f'<FONT COLOR="{ERROR_COLOR}">'
                             + "<BR/>".join(html(w) for w in wrapped) + "</FONT>")
            return (f'{nid} [label=<{"<BR/>".join(lines)}>, style="rounded,filled{dashed}", '
                    f'fillcolor="{ERROR_FILL}", color="{ERROR_COLOR}", penwidth=2, '
                    f'fontcolor="#660000", tooltip={quote_tooltip(tip)}];')
        xlabel = f", xlabel={quote(local)}" if named else ""
        if op.diagram_shape == "glyph":
            return (f'{nid} [label={quote(op.glyph)}, shape=circle, style="filled{dashed}", fillcolor="{fill}", '
                    f'width=0.3, height=0.3, fixedsize=true, fontsize=12{xlabel}, '
                    f'tooltip={quote_tooltip(tip)}];')
        if op.diagram_shape == "funnel":
            return (f'{nid} [label={quote(text)}, shape=invtrapezium, style="filled{dashed}", '
                    f'fillcolor="{fill}", height=0.25, fontsize=8, margin="0.04,0.01"{xlabel}, '
                    f'tooltip={quote_tooltip(tip)}];')
        label = (f"<B>{html(local)}</B><BR/>" if named else "") + html(text)
        style = f', style="rounded,filled{dashed}"' if dashed else ""
        return f'{nid} [label=<{label}>, fillcolor="{fill}"{style}, tooltip={quote_tooltip(tip)}];'

    def _node_tip(self, n: Node, text: str) -> str:
        lines = [n.name, text, f"out: {_shape(n.shape)}", f"params: {D.fmt_count(n.params)}",
                 f"MACs: {D.fmt_count(n.macs)}", str(n.span)]
        if n.training_only:
            lines.append("training only")
        lines.extend(self.failed.get(n.id, ()))
        return "\n".join(lines)

    def _edges(self) -> list[str]:
        g, rep = self.graph, self.plan.rep
        out, seen = [], set()
        for n in g.nodes:
            dst = rep.get(n.id)
            for i in n.inputs:
                src = rep.get(i)
                if src is None or dst is None or src == dst or (i, dst) in seen:
                    continue
                seen.add((i, dst))
                dashed = ", style=dashed" if n.training_only or g.nodes[i].training_only else ""
                # a folded block with several inputs or outputs: each edge names its port
                port = self._port(src, i, "outs") or self._port(dst, i, "ins")
                label = quote(port + _shape(g.nodes[i].shape))
                out.append(f"  {src} -> {dst} [label={label}{dashed}];")
        for k, o in enumerate(g.outputs):
            src = rep.get(o.node)
            if src is None:
                continue
            dashed = ", style=dashed" if o.training else ""
            out.append(f"  {src} -> out{k} [label={quote(_shape(g.nodes[o.node].shape))}"
                       f"{dashed}];")
        return out

    # -- rendering -------------------------------------------------------------------------
    def pipe(self, format: str = "svg") -> bytes:
        """The diagram rendered by ``dot`` (``svg``, ``png`` or ``pdf``) as bytes."""
        return pipe_dot(self.source, format)

    def render(self, path: str | os.PathLike) -> Path:
        """Write the diagram; the suffix picks the format (``.dot``/``.gv``: the DOT text,
        no Graphviz needed; ``.svg``, ``.png``, ``.pdf``: rendered by ``dot``)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(f"cannot write `{path.name}`: the file name must end in "
                             f"{', '.join(FORMATS)}")
        fmt = FORMATS[suffix]
        if fmt is None:
            path.write_text(self.source, encoding="utf-8")
        else:
            path.write_bytes(self.pipe(fmt))
        return path

    def _repr_svg_(self) -> str | None:
        """SVG for Jupyter; ``None`` (plain repr) when ``dot`` is not installed."""
        try:
            return self.pipe("svg").decode("utf-8")
        except DotNotFound:
            return None

    def __repr__(self) -> str:
        name = self.graph.network if self.graph is not None else None
        return f"<Diagram {name!r} depth={self.depth} direction={self.direction}>"


def pipe_dot(source: str, format: str = "svg") -> bytes:
    """DOT text rendered by ``dot`` (``svg``, ``png`` or ``pdf``) as bytes; also used by
    ``archlang diff`` for its union graph."""
    if format not in ("svg", "png", "pdf"):
        raise ValueError(f"format must be svg, png or pdf, got {format!r}")
    if shutil.which("dot") is None:
        raise DotNotFound(f"render {format.upper()}")
    try:
        import graphviz
    except ImportError:  # the `dot` program is enough
        graphviz = None
    if graphviz is None:
        proc = subprocess.run(["dot", f"-T{format}"], input=source.encode("utf-8"),
                              capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"dot failed: {proc.stderr.decode('utf-8', 'replace')}")
        return proc.stdout
    try:
        return graphviz.Source(source, engine="dot").pipe(format=format, quiet=True)
    except graphviz.ExecutableNotFound:
        raise DotNotFound(f"render {format.upper()}") from None


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters (longer words kept whole); newlines kept."""
    return [w for para in _clean(text).split("\n")
            for w in (textwrap.wrap(para, width, break_long_words=False) or [""])]


def _args_key(args: dict[str, Any]) -> tuple:
    return tuple((k, type(v).__name__, show(v)) for k, v in sorted(args.items()))


__all__ = ["FAMILY_COLORS", "MAX_BOXES", "Diagram", "DotNotFound", "display_name", "dot_string",
           "html", "pipe_dot", "quote", "quote_tooltip"]
