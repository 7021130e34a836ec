"""Per-sample shape ops: ``reshape`` and ``narrow``. The batch dimension is never touched."""

from __future__ import annotations

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.activation import torch_dim
from archlang.ops.base import Attrs, Op, OpError, Saved, Window, lit, unit_windows


class ReshapeAttrs(Attrs):
    shape: int | tuple[int, ...]

    @model_validator(mode="after")
    def _valid(self):
        dims = self.dims()
        if not dims:
            raise ValueError("`shape` needs at least one dim (the batch is not written)")
        for d in dims:
            if d < 1 and d != -1:
                raise ValueError(f"`shape` dims must be positive or -1 (inferred), got {d}")
        if dims.count(-1) > 1:
            raise ValueError("`shape` may infer only one dim (one -1)")
        return self

    def dims(self) -> tuple[int, ...]:
        return (self.shape,) if isinstance(self.shape, int) else self.shape


def _shape_text(dims) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


class Reshape(Op):
    name = "reshape"
    attrs = ReshapeAttrs
    positional = ("shape",)
    family = "shape"
    view = True
    doc = ("Reshapes each sample (the batch is kept): reshape([256, 4, 4]) turns [4096] into "
           "[256, 4, 4]; one dim may be -1 (inferred).")

    def shape(self, a, ins):
        dims = a.dims()
        known = 1
        for d in dims:
            if d != -1:
                known *= d
        numel = D.product(ins[0])
        if isinstance(numel, int):
            if -1 in dims:
                if numel % known:
                    raise OpError("E016", f"cannot reshape {D.fmt_shape(ins[0])} ({numel} "
                                  f"elements) to {_shape_text(dims)}: {known} does not divide "
                                  f"{numel}", label="shape here", arg="shape")
                return tuple(numel // known if d == -1 else d for d in dims)
            if numel != known:
                raise OpError("E016", f"cannot reshape {D.fmt_shape(ins[0])} ({numel} elements) "
                              f"to {_shape_text(dims)} ({known} elements)", label="shape here",
                              arg="shape", help=[("the element counts must agree; -1 infers "
                                                  "one dim")])
            return dims
        # symbolic: one symbolic factor, absorbed by the -1 dim
        syms = [d for d in ins[0] if not isinstance(d, int)]
        const = D.product(d for d in ins[0] if isinstance(d, int))
        if -1 in dims and len(syms) == 1 and const % known == 0:
            k = const // known
            try:
                free = syms[0] if k == 1 else D.mul(syms[0], k)
            except D.NotAffine:
                free = None
            if free is not None:
                return tuple(free if d == -1 else d for d in dims)
        raise OpError("E025", f"reshaping {D.fmt_shape(ins[0])} to {_shape_text(dims)} needs a "
                      "concrete input size", label="size is symbolic here",
                      help=["give a concrete input with --input, or pool to a fixed size first"])

    def saved(self, a, ins, out, inplace):
        return Saved()

    def _sizes(self, a, out) -> tuple:
        # concrete sizes where known (a loud error if the input is not as checked)
        return tuple(d if isinstance(d, int) else -1 for d in out)

    def torch_module(self, a, ins, out=None):
        out = out or self.shape(a, ins)
        sizes = lit(self._sizes(a, out))
        if len(out) == 1:
            return "nn.Flatten()"
        if len(ins[0]) == 1:
            return f"nn.Unflatten(1, {sizes})"
        return f"nn.Sequential(nn.Flatten(), nn.Unflatten(1, {sizes}))"

    def torch_call(self, a, args, ins, inplace):
        out = self.shape(a, ins)
        sizes = ", ".join(str(d) for d in self._sizes(a, out))
        return f"torch.reshape({args[0]}, ({args[0]}.shape[0], {sizes}))"

    def label(self, a, ins):
        return "reshape " + "x".join(str(d) for d in a.dims())


class NarrowAttrs(Attrs):
    dim: int
    start: int
    length: int

    @model_validator(mode="after")
    def _valid(self):
        if self.length < 1:
            raise ValueError(f"`length` must be positive, got {self.length}")
        return self


class Narrow(Op):
    name = "narrow"
    attrs = NarrowAttrs
    positional = ("dim", "start", "length")
    family = "shape"
    has_module = False
    view = True
    doc = ("`length` entries of `dim` (batch excluded) from `start` (torch.narrow): splits a "
           "tensor into parts, e.g. mu = h -> narrow(0, 0, 20).")

    def shape(self, a, ins):
        rank = len(ins[0])
        if not -rank <= a.dim < rank:
            raise OpError("E016", f"dim {a.dim} is out of range for a rank-{rank} input",
                          label="dim here", arg="dim",
                          help=[f"use a dim in [{-rank}, {rank - 1}]; dims exclude the batch"])
        d = a.dim % rank
        size = ins[0][d]
        if not isinstance(size, int):
            raise OpError("E025", f"narrow along a symbolic size ({size})", label="size is symbolic here",
                          help=["give a concrete input size with --input"])
        start = a.start + size if a.start < 0 else a.start
        if not (0 <= start and start + a.length <= size) or a.start < -size:
            raise OpError("E016", f"narrow({a.dim}, {a.start}, {a.length}) exceeds the size "
                          f"{size} of dim {a.dim} ({D.fmt_shape(ins[0])})", label="range here",
                          arg="start" if not 0 <= start < size else "length",
                          help=[f"start + length must be at most {size}"])
        out = list(ins[0])
        out[d] = a.length
        return tuple(out)

    def window(self, a, ins):
        windows = list(unit_windows(ins))
        d = a.dim % len(ins[0])
        if d > 0:  # along a spatial axis, unit u is the input's unit start + u
            start = a.start + ins[0][d] if a.start < 0 else a.start
            windows[d - 1] = Window(padding=-start)
        return tuple(windows)

    def saved(self, a, ins, out, inplace):
        return Saved()

    def torch_module(self, a, ins):
        raise NotImplementedError("narrow is emitted as torch.narrow")

    def torch_call(self, a, args, ins, inplace):
        return f"torch.narrow({args[0]}, {torch_dim(a.dim)}, {a.start}, {a.length})"

    def label(self, a, ins):
        where = f"{a.start}:{a.start + a.length}" if a.start >= 0 or a.start + a.length < 0 \
            else f"{a.start}:"
        return f"narrow [{where}]" if a.dim == 0 else f"narrow dim {a.dim} [{where}]"
