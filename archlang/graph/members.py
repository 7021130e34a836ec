"""Networks used as layers (ensemble members): their input is the value they are applied to,
and their one inference output is the layer's value."""

from __future__ import annotations

from dataclasses import dataclass

from archlang.analysis import dims as D
from archlang.diagnostics import SpecError
from archlang.graph.values import Env, Evaluator, Tensor
from archlang.source import Span
from archlang.syntax import ast as A


@dataclass
class Member:
    given: Tensor  # the value the network is applied to
    network: A.NetworkDef
    out: Tensor | None = None

    def take_output(self, s: A.OutputStmt) -> bool:
        """Whether this ``output`` statement gives the member's value (training-only outputs
        are not part of the ensemble; a second inference output is an error)."""
        if s.training:
            return False
        if self.out is not None:
            raise SpecError("E017", "a network used as a layer must have exactly one "
                            "inference output", s.span, "second output")
        return True

    def result(self, span: Span) -> Tensor:
        if self.out is None:
            raise SpecError("E030", f"network `{self.network.name}` has no output to use", span,
                            "used as a layer here",
                            help=["a network used as a layer needs one `output`"])
        return self.out


def member_input(member: Member, s: A.InputStmt, env: Env, ev: Evaluator) -> Tensor:
    """A member network's input is the value it is applied to; its declared shape must agree
    where it is concrete."""
    given, net = member.given, member.network
    if len([x for x in net.body.stmts if isinstance(x, A.InputStmt)]) > 1:
        raise SpecError("E017", f"network `{net.name}` has several inputs and cannot be used "
                        "as a layer", s.span, "second input")
    if given.shape is not None:
        declared = [ev.eval(d, env, None) if not (isinstance(d, A.Name) and not
                    env.lookup(d.id)[0]) else None for d in s.shape.items]
        if len(declared) != len(given.shape) or any(
                isinstance(d, int) and not isinstance(d, bool) and d != have
                for d, have in zip(declared, given.shape)):
            shown = ", ".join("?" if d is None else str(d) for d in declared)
            raise SpecError("E021" if len(declared) == len(given.shape) else "E023",
                            f"network `{net.name}` expects input [{shown}], gets "
                            f"{D.fmt_shape(given.shape)}", s.span, "declared input")
    env.vars[s.name] = given
    return given
