"""Verify an expanded graph: its outputs, what each scope reads, what is training-only, and
what is computed but never used."""

from __future__ import annotations

from archlang.diagnostics import Reporter, did_you_mean
from archlang.graph.model import Graph
from archlang.graph.state import Run


def verify(run: Run) -> None:
    """The verify pass. On a graph that already has errors only the training-only marks are
    made (for drawing a partial graph), and the later passes are skipped."""
    g, rep = run.graph, run.rep
    net = run.prog.networks[g.network]
    order_outputs(run)
    if not g.outputs and not rep.failed:
        rep.error("E030", f"network `{net.name}` has no output", net.name_span,
                  "declares no output", help=["end the network with `output NAME`"])
    elif g.outputs and all(o.training for o in g.outputs) and not rep.failed:
        rep.error("E030", f"network `{net.name}` has only training outputs", net.name_span,
                  "nothing to return in eval mode",
                  help=["add an `output` that exists in eval mode too"])
    if not rep.failed:
        check_scope_reads(g, rep)
        check_held_outputs(g, rep)
    if rep.failed:
        mark_training_and_unused(g, Reporter())
        run.done = True
        return
    mark_training_and_unused(g, rep)


def order_outputs(run: Run) -> None:
    """Outputs in the order an ``outputs a, b`` statement gives, the others after."""
    g = run.graph
    if not run.order:
        return
    by_name = {o.name: o for o in g.outputs}
    ordered = []
    for name, span in run.order:
        if name in by_name:
            ordered.append(by_name.pop(name))
        else:
            run.rep.error("E012", f"`{name}` is not an output", span, "unknown output",
                          help=did_you_mean(name, [o.name for o in g.outputs]))
    g.outputs = ordered + list(by_name.values())


def check_scope_reads(g: Graph, rep: Reporter) -> None:
    """A group or block instance receives its input (a block, the inputs it declares): a
    layer inside it that reads another value from outside it has nothing to read in the
    compiled module."""
    chains: dict[int, list[int]] = {}  # scope id -> its scopes, root first

    def chain(sid: int) -> list[int]:
        if sid not in chains:
            chains[sid] = g.lineage(sid)[::-1]
        return chains[sid]

    for n in g.nodes:
        if n.is_input:
            continue
        mine = chain(n.scope)
        for i in dict.fromkeys(n.inputs):
            theirs = set(chain(g.nodes[i].scope))
            for sid in mine[1:]:
                sc = g.scopes[sid]
                if sid in theirs or i in sc.inputs:
                    continue
                made = g.nodes[i].span
                rep.error("E017", f"`{'.'.join(sc.path)}` reads a value from outside it",
                          n.span, "reads an outer value", chain=n.chain,
                          notes=[*([f"the value is made at {made}"] if made else []),
                                 ("a named group or block instance compiles to a module whose "
                                  "forward receives only its input")],
                          help=[(f"declare it as an input of `{sc.name}`: `input x, skip`, "
                                 f"and give it in the call")] if sc.kind == "block" else
                          [("compute the value inside the group, or move this statement out "
                            "of the group")])
                return


def check_held_outputs(g: Graph, rep: Reporter) -> None:
    """An output is a batch: a learnable tensor (``parameter``) has no batch dimension."""
    for o in g.outputs:
        if g.held(o.node):
            rep.error("E015", f"output `{o.name}` is a learnable tensor, not a batch", o.span,
                      "no batch dimension", notes=[(f"the tensor is declared at "
                                                    f"{g.nodes[o.node].span}")],
                      help=["multiply or add it to a layer's output first: `mul(layer_scale, x)`"])


def ancestors(g: Graph, roots) -> set[int]:
    seen, stack = set(), list(roots)
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(g.nodes[i].inputs)
    return seen


def mark_training_and_unused(g: Graph, rep: Reporter) -> None:
    """Nodes used only by training outputs are training-only; nodes used by none are errors."""
    consumed = {i for n in g.nodes for i in n.inputs}
    inference = ancestors(g, (o.node for o in g.outputs if not o.training))
    training = ancestors(g, (o.node for o in g.outputs if o.training))
    outputs = {o.node for o in g.outputs}
    for n in g.nodes:
        if n.id not in inference and n.id in training:
            n.training_only = True
        if n.id not in inference and n.id not in training and not n.is_input \
                and n.id not in consumed and n.id not in outputs:
            what = (f"`{n.value_name}`" if n.value_name else f"this `{n.op}`"
                    if g.local("node", n.id).isdigit() or n.implicit else f"`{n.name}`")
            rep.error("E032", f"the output of {what} is never used", n.span,
                      "computed but not used by any output", chain=n.chain,
                      help=["declare it as an output, use it, or delete it"])
    for s in g.scopes[1:]:
        ids = [i for kind, i in s.items if kind == "node"]
        s.training_only = bool(ids) and all(g.nodes[i].training_only for i in ids)
    for s in reversed(g.scopes[1:]):
        kids = [g.scopes[i] for kind, i in s.items if kind == "scope"]
        ids = [i for kind, i in s.items if kind == "node"]
        if kids and all(k.training_only for k in kids) and all(g.nodes[i].training_only
                                                               for i in ids):
            s.training_only = True
