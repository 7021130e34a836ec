"""The expanded network: op nodes in execution order, the scope tree, inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archlang.analysis.dims import Count
from archlang.diagnostics import Diagnostic, Frame
from archlang.ops.base import Op
from archlang.ops.registry import OPS
from archlang.source import Span


@dataclass
class Node:
    id: int
    op: str  # the op's registry name
    attrs: Any
    inputs: list[int]
    shape: tuple | None  # None when the shape rule failed or an input was poisoned
    path: tuple[str, ...]  # module path: ("layer1", "0", "conv1")
    scope: int
    span: Span
    chain: tuple[Frame, ...] = ()
    implicit: bool = False  # created by concat {...} / residual, not written by the user
    training_only: bool = False
    error: Diagnostic | None = None
    params: int = 0
    buffers: int = 0
    macs: Count = 0
    init: dict[str, Any] = field(default_factory=dict)  # param name -> InitSpec
    value_name: str | None = None  # the name it is bound to with `name = ...`, if any
    #: the name each scope's statements bind it to, by scope id (a block's output: its own
    #: name inside the block, the caller's outside); None when nothing binds it
    bindings: dict[int, str] | None = None
    agree: tuple = ()  # size equalities its shape rule assumes (Agree), see graph/solve.py

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def impl(self) -> Op:
        """The op object (its rules and emitters)."""
        return OPS[self.op]

    @property
    def is_input(self) -> bool:
        return OPS[self.op].source


@dataclass
class Scope:
    """A naming scope: the network, a block instance, or a sequence group."""

    id: int
    kind: str  # "network" | "block" | "seq"
    name: str  # block or network name; "" for sequences
    path: tuple[str, ...]
    parent: int | None
    span: Span
    args: dict[str, Any] = field(default_factory=dict)
    items: list[tuple[str, int]] = field(default_factory=list)  # ("node"|"scope", id)
    input: int | None = None  # the value it is applied to (a block's first input)
    output: int | None = None  # its value; None for a block with several outputs
    chain: tuple[Frame, ...] = ()
    training_only: bool = False
    #: a block's declared inputs and outputs (``input a, b``, ``output y = ...``) as
    #: (name, value), in order; empty when it takes or gives the one value above
    ins: list[tuple[str, int]] = field(default_factory=list)
    outs: list[tuple[str, int]] = field(default_factory=list)

    @property
    def inputs(self) -> list[int]:
        """The values its module's ``forward`` receives, in order."""
        if self.ins:
            return [v for _, v in self.ins]
        return [] if self.input is None else [self.input]

    @property
    def outputs(self) -> list[int]:
        """The values its module's ``forward`` returns, in order."""
        if self.outs:
            return [v for _, v in self.outs]
        return [] if self.output is None else [self.output]


@dataclass
class Output:
    name: str
    node: int
    training: bool
    span: Span


@dataclass
class Constraint:
    """What a symbol must satisfy: ``x >= lower`` and ``x % period in residues``."""

    symbol: str
    lower: int = 1
    lower_span: Span | None = None
    period: int = 1
    residues: frozenset[int] = frozenset({0})
    residue_spans: list[Span] = field(default_factory=list)

    def smallest(self) -> int | None:
        for x in range(self.lower, self.lower + self.period):
            if x % self.period in self.residues:
                return x
        return None

    def admits(self, x: int) -> bool:
        return x >= self.lower and x % self.period in self.residues

    def describe(self) -> str:
        parts = [f"{self.symbol} >= {self.lower}"]
        if self.period > 1:
            if len(self.residues) == 1:
                (r,) = self.residues
                parts.append(f"{self.symbol} % {self.period} == {r}" if r else
                             f"{self.symbol} divisible by {self.period}")
            else:
                rs = ", ".join(map(str, sorted(self.residues)))
                parts.append(f"{self.symbol} % {self.period} in {{{rs}}}")
        return " and ".join(parts)


@dataclass
class Graph:
    network: str
    source_name: str
    nodes: list[Node] = field(default_factory=list)
    scopes: list[Scope] = field(default_factory=list)
    inputs: dict[str, int] = field(default_factory=dict)
    outputs: list[Output] = field(default_factory=list)
    constraints: dict[str, Constraint] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)  # the network's arguments
    #: the files it was read from: (path, resolved path, sha256), see Program.deps
    deps: list[tuple[str, str, str]] = field(default_factory=list)
    #: lists of values bound by name (``feats = [c2, c3]``), the nodes of each binding: the
    #: first few bindings of a name and its latest (for the language server's hover)
    value_lists: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)

    def node(self, i: int) -> Node:
        return self.nodes[i]

    def out_shapes(self, scope: Scope) -> list[tuple[str | None, tuple | None]]:
        """A scope's output shapes, each with its name when the block declares several."""
        if len(scope.outs) > 1:
            return [(name, self.nodes[v].shape) for name, v in scope.outs]
        return [(None, self.nodes[v].shape) for v in scope.outputs]

    def local(self, kind: str, i: int) -> str:
        """A step's name in its scope, as the spec writes it: ``conv1``, ``3`` (a number), or
        ``convs.0`` (an item of the list ``convs``)."""
        if kind == "node":
            path, parent = self.nodes[i].path, self.nodes[i].scope
        else:
            path, parent = self.scopes[i].path, self.scopes[i].parent
        base = len(self.scopes[parent].path) if parent is not None else len(path) - 1
        return ".".join(path[base:])

    def lineage(self, scope: int | None) -> list[int]:
        """A scope and the scopes around it, innermost first, the network's last."""
        out = []
        while scope is not None:
            out.append(scope)
            scope = self.scopes[scope].parent
        return out

    def held(self, i: int) -> bool:
        """Whether node ``i`` makes a tensor without a batch dimension: a held tensor
        (``parameter``), or a broadcasting merge of such tensors only."""
        n = self.nodes[i]
        op = n.impl
        return op.held or (op.broadcasts and bool(n.inputs) and all(self.held(j) for j in n.inputs))

    @property
    def symbols(self) -> list[str]:
        return sorted(self.constraints)
