"""Names in the generated code: which spec names may name an input, output or layer, and
the names of a scope's items (their labels, or their index)."""

from __future__ import annotations

import keyword
from dataclasses import dataclass

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


def _a(kind: str) -> str:
    """``a layer``, ``an instance of `B```: the kind with its article."""
    return f"a{'n' if kind[0] in 'aeiou' else ''} {kind}"


def _before_dot(span: Span | None) -> Span | None:
    """The list's name in the span of ``convs.{i}``."""
    if span is None or "." not in span.text:
        return span
    return span.source.span(span.start, span.start + span.text.rindex("."))


@dataclass
class Label:
    """How a link names what it makes: ``conv1: ...`` (``name``), ``convs.{i}: ...`` (an item
    of the list ``name`` at ``index``), ``_: ...`` (``unnumbered``), or nothing (a number)."""

    name: str | None
    span: Span | None
    index: int | None = None
    unnumbered: bool = False

    @property
    def binds(self) -> str | None:
        """The value name it binds: a layer's label; a list item binds none."""
        return self.name if self.index is None else None


class Namer:
    """Names the items of one scope: labels, or their index among the scope's items.

    An item named ``convs.{i}`` belongs to the list ``convs`` of the scope (torch's
    ``nn.ModuleList``): the first one makes the list, a name of the scope like any other,
    and each later one reopens it with the next index. Items and lists are applied where
    they are written, so two lists may interleave (Res2Net's ``convs.{i}`` and ``bns.{i}``).
    """

    def __init__(self, scope: Scope):
        self.scope = scope
        self.index = 0
        self.labels: dict[str, Span] = {}
        self.kinds: dict[str, str] = {}  # what each label names: "layer", "group", "list"...
        #: the scope's lists (``convs.{i}: ...``): where each item was given, by index
        self.lists: dict[str, list[Span | None]] = {}
        self.implicit_names: set[str] = set()

    def local(self, label: Label, rep: Reporter, chain: tuple[Frame, ...],
              what: str = "layer") -> tuple[str, ...]:
        """The path of an item inside this scope: ``("conv1",)``, ``("3",)`` or
        ``("convs", "0")``; ``what`` says what it is ("layer", "group", "instance of `B`")."""
        if label.index is not None:
            return self.item(label, rep, chain)
        return (self.name(label.name, label.span, rep, chain, what),)

    def name(self, label: str | None, span: Span | None, rep: Reporter,
             chain: tuple[Frame, ...], what: str = "layer") -> str:
        self.index += 1
        if label is None:
            return str(self.index - 1)
        if label in self.labels:
            kind = self.kinds.get(label, "layer")
            fix = [(f"add an item to the list: `{label}.{len(self.lists[label])}: ...`, "
                    "or rename the layer")] if label in self.lists else [
                ("give each layer in a block its own name; inside loops, leave layers unnamed, "
                 "compute the name (`conv{i}: ...`) or wrap them in a named group")]
            rep.error("E013", f"`{label}` is already the name of {_a(kind)} in this scope",
                      span, "second use of this name",
                      notes=[f"first used at {self.labels[label]}"], help=fix, chain=chain)
            return f"{label}_{self.index - 1}"
        self.check(label, span, rep, chain)
        self.labels[label], self.kinds[label] = span, what
        return label

    def check(self, label: str, span: Span | None, rep: Reporter,
              chain: tuple[Frame, ...]) -> None:
        why = layer_name_problem(label)
        if why is not None:
            fix = f"{label}_" if not label.startswith("_") else f"{label.strip('_') or 'layer'}_"
            rep.error("E018", f"`{label}` cannot name a layer: it is {why}", span,
                      "invalid layer name", help=[f"rename it, e.g. `{fix}`"], chain=chain)

    def item(self, label: Label, rep: Reporter, chain: tuple[Frame, ...]) -> tuple[str, str]:
        """``convs.{i}``: item ``i`` of the list ``convs``, which must be its next index."""
        name, index, span = label.name, label.index, label.span
        items = self.lists.get(name)
        if items is None:
            if name in self.labels:
                kind = self.kinds.get(name, "layer")
                rep.error("E013", f"`{name}` names {_a(kind)} in this scope, not a list",
                          span, "not a list",
                          notes=[f"`{name}` is defined at {self.labels[name]}"],
                          help=[(f"a list is made by its items alone (`{name}.0: ...`, "
                                 f"`{name}.1: ...`): rename the {kind.split()[0]} or the list")]
                          + ([f"a group's items are written inside it: `{name}: {{ ... }}`"]
                             if kind == "group" else []), chain=chain)
                return (f"{name}_{self.index}", str(index))
            self.index += 1  # the list is one item of its scope, where it is first used
            self.check(name, _before_dot(span), rep, chain)
            self.labels[name], self.kinds[name] = span, "list"
            items = self.lists[name] = []
        n = len(items)
        if 0 <= index < n:
            first = items[index]
            rep.error("E013", f"`{name}.{index}` is already an item of the list `{name}`", span,
                      "second item with this index",
                      notes=[f"first given at {first}"] if first is not None else [],
                      help=[(f"the next item of `{name}` is `{name}.{n}`; each item has its "
                             "own index")], chain=chain)
            return (name, f"{index}_{n}")
        if index != n:
            has = f"which has {n} item{'s' if n != 1 else ''}" if n else \
                f"which starts at `{name}.0`"
            rep.error("E018", f"`{name}.{index}` is not the next item of the list `{name}`, "
                      f"{has}", span, f"expected `{name}.{n}`",
                      help=[("number a list's items 0, 1, 2, ... in the order they are "
                             "applied, as torch.nn.ModuleList numbers them")], chain=chain)
            if index < 0:
                return (name, f"_{-index}")
            items += [None] * (index - n)  # one error for a list that starts late
        items.append(span)
        return (name, str(index))

    def implicit(self, base: str) -> str:
        name, k = base, 1
        while name in self.implicit_names or name in self.labels:
            name, k = f"{base}_{k}", k + 1
        self.implicit_names.add(name)
        return name
