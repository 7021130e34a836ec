"""Estimate the expanded size of a network before expanding it.

Loop counts multiply, block calls are sized once per distinct arguments, and conditions
that depend on shapes count their larger branch. No node is built, so nested loops that
would expand to 10**30 layers are rejected in microseconds.
"""

from __future__ import annotations

from typing import Any

from archlang.diagnostics import Reporter
from archlang.diagnostics import SpecError
from archlang.graph.values import Env, Evaluator, Poisoned
from archlang.limits import Limits
from archlang.syntax import ast as A

UNKNOWN = object()
#: prefix of the names of layer outputs in a sizing environment (no expression can read it)
VALUE = "%value:"
EXACT_LOOP = 8
#: statements evaluated per allowed layer: bounds the time of loops that build no layers
WORK_PER_NODE = 4


class _Stop(Exception):
    pass


class _Sizer:
    def __init__(self, prog, limits: Limits, rep: Reporter):
        self.prog, self.limits, self.rep = prog, limits, rep
        self.ev = Evaluator(limits.max_repeat)
        self.stack: list[str] = []
        self.memo: dict[Any, tuple[int, int]] = {}
        self.work_limit = limits.max_nodes * WORK_PER_NODE

    def value(self, e: A.Expr, env: Env) -> Any:
        try:
            return self.ev.eval(e, env, None)
        except SpecError as err:
            if err.code in ("E052", "E056"):
                self.rep.error(err.code, err.message, err.span, err.label, help=err.help)
                raise _Stop from None
            return UNKNOWN
        except Poisoned:
            return UNKNOWN

    def body(self, stmts: list, env: Env) -> tuple[int, int]:
        """(layers, statements evaluated) of a statement list."""
        layers = work = 0
        for s in stmts:
            n, w = self.stmt(s, env)
            layers, work = layers + n, work + w + 1
            if layers > self.limits.max_nodes:
                self.too_big(s.span, layers)
            if work > self.work_limit:
                self.too_slow(s.span, work)
        return layers, work

    def too_big(self, span, total) -> None:
        self.rep.error("E050", f"this expands to more than {self.limits.max_nodes:,} layers "
                       f"(about {total:.3g})", span, "too many layers",
                       help=["reduce the repeat counts, or raise the limit with --max-nodes"])
        raise _Stop

    def too_slow(self, span, work) -> None:
        self.rep.error("E050", f"this evaluates more than {self.work_limit:,} statements "
                       f"(about {work:.3g})", span, "too much repetition",
                       help=["reduce the repeat counts, or raise the limit with --max-nodes"])
        raise _Stop

    def stmt(self, s, env: Env) -> tuple[int, int]:
        if isinstance(s, A.ChainStmt):
            return self.chain(s.chain, env, statement=True)
        if isinstance(s, A.BindStmt):
            size = self.chain(s.chain, env)
            env.vars[VALUE + s.name] = True
            return size
        if isinstance(s, A.InputStmt):
            env.vars[VALUE + s.name] = True
            return 1, 0
        if isinstance(s, A.OutputStmt):
            return self.chain(s.chain, env) if s.chain is not None else (0, 0)
        if isinstance(s, A.LetStmt):
            env.vars[s.name] = self.value(s.value, env)
            return 0, 0
        if isinstance(s, A.ForStmt):
            it = self.value(s.iterable, env)
            if not isinstance(it, (list, tuple, range)) or len(it) == 0:
                return self.body(s.body.stmts, self.bind(env, s.var, UNKNOWN)) \
                    if it is UNKNOWN else (0, 0)
            if len(it) <= EXACT_LOOP:
                layers = work = 0
                for v in it:
                    n, w = self.body(s.body.stmts, self.bind(env, s.var, v))
                    layers, work = layers + n, work + w
                return layers, work
            n, w = self.body(s.body.stmts, self.bind(env, s.var, it[0]))
            layers, work = n * len(it), (w + 1) * len(it)
            if layers > self.limits.max_nodes:
                self.too_big(s.span, layers)
            if work > self.work_limit:
                self.too_slow(s.span, work)
            return layers, work
        if isinstance(s, A.UseStmt):
            block = self.prog.blocks.get(s.name)
            return self.block(block, s.args, env, s.span) if block is not None else (0, 0)
        if isinstance(s, A.IfStmt):
            cond = self.value(s.cond, env)
            then = lambda: self.body(s.then.stmts, env.child())  # noqa: E731
            orelse = lambda: self.body(s.orelse.stmts, env.child()) if s.orelse else (0, 0)  # noqa: E731
            if cond is True:
                return then()
            if cond is False:
                return orelse()
            a, b = then(), orelse()
            return max(a[0], b[0]), max(a[1], b[1])
        return 1, 0

    @staticmethod
    def bind(env: Env, name: str, value: Any) -> Env:
        inner = env.child()
        inner.vars[name] = value
        return inner

    def chain(self, chain: A.Chain, env: Env, statement: bool = False) -> tuple[int, int]:
        links = chain.links
        first = links[0]
        if isinstance(first.item, A.Bare) and first.label is None:
            # a named value starts the chain, as the expander decides: not a call, even when
            # a block or network has the same name
            from archlang.ops.registry import lookup

            name = first.item.name
            callable_ = lookup(name) is not None or name in self.prog.blocks
            if env.lookup(VALUE + name)[0] and (len(links) > 1 or not callable_
                                                or not statement):
                links = links[1:]
        size = _sum(self.item(link.item, env) for link in links)
        for link in links:
            if link.label is not None:
                env.vars[VALUE + link.label] = True
        return size

    def item(self, item, env: Env) -> tuple[int, int]:
        if isinstance(item, (A.Call, A.Bare)):
            block = self.prog.blocks.get(item.name) or self.prog.members.get(item.name)
            if block is None:
                return 1, 0
            return self.block(block, item.args if isinstance(item, A.Call) else [], env, item.span)
        if isinstance(item, A.Group):
            return self.body(item.body.stmts, env.child())
        if isinstance(item, A.Seq):
            return _sum(self.item(link.item, env) for link in item.links)
        if isinstance(item, (A.ConcatBlock, A.AverageBlock, A.Residual)):
            n, w = self.body(item.body.stmts, env.child())
            if isinstance(item, A.Residual) and item.shortcut:
                n2, w2 = self.body(item.shortcut.body.stmts, env.child())
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
        names = [p.name for p in block.params]
        benv = Env({}, None)
        positional = [a for a in args if a.name is None]
        for a, n in zip(positional, names):
            benv.vars[n] = self.value(a.value, env)
        for a in args:
            if a.name is not None and a.name in names:
                benv.vars[a.name] = self.value(a.value, env)
        for p in block.params:
            if p.name not in benv.vars:
                benv.vars[p.name] = self.value(p.default, benv) if p.default is not None else UNKNOWN
        try:
            key = (block.name, tuple(sorted((k, _freeze(v)) for k, v in benv.vars.items())))
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in self.memo:
            return self.memo[key]
        self.stack.append(block.name)
        try:
            size = self.body(block.body.stmts, benv)
        finally:
            self.stack.pop()
        if key is not None:
            self.memo[key] = size
        return size


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
        return sizer.body(net.body.stmts, env.child())[0]
    except _Stop:
        return None
