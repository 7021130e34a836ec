"""Element-wise activations and softmax. Each is stateless and shape-preserving."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from archlang.ops.base import Attrs, NoAttrs, Op, OpError, lit


class _Act(Op):
    family = "act"
    torch_class = ""
    functional = ""
    inplace_arg = False

    def _kw(self, a) -> str:
        return ", ".join(f"{k}={lit(v)}" for k, v in a.model_dump().items()
                         if v != type(a).model_fields[k].default)

    def torch_module(self, a, ins):
        kw = self._kw(a)
        if self.inplace_arg and self.can_inplace:
            kw = ", ".join(x for x in (kw, "inplace=True") if x)
        return f"nn.{self.torch_class}({kw})"

    def torch_call(self, a, args, ins, inplace):
        kw = self._kw(a)
        parts = [args[0], kw] + (["inplace=True"] if inplace and self.inplace_arg else [])
        return f"{self.functional}({', '.join(p for p in parts if p)})"


class ReLU(_Act):
    name = "relu"
    torch_class = "ReLU"
    functional = "F.relu"
    inplace_arg = True
    can_inplace = True
    doc = "max(x, 0). Runs in place when its input is dead afterwards."


class LeakyAttrs(Attrs):
    negative_slope: float = 0.01


class LeakyReLU(_Act):
    name = "leaky_relu"
    attrs = LeakyAttrs
    positional = ("negative_slope",)
    torch_class = "LeakyReLU"
    functional = "F.leaky_relu"
    inplace_arg = True
    can_inplace = True
    doc = "x if x > 0 else negative_slope * x."

    def inplace_allowed(self, a):
        # autograd refuses an in-place leaky_relu with a negative slope in backward (its
        # output no longer tells the sign of the input)
        return a.negative_slope >= 0


class EluAttrs(Attrs):
    alpha: float = 1.0


class ELU(_Act):
    name = "elu"
    attrs = EluAttrs
    positional = ("alpha",)
    torch_class = "ELU"
    functional = "F.elu"
    doc = "Exponential linear unit."


class GeluAttrs(Attrs):
    approximate: Literal["none", "tanh"] = "none"


class GELU(_Act):
    name = "gelu"
    attrs = GeluAttrs
    positional = ("approximate",)
    torch_class = "GELU"
    functional = "F.gelu"
    doc = "Gaussian error linear unit."


class SiLU(_Act):
    name = "silu"
    aliases = ("swish",)
    torch_class = "SiLU"
    functional = "F.silu"
    doc = "x * sigmoid(x)."


class Sigmoid(_Act):
    name = "sigmoid"
    torch_class = "Sigmoid"
    functional = "torch.sigmoid"
    doc = "1 / (1 + exp(-x))."


class Tanh(_Act):
    name = "tanh"
    torch_class = "Tanh"
    functional = "torch.tanh"
    doc = "Hyperbolic tangent."


class DimAttrs(Attrs):
    dim: int = 0


def torch_dim(d: int) -> int:
    """A per-sample dim (batch excluded) as a torch dim (batch included)."""
    return d + 1 if d >= 0 else d


class _Softmax(_Act):
    attrs = DimAttrs
    positional = ("dim",)

    def shape(self, a, ins):
        rank = len(ins[0])
        if not -rank <= a.dim < rank:
            raise OpError("E016", f"dim {a.dim} is out of range for a rank-{rank} input",
                          "dim here", arg="dim", help=[f"use a dim in [{-rank}, {rank - 1}]; "
                                                       "dims exclude the batch"])
        return ins[0]

    def torch_module(self, a, ins):
        return f"nn.{self.torch_class}(dim={torch_dim(a.dim)})"

    def torch_call(self, a, args, ins, inplace):
        return f"{self.functional}({args[0]}, dim={torch_dim(a.dim)})"


class Softmax(_Softmax):
    name = "softmax"
    torch_class = "Softmax"
    functional = "F.softmax"
    doc = "Softmax over `dim` (default 0: channels/features; the batch is not counted)."


class LogSoftmax(_Softmax):
    name = "log_softmax"
    torch_class = "LogSoftmax"
    functional = "F.log_softmax"
    doc = "Log-softmax over `dim` (default 0)."


__all__ = ["ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax", "NoAttrs", "model_validator"]
