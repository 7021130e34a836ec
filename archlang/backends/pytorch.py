"""PyTorch backend: a checked graph → readable, standalone Python source.

One class per distinct block instance (identical instances share a class), a class for the
network, modules registered in execution order under the spec's names (so ``state_dict``
keys are the spec's names), and a ``forward`` written out line by line with shape comments.
Pure chains of unnamed layers become ``nn.Sequential`` (exactly torchvision's layout).
Activations are released at their last use: a value either flows on under the same name or
is deleted. Training-only outputs are computed under ``if self.training:``.

:mod:`archlang.loader` executes exactly this source in a fresh module registered in
``linecache``, so ``inspect.getsource`` and tracebacks show it. Generation never imports
torch; loading does.
"""

from __future__ import annotations

import itertools
import keyword
import re
from dataclasses import dataclass, field

from archlang.analysis import dims as D
from archlang.codecheck import parse_python
from archlang.graph.inplace import InPlace
from archlang.graph.model import Graph, Node, Scope
from archlang.graph.values import INITS, InitSpec
from archlang.inference import FOLD_METHOD, Build, inference_graph
from archlang.names import BUILTINS, RESERVED
from archlang.ops.base import lit
from archlang.ops.registry import OPS

LINE = 88
INDENT = "    "


def doc(text: str) -> str:
    """A docstring literal for text that may come from a spec (names, paths, values)."""
    clean = "".join(ch if ch.isprintable() else " " for ch in text)
    clean = clean.replace("\\", "/").replace('"', "'")
    return f'"""{clean}"""'


def _fits(line: str) -> bool:
    return len(line) <= LINE


def call_lines(prefix: str, func: str, args: list[str], indent: str, suffix: str = "") -> list[str]:
    """``prefix + func(args) + suffix`` on one line, or exploded one argument per line."""
    one = f"{indent}{prefix}{func}({', '.join(args)}){suffix}"
    if _fits(one) or not args:
        return [one]
    lines = [f"{indent}{prefix}{func}("]
    for a in args:
        lines += item_lines(a, indent + INDENT)
    lines.append(f"{indent}){suffix}")
    return lines


def list_call_lines(func: str, items: list[str], indent: str) -> list[str]:
    """``func([items])`` on one line, or as ruff format explodes it: the list on its own
    lines, one item per line."""
    one = f"{indent}{func}([{', '.join(items)}])"
    if _fits(one):
        return [one]
    lines = [f"{indent}{func}(", f"{indent}{INDENT}["]
    for item in items:
        lines += item_lines(item, indent + INDENT * 2)
    return [*lines, f"{indent}{INDENT}]", f"{indent})"]


def item_lines(item: str, indent: str) -> list[str]:
    """One element of an exploded argument list or list literal, with its trailing comma,
    itself exploded as ruff format does when it is too long: a call one argument per line, a
    tuple one element per line."""
    if _fits(f"{indent}{item},"):
        return [f"{indent}{item},"]
    if item.startswith("(") and item.endswith(")") and _closes_at_end(item):
        lines = [f"{indent}("]
        for part in split_top(item[1:-1]):
            lines += item_lines(part, indent + INDENT)
        return [*lines, f"{indent}),"]
    lines = expr_lines("", item, indent, trail=",")
    lines[-1] += ","
    return lines


def _scan(text: str):
    """``(index, char, depth)`` for each character of generated code outside string literals,
    ``depth`` counting the brackets open before it (a closing bracket is counted at depth
    after it closes)."""
    depth, in_str = 0, None
    for k, ch in enumerate(text):
        if in_str:
            in_str = None if ch == in_str else in_str
            continue
        if ch in "\"'":
            in_str = ch
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        yield k, ch, depth


def _closes_at_end(text: str) -> bool:
    """Whether the bracket opening ``text`` closes at its last character."""
    for k, ch, depth in _scan(text):
        if ch in ")]}" and depth == 0:
            return k == len(text) - 1
    return False


def split_top(args: str) -> list[str]:
    """Split ``a, b(c, d), e=[1, 2]`` at top-level commas."""
    cuts = [k for k, ch, depth in _scan(args) if ch == "," and depth == 0]
    parts = [args[i + 1:j] for i, j in zip([-1, *cuts], [*cuts, len(args)])]
    return [part.strip() for part in parts if part.strip()]


def expr_lines(prefix: str, expr: str, indent: str, comment: str = "",
               trail: str = "") -> list[str]:
    """An assignment/expression statement, exploded like ruff format when too long.

    ``trail``: text the caller appends to the last line (an argument's comma), which must fit
    too.
    """
    suffix = f"  # {comment}" if comment else ""
    one = f"{indent}{prefix}{expr}"
    if _fits(one + trail + suffix):
        return [one + suffix]
    if _fits(one + trail):
        return [f"{indent}# {comment}", one] if comment else [one]
    head, paren, rest = expr.partition("(")
    if paren and rest.endswith(")") and _single_call(expr):
        inner = split_top(rest[:-1])
        if len(inner) == 1 and inner[0].startswith("[") and inner[0].endswith("]"):
            items = split_top(inner[0][1:-1])
            lines = [f"{indent}{prefix}{head}(", f"{indent}{INDENT}["]
            for a in items:
                lines += item_lines(a, indent + INDENT * 2)
            lines += [f"{indent}{INDENT}]", f"{indent})"]
        else:
            lines = [f"{indent}{prefix}{head}("]
            for a in inner:
                sub = expr_lines("", a, indent + INDENT, trail=",")
                sub[-1] += ","
                lines += sub
            lines.append(f"{indent})")
        return ([f"{indent}# {comment}"] if comment else []) + lines
    head_lines = [f"{indent}# {comment}"] if comment else []
    if _is_list(expr) and not prefix.endswith(" = "):
        # an argument that is a list too long for its line: one item per line
        items = split_top(expr[1:-1])
        return [*head_lines, f"{indent}{prefix}[",
                *(x for a in items for x in item_lines(a, indent + INDENT)), f"{indent}]"]
    if prefix.endswith(" = ") and (_fits(f"{indent}{INDENT}{expr}") or _conditional(expr)
                                   or _operands(expr)):
        # not a call: ruff format wraps the right-hand side in parentheses, then splits a
        # conditional or an operator chain that still does not fit
        return [*head_lines, f"{indent}{prefix}(", *_block(expr, indent + INDENT),
                f"{indent})"]
    return [*head_lines, one]


def _is_list(expr: str) -> bool:
    return expr.startswith("[") and expr.endswith("]") and _closes_at_end(expr)


#: binary operators of generated expressions, by precedence: the loosest first
_OPERATORS = (("+", "-"), ("*", "/", "@"))


def _operands(expr: str) -> list[tuple[str, str]]:
    """``a + b * c`` split at its loosest top-level binary operators: ``[("", "a"),
    ("+", "b * c")]``; empty when there are none (outside brackets and strings)."""
    for ops in _OPERATORS:
        cuts = [k for k, ch, depth in _scan(expr) if depth == 0 and ch in ops
                and expr[k - 1:k] == " " and expr[k + 1:k + 2] == " "]
        if cuts:
            bounds = [-2, *cuts, len(expr) + 1]
            return [(expr[a] if a >= 0 else "", expr[a + 2:b - 1])
                    for a, b in itertools.pairwise(bounds)]
    return []


def _block(expr: str, indent: str) -> list[str]:
    """``expr`` on lines of its own at ``indent``, split as ruff format splits an expression
    that does not fit: a conditional at ``if`` and ``else``, an operator chain one operand
    per line (an operand that still does not fit split at its own operators), a
    parenthesised expression inside its parentheses."""
    if _fits(f"{indent}{expr}"):
        return [f"{indent}{expr}"]
    parts = _conditional(expr)
    if parts is not None:
        body, cond, other = parts
        return [*_block(body, indent), *_prefixed("if ", _block(cond, indent)),
                *_prefixed("else ", _block(other, indent))]
    if expr.startswith("(") and _closes_at_end(expr):
        return [f"{indent}(", *_block(expr[1:-1], indent + INDENT), f"{indent})"]
    operands = _operands(expr)
    if not operands:
        return expr_lines("", expr, indent)
    lines: list[str] = []
    for op, operand in operands:
        line = f"{indent}{op} {operand}" if op else f"{indent}{operand}"
        if _fits(line) or not _operands(operand):
            lines += _prefixed(f"{op} " if op else "", _block(operand, indent))
        else:  # flattened, as ruff does: `+ b` then `* c` at the same indentation
            inner = _operands(operand)
            inner[0] = (op, inner[0][1])
            for sub_op, sub in inner:
                lines += _prefixed(f"{sub_op} " if sub_op else "", _block(sub, indent))
    return lines


def _prefixed(prefix: str, lines: list[str]) -> list[str]:
    """``lines`` with ``prefix`` put after the first line's indentation."""
    if not prefix:
        return lines
    first = lines[0]
    body = first.lstrip(" ")
    return [f"{first[:len(first) - len(body)]}{prefix}{body}", *lines[1:]]


def _conditional(expr: str) -> tuple[str, str, str] | None:
    """``a if c else b`` at the top level of ``expr`` (outside brackets and strings): its
    three parts."""
    cuts = [k for k, _, depth in _scan(expr) if depth == 0
            and (expr.startswith(" if ", k) or expr.startswith(" else ", k))]
    if len(cuts) != 2 or not expr.startswith(" if ", cuts[0]) \
            or not expr.startswith(" else ", cuts[1]):
        return None
    i, e = cuts
    return expr[:i], expr[i + 4:e], expr[e + 6:]


def _single_call(expr: str) -> bool:
    """``f(...)`` or ``a.b(...)``: a dotted name and one argument list, ending the expression."""
    head = expr.partition("(")[0]
    if not head or not all(part.isidentifier() for part in head.split(".")):
        return False
    return _closes_at_end(expr[len(head):])


def camel(name: str) -> str:
    parts = [p for p in name.replace("-", "_").split("_") if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts) or "Net"
    if out[0].isdigit():
        out = "Net" + out
    return out


def shape_comment(shape) -> str:
    return D.fmt_shape(shape, "N") if shape is not None else ""


def _safe_identifier(name: str) -> bool:
    return name.isidentifier() and name.isascii() and not keyword.iskeyword(name) \
        and not name.startswith("__")


def init_call(spec: InitSpec, target: str) -> str:
    defaults = INITS[spec.kind]
    kwargs = [f"{k}={lit(v)}" for k, v in spec.kwargs if defaults.get(k) != v]
    func = {"constant": "constant_"}.get(spec.kind, spec.kind + "_")
    if spec.kind == "constant":
        val = dict(spec.kwargs).get("val", 0.0)
        return f"nn.init.constant_({target}, {lit(val)})"
    return f"nn.init.{func}({', '.join([target, *kwargs])})"


@dataclass
class ClassDef:
    name: str
    base: str
    doc: str
    body: list[str] = field(default_factory=list)  # lines inside the class, indented

    def text(self) -> str:
        return "\n".join([f"class {self.name}({self.base}):", *self.body]) + "\n"


class Generator:
    def __init__(self, graph: Graph, inplace: bool = True, build: Build | None = None,
                 spec_names: bool = True):
        self.g = graph
        #: locals named as the spec binds them; False: only the generator's own names (the
        #: soundness property's reference, so that a naming mistake shows as a difference)
        self.spec_names = spec_names
        #: what runs in place (graph/inplace.py); inplace=False: nothing (the reference build)
        self.flow = InPlace(graph, inplace)
        self.build = build  # the inference build's load-time work (archlang/inference.py)
        self.classes: list[ClassDef] = []
        self.by_body: dict[str, str] = {}  # class body text -> class name
        self.names: set[str] = set()
        self.consumers = self.flow.consumers
        self.outputs = self.flow.outputs
        self.uses_ordered_dict = False
        self._helpers: dict[str, str] | None = None
        #: the named tuples blocks with several outputs return: (block, fields) -> class name
        self.tuples: dict[tuple[str, tuple[str, ...]], str] = {}
        #: the lists registered as ``nn.ModuleDict`` (their indices have gaps): (scope, name)
        self.keyed: set[tuple[int, str]] = set()
        #: the scopes whose class is an ``nn.ModuleList`` (its modules numbered 0, 1, ...)
        self.indexed: set[int] = set()

    # -- helpers ---------------------------------------------------------------------
    def node(self, i: int) -> Node:
        return self.g.nodes[i]

    def ins(self, n: Node):
        return [self.node(i).shape for i in n.inputs]

    def steps(self, scope: Scope) -> list[tuple[str, int]]:
        return [(k, i) for k, i in scope.items if not (k == "node" and self.node(i).is_input)]

    def step_io(self, kind: str, i: int) -> tuple[list[int], list[int]]:
        """The values a step reads and those it makes."""
        if kind == "node":
            return list(self.node(i).inputs), [i]
        s = self.g.scopes[i]
        return s.inputs, s.outputs

    def step_training(self, kind: str, i: int) -> bool:
        return self.node(i).training_only if kind == "node" else self.g.scopes[i].training_only

    def is_chain(self, scope: Scope) -> bool:
        """Every item feeds only the next one: a torch.nn.Sequential."""
        steps = self.steps(scope)
        if not steps or scope.output is None or len(scope.inputs) != 1:
            return False
        prev = scope.input
        for k, i in steps:
            inputs, outs = self.step_io(k, i)
            if inputs != [prev] or len(outs) != 1:
                return False
            out = outs[0]
            if k == "node" and (self.node(i).implicit or self.node(i).impl.inputs != (1, 1)
                                or not self.node(i).impl.has_module):
                return False
            if "." in self.g.local(k, i):  # an item of a list: the list is one module
                return False
            if self.step_training(k, i) != scope.training_only:
                return False
            if prev != scope.input and not all(self.inside(k, i, c)
                                               for c in self.consumers.get(prev, [])):
                return False
            prev = out
        return prev == scope.output

    def inside(self, kind: str, i: int, node_id: int) -> bool:
        """Whether a node belongs to a step (is the step's node, or lies in its scope)."""
        if kind == "node":
            return node_id == i
        return i in self.g.lineage(self.node(node_id).scope)

    # -- module expressions ------------------------------------------------------------
    def module_expr(self, kind: str, i: int, inplace_ok: bool) -> str:
        """Source constructing the module of a step (used in __init__ or inside Sequential)."""
        if kind == "node":
            n = self.node(i)
            op = n.impl
            src = op.torch_module(n.attrs, self.ins(n))
            if op.can_inplace and not inplace_ok:
                src = src.replace("inplace=True", "").replace("(, ", "(").replace("()", "()")
                src = src.replace(", )", ")")
            return src
        s = self.g.scopes[i]
        return self.scope_expr(s)

    def scope_expr(self, s: Scope) -> str:
        if s.kind == "seq" and self.is_chain(s):
            return self.sequential_expr(s)
        return f"{self.class_for(s)}()"

    def sequential_children(self, s: Scope) -> list[tuple[str, str]]:
        out = []
        for k, i in self.steps(s):
            name = self.g.local(k, i)
            ok = k == "node" and self.flow.relu_inplace(self.node(i), s)
            out.append((name, self.module_expr(k, i, ok)))
        return out

    def sequential_expr(self, s: Scope) -> str:
        children = self.sequential_children(s)
        numbered = all(name == str(k) for k, (name, _) in enumerate(children))
        if numbered:
            return f"nn.Sequential({', '.join(src for _, src in children)})"
        self.uses_ordered_dict = True
        pairs = ", ".join(f"({lit(name)}, {src})" for name, src in children)
        return f"nn.Sequential(OrderedDict([{pairs}]))"

    # -- classes -----------------------------------------------------------------------
    def class_for(self, s: Scope) -> str:
        base_name = camel(s.name) if s.kind == "block" else camel(s.path[-1]) if s.path and \
            not s.path[-1].isdigit() else "Group"
        if s.kind == "block" and self.is_chain(s) and all(
                self.g.local(k, i).isdigit() for k, i in self.steps(s)):
            cls = self.sequential_class(s)
        else:
            cls = self.module_class(s)
        key = cls.base + "\n" + "\n".join(cls.body)
        if key in self.by_body:
            return self.by_body[key]
        name = base_name
        k = 2
        while not self.free_class_name(name):
            name, k = f"{base_name}_{k}", k + 1
        self.names.add(name)
        cls.name = name
        self.by_body[key] = name
        self.classes.append(cls)
        return name

    def free_class_name(self, name: str) -> bool:
        return not (name in self.names or name in RESERVED or name in self.output_classes()
                    or name in self.helpers() or keyword.iskeyword(name))

    def tuple_for(self, s: Scope) -> str:
        """The named tuple a block with several outputs returns: one per block and fields."""
        key = (s.name, tuple(name for name, _ in s.outs))
        if key not in self.tuples:
            base = f"{camel(s.name)}Outputs"
            name, k = base, 2
            while not self.free_class_name(name) or name in self.g.inputs or \
                    any(name == arg for arg, _ in s.ins):
                name, k = f"{base}_{k}", k + 1
            self.names.add(name)
            self.tuples[key] = name
        return self.tuples[key]

    def doc_for(self, s: Scope) -> str:
        args = ", ".join(f"{k}={lit(v)}" for k, v in s.args.items())
        where = f"{s.span.source.name}:{s.span.line}"
        name = s.name if s.kind == "block" else "group"
        text = f"{name}({args})" if s.kind == "block" else f"the `{'.'.join(s.path)}` group"
        return doc(f"{text}, from {where}.")

    def sequential_class(self, s: Scope) -> ClassDef:
        cls = ClassDef("", "nn.Sequential", "")
        cls.body.append(INDENT + self.doc_for(s))
        cls.body.append("")
        cls.body.append(f"{INDENT}def __init__(self) -> None:")
        named = self.sequential_children(s)
        children = [src for _, src in named]
        if not all(name == str(k) for k, (name, _) in enumerate(named)):
            # the inference build left gaps (a folded BatchNorm): the names stay the
            # training build's, so its state_dict loads
            self.uses_ordered_dict = True
            ind = INDENT * 2
            cls.body += [f"{ind}super().__init__(", f"{ind}{INDENT}OrderedDict(",
                         f"{ind}{INDENT * 2}[",
                         *(f"{ind}{INDENT * 3}({lit(n)}, {src})," for n, src in named),
                         f"{ind}{INDENT * 2}]", f"{ind}{INDENT})", f"{ind})"]
            return cls
        cls.body += call_lines("", "super().__init__", children, INDENT * 2)
        return cls

    def module_class(self, s: Scope, network: bool = False) -> ClassDef:
        cls = ClassDef("", "nn.Module", "")
        steps = self.steps(s)
        registered = self.registered(s, steps)
        # modules numbered 0, 1, ... and no other: an nn.ModuleList with a forward, its items
        # called as self[0] (DETR's MLP: linears in a ModuleList, F.relu between them)
        indexed = not network and bool(registered) and list(registered.values()) == [
            str(k) for k in range(len(registered))] and not any(
            k == "node" and self.node(i).impl.held for k, i in registered)
        if indexed:
            self.indexed.add(s.id)
            cls.base = "nn.ModuleList"
        lists = self.lists(s, registered)
        forward, _out_type = self.forward(s, steps, registered, network)
        init = self.registrations(s, registered, lists) if not indexed else []
        cls.body.append(INDENT + (self.network_doc() if network else self.doc_for(s)))
        cls.body.append("")
        if network:
            cls.body += self.build_attributes()
        cls.body.append(f"{INDENT}def __init__(self) -> None:")
        if indexed:
            exprs = [self.module_expr(k, i, k == "node" and self.flow.relu_inplace(self.node(i), s))
                     for k, i in registered]
            cls.body += list_call_lines("super().__init__", exprs, INDENT * 2)
        else:
            cls.body.append(f"{INDENT * 2}super().__init__()")
            cls.body += init
        if network:
            inits = self.init_lines()
            if inits:
                cls.body.append(f"{INDENT * 2}self.init_weights()")
            cls.body += self.build_lines()
        cls.body.append("")
        cls.body += forward
        if network and self.build is not None and (self.build.folds or self.build.dropped):
            cls.body += ["", *(f"{INDENT}{line}" if line else "" for line in
                               FOLD_METHOD.strip("\n").splitlines())]
        if network:
            inits = self.init_lines()
            if inits:
                cls.body.append("")
                cls.body.append(f"{INDENT}def init_weights(self) -> None:")
                cls.body.append(f'{INDENT * 2}"""The initialisation declared by the spec\'s '
                                '`init` statements."""')
                cls.body += inits
        return cls

    def registered(self, s: Scope, steps) -> dict[tuple[str, int], str]:
        """The steps a scope's class holds as modules (or parameters), by their name in the
        scope: block instances and groups, layers with weights, labelled one-input layers
        that have a module."""
        out: dict[tuple[str, int], str] = {}
        for k, i in steps:
            local = self.g.local(k, i)
            if k == "node":
                n = self.node(i)
                op = n.impl
                labelled = not n.implicit and not local.isdigit()
                if not (op.stateful or (labelled and op.inputs == (1, 1) and op.has_module)):
                    continue
            out[(k, i)] = local
        return out

    def registrations(self, s: Scope, registered: dict[tuple[str, int], str],
                      lists: dict[str, list[tuple[str, str, int]]]) -> list[str]:
        """The ``__init__`` lines that register a scope's modules, in the order its forward
        first applies them (a list where its first item is)."""
        init: list[str] = []
        for (k, i), name in registered.items():
            if "." in name:  # an item of a list: the whole list, where its first item is
                items = lists.pop(name.partition(".")[0], None)
                if items is not None:
                    init += self.list_lines(name.partition(".")[0], items, s)
                continue
            expr = self.module_expr(k, i, k == "node" and self.flow.relu_inplace(self.node(i), s))
            if _safe_identifier(name):
                init += expr_lines(f"self.{name} = ", expr, INDENT * 2)
            elif k == "node" and self.node(i).impl.held:
                init += expr_lines("", f"self.register_parameter({lit(name)}, {expr})",
                                   INDENT * 2)
            else:
                init += expr_lines("", f"self.add_module({lit(name)}, {expr})", INDENT * 2)
        return init

    def lists(self, s: Scope, registered: dict[tuple[str, int], str]
              ) -> dict[str, list[tuple[str, str, int]]]:
        """The lists of a scope's class (``convs.{i}: ...``): each list's items (index, step),
        in index order. A list whose indices are not 0, 1, ... (the inference build dropped
        a folded BatchNorm) is an ``nn.ModuleDict``, so the others keep their names."""
        out: dict[str, list[tuple[str, str, int]]] = {}
        for (k, i), name in registered.items():
            if "." in name:
                base, _, index = name.partition(".")
                out.setdefault(base, []).append((index, k, i))
        for base, items in out.items():
            items.sort(key=lambda item: int(item[0]))
            if [index for index, _, _ in items] != [str(j) for j in range(len(items))]:
                self.keyed.add((s.id, base))
        return out

    def list_lines(self, name: str, items: list[tuple[str, str, int]], s: Scope) -> list[str]:
        """``self.convs = nn.ModuleList([...])``: a list of the scope, registered where its
        first item is applied, as torch registers it where ``__init__`` assigns it."""
        exprs = [self.module_expr(k, i, k == "node" and self.flow.relu_inplace(self.node(i), s))
                 for _, k, i in items]
        if (s.id, name) in self.keyed:
            pairs = ", ".join(f"{lit(index)}: {e}" for (index, _, _), e in zip(items, exprs))
            expr = f"nn.ModuleDict({{{pairs}}})"
        else:
            expr = f"nn.ModuleList([{', '.join(exprs)}])"
        if _safe_identifier(name):
            return expr_lines(f"self.{name} = ", expr, INDENT * 2)
        return expr_lines("", f"self.add_module({lit(name)}, {expr})", INDENT * 2)

    def build_attributes(self) -> list[str]:
        """The inference build's folds and dropped layers, read by its load hook."""
        b = self.build
        if b is None or not (b.folds or b.dropped):
            return []
        lines = [(f"{INDENT}#: BatchNorm folded into the layer before it when a state_dict "
                  "loads: (layer, norm, eps)")]
        lines += _tuple_lines("FOLDED", [lit((f.layer, f.norm, f.eps)) for f in b.folds])
        lines.append(f"{INDENT}#: training-only layers: a training state_dict's weights for "
                     "them are skipped")
        lines += _tuple_lines("DROPPED", [lit(p) for p in b.dropped])
        return [*lines, ""]

    def build_lines(self) -> list[str]:
        """The end of an inference build's ``__init__``: its layout and its load hook."""
        b, ind = self.build, INDENT * 2
        if b is None:
            return []
        lines = [f"{ind}self.to(memory_format=torch.channels_last)"] if b.channels_last else []
        if b.folds or b.dropped:
            lines.append(f"{ind}self.register_load_state_dict_pre_hook(self.fold_batchnorm)")
        return lines

    def network_doc(self) -> str:
        g = self.g
        args = ", ".join(f"{k}={lit(v)}" for k, v in g.params.items())
        return doc(f"Network `{g.network}`({args}), from {g.source_name}.")

    # -- forward ---------------------------------------------------------------------------
    def forward(self, s: Scope, steps, registered, network: bool) -> tuple[list[str], str]:
        """The ``forward`` method of a scope's class, and its return annotation."""
        return Forward(self, s, steps, registered, network).lines()

    @staticmethod
    def fresh(used: set[str], base: str) -> str:
        if base not in used:
            return base
        k = 2
        while f"{base}_{k}" in used:
            k += 1
        return f"{base}_{k}"

    def outputs_class(self) -> str:
        return self._class_name_avoiding_values(f"{camel(self.g.network)}Outputs")

    def _class_name_avoiding_values(self, name: str) -> str:
        """A module-level class name that no input of forward (a spec name) shadows."""
        while name in self.g.inputs:
            name += "_"
        return name

    def eval_outputs_class(self) -> str | None:
        """The named tuple of eval mode, when training outputs leave several others."""
        outs = self.g.outputs
        if any(o.training for o in outs) and sum(not o.training for o in outs) > 1:
            return self._class_name_avoiding_values(f"{camel(self.g.network)}EvalOutputs")
        return None

    def output_classes(self) -> set[str]:
        return {self.outputs_class(), self.eval_outputs_class()} - {None}

    # -- init --------------------------------------------------------------------------
    def init_lines(self) -> list[str]:
        if hasattr(self, "_init_cache"):
            return self._init_cache
        g = self.g
        ind = INDENT * 2
        # network-level op-kind rules become loops over self.modules(); the rest explicit
        loops: dict[str, dict[str, InitSpec]] = {}
        for n in g.nodes:
            for param, spec in n.init.items():
                loops.setdefault(n.op, {})
        # the kind rule for an op kind applies iff every node of that kind agrees on it
        kind_spec: dict[tuple[str, str], InitSpec] = {}
        for op in loops:
            if not OPS[op].torch_classes:  # no loop can express it: explicit lines below
                continue
            nodes = [n for n in g.nodes if n.op == op and n.params]
            for param in ("weight", "bias"):
                specs = [n.init.get(param) for n in nodes if self.has_param(n, param)]
                if specs and all(sp is not None for sp in specs):
                    counts: dict[InitSpec, int] = {}
                    for sp in specs:
                        counts[sp] = counts.get(sp, 0) + 1
                    best = max(counts.items(), key=lambda kv: kv[1])[0]
                    kind_spec[(op, param)] = best
        lines: list[str] = []
        groups: dict[tuple, list[str]] = {}
        for op in OPS.values():
            params = tuple((p, kind_spec[(op.name, p)]) for p in ("weight", "bias")
                           if (op.name, p) in kind_spec)
            if params:
                guarded = frozenset(p for p, _ in params if p in op.optional_params)
                groups.setdefault((params, guarded), []).extend(op.torch_classes)
        if groups:
            lines.append(f"{ind}for m in self.modules():")
            for k, ((params, guarded), classes) in enumerate(groups.items()):
                names = ", ".join(classes)
                test = f"({names})" if "," in names else names
                lines.append(f"{ind}{INDENT}{'if' if k == 0 else 'elif'} isinstance(m, {test}):")
                for p, spec in params:
                    call = init_call(spec, f"m.{p}")
                    if p in guarded:
                        lines.append(f"{ind}{INDENT * 2}if m.{p} is not None:")
                        lines += expr_lines("", call, ind + INDENT * 3)
                    else:
                        lines += expr_lines("", call, ind + INDENT * 2)
        for n in g.nodes:
            for param in ("weight", "bias"):
                spec = n.init.get(param)
                if spec is None or kind_spec.get((n.op, param)) == spec or \
                        not self.has_param(n, param):
                    continue
                target = f"self.get_submodule({lit(n.name)}).{param}"
                lines += expr_lines("", init_call(spec, target), ind)
        self._init_cache = lines
        return lines

    @staticmethod
    def has_param(n: Node, param: str) -> bool:
        return param in n.impl.init_params(n.attrs)

    # -- the file ----------------------------------------------------------------------
    def generate(self) -> str:
        g = self.g
        root = g.scopes[0]
        net = self.module_class(root, network=True)
        net.name = camel(g.network)
        while net.name in self.names or net.name in RESERVED or \
                net.name in self.output_classes() or net.name in self.helpers() or \
                keyword.iskeyword(net.name):
            net.name += "_"
        self.class_name = net.name
        title = doc(f"PyTorch module for the network `{g.network}` of {g.source_name}.")[3:-3]
        head = [
            f'"""{title}',
            "",
            "Generated by archlang; edit the spec, not this file.",
            '"""',
            "",
        ]
        imports = []
        if self.uses_ordered_dict:
            imports.append("from collections import OrderedDict")
        if any(o.training for o in g.outputs) or len(g.outputs) > 1 or self.tuples:
            imports.append("from typing import NamedTuple")
        if imports:
            imports.append("")
        classes_text = "".join(cls.text() for cls in [*self.classes, net])
        # a helper is written when the classes use it (a permute emitted as a call needs none)
        helpers = [text for name, text in self.helpers().items()
                   if re.search(rf"\b{name}\(", classes_text)]
        body_text = classes_text + "".join(helpers)
        imports += ["import torch"]
        if "F." in body_text:
            imports.append("import torch.nn.functional as F")
        imports += ["from torch import nn", ""]
        parts = ["\n".join(head + imports)]
        if len(g.outputs) > 1:
            fields = [f"{INDENT}{o.name}: torch.Tensor" for o in g.outputs]
            parts.append("\n".join([f"class {self.outputs_class()}(NamedTuple):", *fields]) + "\n")
        if self.eval_outputs_class() is not None:
            fields = [f"{INDENT}{o.name}: torch.Tensor" for o in g.outputs if not o.training]
            parts.append("\n".join([f"class {self.eval_outputs_class()}(NamedTuple):", *fields])
                         + "\n")
        for (_, names), name in self.tuples.items():
            fields = [f"{INDENT}{f}: torch.Tensor" for f in names]
            parts.append("\n".join([f"class {name}(NamedTuple):", *fields]) + "\n")
        parts += helpers
        for cls in self.classes:
            parts.append(cls.text())
        parts.append(net.text())
        source = "\n\n".join(parts)
        source = source.replace("\n\n\n\n", "\n\n\n")
        parse_python(source)  # generated code must always be valid Python
        return source


    def helpers(self) -> dict[str, str]:
        """The module-level helpers the ops of this network need (``Op.torch_helpers``)."""
        if self._helpers is not None:
            return self._helpers
        out: dict[str, str] = {}
        for n in self.g.nodes:
            for name, text in n.impl.torch_helpers(n.attrs).items():
                if out.setdefault(name, text.strip() + "\n") != text.strip() + "\n":
                    raise ValueError(f"two ops define the generated helper `{name}` "
                                     "differently")
        self._helpers = out
        return out


class Forward:
    """Writes one ``forward``: a line per step, each value named once and deleted after its
    last use, training-only steps under ``if self.training:``."""

    def __init__(self, gen: Generator, s: Scope, steps, registered, network: bool):
        self.gen, self.g, self.s, self.steps = gen, gen.g, s, steps
        self.registered, self.network = registered, network
        if network:
            args = list(self.g.inputs.items())
            self.arg_names = ["x"] if len(args) == 1 else [name for name, _ in args]
            pairs = [(name, nid) for name, (_, nid) in zip(self.arg_names, args)]
        elif s.ins:
            self.arg_names = [name for name, _ in s.ins]
            pairs = [(name, nid) for name, nid in s.ins]
        else:
            self.arg_names, pairs = ["x"], [("x", s.input)]
        self.arg_vars: dict[int, str] = {}
        for name, nid in pairs:
            self.arg_vars.setdefault(nid, name)  # a value given twice: its first name
        self.var: dict[int, str] = dict(self.arg_vars)
        # the module-level names this forward may call: no value takes one
        calls = {*gen.output_classes(), *gen.helpers()}
        if not network and len(s.outs) > 1:
            calls.add(gen.tuple_for(s))
        self.live_names = set(self.arg_names) | calls
        # last step index using each value (outputs live to the end)
        self.last: dict[int, int] = {}
        for idx, (k, i) in enumerate(steps):
            for v in gen.step_io(k, i)[0]:
                self.last[v] = idx
        self.keep = {o.node for o in self.g.outputs} if network else set(s.outputs)
        for v in self.keep:
            self.last[v] = len(steps)
        self.body: list[str] = []
        self.in_training = False
        self.out_type = "torch.Tensor"
        self.bound_before: dict[int, set[str]] = {}  # names live at each training block
        self.held: set[int] = set()  # values read from the module (`self.layer_scale`)

    def lines(self) -> tuple[list[str], str]:
        body_indent = INDENT * 2
        blocks = self.training_blocks()
        self.crossing = {v: b for idx, b in blocks.items() if b is not None
                         for v in self.gen.step_io(*self.steps[idx])[1]
                         if self.last.get(v, -1) > max(
                             j for j, c in blocks.items() if c == b)}
        for idx, (k, i) in enumerate(self.steps):
            training = blocks[idx] is not None
            if training and not self.in_training:
                self.body += self.declarations(blocks, idx)
                self.body.append(f"{body_indent}if self.training:")
                self.body += self.refinements(blocks, idx)
                self.in_training = True
            elif not training and self.in_training:
                self.in_training = False
            self.step(idx, k, i, training)
        self.body += self.returns() if self.network else self.block_returns()
        self.body = [line for line in map(self.declaration, self.body) if line is not None]
        return self.head() + self.input_comments() + self.body, self.out_type

    def training_blocks(self) -> dict[int, int | None]:
        """Each step's ``if self.training:`` block (numbered from 0), None outside one."""
        out: dict[int, int | None] = {}
        block, prev = -1, False
        for idx, (k, i) in enumerate(self.steps):
            training = self.gen.step_training(k, i) and not self.s.training_only
            block += training and not prev
            out[idx], prev = (block if training else None), training
        return out

    def declarations(self, blocks: dict[int, int | None], idx: int) -> list[str]:
        """A value made in a training block and read after it is declared before the block
        as optional: TorchScript needs every branch to define it (``assert`` refines it)."""
        self.bound_before[idx] = set(self.live_names)  # a name bound here needs none
        return [f"\0{v} {idx}" for v, b in self.crossing.items() if b == blocks[idx]]

    def declaration(self, line: str) -> str | None:
        """A placeholder of :meth:`declarations` once the value is named (None: its name
        already held a tensor before the block, so it is defined on both branches)."""
        if not line.startswith("\0"):
            return line
        value, idx = map(int, line[1:].split())
        name = self.var[value]
        if name in self.bound_before[idx]:
            return None
        return f"{INDENT * 2}{name}: torch.Tensor | None = None"

    def refinements(self, blocks: dict[int, int | None], idx: int) -> list[str]:
        """``assert v is not None`` for the values of earlier training blocks this one reads."""
        reads = {v for j, b in blocks.items() if b == blocks[idx]
                 for v in self.gen.step_io(*self.steps[j])[0]}
        return self.asserts([v for v, b in self.crossing.items()
                             if b < blocks[idx] and v in reads], INDENT * 3)

    def asserts(self, values: list[int], ind: str) -> list[str]:
        return [f"{ind}assert {self.var[v]} is not None" for v in values]

    def call(self, idx: int, k: str, i: int, inputs: list[int], training: bool):
        """The step's call expression, whether it runs in place, and its output shape."""
        gen, args_src = self.gen, [self.var[v] for v in inputs]
        if k == "scope":
            sc = self.g.scopes[i]
            shape = gen.node(sc.output).shape if sc.output is not None else None
            return f"{self.module(k, i)}({', '.join(args_src)})", False, shape
        n = gen.node(i)
        if (k, i) in self.registered:
            if n.impl.held:  # an nn.Parameter: read, not called
                return self.module(k, i), False, n.shape
            return f"{self.module(k, i)}({', '.join(args_src)})", False, n.shape
        op = n.impl
        if op.inplace_operator:
            first = inputs[0]
            inplace = (self.last.get(first) == idx and first not in self.arg_vars
                       and gen.node(first).shape == n.shape  # not broadcast into
                       and gen.flow.overwritable(first, n.id, self.s)
                       and inputs.count(first) == 1
                       and first not in self.keep and not training)
        else:
            inplace = gen.flow.relu_inplace(n, self.s) and self.last.get(inputs[0]) == idx
        return op.torch_call(n.attrs, args_src, gen.ins(n), inplace), inplace, n.shape

    def module(self, k: str, i: int) -> str:
        """A registered step's module: ``self.conv1``, ``self.convs[0]`` in a list, or
        ``self[0]`` in a class that is an ``nn.ModuleList``."""
        name = self.registered[(k, i)]
        if self.s.id in self.gen.indexed:
            return f"self[{name}]"
        base, dot, index = name.partition(".")
        if not dot:
            return _attribute(name)
        key = lit(index) if (self.s.id, base) in self.gen.keyed else index
        return f"{_attribute(base)}[{key}]"

    def bound_name(self, v: int) -> str | None:
        """The name a statement of this scope binds value ``v`` to (a block's output bound
        by its caller is named in the caller's code, not in the block's)."""
        bindings = self.gen.node(v).bindings
        return bindings.get(self.s.id) if bindings and self.gen.spec_names else None

    @staticmethod
    def usable_local(name: str) -> bool:
        """Whether a spec's name can be a local variable: an identifier that is no keyword,
        builtin or name the generated code uses itself, nor ``_`` (the placeholder an
        unpack writes for an output it does not keep)."""
        return _safe_identifier(name) and name != "_" and name not in RESERVED \
            and name not in BUILTINS

    def free_local(self, name: str) -> bool:
        """A usable local that holds no live value here."""
        return self.usable_local(name) and name not in self.live_names

    def out_name(self, idx: int, k: str, i: int, inputs: list[int], out, inplace: bool,
                 training: bool, dying: list[int]) -> str:
        """The variable the step's value gets: its input's, when that dies here (so memory is
        reused), a group's label, or a fresh ``out``."""
        gen, var = self.gen, self.var
        label = self.g.local(k, i)
        labelled = k == "scope" and not label.isdigit() and _safe_identifier(label)
        feeds_merge = any(gen.node(c).impl.inputs != (1, 1)
                          for c in gen.consumers.get(out, []))
        if inplace:
            return var[inputs[0]]
        declared = next((name for name, v in self.s.outs if v == out), None)
        if not self.network and declared is not None and declared not in self.live_names:
            return declared  # a block's output, named as the block names it
        bound = self.bound_name(out)
        if bound is not None and self.usable_local(bound):
            # `up = interpolate(...)`, `d1 = Down(16)`: the name this scope's statement binds
            # it to; `p_2` while `p` still holds an earlier value
            return Generator.fresh(self.live_names, bound)
        if labelled and (feeds_merge or training) and label not in self.live_names:
            return label
        if len(set(inputs)) == 1 and dying and (var[dying[0]] not in self.arg_vars.values()
                                                or not training):
            return var[dying[0]]
        return Generator.fresh(self.live_names, "out")

    def step(self, idx: int, k: str, i: int, training: bool) -> None:
        ind = INDENT * 2 + (INDENT if self.in_training else "")
        inputs, outs = self.gen.step_io(k, i)
        if k == "node" and self.gen.node(i).impl.held:
            # a held tensor is read where it is used (`self.layer_scale * block`): no line,
            # no variable, nothing to delete
            self.var[i] = self.call(idx, k, i, inputs, training)[0]
            self.held.add(i)
            return
        call, inplace, shape = self.call(idx, k, i, inputs, training)
        dying = [v for v in inputs if self.last.get(v) == idx and v not in self.keep
                 and v not in self.held]
        if k == "scope" and self.g.scopes[i].outs and len(outs) > 1:
            return self.unpack(idx, i, call, dying, ind)
        (out,) = outs
        name = self.out_name(idx, k, i, inputs, out, inplace, training, dying)
        comment = shape_comment(shape)
        if inplace and k == "node" and self.gen.node(i).impl.inplace_operator:
            # one `+=` per addend: (a + b) + c, rounded exactly as `a + b + c`
            operator = self.gen.node(i).impl.inplace_operator
            for j, addend in enumerate([self.var[v] for v in inputs][1:]):
                self.body += expr_lines(f"{name} {operator} ", addend, ind,
                                        "" if j else comment)
        elif call != name:  # an identity whose value keeps its name: no `x = x`
            self.body += expr_lines(f"{name} = ", call, ind, comment)
        elif self.in_training and self.body[-1] == f"{INDENT * 2}if self.training:":
            self.body.pop()  # no empty `if self.training:`
            self.in_training = False
        self.var[out] = name
        self.live_names.add(name)
        self.release(idx, dying, name, ind)

    def unpack(self, idx: int, i: int, call: str, dying: list[int], ind: str) -> None:
        """A block with several outputs: ``c2, c3 = self.body(x)``, each output named by
        what the spec binds it to (or by the block's name for it); ``_`` when unused here."""
        names: list[str] = []
        for declared, v in self.g.scopes[i].outs:
            if v in self.var or self.last.get(v, -1) <= idx:
                names.append("_")  # already named here, or not read again
                continue
            bound = self.bound_name(v)
            name = next((c for c in (bound, declared) if c and self.free_local(c)),
                        None) or Generator.fresh(self.live_names, "out")
            self.var[v] = name
            self.live_names.add(name)
            names.append(name)
        shapes = [(name, shape_comment(self.gen.node(v).shape))
                  for name, v in self.g.scopes[i].outs]
        comment = ", ".join(shape for _, shape in shapes)
        if not _fits(f"{ind}# {comment}"):  # one line per output, named
            self.body += [f"{ind}# {name}: {shape}" for name, shape in shapes]
            comment = ""
        self.body += expr_lines(f"{', '.join(names)} = ", call, ind, comment)
        self.release(idx, dying, "", ind)

    def block_returns(self) -> list[str]:
        """A block's return: its value, or the named tuple of its outputs."""
        s, ind = self.s, INDENT * 2
        if len(s.outs) <= 1:
            return [f"{ind}return {self.var[s.outputs[0]]}"]
        self.out_type = self.gen.tuple_for(s)
        fields = ", ".join(f"{name}={self.var[v]}" for name, v in s.outs)
        return expr_lines("return ", f"{self.out_type}({fields})", ind)

    def release(self, idx: int, dying: list[int], name: str, ind: str) -> None:
        """``del`` what died at this step, unless it was overwritten or is an argument."""
        dead = [self.var[v] for v in dict.fromkeys(dying) if self.var[v] != name]
        for v in dict.fromkeys(dying):
            if self.var[v] != name:
                self.live_names.discard(self.var[v])
        if idx == len(self.steps) - 1:
            dead = []
        dead = [d for d in dead if d not in self.arg_vars.values() or self.network]
        if dead:
            self.body.append(f"{ind}del {', '.join(dead)}")

    def returns(self) -> list[str]:
        gen, var, outputs, ind = self.gen, self.var, self.g.outputs, INDENT * 2
        inference = [o for o in outputs if not o.training]
        if len(outputs) == 1:
            return [f"{ind}return {var[outputs[0].node]}"]
        fields = ", ".join(f"{o.name}={var[o.node]}" for o in outputs)
        if not any(o.training for o in outputs):
            self.out_type = gen.outputs_class()
            return expr_lines("return ", f"{gen.outputs_class()}({fields})", ind)
        ret = [f"{ind}if self.training:"]
        ret += self.asserts([o.node for o in outputs if o.node in self.crossing], ind + INDENT)
        ret += expr_lines("return ", f"{gen.outputs_class()}({fields})", ind + INDENT)
        if len(inference) == 1:
            self.out_type = f"torch.Tensor | {gen.outputs_class()}"
            return [*ret, f"{ind}return {var[inference[0].node]}"]
        fields = ", ".join(f"{o.name}={var[o.node]}" for o in inference)
        self.out_type = f"{gen.outputs_class()} | {gen.eval_outputs_class()}"
        return ret + expr_lines("return ", f"{gen.eval_outputs_class()}({fields})", ind)

    def head(self) -> list[str]:
        sig = ", ".join(f"{n}: torch.Tensor" for n in self.arg_names)
        head = f"{INDENT}def forward(self, {sig}) -> {self.out_type}:"
        if _fits(head):
            return [head]
        return [f"{INDENT}def forward(", f"{INDENT * 2}self,",
                *(f"{INDENT * 2}{a}: torch.Tensor," for a in self.arg_names),
                f"{INDENT}) -> {self.out_type}:"]

    def input_comments(self) -> list[str]:
        if not self.network:
            return []
        lines = [f"{INDENT * 2}# {self.arg_vars[nid]}: {shape_comment(self.gen.node(nid).shape)}"
                 for nid in self.g.inputs.values()]
        if self.gen.build is not None and self.gen.build.channels_last:
            lines += [f"{INDENT * 2}{v} = {v}.contiguous(memory_format=torch.channels_last)"
                      for nid, v in self.arg_vars.items() if len(self.gen.node(nid).shape) == 3]
        return lines


def _tuple_lines(name: str, items: list[str]) -> list[str]:
    """A class attribute holding a tuple: on one line, or one item per line."""
    one = f"{INDENT}{name} = ({', '.join(items)}{',' if len(items) == 1 else ''})"
    if _fits(one):
        return [one]
    return [f"{INDENT}{name} = (", *(f"{INDENT * 2}{item}," for item in items), f"{INDENT})"]


def _attribute(name: str) -> str:
    """A registered submodule or parameter (``getattr`` when its name is no identifier)."""
    return f"self.{name}" if _safe_identifier(name) else f"getattr(self, {lit(name)})"


def generate(graph: Graph, inplace: bool = True, inference: bool = False) -> str:
    """The Python source of a checked network (``inplace=False``: no op runs in place, the
    reference that in-place builds are tested against; ``inference=True``: the inference
    build, see archlang/inference.py)."""
    return generate_named(graph, inplace, inference)[0]


def generate_named(graph: Graph, inplace: bool = True,
                   inference: bool = False) -> tuple[str, str]:
    """The Python source and the name of the network class in it."""
    build = None
    if inference:
        graph, build = inference_graph(graph)
    gen = Generator(graph, inplace, build)
    source = gen.generate()
    return source, gen.class_name
