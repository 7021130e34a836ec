"""Regenerate the op table of docs/ops.md from the registry (tests check it is current)."""

from __future__ import annotations

import sys
from pathlib import Path

from archlang.graph.values import show
from archlang.ops.registry import ORIGINS, layer_ops

DOC = Path(__file__).resolve().parent.parent / "docs" / "ops.md"
BEGIN, END = "<!-- ops:begin -->", "<!-- ops:end -->"


def table() -> str:
    head = "| op | arguments (positional first; after `*`, keyword-only) | inputs | family | "
    lines = [head + "what it does |", "|---|---|---|---|---|"]
    for op in (op for op in layer_ops() if op.name not in ORIGINS):  # built-in ops only
        name = op.name
        fields = op.attrs.model_fields
        rest = [f for f in fields if f not in op.positional]
        order = [*op.positional, *(["*"] if rest else []), *rest]
        args = ", ".join(f if f == "*" or fields[f].is_required() else
                         f"{f}={show(fields[f].default)}" for f in order)
        aliases = f" (also `{'`, `'.join(op.aliases)}`)" if op.aliases else ""
        low, high = op.inputs
        arity = str(low) if low == high else f"{low}+"
        lines.append(f"| `{name}`{aliases} | {args or '—'} | {arity} | {op.family} | {op.doc} |")
    return "\n".join(lines)


def render(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    new = render(DOC.read_text())
    if "--check" in sys.argv:
        sys.exit(0 if new == DOC.read_text() else 1)
    DOC.write_text(new)
