"""Ops of generative networks: ``conv_transpose2d``, ``upsample`` and ``sample``.

``conv_transpose2d`` and ``upsample`` grow images (DCGAN generators, VAE decoders);
``sample`` is the reparameterisation of a VAE, ``mu + exp(logvar / 2) * eps``.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.base import (
    Agree,
    Attrs,
    Extra,
    IntPair,
    Op,
    OpError,
    Saved,
    Shaped,
    Window,
    check_positive,
    join_args,
    lit,
    numel,
    pair,
    require_rank,
    unit_windows,
)
from archlang.ops.conv import conv_positional_help
from archlang.ops.structure import unify


def _src(v):
    """A per-axis value as source: ``3`` for ``(3, 3)``."""
    return lit(v) if not isinstance(v, tuple) or v[0] != v[1] else lit(v[0])


def _axis_text(v: tuple[int, int]) -> str:
    return str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"


# ---- conv_transpose2d ---------------------------------------------------------------------


class ConvTranspose2dAttrs(Attrs):
    out_channels: int
    kernel_size: IntPair
    stride: IntPair = 1
    padding: IntPair = 0
    output_padding: IntPair = 0
    groups: int = 1
    bias: bool = True
    dilation: IntPair = 1

    @model_validator(mode="after")
    def _valid(self):
        check_positive("out_channels", self.out_channels)
        check_positive("kernel_size", self.kernel_size)
        check_positive("stride", self.stride)
        check_positive("padding", self.padding, allow_zero=True)
        check_positive("output_padding", self.output_padding, allow_zero=True)
        check_positive("groups", self.groups)
        check_positive("dilation", self.dilation)
        s, d, op = pair(self.stride), pair(self.dilation), pair(self.output_padding)
        for i in range(2):
            if op[i] >= s[i] and op[i] >= d[i]:
                raise ValueError(f"`output_padding` ({op[i]}) must be smaller than the stride "
                                 f"({s[i]}) or the dilation ({d[i]}), as PyTorch requires")
        return self


def transposed_out(size: D.Dim, kernel: int, stride: int, padding: int, dilation: int,
                   output_padding: int, axis: str, agree: list[Agree]) -> D.Dim:
    """``(in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1``. A
    symbolic ``in`` that a pool or a stride floored (``H//16``) is multiplied exactly for the
    input sizes that the floor divides: that condition is added to ``agree``."""
    extra = dilation * (kernel - 1) + output_padding + 1 - 2 * padding
    if isinstance(size, int):
        out = (size - 1) * stride + extra
        if out < 1:
            raise OpError("E022", f"conv_transpose2d output {axis} would be {out} (input {size}, "
                          f"stride {stride}, padding {padding})", label="size reaches zero here",
                          help=["use less padding or a larger input"])
        return out
    scaled, exact = D.mul_exact(size, stride)
    if exact is not None:
        agree.append(Agree(*exact, inexact("conv_transpose2d", size, stride, axis)))
    return D.add(scaled, extra - stride)


def inexact(op: str, size: D.Sym, k: int, axis: str) -> OpError:
    """The error of an upsampling by ``k`` of a floored size that no input size makes exact
    (with what the other layers need)."""
    inner = D.Sym.make(size.name, size.a, size.b, 1)
    return OpError("E021", f"{op} scales the {axis} {size} by {k} exactly only where {size.m} "
                   f"divides {inner}", label="size is symbolic here",
                   help=["give a concrete input size with --input"])


class ConvTranspose2d(Op):
    name = "conv_transpose2d"
    aliases = ("deconv2d",)
    attrs = ConvTranspose2dAttrs
    positional = ("out_channels", "kernel_size")
    #: torch.nn.ConvTranspose2d's parameters after in_channels, in its order.
    torch_order = ("out_channels", "kernel_size", "stride", "padding", "output_padding",
                   "groups", "bias", "dilation")
    family = "conv"
    stateful = True
    inplace_safe_producer = True
    torch_classes = ("nn.ConvTranspose2d",)
    optional_params = ("bias",)
    doc = ("Transposed 2-D convolution (torch.nn.ConvTranspose2d): out = (in-1)*stride - "
           "2*padding + dilation*(k-1) + output_padding + 1; input channels are inferred.")

    def positional_help(self, pos, kw, ins):
        return conv_positional_help(self, self.torch_order, pos, kw, ins)

    def init_params(self, a):
        return ("weight", "bias") if a.bias else ("weight",)

    def shape(self, a, ins):
        require_rank(ins, (3,), "conv_transpose2d", "conv_transpose2d works on [C, H, W] images; "
                     "`reshape` a flat vector first, e.g. reshape([C, 1, 1])")
        c = ins[0][0]
        if not isinstance(c, int):
            raise OpError("E025", "conv_transpose2d needs a concrete channel count",
                          label="channels are symbolic")
        if c % a.groups or a.out_channels % a.groups:
            which = "input channels" if c % a.groups else "out_channels"
            raise OpError("E024", f"groups={a.groups} does not divide the {which} "
                          f"({c if c % a.groups else a.out_channels})", label="groups here",
                          arg="groups", help=[("choose groups that divide both the input "
                                               f"channels ({c}) and out_channels "
                                               f"({a.out_channels})")])
        k, s, p = pair(a.kernel_size), pair(a.stride), pair(a.padding)
        d, op = pair(a.dilation), pair(a.output_padding)
        agree: list[Agree] = []
        h = transposed_out(ins[0][1], k[0], s[0], p[0], d[0], op[0], "height", agree)
        w = transposed_out(ins[0][2], k[1], s[1], p[1], d[1], op[1], "width", agree)
        return Shaped((a.out_channels, h, w), tuple(agree))

    def window(self, a, ins):
        # With stride 1 it is a convolution whose padding is dilation*(k-1) - padding. With a
        # larger stride a unit reads floor or ceil of (its span / stride) inputs, depending on
        # its position: no one window, so a unit is taken to read the whole input.
        k, s, p, d = pair(a.kernel_size), pair(a.stride), pair(a.padding), pair(a.dilation)
        if s != (1, 1):
            return None
        return tuple(Window(k[i], 1, d[i] * (k[i] - 1) - p[i], d[i]) for i in range(2))

    def params(self, a, ins, out):
        k = pair(a.kernel_size)
        weight = ins[0][0] * (a.out_channels // a.groups) * k[0] * k[1]
        return weight + (a.out_channels if a.bias else 0)

    def macs(self, a, ins, out):
        # every input pixel meets every kernel tap of its group: torch's FLOP counter / 2
        k = pair(a.kernel_size)
        taps = ins[0][0] * (a.out_channels // a.groups) * k[0] * k[1]
        return D.times(D.product(ins[0][1:]), taps)

    def torch_module(self, a, ins):
        extra = []
        for name, default in (("stride", 1), ("padding", 0), ("output_padding", 0)):
            v = getattr(a, name)
            if v != default and v != (default, default):
                extra.append(f"{name}={_src(v)}")
        if a.groups != 1:
            extra.append(f"groups={a.groups}")
        if not a.bias:
            extra.append("bias=False")
        if a.dilation not in (1, (1, 1)):
            extra.append(f"dilation={_src(a.dilation)}")
        args = join_args(str(ins[0][0]), str(a.out_channels), "kernel_size=" + _src(a.kernel_size),
                         *extra)
        return f"nn.ConvTranspose2d({args})"

    def label(self, a, ins):
        k, s = pair(a.kernel_size), pair(a.stride)
        text = f"conv_transpose2d {k[0]}x{k[1]}"
        if s != (1, 1):
            text += f" s{_axis_text(s)}"
        text += f", {a.out_channels}"
        if a.groups != 1:
            text += f", g{a.groups}"
        return text


# ---- upsample -----------------------------------------------------------------------------

Scale = int | float
ScalePair = Scale | tuple[Scale, Scale]


class UpsampleAttrs(Attrs):
    scale_factor: ScalePair | None = None
    size: IntPair | None = None
    mode: Literal["nearest", "bilinear"] = "nearest"
    align_corners: bool | None = None

    @model_validator(mode="after")
    def _valid(self):
        if (self.scale_factor is None) == (self.size is None):
            raise ValueError("give exactly one of `scale_factor` and `size`")
        if self.scale_factor is not None:
            scales = self.scale_factor if isinstance(self.scale_factor, tuple) else \
                (self.scale_factor,)
            for f in scales:
                if not (f > 0 and math.isfinite(f)):
                    raise ValueError(f"`scale_factor` must be positive, got {f}")
        check_positive("size", self.size)
        if self.align_corners is not None and self.mode != "bilinear":
            raise ValueError("`align_corners` applies only to mode=\"bilinear\" (PyTorch "
                             "rejects it, even false, with \"nearest\")")
        return self


def _scaled(size: D.Dim, f: Scale, axis: str, agree: list[Agree]) -> D.Dim:
    """``floor(size * f)``, as PyTorch computes it (in double precision); a symbolic size
    that a pool floored is scaled exactly for the input sizes it divides (see
    :func:`transposed_out`)."""
    if isinstance(size, int):
        out = math.floor(size * float(f))
        if out < 1:
            raise OpError("E022", f"upsample output {axis} would be {out} ({size} x {f})",
                          label="size reaches zero here", help=["use a larger scale_factor"])
        return out
    if float(f).is_integer():
        scaled, exact = D.mul_exact(size, int(f))
        if exact is not None:
            agree.append(Agree(*exact, inexact("upsample", size, int(f), axis)))
        return scaled
    raise OpError("E025", f"upsample by {f} of the {axis} {size} is not affine in the input",
                  label="size is symbolic here",
                  help=["use an integer scale_factor, or give a concrete input size with --input"])


class Upsample(Op):
    name = "upsample"
    attrs = UpsampleAttrs
    positional = ("scale_factor",)
    family = "pool"
    doc = ("Resizes [C, H, W] images (torch.nn.Upsample): to `size`, or by `scale_factor` "
           "(floor(H*scale)); mode \"nearest\" or \"bilinear\".")

    def shape(self, a, ins):
        require_rank(ins, (3,), "upsample", "upsample works on [C, H, W] images")
        c, h, w = ins[0]
        if a.size is not None:
            oh, ow = pair(a.size)
            return (c, oh, ow)
        f = a.scale_factor if isinstance(a.scale_factor, tuple) else (a.scale_factor,) * 2
        agree: list[Agree] = []
        try:
            out = (c, _scaled(h, f[0], "height", agree), _scaled(w, f[1], "width", agree))
            return Shaped(out, tuple(agree)) if agree else out
        except D.NotAffine:
            raise OpError("E025", f"upsample of the size {D.fmt_shape(ins[0])} is not affine in "
                          "the input", label="size is symbolic here",
                          help=["give a concrete input size with --input"]) from None

    def window(self, a, ins):
        # the identity when the size is kept; otherwise units are not uniform (see above)
        return unit_windows(ins) if self.shape(a, ins) == ins[0] else None

    def saved(self, a, ins, out, inplace):
        return Saved()  # its backward needs only sizes

    def _kw(self, a) -> str:
        parts = []
        if a.size is not None:
            parts.append(f"size={_src(a.size)}")
        else:
            parts.append(f"scale_factor={_src(a.scale_factor)}")
        if a.mode != "nearest":
            parts.append(f"mode={lit(a.mode)}")
        if a.align_corners is not None:
            parts.append(f"align_corners={a.align_corners!r}")
        return ", ".join(parts)

    def torch_module(self, a, ins):
        return f"nn.Upsample({self._kw(a)})"

    def torch_call(self, a, args, ins, inplace):
        return f"F.interpolate({args[0]}, {self._kw(a)})"

    def label(self, a, ins):
        if a.size is not None:
            oh, ow = pair(a.size)
            text = f"upsample to {oh}x{ow}"
        else:
            f = a.scale_factor if isinstance(a.scale_factor, tuple) else (a.scale_factor,) * 2
            text = f"upsample x{f[0]}" if f[0] == f[1] else f"upsample x({f[0]}, {f[1]})"
        return text + (", bilinear" if a.mode == "bilinear" else "")


# ---- sample ---------------------------------------------------------------------------------


class SampleAttrs(Attrs):
    always: bool = False


class Sample(Op):
    name = "sample"
    aliases = ("reparameterize",)
    attrs = SampleAttrs
    family = "reg"
    inputs = (2, 2)
    has_module = False
    doc = ("`sample(mu, logvar)`: mu + exp(logvar / 2) * eps, eps ~ N(0, 1) (the VAE's "
           "reparameterisation), in training or with `always=true`; otherwise mu.")

    def shape(self, a, ins):
        if len(ins) != 2:
            raise OpError("E014", f"sample takes two inputs (mu, logvar), got {len(ins)}",
                          label="write sample(mu, logvar)")
        mu, logvar = ins
        if len(mu) != len(logvar):
            raise OpError("E023", f"sample inputs have different ranks ({D.fmt_shape(mu)} and "
                          f"{D.fmt_shape(logvar)})", label=f"logvar has rank {len(logvar)}")
        out = list(mu)
        agree: list[Agree] = []
        for axis in range(len(mu)):
            out[axis] = unify(out[axis], logvar[axis], axis, "sample", ins, agree,
                              help=[("mu and logvar must have the same shape; split one "
                                     "tensor in two with `narrow`")])
        return Shaped(tuple(out), tuple(agree))

    def window(self, a, ins):
        return unit_windows(ins)

    def saved(self, a, ins, out, inplace):
        # training: exp(logvar / 2) (for logvar's gradient) and the noise (for mu's)
        return Saved(extra=(Extra(D.times(numel(out), 2)),))

    def torch_module(self, a, ins):
        raise NotImplementedError("sample is emitted as an expression")

    def torch_call(self, a, args, ins, inplace):
        mu, logvar = args
        draw = f"{mu} + torch.exp(0.5 * {logvar}) * torch.randn_like({mu})"
        return draw if a.always else f"({draw}) if self.training else {mu}"

    def label(self, a, ins):
        return "sample" + (" (always)" if a.always else "")
