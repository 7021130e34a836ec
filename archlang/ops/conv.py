"""Convolution: ``conv2d``."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.base import (
    Attrs,
    IntPair,
    Op,
    OpError,
    Shape,
    Window,
    and_list,
    check_positive,
    join_args,
    lit,
    pair,
    require_rank,
    respell,
    window_out,
)


class Conv2dAttrs(Attrs):
    out_channels: int
    kernel_size: IntPair
    stride: IntPair = 1
    padding: IntPair | Literal["same", "valid"] = 0
    dilation: IntPair = 1
    groups: int = 1
    bias: bool = True

    @model_validator(mode="after")
    def _valid(self):
        check_positive("out_channels", self.out_channels)
        check_positive("kernel_size", self.kernel_size)
        check_positive("stride", self.stride)
        check_positive("dilation", self.dilation)
        check_positive("groups", self.groups)
        if not isinstance(self.padding, str):
            check_positive("padding", self.padding, allow_zero=True)
        elif self.padding == "same" and pair(self.stride) != (1, 1):
            raise ValueError("padding='same' needs stride 1 (as in torch.nn.Conv2d)")
        return self


def conv_padding(a) -> tuple[tuple[int, int], tuple[int, int]]:
    """(total, left) padding per spatial axis."""
    k, d = pair(a.kernel_size), pair(a.dilation)
    if a.padding == "valid":
        return (0, 0), (0, 0)
    if a.padding == "same":
        total = tuple(d[i] * (k[i] - 1) for i in range(2))
        return total, tuple(t // 2 for t in total)
    p = pair(a.padding)
    return (2 * p[0], 2 * p[1]), p


def _src(v):
    return lit(v) if not isinstance(v, tuple) or v[0] != v[1] else lit(v[0])


def conv_positional_help(op: Op, order: tuple[str, ...], pos: list[tuple[object, str]],
                         kw: dict[str, str], ins: Shape | None) -> list[str]:
    """Help for a convolution given too many positional arguments.

    ``order`` is the torch module's parameter order after ``in_channels``. A first argument
    equal to the input's channel count (or any integer, when that count is unknown) reads as
    PyTorch's ``in_channels``; otherwise the extra arguments read as the window options.
    """
    texts = [t for _, t in pos]
    options = and_list([n for n in order[len(op.positional):] if n != "bias"])
    channels = ins[0] if ins is not None and len(ins) == 3 and isinstance(ins[0], int) else None
    first = pos[0][0]
    torch_like = isinstance(first, int) and not isinstance(first, bool) and \
        channels in (None, first)
    lines = []
    if torch_like:
        call = respell(op, texts[1:], kw, order)
        if call is not None:
            more = len(pos) > len(op.positional) + 1
            also = f", and {options} are keyword-only" if more else ""
            lines.append(f"input channels are inferred from the previous layer{also}: "
                         f"write `{call}`")
    if not torch_like or channels is None:
        call = respell(op, texts, kw, order)
        if call is not None:
            lines.append(f"{options} are keyword-only: write `{call}`")
        if channels is not None:
            lines.append(f"input channels are inferred from the previous layer ({channels} "
                         "here) and never written")
    if not lines:
        lines.append(f"input channels are inferred from the previous layer; only "
                     f"{and_list(op.positional)} are positional, and {options} are "
                     "keyword-only")
    return lines


class Conv2d(Op):
    name = "conv2d"
    attrs = Conv2dAttrs
    positional = ("out_channels", "kernel_size")
    #: torch.nn.Conv2d's parameters after in_channels, in its order.
    torch_order = ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                   "bias")
    family = "conv"
    stateful = True
    inplace_safe_producer = True
    torch_classes = ("nn.Conv2d",)
    absorbs_norm = True
    optional_params = ("bias",)
    doc = "2-D convolution (torch.nn.Conv2d); input channels are inferred."

    def init_params(self, a):
        return ("weight", "bias") if a.bias else ("weight",)

    def positional_help(self, pos, kw, ins):
        return conv_positional_help(self, self.torch_order, pos, kw, ins)

    def shape(self, a, ins):
        require_rank(ins, (3,), "conv2d", "conv2d works on [C, H, W] images")
        c = ins[0][0]
        if not isinstance(c, int):
            raise OpError("E025", "conv2d needs a concrete channel count", label="channels are symbolic")
        if c % a.groups or a.out_channels % a.groups:
            which = "input channels" if c % a.groups else "out_channels"
            raise OpError("E024", f"groups={a.groups} does not divide the {which} "
                          f"({c if c % a.groups else a.out_channels})", label="groups here",
                          arg="groups", help=[("choose groups that divide both the input "
                                               f"channels ({c}) and out_channels "
                                               f"({a.out_channels})")])
        k, s, d = pair(a.kernel_size), pair(a.stride), pair(a.dilation)
        total, left = conv_padding(a)
        h = window_out(ins[0][1], k[0], s[0], total[0], d[0], False, left[0], "conv2d", "height")
        w = window_out(ins[0][2], k[1], s[1], total[1], d[1], False, left[1], "conv2d", "width")
        return (a.out_channels, h, w)

    def window(self, a, ins):
        k, s, d = pair(a.kernel_size), pair(a.stride), pair(a.dilation)
        left = conv_padding(a)[1]
        return tuple(Window(k[i], s[i], left[i], d[i]) for i in range(2))

    def params(self, a, ins, out):
        k = pair(a.kernel_size)
        weight = a.out_channels * (ins[0][0] // a.groups) * k[0] * k[1]
        return weight + (a.out_channels if a.bias else 0)

    def macs(self, a, ins, out):
        k = pair(a.kernel_size)
        return D.times(D.product(out), (ins[0][0] // a.groups) * k[0] * k[1])

    def torch_module(self, a, ins):
        extra = []
        for name, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
            v = getattr(a, name)
            if v != default and v != (default, default):
                extra.append(f"{name}={_src(v)}")
        if a.groups != 1:
            extra.append(f"groups={a.groups}")
        if not a.bias:
            extra.append("bias=False")
        return f"nn.Conv2d({join_args(str(ins[0][0]), str(a.out_channels), 'kernel_size=' + _src(a.kernel_size), *extra)})"

    def label(self, a, ins):
        k, s = pair(a.kernel_size), pair(a.stride)
        text = f"conv2d {k[0]}x{k[1]}"
        if s != (1, 1):
            text += f"/{s[0]}" if s[0] == s[1] else f"/{s[0]}x{s[1]}"
        text += f", {a.out_channels}"
        if a.groups != 1:
            text += f", g{a.groups}"
        return text
