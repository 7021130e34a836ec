"""How a network's size grows with its parameters: one check per point of a grid of values,
and where the cost goes, stage by stage.

>>> split_values("16,32,64")
['16', '32', '64']
>>> split_values("[2, 2, 2, 2],[3, 4, 6, 3]")
['[2, 2, 2, 2]', '[3, 4, 6, 3]']
>>> [p for p in grid(("width=16,32", "depth=2,3"))]
[('width=16', 'depth=2'), ('width=16', 'depth=3'), ('width=32', 'depth=2'), ('width=32', 'depth=3')]

A ``--set NAME=V1,V2,...`` value is split at the commas outside brackets, parentheses and
quotes, so list values sweep too (``--set layers=[2,2,2,2],[3,4,6,3]``); each piece is an
archlang expression, as for every other command. The grid is the product of the lists, the
first parameter varying slowest. Each point is checked like ``archlang check --set ...``
would; a point whose spec has errors keeps its first error and the others go on.

Figures per point (``archlang.analysis.report``): parameters, MACs, the activation memory of
a sample (every layer's output, float32), the inference peak, and for a symbolic input the
constraints on its sizes and the smallest sizes they admit. With a symbolic input the MACs
and memory are polynomials; plots take them at the smallest input.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archlang.analysis import dims as D
from archlang.analysis.dims import Count
from archlang.analysis.report import BYTES_PER_ELEMENT


def split_values(text: str) -> list[str]:
    """The comma-separated values of ``text``, commas inside ``[] () {}`` or quotes kept."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def axes(sets: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """``("width=16,32",)`` → ``[("width", ["16", "32"])]``; a NAME given twice keeps the
    later values, and an item without ``=`` is kept whole (the check reports it)."""
    out: dict[str, list[str]] = {}
    for item in sets:
        name, sep, values = item.partition("=")
        out[name.strip() if sep else item] = split_values(values) if sep else [""]
    return list(out.items())


def grid(sets: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every point of the grid as ``--set`` items (``NAME=VALUE``)."""
    ax = axes(sets)
    return [tuple(f"{name}={v}" if v else name for (name, _), v in zip(ax, combo))
            for combo in itertools.product(*(values for _, values in ax))]


@dataclass
class Point:
    """One point of the grid: the values as written, and its figures or its first error."""

    values: dict[str, str]
    params: int = 0
    macs: Count = 0
    activations_bytes: Count = 0
    peak_bytes: Count = 0
    inputs: dict[str, tuple] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)
    smallest_input: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def at_smallest(self, c: Count) -> int:
        """A count as a number: itself, or a polynomial at the smallest input."""
        return D.count_at(c, self.smallest_input) if not isinstance(c, int) else c


def sweep(sets: tuple[str, ...], check: Callable[[tuple[str, ...]], Any]) -> list[Point]:
    """Check every point of the grid with ``check(items)`` (a
    :class:`~archlang.api.CheckResult`, or an :class:`~archlang.diagnostics.ArchError`
    raised for a spec with errors)."""
    from archlang.diagnostics import ArchError

    points = []
    for items in grid(sets):
        values = dict(item.partition("=")[::2] for item in items)
        p = Point(values)
        try:
            result = check(items)
        except ArchError as e:
            errors = [d for d in e.diagnostics if d.severity == "error"]
            if all(d.span is None for d in errors):
                raise  # the command line is wrong, not one point
            p.error = f"error[{errors[0].code}]: {errors[0].message}"
            points.append(p)
            continue
        t, g = result.totals, result.graph
        p.params, p.macs = t.params, t.macs
        p.activations_bytes = D.times(t.activations, BYTES_PER_ELEMENT)
        p.peak_bytes = D.times(t.peak_inference, BYTES_PER_ELEMENT)
        p.inputs = {name: g.nodes[i].shape for name, i in g.inputs.items()}
        p.constraints, p.smallest_input = dict(t.constraints), dict(t.smallest_input)
        points.append(p)
    return points


@dataclass
class Stage:
    """A top-level item of a network (a block instance, a group or a layer) and its cost."""

    name: str
    kind: str
    params: int
    macs: Count
    activations_bytes: Count


def stages(result) -> list[Stage]:
    """The network's top-level items (inputs left out), each with the totals below it."""
    g = result.graph
    out = []
    for kind, i in g.scopes[0].items:
        if kind == "node":
            n = g.nodes[i]
            if n.is_input:
                continue
            nodes, name = [n], n.name
            label = n.op
        else:
            s = g.scopes[i]
            nodes = [n for n in g.nodes if i in g.lineage(n.scope)]
            name, label = ".".join(s.path), s.name if s.kind == "block" else "group"
        macs: Count = 0
        act: Count = 0
        for n in nodes:
            macs = D.plus(macs, n.macs)
            act = D.plus(act, D.product(n.shape or ()))
        out.append(Stage(name, label, sum(n.params for n in nodes), macs,
                         D.times(act, BYTES_PER_ELEMENT)))
    return out


