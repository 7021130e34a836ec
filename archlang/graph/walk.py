"""The statement walker: how statements run, written once for every pass that runs them.

``let``, ``for`` and ``if`` belong to the language and are run here; the other statements
(layers, inputs, outputs, ``use``, ``init``, ``outputs``) belong to the subclass: the
expander (:mod:`archlang.graph.expand`) builds nodes, the size estimate
(:mod:`archlang.graph.size`) counts them, and a ``concat { }`` collects its branches.

A walk threads a ``state`` through the statements (the current tensor for the expander,
the counts so far for the estimate) and passes a fixed ``ctx`` (the naming scope) along.
"""

from __future__ import annotations

from typing import Any

from archlang.diagnostics import SpecError
from archlang.graph.values import Env, a_type, show, type_name
from archlang.syntax import ast as A


def bound(env: Env, name: str, value: Any) -> Env:
    """A child environment with one more variable (a loop's)."""
    inner = env.child()
    inner.vars[name] = value
    return inner


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
        it = self.value(s.iterable, env, state)
        if not isinstance(it, (list, tuple, range)):
            raise iterable_error(it, s.iterable.span)
        for value in it:
            self.tick(s)
            state = self.walk(s.body.stmts, bound(env, s.var, value), ctx, state)
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
