"""Layers: a chain's items → op nodes (ops, blocks, groups, merges, residuals).

:class:`Layers` is the half of the expander that builds nodes; the statement half is in
:mod:`archlang.graph.expand`. Every node's shape is inferred as it is made, by its op's
rule; size equalities a rule assumes are kept on the node for :mod:`archlang.graph.solve`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archlang.diagnostics import Frame, Reporter, SpecError, did_you_mean
from archlang.graph.bind import bind, bind_inputs, block_signature, op_attrs
from archlang.graph.members import Member
from archlang.graph.model import Graph, Node, Scope
from archlang.graph.naming import Label, Namer
from archlang.graph.values import (
    POISON,
    Env,
    Evaluator,
    Poisoned,
    Several,
    Tensor,
    Values,
    a_type,
    holds_tensor,
    show,
    type_name,
    value_list,
)
from archlang.graph.walk import Walker, list_literal, names_value
from archlang.limits import Limits
from archlang.ops.base import Op, Shaped
from archlang.ops.registry import all_names, construct_op, lookup
from archlang.program import Program
from archlang.source import Span
from archlang.syntax import ast as A


class Abort(Exception):
    """Stop expanding this network (a limit was hit; already reported)."""


POISONED = Tensor(-1, None)


class Layers(Walker):
    """Builds the nodes of chains; the expander gives the statements and this state."""

    prog: Program
    limits: Limits
    ev: Evaluator
    graph: Graph
    chain: tuple[Frame, ...]
    members: list[Member]
    calls: list[BlockCall]
    weights: int
    rep: Reporter

    def exec_chain(self, chain: A.Chain, env: Env, ns: Namer, cur, statement=False):
        """A chain's value: a tensor, a block's several outputs, or (not as a statement of
        its own) a list of values, ``[c2, c3]``."""
        elements = None if statement else list_literal(chain, env, self.prog.calls)
        if elements is not None:
            return self.check_list([self.element(link, env, cur) for link in elements],
                                   chain.span)
        links = chain.links
        first = links[0]
        if isinstance(first.item, A.Indexed) and first.label is None:
            cur = self.value(first.item.value, env, cur)  # feats[i] -> ...
            if not (isinstance(cur, Tensor) or value_list(cur)):
                raise SpecError("E015", f"`{first.item.span.text}` is {a_type(cur)}, not a "
                                "layer output", first.item.span, f"this is {a_type(cur)}",
                                help=["a chain starts from a layer output or a list of them"])
            links = links[1:]
        elif isinstance(first.item, A.Bare) and first.label is None and not first.unnumbered:
            found, value = env.lookup(first.item.name)
            if not found and len(links) > 1 and not self.prog.calls(first.item.name):
                values = [k for k in env.names() if isinstance(env.lookup(k)[1], Tensor)]
                raise SpecError("E012", f"unknown value `{first.item.name}`", first.item.span,
                                "no layer output has this name",
                                help=did_you_mean(first.item.name, values) or
                                ["name a layer with `name: layer` or bind `name = ...` first"])
            if found and (isinstance(value, (Tensor, Several)) or value_list(value)) and (
                    len(links) > 1 or not statement or not self.prog.calls(first.item.name)):
                cur = value
                links = links[1:]
        if links and isinstance(cur, list) and links is not chain.links:
            one_value(cur, first.span, first.item.span.text)
        for k, link in enumerate(links):
            one_value(cur, link.span)
            cur = self.apply(link, env, ns, cur, piped=k > 0 or links is not chain.links)
        return cur

    def element(self, link: A.Link, env: Env, cur):
        """One element of a list of values: a named value or ``feats[i]``."""
        item = link.item
        if isinstance(item, A.Indexed) and link.label is None:
            v = self.value(item.value, env, cur)
            if isinstance(v, Tensor) or value_list(v):
                return v
            what = f"`{item.span.text}` is {a_type(v)}"
        else:
            found, v = env.lookup(item.name) if isinstance(item, A.Bare) else (False, None)
            if names_value(link, env, self.prog.calls):
                return v
            what = f"`{item.span.text}` is {a_type(v)}" if found and link.label is None \
                and not self.prog.calls(item.name) else f"`{link.span.text}` is a layer"
        raise SpecError("E015", f"a list of values holds layer outputs; {what}", link.span,
                        "not a layer output",
                        help=["apply layers to a value first: `y = a -> relu`, then `[..., y]`"])

    def check_list(self, values: list, span: Span) -> list:
        """A list of values built by a chain: within the repeat limit."""
        return self.ev.check_int(Values(values), span)

    def apply(self, link: A.Link, env: Env, ns: Namer, cur, piped: bool = False):
        """One link of a chain; ``piped``: it follows a ``->``."""
        label = self.label(link, env, cur)
        item = link.item
        if isinstance(item, A.Indexed):
            raise SpecError("E015", f"`{item.span.text}` is a value; it cannot be applied as a "
                            "layer", item.span, "a value, not a layer",
                            help=[f"start a chain with it instead: `{item.span.text} -> ...`"])
        if isinstance(item, (A.Call, A.Bare)):
            return self.apply_named(item, label, env, ns, cur, piped)
        if isinstance(item, (A.Group, A.Seq)):
            return self.apply_group(item, label, env, ns, cur)
        if isinstance(item, (A.ConcatBlock, A.AverageBlock)):
            return self.apply_merge_block(item, label, env, ns, cur)
        if isinstance(item, A.ConcatCall):
            return self.apply_op(construct_op(item.keyword), item.args, label, env, ns, cur,
                                 item.span)
        if isinstance(item, A.Residual):
            return self.apply_residual(item, label, env, ns, cur)
        raise AssertionError(type(item))  # pragma: no cover

    def label(self, link: A.Link, env: Env, cur) -> Label:
        """What the link's label names: its computed name, and the index of a list item."""
        name = self.computed_label(link, env, cur) if link.label_exprs else link.label
        if link.index is None:
            return Label(name, link.label_span, unnumbered=link.unnumbered)
        index = self.value(link.index, env, cur)
        if isinstance(index, bool) or not isinstance(index, int):
            raise SpecError("E015", f"a list's index is an int, got {type_name(index)} "
                            f"{show(index)}", link.index.span, f"this is {a_type(index)}",
                            help=[(f"number the items of `{name}` 0, 1, 2, ...: "
                                   f"`{name}.{{i}}` in `for i in range(n)`")])
        return Label(name, link.label_span, index)

    def computed_label(self, link: A.Link, env: Env, cur) -> str:
        """``denselayer{i + 1}: ...`` as the label ``denselayer3``, ``block{s}-{j}`` as
        ``block1-0``."""
        name = link.label
        for expr, text in zip(link.label_exprs, link.label_texts):
            v = self.value(expr, env, cur)
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                raise SpecError("E015", f"a layer name is built from ints and strings, got "
                                f"{type_name(v)} {show(v)}", expr.span, f"this is {a_type(v)}")
            name += f"{v}{text}"
        if not (name.replace("-", "_").isidentifier() and name.isascii()):
            raise SpecError("E018", f"`{name}` cannot name a layer: it is not a name",
                            link.label_span, "computed name",
                            help=[("a computed name joins its text and values: letters, digits, "
                                   "`_` and `-`, starting with a letter or `_`")])
        return name

    def apply_named(self, item, label: Label, env: Env, ns: Namer, cur, piped: bool = False):
        name = item.name
        args = item.args if isinstance(item, A.Call) else []
        op = lookup(name, installed=False)
        if op is not None:
            return self.apply_op(op, args, label, env, ns, cur, item.span)
        block = self.prog.blocks.get(name)
        if block is not None:
            return self.call_block(block, args, label, env, ns, cur, item.span, piped=piped)
        member = self.prog.members.get(name)
        if member is not None:
            return self.call_block(member, args, label, env, ns, cur, item.span, network=True)
        op = lookup(name)  # an installed plugin's op, last
        if op is not None:
            return self.apply_op(op, args, label, env, ns, cur, item.span)
        name_span = item.name_span if isinstance(item, A.Call) else item.span
        found, value = env.lookup(name)
        one_value(value, name_span)
        if found and isinstance(value, Tensor):
            raise SpecError("E015", f"`{name}` is a value; it cannot be applied as a layer",
                            name_span, "a value, not a layer",
                            help=[f"start a chain with it instead: `{name} -> ...`"])
        raise SpecError("E010", f"unknown layer `{name}`", name_span, "not an op or block",
                        help=did_you_mean(name, [*all_names(), *self.prog.blocks,
                                                 *self.prog.members]) or
                        ["see docs/ops.md for the ops; blocks are defined with `block`"])

    def apply_op(self, op: Op, args: list[A.Arg], label: Label, env: Env, ns: Namer, cur,
                 span: Span) -> Tensor:
        cur_shape = shape_of(cur)
        given, tensors, spread = [], [], False
        for arg in args:
            v = self.ev.eval(arg.value, env, cur_shape)
            if not holds_tensor(v) and not (isinstance(v, list) and not v and
                                           op.inputs[1:] == (None,)):
                given.append((v, arg))
            elif arg.name is not None:
                raise SpecError("E015", f"`{arg.name}` cannot be {a_type(v)}", arg.span,
                                "a layer output" if isinstance(v, Tensor) else a_type(v))
            elif isinstance(v, Tensor):
                tensors.append(v)
            else:
                tensors += self.spread(op, v, arg)
                spread = True
        known = cur_shape if isinstance(cur_shape, tuple) and cur_shape is not POISON else None
        attrs, arg_spans = op_attrs(op, given, span, known)
        if op.inputs == (1, 1) and tensors:
            raise SpecError("E015", f"`{op.name}` takes its input from the chain, not as an "
                            "argument", span, "tensor argument",
                            help=[f"write `value -> {op.name}(...)`"])
        if not tensors and not spread:
            need_input(cur, span)
        inputs = tensors if tensors or spread else [cur]
        if len(inputs) < op.inputs[0]:
            raise SpecError("E014", f"`{op.name}` needs at least {op.inputs[0]} "
                            f"input{'s' if op.inputs[0] != 1 else ''}, got "
                            f"{len(inputs)}", span, "too few inputs",
                            help=[f"e.g. `{op.name}(a, b)` with named values a and b"])
        if label.unnumbered:
            if op.stateful or op.held:
                raise SpecError("E018", f"`{op.name}` is always a module (it holds weights or "
                                "state), which needs a name, not `_`", label.span,
                                "a module without a name",
                                help=[(f"name it (`{op.name}1: {op.name}(...)`), or leave the "
                                       "label out to number it")])
            return self.make_node(op, attrs, inputs, (ns.implicit(op.name),), None, ns, span,
                                  arg_spans, env, implicit=True)
        if label.index is not None and not registered(op):
            raise SpecError("E015", f"`{op.name}` makes no module, so it cannot be an item of "
                            f"the list `{label.name}`", span, "not a module",
                            help=[("a list holds modules (layers, groups, block instances): "
                                   f"apply `{op.name}` outside it")])
        local = ns.local(label, self.rep, self.chain)
        return self.make_node(op, attrs, inputs, local, label.binds, ns, span, arg_spans, env)

    def spread(self, op: Op, values, arg: A.Arg) -> list[Tensor]:
        """``concat(feats)``: a list's values are the inputs of an op that takes any number
        (``add``, ``concat``, ``mean``, ``mul``), in order."""
        if op.inputs[1:] != (None,) or not value_list(values):
            takes = "its input from the chain" if op.inputs == (1, 1) else \
                f"{op.inputs[0]} named values" if len(set(op.inputs)) == 1 else "named values"
            raise SpecError("E015", f"`{op.name}` takes {takes}, not {a_type(values)}",
                            arg.span, f"this is {a_type(values)}",
                            help=[f"give one of its values: `{arg.value.span.text}[i]`"]
                            if value_list(values) and values else [])
        out: list[Tensor] = []
        for v in values:
            if not isinstance(v, Tensor):
                raise SpecError("E015", f"`{op.name}` takes a list of layer outputs; this one "
                                "holds lists", arg.span, "a list of lists",
                                help=[f"give one of them: `{arg.value.span.text}[i]`"])
            out.append(v)
        return out

    def make_node(self, op: Op, attrs, inputs: list[Tensor], local: tuple[str, ...], label,
                  ns: Namer, span: Span, arg_spans: dict, env: Env,
                  implicit: bool = False) -> Tensor:
        if any(t.shape is None for t in inputs):
            if label:
                env.vars[label] = POISONED
            return POISONED
        if not op.broadcasts:
            self.refuse_held(op, inputs, span)
        shapes = [t.shape for t in inputs]
        error, agree = None, ()
        try:
            shape = op.shape(attrs, shapes)
            if isinstance(shape, Shaped):
                shape, agree = shape
        except SpecError as e:
            error = self.rep.add(e, self.chain, arg_spans.get(e.arg, span) if e.arg else span)
            shape = None
        node = self.add_node(op.name, attrs, [t.node for t in inputs], shape, ns, local, span,
                             implicit=implicit)
        node.error, node.agree = error, agree
        if shape is not None:
            self.count(node, op, shapes)
        t = Tensor(node.id, shape)
        if label:
            env.vars[label] = t
        return t

    def refuse_held(self, op: Op, inputs: list[Tensor], span: Span) -> None:
        """A held tensor (``parameter``) has no batch dimension: only an op that broadcasts
        (``mul``, ``add``) may read it, or the first dim would be taken for the batch."""
        for t in inputs:
            if self.graph.held(t.node):
                n = self.graph.nodes[t.node]
                raise SpecError("E015", f"`{op.name}` cannot read the learnable tensor "
                                f"`{n.value_name or n.path[-1]}`", span,
                                "reads a tensor without a batch dimension",
                                notes=[f"the tensor is declared at {n.span}"],
                                help=[("a `parameter` is read by `mul` or `add`, which broadcast "
                                       "it over the batch: e.g. `mul(layer_scale, x)`")])

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

    def add_node(self, op: str, attrs, inputs: list[int], shape, ns: Namer,
                 local: tuple[str, ...], span: Span, implicit: bool = False) -> Node:
        g = self.graph
        if len(g.nodes) >= self.limits.max_nodes:
            self.rep.error("E050", f"network expands to more than {self.limits.max_nodes} layers",
                           span, "limit reached here", chain=self.chain,
                           help=["raise the limit with --max-nodes"])
            raise Abort
        node = Node(len(g.nodes), op, attrs, inputs, shape, (*ns.scope.path, *local),
                    ns.scope.id, span, self.chain, implicit=implicit)
        g.nodes.append(node)
        ns.scope.items.append(("node", node.id))
        return node

    def new_scope(self, kind: str, name: str, ns: Namer, label: Label, span: Span,
                  args=None) -> Namer:
        g = self.graph
        if label.unnumbered:
            fix = f"use `use {name}(...)` to inline its layers" if kind == "block" else \
                "leave it unnamed to number it, or name it"
            raise SpecError("E018", f"`_` cannot name a {'block instance' if kind == 'block' else 'group'}: "
                            "it holds layers, which need a name", label.span, "needs a name",
                            help=[fix])
        what = f"instance of `{name}`" if kind == "block" else "group"
        local = ns.local(label, self.rep, self.chain, what)
        scope = Scope(len(g.scopes), kind, name, (*ns.scope.path, *local), ns.scope.id, span,
                      args=args or {}, chain=self.chain)
        g.scopes.append(scope)
        ns.scope.items.append(("scope", scope.id))
        return Namer(scope)

    def apply_group(self, item, label: Label, env: Env, ns: Namer, cur):
        need_input(cur, item.span)
        if cur.shape is None:
            raise Poisoned()
        inner = self.new_scope("seq", "", ns, label, item.span)
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
        if label.binds and out is not None:
            env.vars[label.binds] = out
        return out

    def apply_merge_block(self, item, label: Label, env: Env, ns: Namer, cur):
        """``concat { }`` / ``average { }``: every branch applied to the input, then merged."""
        need_input(cur, item.span)
        branches = Branches(self, cur).walk(item.body.stmts, env.child(), ns, [])
        merge = construct_op(item.keyword)
        if len(branches) < merge.inputs[0]:
            many = "es" if merge.inputs[0] > 1 else ""
            raise SpecError("E014", f"`{item.keyword} {{ }}` needs at least {merge.inputs[0]} "
                            f"branch{many}", item.span, "too few branches")
        if label.index is not None:
            raise SpecError("E015", f"`{item.keyword} {{ }}` makes no module, so it cannot be "
                            f"an item of the list `{label.name}`", item.span, "not a module",
                            help=[(f"a list holds modules: wrap the `{item.keyword}` in a "
                                   f"group, `{label.name}.{label.index}: "
                                   f"{{ {item.keyword} {{ ... }} }}`")])
        if label.name is None:
            local = (ns.implicit(merge.name),)
        else:
            local = ns.local(label, self.rep, self.chain)
        return self.make_node(merge, merge.attrs(), branches, local, label.binds, ns, item.span,
                              {}, env, implicit=label.name is None)

    def apply_residual(self, item: A.Residual, label: Label, env: Env, ns: Namer, cur):
        need_input(cur, item.span)
        if label.name is not None or label.unnumbered:
            raise SpecError("E017", "a residual cannot be named; name the layers inside it or "
                            "wrap it in a block", label.span, "label not allowed here")
        x = cur
        body_out = self.walk(item.body.stmts, env.child(), ns, x)
        short = x
        sc = item.shortcut
        if sc is not None and (sc.cond is None or self.condition(sc.cond, env, x)):
            inner = self.new_scope("seq", "", ns, Label(sc.name, sc.name_span), sc.span)
            inner.scope.input = x.node
            short = self.walk(sc.body.stmts, env.child(), inner, x)
            inner.scope.output = short.node if short is not None else None
        if body_out is None or short is None:
            return POISONED
        add = construct_op(item.keyword)
        return self.make_node(add, add.attrs(), [body_out, short], (ns.implicit(add.name),),
                              None, ns, item.span, {}, env, implicit=True)

    def call_block(self, block, args: list[A.Arg], label: Label | None, env: Env,
                   ns: Namer, cur, span: Span, inline: bool = False,
                   network: bool = False, piped: bool = False) -> Tensor | Several:
        """A block call, or a network used as a layer (an ensemble member).

        Its value is the block's declared output, the :class:`Several` of them when it declares
        several, or else its last value. ``use`` (``inline``) runs it in the current scope and
        binds its declared outputs as names there."""
        if any(f.block == block.name for f in self.chain):
            raise SpecError("E055", f"block `{block.name}` calls itself", span, "recursive call",
                            help=["use `for` to repeat layers; blocks cannot recurse"])
        if len(self.chain) >= self.limits.max_depth:
            raise SpecError("E051", f"blocks nested more than {self.limits.max_depth} deep",
                            span, "too deep")
        benv, ins = self.block_args(block, args, env, cur, span, network, piped)
        cur = ins[0][1] if ins else cur
        if inline:
            inner = ns
        else:
            inner = self.new_scope("block", block.name, ns, label, span,
                                   args={k: v for k, v in benv.vars.items()
                                         if not isinstance(v, Tensor)})
            inner.scope.input = cur.node
            inner.scope.ins = [(name, t.node) for name, t in ins]
        saved = self.chain
        self.chain = (*saved, Frame(block.name, ".".join(inner.scope.path) or
                                    self.graph.network, span))
        if not inline:
            inner.scope.chain = self.chain
        if network:
            self.members.append(Member(cur, block))
        else:
            self.calls.append(BlockCall(block, inner.scope.id))
        try:
            out = self.walk(block.body.stmts, benv, inner, cur)
            if network:
                out = self.members[-1].result(span)
        finally:
            self.chain = saved
            call = self.members.pop() if network else self.calls.pop()
        if not network:
            out = self.block_value(call, out, inner.scope, env, inline)
        elif not inline:
            inner.scope.output = out.node if out is not None else None
        if label is not None and label.binds and out is not None:
            env.vars[label.binds] = out
        return out

    def block_args(self, block, args: list[A.Arg], env: Env, cur, span: Span, network: bool,
                   piped: bool) -> tuple[Env, list[tuple[str, Tensor]]]:
        """A block's environment (its parameters and declared inputs) and its inputs."""
        if network or not block.inputs:
            need_input(cur, span)
            if cur.shape is None:
                raise Poisoned()
            return self.block_env(block, args, env, cur, span), []
        given = [(self.value(a.value, env, cur), a) for a in args]
        ins, rest = bind_inputs(block, given, cur if isinstance(cur, Tensor) else None, span,
                                piped)
        if any(t.shape is None for _, t in ins):
            raise Poisoned()
        benv = self.block_params(block, rest, ins[0][1], span)
        benv.vars.update(ins)
        return benv, ins

    def block_value(self, call: BlockCall, out, scope: Scope, env: Env, inline: bool):
        """What a block call gives: its declared output(s), else its last value; ``use``
        binds the declared outputs as names of the current scope."""
        declared, out = call.outputs, POISONED if call.failed else out
        if call.failed:
            declared = [(name, POISONED) for name, _ in declared]
        if inline:
            env.vars.update(declared)
            return declared[0][1] if len(declared) == 1 else out
        if declared:
            scope.outs = [(name, t.node) for name, t in declared]
            out = declared[0][1] if len(declared) == 1 else Several(call.block.name,
                                                                    tuple(declared))
        scope.output = out.node if isinstance(out, Tensor) else None
        return out

    def block_env(self, block: A.BlockDef, args: list[A.Arg], env: Env, cur, span) -> Env:
        """A block's environment: its parameters bound to the call's arguments, then
        defaults (which may use earlier parameters)."""
        given = [(self.value(a.value, env, cur), a) for a in args]
        for v, a in given:
            if holds_tensor(v):
                where = f"block argument `{a.name}`" if a.name else "a block argument"
                what = "a tensor" if isinstance(v, Tensor) else a_type(v)
                raise SpecError("E015", f"{where} cannot be {what}", a.span,
                                "a layer output" if isinstance(v, Tensor) else what,
                                help=[(f"apply the block to it: `{a.value.span.text} -> "
                                       f"{block.name}(...)`"),
                                      (f"or declare the block's inputs: `input x, skip` in "
                                       f"`{block.name}`")])
        return self.block_params(block, given, cur, span)

    def block_params(self, block: A.BlockDef, given: list, cur, span) -> Env:
        bound = bind(block_signature(block), given, span)
        for n, (v, where) in bound.items():
            if isinstance(v, Tensor):
                raise SpecError("E015", f"block argument `{n}` cannot be a tensor", span,
                                "a layer output",
                                help=[f"declare it as an input of `{block.name}`: `input {n}`"])
            if holds_tensor(v):
                raise SpecError("E015", f"block argument `{n}` cannot be {a_type(v)}", where,
                                a_type(v), help=[("a block's inputs are tensors, given one by "
                                                  "one: `Block(feats[0], feats[1])`")])
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


@dataclass
class BlockCall:
    """A block being expanded: the outputs its ``output`` statements declared so far."""

    block: A.BlockDef
    scope: int  # the scope its statements name layers in (the caller's for `use`)
    outputs: list[tuple[str, Tensor]] = field(default_factory=list)
    failed: bool = False  # an `output` statement failed: the call's value is poisoned


class Branches(Walker):
    """The branches of a ``concat { }`` or ``average { }``: each chain statement is one, applied
    to the block's input; ``let``, ``for`` and ``if`` work as anywhere."""

    def __init__(self, ex: Layers, x: Tensor):
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
            branch = self.ex.exec_chain(s.chain, env, ns, self.x)
            one_value(branch, s.span)  # a branch is one value, not a block's several
            return [*out, branch]
        raise SpecError("E017", "a `concat { }` holds branches: chains, `for`, `if` and `let`",
                        s.span, "not a branch")


def registered(op: Op) -> bool:
    """Whether a layer of the op is a module of its scope (so it may be an item of a list):
    a layer with weights, or a one-input op that has a module."""
    return op.has_module and not op.held and (op.stateful or op.inputs == (1, 1))


def shape_of(cur: Tensor | None):
    if cur is None:
        return None
    return POISON if cur.shape is None else cur.shape


def one_value(v, span, name: str | None = None) -> None:
    """A block's several outputs or a list of values, where one value is needed: an error
    that shows the fix."""
    if isinstance(v, Several):
        names = ", ".join(v.names)
        raise SpecError("E015", f"`{v.block}` gives {len(v.items)} outputs ({names}); they "
                        "are not one value", span, f"{len(v.items)} outputs here",
                        help=[f"bind each to a name: `{names} = ...`"])
    if isinstance(v, list):
        name = name or (span.text if span.text.isidentifier() else "feats")
        raise SpecError("E015", f"{a_type(v)} is not one value", span, "a list here",
                        help=[(f"take one of its values: `{name}[i] -> ...`, or merge them: "
                               f"`concat({name})`, `add({name})`")])


def need_input(cur, span) -> None:
    if cur is None:
        raise SpecError("E017", "a layer before any input", span, "no input yet",
                        help=["declare the input first: `input x: [3, 224, 224]`"])
