"""The archlang AST: one typed, immutable pydantic class per node, each with its span.

Built by :mod:`archlang.syntax.lower` from the Lark tree; read by the expander.
"""

from __future__ import annotations

from typing import Union

from pydantic import BaseModel, ConfigDict

from archlang.source import Span


class Node(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, defer_build=True)
    span: Span


# ---- expressions ---------------------------------------------------------------------


class IntLit(Node):
    value: int


class FloatLit(Node):
    value: float


class StrLit(Node):
    value: str


class BoolLit(Node):
    value: bool


class Name(Node):
    id: str


class InAttr(Node):
    """``in.channels``, ``in.height``, ``in.width``, ``in.rank``: the current input's shape."""

    attr: str


class BinOp(Node):
    op: str
    left: Expr
    right: Expr


class Compare(Node):
    op: str
    left: Expr
    right: Expr


class BoolOp(Node):
    op: str  # "and" | "or"
    left: Expr
    right: Expr


class Unary(Node):
    op: str  # "-" | "+" | "not"
    operand: Expr


class Cond(Node):
    then: Expr
    cond: Expr
    orelse: Expr


class Index(Node):
    obj: Expr
    index: Expr


class Arg(Node):
    name: str | None
    name_span: Span | None = None
    value: Expr


class FCall(Node):
    func: Expr
    args: list[Arg]


class TupleLit(Node):
    items: list[Expr]


class ListLit(Node):
    items: list[Expr]


Expr = Union[  # noqa: UP007
    IntLit, FloatLit, StrLit, BoolLit, Name, InAttr, BinOp, Compare, BoolOp, Unary, Cond,
    Index, FCall, TupleLit, ListLit,
]

# ---- items: the things a chain link applies to the current value ---------------------------


class Call(Node):
    """``conv2d(64, 3, stride=2)``, ``BasicConv(c1, 1)``: an op or a block call."""

    name: str
    name_span: Span
    args: list[Arg]


class Bare(Node):
    """A bare name: an op or block with default arguments, or a value at a chain's head."""

    name: str


class Group(Node):
    """``{ ... }``: a sequence of statements, its own naming scope."""

    body: Body


class Seq(Node):
    """``[a, b, c]``: the inline form of a group."""

    links: list[Link]


class ConcatBlock(Node):
    """``concat { ... }``: every statement is a branch from the same input."""

    body: Body


class AverageBlock(Node):
    """``average { ... }``: every statement is a branch; the result is their mean (ensembles)."""

    body: Body


class ConcatCall(Node):
    """``concat(a, b, dim=1)``: concatenation of named values."""

    args: list[Arg]


class Shortcut(Node):
    name: str | None
    name_span: Span | None
    cond: Expr | None
    body: Body


class Residual(Node):
    """``residual { body } shortcut name if cond { projection }``: body(x) + shortcut(x)."""

    body: Body
    shortcut: Shortcut | None


Item = Union[Call, Bare, Group, Seq, ConcatBlock, ConcatCall, AverageBlock, Residual]  # noqa: UP007


class Link(Node):
    label: str | None
    label_span: Span | None
    item: Item


class Chain(Node):
    links: list[Link]


# ---- statements --------------------------------------------------------------------


class InputStmt(Node):
    name: str
    shape: ListLit


class OutputStmt(Node):
    name: str
    name_span: Span
    chain: Chain | None
    training: bool


class OrderStmt(Node):
    """``output logits, aux2, aux1``: the order of the returned outputs."""

    names: list[str]
    name_spans: list[Span]


class ForStmt(Node):
    var: str
    iterable: Expr
    body: Body


class IfStmt(Node):
    cond: Expr
    then: Body
    orelse: Body | None


class LetStmt(Node):
    name: str
    value: Expr


class BindStmt(Node):
    name: str
    name_span: Span
    chain: Chain


class InitStmt(Node):
    target: list[str]
    value: Expr


class UseStmt(Node):
    """``use Block(args)``: the block's layers, inlined into the current scope."""

    name: str
    name_span: Span
    args: list[Arg]


class ChainStmt(Node):
    chain: Chain


Stmt = Union[  # noqa: UP007
    InputStmt, OutputStmt, OrderStmt, ForStmt, IfStmt, LetStmt, BindStmt, InitStmt, UseStmt,
    ChainStmt,
]


class Body(Node):
    stmts: list[Stmt]


# ---- top level ----------------------------------------------------------------------


class Param(Node):
    name: str
    default: Expr | None


class Import(Node):
    path: str


class BlockDef(Node):
    name: str
    name_span: Span
    params: list[Param]
    body: Body


class NetworkDef(Node):
    name: str
    name_span: Span
    params: list[Param]
    body: Body


class File(Node):
    imports: list[Import]
    blocks: list[BlockDef]
    networks: list[NetworkDef]


# Schemas are built on first use (defer_build): importing archlang stays fast.
