"""Structural ops: flatten, concat, add, identity, dropout."""

from __future__ import annotations

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.analysis.dims import Sym
from archlang.ops.activation import torch_dim
from archlang.ops.base import Agree, Attrs, Extra, Op, OpError, Saved, Shaped, numel, unit_windows


class FlattenAttrs(Attrs):
    start_dim: int = 0
    end_dim: int = -1


class Flatten(Op):
    name = "flatten"
    attrs = FlattenAttrs
    positional = ("start_dim", "end_dim")
    family = "shape"
    view = True
    doc = "Flattens dims start_dim..end_dim (batch excluded): [C, H, W] → [C*H*W]."

    def saved(self, a, ins, out, inplace):
        return Saved()

    def _range(self, a, rank):
        s = a.start_dim + rank if a.start_dim < 0 else a.start_dim
        e = a.end_dim + rank if a.end_dim < 0 else a.end_dim
        if not (0 <= s < max(rank, 1) and 0 <= e < max(rank, 1) and s <= e):
            raise OpError("E016", f"flatten range {a.start_dim}..{a.end_dim} is invalid for a "
                          f"rank-{rank} input", label="dims here",
                          help=["dims exclude the batch; flatten() flattens everything"])
        return s, e

    def shape(self, a, ins):
        shape = ins[0]
        if not shape:
            # torch's flatten(x, 1) of a batch of scalars ([N]) has no dim 1 to start from
            raise OpError("E023", "flatten needs an input with a dim besides the batch; this "
                          "one is a scalar per sample", label="scalar input here",
                          help=["remove the flatten: a scalar per sample is already flat"])
        s, e = self._range(a, len(shape))
        merged = D.product(shape[s:e + 1])
        if not isinstance(merged, int):
            # A product of symbolic sizes is not a size; keep it only if it is one factor.
            if e == s:
                return shape
            raise OpError("E025", f"flattening symbolic sizes ({D.fmt_shape(shape[s:e + 1])}) "
                          "gives a size that is not affine in the input", label="size is symbolic here",
                          help=[("pool to a fixed size first (adaptive_avgpool2d or "
                                 "global_avgpool), or give a concrete input with --input")])
        return (*shape[:s], merged, *shape[e + 1:])

    def _args(self, a, rank):
        s, e = self._range(a, rank)
        end = "" if e == rank - 1 else f", {e + 1}"
        return f"{s + 1}{end}"

    def torch_module(self, a, ins):
        return f"nn.Flatten({self._args(a, len(ins[0]))})"

    def torch_call(self, a, args, ins, inplace):
        return f"torch.flatten({args[0]}, {self._args(a, len(ins[0]))})"

    def label(self, a, ins):
        return "flatten"


class ConcatAttrs(Attrs):
    dim: int = 0


class Concat(Op):
    name = "concat"
    aliases = ("cat",)
    attrs = ConcatAttrs
    positional = ("dim",)
    family = "merge"
    inputs = (1, None)
    diagram_shape = "funnel"
    construct = "concat"
    inplace_safe_producer = True
    doc = "Concatenation along `dim` (default 0, channels); other sizes must agree."

    def shape(self, a, ins):
        rank = len(ins[0])
        for i, s in enumerate(ins[1:], 1):
            if len(s) != rank:
                raise OpError("E023", f"concat inputs have different ranks ({D.fmt_shape(ins[0])} "
                              f"and {D.fmt_shape(s)})", label=f"input {i} has rank {len(s)}")
        if not -rank <= a.dim < rank:
            raise OpError("E016", f"dim {a.dim} is out of range for rank {rank}", label="dim here",
                          arg="dim")
        d = a.dim % rank
        out = list(ins[0])
        agree: list[Agree] = []
        for i, s in enumerate(ins[1:], 1):
            for axis in range(rank):
                if axis == d:
                    continue
                out[axis] = unify(out[axis], s[axis], axis, "concat", ins, agree)
        total = ins[0][d]
        for s in ins[1:]:
            if not isinstance(total, int) or not isinstance(s[d], int):
                raise OpError("E025", "concat along a symbolic size", label="size is symbolic here")
            total += s[d]
        out[d] = total
        return Shaped(tuple(out), tuple(agree))

    def window(self, a, ins):
        return unit_windows(ins) if a.dim % len(ins[0]) == 0 else None

    def saved(self, a, ins, out, inplace):
        return Saved()  # its backward splits the gradient by sizes

    def torch_module(self, a, ins):
        raise NotImplementedError("concat is emitted as torch.cat")

    def torch_call(self, a, args, ins, inplace):
        return f"torch.cat([{', '.join(args)}], {torch_dim(a.dim)})"

    def label(self, a, ins):
        return "concat"


AXES = {0: "channels", 1: "height", 2: "width"}


def unify(x, y, axis: int, what: str, ins, agree: list[Agree], help: list[str] | None = None):
    """The size of ``axis`` where two inputs meet: equal sizes, or symbolic sizes that agree
    for some input sizes (an :class:`Agree` added to ``agree``); otherwise an error."""
    if x == y:
        return x
    name = AXES.get(axis, f"dim {axis}") if len(ins[0]) == 3 else f"dim {axis}"
    code = "E020" if axis == 0 else "E021"
    shapes = ", ".join(D.fmt_shape(s) for s in ins)
    if help is None:
        if code == "E021":
            help = ["match the branches' strides and padding"]
        elif what == "add":
            help = ["project the shortcut with a 1x1 conv2d to the same channel count"]
        elif what == "mul":
            help = ["give the gate the input's channel count, or 1 to broadcast it"]
        elif what == "average":
            help = ["ensemble members must produce outputs of the same shape"]
        else:
            help = [f"channels can differ only along the concatenated dim ({name} is not it)"]
    error = OpError(code, f"{what} inputs differ in {name}: {x} vs {y}",
                    label=f"inputs are {shapes}", help=help)
    if isinstance(x, Sym) and isinstance(y, Sym) and x.name == y.name and \
            x.a * y.m == y.a * x.m:
        agree.append(Agree(x, y, error))
        return x
    raise error


def same_shape(ins, what: str, inputs: str, broadcast: bool = False) -> Shaped:
    """The shape of an element-wise merge: every input the same (symbolic sizes agreeing),
    or, with ``broadcast``, sizes of 1 stretched as torch does (a ``[C, 1, 1]`` gate over
    ``[C, H, W]``). Ranks must be equal: every tensor has a batch dim, and torch would align a
    lower-rank input's batch with a per-sample dim."""
    first = ins[0]
    for i, s in enumerate(ins[1:], 1):
        if len(s) != len(first):
            raise OpError("E023", f"{inputs} have different ranks ({D.fmt_shape(first)} and "
                          f"{D.fmt_shape(s)})", label=f"input {i} has rank {len(s)}",
                          help=[("give the smaller input size-1 dims (reshape) to broadcast "
                                 "it")] if broadcast else [])
    out = list(first)
    agree: list[Agree] = []
    for s in ins[1:]:
        for axis in range(len(first)):
            if broadcast and out[axis] == 1:
                out[axis] = s[axis]
            elif not (broadcast and s[axis] == 1):
                out[axis] = unify(out[axis], s[axis], axis, what, ins, agree)
    return Shaped(tuple(out), tuple(agree))


class Add(Op):
    name = "add"
    family = "merge"
    broadcasts = True
    inputs = (2, None)
    inplace_safe_producer = True
    diagram_shape = "glyph"
    glyph = "+"
    construct = "residual"
    inplace_operator = "+="
    doc = ("Element-wise sum of two or more inputs (residual connections); sizes of 1 "
           "broadcast as in torch, ranks are equal.")

    def shape(self, a, ins):
        return same_shape(ins, "add", "add inputs", broadcast=True)

    def window(self, a, ins):
        return unit_windows(ins)

    def saved(self, a, ins, out, inplace):
        return Saved()

    def torch_module(self, a, ins):
        raise NotImplementedError("add is emitted as +")

    def torch_call(self, a, args, ins, inplace):
        if inplace:
            return args[0] + "".join(f".add_({b})" for b in args[1:])  # (a + b) + c
        return " + ".join(args)


class Mul(Op):
    name = "mul"
    family = "merge"
    broadcasts = True
    inputs = (2, None)
    inplace_safe_producer = True
    diagram_shape = "glyph"
    glyph = "×"
    doc = ("Element-wise product of two or more inputs (squeeze-and-excitation gates); sizes "
           "of 1 broadcast as in torch, ranks are equal.")

    def shape(self, a, ins):
        return same_shape(ins, "mul", "mul inputs", broadcast=True)

    def window(self, a, ins):
        return unit_windows(ins)

    def torch_module(self, a, ins):
        raise NotImplementedError("mul is emitted as *")

    def torch_call(self, a, args, ins, inplace):
        return " * ".join(args)


class Mean(Op):
    name = "mean"
    family = "merge"
    construct = "average"
    inputs = (2, None)
    inplace_safe_producer = True
    doc = ("Element-wise mean of two or more inputs of the same shape (`average { }` builds it: "
           "ensembles).")

    def shape(self, a, ins):
        return same_shape(ins, "average", "averaged inputs")

    def window(self, a, ins):
        return unit_windows(ins)

    def saved(self, a, ins, out, inplace):
        return Saved()  # a sum, divided by a number

    def torch_module(self, a, ins):
        raise NotImplementedError("mean is emitted as (a + b) / n")

    def torch_call(self, a, args, ins, inplace):
        return f"({' + '.join(args)}) / {len(args)}"

    def label(self, a, ins):
        return f"average of {len(ins)}"


class Identity(Op):
    name = "identity"
    family = "shape"
    view = True
    doc = "Returns its input unchanged."

    def window(self, a, ins):
        return unit_windows(ins)

    def saved(self, a, ins, out, inplace):
        return Saved()

    def torch_module(self, a, ins):
        return "nn.Identity()"

    def torch_call(self, a, args, ins, inplace):
        return args[0]


class DropoutAttrs(Attrs):
    p: float = 0.5

    @model_validator(mode="after")
    def _valid(self):
        if not 0 <= self.p <= 1:
            raise ValueError(f"`p` must be a probability in [0, 1], got {self.p}")
        return self


class Dropout(Op):
    name = "dropout"
    attrs = DropoutAttrs
    positional = ("p",)
    family = "reg"
    eval_identity = True
    doc = "Dropout with probability `p` in training; the identity in eval mode."

    def window(self, a, ins):
        return unit_windows(ins)

    def saved(self, a, ins, out, inplace):
        return Saved(extra=(Extra(numel(out), "mask"),))

    def torch_module(self, a, ins):
        return f"nn.Dropout({a.p!r})" if a.p != 0.5 else "nn.Dropout()"

    def torch_call(self, a, args, ins, inplace):
        return f"F.dropout({args[0]}, {a.p!r}, self.training)"

    def label(self, a, ins):
        return f"dropout {float(f'{a.p:.12g}')}"
