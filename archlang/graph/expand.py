"""Expand: a network definition → the graph of op nodes, with every shape inferred.

Shapes are computed while expanding, because specs branch on them (``in.channels`` in a
conditional shortcut). Before any node is built, :func:`archlang.graph.size.estimate`
bounds the expanded size, so a 200-byte spec that would expand to 10**30 layers is
rejected at once. Statements run through the shared :class:`~archlang.graph.walk.Walker`;
this module gives what the layers, inputs, outputs and blocks do.
"""

from __future__ import annotations

from archlang.analysis.dims import Sym
from archlang.diagnostics import Frame, SpecError, did_you_mean
from archlang.graph.layers import POISONED, Abort, BlockCall, Layers, one_value, shape_of
from archlang.graph.members import Member, member_input
from archlang.graph.model import Graph, Node, Output, Scope
from archlang.graph.naming import Namer, check_identifier
from archlang.graph.size import WORK_PER_NODE, estimate
from archlang.graph.state import InitRule, Run
from archlang.graph.values import (
    INITS,
    TENSOR_ARITHMETIC,
    Budget,
    Builtin,
    Env,
    Evaluator,
    InitSpec,
    Poisoned,
    Several,
    Tensor,
    Values,
    WorkLimit,
    a_type,
    poisoned,
    show,
    type_name,
)
from archlang.ops.registry import input_op
from archlang.syntax import ast as A

#: how many bindings of one list name the graph records for hover (Graph.value_lists):
#: the first ones and the latest
LISTS_KEPT = 8


def bind(node: Node, name: str, scope: int, rename: bool = True) -> None:
    """Record that a statement of ``scope`` binds ``node``'s value to ``name``: its name in
    that scope's generated code, and its ``value_name`` (for messages and hover) unless it
    has one and ``rename`` is False."""
    if rename or node.value_name is None:
        node.value_name = name
    if node.bindings is None:
        node.bindings = {}
    node.bindings[scope] = name


def bind_list(graph: Graph, name: str, values: list) -> None:
    """Record a binding of the list of values ``name`` for hover (``Graph.value_lists``): the
    first :data:`LISTS_KEPT` - 1 bindings of a name and its latest (a list grown in a loop)."""
    seen = graph.value_lists.setdefault(name, [])
    ids = tuple(t.node for t in values if getattr(t, "node", None) is not None)
    if len(seen) < LISTS_KEPT:
        seen.append(ids)
    else:
        seen[-1] = ids


def expand(run: Run) -> None:
    """The expand pass: the chosen network of ``run.prog`` as ``run.graph``."""
    prog, rep, opts = run.prog, run.rep, run.options
    net = choose_network(run)
    if net is None:
        run.done = True
        return
    ex = Expander(run)
    try:
        ex.network(net, opts.params or {})
    except (Abort, WorkLimit):
        run.done = True
    except SpecError as e:
        rep.add(e)
        run.done = True
    except RecursionError:
        rep.error("E051", "spec nested too deeply", net.name_span, "too deep")
        run.done = True
    run.graph = ex.graph
    if run.graph is not None:
        run.graph.deps = prog.deps


def choose_network(run: Run) -> A.NetworkDef | None:
    prog, rep, name = run.prog, run.rep, run.options.network
    if not prog.networks:
        span = prog.main.span(0, 0) if prog.main.text else None
        rep.error("E060", "no network in this file", span, "nothing to check",
                  help=["define one with `network NAME { ... }`"])
        return None
    if name is None and len(prog.networks) > 1:
        rep.error("E060", "this file defines several networks; choose one", None,
                  help=["pass --network NAME, one of: " + ", ".join(prog.networks)])
        return None
    name = name if name is not None else next(iter(prog.networks))
    if name not in prog.networks:
        rep.error("E060", f"no network named `{name}`", None,
                  help=did_you_mean(name, prog.networks) or
                  ["networks in this file: " + ", ".join(prog.networks)])
        return None
    return prog.networks[name]


class Expander(Layers):
    def __init__(self, run: Run):
        self.state, self.prog, self.limits, self.rep = run, run.prog, run.limits, run.rep
        self.weights = 0  # parameters and buffers of the layers made so far
        self.budget = Budget(self.limits.max_nodes * WORK_PER_NODE * 4,
                             lambda e: self.rep.add(e, self.chain))
        run.budget = self.budget
        self.ev = Evaluator(self.limits.max_repeat, self.budget)
        self.chain: tuple[Frame, ...] = ()
        self.graph: Graph | None = None
        self.members: list[Member] = []  # networks being used as layers, innermost last
        self.calls: list[BlockCall] = []  # blocks being expanded, innermost last
        self.input_overrides: dict[str, tuple[int, ...]] = {}

    # -- the network -------------------------------------------------------------------
    def network(self, net: A.NetworkDef, given: dict) -> None:
        g = self.graph = Graph(network=net.name, source_name=net.span.source.name)
        root = Scope(0, "network", net.name, (), None, net.span)
        g.scopes.append(root)
        env = self.network_params(net, dict(given))
        if estimate(self.prog, net, env, self.limits, self.rep) is None:
            raise Abort
        self.input_overrides = dict(self.state.options.inputs or {})
        self.walk(net.body.stmts, env, Namer(root), None)
        for name in self.input_overrides:
            self.rep.error("E061", f"--input names `{name}`, which is not an input of "
                           f"`{net.name}`", None, help=did_you_mean(name, g.inputs) or
                           [f"its inputs are: {', '.join(g.inputs) or 'none'}"])

    def network_params(self, net: A.NetworkDef, given: dict) -> Env:
        """The network's parameters: given values, else defaults; a given value may also
        name a symbolic input size (``H=224``)."""
        g, env = self.graph, Env({}, None)
        for p in net.params:
            if p.name in given:
                env.vars[p.name] = given.pop(p.name)
            elif p.default is not None:
                env.vars[p.name] = self.ev.eval(p.default, env)
            else:
                self.rep.error("E014", f"network `{net.name}` needs a value for `{p.name}`",
                               p.span, "no default", help=[f"pass --set {p.name}=VALUE"])
                raise Abort
            g.params[p.name] = env.vars[p.name]
        symbols = {n.id for s in net.body.stmts if isinstance(s, A.InputStmt)
                   for item in s.shape.items for n in A.names_in(item)}
        for name, value in given.items():
            if name in symbols:
                env.vars[name] = g.params[name] = value
                continue
            params = [p.name for p in net.params]
            self.rep.error("E061", f"network `{net.name}` has no parameter `{name}`", None,
                           help=did_you_mean(name, params + sorted(symbols)) or
                           [f"its parameters are: {', '.join(params) or 'none'}"])
        if self.rep.failed:
            raise Abort
        return env

    # -- the walker's hooks ------------------------------------------------------------------
    def value(self, e: A.Expr, env: Env, cur):
        return self.ev.eval(e, env, shape_of(cur))

    def condition(self, e: A.Expr, env: Env, cur) -> bool:
        return self.ev.truth(self.value(e, env, cur), e.span)

    def tick(self, s) -> None:
        self.budget.spend(1, s.span)

    def run(self, s, env: Env, ns: Namer, cur):
        self.budget.spend(1, s.span)
        try:
            return self.step(s, env, ns, cur)
        except SpecError as e:
            self.rep.add(e, self.chain)
        except Poisoned:
            pass
        if isinstance(s, A.OutputStmt) and self.calls and not self.in_member():
            self.calls[-1].failed = True  # its value is poisoned: no cascade where it is used
        # what the failed statement would have defined is poisoned (no cascades): its value
        # and the layers it labels
        chain = getattr(s, "chain", None)
        for link in chain.links if chain is not None else ():
            if link.label is not None and not link.label_exprs and link.index is None:
                env.vars.setdefault(link.label, POISONED)
        if isinstance(s, A.BindStmt):
            env.vars[s.name] = POISONED
        if isinstance(s, A.UnpackStmt):
            env.vars.update(dict.fromkeys(s.names, POISONED))
        if isinstance(s, (A.InputStmt, A.BlockInput)):
            names = s.names if isinstance(s, A.BlockInput) else [s.name]
            env.vars.update({n: POISONED for n in names if n not in env.vars})
            return POISONED if cur is None else cur
        return POISONED if isinstance(s, (A.ChainStmt, A.BindStmt, A.UnpackStmt, A.UseStmt)) \
            else cur

    def statement(self, s, env: Env, ns: Namer, cur):
        if isinstance(s, A.ChainStmt):
            out = self.exec_chain(s.chain, env, ns, cur, statement=True)
            one_value(out, s.span)
            return out
        if isinstance(s, A.BindStmt):
            out = self.exec_chain(s.chain, env, ns, cur)
            if s.joins:
                out = self.joined(s, out, env, ns, cur)
            if isinstance(out, Several):  # feats = Backbone(x): the list of its outputs
                out = Values(t for _, t in out.items)
            if isinstance(out, list):  # a list of values; the current value stays
                env.vars[s.name] = out
                bind_list(self.graph, s.name, out)
                return cur
            env.vars[s.name] = out
            if out is not None and out.shape is not None:
                bind(self.graph.nodes[out.node], s.name, ns.scope.id)
            return out
        if isinstance(s, A.UnpackStmt):
            return self.exec_unpack(s, env, ns, cur)
        if isinstance(s, A.InputStmt):
            return self.exec_input(s, env, ns, cur)
        if isinstance(s, A.BlockInput):
            self.exec_block_input(s)
        elif isinstance(s, A.OutputStmt):
            self.exec_output(s, env, ns, cur)
        elif isinstance(s, A.OrderStmt):
            self.exec_order(s, ns)
        elif isinstance(s, A.UseStmt):
            block = self.prog.blocks.get(s.name)
            if block is None:
                raise SpecError("E010", f"unknown block `{s.name}`", s.name_span, "not a block",
                                help=did_you_mean(s.name, self.prog.blocks) or
                                ["`use` inlines a block defined with `block`"])
            return self.call_block(block, s.args, None, env, ns, cur, s.span, inline=True)
        elif isinstance(s, A.InitStmt):
            self.exec_init(s, env, ns, cur)
        else:  # pragma: no cover
            raise AssertionError(type(s))  # noqa: TRY004 - every statement kind is handled above
        return cur

    # -- statements ------------------------------------------------------------------------
    def in_member(self) -> bool:
        """Whether the statements run are those of a network used as a layer."""
        return bool(self.members and self.chain and
                    self.chain[-1].block == self.members[-1].network.name)

    def exec_order(self, s: A.OrderStmt, ns: Namer) -> None:
        if self.in_member():
            return
        if ns.scope.kind != "network" or self.chain:
            raise SpecError("E017", "a block's outputs come in the order it declares them",
                            s.span, "not allowed in a block")
        seen: set[str] = set()
        for name, span in zip(s.names, s.name_spans):
            if name in seen:
                raise SpecError("E031", f"output `{name}` is listed twice", span,
                                "listed again here")
            seen.add(name)
        self.state.order = list(zip(s.names, s.name_spans))

    def exec_init(self, s: A.InitStmt, env: Env, ns: Namer, cur) -> None:
        value = self.value(s.value, env, cur)
        if isinstance(value, Builtin) and value.name in INITS:
            value = InitSpec(value.name, tuple(sorted(INITS[value.name].items())))
        if not isinstance(value, InitSpec):
            raise SpecError("E015", f"`init` needs an initialiser, got {type_name(value)}",
                            s.value.span, "not an initialiser",
                            help=[f"initialisers: {', '.join(INITS)}"])
        if len(s.target) < 2:
            raise SpecError("E011", f"init target `{s.target[0]}` names no layer or op",
                            s.span, "which layer?",
                            help=[(f"e.g. `init conv2d.{s.target[0]}: ...` or "
                                   f"`init fc.{s.target[0]}: ...`")])
        if s.target[-1] not in ("weight", "bias"):
            raise SpecError("E011", "an init target ends in `.weight` or `.bias`", s.span,
                            "which parameter?", help=[f"e.g. `init {s.target[0]}.weight: ...`"])
        self.state.inits.append(InitRule(ns.scope.id, s.target, value, s.span))

    def exec_input(self, s: A.InputStmt, env: Env, ns: Namer, cur):
        g = self.graph
        if self.in_member():
            return member_input(self.members[-1], s, env, self.ev)
        if ns.scope.kind != "network" or ns.scope.parent is not None or self.chain:
            raise SpecError("E017", "a block's inputs take their shapes from the call", s.span,
                            "a shape in a block" if self.chain else "not allowed here",
                            help=[f"declare it without a shape: `input {s.name}`"
                                  if self.chain else "declare inputs at the network's top "
                                  "level"])
        if s.name in g.inputs:
            raise SpecError("E013", f"input `{s.name}` is declared twice", s.span,
                            "second declaration")
        check_identifier(s.name, s.span, "an input")
        shape = self.input_shape(s, env)
        source = input_op()
        node = self.add_node(source.name, source.attrs(), [], shape, ns, (s.name,), s.span)
        g.inputs[s.name] = node.id
        t = env.vars[s.name] = Tensor(node.id, shape)
        return t if cur is None else cur

    def input_shape(self, s: A.InputStmt, env: Env) -> tuple:
        if s.name in self.input_overrides:
            return tuple(self.input_overrides.pop(s.name))
        if "" in self.input_overrides and not self.graph.inputs:
            return tuple(self.input_overrides.pop(""))
        dims = []
        for item in s.shape.items:
            if isinstance(item, A.Name) and not env.lookup(item.id)[0]:
                dims.append(Sym.var(item.id))
                continue
            v = self.ev.eval(item, env, None)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise SpecError("E016" if isinstance(v, int) and not isinstance(v, bool)
                                else "E015", f"input sizes are positive integers or names, "
                                f"got {show(v)}",
                                item.span, "invalid size",
                                help=["write e.g. [3, 224, 224] or [3, H, W]"])
            dims.append(v)
        return tuple(dims)

    def exec_output(self, s: A.OutputStmt, env: Env, ns: Namer, cur) -> None:
        if self.in_member():
            if self.members[-1].take_output(s):
                self.members[-1].out = self.output_value(s, env, ns, cur)
            return None
        if self.chain:
            return self.block_output(s, env, ns, cur)
        if ns.scope.kind != "network":
            raise SpecError("E017", "outputs are declared at the network's top level", s.span,
                            "inside a group",
                            help=["declare the output after the group: `output y = name`"])
        check_identifier(s.name, s.name_span, "an output")
        value = self.output_value(s, env, ns, cur, strict=True)
        if any(o.name == s.name for o in self.graph.outputs):
            raise SpecError("E031", f"output `{s.name}` is declared twice", s.name_span,
                            "second declaration")
        if value.shape is None:
            return
        self.graph.outputs.append(Output(s.name, value.node, s.training, s.name_span))
        env.vars.setdefault(s.name, value)

    def block_output(self, s: A.OutputStmt, env: Env, ns: Namer, cur) -> None:
        """``output y = ...`` in a block: one of its declared outputs."""
        call = self.calls[-1]
        if s.training:
            raise SpecError("E017", "a block's outputs exist in eval mode too", s.span,
                            "`training` in a block",
                            help=[("return the value, and declare the training output in the "
                                   "network")])
        if ns.scope.id != call.scope:
            raise SpecError("E017", "a block declares its outputs at its own level, not inside "
                            "a group", s.span, "inside a group",
                            help=["declare the output after the group: `output y = name`"])
        check_identifier(s.name, s.name_span, "an output")
        if any(name == s.name for name, _ in call.outputs):
            raise SpecError("E031", f"output `{s.name}` is declared twice", s.name_span,
                            "second declaration")
        value = self.output_value(s, env, ns, cur, strict=True)
        call.outputs.append((s.name, value))
        env.vars.setdefault(s.name, value)

    def exec_block_input(self, s: A.BlockInput) -> None:
        """``input a, b``: bound when the block is called; only placed here."""
        if not self.chain or self.in_member():
            raise SpecError("E017", "a network's input declares its shape", s.span,
                            "no shape", help=[f"e.g. `input {s.names[0]}: [3, 224, 224]`"])
        if not any(s is t for t in self.calls[-1].block.body.stmts):
            raise SpecError("E017", "a block declares its inputs at its top level", s.span,
                            "nested here", help=["move `input` out of the `for`, `if` or group"])

    def joined(self, s: A.BindStmt, out, env: Env, ns: Namer, cur) -> list:
        """``feats = feats + [y]``: lists of values joined in order."""
        parts = [(out, s.chain)] + [(self.exec_chain(j.chain, env, ns, cur), j.chain)
                                    for j in s.joins]
        if any(poisoned(v) for v, _ in parts):
            raise Poisoned()
        for j in s.joins:
            if j.op != "+":
                raise SpecError("E015", f"`{j.op}` on layer outputs", j.span,
                                "lists of values are joined with `+`",
                                help=TENSOR_ARITHMETIC[:1])
        for v, chain in parts:
            if not isinstance(v, (list, Several)):
                tensors = all(isinstance(p, Tensor) for p, _ in parts)
                raise SpecError("E015", "`+` joins lists of values; this is one value",
                                chain.span, "one value",
                                help=[(f"add tensors with a layer: "
                                       f"`add({', '.join(c.span.text for _, c in parts)})`")]
                                if tensors else
                                [f"put it in a list: `[{chain.span.text}]`"])
        joined = Values(t for v, _ in parts
                        for t in (v if isinstance(v, list) else [t for _, t in v.items]))
        return self.check_list(joined, s.span)

    def exec_unpack(self, s: A.UnpackStmt, env: Env, ns: Namer, cur):
        """``a, b = chain``: each output of a block with several, bound to a name; the last
        becomes the current value."""
        for k, name in enumerate(s.names):
            if name in s.names[:k]:
                raise SpecError("E013", f"`{name}` is bound twice", s.name_spans[k],
                                "second time")
        out = self.exec_chain(s.chain, env, ns, cur)
        if poisoned(out):
            raise Poisoned()
        if not isinstance(out, Several):
            raise SpecError("E015", f"`{', '.join(s.names)} = ...` binds the outputs of a "
                            "block that declares several; this is one value", s.chain.span,
                            "one value", help=[f"bind it to one name: `{s.names[0]} = ...`"])
        if len(out.items) != len(s.names):
            raise SpecError("E014", f"`{out.block}` gives {len(out.items)} outputs "
                            f"({', '.join(out.names)}), {len(s.names)} names bind them",
                            s.span.source.span(s.name_spans[0].start, s.name_spans[-1].end),
                            f"{len(s.names)} names",
                            help=[f"bind every output: `{', '.join(out.names)} = ...`"])
        for name, (_, t) in zip(s.names, out.items):
            env.vars[name] = t
            if t.shape is not None:  # the block's own name stays its value_name
                bind(self.graph.nodes[t.node], name, ns.scope.id, rename=False)
        return out.items[-1][1]

    def output_value(self, s: A.OutputStmt, env: Env, ns: Namer, cur, strict=False):
        """``output y`` names the current value or the value `y`; ``output y: chain`` runs the
        chain first."""
        if s.chain is not None:
            out = self.exec_chain(s.chain, env, ns, cur)
            one_value(out, s.chain.span)
            return out
        found, value = env.lookup(s.name)
        if not strict:
            return value if found and isinstance(value, Tensor) else cur
        if not found:
            if cur is None:
                raise SpecError("E012", f"unknown value `{s.name}`", s.name_span, "not defined")
            return cur  # `output logits` names the current value
        one_value(value, s.name_span)
        if not isinstance(value, Tensor):
            raise SpecError("E015", f"`{s.name}` is {a_type(value)}, not a layer output",
                            s.name_span, "not a tensor")
        return value
