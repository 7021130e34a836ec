"""Fully connected: ``linear``."""

from __future__ import annotations

from pydantic import model_validator

from archlang.ops.base import Attrs, Op, check_positive, require_concrete, require_rank


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
    optional_params = ("bias",)
    absorbs_norm = True
    doc = "Fully connected layer (torch.nn.Linear) on a flat [F] input; F is inferred."

    def init_params(self, a):
        return ("weight", "bias") if a.bias else ("weight",)

    def shape(self, a, ins):
        require_rank(ins, (1,), "linear", "add `flatten` before `linear`")
        require_concrete(ins[0][0], "linear's input size")
        return (a.out_features,)

    def params(self, a, ins, out):
        return ins[0][0] * a.out_features + (a.out_features if a.bias else 0)

    def macs(self, a, ins, out):
        return ins[0][0] * a.out_features

    def torch_module(self, a, ins):
        return f"nn.Linear({ins[0][0]}, {a.out_features}{'' if a.bias else ', bias=False'})"

    def label(self, a, ins):
        return f"linear {a.out_features}"
