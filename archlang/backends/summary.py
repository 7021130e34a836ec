"""Summary backend: a layer table in the spirit of torchinfo, computed statically.

Rows follow the spec's own structure (block instances, named groups, layers) to a chosen
depth; folded rows carry the totals of everything below them. ``table`` is for people,
``json`` and ``csv`` for tools.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archlang.analysis import dims as D
from archlang.analysis.dims import Count
from archlang.analysis.report import BYTES_PER_ELEMENT

if TYPE_CHECKING:
    from archlang.api import CheckResult


@dataclass
class Row:
    name: str  # dotted module path
    label: str  # last path component
    kind: str  # op label, or block name for block instances
    depth: int
    shape: tuple | None
    params: int
    macs: Count
    training_only: bool
    folded: bool = False


def rows(result: CheckResult, depth: int) -> list[Row]:
    g = result.graph
    sub_params = [0] * len(g.scopes)
    sub_macs: list[Count] = [0] * len(g.scopes)
    for n in g.nodes:
        s = n.scope
        while s is not None:
            sub_params[s] += n.params
            sub_macs[s] = D.plus(sub_macs[s], n.macs)
            s = g.scopes[s].parent
    out: list[Row] = []

    def walk(scope_id: int, level: int) -> None:
        for kind, i in g.scopes[scope_id].items:
            if kind == "node":
                n = g.nodes[i]
                if n.is_input:
                    continue
                op = n.impl
                ins = [g.nodes[j].shape for j in n.inputs]
                label = op.label(n.attrs, ins) if n.shape is not None else n.op
                out.append(Row(n.name, n.path[-1], label, level, n.shape, n.params, n.macs,
                               n.training_only))
            else:
                s = g.scopes[i]
                shape = g.nodes[s.output].shape if s.output is not None else None
                kind_name = s.name if s.kind == "block" else "group"
                folded = level >= depth
                out.append(Row(".".join(s.path), s.path[-1], kind_name, level, shape,
                               sub_params[i], sub_macs[i], s.training_only, folded))
                if not folded:
                    walk(i, level + 1)

    walk(0, 1)
    return out


def _human(n: int, unit: str = "") -> str:
    for threshold, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= threshold:
            return f"{n / threshold:.2f} {suffix}{unit}"
    return f"{n} {unit}".rstrip()


def _bytes(c: Count) -> str:
    if isinstance(c, int):
        return f"{c / 2**20:,.2f} MiB"
    return f"{c} bytes"


def to_dict(result: CheckResult, depth: int) -> dict[str, Any]:
    t = result.totals
    g = result.graph

    def num(c: Count):
        return c if isinstance(c, int) else str(c)

    return {
        "network": g.network,
        "arguments": {k: _jsonable(v) for k, v in g.params.items()},
        "inputs": {name: [num(d) if isinstance(d, int) else str(d) for d in g.nodes[i].shape]
                   for name, i in g.inputs.items()},
        "params": t.params,
        "params_inference": t.params_inference,
        "buffers": t.buffers,
        "macs": num(t.macs),
        "macs_train": num(t.macs_train),
        "flops": num(t.flops),
        "activations_bytes": num(D.times(t.activations, BYTES_PER_ELEMENT)),
        "peak_inference_bytes": num(D.times(t.peak_inference, BYTES_PER_ELEMENT)),
        "outputs": {k: [d if isinstance(d, int) else str(d) for d in v]
                    for k, v in t.outputs.items()},
        "training_outputs": list(t.training_outputs),
        "constraints": dict(t.constraints),
        "smallest_input": dict(t.smallest_input),
        "layers": [
            {"name": r.name, "type": r.kind, "depth": r.depth,
             "shape": [d if isinstance(d, int) else str(d) for d in r.shape]
             if r.shape is not None else None,
             "params": r.params, "macs": num(r.macs), "training_only": r.training_only}
            for r in rows(result, depth)
        ],
    }


def _jsonable(v):
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


def render(result: CheckResult, depth: int = 2, format: str = "table", width: int = 120) -> str:
    if format == "json":
        return json.dumps(to_dict(result, depth), indent=2) + "\n"
    if format == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["name", "type", "depth", "shape", "params", "macs", "training_only"])
        for r in rows(result, depth):
            w.writerow([r.name, r.kind, r.depth,
                        "x".join(str(d) for d in r.shape) if r.shape is not None else "",
                        r.params, r.macs if isinstance(r.macs, int) else str(r.macs),
                        str(r.training_only).lower()])
        return buf.getvalue()
    if format != "table":
        raise ValueError(f"unknown format {format!r}")
    return _table(result, depth, width)


def _table(result: CheckResult, depth: int, width: int) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    t = result.totals
    total_macs = t.macs_train
    table = Table(box=box.SIMPLE_HEAD, title=f"{result.network}", title_justify="left",
                  show_edge=False, pad_edge=False)
    table.add_column("Layer (type)", no_wrap=True)
    table.add_column("Output shape", no_wrap=True)
    table.add_column("Params", justify="right", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    table.add_column("%", justify="right", no_wrap=True)
    shown = rows(result, depth)
    for r in shown:
        indent = "  " * (r.depth - 1)
        name = f"{indent}{r.label} ({r.kind})" + (" …" if r.folded else "")
        if r.training_only:
            name = f"{indent}*{name[len(indent):]}"
        shape = D.fmt_shape(r.shape) if r.shape is not None else "?"
        share = ""
        if isinstance(r.macs, int) and isinstance(total_macs, int) and total_macs:
            share = f"{100 * r.macs / total_macs:.1f}" if r.macs else ""
        table.add_row(name, shape, f"{r.params:,}" if r.params else "-",
                      D.fmt_count(r.macs) if r.macs else "-", share)
    buf = io.StringIO()
    console = Console(file=buf, width=max(width, 60), color_system=None, force_terminal=False,
                      legacy_windows=False, soft_wrap=True, markup=False, emoji=False,
                      highlight=False)
    console.print(table)
    lines = [buf.getvalue().rstrip("\n"), ""]
    if any(r.training_only for r in shown):
        lines.insert(1, "* used only in training (computed only when the module is training)")
    g = result.graph
    for name, i in g.inputs.items():
        lines.append(f"Input {name}: {D.fmt_shape(g.nodes[i].shape, 'N')}")
    lines.append(f"Params: {t.params:,}" + (f" (inference: {t.params_inference:,}; the rest is "
                                              f"used only by training outputs)"
                                              if t.params_inference != t.params else ""))
    lines.append(f"Buffers: {t.buffers:,}")
    if isinstance(t.macs, int):
        lines.append(f"MACs: {t.macs:,} ({_human(t.macs)}), FLOPs: {_human(2 * t.macs)}")
    else:
        lines.append(f"MACs: {t.macs}")
    if t.training_outputs:
        lines.append(f"MACs with training outputs ({', '.join(t.training_outputs)}): "
                     f"{D.fmt_count(t.macs_train)}")
    lines.append(f"Activations per sample (float32): {_bytes(D.times(t.activations, 4))}; "
                 f"inference peak {_bytes(D.times(t.peak_inference, 4))}")
    for name, text in t.constraints.items():
        smallest = t.smallest_input.get(name)
        lines.append(f"Input size: {text}" + (f" (smallest: {name} = {smallest})"
                                              if smallest is not None else ""))
    return "\n".join(line.rstrip() for line in lines) + "\n"
