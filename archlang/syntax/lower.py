"""Lower: Lark tree → typed AST (:mod:`archlang.syntax.ast`), without recursion.

Expression trees deeper than ``max_expr_depth`` (e.g. ``1+1+...+1`` ten thousand times)
are rejected here with E051, so later recursive passes stay far from Python's stack limit.
"""

from __future__ import annotations

import math
import re

from lark import Token, Tree

from archlang.diagnostics import Diagnostic, Reporter
from archlang.source import Source, Span
from archlang.syntax import ast as A


class _ListLabel:
    """A lowered ``convs.{i}`` before its link is built: the list's name (a token, or a
    computed name's parts), the index, and the span of the whole label."""

    def __init__(self, name, index: A.Expr, span: Span):
        self.name, self.index, self.span = name, index, span


class _Lower:
    """One method per grammar rule, called bottom-up with (meta, lowered children)."""

    def __init__(self, source: Source, rep: Reporter, max_expr_depth: int):
        self.src = source
        self.rep = rep
        self.max_depth = max_expr_depth
        self.depth: dict[int, int] = {}

    def transform(self, tree: Tree):
        """Post-order walk without recursion (deeply nested specs cannot overflow the stack)."""
        order: list = []
        stack: list = [tree]
        while stack:
            t = stack.pop()
            order.append(t)
            if isinstance(t, Tree):
                stack.extend(t.children)
        values: list = []
        for t in reversed(order):
            if isinstance(t, Tree):
                n = len(t.children)
                children = values[len(values) - n:] if n else []
                if n:
                    del values[len(values) - n:]
                values.append(getattr(self, t.data)(t.meta, children))
            else:
                values.append(t)
        (result,) = values
        return result

    # -- helpers -------------------------------------------------------------------
    def sp(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return self.src.span(0, 0)
        return self.src.span(meta.start_pos, meta.end_pos)

    def tok(self, t: Token) -> Span:
        return self.src.span(t.start_pos, t.end_pos)

    def expr(self, node, *children):
        d = 1 + max((self.depth.get(id(c), 1) for c in children if c is not None), default=0)
        self.depth[id(node)] = d
        if d == self.max_depth + 1:
            self.rep.error("E051", f"expression nested more than {self.max_depth} deep", node.span,
                           "too deep", help=["name intermediate values with `let`"])
        return node

    # -- top level -----------------------------------------------------------------
    def start(self, meta, items):
        imports = [i for i in items if isinstance(i, A.Import)]
        blocks = [i for i in items if isinstance(i, A.BlockDef)]
        nets = [i for i in items if isinstance(i, A.NetworkDef)]
        return A.File.build(span=self.sp(meta), imports=imports, blocks=blocks, networks=nets)

    def import_stmt(self, meta, c):
        return A.Import.build(span=self.sp(meta), path=self._string(c[0]))

    def block_def(self, meta, c):
        name, params, body = c
        return A.BlockDef.build(span=self.sp(meta), name=str(name), name_span=self.tok(name),
                          params=params or [], body=body)

    def network_def(self, meta, c):
        name, params, body = c
        return A.NetworkDef.build(span=self.sp(meta), name=str(name), name_span=self.tok(name),
                            params=params or [], body=body)

    def params(self, meta, c):
        return [p for p in c if p is not None]

    def param(self, meta, c):
        return A.Param.build(span=self.sp(meta), name=str(c[0]), default=c[1])

    def body(self, meta, c):
        return A.Body.build(span=self.sp(meta), stmts=list(c))

    # -- statements ------------------------------------------------------------------
    def input_stmt(self, meta, c):
        return A.InputStmt.build(span=self.sp(meta), name=str(c[0]), shape=c[1])

    def block_input(self, meta, c):
        return A.BlockInput.build(span=self.sp(meta), names=[str(t) for t in c],
                                  name_spans=[self.tok(t) for t in c])

    def output_stmt(self, meta, c):
        training, name, chain = c
        return A.OutputStmt.build(span=self.sp(meta), name=str(name), name_span=self.tok(name),
                            chain=chain, training=training is not None)

    def order_stmt(self, meta, c):
        return A.OrderStmt.build(span=self.sp(meta), names=[str(t) for t in c],
                           name_spans=[self.tok(t) for t in c])

    def for_stmt(self, meta, c):
        return A.ForStmt.build(span=self.sp(meta), var=str(c[0]), iterable=c[1], body=c[2])

    def if_stmt(self, meta, c):
        cond, then, orelse = c
        return A.IfStmt.build(span=self.sp(meta), cond=cond, then=then, orelse=orelse)

    def if_else(self, meta, c):
        return A.Body.build(span=self.sp(meta), stmts=[c[0]])

    def let_stmt(self, meta, c):
        return A.LetStmt.build(span=self.sp(meta), name=str(c[0]), value=c[1])

    def bind_stmt(self, meta, c):
        return A.BindStmt.build(span=self.sp(meta), name=str(c[0]), name_span=self.tok(c[0]),
                                chain=c[1], joins=list(c[2:]))

    def join(self, meta, c):
        return A.Join.build(span=self.sp(meta), op=str(c[0]), chain=c[1])

    def unpack_stmt(self, meta, c):
        *names, chain = c
        return A.UnpackStmt.build(span=self.sp(meta), names=[str(t) for t in names],
                                  name_spans=[self.tok(t) for t in names], chain=chain)

    def init_stmt(self, meta, c):
        return A.InitStmt.build(span=self.sp(meta), target=c[0], value=c[1])

    def use_stmt(self, meta, c):
        return A.UseStmt.build(span=self.sp(meta), name=str(c[0]), name_span=self.tok(c[0]),
                         args=c[1] or [])

    def dotted(self, meta, c):
        # a number names an unnamed layer as torch.nn.Sequential does: `01` and `0_1` are 1
        return [str(int(str(t).replace("_", ""))) if t.type == "INT" else str(t) for t in c]

    def chain(self, meta, c):
        return A.Chain.build(span=self.sp(meta), links=list(c))

    def chain_stmt(self, meta, c):
        return A.ChainStmt.build(span=self.sp(meta), chain=c[0])

    def link(self, meta, c):
        label, item = c
        index = None
        if isinstance(label, _ListLabel):
            label, index, whole = label.name, label.index, label.span
            if isinstance(label, tuple):
                label = (*label[:2], whole)
        if isinstance(label, tuple):  # computed: (texts, exprs, span)
            texts, exprs, span = label
            return A.Link.build(span=self.sp(meta), label=texts[0], label_span=span,
                                item=item, label_exprs=exprs, label_texts=texts[1:],
                                index=index)
        if label is not None and str(label) == "_":
            return A.Link.build(span=self.sp(meta), label=None, label_span=self.tok(label),
                                item=item, unnumbered=True)
        span = whole if index is not None else self.tok(label) if label is not None else None
        return A.Link.build(span=self.sp(meta), label=str(label) if label is not None else None,
                            label_span=span, item=item, index=index)

    def list_label(self, meta, c):
        name, index = c
        if isinstance(index, Token):  # `convs.0`
            index = self._int(index, self.tok(index))
        return _ListLabel(name, index, self.sp(meta))

    def computed_label(self, meta, c):
        # texts[k] comes before exprs[k]; the last text after the last value
        texts, exprs = [str(c[0])], []
        for part in c[1:]:
            if isinstance(part, Token):
                texts[-1] += str(part)
            else:
                exprs.append(part)
                texts.append("")
        return texts, exprs, self.sp(meta)

    # -- items -----------------------------------------------------------------------
    def call(self, meta, c):
        name, args = c
        return A.Call.build(span=self.sp(meta), name=str(name), name_span=self.tok(name),
                      args=args or [])

    def bare(self, meta, c):
        return A.Bare.build(span=self.sp(meta), name=str(c[0]))

    def indexed(self, meta, c):
        name, *indices = c
        value = self.expr(A.Name.build(span=self.tok(name), id=str(name)))
        for index in indices:  # feats[i][j]: the index of the index
            end = self._closing(index.span.end)
            value = self.expr(A.Index.build(span=self.src.span(value.span.start, end),
                                            obj=value, index=index), value, index)
        return A.Indexed.build(span=self.sp(meta), value=value)

    def group(self, meta, c):
        return A.Group.build(span=self.sp(meta), body=c[0])

    def seq(self, meta, c):
        return A.Seq.build(span=self.sp(meta), links=[x for x in c if x is not None])

    def concat_block(self, meta, c):
        return A.ConcatBlock.build(span=self.sp(meta), body=c[0])

    def average_block(self, meta, c):
        return A.AverageBlock.build(span=self.sp(meta), body=c[0])

    def concat_call(self, meta, c):
        return A.ConcatCall.build(span=self.sp(meta), args=c[0] or [])

    def residual(self, meta, c):
        return A.Residual.build(span=self.sp(meta), body=c[0], shortcut=c[1])

    def shortcut(self, meta, c):
        name, cond, body = c
        return A.Shortcut.build(span=self.sp(meta), name=str(name) if name is not None else None,
                          name_span=self.tok(name) if name is not None else None, cond=cond,
                          body=body)

    def args(self, meta, c):
        return [x for x in c if x is not None]

    def arg(self, meta, c):
        x = c[0]
        if isinstance(x, A.Arg):
            return x
        return A.Arg.build(span=self.sp(meta), name=None, value=x)

    def kwarg(self, meta, c):
        return A.Arg.build(span=self.sp(meta), name=str(c[0]), name_span=self.tok(c[0]), value=c[1])

    # -- expressions ------------------------------------------------------------------
    def cond(self, meta, c):
        then, cond, orelse = c
        return self.expr(A.Cond.build(span=self.sp(meta), then=then, cond=cond, orelse=orelse),
                         then, cond, orelse)

    def or_(self, meta, c):
        return self.expr(A.BoolOp.build(span=self.sp(meta), op="or", left=c[0], right=c[1]), *c)

    def and_(self, meta, c):
        return self.expr(A.BoolOp.build(span=self.sp(meta), op="and", left=c[0], right=c[1]), *c)

    def not_(self, meta, c):
        return self.expr(A.Unary.build(span=self.sp(meta), op="not", operand=c[0]), c[0])

    def compare(self, meta, c):
        left, op, right = c
        return self.expr(A.Compare.build(span=self.sp(meta), op=str(op), left=left, right=right),
                         left, right)

    def binop(self, meta, c):
        left, op, right = c
        return self.expr(A.BinOp.build(span=self.sp(meta), op=str(op), left=left, right=right),
                         left, right)

    def neg(self, meta, c):
        op, operand = c
        return self.expr(A.Unary.build(span=self.sp(meta), op=str(op), operand=operand), operand)

    def index(self, meta, c):
        return self.expr(A.Index.build(span=self.sp(meta), obj=c[0], index=c[1]), *c)

    def fcall(self, meta, c):
        func, args = c
        args = args or []
        return self.expr(A.FCall.build(span=self.sp(meta), func=func, args=args), func,
                         *(a.value for a in args))

    def int_lit(self, meta, c):
        return self.expr(self._int(c[0], self.sp(meta)))

    def _int(self, token: Token, span: Span) -> A.IntLit:
        text = str(token).replace("_", "")
        value = int(text) if len(text) <= 19 else 1 << 64
        if value >= 1 << 63:
            self.rep.error("E056", "integer literal too large", span,
                           "larger than 2**63 - 1", help=["archlang sizes are 64-bit integers"])
            value = 0
        return A.IntLit.build(span=span, value=value)

    def float_lit(self, meta, c):
        value = float(str(c[0]).replace("_", ""))
        if not math.isfinite(value):
            self.rep.error("E004", "float literal out of range", self.sp(meta), "not finite")
            value = 0.0
        return self.expr(A.FloatLit.build(span=self.sp(meta), value=value))

    def str_lit(self, meta, c):
        return self.expr(A.StrLit.build(span=self.sp(meta), value=self._string(c[0])))

    def true_lit(self, meta, c):
        return self.expr(A.BoolLit.build(span=self.sp(meta), value=True))

    def false_lit(self, meta, c):
        return self.expr(A.BoolLit.build(span=self.sp(meta), value=False))

    def name(self, meta, c):
        return self.expr(A.Name.build(span=self.sp(meta), id=str(c[0])))

    def attr(self, meta, c):
        return self.expr(A.Attr.build(span=self.sp(meta), value=c[0], attr=str(c[1])), c[0])

    def in_attr(self, meta, c):
        return self.expr(A.InAttr.build(span=self.sp(meta), attr=str(c[0])))

    def tuple_lit(self, meta, c):
        items = [x for x in c if x is not None]
        return self.expr(A.TupleLit.build(span=self.sp(meta), items=items), *items)

    def list_expr(self, meta, c):
        items = [x for x in c if x is not None]
        return self.expr(A.ListLit.build(span=self.sp(meta), items=items), *items)

    def list_comp(self, meta, c):
        elt, var, iterable, cond = c
        return self.expr(A.ListComp.build(span=self.sp(meta), elt=elt, var=str(var),
                                          iterable=iterable, cond=cond), elt, iterable, cond)

    def _closing(self, at: int) -> int:
        """The end of the ``]`` that closes an index whose expression ends at ``at``."""
        text, i = self.src.text, at
        while text[i] != "]":
            i = text.index("\n", i) if text[i] == "#" else i + 1
        return i + 1

    def _string(self, tok: Token) -> str:
        # The STRING terminal admits only these escapes; decoded here, not by Python's
        # parser (which refuses, for one, a NUL character inside the quotes)
        return _ESCAPE.sub(lambda m: _ESCAPES[m.group(1)], str(tok)[1:-1])


_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def lower(tree: Tree, source: Source, max_expr_depth: int = 100) -> tuple[A.File | None,
                                                                            list[Diagnostic]]:
    """Build the AST of one parsed file."""
    rep = Reporter()
    tree = _wrap_chain_statements(tree)
    result = _Lower(source, rep, max_expr_depth).transform(tree)
    if rep.failed:
        return None, rep.diagnostics
    return result, rep.diagnostics


def _wrap_chain_statements(tree: Tree) -> Tree:
    """A ``chain`` directly inside a ``body`` is a statement: wrap it as ``chain_stmt``."""
    stack = [tree]
    while stack:
        t = stack.pop()
        if t.data == "body":
            t.children = [Tree("chain_stmt", [c], c.meta) if isinstance(c, Tree)
                          and c.data == "chain" else c for c in t.children]
        stack.extend(c for c in t.children if isinstance(c, Tree))
    return tree


def lower_expr(tree: Tree, source: Source) -> tuple[A.Expr | None, list[Diagnostic]]:
    """Build the AST of one parsed expression (``parse(..., start="expr")``)."""
    rep = Reporter()
    result = _Lower(source, rep, 100).transform(tree)
    return (None if rep.failed else result), rep.diagnostics
