"""Solve the size constraints of a graph: what the symbolic input sizes must satisfy.

Shape rules return equalities of symbolic sizes as data (:class:`archlang.ops.base.Agree`);
this pass intersects them, per symbol, into ``x % period in residues``, and adds the lower
bound that keeps every size of the graph positive. Enumerating residues is work, charged to
the run's budget like any other.
"""

from __future__ import annotations

import math

from archlang.analysis import dims as D
from archlang.analysis.dims import Sym
from archlang.diagnostics import SpecError
from archlang.graph.model import Constraint, Graph, Node
from archlang.graph.state import Run
from archlang.graph.values import Budget
from archlang.ops.base import Agree

#: The longest cycle of input sizes whose agreement the solver enumerates.
MAX_PERIOD = 1 << 16


def solve(run: Run) -> None:
    """The solve pass: every node's size equalities recorded in ``graph.constraints`` (an
    unsatisfiable one is reported at its node), then, on a graph without errors, the lower
    bounds."""
    graph, rep, budget = run.graph, run.rep, run.budget
    for n in graph.nodes:
        for eq in n.agree:
            try:
                _agree(graph, eq, budget, n)
            except SpecError as e:
                n.error = rep.add(e, n.chain, n.span)
                break
    if not rep.failed:
        _lower_bounds(graph)


def _agree(graph: Graph, eq: Agree, budget: Budget, n: Node) -> None:
    x, y = eq.x, eq.y
    assert isinstance(x, Sym) and isinstance(y, Sym) and x.name == y.name
    known = graph.constraints.get(x.name)
    period = math.lcm(x.m, y.m, known.period if known is not None else 1)
    if period > MAX_PERIOD:
        raise SpecError("E025", f"whether `{x}` and `{y}` agree depends on the input size "
                        f"modulo {period}, too large to check", label="size is symbolic here",
                        help=["give a concrete input size with --input, or use smaller strides"])
    budget.spend(math.lcm(x.m, y.m), n.span)
    agree = D.agreeing_residues(x, y)
    if agree is None or not agree[1]:
        raise eq.error
    period, residues = agree
    c = graph.constraints.setdefault(x.name, Constraint(x.name))
    new_period = math.lcm(c.period, period)
    budget.spend(new_period, n.span)
    both = frozenset(r for r in range(new_period)
                     if r % c.period in c.residues and r % period in residues)
    if not both:  # each holds for some sizes, but not with what earlier layers need
        e = eq.error
        raise SpecError(e.code, e.message, e.span, e.label, notes=[
            *e.notes, (f"it needs `{x}` and `{y}` to agree, which no size that earlier "
                       f"layers allow does ({c.describe()})")], help=e.help, arg=e.arg)
    c.residues, c.period = both, new_period


def _lower_bounds(graph: Graph) -> None:
    """Lower bounds of every symbol so that every size is at least 1."""
    for n in graph.nodes:
        for d in n.shape or ():
            if isinstance(d, Sym):
                c = graph.constraints.setdefault(d.name, Constraint(d.name))
                low = d.min_arg(1)
                if low > c.lower:
                    c.lower, c.lower_span = low, n.span
