"""Which layers may run in place: a fact about the graph's dataflow.

The PyTorch backend reads it to write ``F.relu(x, inplace=True)`` and ``+=``, and the memory
analysis reads it to count what autograd keeps (an op run in place shares its input's
storage). Both ask this module, so the code written and the memory counted follow one rule;
neither imports the other.
"""

from __future__ import annotations

from archlang.graph.model import Graph, Node, Scope


class InPlace:
    """The in-place rule of one graph. ``enabled=False``: nothing runs in place (the
    reference build the tests compare with)."""

    def __init__(self, graph: Graph, enabled: bool = True):
        self.g = graph
        self.enabled = enabled
        #: the nodes that read each value, in graph order
        self.consumers: dict[int, list[int]] = {}
        for n in graph.nodes:
            for i in n.inputs:
                self.consumers.setdefault(i, []).append(n.id)
        self.outputs = {o.node for o in graph.outputs}

    def overwritable(self, value: int, by: int, s: Scope) -> bool:
        """Whether node ``by`` may write its result into ``value``'s tensor (run in place).

        Only when nothing else can see that tensor, by dataflow: ``value`` is not an input
        of the network or of this block, not an output, and ``by`` is its one consumer (so no
        view of it, no other branch and no tensor autograd saved for another op's backward
        shares its storage); and its producer makes a fresh tensor whose own backward does
        not need it (``inplace_safe_producer``: conv, linear, batchnorm, add, concat...;
        never a view such as flatten or narrow, nor dropout, which returns its input in eval).
        """
        n = self.g.nodes[value]
        if not self.enabled or value in s.inputs or n.is_input or value in self.outputs \
                or value in s.outputs:
            return False
        if not n.impl.inplace_safe_producer:
            return False
        return self.consumers.get(value, []) == [by]

    def relu_inplace(self, n: Node, s: Scope) -> bool:
        """A ReLU-like op runs in place when its input is overwritable (see above) and its
        backward allows it (leaky_relu with a negative slope does not)."""
        op = n.impl
        if not op.can_inplace or len(n.inputs) != 1 or not op.inplace_allowed(n.attrs):
            return False
        return self.overwritable(n.inputs[0], n.id, s)
