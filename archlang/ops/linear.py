"""Fully connected: ``linear``."""

from __future__ import annotations

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.base import Attrs, Op, OpError, check_positive, require_concrete


class LinearAttrs(Attrs):
    out_features: int
    bias: bool = True

    @model_validator(mode="after")
    def _valid(self):
        check_positive("out_features", self.out_features)
        return self


class Linear(Op):
    name = "linear"
    attrs = LinearAttrs
    positional = ("out_features",)
    family = "dense"
    stateful = True
    inplace_safe_producer = True
    torch_classes = ("nn.Linear",)
    absorbs_norm = True
    optional_params = ("bias",)
    doc = ("Fully connected layer (torch.nn.Linear) on the last dim: [F] -> [out], and "
           "[L, F] -> [L, out] for tokens; F is inferred.")

    def channel_axis(self, out):
        return len(out) - 1  # [L, F] -> [L, out]: the features, not dim 0

    def init_params(self, a):
        return ("weight", "bias") if a.bias else ("weight",)

    def shape(self, a, ins):
        if not ins[0]:
            raise OpError("E023", "linear needs an input with a feature dim; this one is a "
                          "scalar per sample", label="scalar input here")
        require_concrete(ins[0][-1], "linear's input size")
        return (*ins[0][:-1], a.out_features)

    def params(self, a, ins, out):
        return ins[0][-1] * a.out_features + (a.out_features if a.bias else 0)

    def macs(self, a, ins, out):
        return D.times(D.product(ins[0][:-1]), ins[0][-1] * a.out_features)

    def torch_module(self, a, ins):
        return f"nn.Linear({ins[0][-1]}, {a.out_features}{'' if a.bias else ', bias=False'})"

    def label(self, a, ins):
        return f"linear {a.out_features}"
