"""The network's inputs: ``input NAME: [dims]`` makes a node of the ``input`` op."""

from __future__ import annotations

from archlang.ops.base import Op, Saved


class Input(Op):
    name = "input"
    family = "source"
    inputs = (0, 0)
    source = True
    has_module = False
    diagram_shape = "source"
    doc = "A network input, declared with `input NAME: [dims]`; never written as a layer."

    def saved(self, a, ins, out, inplace):
        return Saved()

    def shape(self, a, ins):  # pragma: no cover - an input's shape is declared, not inferred
        raise AssertionError("an input's shape is declared")
