"""Values of the language and the expression evaluator.

Spec text is never ``eval``'ed: expressions are AST nodes interpreted here, with every
number kept within 64 bits and every list within the repeat limit.

>>> from archlang.source import Source
>>> from archlang.syntax import ast as A
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from archlang.analysis import dims as D
from archlang.analysis.dims import Sym
from archlang.diagnostics import SpecError, did_you_mean
from archlang.source import Span
from archlang.syntax import ast as A

INT_LIMIT = 1 << 63


class Poisoned(Exception):
    """A value depends on an earlier error: abort quietly (that error was reported)."""


#: ``in`` when the current input is the output of a failed layer.
POISON = ("poisoned",)


@dataclass(frozen=True)
class Tensor:
    """A value in the network graph: the output of node ``node``."""

    node: int
    shape: tuple | None  # None: poisoned by an earlier error

    def __repr__(self) -> str:
        return f"<tensor {D.fmt_shape(self.shape) if self.shape is not None else '?'}>"


@dataclass(frozen=True)
class Several:
    """The outputs of a block that declares several, in order: bound with ``a, b = ...``."""

    block: str
    items: tuple[tuple[str, Tensor], ...]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.items]

    def __repr__(self) -> str:
        return f"<{len(self.items)} outputs of {self.block}: {', '.join(self.names)}>"


@dataclass(frozen=True)
class InitSpec:
    """An initialiser: ``kaiming_normal(mode="fan_out", nonlinearity="relu")``."""

    kind: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.kwargs)
        return f"{self.kind}({inner})"


#: initialiser name → (allowed keyword arguments with defaults)
INITS: dict[str, dict[str, Any]] = {
    "kaiming_normal": {"a": 0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
    "kaiming_uniform": {"a": 0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
    "xavier_normal": {"gain": 1.0},
    "xavier_uniform": {"gain": 1.0},
    "normal": {"mean": 0.0, "std": 1.0},
    "trunc_normal": {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0},
    "uniform": {"a": 0.0, "b": 1.0},
    "constant": {"val": 0.0},
    "zeros": {},
    "ones": {},
}
INIT_CHOICES = {"mode": ("fan_in", "fan_out"),
                "nonlinearity": ("relu", "leaky_relu", "linear", "sigmoid", "tanh", "selu")}


@dataclass(frozen=True)
class Builtin:
    """A built-in function (``range``, ``len``, ...) or initialiser used as a value."""

    name: str

    def __str__(self) -> str:
        return f"built-in `{self.name}`"


class Values(list):
    """A list of values: layer outputs (``feats = [c2, c3]``) or lists of them (``levels[i][j]``).

    Its own type, made where such a list is written or joined, so that telling it from a
    list of numbers is one ``isinstance``, however long or deep it is (a loop may grow one
    on every iteration). A list holds values or plain data, never both."""

    __slots__ = ()


def value_list(v: Any) -> bool:
    """Whether ``v`` is a list of values; an empty list is one, ready to grow."""
    return isinstance(v, Values) or isinstance(v, list) and not v


def holds_tensor(v: Any) -> bool:
    """Whether ``v`` is a layer output or a list of them."""
    return isinstance(v, (Tensor, Values))


def values_of(items: list, spans: list) -> list:
    """``items`` as :class:`Values` when they are values, else as they are (plain data); a
    list of both is an error at the first item of the other kind (``spans``: the items')."""
    kinds = [holds_tensor(x) for x in items]
    if not any(kinds):
        return items
    if all(kinds):
        return Values(items)
    k = next(i for i, kind in enumerate(kinds) if kind != kinds[0])
    raise SpecError("E015", "a list holds layer outputs or plain values, not both",
                    spans[k], f"this is {a_type(items[k])}",
                    help=["keep layer outputs and numbers in lists of their own"])


def poisoned(v: Any) -> bool:
    """Whether ``v`` is the value of a failed statement (its error was reported)."""
    return isinstance(v, Tensor) and v.shape is None


def a_type(v: Any) -> str:
    """``an int``, ``a list``: the type of a value with its article."""
    name = type_name(v)
    if isinstance(v, Several):
        return f"the {len(v.items)} outputs of `{v.block}`"
    if isinstance(v, list) and v and value_list(v):
        return f"a list of {len(v)} value{'s' if len(v) > 1 else ''}"
    return ("an " if name[0] in "aeiou" else "a ") + name


def type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, range)):
        return "list"
    if isinstance(v, tuple):
        return "tuple"
    if isinstance(v, Tensor):
        return "tensor"
    if isinstance(v, Several):
        return "outputs"
    if isinstance(v, Sym):
        return "symbolic size"
    if isinstance(v, InitSpec):
        return "initialiser"
    if isinstance(v, Builtin):
        return "function"
    return type(v).__name__


def show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, range):
        return f"range({v.start}, {v.stop})" if v.step == 1 else f"range({v.start}, {v.stop}, {v.step})"
    if isinstance(v, (list, tuple)):
        inner = ", ".join(show(x) for x in v)
        return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
    if isinstance(v, str):
        return repr(v)
    return str(v)


@dataclass
class Env:
    """Lexical scope: names → values, with a parent."""

    vars: dict[str, Any] = field(default_factory=dict)
    parent: Env | None = None
    #: loop variables whose loop has ended, by name: where the loop is (for the error's help)
    ended: dict[str, Span] = field(default_factory=dict)

    def lookup(self, name: str) -> tuple[bool, Any]:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return True, env.vars[name]
            env = env.parent
        return False, None

    def names(self) -> set[str]:
        out: set[str] = set()
        env: Env | None = self
        while env is not None:
            out |= set(env.vars)
            env = env.parent
        return out

    def child(self) -> Env:
        return Env({}, self)

    def ended_loop(self, name: str) -> Span | None:
        """The loop whose variable ``name`` was, if it is unknown because its loop ended."""
        env: Env | None = self
        while env is not None:
            if name in env.ended:
                return env.ended[name]
            env = env.parent
        return None


BUILTINS = ("range", "len", "min", "max", "sum", "int", "float", "abs", "round", "log",
            *INITS)


#: the help of an arithmetic operator given a tensor
TENSOR_ARITHMETIC = ["layers compute with tensors: `add(a, b)`, `mul(a, b)`, `concat(feats)`",
                     "a tensor's sizes are numbers: `x.channels`, `x.height`, `len(feats)`"]


class WorkLimit(Exception):
    """The work budget is spent: the diagnostic is reported, the whole check stops."""


class Budget:
    """The steps a check may take: each statement run, loop iteration, expression node and
    element of a list or string built costs one. Charged as the work is done, so no spec,
    whatever its loops and expressions, runs longer than the budget allows; when it is spent,
    one located E050 is reported and :class:`WorkLimit` stops the check."""

    def __init__(self, limit: int, report) -> None:
        self.limit, self.used, self.report = limit, 0, report

    def spend(self, steps: int, span: Span | None) -> None:
        self.used += steps
        if self.used > self.limit:
            self.report(SpecError(
                "E050", f"checking this spec takes more than {self.limit:,} steps", span,
                "the work limit is reached here",
                help=[("reduce the loop counts or the sizes of lists and ranges, or raise the "
                       "limit with --max-nodes (the budget is proportional to it)")]))
            raise WorkLimit


class Evaluator:
    """Interprets expression ASTs. ``current`` gives ``in.*`` (the current input's shape)."""

    def __init__(self, max_repeat: int, budget: Budget | None = None):
        self.max_repeat = max_repeat
        self.budget = budget

    def check_int(self, v: Any, span: Span) -> Any:
        if isinstance(v, int) and not isinstance(v, bool) and not -INT_LIMIT < v < INT_LIMIT:
            raise SpecError("E056", "number too large", span, "outside 64-bit range",
                            help=["archlang sizes and counts are 64-bit integers"])
        if isinstance(v, float) and not math.isfinite(v):
            raise SpecError("E056", "number out of range", span, "not finite")
        if isinstance(v, (list, tuple)) and len(v) > self.max_repeat:
            raise SpecError("E052", f"list of {len(v)} elements exceeds the repeat limit "
                            f"({self.max_repeat})", span, "too long",
                            help=["raise the limit with --max-repeat"])
        if isinstance(v, str) and len(v) > self.max_repeat:
            raise SpecError("E052", f"string of {len(v)} characters exceeds the repeat limit "
                            f"({self.max_repeat})", span, "too long",
                            help=["raise the limit with --max-repeat"])
        if self.budget is not None and isinstance(v, (list, tuple, str)):
            self.budget.spend(len(v), span)  # building it cost a step per element
        return v

    def eval(self, e: A.Expr, env: Env, current: tuple | None = None) -> Any:
        if self.budget is not None:
            self.budget.spend(1, e.span)
        method = getattr(self, "_" + type(e).__name__)
        return method(e, env, current)

    def _IntLit(self, e, env, cur):
        return e.value

    _FloatLit = _StrLit = _BoolLit = _IntLit

    def _Name(self, e, env, cur):
        found, v = env.lookup(e.id)
        if found:
            return v
        if e.id in BUILTINS:
            if e.id in ("zeros", "ones"):
                return InitSpec(e.id)
            return Builtin(e.id)
        python = {"True": "true", "False": "false", "None": None}
        if e.id in python:
            hint = (f"did you mean `{python[e.id]}`? archlang writes booleans in lower case"
                    if python[e.id] else "archlang has no `None`: leave the argument out")
            raise SpecError("E012", f"unknown name `{e.id}`", e.span, "not defined here",
                            help=[hint])
        loop = env.ended_loop(e.id)
        if loop is not None:
            line = loop.source.location(loop.start)[0]
            raise SpecError("E012", f"unknown name `{e.id}`", e.span, "its loop has ended",
                            notes=[(f"`{e.id}` is the variable of the `for` on line {line}, "
                                    "bound only inside the loop")],
                            help=[f"keep the value in the loop's body: `let last = {e.id}`"])
        raise SpecError("E012", f"unknown name `{e.id}`", e.span, "not defined here",
                        help=did_you_mean(e.id, [*env.names(), *BUILTINS]))

    def _InAttr(self, e, env, cur):
        if cur is POISON:
            raise Poisoned()
        if cur is None:
            raise SpecError("E012", "`in` is not defined here", e.span, "no current input",
                            help=["`in` refers to the input of the statement it is used in"])
        return shape_attr(cur, e.attr, "in", e.span)

    def _Attr(self, e, env, cur):
        value = self.eval(e.value, env, cur)
        if not isinstance(value, Tensor):
            raise SpecError("E015", f"only layer outputs have a shape; this is {a_type(value)}",
                            e.value.span, f"this is {a_type(value)}",
                            help=["name a layer's output (`x = ...`) and read `x.channels`"])
        if value.shape is None:
            raise Poisoned()
        return shape_attr(value.shape, e.attr, e.value.span.text, e.span)

    def _num(self, v, span, what):
        if isinstance(v, bool) or not isinstance(v, (int, float, Sym)):
            if holds_tensor(v):
                if poisoned(v):
                    raise Poisoned()
                raise SpecError("E015", f"{what} expects numbers, got {a_type(v)}", span,
                                f"this is {a_type(v)}", help=TENSOR_ARITHMETIC)
            raise SpecError("E015", f"{what} expects numbers, got {type_name(v)} {show(v)}", span,
                            f"this is {a_type(v)}")
        return v

    def _BinOp(self, e, env, cur):
        left = self.eval(e.left, env, cur)
        right = self.eval(e.right, env, cur)
        op = e.op
        if op == "+" and (isinstance(left, Values) or isinstance(right, Values)) and \
                value_list(left) and value_list(right):
            return self.check_int(Values(left + right), e.span)
        if op == "+" and isinstance(left, (list, tuple, str)) and type(left) is type(right):
            return self.check_int(left + right, e.span)
        if op == "+" and (value_list(left) or value_list(right)) and \
                (holds_tensor(left) or holds_tensor(right)):
            raise self._join_error(e, left, right)
        if op == "*" and isinstance(left, (list, tuple)) and isinstance(right, int) \
                and not isinstance(right, bool):
            if right * len(left) > self.max_repeat:
                raise SpecError("E052", f"list repetition gives {right * len(left)} elements, "
                                f"more than the repeat limit ({self.max_repeat})", e.span, "too long")
            return type(left)(left * max(right, 0))
        self._num(left, e.left.span, f"`{op}`")
        self._num(right, e.right.span, f"`{op}`")
        if isinstance(left, Sym) or isinstance(right, Sym):
            return self._sym_arith(op, left, right, e)
        try:
            if op == "+":
                out = left + right
            elif op == "-":
                out = left - right
            elif op == "*":
                out = left * right
            elif op == "/":
                out = left / right
            elif op == "//":
                out = left // right
            elif op == "%":
                out = left % right
            elif op == "**":
                if isinstance(right, int) and isinstance(left, int) and right > 0 and \
                        abs(left) > 1 and right * math.log2(abs(left)) >= 63:
                    raise SpecError("E056", "number too large", e.span, "outside 64-bit range")
                if (isinstance(left, float) or isinstance(right, float)) and abs(left) > 1 \
                        and abs(right) * math.log2(abs(left)) > 1000:
                    raise SpecError("E056", "number out of range", e.span, "not finite")
                out = left ** right
                if isinstance(out, complex):
                    raise SpecError("E015", "power of a negative number to a fractional "
                                    "exponent", e.span, "not a real number")
            else:  # pragma: no cover - the grammar has no other operators
                raise AssertionError(op)
        except ZeroDivisionError:
            raise SpecError("E016", "division by zero", e.right.span, "this is zero") from None
        except OverflowError:
            raise SpecError("E056", "number out of range", e.span, "overflow") from None
        return self.check_int(out, e.span)

    def _join_error(self, e, left, right) -> Exception:
        """``feats + y``: a list and what is not one (a tensor, a number)."""
        if poisoned(left) or poisoned(right):
            return Poisoned()
        one, side = (right, e.right) if value_list(left) else (left, e.left)
        if isinstance(one, Tensor):
            text = side.span.text
            fix = f"{e.left.span.text} + [{text}]" if side is e.right else \
                f"[{text}] + {e.right.span.text}"
            return SpecError("E015", "`+` joins two lists; this is one value", side.span,
                             "one value", help=[f"put it in a list: `{fix}`"])
        return SpecError("E015", f"`+` joins a list of values to another, not to "
                         f"{a_type(one)}", side.span, f"this is {a_type(one)}")

    def _sym_arith(self, op, left, right, e):
        try:
            if op == "+" and isinstance(right, int):
                return D.add(left, right)
            if op == "+" and isinstance(left, int):
                return D.add(right, left)
            if op == "-" and isinstance(right, int):
                return D.add(left, -right)
            if op == "//" and isinstance(right, int) and right > 0:
                return D.floordiv(left, right)
            if op == "*" and isinstance(right, int):
                return D.mul(left, right)
            if op == "*" and isinstance(left, int):
                return D.mul(right, left)
        except D.NotAffine:
            pass
        raise SpecError("E025", f"`{op}` on a symbolic size is not supported here", e.span,
                        "depends on the input size",
                        help=["give a concrete input size with --input or --set"])

    def _Compare(self, e, env, cur):
        left = self.eval(e.left, env, cur)
        right = self.eval(e.right, env, cur)
        if isinstance(left, Sym) or isinstance(right, Sym):
            raise SpecError("E025", "comparison of a symbolic size", e.span,
                            "depends on the input size",
                            help=["give a concrete input size with --input or --set"])
        if e.op in ("==", "!="):
            same = left == right and type_name(left) == type_name(right)
            return same if e.op == "==" else not same
        for side, v in ((e.left, left), (e.right, right)):
            self._num(v, side.span, f"`{e.op}`")
        return {"<": left < right, "<=": left <= right, ">": left > right,
                ">=": left >= right}[e.op]

    def truth(self, v, span) -> bool:
        if not isinstance(v, bool):
            raise SpecError("E015", f"expected true or false, got {type_name(v)} {show(v)}", span,
                            f"this is {a_type(v)}", help=["compare explicitly, e.g. `n != 0`"])
        return v

    def _BoolOp(self, e, env, cur):
        left = self.truth(self.eval(e.left, env, cur), e.left.span)
        if e.op == "and" and not left:
            return False
        if e.op == "or" and left:
            return True
        return self.truth(self.eval(e.right, env, cur), e.right.span)

    def _Unary(self, e, env, cur):
        v = self.eval(e.operand, env, cur)
        if e.op == "not":
            return not self.truth(v, e.operand.span)
        self._num(v, e.operand.span, f"unary `{e.op}`")
        if isinstance(v, Sym):
            raise SpecError("E025", "negation of a symbolic size", e.span, "depends on the input")
        return -v if e.op == "-" else v

    def _Cond(self, e, env, cur):
        if self.truth(self.eval(e.cond, env, cur), e.cond.span):
            return self.eval(e.then, env, cur)
        return self.eval(e.orelse, env, cur)

    def _Index(self, e, env, cur):
        obj = self.eval(e.obj, env, cur)
        index = self.eval(e.index, env, cur)
        if poisoned(obj) or poisoned(index):
            raise Poisoned()
        if not isinstance(obj, (list, tuple, range)):
            raise SpecError("E015", f"cannot index {a_type(obj)}", e.obj.span,
                            f"this is {a_type(obj)}",
                            help=["`narrow(dim, start, length)` takes a part of a tensor"]
                            if isinstance(obj, Tensor) else [])
        if isinstance(index, bool) or not isinstance(index, int):
            raise SpecError("E015", f"list index must be an int, got {type_name(index)}",
                            e.index.span, f"this is {a_type(index)}",
                            help=TENSOR_ARITHMETIC[1:] if holds_tensor(index) else [])
        if not -len(obj) <= index < len(obj):
            if obj and value_list(obj):
                n = len(obj)
                raise SpecError("E016", f"index {index} is out of range for "
                                f"`{e.obj.span.text}`, a list of {n} value{'s' * (n > 1)}",
                                e.index.span, "out of range",
                                help=[f"its indices are 0 to {n - 1}, or -{n} to -1 from the end"])
            raise SpecError("E016", f"index {index} is out of range for {show(obj)} "
                            f"({len(obj)} elements)", e.index.span, "out of range")
        return obj[index]

    def _TupleLit(self, e, env, cur):
        out = tuple(self.eval(x, env, cur) for x in e.items)
        for x, item in zip(out, e.items):
            if holds_tensor(x):
                raise SpecError("E015", "a tuple holds numbers; layer outputs go in a list",
                                item.span, f"this is {a_type(x)}",
                                help=[f"write a list: `[{', '.join(i.span.text for i in e.items)}]`"])
        return out

    def _ListLit(self, e, env, cur):
        return values_of([self.eval(x, env, cur) for x in e.items], [x.span for x in e.items])

    def _ListComp(self, e, env, cur):
        seq = self.eval(e.iterable, env, cur)
        if not isinstance(seq, (list, tuple, range)):
            raise SpecError("E015", f"a list comprehension needs a list or range, got "
                            f"{type_name(seq)} {show(seq)}", e.iterable.span,
                            f"this is {a_type(seq)}")
        out = []
        for v in seq:
            inner = env.child()
            inner.vars[e.var] = v
            if e.cond is None or self.truth(self.eval(e.cond, inner, cur), e.cond.span):
                out.append(self.eval(e.elt, inner, cur))
        return self.check_int(values_of(out, [e.elt.span] * len(out)), e.span)

    def _FCall(self, e, env, cur):
        func = self.eval(e.func, env, cur)
        if isinstance(func, InitSpec) and func.kind in ("zeros", "ones"):
            if not e.args:
                return func
            raise SpecError("E014", f"`{func.kind}` takes no arguments", e.span,
                            "no arguments", help=[f"write `{func.kind}`"])
        if not isinstance(func, Builtin):
            raise SpecError("E015", f"{type_name(func)} {show(func)} is not callable", e.func.span,
                            "not a function", help=[("layers are called as statements, not "
                                                     "inside expressions")])
        name = func.name
        pos = [self.eval(a.value, env, cur) for a in e.args if a.name is None]
        kw = {a.name: (self.eval(a.value, env, cur), a) for a in e.args if a.name is not None}
        if name in INITS:
            return self._init(name, pos, kw, e)
        if kw:
            first = next(iter(kw.values()))[1]
            raise SpecError("E011", f"`{name}` takes no keyword arguments", first.span,
                            "unexpected keyword")
        return self._builtin(name, pos, e)

    def _init(self, name, pos, kw, e):
        allowed = INITS[name]
        if len(pos) > len(allowed):
            raise SpecError("E014", f"`{name}` takes at most {len(allowed)} positional "
                            f"arguments, got {len(pos)}", e.span, "too many arguments")
        values = dict(zip(allowed, pos))
        for key, (value, arg) in kw.items():
            if key not in allowed:
                raise SpecError("E011", f"`{name}` has no argument `{key}`", arg.name_span or arg.span,
                                "unknown argument", help=did_you_mean(key, allowed) or
                                [f"its arguments are: {', '.join(allowed) or 'none'}"])
            values[key] = value
        for key, value in values.items():
            default = allowed[key]
            if isinstance(default, str):
                if value not in INIT_CHOICES.get(key, ()):
                    raise SpecError("E016", f"`{key}` must be one of "
                                    f"{', '.join(map(repr, INIT_CHOICES[key]))}, got {show(value)}",
                                    e.span, "invalid choice")
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError("E015", f"`{key}` of `{name}` must be a number, got "
                                f"{type_name(value)}", e.span, "not a number")
        return InitSpec(name, tuple(sorted(values.items())))

    def _builtin(self, name, pos, e):
        if any(map(poisoned, pos)):
            raise Poisoned()
        if name == "len" and len(pos) == 1 and isinstance(pos[0], Tensor):
            raise SpecError("E015", "`len` of a tensor", e.args[0].span, "this is a tensor",
                            help=[("its sizes are `x.shape`, `x.channels`, `x.height`, "
                                   "`x.width`; `len` counts a list's values")])
        def ints(n_min, n_max):
            if not n_min <= len(pos) <= n_max:
                raise SpecError("E014", f"`{name}` takes {n_min}" + (f" to {n_max}" if n_max != n_min
                                                                      else "") +
                                f" arguments, got {len(pos)}", e.span, "wrong number of arguments")
            for v, a in zip(pos, e.args):
                if isinstance(v, Sym):
                    raise SpecError("E025", f"`{name}` of a symbolic size ({v})", a.span,
                                    "depends on the input size",
                                    help=["give a concrete input size with --input or --set"])
                if isinstance(v, bool) or not isinstance(v, int):
                    raise SpecError("E015", f"`{name}` expects integers, got {type_name(v)}",
                                    a.span, f"this is {a_type(v)}")

        if name == "range":
            ints(1, 3)
            if len(pos) == 3 and pos[2] == 0:
                raise SpecError("E016", "range step must not be zero", e.args[2].span, "zero")
            r = range(*pos)
            if len(r) > self.max_repeat:
                raise SpecError("E052", f"range of {len(r)} exceeds the repeat limit "
                                f"({self.max_repeat})", e.span, "too many repetitions",
                                help=["raise the limit with --max-repeat"])
            return r
        if name in ("len", "sum", "min", "max") and len(pos) == 1 and \
                isinstance(pos[0], (list, tuple, range)):
            seq = pos[0]
            if name == "len":
                return len(seq)
            if not seq and name != "sum":
                raise SpecError("E016", f"`{name}` of an empty list", e.span, "empty")
            if self.budget is not None:
                self.budget.spend(len(seq), e.span)
            for v in seq:
                self._num(v, e.span, f"`{name}`")
            return self.check_int({"sum": sum, "min": min, "max": max}[name](seq), e.span)
        if name in ("min", "max") and len(pos) >= 2:
            for v, a in zip(pos, e.args):
                self._num(v, a.span, f"`{name}`")
            return (min if name == "min" else max)(pos)
        if name in ("int", "float", "abs", "round", "log") and len(pos) == 1:
            v = self._num(pos[0], e.args[0].span, f"`{name}`")
            if isinstance(v, Sym):
                raise SpecError("E025", f"`{name}` of a symbolic size", e.span, "symbolic")
            if name == "log" and v <= 0:
                raise SpecError("E016", f"`log` of {show(v)}: the logarithm needs a positive "
                                "number", e.args[0].span, "not positive")
            # round: to the nearest int, halves to even (Python's and torch.round's rule)
            fn = {"int": int, "float": float, "abs": abs, "round": round, "log": math.log}
            return self.check_int(fn[name](v), e.span)
        raise SpecError("E014", f"wrong arguments for `{name}`", e.span,
                        f"`{name}` cannot take {len(pos)} argument(s) of these types")


#: what ``in.NAME`` and ``x.NAME`` read of a [C, H, W] (or [F]) shape
SHAPE_ATTRS = {"channels": 0, "height": 1, "width": 2}


def shape_attr(shape: tuple, attr: str, what: str, span) -> Any:
    """``in.channels``, ``x.height``, ``x.shape``, ``x.rank``, ``x.features`` of a shape."""
    if attr == "shape":
        return tuple(shape)
    if attr == "rank":
        return len(shape)
    if attr == "features" and len(shape) == 1:
        return shape[0]
    if attr not in SHAPE_ATTRS:
        raise SpecError("E012", f"`{what}` has no attribute `{attr}`", span,
                        "unknown attribute",
                        help=did_you_mean(attr, [*SHAPE_ATTRS, "shape", "rank", "features"])
                        or [(f"use {what}.channels, {what}.height, {what}.width, {what}.shape "
                             f"or {what}.rank")])
    index = SHAPE_ATTRS[attr]
    if index >= len(shape):
        raise SpecError("E023", f"`{what}.{attr}` needs a rank-{index + 1} input, the input is "
                        f"{D.fmt_shape(shape)}", span, "no such dimension")
    return shape[index]
