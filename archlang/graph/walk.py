"""The statement walker: how statements run, written once for every pass that runs them.

``let``, ``for`` and ``if`` belong to the language and are run here; the other statements
(layers, inputs, outputs, ``use``, ``init``, ``outputs``) belong to the subclass: the
expander (:mod:`archlang.graph.expand`) builds nodes, the size estimate
(:mod:`archlang.graph.size`) counts them, and a ``concat { }`` collects its branches.

A walk threads a ``state`` through the statements (the current tensor for the expander,
the counts so far for the estimate) and passes a fixed ``ctx`` (the naming scope) along.

Scoping is Python's: ``if`` and ``for`` bodies run in the enclosing environment, so what they
bind (``y = ...``, ``let``, a labelled layer) is seen by later iterations and after the
statement. Only the loop variable is the loop's own: it is restored (or removed) after the
loop, as a list comprehension's variable is. Groups, branches of ``concat { }`` and block
bodies have environments of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from archlang.diagnostics import SpecError
from archlang.graph.values import Env, Tensor, a_type, show, type_name, value_list
from archlang.syntax import ast as A

_UNBOUND = object()


@contextmanager
def loop_variable(env: Env, s: A.ForStmt) -> Iterator[None]:
    """A loop's variable, bound in ``env`` while the loop runs; its earlier binding in
    ``env`` (if any) is back afterwards."""
    saved = env.vars.get(s.var, _UNBOUND)
    env.ended.pop(s.var, None)
    try:
        yield
    finally:
        if saved is _UNBOUND:
            env.vars.pop(s.var, None)
            env.ended[s.var] = s.span
        else:
            env.vars[s.var] = saved


def names_value(link: A.Link, env: Env, calls: Callable[[str], bool]) -> bool:
    """Whether a link in brackets names a value rather than a layer: ``feats[i]``, or a name
    bound to a layer output or a list of them that calls no op or block (in brackets, as in
    a group, a layer's name is the layer)."""
    if link.label is not None or link.unnumbered:
        return False
    if isinstance(link.item, A.Indexed):
        return True
    if isinstance(link.item, A.Bare):
        found, v = env.lookup(link.item.name)
        return found and (isinstance(v, Tensor) or value_list(v)) and not calls(link.item.name)
    return False


def list_literal(chain: A.Chain, env: Env, calls: Callable[[str], bool]) -> list[A.Link] | None:
    """The elements of ``[c2, c3, feats[0]]`` when a chain is a list of values, else None.

    Brackets after ``=`` hold a list of layers (a group) or a list of values: they are values
    when one of them names a value (``[]`` is the empty list), so ``[relu, conv2d(8, 1)]``
    stays a group. ``calls(name)``: whether a name calls an op or block. Every walker decides
    with this function, so they agree."""
    if len(chain.links) != 1 or chain.links[0].label is not None:
        return None
    seq = chain.links[0].item
    if not isinstance(seq, A.Seq):
        return None
    if not seq.links or any(names_value(link, env, calls) for link in seq.links):
        return seq.links
    return None


def iterable_error(value: Any, span) -> SpecError:
    return SpecError("E015", f"`for` needs a list or range, got {type_name(value)} "
                     f"{show(value)}", span, f"this is {a_type(value)}",
                     help=["use range(n) to repeat n times"])


class Walker:
    """Runs statement lists; subclasses give :meth:`value` and :meth:`statement`."""

    def walk(self, stmts: list, env: Env, ctx: Any, state: Any) -> Any:
        for s in stmts:
            state = self.run(s, env, ctx, state)
        return state

    def run(self, s, env: Env, ctx: Any, state: Any) -> Any:
        """One statement; subclasses wrap it (error recovery, limits)."""
        return self.step(s, env, ctx, state)

    def step(self, s, env: Env, ctx: Any, state: Any) -> Any:
        if isinstance(s, A.LetStmt):
            env.vars[s.name] = self.value(s.value, env, state)
            return state
        if isinstance(s, A.ForStmt):
            return self.loop(s, env, ctx, state)
        if isinstance(s, A.IfStmt):
            return self.branch(s, env, ctx, state)
        return self.statement(s, env, ctx, state)

    def loop(self, s: A.ForStmt, env: Env, ctx: Any, state: Any) -> Any:
        """Each iteration runs the body in the enclosing environment, so a value bound in
        one (``y = y -> conv2d(...)``, ``feats = feats + [y]``) is read by the next and
        after the loop."""
        it = self.value(s.iterable, env, state)
        if not isinstance(it, (list, tuple, range)):
            raise iterable_error(it, s.iterable.span)
        with loop_variable(env, s):
            for value in it:
                self.tick(s)
                env.vars[s.var] = value
                state = self.walk(s.body.stmts, env, ctx, state)
        return state

    def branch(self, s: A.IfStmt, env: Env, ctx: Any, state: Any) -> Any:
        """An ``if`` runs the branch its condition picks in the enclosing environment, so
        what the branch binds (``y = ...``, ``let``) is visible after it, as in Python."""
        cond = self.condition(s.cond, env, state)
        if cond is None:
            return self.either(s, env, ctx, state)
        if cond:
            return self.walk(s.then.stmts, env, ctx, state)
        if s.orelse is not None:
            return self.walk(s.orelse.stmts, env, ctx, state)
        return state

    # -- what subclasses give -----------------------------------------------------------
    def value(self, e: A.Expr, env: Env, state: Any) -> Any:
        raise NotImplementedError

    def condition(self, e: A.Expr, env: Env, state: Any) -> bool | None:
        """The truth of an ``if``'s condition; ``None`` when it cannot be known."""
        raise NotImplementedError

    def either(self, s: A.IfStmt, env: Env, ctx: Any, state: Any) -> Any:
        """An ``if`` whose condition is unknown (only an estimate meets one)."""
        raise NotImplementedError

    def tick(self, s) -> None:
        """Called once per loop iteration (work accounting)."""

    def statement(self, s, env: Env, ctx: Any, state: Any) -> Any:
        raise NotImplementedError
