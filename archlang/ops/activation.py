"""Element-wise activations and softmax. Each is stateless and shape-preserving."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from archlang.ops.base import Attrs, Extra, NoAttrs, Op, OpError, Saved, lit, numel, unit_windows


class _Act(Op):
    family = "act"
    torch_class = ""
    functional = ""
    inplace_arg = False
    #: What its backward keeps: "input" (x), or "output" (the result: relu, sigmoid, tanh).
    saves = "input"
    #: In place, the input's values are gone: autograd keeps a "copy" of them taken before
    #: the op, or the "output" where the result tells the gradient (leaky_relu_).
    saves_inplace = "copy"

    def window(self, a, ins):
        return unit_windows(ins)

    def saved(self, a, ins, out, inplace):
        if self.saves == "output":
            return Saved(output=True)
        if not inplace:
            return Saved(inputs=(0,))
        if self.saves_inplace == "output":
            return Saved(output=True)
        return Saved(extra=(Extra(numel(ins[0])),))

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
    saves = "output"
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
    saves_inplace = "output"
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
    inplace_arg = True
    can_inplace = True  # EfficientNet's nn.SiLU(inplace=True)
    doc = "x * sigmoid(x) (swish). Runs in place when its input is dead afterwards."


class ReLU6(_Act):
    name = "relu6"
    torch_class = "ReLU6"
    functional = "F.relu6"
    inplace_arg = True
    can_inplace = True  # MobileNetV2's nn.ReLU6(inplace=True)
    doc = "min(max(x, 0), 6) (MobileNetV2). Runs in place when its input is dead afterwards."


class HardtanhAttrs(Attrs):
    min_val: float = -1.0
    max_val: float = 1.0

    @model_validator(mode="after")
    def _valid(self):
        if not self.max_val > self.min_val:
            raise ValueError(f"`max_val` ({self.max_val}) must be greater than `min_val` "
                             f"({self.min_val})")
        return self


class Hardtanh(_Act):
    name = "hardtanh"
    attrs = HardtanhAttrs
    positional = ("min_val", "max_val")
    torch_class = "Hardtanh"
    functional = "F.hardtanh"
    inplace_arg = True
    can_inplace = True
    doc = ("x clamped to [min_val, max_val]; relu6 is hardtanh(0, 6). Runs in place when "
           "its input is dead afterwards.")


class Hardswish(_Act):
    name = "hardswish"
    torch_class = "Hardswish"
    functional = "F.hardswish"
    inplace_arg = True
    can_inplace = True  # MobileNetV3's nn.Hardswish(inplace=True)
    doc = ("x * relu6(x + 3) / 6 (MobileNetV3). Runs in place when its input is dead "
           "afterwards.")


class Hardsigmoid(_Act):
    # Autograd allows it in place, but torchvision never writes nn.Hardsigmoid(inplace=True)
    # (MobileNetV3's squeeze-excitation gate), and in training the in-place form saves no
    # memory (autograd keeps a copy of the input for the backward): always out of place.
    name = "hardsigmoid"
    torch_class = "Hardsigmoid"
    functional = "F.hardsigmoid"
    doc = "relu6(x + 3) / 6 (MobileNetV3's squeeze-excitation gate)."


class Mish(_Act):
    name = "mish"
    torch_class = "Mish"
    functional = "F.mish"
    inplace_arg = True
    can_inplace = True
    doc = "x * tanh(softplus(x)). Runs in place when its input is dead afterwards."


class Sigmoid(_Act):
    name = "sigmoid"
    torch_class = "Sigmoid"
    functional = "torch.sigmoid"
    saves = "output"
    doc = "1 / (1 + exp(-x))."


class Tanh(_Act):
    name = "tanh"
    torch_class = "Tanh"
    functional = "torch.tanh"
    saves = "output"
    doc = "Hyperbolic tangent."


class DimAttrs(Attrs):
    dim: int = 0


def torch_dim(d: int) -> int:
    """A per-sample dim (batch excluded) as a torch dim (batch included)."""
    return d + 1 if d >= 0 else d


class _Softmax(_Act):
    attrs = DimAttrs
    positional = ("dim",)
    saves = "output"

    def window(self, a, ins):
        # over channels each pixel is its own; over a spatial dim, a unit reads that dim whole
        return unit_windows(ins) if a.dim % len(ins[0]) == 0 else None

    def shape(self, a, ins):
        rank = len(ins[0])
        if not -rank <= a.dim < rank:
            raise OpError("E016", f"dim {a.dim} is out of range for a rank-{rank} input",
                          label="dim here", arg="dim",
                          help=[f"use a dim in [{-rank}, {rank - 1}]; dims exclude the batch"])
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


__all__ = [
    "ELU",
    "GELU",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LeakyReLU",
    "LogSoftmax",
    "Mish",
    "NoAttrs",
    "ReLU",
    "ReLU6",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
