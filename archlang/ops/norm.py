"""Normalisation: ``batchnorm`` (1-D or 2-D by rank) and ``lrn``."""

from __future__ import annotations

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.base import (
    Attrs,
    Extra,
    Op,
    OpError,
    Saved,
    check_positive,
    numel,
    require_concrete,
    require_rank,
    unit_windows,
)


class BatchNormAttrs(Attrs):
    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True
    track_running_stats: bool = True

    @model_validator(mode="after")
    def _valid(self):
        if not self.eps > 0:
            raise ValueError(f"`eps` must be positive, got {self.eps}")
        if self.momentum is not None and not 0 <= self.momentum <= 1:
            raise ValueError(f"`momentum` must be in [0, 1], got {self.momentum}")
        return self


class BatchNorm(Op):
    name = "batchnorm"
    aliases = ("bn",)
    attrs = BatchNormAttrs
    positional = ("eps", "momentum")
    family = "norm"
    stateful = True
    inplace_safe_producer = True
    torch_classes = ("nn.BatchNorm1d", "nn.BatchNorm2d")
    foldable_norm = True
    optional_params = ("weight", "bias")
    doc = "Batch normalisation: BatchNorm2d on [C, H, W], BatchNorm1d on [F] or [C, L]."

    def shape(self, a, ins):
        require_rank(ins, (1, 2, 3), "batchnorm")
        require_concrete(ins[0][0], "batchnorm's channel count")
        return ins[0]

    def window(self, a, ins):
        return unit_windows(ins)

    def saved(self, a, ins, out, inplace):
        # training: its input and the batch's mean and inverse std per channel
        return Saved(inputs=(0,), extra=(Extra(2 * ins[0][0], "stats", per_sample=False),))

    def params(self, a, ins, out):
        return 2 * ins[0][0] if a.affine else 0

    def buffers(self, a, ins, out):
        return 2 * ins[0][0] + 1 if a.track_running_stats else 0

    def init_params(self, a):
        return ("weight", "bias") if a.affine else ()

    def torch_module(self, a, ins):
        kind = "BatchNorm2d" if len(ins[0]) == 3 else "BatchNorm1d"
        extra = ""
        if a.eps != 1e-5:
            extra += f", eps={a.eps!r}"
        if a.momentum != 0.1:
            extra += f", momentum={a.momentum!r}"
        if not a.affine:
            extra += ", affine=False"
        if not a.track_running_stats:
            extra += ", track_running_stats=False"
        return f"nn.{kind}({ins[0][0]}{extra})"

    def label(self, a, ins):
        return "batchnorm"


class LRNAttrs(Attrs):
    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    @model_validator(mode="after")
    def _valid(self):
        check_positive("size", self.size)
        return self


class LRN(Op):
    name = "lrn"
    aliases = ("local_response_norm",)
    attrs = LRNAttrs
    positional = ("size", "alpha", "beta", "k")
    family = "norm"
    doc = ("Local response normalisation across channels (torch.nn.LocalResponseNorm; alpha "
           "is divided by size, as in Caffe).")

    def shape(self, a, ins):
        if len(ins[0]) < 2:
            raise OpError("E023", "lrn expects an input with channels and at least one spatial "
                          "dimension", label="input has no spatial dimension")
        return ins[0]

    def window(self, a, ins):
        return unit_windows(ins)  # across channels only

    def saved(self, a, ins, out, inplace):
        # F.local_response_norm is composite: it keeps its input, the squares padded by
        # size - 1 channels (for the average pool), the power and the divisor
        c, rest = ins[0][0], D.product(ins[0][1:])
        padded = D.times(rest, c + a.size - 1)
        return Saved(inputs=(0,), extra=(Extra(padded), Extra(D.times(numel(out), 2))))

    def _args(self, a):
        return f"{a.size}, alpha={a.alpha!r}, beta={a.beta!r}, k={a.k!r}"

    def torch_module(self, a, ins):
        return f"nn.LocalResponseNorm({self._args(a)})"

    def torch_call(self, a, args, ins, inplace):
        return f"F.local_response_norm({args[0]}, {self._args(a)})"

    def label(self, a, ins):
        return f"lrn {a.size}"


__all__ = ["LRN", "BatchNorm", "check_positive"]
