"""Apply ``init`` statements: each rule sets the initialiser of the parameters it targets.

A rule written in a scope applies to that scope's layers: ``init conv2d.weight: ...`` to
every conv2d below it, ``init fc.bias: ...`` to the layer (or the layers of the group)
named ``fc``. A parameter the layer lacks (``bias=false``) is skipped.
"""

from __future__ import annotations

from archlang.graph.state import Run
from archlang.ops.registry import lookup


def apply_inits(run: Run) -> None:
    """The inits pass."""
    g = run.graph
    if not run.inits:
        return
    matched: set[int] = set()
    by_scope: dict[int, list] = {}
    for k, rule in enumerate(run.inits):
        by_scope.setdefault(rule.scope, []).append((k, rule))
    # a selector is an op's name or a layer's: installed plugins are looked up only for a
    # name that no layer has (see registry.lookup)
    layer_names = {part for n in g.nodes for part in n.path} | \
        {part for s in g.scopes for part in s.path}

    def op_named(name: str):
        op = lookup(name, installed=False)
        return op if op is not None or name in layer_names else lookup(name)

    for node in g.nodes:
        if not node.params:
            continue
        for sid in reversed(g.lineage(node.scope)):
            base = len(g.scopes[sid].path)
            for k, rule in by_scope.get(sid, ()):
                selector, param = rule.target[:-1], rule.target[-1]
                op = op_named(selector[0]) if len(selector) == 1 else None
                hit = op.name == node.op if op is not None else \
                    tuple(node.path[base:base + len(selector)]) == tuple(selector)
                if hit:
                    matched.add(k)
                    if param in node.impl.init_params(node.attrs):
                        node.init[param] = rule.spec
    for k, rule in enumerate(run.inits):
        if k not in matched and not (len(rule.target) == 2 and op_named(rule.target[0])):
            run.rep.error("E012", f"init target `{'.'.join(rule.target[:-1])}` matches no "
                          "layer with parameters", rule.span, "matches nothing",
                          help=["name a layer of this block or network, or an op such as conv2d"])
