"""Totals over an expanded graph: params, buffers, MACs, activation memory, input constraints.

Per-node params/buffers/MACs were computed by the op registry when the node was built;
this pass sums them, separating training-only outputs, and walks the graph once in
execution order for activation memory (freeing each value after its last use).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archlang.analysis import dims as D
from archlang.analysis.dims import Count
from archlang.graph.model import Graph

BYTES_PER_ELEMENT = 4  # float32


@dataclass
class Totals:
    params: int
    params_inference: int
    buffers: int
    macs: Count
    macs_train: Count
    activations: Count  # elements of all layer outputs (what a training step keeps)
    peak_inference: Count  # elements alive at once in inference, values freed at last use
    outputs: dict[str, tuple] = field(default_factory=dict)
    training_outputs: list[str] = field(default_factory=list)
    constraints: dict[str, str] = field(default_factory=dict)
    smallest_input: dict[str, int] = field(default_factory=dict)

    @property
    def flops(self) -> Count:
        return D.times(self.macs, 2)


def totals(g: Graph) -> Totals:
    params = sum(n.params for n in g.nodes)
    params_inf = sum(n.params for n in g.nodes if not n.training_only)
    buffers = sum(n.buffers for n in g.nodes)
    macs: Count = 0
    macs_train: Count = 0
    activations: Count = 0
    for n in g.nodes:
        macs_train = D.plus(macs_train, n.macs)
        if not n.training_only:
            macs = D.plus(macs, n.macs)
        if not n.is_input:  # implicit nodes are merges, which make a tensor too
            activations = D.plus(activations, D.product(n.shape or ()))
    t = Totals(params, params_inf, buffers, macs, macs_train, activations, peak_memory(g))
    for o in g.outputs:
        t.outputs[o.name] = g.nodes[o.node].shape
        if o.training:
            t.training_outputs.append(o.name)
    for name, c in sorted(g.constraints.items()):
        t.constraints[name] = c.describe()
        smallest = c.smallest()
        if smallest is not None:
            t.smallest_input[name] = smallest
    return t


def peak_memory(g: Graph) -> Count:
    """Peak elements alive during an inference pass, each op's output freed after its last use.

    With symbolic sizes the peak is taken at the smallest valid input and the live set found
    there is reported as a polynomial.
    """
    nodes = [n for n in g.nodes if not n.training_only]
    last_use: dict[int, int] = {}
    for pos, n in enumerate(nodes):
        for i in n.inputs:
            last_use[i] = pos
    outputs = {o.node for o in g.outputs}
    env = {name: max(c.smallest() or c.lower, 1) for name, c in g.constraints.items()}
    alive: dict[int, Count] = {}
    best_value, best_set = -1, {}
    for pos, n in enumerate(nodes):
        if n.shape is not None:
            alive[n.id] = D.product(n.shape)
        value = sum(D.count_at(c, env) for c in alive.values())
        if value > best_value:
            best_value, best_set = value, dict(alive)
        for i in n.inputs:
            if last_use.get(i) == pos and i not in outputs:
                alive.pop(i, None)
    total: Count = 0
    for c in best_set.values():
        total = D.plus(total, c)
    return total
