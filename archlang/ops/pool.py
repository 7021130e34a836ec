"""Pooling: max/avg (with ceil_mode), adaptive max/avg, global average."""

from __future__ import annotations

from pydantic import model_validator

from archlang.ops.base import (
    Attrs,
    Extra,
    IntPair,
    Op,
    OpError,
    Saved,
    Window,
    and_list,
    check_positive,
    join_args,
    lit,
    numel,
    pair,
    require_rank,
    respell,
    window_out,
)


def _src(v):
    return lit(v) if not isinstance(v, tuple) or v[0] != v[1] else lit(v[0])


class MaxPoolAttrs(Attrs):
    kernel_size: IntPair
    stride: IntPair | None = None
    padding: IntPair = 0
    dilation: IntPair = 1
    ceil_mode: bool = False

    @model_validator(mode="after")
    def _valid(self):
        check_positive("kernel_size", self.kernel_size)
        check_positive("stride", self.stride)
        check_positive("padding", self.padding, allow_zero=True)
        check_positive("dilation", self.dilation)
        k, p, d = pair(self.kernel_size), pair(self.padding), pair(self.dilation)
        for i in range(2):
            # PyTorch checks both: against the kernel, and against the dilated window.
            if p[i] > k[i] // 2:
                raise ValueError(f"`padding` ({p[i]}) must be at most half the kernel size "
                                 f"({k[i]}), as PyTorch requires")
            if p[i] * 2 > d[i] * (k[i] - 1) + 1:
                raise ValueError(f"`padding` ({p[i]}) must be at most half the effective kernel "
                                 f"size ({d[i] * (k[i] - 1) + 1}), as PyTorch requires")
        return self


class AvgPoolAttrs(Attrs):
    kernel_size: IntPair
    stride: IntPair | None = None
    padding: IntPair = 0
    ceil_mode: bool = False
    count_include_pad: bool = True

    @model_validator(mode="after")
    def _valid(self):
        check_positive("kernel_size", self.kernel_size)
        check_positive("stride", self.stride)
        check_positive("padding", self.padding, allow_zero=True)
        k, p = pair(self.kernel_size), pair(self.padding)
        for i in range(2):
            if p[i] * 2 > k[i]:
                raise ValueError(f"`padding` ({p[i]}) must be at most half the kernel size "
                                 f"({k[i]}), as PyTorch requires")
        return self


class _Pool(Op):
    family = "pool"
    positional = ("kernel_size",)
    #: the torch module's parameters, in its order
    torch_order: tuple[str, ...] = ()
    torch_class = ""
    functional = ""

    def positional_help(self, pos, kw, ins):
        options = and_list([n for n in self.torch_order[1:] if n in self.attrs.model_fields])
        call = respell(self, [t for _, t in pos], kw, self.torch_order)
        if call is None:
            return [f"only `kernel_size` is positional; {options} are keyword-only"]
        return [f"{options} are keyword-only: write `{call}`"]

    def shape(self, a, ins):
        require_rank(ins, (3,), self.name, "pooling works on [C, H, W] images")
        k = pair(a.kernel_size)
        s = pair(a.stride if a.stride is not None else a.kernel_size)
        p = pair(a.padding)
        d = pair(getattr(a, "dilation", 1))
        h = window_out(ins[0][1], k[0], s[0], 2 * p[0], d[0], a.ceil_mode, p[0], self.name, "height")
        w = window_out(ins[0][2], k[1], s[1], 2 * p[1], d[1], a.ceil_mode, p[1], self.name, "width")
        return (ins[0][0], h, w)

    def window(self, a, ins):
        k = pair(a.kernel_size)
        s = pair(a.stride if a.stride is not None else a.kernel_size)
        p, d = pair(a.padding), pair(getattr(a, "dilation", 1))
        return tuple(Window(k[i], s[i], p[i], d[i]) for i in range(2))

    def _args(self, a):
        out = [_src(a.kernel_size)]
        out.append(f"stride={_src(a.stride if a.stride is not None else a.kernel_size)}")
        if a.padding not in (0, (0, 0)):
            out.append(f"padding={_src(a.padding)}")
        if getattr(a, "dilation", 1) not in (1, (1, 1)):
            out.append(f"dilation={_src(a.dilation)}")
        if a.ceil_mode:
            out.append("ceil_mode=True")
        if not getattr(a, "count_include_pad", True):
            out.append("count_include_pad=False")
        return out

    def torch_module(self, a, ins):
        return f"nn.{self.torch_class}({join_args(*self._args(a))})"

    def torch_call(self, a, args, ins, inplace):
        return f"F.{self.functional}({join_args(args[0], *self._args(a))})"

    def label(self, a, ins):
        k = pair(a.kernel_size)
        s = pair(a.stride if a.stride is not None else a.kernel_size)
        text = f"{self.name} {k[0]}x{k[1]}/" + (f"{s[0]}" if s[0] == s[1] else f"{s[0]}x{s[1]}")
        return text + (" ceil" if a.ceil_mode else "")


class MaxPool2d(_Pool):
    name = "maxpool2d"
    aliases = ("maxpool",)
    attrs = MaxPoolAttrs
    torch_order = ("kernel_size", "stride", "padding", "dilation", "return_indices",
                   "ceil_mode")
    torch_class = "MaxPool2d"
    functional = "max_pool2d"
    doc = "2-D max pooling (torch.nn.MaxPool2d); `ceil_mode` follows PyTorch's rule exactly."

    def saved(self, a, ins, out, inplace):
        # max_pool2d_with_indices: its input, and the argmax of each window (int64)
        return Saved(inputs=(0,), extra=(Extra(numel(out), "index"),))


class AvgPool2d(_Pool):
    name = "avgpool2d"
    aliases = ("avgpool",)
    attrs = AvgPoolAttrs
    torch_order = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                   "divisor_override")
    torch_class = "AvgPool2d"
    functional = "avg_pool2d"
    doc = "2-D average pooling (torch.nn.AvgPool2d)."


class AdaptiveAttrs(Attrs):
    output_size: IntPair

    @model_validator(mode="after")
    def _valid(self):
        check_positive("output_size", self.output_size)
        return self


class _Adaptive(Op):
    family = "pool"
    attrs = AdaptiveAttrs
    positional = ("output_size",)
    torch_class = ""
    functional = ""

    def shape(self, a, ins):
        require_rank(ins, (3,), self.name, "adaptive pooling works on [C, H, W] images")
        o = pair(a.output_size)
        return (ins[0][0], o[0], o[1])

    def window(self, a, ins):
        # Windows are uniform only when the output size divides the input size
        # (aten's start_index/end_index); otherwise a unit may read any part of the input.
        o = pair(a.output_size)
        sizes = ins[0][1:]
        if not all(isinstance(n, int) and n % m == 0 for n, m in zip(sizes, o)):
            return None
        return tuple(Window(n // m, n // m) for n, m in zip(sizes, o))

    def torch_module(self, a, ins):
        return f"nn.{self.torch_class}({_src(a.output_size)})"

    def torch_call(self, a, args, ins, inplace):
        return f"F.{self.functional}({args[0]}, {_src(a.output_size)})"

    def label(self, a, ins):
        o = pair(a.output_size)
        return f"{self.name} {o[0]}x{o[1]}"


class AdaptiveAvgPool2d(_Adaptive):
    name = "adaptive_avgpool2d"
    aliases = ("adaptive_avgpool",)
    torch_class = "AdaptiveAvgPool2d"
    functional = "adaptive_avg_pool2d"
    doc = "Adaptive average pooling to a fixed output size (torch.nn.AdaptiveAvgPool2d)."

    def saved(self, a, ins, out, inplace):
        # aten computes an output of 1x1 as a mean, whose backward keeps only sizes
        return Saved() if pair(a.output_size) == (1, 1) else Saved(inputs=(0,))


class AdaptiveMaxPool2d(_Adaptive):
    name = "adaptive_maxpool2d"
    aliases = ("adaptive_maxpool",)
    torch_class = "AdaptiveMaxPool2d"
    functional = "adaptive_max_pool2d"
    doc = "Adaptive max pooling to a fixed output size (torch.nn.AdaptiveMaxPool2d)."

    def saved(self, a, ins, out, inplace):
        return Saved(inputs=(0,), extra=(Extra(numel(out), "index"),))


class GlobalAvgPool(Op):
    name = "global_avgpool"
    aliases = ("gap",)
    family = "pool"
    doc = "Global average pooling: [C, H, W] → [C, 1, 1] (AdaptiveAvgPool2d(1))."

    def shape(self, a, ins):
        require_rank(ins, (3,), self.name, "global pooling works on [C, H, W] images")
        return (ins[0][0], 1, 1)

    def saved(self, a, ins, out, inplace):
        return Saved()  # a mean: its backward keeps only sizes

    def torch_module(self, a, ins):
        return "nn.AdaptiveAvgPool2d(1)"

    def torch_call(self, a, args, ins, inplace):
        return f"F.adaptive_avg_pool2d({args[0]}, 1)"

    def label(self, a, ins):
        return "global avgpool"


__all__ = [
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool2d",
    "GlobalAvgPool",
    "MaxPool2d",
    "OpError",
]
