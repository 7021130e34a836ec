"""Names in the generated code: which spec names may name an input, output or layer, and
the names of a scope's items (their labels, or their index)."""

from __future__ import annotations

import keyword

from archlang.diagnostics import Frame, Reporter, SpecError
from archlang.graph.model import Scope
from archlang.names import MODULE_ATTRS, RESERVED
from archlang.source import Span


def check_identifier(name: str, span: Span | None, what: str) -> None:
    """Input and output names become Python identifiers in the generated code."""
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name.startswith("_") \
            or name in RESERVED - {"x"}:
        why = "a Python keyword" if keyword.iskeyword(name) or keyword.issoftkeyword(name) \
            else "reserved (names may not start with `_`)" if name.startswith("_") \
            else "reserved by the generated code"
        raise SpecError("E018", f"`{name}` cannot name {what}: it is {why}", span,
                        "invalid name", help=[f"rename it, e.g. `{name.strip('_') or 'value'}_1`"])


def layer_name_problem(label: str) -> str | None:
    """Why a label cannot name a layer (a module attribute in the generated code), if so.

    Every private attribute of torch.nn.Module (_modules, _call_impl, _apply...) starts with
    `_`: such names are all refused, so no torch release can add one that a spec's name
    replaces.
    """
    if keyword.iskeyword(label):
        return "a Python keyword"
    if label.startswith("_"):
        return "reserved (names may not start with `_`)"
    if label in RESERVED:
        return "a name the generated code uses"
    if label in MODULE_ATTRS:
        return "an attribute of torch.nn.Module"
    return None


class Namer:
    """Names the items of one scope: labels, or their index among the scope's items."""

    def __init__(self, scope: Scope):
        self.scope = scope
        self.index = 0
        self.labels: dict[str, Span] = {}
        self.implicit_names: set[str] = set()

    def name(self, label: str | None, span: Span | None, rep: Reporter,
             chain: tuple[Frame, ...]) -> str:
        self.index += 1
        if label is None:
            return str(self.index - 1)
        if label in self.labels:
            rep.error("E013", f"`{label}` is already the name of a layer in this scope", span,
                      "second use of this name", notes=[f"first used at {self.labels[label]}"],
                      help=["give each layer in a block its own name; inside loops, leave "
                            "layers unnamed, compute the name (`conv{i}: ...`) or wrap "
                            "them in a named group"], chain=chain)
            return f"{label}_{self.index - 1}"
        why = layer_name_problem(label)
        if why is not None:
            fix = f"{label}_" if not label.startswith("_") else f"{label.strip('_') or 'layer'}_"
            rep.error("E018", f"`{label}` cannot name a layer: it is {why}", span,
                      "invalid layer name", help=[f"rename it, e.g. `{fix}`"], chain=chain)
        self.labels[label] = span
        return label

    def implicit(self, base: str) -> str:
        name, k = base, 1
        while name in self.implicit_names:
            name, k = f"{base}_{k}", k + 1
        self.implicit_names.add(name)
        return name
