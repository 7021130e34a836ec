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
from archlang.analysis import receptive
from archlang.analysis.dims import Count
from archlang.analysis.memory import Training, TrainingMemory, training_memory
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
    field: receptive.Field = None  # its output's receptive field
    saved: Count = 0  # bytes its layers' backward keeps (see analysis/memory.py)
    #: a block with several outputs: each one's name and shape (``shape`` is then None)
    ports: list[tuple[str, tuple | None]] | None = None

    def shape_text(self, sep: str = "\n", fmt=D.fmt_shape) -> str:
        """The output shape, or each output's (``name: shape``); ``?`` when unknown."""
        if self.ports:
            return sep.join(f"{name}: {fmt(shape) if shape is not None else '?'}"
                            for name, shape in self.ports)
        return fmt(self.shape) if self.shape is not None else "?"


#: the table's columns, by the name ``--columns`` gives them
COLUMNS = {"shape": "Output shape", "params": "Params", "macs": "MACs", "share": "%",
           "rf": "RF", "stride": "Stride", "centre": "Centre", "saved": "Saved"}
DEFAULT_COLUMNS = ("shape", "params", "macs", "share")


def parse_columns(text: str) -> tuple[str, ...]:
    """``--columns``: names separated by commas; a leading ``+`` adds them to the default
    columns (``+rf,stride``)."""
    extra = text.startswith("+")
    names = tuple(c.strip() for c in text.lstrip("+").split(",") if c.strip())
    unknown = [c for c in names if c not in COLUMNS]
    if unknown or not names:
        raise ValueError(f"unknown column `{unknown[0] if unknown else text}`; choose from "
                         f"{', '.join(COLUMNS)}")
    return tuple(dict.fromkeys((DEFAULT_COLUMNS if extra else ()) + names))


#: the columns that need receptive fields
FIELD_COLUMNS = ("rf", "stride", "centre")


def rows(result: CheckResult, depth: int, memory: TrainingMemory | None = None,
         with_fields: bool = True) -> list[Row]:
    """The summary's rows to ``depth``; ``with_fields=False`` leaves out the receptive fields
    (``Row.field`` None), which only the RF, stride and centre columns show."""
    g = result.graph
    fields = receptive.fields(g) if with_fields else {}
    memory = memory or training_memory(g)
    sub_params = [0] * len(g.scopes)
    sub_macs: list[Count] = [0] * len(g.scopes)
    sub_saved: list[Count] = [0] * len(g.scopes)
    for n in g.nodes:
        saved = memory.saved.get(n.name, 0)
        for s in g.lineage(n.scope):
            sub_params[s] += n.params
            sub_macs[s] = D.plus(sub_macs[s], n.macs)
            sub_saved[s] = D.plus(sub_saved[s], saved)
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
                out.append(Row(n.name, g.local(kind, i), label, level, n.shape, n.params, n.macs,
                               n.training_only, field=fields.get(n.id),
                               saved=memory.saved.get(n.name, 0)))
            else:
                s = g.scopes[i]
                shape = g.nodes[s.output].shape if s.output is not None else None
                kind_name = s.name if s.kind == "block" else "group"
                folded = level >= depth
                ports = g.out_shapes(s) if len(s.outs) > 1 else None
                out.append(Row(".".join(s.path), g.local(kind, i), kind_name, level, shape,
                               sub_params[i], sub_macs[i], s.training_only, folded,
                               fields.get(s.output) if s.output is not None else None,
                               sub_saved[i], ports))
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


def to_dict(result: CheckResult, depth: int, training: Training | None = None
            ) -> dict[str, Any]:
    t = result.totals
    g = result.graph
    memory = training_memory(g, training)

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
        "training_memory": memory.to_dict(),
        "layers": [
            {"name": r.name, "type": r.kind, "depth": r.depth,
             "shape": _json_shape(r.shape),
             **({"outputs": {name: _json_shape(shape) for name, shape in r.ports}}
                if r.ports else {}),
             "params": r.params, "macs": num(r.macs), "training_only": r.training_only,
             "receptive_field": receptive.describe(r.field), "saved_bytes": num(r.saved)}
            for r in rows(result, depth, memory)
        ],
    }


def _json_shape(shape):
    return [d if isinstance(d, int) else str(d) for d in shape] if shape is not None else None


def _jsonable(v):
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


def render(result: CheckResult, depth: int = 2, format: str = "table", width: int = 120,
           columns: tuple[str, ...] | None = None, training: Training | None = None) -> str:
    """The summary. ``columns`` (names of :data:`COLUMNS`) chooses the table's columns and
    adds receptive-field and saved-memory columns to the CSV; ``training`` (a batch, dtype,
    optimizer) adds the training memory to the table and sets the JSON's figures."""
    if format == "json":
        return json.dumps(to_dict(result, depth, training), indent=2) + "\n"
    memory = training_memory(result.graph, training)
    if format == "csv":
        extra = [c for c in columns or () if c in (*FIELD_COLUMNS, "saved")]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["name", "type", "depth", "shape", "params", "macs", "training_only",
                    *extra])
        for r in rows(result, depth, memory, any(c in FIELD_COLUMNS for c in extra)):
            w.writerow([r.name, r.kind, r.depth,
                        r.shape_text(";", lambda sh: "x".join(map(str, sh)))
                        if r.shape is not None or r.ports else "",
                        r.params, r.macs if isinstance(r.macs, int) else str(r.macs),
                        str(r.training_only).lower(),
                        *(cell(r, c, True) for c in extra)])
        return buf.getvalue()
    if format != "table":
        raise ValueError(f"unknown format {format!r}")
    return _table(result, depth, width, columns or DEFAULT_COLUMNS, memory,
                  training is not None)


def cell(r: Row, column: str, plain: bool = False) -> str:
    """A receptive-field or memory cell: ``35`` (or ``35x37`` when the axes differ), ``all``
    for the whole input, ``-`` with no spatial axis."""
    if column == "saved":
        if plain or not isinstance(r.saved, int):
            return str(r.saved)
        return _bytes(r.saved) if r.saved else "-"
    if r.field is None:
        return "all"
    if not r.field:
        return "-"
    if column == "rf":
        values = [str(a.size) for a in r.field]
    elif column == "stride":
        values = [str(a.stride) for a in r.field]
    else:
        values = [receptive.number(a.centre) for a in r.field]
    return values[0] if len(set(values)) == 1 else "x".join(values)


def _table(result: CheckResult, depth: int, width: int, columns: tuple[str, ...],
           memory: TrainingMemory, show_memory: bool) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    t = result.totals
    total_macs = t.macs_train
    table = Table(box=box.SIMPLE_HEAD, title=f"{result.network}", title_justify="left",
                  show_edge=False, pad_edge=False)
    table.add_column("Layer (type)", no_wrap=True)
    for c in columns:
        table.add_column(COLUMNS[c], justify="left" if c == "shape" else "right", no_wrap=True)
    shown = rows(result, depth, memory, any(c in FIELD_COLUMNS for c in columns))
    for r in shown:
        indent = "  " * (r.depth - 1)
        name = f"{indent}{r.label} ({r.kind})" + (" …" if r.folded else "")
        if r.training_only:
            name = f"{indent}*{name[len(indent):]}"
        shape = r.shape_text()
        share = ""
        if isinstance(r.macs, int) and isinstance(total_macs, int) and total_macs:
            share = f"{100 * r.macs / total_macs:.1f}" if r.macs else ""
        cells = {"shape": shape, "params": f"{r.params:,}" if r.params else "-",
                 "macs": D.fmt_count(r.macs) if r.macs else "-", "share": share}
        table.add_row(name, *(cells[c] if c in cells else cell(r, c) for c in columns))
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
    if show_memory:
        lines += memory_lines(memory)
    for name, text in t.constraints.items():
        smallest = t.smallest_input.get(name)
        lines.append(f"Input size: {text}" + (f" (smallest: {name} = {smallest})"
                                              if smallest is not None else ""))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def memory_lines(m: TrainingMemory) -> list[str]:
    s = m.setup
    opt = {"sgd": "SGD", "sgd-momentum": "SGD with momentum", "adam": "Adam",
           "adamw": "AdamW"}[s.optimizer]
    return [f"Training memory (batch {s.batch}, {s.dtype}, {opt}): {_bytes(m.total)}",
            (f"  params {_bytes(m.params)}, buffers {_bytes(m.buffers)}, grads "
             f"{_bytes(m.grads)}, optimizer state {_bytes(m.optimizer_state)}"),
            f"  activations saved for backward {_bytes(m.activations)}"]


def summary_options(columns: str | None, batch: int | None, dtype: str | None,
                    optimizer: str | None, device: str | None
                    ) -> tuple[tuple[str, ...] | None, Training | None]:
    """``archlang summary``'s ``--columns`` and training options: the columns (``None``: the
    default) and the training setup (``None`` when no option names one)."""
    cols = parse_columns(columns) if columns is not None else None
    given = {k: v for k, v in (("batch", batch), ("dtype", dtype), ("optimizer", optimizer),
                               ("device", device)) if v is not None}
    return cols, Training(**given) if given else None
