"""What the passes share: the spec and options, the diagnostics, and what each pass made.

:func:`archlang.api.run` creates one :class:`Run` and hands it to each pass of
``archlang.api.PASSES`` in turn; a pass reads what earlier ones made and adds its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archlang.diagnostics import Reporter
from archlang.limits import Limits
from archlang.source import Span

if TYPE_CHECKING:
    from archlang.graph.model import Graph
    from archlang.graph.values import Budget, InitSpec
    from archlang.program import Program


@dataclass
class Options:
    network: str | None = None
    params: dict[str, Any] | None = None
    inputs: dict[str, tuple[int, ...]] | None = None


@dataclass
class InitRule:
    """An ``init`` statement: the scope it was written in, its target and initialiser."""

    scope: int
    target: list[str]
    spec: InitSpec
    span: Span


@dataclass
class Run:
    spec: str | os.PathLike
    options: Options
    limits: Limits
    rep: Reporter = field(default_factory=Reporter)
    prog: Program | None = None
    graph: Graph | None = None
    budget: Budget | None = None
    #: the ``init`` statements met while expanding, for the inits pass
    inits: list[InitRule] = field(default_factory=list)
    #: the order an ``outputs a, b`` statement gives, for the verify pass
    order: list[tuple[str, Span]] | None = None
    #: set by a pass after which the next ones have nothing to work on
    done: bool = False

    @property
    def failed(self) -> bool:
        return self.rep.failed
