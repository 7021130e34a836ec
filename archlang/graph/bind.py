"""Binding a call's arguments to its parameters: one binder for op calls and block calls.

An op's attributes are then validated by its pydantic model (:func:`op_attrs`), whose
errors become located diagnostics: the field pydantic names, or the argument the op's
validator names (``SpecError(..., arg=NAME)`` or ``ValueError``), is underlined.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from archlang.analysis.dims import Sym
from archlang.diagnostics import SpecError, did_you_mean
from archlang.graph.values import Tensor, a_type, holds_tensor, show, type_name
from archlang.ops.base import Op
from archlang.source import Span
from archlang.syntax import ast as A


@dataclass
class Signature:
    """What a callee accepts, and how its errors name it."""

    callee: str  # "`conv2d`", "`stem`"
    owner: str  # "`conv2d` has no argument", "block `stem` has no parameter"
    names: list[str]
    positional: list[str]
    required: list[str]
    text: str  # the call's signature, for help
    counted: str = "arguments"  # "positional arguments" for ops
    too_many_help: list[str] | None = None
    unknown_help: list[str] | None = None  # when no name is near an unknown one


def bind(sig: Signature, args: list[tuple[Any, A.Arg]], span: Span) -> dict[str, tuple[Any, Span]]:
    """The given arguments by parameter name, as (value, span of the argument)."""
    keywords: set[str] = set()
    for _, a in args:
        if a.name is None and keywords:
            raise SpecError("E014", "positional argument after keyword arguments", a.span,
                            "move it before the keywords")
        if a.name is not None and a.name in keywords:
            raise SpecError("E014", f"`{a.name}` is given twice", a.name_span or a.span,
                            "second value")
        if a.name is not None:
            keywords.add(a.name)
    pos = [(v, a) for v, a in args if a.name is None]
    if len(pos) > len(sig.positional):
        n = len(sig.positional)
        what = sig.counted if n != 1 else sig.counted[:-1]
        raise SpecError("E014", f"{sig.callee} takes {n} {what}, got {len(pos)}",
                        pos[n][1].span, "unexpected argument",
                        help=sig.too_many_help or [sig.text])
    bound = {name: (v, a.span) for (v, a), name in zip(pos, sig.positional)}
    for v, a in args[len(pos):]:
        where = a.name_span or a.span
        if a.name not in sig.names:
            kind = sig.owner.rsplit(" ", 1)[-1]
            raise SpecError("E011", f"{sig.owner} `{a.name}`", where, f"unknown {kind}",
                            help=did_you_mean(a.name, sig.names) or sig.unknown_help or
                            [sig.text])
        if a.name in bound:
            raise SpecError("E014", f"`{a.name}` is given twice", where,
                            "also given by position")
        bound[a.name] = (v, a.span)
    missing = [n for n in sig.required if n not in bound]
    if missing:
        raise SpecError("E014", f"{sig.callee} needs `{missing[0]}`", span,
                        f"missing {', '.join(missing)}", help=[sig.text])
    return bound


def op_signature(op: Op, help_: list[str] | None = None) -> Signature:
    s = _op_signature(op)
    return Signature(s.callee, s.owner, s.names, s.positional, s.required, s.text, s.counted,
                     help_, s.unknown_help)


@functools.cache
def _op_signature(op: Op) -> Signature:
    """An op's signature, made once per op (it is its fields', which never change): made
    for every call, it took about a sixth of the time of expanding resnet152."""
    fields = op.attrs.model_fields
    shown = ", ".join(n if f.is_required() else f"{n}={show(f.default)}"
                     for n, f in fields.items())
    return Signature(f"`{op.name}`", f"`{op.name}` has no argument", list(fields),
                     list(op.positional), [n for n, f in fields.items() if f.is_required()],
                     f"{op.name}({shown})", "positional arguments", None,
                     [f"arguments of `{op.name}`: {', '.join(fields) or 'none'}"])


def block_signature(block: A.BlockDef) -> Signature:
    """A block's parameters (its inputs, if it declares any, are bound by :func:`bind_inputs`;
    the text shows them first, as a call gives them)."""
    parts = [p.name if p.default is None else f"{p.name}=..." for p in block.params]
    names = [p.name for p in block.params]
    inputs = [name for name, _ in block.inputs]
    return Signature(f"`{block.name}`", f"block `{block.name}` has no parameter", names, names,
                     [], f"{block.name}({', '.join([*inputs, *parts])})")


def bind_inputs(block: A.BlockDef, args: list[tuple[Any, A.Arg]], current: Tensor | None,
                span: Span, piped: bool = False
                ) -> tuple[list[tuple[str, Tensor]], list[tuple[Any, A.Arg]]]:
    """The tensors a call gives a block that declares its inputs, by input name in order, and
    the call's other arguments (for :func:`bind`).

    Tensors bind the inputs by position (in declaration order) or by name. When the call gives
    one fewer than the block declares and leaves the first out, the first is the chain's
    current value: ``bottom -> Up(skip)`` is ``Up(bottom, skip)``. ``piped``: the call follows
    a ``->``, so the chain's value must be one of them.
    """
    check_inputs(block)
    names = [name for name, _ in block.inputs]
    given, positional, rest = _split_args(block, names, args)
    free = [n for n in names if n not in given]
    if free and free[0] == names[0] and len(positional) == len(free) - 1 \
            and current is not None:
        given[names[0]] = current
        free = free[1:]
    elif piped and len(positional) == len(free):
        raise SpecError("E014", f"the call gives every input of `{block.name}`, so the value "
                        "before `->` is not used", span, "all inputs given here",
                        help=[(f"leave `{names[0]}` out of the call to apply the block to the "
                               f"chain's value: {block_signature(block).text}")])
    if len(positional) > len(free):
        raise SpecError("E014", f"`{block.name}` takes {len(names)} tensor arguments, got more",
                        positional[len(free)][1].span, "one too many",
                        help=[block_signature(block).text])
    for (v, _), name in zip(positional, free):
        given[name] = v
    missing = [n for n in names if n not in given]
    if missing:
        chained = missing[0] == names[0] and current is not None and len(missing) > 1
        shown = missing[1:] if chained else missing
        raise SpecError("E014", f"`{block.name}` needs its input `{shown[0]}`", span,
                        f"missing {', '.join(shown)}",
                        help=[block_signature(block).text + (
                            f": the chain's value is `{names[0]}` when the call gives the "
                            f"others" if chained else "")])
    return [(n, given[n]) for n in names], rest


def check_inputs(block: A.BlockDef) -> None:
    """A block's inputs have names of their own."""
    seen: set[str] = set()
    for name, where in block.inputs:
        if name in seen:
            raise SpecError("E013", f"input `{name}` is declared twice", where, "second one")
        seen.add(name)
        if any(p.name == name for p in block.params):
            raise SpecError("E013", f"`{name}` is both a parameter and an input of "
                            f"`{block.name}`", where, "also a parameter",
                            help=["rename the input or the parameter"])


def _split_args(block: A.BlockDef, names: list[str], args: list[tuple[Any, A.Arg]]):
    """A call's arguments as (inputs given by name, tensors given by position, the rest)."""
    keyword = False
    given: dict[str, Tensor] = {}
    positional: list[tuple[Tensor, A.Arg]] = []
    rest: list[tuple[Any, A.Arg]] = []
    for v, a in args:
        if a.name is None and keyword:
            raise SpecError("E014", "positional argument after keyword arguments", a.span,
                            "move it before the keywords")
        keyword = keyword or a.name is not None
        if a.name is not None and a.name in names:
            if not isinstance(v, Tensor):
                raise SpecError("E015", f"input `{a.name}` of `{block.name}` takes a layer "
                                f"output, got {a_type(v)}", a.span, f"this is {a_type(v)}")
            if a.name in given:
                raise SpecError("E014", f"`{a.name}` is given twice", a.name_span or a.span,
                                "second value")
            given[a.name] = v
        elif a.name is None and isinstance(v, Tensor):
            positional.append((v, a))
        elif a.name is None and holds_tensor(v):
            items = ", ".join(f"{text(a.value.span)}[{k}]" for k in range(min(len(names), 3)))
            raise SpecError("E015", f"`{block.name}` takes its inputs one by one, not "
                            f"{a_type(v)}", a.span, f"this is {a_type(v)}",
                            help=[f"give each: `{block.name}({items})`"])
        else:
            rest.append((v, a))
    return given, positional, rest


def op_attrs(op: Op, args: list[tuple[Any, A.Arg]], span: Span, ins=None):
    """The op's validated attributes and the span of each given argument."""
    sig = op_signature(op)
    pos = [(v, a) for v, a in args if a.name is None]
    if len(pos) > len(op.positional):
        kw = {a.name: text(a.span) for _, a in args if a.name is not None}
        generic = f"positional arguments of `{op.name}`: " + \
            (", ".join(op.positional) or "no positional arguments") + "; name the others"
        sig.too_many_help = op.positional_help([(v, text(a.value.span)) for v, a in pos],
                                               kw, ins) or [generic]
    bound = bind(sig, args, span)
    values = {}
    for name, (v, where) in bound.items():
        if isinstance(v, Sym):
            raise SpecError("E025", f"`{name}` depends on the input size ({v})", where,
                            "symbolic here", help=["give a concrete input with --input"])
        values[name] = tuple(v) if isinstance(v, (list, range)) else v
    spans = {name: where for name, (_, where) in bound.items()}
    try:
        return op.attrs(**values), spans
    except ValidationError as exc:
        raise attrs_error(op, exc, values, spans, span) from None


def attrs_error(op: Op, exc: ValidationError, values: dict, spans: dict[str, Span],
                span: Span) -> SpecError:
    """A pydantic validation error as a located diagnostic."""
    fields = op.attrs.model_fields
    err = exc.errors()[0]
    field = err["loc"][0] if err["loc"] else None
    msg = err["msg"]
    if field is None:  # a model validator: the message names the field in backticks
        field = next((name for name in fields if f"`{name}`" in msg), None)
    where = spans.get(field, span) if isinstance(field, str) else span
    if err["type"] == "value_error":
        return SpecError("E016", f"{op.name}: {msg.removeprefix('Value error, ')}", where,
                         "invalid value")
    got = values.get(field) if isinstance(field, str) else None
    ann = fields[field].annotation if isinstance(field, str) and field in fields else None
    expect = describe_type(ann)
    if isinstance(got, str) and "one of" in expect:
        return SpecError("E016", f"`{field}` of `{op.name}` must be {expect}, got {show(got)}",
                         where, "not a valid choice")
    return SpecError("E015", f"`{field}` of `{op.name}` expects {expect}, got "
                     f"{type_name(got)} {show(got)}", where, f"this is {a_type(got)}")


def text(span: Span) -> str:
    """The source text of a span on one line (an argument as the user wrote it)."""
    return " ".join(span.text.split())


def describe_type(ann) -> str:
    """A readable description of an attribute's type annotation."""
    if typing.get_origin(ann) is typing.Literal:
        return "one of " + ", ".join(repr(x) for x in typing.get_args(ann))
    if typing.get_origin(ann) is tuple:
        return "a list of ints" if ... in typing.get_args(ann) else "a pair of ints"
    parts: list[str] = []
    choices: list[str] = []
    for a in typing.get_args(ann) or (ann,):
        if a is type(None):
            continue
        if typing.get_origin(a) is typing.Literal:
            choices += [repr(x) for x in typing.get_args(a)]
        elif a in _NAMES:
            parts.append(_NAMES[a])
        elif typing.get_origin(a) is tuple or typing.get_args(a):
            parts.append(describe_type(a))
        else:
            parts.append(getattr(a, "__name__", str(a)))
    if choices:
        parts.append("one of " + ", ".join(choices))
    if not parts:
        return "a value"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


_NAMES = {int: "an int", float: "a number", bool: "true or false"}
