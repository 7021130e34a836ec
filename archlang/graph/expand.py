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
from archlang.graph.bind import bind, block_signature, op_attrs
from archlang.graph.members import Member, member_input
from archlang.graph.model import Graph, Node, Output, Scope
from archlang.graph.naming import Namer, check_identifier
from archlang.graph.size import WORK_PER_NODE, estimate
from archlang.graph.state import InitRule, Run
from archlang.graph.values import INITS, POISON, Budget, Builtin, Env, Evaluator, InitSpec, \
    Poisoned, Tensor, WorkLimit, a_type, show, type_name
from archlang.graph.walk import Walker
from archlang.ops.base import Op, Shaped
from archlang.ops.registry import all_names, construct_op, input_op, lookup
from archlang.source import Span
from archlang.syntax import ast as A


class Abort(Exception):
    """Stop expanding this network (a limit was hit; already reported)."""


POISONED = Tensor(-1, None)


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


class Expander(Walker):
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
        # what the failed statement would have defined is poisoned (no cascades)
        if isinstance(s, A.BindStmt):
            env.vars[s.name] = POISONED
        if isinstance(s, A.InputStmt):
            env.vars.setdefault(s.name, POISONED)
            return POISONED if cur is None else cur
        return POISONED if isinstance(s, (A.ChainStmt, A.BindStmt, A.UseStmt)) else cur

    def statement(self, s, env: Env, ns: Namer, cur):
        if isinstance(s, A.ChainStmt):
            return self.exec_chain(s.chain, env, ns, cur, statement=True)
        if isinstance(s, A.BindStmt):
            out = self.exec_chain(s.chain, env, ns, cur)
            env.vars[s.name] = out
            if out is not None and out.shape is not None:
                self.graph.nodes[out.node].value_name = s.name
            return out
        if isinstance(s, A.InputStmt):
            return self.exec_input(s, env, ns, cur)
        if isinstance(s, A.OutputStmt):
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
            raise AssertionError(type(s))
        return cur

    # -- statements ------------------------------------------------------------------------
    def in_member(self) -> bool:
        """Whether the statements run are those of a network used as a layer."""
        return bool(self.members and self.chain and
                    self.chain[-1].block == self.members[-1].network.name)

    def exec_order(self, s: A.OrderStmt, ns: Namer) -> None:
        if self.in_member():
            return
        if ns.scope.kind != "network":
            raise SpecError("E017", "outputs are declared in networks, not blocks", s.span,
                            "not allowed in a block")
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
                            help=[f"e.g. `init conv2d.{s.target[0]}: ...` or "
                                  f"`init fc.{s.target[0]}: ...`"])
        if s.target[-1] not in ("weight", "bias"):
            raise SpecError("E011", "an init target ends in `.weight` or `.bias`", s.span,
                            "which parameter?", help=[f"e.g. `init {s.target[0]}.weight: ...`"])
        self.state.inits.append(InitRule(ns.scope.id, s.target, value, s.span))

    def exec_input(self, s: A.InputStmt, env: Env, ns: Namer, cur):
        g = self.graph
        if self.in_member():
            return member_input(self.members[-1], s, env, self.ev)
        if ns.scope.kind != "network" or ns.scope.parent is not None or self.chain:
            raise SpecError("E017", "inputs are declared in networks, not blocks", s.span,
                            "not allowed here",
                            help=["a block's input is the value it is applied to"])
        if s.name in g.inputs:
            raise SpecError("E013", f"input `{s.name}` is declared twice", s.span,
                            "second declaration")
        check_identifier(s.name, s.span, "an input")
        shape = self.input_shape(s, env)
        source = input_op()
        node = self.add_node(source.name, source.attrs(), [], shape, ns, s.name, s.span)
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
        if ns.scope.kind != "network" or self.chain:
            raise SpecError("E017", "outputs are declared in networks, not blocks", s.span,
                            "not allowed in a block", help=["a block returns its last value"])
        check_identifier(s.name, s.name_span, "an output")
        value = self.output_value(s, env, ns, cur, strict=True)
        if any(o.name == s.name for o in self.graph.outputs):
            raise SpecError("E031", f"output `{s.name}` is declared twice", s.name_span,
                            "second declaration")
        if value.shape is None:
            return
        self.graph.outputs.append(Output(s.name, value.node, s.training, s.name_span))
        env.vars.setdefault(s.name, value)

    def output_value(self, s: A.OutputStmt, env: Env, ns: Namer, cur, strict=False):
        """``output y`` names the current value or the value `y`; ``output y: chain`` runs the
        chain first."""
        if s.chain is not None:
            return self.exec_chain(s.chain, env, ns, cur)
        found, value = env.lookup(s.name)
        if not strict:
            return value if found and isinstance(value, Tensor) else cur
        if not found:
            if cur is None:
                raise SpecError("E012", f"unknown value `{s.name}`", s.name_span, "not defined")
            return cur  # `output logits` names the current value
        if not isinstance(value, Tensor):
            raise SpecError("E015", f"`{s.name}` is {a_type(value)}, not a layer output",
                            s.name_span, "not a tensor")
        return value

    # -- chains and items -----------------------------------------------------------------
    def exec_chain(self, chain: A.Chain, env: Env, ns: Namer, cur, statement=False):
        links = chain.links
        first = links[0]
        if isinstance(first.item, A.Bare) and first.label is None:
            found, value = env.lookup(first.item.name)
            callable_ = lookup(first.item.name) is not None or first.item.name in self.prog.blocks
            if not found and not callable_ and len(links) > 1:
                values = [k for k in env.names() if isinstance(env.lookup(k)[1], Tensor)]
                raise SpecError("E012", f"unknown value `{first.item.name}`", first.item.span,
                                "no layer output has this name",
                                help=did_you_mean(first.item.name, values) or
                                ["name a layer with `name: layer` or bind `name = ...` first"])
            if found and isinstance(value, Tensor) and (len(links) > 1 or not callable_
                                                        or not statement):
                cur = value
                links = links[1:]
        for link in links:
            cur = self.apply(link, env, ns, cur)
        return cur

    def apply(self, link: A.Link, env: Env, ns: Namer, cur):
        item = link.item
        if isinstance(item, (A.Call, A.Bare)):
            return self.apply_named(item, link, env, ns, cur)
        if isinstance(item, (A.Group, A.Seq)):
            return self.apply_group(item, link, env, ns, cur)
        if isinstance(item, (A.ConcatBlock, A.AverageBlock)):
            return self.apply_merge_block(item, link, env, ns, cur)
        if isinstance(item, A.ConcatCall):
            return self.apply_op(construct_op(item.keyword), item.args, link, env, ns, cur,
                                 item.span)
        if isinstance(item, A.Residual):
            return self.apply_residual(item, link, env, ns, cur)
        raise AssertionError(type(item))  # pragma: no cover

    def apply_named(self, item, link: A.Link, env: Env, ns: Namer, cur):
        name = item.name
        args = item.args if isinstance(item, A.Call) else []
        op = lookup(name)
        if op is not None:
            return self.apply_op(op, args, link, env, ns, cur, item.span)
        block = self.prog.blocks.get(name)
        if block is not None:
            return self.call_block(block, args, link, env, ns, cur, item.span)
        member = self.prog.members.get(name)
        if member is not None:
            return self.call_block(member, args, link, env, ns, cur, item.span, network=True)
        name_span = item.name_span if isinstance(item, A.Call) else item.span
        found, value = env.lookup(name)
        if found and isinstance(value, Tensor):
            raise SpecError("E015", f"`{name}` is a value; it cannot be applied as a layer",
                            name_span, "a value, not a layer",
                            help=[f"start a chain with it instead: `{name} -> ...`"])
        raise SpecError("E010", f"unknown layer `{name}`", name_span, "not an op or block",
                        help=did_you_mean(name, [*all_names(), *self.prog.blocks,
                                                 *self.prog.members]) or
                        ["see docs/ops.md for the ops; blocks are defined with `block`"])

    def apply_op(self, op: Op, args: list[A.Arg], link: A.Link, env: Env, ns: Namer, cur,
                 span: Span) -> Tensor:
        cur_shape = shape_of(cur)
        given, tensors = [], []
        for arg in args:
            v = self.ev.eval(arg.value, env, cur_shape)
            if not isinstance(v, Tensor):
                given.append((v, arg))
            elif arg.name is not None:
                raise SpecError("E015", f"`{arg.name}` cannot be a tensor", arg.span,
                                "a layer output")
            else:
                tensors.append(v)
        known = cur_shape if isinstance(cur_shape, tuple) and cur_shape is not POISON else None
        attrs, arg_spans = op_attrs(op, given, span, known)
        if op.inputs == (1, 1) and tensors:
            raise SpecError("E015", f"`{op.name}` takes its input from the chain, not as an "
                            "argument", span, "tensor argument",
                            help=[f"write `value -> {op.name}(...)`"])
        if not tensors:
            need_input(cur, span)
        inputs = tensors or [cur]
        if len(inputs) < op.inputs[0]:
            raise SpecError("E014", f"`{op.name}` needs at least {op.inputs[0]} inputs, got "
                            f"{len(inputs)}", span, "too few inputs",
                            help=[f"e.g. `{op.name}(a, b)` with named values a and b"])
        name = ns.name(link.label, link.label_span, self.rep, self.chain)
        return self.make_node(op, attrs, inputs, name, link.label, ns, span, arg_spans, env)

    def make_node(self, op: Op, attrs, inputs: list[Tensor], name: str, label, ns: Namer,
                  span: Span, arg_spans: dict, env: Env, implicit: bool = False) -> Tensor:
        if any(t.shape is None for t in inputs):
            if label:
                env.vars[label] = POISONED
            return POISONED
        shapes = [t.shape for t in inputs]
        error, agree = None, ()
        try:
            shape = op.shape(attrs, shapes)
            if isinstance(shape, Shaped):
                shape, agree = shape
        except SpecError as e:
            error = self.rep.add(e, self.chain, arg_spans.get(e.arg, span) if e.arg else span)
            shape = None
        node = self.add_node(op.name, attrs, [t.node for t in inputs], shape, ns, name, span,
                             implicit=implicit)
        node.error, node.agree = error, agree
        if shape is not None:
            self.count(node, op, shapes)
        t = Tensor(node.id, shape)
        if label:
            env.vars[label] = t
        return t

    def count(self, node: Node, op: Op, shapes: list) -> None:
        """A node's parameters, buffers and MACs; a huge network stops at the layer that makes
        it huge, before the rest is expanded (buffers count too: they are allocated)."""
        node.params = op.params(node.attrs, shapes, node.shape)
        node.buffers = op.buffers(node.attrs, shapes, node.shape)
        node.macs = op.macs(node.attrs, shapes, node.shape)
        self.weights += node.params + node.buffers
        if self.weights > self.limits.max_params:
            what = "parameters" if not node.buffers else "parameters and buffers"
            self.rep.error("E054", f"network has more than {self.limits.max_params:,} "
                           f"parameters and buffers", node.span,
                           f"{node.params + node.buffers:,} {what} here", chain=self.chain,
                           help=["raise the limit with --max-params"])
            raise Abort

    def add_node(self, op: str, attrs, inputs: list[int], shape, ns: Namer, name: str,
                 span: Span, implicit: bool = False) -> Node:
        g = self.graph
        if len(g.nodes) >= self.limits.max_nodes:
            self.rep.error("E050", f"network expands to more than {self.limits.max_nodes} layers",
                           span, "limit reached here", chain=self.chain,
                           help=["raise the limit with --max-nodes"])
            raise Abort
        node = Node(len(g.nodes), op, attrs, inputs, shape, (*ns.scope.path, name),
                    ns.scope.id, span, self.chain, implicit=implicit)
        g.nodes.append(node)
        ns.scope.items.append(("node", node.id))
        return node

    def new_scope(self, kind: str, name: str, ns: Namer, label, label_span, span: Span,
                  args=None) -> Namer:
        g = self.graph
        item_name = ns.name(label, label_span, self.rep, self.chain)
        scope = Scope(len(g.scopes), kind, name, (*ns.scope.path, item_name), ns.scope.id, span,
                      args=args or {}, chain=self.chain)
        g.scopes.append(scope)
        ns.scope.items.append(("scope", scope.id))
        return Namer(scope)

    def apply_group(self, item, link: A.Link, env: Env, ns: Namer, cur):
        need_input(cur, item.span)
        if cur.shape is None:
            raise Poisoned()
        inner = self.new_scope("seq", "", ns, link.label, link.label_span, item.span)
        inner.scope.input = cur.node
        if isinstance(item, A.Group):
            out = self.walk(item.body.stmts, env.child(), inner, cur)
        else:
            out, child = cur, env.child()
            for sub in item.links:
                try:
                    out = self.apply(sub, child, inner, out)
                except SpecError as e:
                    self.rep.add(e, self.chain)
                    out = POISONED
                except Poisoned:
                    out = POISONED
        inner.scope.output = out.node if out is not None else None
        if link.label and out is not None:
            env.vars[link.label] = out
        return out

    def apply_merge_block(self, item, link: A.Link, env: Env, ns: Namer, cur):
        """``concat { }`` / ``average { }``: every branch applied to the input, then merged."""
        need_input(cur, item.span)
        branches = Branches(self, cur).walk(item.body.stmts, env.child(), ns, [])
        merge = construct_op(item.keyword)
        if len(branches) < merge.inputs[0]:
            many = "es" if merge.inputs[0] > 1 else ""
            raise SpecError("E014", f"`{item.keyword} {{ }}` needs at least {merge.inputs[0]} "
                            f"branch{many}", item.span, "too few branches")
        name = ns.name(link.label, link.label_span, self.rep, self.chain) if link.label else \
            ns.implicit(merge.name)
        return self.make_node(merge, merge.attrs(), branches, name, link.label, ns, item.span,
                              {}, env, implicit=link.label is None)

    def apply_residual(self, item: A.Residual, link: A.Link, env: Env, ns: Namer, cur):
        need_input(cur, item.span)
        if link.label is not None:
            raise SpecError("E017", "a residual cannot be named; name the layers inside it or "
                            "wrap it in a block", link.label_span, "label not allowed here")
        x = cur
        body_out = self.walk(item.body.stmts, env.child(), ns, x)
        short = x
        sc = item.shortcut
        if sc is not None and (sc.cond is None or self.condition(sc.cond, env, x)):
            inner = self.new_scope("seq", "", ns, sc.name, sc.name_span, sc.span)
            inner.scope.input = x.node
            short = self.walk(sc.body.stmts, env.child(), inner, x)
            inner.scope.output = short.node if short is not None else None
        if body_out is None or short is None:
            return POISONED
        add = construct_op(item.keyword)
        return self.make_node(add, add.attrs(), [body_out, short], ns.implicit(add.name), None,
                              ns, item.span, {}, env, implicit=True)

    def call_block(self, block, args: list[A.Arg], link: A.Link | None, env: Env,
                   ns: Namer, cur, span: Span, inline: bool = False,
                   network: bool = False) -> Tensor:
        """A block call, or a network used as a layer (an ensemble member)."""
        need_input(cur, span)
        if cur.shape is None:
            raise Poisoned()
        if any(f.block == block.name for f in self.chain):
            raise SpecError("E055", f"block `{block.name}` calls itself", span, "recursive call",
                            help=["use `for` to repeat layers; blocks cannot recurse"])
        if len(self.chain) >= self.limits.max_depth:
            raise SpecError("E051", f"blocks nested more than {self.limits.max_depth} deep",
                            span, "too deep")
        benv = self.block_env(block, args, env, cur, span)
        if inline:
            inner = ns
        else:
            inner = self.new_scope("block", block.name, ns, link.label, link.label_span, span,
                                   args=dict(benv.vars))
            inner.scope.input = cur.node
        saved = self.chain
        self.chain = (*saved, Frame(block.name, ".".join(inner.scope.path) or
                                    self.graph.network, span))
        if not inline:
            inner.scope.chain = self.chain
        if network:
            self.members.append(Member(cur, block))
        try:
            out = self.walk(block.body.stmts, benv, inner, cur)
            if network:
                out = self.members[-1].result(span)
        finally:
            self.chain = saved
            if network:
                self.members.pop()
        if not inline:
            inner.scope.output = out.node if out is not None else None
        if link is not None and link.label and out is not None:
            env.vars[link.label] = out
        return out

    def block_env(self, block: A.BlockDef, args: list[A.Arg], env: Env, cur, span) -> Env:
        """A block's environment: its parameters bound to the call's arguments, then
        defaults (which may use earlier parameters)."""
        given = [(self.value(a.value, env, cur), a) for a in args]
        bound = bind(block_signature(block), given, span)
        for n, (v, _) in bound.items():
            if isinstance(v, Tensor):
                raise SpecError("E015", f"block argument `{n}` cannot be a tensor", span,
                                "blocks take their input from the chain")
        benv = Env({}, None)
        for p in block.params:
            if p.name in bound:
                benv.vars[p.name] = bound[p.name][0]
            elif p.default is not None:
                benv.vars[p.name] = self.ev.eval(p.default, benv, shape_of(cur))
            else:
                raise SpecError("E014", f"`{block.name}` needs `{p.name}`", span,
                                f"missing {p.name}", help=[block_signature(block).text])
        return benv


class Branches(Walker):
    """The branches of a ``concat { }`` or ``average { }``: each chain statement is one, applied
    to the block's input; ``let``, ``for`` and ``if`` work as anywhere."""

    def __init__(self, ex: Expander, x: Tensor):
        self.ex, self.x = ex, x

    def value(self, e, env, out):
        return self.ex.value(e, env, self.x)

    def condition(self, e, env, out):
        return self.ex.condition(e, env, self.x)

    def tick(self, s) -> None:
        self.ex.tick(s)

    def run(self, s, env, ns, out):
        try:
            return self.step(s, env, ns, out)
        except SpecError as e:
            self.ex.rep.add(e, self.ex.chain)
        except Poisoned:
            pass
        return [*out, POISONED]

    def statement(self, s, env, ns, out):
        if isinstance(s, A.ChainStmt):
            return [*out, self.ex.exec_chain(s.chain, env, ns, self.x)]
        raise SpecError("E017", "a `concat { }` holds branches: chains, `for`, `if` and `let`",
                        s.span, "not a branch")


def shape_of(cur: Tensor | None):
    if cur is None:
        return None
    return POISON if cur.shape is None else cur.shape


def need_input(cur, span) -> None:
    if cur is None:
        raise SpecError("E017", "a layer before any input", span, "no input yet",
                        help=["declare the input first: `input x: [3, 224, 224]`"])
