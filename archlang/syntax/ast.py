"""The archlang AST: one typed, immutable pydantic class per node, each with its span.

Built by :mod:`archlang.syntax.lower` from the Lark tree; read by the expander.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict
from pydantic_core import core_schema

from archlang.source import Span

if TYPE_CHECKING:
    from typing_extensions import Self


class _Built:
    """Validates a child node by its type alone.

    The lowerer builds the tree bottom-up, so a child was validated when it was constructed;
    its parent only has to check that it is a node of an allowed class. Without this, every
    class's schema would embed the schemas of everything below it, and building those schemas
    would cost more than parsing a spec.
    """

    def __get_pydantic_core_schema__(self, source, handler) -> core_schema.CoreSchema:
        types = get_args(source) if get_origin(source) is Union else (source,)
        names = " | ".join(t.__name__ for t in types)
        return core_schema.is_instance_schema(types, cls_repr=names)


class _SpanSchema:
    """Builds the schema of :class:`Span` (a stdlib dataclass) once per process.

    pydantic regenerates a stdlib dataclass's schema for every model that has a field of its
    type (it inspects the dataclass's fields and ``__init__`` signature each time, and those of
    :class:`~archlang.source.Source` inside it): more than half the cost of building the AST's
    validators. Each model gets its own copy of the schema built the first time, so
    validation, serialisation and JSON schemas are unchanged.
    """

    _schema: core_schema.CoreSchema | None = None

    def __get_pydantic_core_schema__(self, source, handler) -> core_schema.CoreSchema:
        if _SpanSchema._schema is None:
            _SpanSchema._schema = _inline(handler(source), handler)
        return copy.deepcopy(_SpanSchema._schema)


def _inline(schema, handler):
    """``schema`` with every reference to a definition replaced by the definition itself."""
    if isinstance(schema, dict):
        if schema.get("type") == "definition-ref":
            return _inline(handler.resolve_ref_schema(schema), handler)
        return {k: _inline(v, handler) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, handler) for v in schema]
    return schema


#: a field holding a :class:`Span`
SpanField = Annotated[Span, _SpanSchema()]

T = TypeVar("T")
#: a field holding an AST node of class ``T`` (or of one class of the union ``T``)
Child = Annotated[T, _Built()]


_new = object.__new__
_set = object.__setattr__
#: per node class: its fields in order, each with its default (``_REQUIRED`` if it has none)
_LAYOUT: dict[type, tuple[tuple[str, Any], ...]] = {}
_REQUIRED = object()


class Node(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, strict=True,
                              defer_build=True)
    span: SpanField

    @classmethod
    def build(cls, **values: Any) -> Self:
        """The node of these field values, built without running its validator.

        For the lowerer, whose values hold the field types by construction: a token's text
        is a ``str``, a literal is converted by the lowerer itself, a child is a node it has
        just built by the grammar rule that admits it. The result is the node that
        ``cls(**values)`` returns (same ``__dict__``, same set fields, equal), and the test
        suite validates the lowered AST of every spec in the repository through these
        classes' validators (tests/test_ast_schema.py). Constructing nodes directly
        (``cls(**values)``) still validates.
        """
        layout = _LAYOUT.get(cls)
        if layout is None:
            layout = _LAYOUT[cls] = tuple(
                (name, _REQUIRED if f.is_required() else f.default)
                for name, f in cls.__pydantic_fields__.items())
        try:
            if len(values) != len(layout):
                raise KeyError
            data = {name: values[name] for name, _ in layout}
        except KeyError:
            data = {}
            for name, default in layout:
                value = values.get(name, default)
                if value is _REQUIRED:
                    raise TypeError(f"{cls.__name__}.build() needs `{name}`")
                data[name] = value
            unknown = values.keys() - data.keys()
            if unknown:
                raise TypeError(f"{cls.__name__}.build() got unknown fields {sorted(unknown)}")
        node = _new(cls)
        _set(node, "__dict__", data)
        _set(node, "__pydantic_fields_set__", set(values))
        _set(node, "__pydantic_extra__", None)
        _set(node, "__pydantic_private__", None)
        return node


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


class Attr(Node):
    """``x.channels``, ``x.shape``...: the shape of a named value."""

    value: Expr
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
    name_span: SpanField | None = None
    value: Expr


class FCall(Node):
    func: Expr
    args: list[Child[Arg]]


class TupleLit(Node):
    items: list[Expr]


class ListLit(Node):
    items: list[Expr]


class ListComp(Node):
    """``[elt for var in iterable if cond]``."""

    elt: Expr
    var: str
    iterable: Expr
    cond: Expr | None = None


Expr = Child[Union[  # noqa: UP007
    IntLit, FloatLit, StrLit, BoolLit, Name, InAttr, Attr, BinOp, Compare, BoolOp, Unary,
    Cond, Index, FCall, TupleLit, ListLit, ListComp,
]]

# ---- items: the things a chain link applies to the current value ---------------------------


class Call(Node):
    """``conv2d(64, 3, stride=2)``, ``BasicConv(c1, 1)``: an op or a block call."""

    name: str
    name_span: SpanField
    args: list[Child[Arg]]


class Bare(Node):
    """A bare name: an op or block with default arguments, or a value at a chain's head."""

    name: str


class Indexed(Node):
    """``feats[i]``: an element of a list of values, where a chain starts or a list is
    written (``value`` is the :class:`Index` expression)."""

    value: Child[Index]


class Group(Node):
    """``{ ... }``: a sequence of statements, its own naming scope."""

    body: Child[Body]


class Seq(Node):
    """``[a, b, c]``: the inline form of a group."""

    links: list[Child[Link]]


class ConcatBlock(Node):
    """``concat { ... }``: every statement is a branch from the same input."""

    keyword: ClassVar[str] = "concat"
    body: Child[Body]


class AverageBlock(Node):
    """``average { ... }``: every statement is a branch; the result is their mean (ensembles)."""

    keyword: ClassVar[str] = "average"
    body: Child[Body]


class ConcatCall(Node):
    """``concat(a, b, dim=1)``: concatenation of named values."""

    keyword: ClassVar[str] = "concat"
    args: list[Child[Arg]]


class Shortcut(Node):
    name: str | None
    name_span: SpanField | None
    cond: Expr | None
    body: Child[Body]


class Residual(Node):
    """``residual { body } shortcut name if cond { projection }``: body(x) + shortcut(x)."""

    keyword: ClassVar[str] = "residual"
    body: Child[Body]
    shortcut: Child[Shortcut] | None


Item = Child[Union[Call, Bare, Indexed, Group, Seq, ConcatBlock, ConcatCall, AverageBlock,  # noqa: UP007
                   Residual]]


class Link(Node):
    label: str | None
    label_span: SpanField | None
    item: Item
    #: ``block{s}-{j}: ...``: the label is ``label``, then each value of ``label_exprs``
    #: followed by the text after it in ``label_texts`` (``["-", ""]``)
    label_exprs: list[Expr] = []
    label_texts: list[str] = []
    #: ``convs.{i}: ...``: an item of the list that ``label`` names, at this index (an int);
    #: ``label_span`` covers the whole ``convs.{i}``
    index: Expr | None = None
    #: ``_: relu``: a layer that takes no name and no number in its scope (no module: torch
    #: applies it as a function)
    unnumbered: bool = False


class Chain(Node):
    links: list[Child[Link]]


# ---- statements --------------------------------------------------------------------


class InputStmt(Node):
    name: str
    shape: Child[ListLit]


class BlockInput(Node):
    """``input skip`` in a block: named inputs, given by each call (``Up(x, skip)``)."""

    names: list[str]
    name_spans: list[SpanField]


class OutputStmt(Node):
    name: str
    name_span: SpanField
    chain: Child[Chain] | None
    training: bool


class OrderStmt(Node):
    """``output logits, aux2, aux1``: the order of the returned outputs."""

    names: list[str]
    name_spans: list[SpanField]


class ForStmt(Node):
    var: str
    iterable: Expr
    body: Child[Body]


class IfStmt(Node):
    cond: Expr
    then: Child[Body]
    orelse: Child[Body] | None


class LetStmt(Node):
    name: str
    value: Expr


class Join(Node):
    """``+ [y]`` after a bound chain: lists of values joined (``feats = feats + [y]``)."""

    op: str
    chain: Child[Chain]


class BindStmt(Node):
    name: str
    name_span: SpanField
    chain: Child[Chain]
    joins: list[Child[Join]] = []


class UnpackStmt(Node):
    """``c2, c3 = Backbone()``: each output of a block with several, bound to a name."""

    names: list[str]
    name_spans: list[SpanField]
    chain: Child[Chain]


class InitStmt(Node):
    target: list[str]
    value: Expr


class UseStmt(Node):
    """``use Block(args)``: the block's layers, inlined into the current scope."""

    name: str
    name_span: SpanField
    args: list[Child[Arg]]


class ChainStmt(Node):
    chain: Child[Chain]


Stmt = Child[Union[  # noqa: UP007
    InputStmt, BlockInput, OutputStmt, OrderStmt, ForStmt, IfStmt, LetStmt, BindStmt,
    UnpackStmt, InitStmt, UseStmt, ChainStmt,
]]


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
    name_span: SpanField
    params: list[Child[Param]]
    body: Child[Body]

    @property
    def inputs(self) -> list[tuple[str, Span]]:
        """The inputs it declares (``input a, b`` at its top level), in order: empty when the
        block takes the one value it is applied to."""
        return [(name, span) for s in self.body.stmts if isinstance(s, BlockInput)
                for name, span in zip(s.names, s.name_spans)]


class NetworkDef(Node):
    name: str
    name_span: SpanField
    params: list[Child[Param]]
    body: Child[Body]

    @property
    def inputs(self) -> list[tuple[str, Span]]:
        """Used as a layer, a network takes the value it is applied to (see BlockDef)."""
        return []


class File(Node):
    imports: list[Child[Import]]
    blocks: list[Child[BlockDef]]
    networks: list[Child[NetworkDef]]


# Schemas are built on first use (defer_build): importing archlang stays fast.


def names_in(e: Node):
    """Every :class:`Name` in an expression (its variables)."""
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, Name):
            yield x
        for value in x.__dict__.values():
            if isinstance(value, Node):
                stack.append(value)
            elif isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, Node))
