"""Estimate the expanded size of a network before expanding it.

Loop counts multiply, block calls are sized once per distinct arguments, and conditions
that depend on shapes count their larger branch. No node is built, so nested loops that
would expand to 10**30 layers are rejected in microseconds.

Names are bound as the expander binds them (the shared :class:`~archlang.graph.walk.Walker`
runs ``for`` and ``if``), a layer output as :data:`SIZED`, a tensor whose shape is unknown:
so a list of values has its length (``for i in range(len(feats))`` counts its iterations),
and what reads a shape is unknown. A long loop is sized by its first iteration, so what its
body binds afterwards is what one iteration binds (a list it grows is shorter than it will
be); the expander's own limits stay exact.
"""

from __future__ import annotations

from typing import Any

from archlang.diagnostics import Reporter, SpecError
from archlang.graph.bind import bind, block_signature
from archlang.graph.values import Env, Evaluator, Poisoned, Tensor, Values, holds_tensor, value_list
from archlang.graph.walk import Walker, list_literal, loop_variable
from archlang.limits import Limits
from archlang.syntax import ast as A

UNKNOWN = object()
#: a layer output in a sizing environment: its shape is not known (reading it is unknown)
SIZED = Tensor(-2, None)
EXACT_LOOP = 8
#: statements evaluated per allowed layer: bounds the time of loops that build no layers
WORK_PER_NODE = 4


class _Stop(Exception):
    pass


class _Sizer(Walker):
    """Walks a network as the expander would, counting (layers, statements evaluated)."""

    def __init__(self, prog, limits: Limits, rep: Reporter):
        self.prog, self.limits, self.rep = prog, limits, rep
        self.ev = Evaluator(limits.max_repeat)
        self.stack: list[str] = []
        self.memo: dict[Any, tuple[int, int]] = {}
        self.work_limit = limits.max_nodes * WORK_PER_NODE

    def value(self, e: A.Expr, env: Env, state=None) -> Any:
        try:
            return self.ev.eval(e, env, None)
        except SpecError as err:
            if err.code in ("E052", "E056"):
                self.rep.add(err)
                raise _Stop from None
            return UNKNOWN
        except Poisoned:
            return UNKNOWN

    def condition(self, e: A.Expr, env: Env, state) -> bool | None:
        cond = self.value(e, env)
        return cond if isinstance(cond, bool) else None

    def either(self, s: A.IfStmt, env: Env, ctx, state) -> tuple[int, int]:
        """An unknown condition counts its larger branch."""
        a = self.walk(s.then.stmts, env.child(), ctx, (0, 0))
        b = self.walk(s.orelse.stmts, env.child(), ctx, (0, 0)) if s.orelse else (0, 0)
        return state[0] + max(a[0], b[0]), state[1] + max(a[1], b[1])

    def run(self, s, env: Env, ctx, state) -> tuple[int, int]:
        layers, work = self.step(s, env, ctx, state)
        self.check(s.span, layers, work + 1)
        return layers, work + 1

    def check(self, span, layers: int, work: int) -> None:
        if layers > self.limits.max_nodes:
            self.rep.error("E050", f"this expands to more than {self.limits.max_nodes:,} "
                           f"layers (about {layers:.3g})", span, "too many layers",
                           help=["reduce the repeat counts, or raise the limit with --max-nodes"])
            raise _Stop
        if work > self.work_limit:
            self.rep.error("E050", f"this evaluates more than {self.work_limit:,} statements "
                           f"(about {work:.3g})", span, "too much repetition",
                           help=["reduce the repeat counts, or raise the limit with --max-nodes"])
            raise _Stop

    def loop(self, s: A.ForStmt, env: Env, ctx, state) -> tuple[int, int]:
        """Short loops are counted exactly; a long one as its first iteration times its
        length."""
        it = self.value(s.iterable, env)
        if not isinstance(it, (list, tuple, range)) or len(it) == 0:
            if it is not UNKNOWN:
                return state
            it = [UNKNOWN]
        with loop_variable(env, s):
            if len(it) <= EXACT_LOOP:
                for v in it:
                    env.vars[s.var] = v
                    state = self.walk(s.body.stmts, env, ctx, state)
                return state
            env.vars[s.var] = it[0]
            n, w = self.walk(s.body.stmts, env, ctx, (0, 0))
        layers, work = n * len(it), (w + 1) * len(it)
        self.check(s.span, layers, work)
        return state[0] + layers, state[1] + work

    def statement(self, s, env: Env, ctx, state) -> tuple[int, int]:
        size = (0, 0)
        if isinstance(s, A.ChainStmt):
            size, _ = self.chain(s.chain, env, statement=True)
        elif isinstance(s, A.BindStmt):
            size, value = self.chain(s.chain, env)
            for j in s.joins:
                more, part = self.chain(j.chain, env)
                size = _sum((size, more))
                value = Values(value + part) if isinstance(value, list) and \
                    isinstance(part, list) else UNKNOWN
            env.vars[s.name] = value
        elif isinstance(s, A.UnpackStmt):
            size, _ = self.chain(s.chain, env)
            env.vars.update(dict.fromkeys(s.names, SIZED))
        elif isinstance(s, A.InputStmt):
            env.vars[s.name] = SIZED
            size = (1, 0)
        elif isinstance(s, A.OutputStmt):
            size = self.chain(s.chain, env)[0] if s.chain is not None else (0, 0)
            env.vars.setdefault(s.name, SIZED)
        elif isinstance(s, A.UseStmt):
            block = self.prog.blocks.get(s.name)
            size = self.block(block, s.args, env, s.span) if block is not None else (0, 0)
        return state[0] + size[0], state[1] + size[1]

    def chain(self, chain: A.Chain, env: Env, statement: bool = False
              ) -> tuple[tuple[int, int], object]:
        """The size of a chain and its value: :data:`SIZED`, a list, or unknown."""
        elements = None if statement else list_literal(chain, env, self.prog.calls)
        if elements is not None:
            return (0, 0), Values(self.element(link, env) for link in elements)
        links = chain.links
        first, value = links[0], SIZED
        if isinstance(first.item, A.Indexed) and first.label is None:
            value, links = self.value(first.item.value, env), links[1:]
        elif isinstance(first.item, A.Bare) and first.label is None and not first.unnumbered:
            # a named value starts the chain, as the expander decides: not a call, even when
            # a block or network has the same name
            name = first.item.name
            found, v = env.lookup(name)
            if found and (isinstance(v, Tensor) or value_list(v)) and (
                    len(links) > 1 or not statement or not self.prog.calls(name)):
                value, links = v, links[1:]
        size = _sum(self.item(link.item, env) for link in links)
        for link in links:
            if link.label is not None and link.index is None:  # a list's item binds no value
                env.vars[link.label] = SIZED
        if links:
            value = self.outputs(links[-1].item)
        return size, value

    def element(self, link: A.Link, env: Env) -> object:
        """An element of a list of values (``[a, feats[0]]``)."""
        if isinstance(link.item, A.Indexed):
            return self.value(link.item.value, env)
        return env.lookup(link.item.name)[1] if isinstance(link.item, A.Bare) else UNKNOWN

    def outputs(self, item) -> object:
        """What a chain ending in ``item`` gives: the list of a block's outputs when it
        declares several at its top level (``feats = Backbone(x)``), else one value."""
        block = self.prog.blocks.get(item.name) if isinstance(item, (A.Call, A.Bare)) else None
        if block is None:
            return SIZED
        outs = [s for s in block.body.stmts if isinstance(s, A.OutputStmt)]
        if any(isinstance(n, A.OutputStmt) for s in block.body.stmts
               if isinstance(s, (A.ForStmt, A.IfStmt)) for n in _statements(s)):
            return UNKNOWN  # outputs declared in a loop or a branch: not counted here
        return Values([SIZED] * len(outs)) if len(outs) > 1 else SIZED

    def item(self, item, env: Env) -> tuple[int, int]:
        if isinstance(item, (A.Call, A.Bare)):
            block = self.prog.blocks.get(item.name) or self.prog.members.get(item.name)
            if block is None:
                return 1, 0
            return self.block(block, item.args if isinstance(item, A.Call) else [], env, item.span)
        if isinstance(item, A.Group):
            return self.walk(item.body.stmts, env.child(), None, (0, 0))
        if isinstance(item, A.Seq):
            return _sum(self.item(link.item, env) for link in item.links)
        if isinstance(item, (A.ConcatBlock, A.AverageBlock, A.Residual)):
            n, w = self.walk(item.body.stmts, env.child(), None, (0, 0))
            if isinstance(item, A.Residual) and item.shortcut:
                n2, w2 = self.walk(item.shortcut.body.stmts, env.child(), None, (0, 0))
                n, w = n + n2, w + w2
            return n + 1, w
        return 1, 0

    def block(self, block: A.BlockDef, args: list[A.Arg], env: Env, span) -> tuple[int, int]:
        if block.name in self.stack:
            self.rep.error("E055", f"block `{block.name}` calls itself", span, "recursive call",
                           notes=["call chain: " + " -> ".join([*self.stack, block.name])],
                           help=["use `for` to repeat layers; blocks cannot recurse"])
            raise _Stop
        if len(self.stack) >= self.limits.max_depth:
            self.rep.error("E051", f"blocks nested more than {self.limits.max_depth} deep", span,
                           "too deep")
            raise _Stop
        inputs = [name for name, _ in block.inputs]
        # a block's inputs are given named values; its parameters the other arguments
        given = [(self.value(a.value, env), a) for a in args]
        given = [(v, a) for v, a in given if not (a.name in inputs or a.name is None and inputs
                                                  and holds_tensor(v))]
        try:
            bound_ = bind(block_signature(block), given, span)
        except SpecError:
            return 0, 0  # the expander reports it, and does not expand this call
        benv = Env(dict.fromkeys(inputs, SIZED), None)
        for p in block.params:
            benv.vars[p.name] = bound_[p.name][0] if p.name in bound_ else \
                self.value(p.default, benv) if p.default is not None else UNKNOWN
        try:
            key = (block.name, tuple(sorted((k, _freeze(v)) for k, v in benv.vars.items())))
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in self.memo:
            return self.memo[key]
        self.stack.append(block.name)
        try:
            size = self.walk(block.body.stmts, benv, None, (0, 0))
        finally:
            self.stack.pop()
        if key is not None:
            self.memo[key] = size
        return size


def _statements(s):
    """The statements inside a ``for`` or an ``if``, at any depth of ``for`` and ``if``."""
    stack = [s]
    while stack:
        s = stack.pop()
        bodies = [s.body] if isinstance(s, A.ForStmt) else \
            [s.then, *([s.orelse] if s.orelse else [])] if isinstance(s, A.IfStmt) else []
        for body in bodies:
            yield from body.stmts
            stack.extend(body.stmts)


def _sum(pairs) -> tuple[int, int]:
    layers = work = 0
    for n, w in pairs:
        layers, work = layers + n, work + w
    return layers, work


def _freeze(v: Any) -> Any:
    if v is UNKNOWN:
        return "<unknown>"
    if isinstance(v, list):
        return ("list", tuple(_freeze(x) for x in v))
    return v


def estimate(prog, net: A.NetworkDef, env: Env, limits: Limits, rep: Reporter) -> int | None:
    """Upper estimate of the node count, or ``None`` after reporting a limit error."""
    sizer = _Sizer(prog, limits, rep)
    try:
        return sizer.walk(net.body.stmts, env.child(), None, (0, 0))[0]
    except _Stop:
        return None
