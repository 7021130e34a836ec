"""Expand: a network definition → the graph of op nodes, with every shape inferred.

Shapes are computed while expanding, because specs branch on them (``in.channels`` in a
conditional shortcut). Before any node is built, :func:`archlang.graph.size.estimate`
bounds the expanded size, so a 200-byte spec that would expand to 10**30 layers is
rejected at once.

>>> from archlang.limits import Limits
>>> from archlang.program import load_program
>>> prog = load_program("network n {\\n input x: [3, 32, 32]\\n conv2d(8, 3)\\n output y\\n}", Limits())
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from archlang.analysis import dims as D
from archlang.analysis.dims import Sym
from archlang.diagnostics import Diagnostic, Frame, Reporter, did_you_mean
from archlang.graph.model import Constraint, Graph, Node, Output, Scope
from archlang.graph.size import WORK_PER_NODE, estimate
from archlang.graph.solve import solve
from archlang.graph.values import INITS, POISON, Budget, Builtin, Env, SpecError, Evaluator, \
    InitSpec, Poisoned, Tensor, WorkLimit, a_type, show, type_name
from archlang.limits import Limits
from archlang.ops.base import Op, Shaped
from archlang.ops.registry import OPS, all_names, input_op, lookup
from archlang.program import Program
from archlang.names import MODULE_ATTRS, RESERVED
from archlang.source import Span
from archlang.syntax import ast as A

def check_identifier(name: str, span: Span | None, what: str) -> None:
    """Input and output names become Python identifiers in the generated code."""
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name.startswith("_") \
            or name in RESERVED - {"x"}:
        why = "a Python keyword" if keyword.iskeyword(name) or keyword.issoftkeyword(name) \
            else "reserved (names may not start with `_`)" if name.startswith("_") \
            else "reserved by the generated code"
        raise SpecError("E018", f"`{name}` cannot name {what}: it is {why}", span,
                        "invalid name", help=[f"rename it, e.g. `{name.strip('_') or 'value'}_1`"])


class Abort(Exception):
    """Stop expanding this network (a limit was hit; already reported)."""


POISONED = Tensor(-1, None)


class Namer:
    """Names the items of one scope: labels, or their index among the scope's items."""

    def __init__(self, scope: Scope):
        self.scope = scope
        self.index = 0
        self.labels: dict[str, Span] = {}
        self.implicit_names: set[str] = set()

    def name(self, label: str | None, span: Span | None, ex: Expander) -> str:
        self.index += 1
        if label is None:
            return str(self.index - 1)
        if label in self.labels:
            ex.rep.error("E013", f"`{label}` is already the name of a layer in this scope", span,
                         "second use of this name", notes=[f"first used at {self.labels[label]}"],
                         help=["give each layer in a block its own name; inside loops, leave "
                               "layers unnamed or wrap them in a named group"], chain=ex.chain)
            return f"{label}_{self.index - 1}"
        if keyword.iskeyword(label) or label.startswith("_") or label in MODULE_ATTRS or \
                label in RESERVED:
            # every private attribute of torch.nn.Module (_modules, _call_impl, _apply...)
            # starts with `_`: such names are all refused, so no torch release can add one
            # that a spec's name replaces
            why = ("a Python keyword" if keyword.iskeyword(label) else
                   "reserved (names may not start with `_`)" if label.startswith("_") else
                   "a name the generated code uses" if label in RESERVED else
                   "an attribute of torch.nn.Module")
            ex.rep.error("E018", f"`{label}` cannot name a layer: it is {why}", span,
                         "invalid layer name", help=[f"rename it, e.g. `{label}_`" if not
                                                     label.startswith("_") else
                                                     f"rename it, e.g. `{label.strip('_') or 'layer'}_`"],
                         chain=ex.chain)
        self.labels[label] = span
        return label

    def implicit(self, base: str) -> str:
        name, k = base, 1
        while name in self.implicit_names:
            name, k = f"{base}_{k}", k + 1
        self.implicit_names.add(name)
        return name


@dataclass
class Options:
    network: str | None = None
    params: dict[str, Any] | None = None
    set_spans: dict[str, Span] | None = None
    inputs: dict[str, tuple[int, ...]] | None = None


class Expander:
    def __init__(self, prog: Program, limits: Limits):
        self.prog = prog
        self.limits = limits
        self.rep = Reporter()
        self.weights = 0  # parameters and buffers of the layers made so far
        self.budget = Budget(limits.max_nodes * WORK_PER_NODE * 4, self.report_work_limit)
        self.ev = Evaluator(limits.max_repeat, self.budget)
        self.chain: tuple[Frame, ...] = ()
        self.graph: Graph | None = None
        self.inits: list[tuple[int, list[str], InitSpec, Span]] = []  # (scope, target, spec, span)
        # networks used as layers (ensemble members): [input value, result, network]
        self.members: list[list] = []

    # ---------------------------------------------------------------------------------
    def run(self, net: A.NetworkDef, opts: Options) -> Graph:
        g = Graph(network=net.name, source_name=net.span.source.name)
        self.graph = g
        root = Scope(0, "network", net.name, (), None, net.span)
        g.scopes.append(root)
        env = Env({}, None)
        params = dict(opts.params or {})
        for p in net.params:
            if p.name in params:
                value = params.pop(p.name)
            elif p.default is not None:
                value = self.ev.eval(p.default, env)
            else:
                self.rep.error("E014", f"network `{net.name}` needs a value for `{p.name}`",
                               p.span, "no default", help=[f"pass --set {p.name}=VALUE"])
                raise Abort
            env.vars[p.name] = value
            g.params[p.name] = value
        symbols_used = {n.id for s in net.body.stmts if isinstance(s, A.InputStmt)
                        for item in s.shape.items for n in _names(item)}
        for name, value in params.items():
            if name in symbols_used:
                env.vars[name] = value
                g.params[name] = value
                continue
            span = (opts.set_spans or {}).get(name)
            self.rep.error("E061", f"network `{net.name}` has no parameter `{name}`", span,
                           help=did_you_mean(name, [p.name for p in net.params] + sorted(
                               symbols_used)) or [f"its parameters are: "
                                                  f"{', '.join(p.name for p in net.params) or 'none'}"])
        if self.rep.failed:
            raise Abort
        total = estimate(self.prog, net, env, self.limits, self.rep)
        if total is None:
            raise Abort
        self.input_overrides = dict(opts.inputs or {})
        self.order: list[tuple[str, Span]] | None = None
        self.exec_body(net.body.stmts, env, Namer(root), None)
        for name in self.input_overrides:
            self.rep.error("E061", f"--input names `{name}`, which is not an input of "
                           f"`{net.name}`", None, help=did_you_mean(name, g.inputs) or
                           [f"its inputs are: {', '.join(g.inputs) or 'none'}"])
        self.finish(net)
        return g

    # -- statements --------------------------------------------------------------------
    def exec_body(self, stmts: list, env: Env, ns: Namer, cur: Tensor | None) -> Tensor | None:
        for stmt in stmts:
            try:
                cur = self.exec_stmt(stmt, env, ns, cur)
            except SpecError as e:
                self.rep.error(e.code, e.message, e.span, e.label, help=e.help, notes=e.notes,
                               chain=self.chain)
                cur = self.poison_after(stmt, env, cur)
            except Poisoned:
                cur = self.poison_after(stmt, env, cur)
        return cur

    @staticmethod
    def poison_after(stmt, env: Env, cur):
        """After a failed statement, what it would have defined is poisoned (no cascades)."""
        if isinstance(stmt, A.BindStmt):
            env.vars[stmt.name] = POISONED
        if isinstance(stmt, A.InputStmt):
            env.vars.setdefault(stmt.name, POISONED)
            return POISONED if cur is None else cur
        if isinstance(stmt, (A.ChainStmt, A.BindStmt, A.UseStmt)):
            return POISONED
        return cur

    def report_work_limit(self, e: SpecError) -> None:
        self.rep.error(e.code, e.message, e.span, e.label, help=e.help, chain=self.chain)

    def exec_stmt(self, s, env: Env, ns: Namer, cur: Tensor | None) -> Tensor | None:
        self.budget.spend(1, s.span)
        if isinstance(s, A.ChainStmt):
            return self.exec_chain(s.chain, env, ns, cur, statement=True)
        if isinstance(s, A.LetStmt):
            env.vars[s.name] = self.ev.eval(s.value, env, self.shape_of(cur))
            return cur
        if isinstance(s, A.BindStmt):
            out = self.exec_chain(s.chain, env, ns, cur)
            env.vars[s.name] = out
            if out is not None and out.shape is not None:
                self.graph.nodes[out.node].value_name = s.name
            return out
        if isinstance(s, A.ForStmt):
            it = self.ev.eval(s.iterable, env, self.shape_of(cur))
            if not isinstance(it, (list, tuple, range)):
                raise SpecError("E015", f"`for` needs a list or range, got {type_name(it)} "
                                f"{show(it)}", s.iterable.span, f"this is {a_type(it)}",
                                help=["use range(n) to repeat n times"])
            for value in it:
                self.budget.spend(1, s.span)
                inner = env.child()
                inner.vars[s.var] = value
                cur = self.exec_body(s.body.stmts, inner, ns, cur)
            return cur
        if isinstance(s, A.IfStmt):
            if self.ev.truth(self.ev.eval(s.cond, env, self.shape_of(cur)), s.cond.span):
                return self.exec_body(s.then.stmts, env.child(), ns, cur)
            if s.orelse is not None:
                return self.exec_body(s.orelse.stmts, env.child(), ns, cur)
            return cur
        if isinstance(s, A.InputStmt):
            return self.exec_input(s, env, ns, cur)
        if isinstance(s, A.OutputStmt):
            self.exec_output(s, env, ns, cur)
            return cur
        if isinstance(s, A.OrderStmt):
            if self.members and self.chain and self.chain[-1].block == self.members[-1][2].name:
                return cur
            if ns.scope.kind != "network":
                raise SpecError("E017", "outputs are declared in networks, not blocks", s.span,
                                "not allowed in a block")
            seen: set[str] = set()
            for name, span in zip(s.names, s.name_spans):
                if name in seen:
                    raise SpecError("E031", f"output `{name}` is listed twice", span,
                                    "listed again here")
                seen.add(name)
            self.order = list(zip(s.names, s.name_spans))
            return cur
        if isinstance(s, A.UseStmt):
            block = self.prog.blocks.get(s.name)
            if block is None:
                raise SpecError("E010", f"unknown block `{s.name}`", s.name_span, "not a block",
                                help=did_you_mean(s.name, self.prog.blocks) or
                                ["`use` inlines a block defined with `block`"])
            return self.call_block(block, s.args, None, env, ns, cur, s.span, inline=True)
        if isinstance(s, A.InitStmt):
            value = self.ev.eval(s.value, env, self.shape_of(cur))
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
            self.inits.append((ns.scope.id, s.target, value, s.span))
            return cur
        raise AssertionError(type(s))  # pragma: no cover

    def shape_of(self, cur: Tensor | None):
        if cur is None:
            return None
        return POISON if cur.shape is None else cur.shape

    def exec_input(self, s: A.InputStmt, env: Env, ns: Namer, cur):
        g = self.graph
        if self.members and self.chain and self.chain[-1].block == self.members[-1][2].name:
            return self.member_input(s, env)
        if ns.scope.kind != "network" or ns.scope.parent is not None or self.chain:
            raise SpecError("E017", "inputs are declared in networks, not blocks", s.span,
                            "not allowed here", help=["a block's input is the value it is applied to"])
        if s.name in g.inputs:
            raise SpecError("E013", f"input `{s.name}` is declared twice", s.span, "second declaration")
        check_identifier(s.name, s.span, "an input")
        if s.name in self.input_overrides:
            shape = tuple(self.input_overrides.pop(s.name))
        elif "" in self.input_overrides and not g.inputs:
            shape = tuple(self.input_overrides.pop(""))
        else:
            dims = []
            for item in s.shape.items:
                if isinstance(item, A.Name) and not env.lookup(item.id)[0]:
                    dims.append(Sym.var(item.id))
                    continue
                v = self.ev.eval(item, env, None)
                if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                    raise SpecError("E016" if isinstance(v, int) and not isinstance(v, bool)
                                    else "E015", f"input sizes are positive integers or names, "
                                    f"got {show(v)}", item.span, "invalid size",
                                    help=["write e.g. [3, 224, 224] or [3, H, W]"])
                dims.append(v)
            shape = tuple(dims)
        source = input_op()
        node = self.add_node(source.name, source.attrs(), [], shape, ns, s.name, s.span)
        g.inputs[s.name] = node.id
        t = Tensor(node.id, shape)
        env.vars[s.name] = t
        return t if cur is None else cur

    def member_input(self, s: A.InputStmt, env: Env) -> Tensor:
        """A member network's input is the value it is applied to; its declared shape must
        agree where it is concrete."""
        given: Tensor = self.members[-1][0]
        member = self.members[-1][2]
        if len([x for x in member.body.stmts if isinstance(x, A.InputStmt)]) > 1:
            raise SpecError("E017", f"network `{member.name}` has several inputs and cannot be "
                            "used as a layer", s.span, "second input")
        if given.shape is not None:
            declared = [self.ev.eval(d, env, None) if not (isinstance(d, A.Name) and not
                        env.lookup(d.id)[0]) else None for d in s.shape.items]
            if len(declared) != len(given.shape) or any(
                    isinstance(d, int) and not isinstance(d, bool) and d != have
                    for d, have in zip(declared, given.shape)):
                shown = ", ".join("?" if d is None else str(d) for d in declared)
                raise SpecError("E021" if len(declared) == len(given.shape) else "E023",
                                f"network `{member.name}` expects input [{shown}], "
                                f"gets {D.fmt_shape(given.shape)}", s.span,
                                "declared input")
        env.vars[s.name] = given
        return given

    def exec_output(self, s: A.OutputStmt, env: Env, ns: Namer, cur):
        g = self.graph
        if self.members and self.chain and self.chain[-1].block == self.members[-1][2].name:
            if s.training:
                return  # a member's training-only outputs are not part of the ensemble
            if self.members[-1][1] is not None:
                raise SpecError("E017", "a network used as a layer must have exactly one "
                                "inference output", s.span, "second output")
            if s.chain is not None:
                value = self.exec_chain(s.chain, env, ns, cur)
            else:
                found, value = env.lookup(s.name)
                value = value if found and isinstance(value, Tensor) else cur
            self.members[-1][1] = value
            return
        if ns.scope.kind != "network" or self.chain:
            raise SpecError("E017", "outputs are declared in networks, not blocks", s.span,
                            "not allowed in a block", help=["a block returns its last value"])
        check_identifier(s.name, s.name_span, "an output")
        if s.chain is not None:
            value = self.exec_chain(s.chain, env, ns, cur)
        else:
            found, value = env.lookup(s.name)
            if not found:
                if cur is None:
                    raise SpecError("E012", f"unknown value `{s.name}`", s.name_span, "not defined")
                value = cur  # `output logits` names the current value
            elif not isinstance(value, Tensor):
                raise SpecError("E015", f"`{s.name}` is {a_type(value)}, not a layer output",
                                s.name_span, "not a tensor")
        if any(o.name == s.name for o in g.outputs):
            raise SpecError("E031", f"output `{s.name}` is declared twice", s.name_span,
                            "second declaration")
        if value.shape is None:
            return
        g.outputs.append(Output(s.name, value.node, s.training, s.name_span))
        env.vars.setdefault(s.name, value)

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
            name = item.name
            args = item.args if isinstance(item, A.Call) else []
            name_span = item.name_span if isinstance(item, A.Call) else item.span
            op = lookup(name)
            if op is not None:
                return self.apply_op(op, args, link, env, ns, cur, item.span)
            block = self.prog.blocks.get(name)
            if block is not None:
                return self.call_block(block, args, link, env, ns, cur, item.span)
            member = self.prog.members.get(name)
            if member is not None:
                return self.call_block(member, args, link, env, ns, cur, item.span,
                                       network=True)
            found, value = env.lookup(name)
            if found and isinstance(value, Tensor):
                raise SpecError("E015", f"`{name}` is a value; it cannot be applied as a layer",
                                name_span, "a value, not a layer",
                                help=[f"start a chain with it instead: `{name} -> ...`"])
            raise SpecError("E010", f"unknown layer `{name}`", name_span, "not an op or block",
                            help=did_you_mean(name, [*all_names(), *self.prog.blocks,
                                                     *self.prog.members]) or
                            ["see docs/ops.md for the ops; blocks are defined with `block`"])
        if isinstance(item, (A.Group, A.Seq)):
            return self.apply_group(item, link, env, ns, cur)
        if isinstance(item, A.ConcatBlock):
            return self.apply_concat_block(item, link, env, ns, cur)
        if isinstance(item, A.AverageBlock):
            return self.apply_concat_block(item, link, env, ns, cur, op="mean")
        if isinstance(item, A.ConcatCall):
            return self.apply_op(OPS["concat"], item.args, link, env, ns, cur, item.span)
        if isinstance(item, A.Residual):
            return self.apply_residual(item, link, env, ns, cur)
        raise AssertionError(type(item))  # pragma: no cover

    def need_input(self, cur, span):
        if cur is None:
            raise SpecError("E017", "a layer before any input", span, "no input yet",
                            help=["declare the input first: `input x: [3, 224, 224]`"])

    def apply_op(self, op: Op, args: list[A.Arg], link: A.Link, env: Env, ns: Namer, cur,
                 span: Span) -> Tensor:
        cur_shape = self.shape_of(cur)
        pos: list[tuple[Any, A.Arg]] = []
        kw: dict[str, tuple[Any, A.Arg]] = {}
        tensors: list[Tensor] = []
        for arg in args:
            v = self.ev.eval(arg.value, env, cur_shape)
            if isinstance(v, Tensor):
                if arg.name is not None:
                    raise SpecError("E015", f"`{arg.name}` cannot be a tensor", arg.span,
                                    "a layer output")
                tensors.append(v)
                continue
            if arg.name is None:
                if kw:
                    raise SpecError("E014", "positional argument after keyword arguments",
                                    arg.span, "move it before the keywords")
                pos.append((v, arg))
            else:
                if arg.name in kw:
                    raise SpecError("E014", f"`{arg.name}` is given twice", arg.name_span or arg.span,
                                    "second value")
                kw[arg.name] = (v, arg)
        attrs, arg_spans = self.make_attrs(op, pos, kw, span,
                                           cur_shape if isinstance(cur_shape, tuple) and
                                           cur_shape is not POISON else None)
        if op.inputs == (1, 1):
            if tensors:
                raise SpecError("E015", f"`{op.name}` takes its input from the chain, not as an "
                                "argument", span, "tensor argument",
                                help=[f"write `value -> {op.name}(...)`"])
            self.need_input(cur, span)
            inputs = [cur]
        else:
            if not tensors:
                self.need_input(cur, span)
            inputs = tensors or [cur]
            low = op.inputs[0]
            if len(inputs) < low:
                raise SpecError("E014", f"`{op.name}` needs at least {low} inputs, got "
                                f"{len(inputs)}", span, "too few inputs",
                                help=[f"e.g. `{op.name}(a, b)` with named values a and b"])
        return self.make_node(op, attrs, inputs, link.label, link.label_span, ns, span, arg_spans,
                              env, implicit=False)

    def make_attrs(self, op: Op, pos, kw, span: Span, ins=None):
        fields = op.attrs.model_fields
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        if len(pos) > len(op.positional):
            extra = pos[len(op.positional)][1]
            sig = ", ".join(op.positional) or "no positional arguments"
            help_ = op.positional_help([(v, _text(a.value.span)) for v, a in pos],
                                       {k: _text(a.span) for k, (_, a) in kw.items()}, ins) or \
                [f"positional arguments of `{op.name}`: {sig}; name the others"]
            raise SpecError("E014", f"`{op.name}` takes {len(op.positional)} positional "
                            f"argument{'s' if len(op.positional) != 1 else ''}, got {len(pos)}",
                            extra.span, "unexpected argument", help=help_)
        for (v, arg), name in zip(pos, op.positional):
            values[name], spans[name] = v, arg.span
        for name, (v, arg) in kw.items():
            if name not in fields:
                raise SpecError("E011", f"`{op.name}` has no argument `{name}`",
                                arg.name_span or arg.span, "unknown argument",
                                help=did_you_mean(name, fields) or
                                [f"arguments of `{op.name}`: {', '.join(fields) or 'none'}"])
            if name in values:
                raise SpecError("E014", f"`{name}` is given twice", arg.name_span or arg.span,
                                "also given by position")
            values[name], spans[name] = v, arg.span
        missing = [n for n, f in fields.items() if f.is_required() and n not in values]
        if missing:
            sig = ", ".join(n if f.is_required() else f"{n}={show(f.default)}"
                            for n, f in fields.items())
            raise SpecError("E014", f"`{op.name}` needs `{missing[0]}`", span,
                            f"missing {', '.join(missing)}", help=[f"{op.name}({sig})"])
        for name, v in list(values.items()):
            if isinstance(v, Sym):
                raise SpecError("E025", f"`{name}` depends on the input size ({v})", spans[name],
                                "symbolic here", help=["give a concrete input with --input"])
            if isinstance(v, list):
                values[name] = tuple(v)
            if isinstance(v, range):
                values[name] = tuple(v)
        try:
            return op.attrs(**values), spans
        except ValidationError as exc:
            err = exc.errors()[0]
            field = err["loc"][0] if err["loc"] else None
            msg = err["msg"]
            if field is None:
                for name in fields:
                    if f"`{name}`" in msg:
                        field = name
                        break
            where = spans.get(field, span) if isinstance(field, str) else span
            if err["type"] == "value_error":
                text = msg.removeprefix("Value error, ")
                raise SpecError("E016", f"{op.name}: {text}", where, "invalid value") from None
            got = values.get(field) if isinstance(field, str) else None
            ann = fields[field].annotation if isinstance(field, str) and field in fields else None
            expect = _describe_type(ann)
            if isinstance(got, str) and "one of" in expect:
                raise SpecError("E016", f"`{field}` of `{op.name}` must be {expect}, got "
                                f"{show(got)}", where, "not a valid choice") from None
            raise SpecError("E015", f"`{field}` of `{op.name}` expects {expect}, got "
                            f"{type_name(got)} {show(got)}", where,
                            f"this is {a_type(got)}") from None

    def make_node(self, op: Op, attrs, inputs: list[Tensor], label, label_span, ns: Namer,
                  span: Span, arg_spans: dict, env: Env, implicit: bool) -> Tensor:
        if implicit:
            name = ns.implicit(op.name)
        else:
            name = ns.name(label, label_span, self)
        if any(t.shape is None for t in inputs):
            if label:
                env.vars[label] = POISONED
            return POISONED
        shapes = [t.shape for t in inputs]
        error = None
        agree: tuple = ()
        try:
            shape = op.shape(attrs, shapes)
            if isinstance(shape, Shaped):
                shape, agree = shape
        except SpecError as e:
            where = arg_spans.get(e.arg, span) if e.arg else span
            error = self.rep.error(e.code, e.message, where, e.label, help=e.help, notes=e.notes,
                                   chain=self.chain)
            shape = None
        node = self.add_node(op.name, attrs, [t.node for t in inputs], shape, ns, name, span,
                             implicit=implicit)
        node.error, node.agree = error, agree
        if shape is not None:
            node.params = op.params(attrs, shapes, shape)
            node.buffers = op.buffers(attrs, shapes, shape)
            node.macs = op.macs(attrs, shapes, shape)
            self.weights += node.params + node.buffers
            if self.weights > self.limits.max_params:
                # checked as layers are made, so a huge network stops at the layer that makes
                # it huge, before the rest is expanded; buffers count too (they are allocated)
                what = "parameters" if not node.buffers else "parameters and buffers"
                self.rep.error("E054", f"network has more than {self.limits.max_params:,} "
                               f"parameters and buffers", span,
                               f"{node.params + node.buffers:,} {what} here", chain=self.chain,
                               help=["raise the limit with --max-params"])
                raise Abort
        t = Tensor(node.id, shape)
        if label:
            env.vars[label] = t
        return t

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

    def check_scope_reads(self) -> None:
        """A group or block instance receives one tensor, its input: a layer inside it that
        reads another value from outside it has nothing to read in the compiled module."""
        g = self.graph
        chains: dict[int, tuple[int, ...]] = {}  # scope id -> its scopes, root first

        def chain(sid: int) -> tuple[int, ...]:
            if sid not in chains:
                parent = g.scopes[sid].parent
                chains[sid] = (*(chain(parent) if parent is not None else ()), sid)
            return chains[sid]

        for n in g.nodes:
            if n.is_input:
                continue
            mine = chain(n.scope)
            for i in dict.fromkeys(n.inputs):
                theirs = set(chain(g.nodes[i].scope))
                for sid in mine[1:]:
                    sc = g.scopes[sid]
                    if sid in theirs or i == sc.input:
                        continue
                    where = ".".join(sc.path)
                    made = g.nodes[i].span
                    self.rep.error(
                        "E017", f"`{where}` reads a value from outside it", n.span,
                        "reads an outer value", chain=n.chain,
                        notes=[*([f"the value is made at {made}"] if made else []),
                               "a named group or block instance compiles to a module whose "
                               "forward receives only its input"],
                        help=["compute the value inside the group, or move this statement "
                              "out of the group"])
                    return

    def new_scope(self, kind: str, name: str, ns: Namer, label, label_span, span: Span,
                  args=None) -> Namer:
        g = self.graph
        item_name = ns.name(label, label_span, self)
        scope = Scope(len(g.scopes), kind, name, (*ns.scope.path, item_name), ns.scope.id, span,
                      args=args or {}, chain=self.chain)
        g.scopes.append(scope)
        ns.scope.items.append(("scope", scope.id))
        return Namer(scope)

    def apply_group(self, item, link: A.Link, env: Env, ns: Namer, cur):
        self.need_input(cur, item.span)
        if cur.shape is None:
            raise Poisoned()
        inner = self.new_scope("seq", "", ns, link.label, link.label_span, item.span)
        inner.scope.input = cur.node
        if isinstance(item, A.Group):
            out = self.exec_body(item.body.stmts, env.child(), inner, cur)
        else:
            out = cur
            child = env.child()
            for sub in item.links:
                try:
                    out = self.apply(sub, child, inner, out)
                except SpecError as e:
                    self.rep.error(e.code, e.message, e.span, e.label, help=e.help,
                                   notes=e.notes, chain=self.chain)
                    out = POISONED
                except Poisoned:
                    out = POISONED
        inner.scope.output = out.node if out is not None else None
        if link.label and out is not None:
            env.vars[link.label] = out
        return out

    def apply_concat_block(self, item, link: A.Link, env: Env, ns: Namer, cur,
                           op: str = "concat"):
        self.need_input(cur, item.span)
        branches: list[Tensor] = []
        self.collect_branches(item.body.stmts, env.child(), ns, cur, branches)
        merge = OPS[op]
        if len(branches) < merge.inputs[0]:
            keyword_ = "concat" if op == "concat" else "average"
            raise SpecError("E014", f"`{keyword_} {{ }}` needs at least {merge.inputs[0]} "
                            f"branch{'es' if merge.inputs[0] > 1 else ''}", item.span,
                            "too few branches")
        return self.make_node(merge, merge.attrs(), branches, link.label, link.label_span, ns,
                              item.span, {}, env, implicit=link.label is None)

    def collect_branches(self, stmts, env: Env, ns: Namer, x: Tensor, out: list[Tensor]):
        for s in stmts:
            try:
                if isinstance(s, A.ChainStmt):
                    out.append(self.exec_chain(s.chain, env, ns, x))
                elif isinstance(s, A.ForStmt):
                    it = self.ev.eval(s.iterable, env, self.shape_of(x))
                    if not isinstance(it, (list, tuple, range)):
                        raise SpecError("E015", f"`for` needs a list or range, got "
                                        f"{type_name(it)}", s.iterable.span, "not a list")
                    for value in it:
                        inner = env.child()
                        inner.vars[s.var] = value
                        self.collect_branches(s.body.stmts, inner, ns, x, out)
                elif isinstance(s, A.IfStmt):
                    if self.ev.truth(self.ev.eval(s.cond, env, self.shape_of(x)), s.cond.span):
                        self.collect_branches(s.then.stmts, env.child(), ns, x, out)
                    elif s.orelse is not None:
                        self.collect_branches(s.orelse.stmts, env.child(), ns, x, out)
                elif isinstance(s, A.LetStmt):
                    env.vars[s.name] = self.ev.eval(s.value, env, self.shape_of(x))
                else:
                    raise SpecError("E017", "a `concat { }` holds branches: chains, `for`, `if` "
                                    "and `let`", s.span, "not a branch")
            except SpecError as e:
                self.rep.error(e.code, e.message, e.span, e.label, help=e.help, notes=e.notes,
                               chain=self.chain)
                out.append(POISONED)
            except Poisoned:
                out.append(POISONED)

    def apply_residual(self, item: A.Residual, link: A.Link, env: Env, ns: Namer, cur):
        self.need_input(cur, item.span)
        if link.label is not None:
            raise SpecError("E017", "a residual cannot be named; name the layers inside it or "
                            "wrap it in a block", link.label_span, "label not allowed here")
        x = cur
        body_out = self.exec_body(item.body.stmts, env.child(), ns, x)
        short = x
        sc = item.shortcut
        if sc is not None:
            take = True
            if sc.cond is not None:
                take = self.ev.truth(self.ev.eval(sc.cond, env, self.shape_of(x)), sc.cond.span)
            if take:
                inner = self.new_scope("seq", "", ns, sc.name, sc.name_span, sc.span)
                inner.scope.input = x.node
                short = self.exec_body(sc.body.stmts, env.child(), inner, x)
                inner.scope.output = short.node if short is not None else None
        add = OPS["add"]
        if body_out is None or short is None:
            return POISONED
        return self.make_node(add, add.attrs(), [body_out, short], None, None, ns, item.span, {},
                              env, implicit=True)

    def call_block(self, block, args: list[A.Arg], link: A.Link | None, env: Env,
                   ns: Namer, cur, span: Span, inline: bool = False,
                   network: bool = False) -> Tensor:
        """A block call, or a network used as a layer (an ensemble member)."""
        self.need_input(cur, span)
        if cur.shape is None:
            raise Poisoned()
        if any(f.block == block.name for f in self.chain):
            raise SpecError("E055", f"block `{block.name}` calls itself", span, "recursive call",
                            help=["use `for` to repeat layers; blocks cannot recurse"])
        if len(self.chain) >= self.limits.max_depth:
            raise SpecError("E051", f"blocks nested more than {self.limits.max_depth} deep", span,
                            "too deep")
        cur_shape = self.shape_of(cur)
        bound: dict[str, Any] = {}
        names = [p.name for p in block.params]
        positional = [a for a in args if a.name is None]
        if len(positional) > len(names):
            raise SpecError("E014", f"`{block.name}` takes {len(names)} arguments, got "
                            f"{len(positional)}", positional[len(names)].span,
                            "unexpected argument", help=[_signature(block)])
        for a, n in zip(positional, names):
            bound[n] = self.ev.eval(a.value, env, cur_shape)
        for a in args:
            if a.name is None:
                continue
            if a.name not in names:
                raise SpecError("E011", f"block `{block.name}` has no parameter `{a.name}`",
                                a.name_span or a.span, "unknown parameter",
                                help=did_you_mean(a.name, names) or [_signature(block)])
            if a.name in bound:
                raise SpecError("E014", f"`{a.name}` is given twice", a.name_span or a.span,
                                "second value")
            bound[a.name] = self.ev.eval(a.value, env, cur_shape)
        for n, v in bound.items():
            if isinstance(v, Tensor):
                raise SpecError("E015", f"block argument `{n}` cannot be a tensor", span,
                                "blocks take their input from the chain")
        benv = Env({}, None)
        for p in block.params:
            if p.name in bound:
                benv.vars[p.name] = bound[p.name]
            elif p.default is not None:
                benv.vars[p.name] = self.ev.eval(p.default, benv, cur_shape)
            else:
                raise SpecError("E014", f"`{block.name}` needs `{p.name}`", span,
                                f"missing {p.name}", help=[_signature(block)])
        if inline:
            inner = ns
        else:
            inner = self.new_scope("block", block.name, ns, link.label, link.label_span, span,
                                   args=dict(benv.vars))
            inner.scope.input = cur.node
        frame = Frame(block.name, ".".join(inner.scope.path) or self.graph.network, span)
        saved = self.chain
        self.chain = (*saved, frame)
        if not inline:
            inner.scope.chain = self.chain
        if network:
            self.members.append([cur, None, block])
        try:
            out = self.exec_body(block.body.stmts, benv, inner, cur)
            if network:
                out = self.members[-1][1]
                if out is None:
                    raise SpecError("E030", f"network `{block.name}` has no output to use",
                                    span, "used as a layer here",
                                    help=["a network used as a layer needs one `output`"])
        finally:
            self.chain = saved
            if network:
                self.members.pop()
        if not inline:
            inner.scope.output = out.node if out is not None else None
        if link is not None and link.label and out is not None:
            env.vars[link.label] = out
        return out

    # -- after expansion -------------------------------------------------------------------
    def finish(self, net: A.NetworkDef) -> None:
        g = self.graph
        solve(g, self.rep, self.budget)
        if self.order:
            by_name = {o.name: o for o in g.outputs}
            ordered = []
            for name, span in self.order:
                if name in by_name:
                    ordered.append(by_name.pop(name))
                else:
                    self.rep.error("E012", f"`{name}` is not an output", span, "unknown output",
                                   help=did_you_mean(name, [o.name for o in g.outputs]))
            g.outputs = ordered + list(by_name.values())
        if not g.outputs and not self.rep.failed:
            self.rep.error("E030", f"network `{net.name}` has no output", net.name_span,
                           "declares no output", help=["end the network with `output NAME`"])
        elif g.outputs and all(o.training for o in g.outputs) and not self.rep.failed:
            self.rep.error("E030", f"network `{net.name}` has only training outputs", net.name_span,
                           "nothing to return in eval mode",
                           help=["add an `output` that exists in eval mode too"])
        if not self.rep.failed:
            self.check_scope_reads()
        if self.rep.failed:
            mark_training_and_unused(g, Reporter())  # for drawing a partial graph
            return
        mark_training_and_unused(g, self.rep)
        self.apply_inits()

    def apply_inits(self) -> None:
        g = self.graph
        if not self.inits:
            return
        matched: set[int] = set()
        by_scope: dict[int, list] = {}
        for k, (scope, target, spec, span) in enumerate(self.inits):
            by_scope.setdefault(scope, []).append((k, target, spec, span))
        for node in g.nodes:
            if not node.params:
                continue
            lineage = []
            s = node.scope
            while s is not None:
                lineage.append(s)
                s = g.scopes[s].parent
            for sid in reversed(lineage):
                base = len(g.scopes[sid].path)
                for k, target, spec, _span in by_scope.get(sid, ()):
                    selector, param = target[:-1], target[-1]
                    if len(selector) == 1 and lookup(selector[0]) is not None:
                        hit = lookup(selector[0]).name == node.op
                    else:
                        hit = tuple(node.path[base:base + len(selector)]) == tuple(selector)
                    if hit:
                        matched.add(k)
                        if param not in node.impl.init_params(node.attrs):
                            continue
                        node.init[param] = spec
        for k, (scope, target, spec, span) in enumerate(self.inits):
            if k not in matched and not (len(target) == 2 and lookup(target[0]) is not None):
                self.rep.error("E012", f"init target `{'.'.join(target[:-1])}` matches no layer "
                               "with parameters", span, "matches nothing",
                               help=["name a layer of this block or network, or an op such as "
                                     "conv2d"])


def mark_training_and_unused(g: Graph, rep: Reporter) -> None:
    """Nodes used only by training outputs are training-only; nodes used by none are errors."""
    consumers: dict[int, int] = {}
    for n in g.nodes:
        for i in n.inputs:
            consumers[i] = consumers.get(i, 0) + 1

    def ancestors(roots):
        seen, stack = set(), list(roots)
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            stack.extend(g.nodes[i].inputs)
        return seen

    inference = ancestors(o.node for o in g.outputs if not o.training)
    training = ancestors(o.node for o in g.outputs if o.training)
    outputs = {o.node for o in g.outputs}
    for n in g.nodes:
        if n.id not in inference and n.id in training:
            n.training_only = True
        if n.id not in inference and n.id not in training and not n.is_input \
                and n.id not in consumers and n.id not in outputs:
            what = (f"`{n.value_name}`" if n.value_name else f"this `{n.op}`"
                    if n.path[-1].isdigit() or n.implicit else f"`{n.name}`")
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


def _names(e):
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, A.Name):
            yield x
        for value in x.__dict__.values():
            if isinstance(value, A.Node):
                stack.append(value)
            elif isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, A.Node))


def _text(span: Span) -> str:
    """The source text of a span on one line (an argument as the user wrote it)."""
    return " ".join(span.source.text[span.start:span.end].split())


def _signature(block: A.BlockDef) -> str:
    parts = [p.name if p.default is None else f"{p.name}=..." for p in block.params]
    return f"{block.name}({', '.join(parts)})"


def _describe_type(ann) -> str:
    """A readable description of an attribute's type annotation."""
    import typing

    if typing.get_origin(ann) is typing.Literal:
        return "one of " + ", ".join(repr(x) for x in typing.get_args(ann))
    args = typing.get_args(ann) or (ann,)
    parts: list[str] = []
    choices: list[str] = []
    for a in args:
        if a is type(None):
            continue
        if typing.get_origin(a) is typing.Literal:
            choices += [repr(x) for x in typing.get_args(a)]
        elif a is int:
            parts.append("an int")
        elif a is float:
            parts.append("a number")
        elif a is bool:
            parts.append("true or false")
        elif typing.get_origin(a) is tuple:
            parts.append("a pair of ints")
        elif typing.get_args(a):
            parts.append(_describe_type(a))
        else:
            parts.append(getattr(a, "__name__", str(a)))
    if choices:
        parts.append("one of " + ", ".join(choices))
    if not parts:
        return "a value"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def expand(prog: Program, limits: Limits, opts: Options) -> tuple[Graph | None, list[Diagnostic]]:
    """Expand one network of a loaded program."""
    rep = Reporter()
    if not prog.networks:
        span = prog.main.span(0, 0) if prog.main.text else None
        rep.error("E060", "no network in this file", span, "nothing to check",
                  help=["define one with `network NAME { ... }`"])
        return None, rep.diagnostics
    name = opts.network
    if name is None:
        if len(prog.networks) > 1:
            rep.error("E060", "this file defines several networks; choose one", None,
                      help=["pass --network NAME, one of: " + ", ".join(prog.networks)])
            return None, rep.diagnostics
        name = next(iter(prog.networks))
    if name not in prog.networks:
        rep.error("E060", f"no network named `{name}`", None,
                  help=did_you_mean(name, prog.networks) or
                  ["networks in this file: " + ", ".join(prog.networks)])
        return None, rep.diagnostics
    ex = Expander(prog, limits)
    try:
        graph = ex.run(prog.networks[name], opts)
    except (Abort, WorkLimit):
        graph = ex.graph
    except SpecError as e:
        ex.rep.error(e.code, e.message, e.span, e.label, help=e.help, notes=e.notes)
        graph = ex.graph
    except RecursionError:
        ex.rep.error("E051", "spec nested too deeply", prog.networks[name].name_span, "too deep")
        graph = ex.graph
    return graph, ex.rep.diagnostics
