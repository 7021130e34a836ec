"""Rendering a :class:`~archlang.analysis.diff.Diff`: a table for people (coloured on a
terminal), JSON for tools, and the union graph as Graphviz DOT with the changes coloured.

The table lists what differs, as a tree: a scope row (block instance or group) carries the
deltas of everything below it, so per-block deltas need no second table; a scope only on one
side is one row (its layers are not listed); layers that are the same are left out. Deltas
are B minus A; activations are the elements each layer outputs, as float32 bytes.
"""

from __future__ import annotations

import io
import json
from typing import Any

from archlang.analysis import dims as D
from archlang.analysis.diff import ADDED, CHANGED, REMOVED, RENAMED, SAME, Diff, Entry, delta
from archlang.analysis.dims import Count
from archlang.analysis.report import BYTES_PER_ELEMENT, totals
from archlang.graph.model import Graph
from archlang.graph.values import show

MARKS = {CHANGED: "~", RENAMED: "→", ADDED: "+", REMOVED: "-", SAME: " "}
STYLES = {CHANGED: "yellow", RENAMED: "cyan", ADDED: "green", REMOVED: "red", SAME: ""}


def _signed(c: Count) -> str:
    if isinstance(c, int):
        return "" if c == 0 else f"{c:+,}"
    return str(c)


def _signed_bytes(c: Count) -> str:
    if not isinstance(c, int):
        return f"{c} B"
    if c == 0:
        return ""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(c) >= size:
            return f"{c / size:+,.2f} {unit}"
    return f"{c:+,} B"


def _bytes(c: Count) -> str:
    return f"{c / 2**20:,.2f} MiB" if isinstance(c, int) else f"{c} bytes"


def _graph(d: Diff, e: Entry) -> tuple[Graph, int]:
    return (d.b, e.b) if e.b is not None else (d.a, e.a)


def kind_label(d: Diff, e: Entry) -> str:
    """The op's label (``conv2d 3x3, 64``), the block's name, or ``group``."""
    g, i = _graph(d, e)
    if e.kind == "node":
        n = g.nodes[i]
        try:
            return n.impl.label(n.attrs, [g.nodes[j].shape for j in n.inputs])
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            return n.op
    s = g.scopes[i]
    return s.name if s.kind == "block" else "group"


def short_name(e: Entry) -> str:
    a, b = e.a_name.rpartition(".")[2], e.b_name.rpartition(".")[2]
    if e.a is not None and e.b is not None and e.a_name != e.b_name:
        return f"{a} → {b}" if e.a_name.rpartition(".")[0] == e.b_name.rpartition(".")[0] \
            else f"{e.a_name} → {e.b_name}"
    return b or a


def change_text(e: Entry) -> str:
    if e.status == ADDED:
        return "added" + _layers(e)
    if e.status == REMOVED:
        return "removed" + _layers(e)
    return "; ".join(c.text() for c in e.changes if c.what != "name")


def _layers(e: Entry) -> str:
    if e.kind != "scope":
        return ""
    n = sum(1 for x in e.walk() if x.kind == "node")
    return f" ({n} layer{'s' if n != 1 else ''})"


def shown(d: Diff) -> list[Entry]:
    """The entries the table lists, in tree order."""
    out: list[Entry] = []

    def walk(e: Entry) -> None:
        for c in e.children:
            if c.status == SAME:
                continue
            out.append(c)
            if c.kind == "scope" and c.status not in (ADDED, REMOVED):
                walk(c)

    walk(d.root)
    return out


# ---- totals ---------------------------------------------------------------------------------


def totals_rows(d: Diff) -> list[tuple[str, Count, Count]]:
    ta, tb = totals(d.a), totals(d.b)
    rows: list[tuple[str, Count, Count]] = [
        ("params", ta.params, tb.params),
        ("params_inference", ta.params_inference, tb.params_inference),
        ("buffers", ta.buffers, tb.buffers),
        ("macs", ta.macs, tb.macs),
        ("macs_train", ta.macs_train, tb.macs_train),
        ("activations_bytes", D.times(ta.activations, BYTES_PER_ELEMENT),
         D.times(tb.activations, BYTES_PER_ELEMENT)),
        ("peak_inference_bytes", D.times(ta.peak_inference, BYTES_PER_ELEMENT),
         D.times(tb.peak_inference, BYTES_PER_ELEMENT)),
    ]
    return rows


def outputs(d: Diff) -> list[tuple[str, Any, Any]]:
    """(name, shape in A or None, shape in B or None) for every output of either side."""
    sa = {o.name: d.a.nodes[o.node].shape for o in d.a.outputs}
    sb = {o.name: d.b.nodes[o.node].shape for o in d.b.outputs}
    return [(k, sa.get(k), sb.get(k)) for k in {**sa, **sb}]


def title(g: Graph, label: str, other: Graph) -> str:
    args = ""
    if g.network == other.network and g.params != other.params:
        args = "(" + ", ".join(f"{k}={show(v)}" for k, v in g.params.items()) + ")"
    return f"{label}: {g.network}{args}"


# ---- text -----------------------------------------------------------------------------------


def render_text(d: Diff, labels: tuple[str, str], color: bool = False, width: int = 120) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=max(width, 60), color_system="standard" if color else None,
                      force_terminal=color, legacy_windows=False, soft_wrap=True, markup=False,
                      emoji=False, highlight=False)
    console.print(Text(f"--- {title(d.a, labels[0], d.b)}", style="red" if color else ""))
    console.print(Text(f"+++ {title(d.b, labels[1], d.a)}", style="green" if color else ""))
    counts = d.counts()
    parts = [f"{counts[s]} {s}" for s in (CHANGED, RENAMED, ADDED, REMOVED) if counts[s]]
    console.print(f"Layers: {', '.join(parts) or 'no differences'}; {counts[SAME]} the same")
    rows = shown(d)
    if rows:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("Layer (type)", no_wrap=True)
        table.add_column("Change", overflow="fold")
        for col in ("Params", "MACs", "Activations"):
            table.add_column(col, justify="right", no_wrap=True)
        for e in rows:
            indent = "  " * (e.depth - 1)
            label = f"{MARKS[e.status]} {indent}{short_name(e)} ({kind_label(d, e)})"
            table.add_row(
                Text(label, style=STYLES[e.status] if color else ""),
                change_text(e), _signed(e.params[1] - e.params[0]),
                _signed(delta(*e.macs)),
                _signed_bytes(D.times(delta(*e.activations), BYTES_PER_ELEMENT)))
        console.print(table)
    console.print(_totals_table(d))
    lines = [buf.getvalue().rstrip("\n")]
    for name, sa, sb in outputs(d):
        shape_a = D.fmt_shape(sa) if sa is not None else "-"
        shape_b = D.fmt_shape(sb) if sb is not None else "-"
        lines.append(f"Output {name}: " + (shape_a if sa == sb else f"{shape_a} → {shape_b}"))
    return "\n".join(line.rstrip() for line in "\n".join(lines).split("\n")) + "\n"


def _totals_table(d: Diff):
    from rich import box
    from rich.table import Table

    names = {"params": "Params", "params_inference": "Params (inference)",
             "buffers": "Buffers", "macs": "MACs", "macs_train": "MACs (training outputs too)",
             "activations_bytes": "Activations (float32)",
             "peak_inference_bytes": "Inference peak (float32)"}
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Total", no_wrap=True)
    same_name = d.a.network == d.b.network
    table.add_column("A" if same_name else d.a.network, justify="right", no_wrap=True)
    table.add_column("B" if same_name else d.b.network, justify="right", no_wrap=True)
    table.add_column("Δ", justify="right", no_wrap=True)
    rows = totals_rows(d)
    plain = {k: (a, b) for k, a, b in rows}
    for key, a, b in rows:
        if key in ("params_inference", "macs_train") and \
                str((a, b)) == str(plain[key.partition("_")[0]]):
            continue  # no training-only outputs on either side
        if key.endswith("bytes"):
            cells = (_bytes(a), _bytes(b), _signed_bytes(delta(a, b)) or "0")
        else:
            cells = (D.fmt_count(a), D.fmt_count(b), _signed(delta(a, b)) or "0")
        table.add_row(names[key], *cells)
    return table


# ---- JSON -----------------------------------------------------------------------------------


def _num(c: Count):
    return c if isinstance(c, int) else str(c)


def _value(v: Any):
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v]
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


def _entry_json(d: Diff, e: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": e.status, "kind": "layer" if e.kind == "node" else "scope",
        "a": e.a_name if e.a is not None else None,
        "b": e.b_name if e.b is not None else None,
        "type": kind_label(d, e),
        "changes": {c.what: [_value(c.a), _value(c.b)] for c in e.changes},
        "params": list(e.params), "macs": [_num(m) for m in e.macs],
        "activations_bytes": [_num(D.times(x, BYTES_PER_ELEMENT)) for x in e.activations],
    }
    if e.moved:
        out["moved"] = True
    return out


def to_dict(d: Diff, labels: tuple[str, str]) -> dict[str, Any]:
    sides = {}
    for key, g, label in (("a", d.a, labels[0]), ("b", d.b, labels[1])):
        sides[key] = {"spec": label, "network": g.network,
                      "arguments": {k: _value(v) for k, v in g.params.items()}}
    counts = d.counts()
    return {
        **sides,
        "counts": counts,
        "totals": {k: {"a": _num(a), "b": _num(b), "delta": _num(delta(a, b))}
                   for k, a, b in totals_rows(d)},
        "outputs": {k: {"a": _value(sa), "b": _value(sb)} for k, sa, sb in outputs(d)},
        "entries": [_entry_json(d, e) for e in shown(d)],
    }


def render_json(d: Diff, labels: tuple[str, str]) -> str:
    return json.dumps(to_dict(d, labels), indent=2, ensure_ascii=False) + "\n"


# ---- DOT ------------------------------------------------------------------------------------

#: Fill and border of each status in the union graph (unchanged layers keep their op
#: family's fill, see archlang.backends.graphviz.FAMILY_COLORS).
DOT_COLORS = {CHANGED: ("#ffe599", "#b45f06"), RENAMED: (None, "#0b5394"),
              ADDED: ("#b6d7a8", "#38761d"), REMOVED: ("#f4cccc", "#cc0000")}


class UnionGraph:
    """Both networks in one drawing: aligned layers are one box, a layer only in A is red
    and dashed, one only in B green, a changed one amber (its changes under its name); edges
    only in A are red and dashed, only in B green. A scope in which nothing differs is folded
    into one grey box."""

    def __init__(self, d: Diff, labels: tuple[str, str], direction: str = "TB"):
        self.d, self.labels, self.direction = d, labels, direction
        self.rep: list[dict[int, str]] = [{}, {}]  # node id of each side -> DOT id

    def source(self) -> str:
        from archlang.backends.graphviz import dot_string, html

        d = self.d
        name = f"{d.a.network} vs {d.b.network}"
        out = [f"// archlang diff of {dot_string(d.a.network)} and {dot_string(d.b.network)}",
               f"digraph {dot_string(name)} {{"]
        counts = d.counts()
        summary = ", ".join(f"{counts[s]} {s}" for s in (CHANGED, RENAMED, ADDED, REMOVED)
                            if counts[s]) or "no differences"
        label = (f"<B>{html(title(d.a, self.labels[0], d.b))}</B>"
                 f' <FONT COLOR="#cc0000">(red: only here)</FONT><BR/>'
                 f"<B>{html(title(d.b, self.labels[1], d.a))}</B>"
                 f' <FONT COLOR="#38761d">(green: only here)</FONT><BR/>'
                 f'<FONT POINT-SIZE="9">{html(summary)}</FONT>')
        out.append(f'  graph [rankdir={self.direction}, fontname="Helvetica", fontsize=12, '
                   f'labelloc=t, nodesep=0.25, ranksep=0.3, label=<{label}>];')
        out.append('  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", '
                   'color="#555555", fillcolor="#ffffff", height=0.3, margin="0.08,0.03"];')
        out.append('  edge [fontname="Helvetica", fontsize=8, fontcolor="#555555", '
                   'color="#666666", arrowsize=0.6];')
        self._children(d.root, out, "  ", [0])
        out.extend(self._outputs())
        out.extend(self._edges())
        out.append("}")
        return "\n".join(out) + "\n"

    def _map(self, e: Entry, dot_id: str) -> None:
        for x in e.walk():
            if x.kind == "node":
                if x.a is not None:
                    self.rep[0][x.a] = dot_id
                if x.b is not None:
                    self.rep[1][x.b] = dot_id

    def _children(self, e: Entry, out: list[str], ind: str, counter: list[int]) -> None:
        for c in e.children:
            counter[0] += 1
            k = counter[0]
            if c.kind == "node":
                self._map(c, f"n{k}")
                out.append(ind + self._node(c, f"n{k}"))
            elif c.status == SAME:
                self._map(c, f"s{k}")
                out.append(ind + self._folded(c, f"s{k}"))
            else:
                out.append(f"{ind}subgraph cluster_{k} {{")
                out.append(f"{ind}  graph [{self._cluster(c)}];")
                self._children(c, out, ind + "  ", counter)
                out.append(f"{ind}}}")

    def _cluster(self, e: Entry) -> str:
        from archlang.backends.graphviz import display_name, html

        path = (e.b_name or e.a_name).split(".")
        text = f"<B>{html(display_name(tuple(path)))}</B>"
        kind = kind_label(self.d, e)
        if kind != "group":
            text += f": {html(kind)}"
        extra = [c.text() for c in e.changes if c.what == "block"]
        if extra:
            text += "<BR/>" + f'<FONT POINT-SIZE="8">{html("; ".join(extra))}</FONT>'
        color = DOT_COLORS.get(e.status, (None, "#9aa5b1"))[1]
        dashed = ",dashed" if e.status == REMOVED else ""
        return (f'label=<{text}>, style="rounded{dashed}", color="{color}", fontsize=10, '
                f'labeljust=l')

    def _folded(self, e: Entry, dot_id: str) -> str:
        from archlang.backends.graphviz import FAMILY_COLORS, display_name, html

        path = tuple((e.b_name or e.a_name).split("."))
        n = sum(1 for x in e.walk() if x.kind == "node")
        label = (f"<B>{html(display_name(path))}</B><BR/>{html(kind_label(self.d, e))}<BR/>"
                 f'<FONT POINT-SIZE="8" COLOR="#555555">same: {n} layers, '
                 f"{html(D.fmt_count(e.params[1]))} params</FONT>")
        return (f'{dot_id} [label=<{label}>, shape=box3d, style="filled", '
                f'fillcolor="{FAMILY_COLORS["block"]}"];')

    def _node(self, e: Entry, dot_id: str) -> str:
        from archlang.backends.graphviz import FAMILY_COLORS, html, quote_tooltip

        g, i = _graph(self.d, e)
        n = g.nodes[i]
        op = n.impl
        fill = FAMILY_COLORS.get(op.family, FAMILY_COLORS["other"])
        name = short_name(e)
        lines = [] if g.local("node", i).isdigit() and e.status != RENAMED else [f"<B>{html(name)}</B>"]
        lines.append(html(kind_label(self.d, e)))
        for c in e.changes:
            if c.what != "name":
                lines.append(f'<FONT POINT-SIZE="8">{html(c.text())}</FONT>')
        style, attrs = "rounded,filled", ""
        if e.status != SAME:
            status_fill, border = DOT_COLORS[e.status]
            fill = status_fill or fill
            attrs = f', color="{border}", penwidth=2'
            if e.status == REMOVED:
                style += ",dashed"
        shape = ", shape=invhouse" if op.source else ""
        tip = f"{e.status}: {e.a_name or '-'} → {e.b_name or '-'}"
        return (f'{dot_id} [label=<{"<BR/>".join(lines)}>{shape}, style="{style}", '
                f'fillcolor="{fill}"{attrs}, tooltip={quote_tooltip(tip)}];')

    def _outputs(self) -> list[str]:
        from archlang.backends.graphviz import FAMILY_COLORS, html

        out = []
        for k, (name, sa, sb) in enumerate(outputs(self.d)):
            status = SAME if sa == sb else ADDED if sa is None else REMOVED if sb is None \
                else CHANGED
            attrs = ""
            if status != SAME:
                attrs = f', color="{DOT_COLORS[status][1]}", penwidth=2'
            out.append(f'  out{k} [label=<<B>{html(name)}</B>>, shape=house, style="filled", '
                       f'fillcolor="{FAMILY_COLORS["output"]}"{attrs}];')
        return out

    def _edges(self) -> list[str]:
        from archlang.backends.graphviz import quote

        edges: dict[tuple[str, str], list] = {}  # (src, dst) -> [shape in A, shape in B]
        for side, g in enumerate((self.d.a, self.d.b)):
            rep = self.rep[side]
            for n in g.nodes:
                for i in n.inputs:
                    src, dst = rep.get(i), rep.get(n.id)
                    if src is None or dst is None or src == dst:
                        continue
                    edges.setdefault((src, dst), [None, None])[side] = g.nodes[i].shape
            names = [name for name, _, _ in outputs(self.d)]
            for o in g.outputs:
                src = rep.get(o.node)
                if src is not None:
                    key = (src, f"out{names.index(o.name)}")
                    edges.setdefault(key, [None, None])[side] = g.nodes[o.node].shape
        lines = []
        for (src, dst), (sa, sb) in edges.items():
            if sa is not None and sb is not None:
                text = D.fmt_shape(sb) if sa == sb else \
                    f"{D.fmt_shape(sa)} → {D.fmt_shape(sb)}"
                style = "" if sa == sb else f', color="{DOT_COLORS[CHANGED][1]}"'
            elif sb is not None:
                text, style = D.fmt_shape(sb), f', color="{DOT_COLORS[ADDED][1]}"'
            else:
                text, style = D.fmt_shape(sa), f', color="{DOT_COLORS[REMOVED][1]}", style=dashed'
            lines.append(f"  {src} -> {dst} [label={quote(text)}{style}];")
        return lines


def render_dot(d: Diff, labels: tuple[str, str], direction: str = "TB") -> str:
    return UnionGraph(d, labels, direction).source()


FORMATS = ("text", "json", "dot", "svg")


def render(d: Diff, labels: tuple[str, str], format: str = "text", color: bool = False,
           width: int = 120) -> str | bytes:
    """The diff as ``text`` (a table), ``json``, ``dot`` (DOT text) or ``svg`` (rendered by
    Graphviz's ``dot``: raises :class:`~archlang.backends.graphviz.DotNotFound` without it)."""
    if format == "text":
        return render_text(d, labels, color=color, width=width)
    if format == "json":
        return render_json(d, labels)
    if format == "dot":
        return render_dot(d, labels)
    if format == "svg":
        from archlang.backends.graphviz import pipe_dot

        return pipe_dot(render_dot(d, labels), "svg")
    raise ValueError(f"unknown format {format!r}")
