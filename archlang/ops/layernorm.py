"""Layer normalisation: ``layernorm`` over trailing dims (``torch.nn.LayerNorm``) and the
channels-first ``layernorm2d`` of ConvNeXt (torchvision's ``LayerNorm2d``)."""

from __future__ import annotations

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.base import Attrs, Extra, Op, OpError, Saved, require_rank, unit_windows


class LayerNormAttrs(Attrs):
    dims: int = 1
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    @model_validator(mode="after")
    def _valid(self):
        if self.dims < 1:
            raise ValueError(f"`dims` must be positive, got {self.dims}")
        if not self.eps > 0:
            raise ValueError(f"`eps` must be positive, got {self.eps}")
        return self


def _options(a, default_eps: float) -> str:
    out = ""
    if a.eps != default_eps:
        out += f", eps={a.eps!r}"
    if not a.elementwise_affine:
        out += ", elementwise_affine=False"
    if not a.bias:
        out += ", bias=False"
    return out


class LayerNorm(Op):
    name = "layernorm"
    aliases = ("layer_norm",)
    attrs = LayerNormAttrs
    positional = ("dims",)
    family = "norm"
    stateful = True
    inplace_safe_producer = True
    # no torch_classes: LayerNorm2d is an nn.LayerNorm too, so an `init layernorm...` loop
    # over nn.LayerNorm would reach layernorm2d layers; its rules are written layer by layer
    optional_params = ("weight", "bias")
    doc = ("Layer normalisation over the last `dims` dims (torch.nn.LayerNorm with "
           "normalized_shape = those sizes), e.g. the features of [L, F] tokens.")

    def shape(self, a, ins):
        rank = len(ins[0])
        if rank < a.dims:
            raise OpError("E023", f"layernorm over {a.dims} dims needs an input of rank "
                          f"{a.dims} or more, got {D.fmt_shape(ins[0])}",
                          label=f"input is {D.fmt_shape(ins[0])}", arg="dims")
        for d in ins[0][rank - a.dims:]:
            if not isinstance(d, int):
                raise OpError("E025", f"layernorm's normalised sizes depend on the input size "
                              f"({D.fmt_shape(ins[0][rank - a.dims:])})",
                              label="size is symbolic here",
                              help=["normalise fewer dims, or give a concrete input with --input"])
        return ins[0]

    def _elements(self, a, ins) -> int:
        return D.product(ins[0][len(ins[0]) - a.dims:])

    def window(self, a, ins):
        # it mixes the normalised dims, and the last one is spatial when there is one
        return unit_windows(ins) if len(ins[0]) < 2 else None

    def saved(self, a, ins, out, inplace):
        # its input, and a mean and an inverse std per normalised group
        groups = D.product(ins[0][:len(ins[0]) - a.dims])
        return Saved(inputs=(0,), extra=(Extra(D.times(groups, 2), "stats"),))

    def params(self, a, ins, out):
        if not a.elementwise_affine:
            return 0
        return self._elements(a, ins) * (2 if a.bias else 1)

    def init_params(self, a):
        if not a.elementwise_affine:
            return ()
        return ("weight", "bias") if a.bias else ("weight",)

    def torch_module(self, a, ins):
        sizes = ins[0][len(ins[0]) - a.dims:]
        shape = str(sizes[0]) if a.dims == 1 else "[" + ", ".join(map(str, sizes)) + "]"
        return f"nn.LayerNorm({shape}{_options(a, 1e-5)})"

    def label(self, a, ins):
        return "layernorm" if a.dims == 1 else f"layernorm, last {a.dims} dims"


class LayerNorm2dAttrs(Attrs):
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    @model_validator(mode="after")
    def _valid(self):
        if not self.eps > 0:
            raise ValueError(f"`eps` must be positive, got {self.eps}")
        return self


#: torchvision's LayerNorm2d (torchvision/models/convnext.py), so its state_dict loads. Every
#: call is rooted at torch or F (the generated-code allow-list, archlang/codecheck.py).
LAYER_NORM_2D = '''\
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an N x C x H x W tensor (torchvision's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.permute(x, (0, 2, 3, 1))
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return torch.permute(x, (0, 3, 1, 2))
'''


class LayerNorm2d(Op):
    name = "layernorm2d"
    attrs = LayerNorm2dAttrs
    family = "norm"
    stateful = True
    inplace_safe_producer = True
    torch_classes = ("LayerNorm2d",)
    optional_params = ("weight", "bias")
    doc = ("Layer normalisation over the channels of each pixel of [C, H, W] "
           "(torchvision's LayerNorm2d, ConvNeXt's norm; arXiv:2201.03545).")

    def shape(self, a, ins):
        require_rank(ins, (3,), "layernorm2d", "layernorm2d works on [C, H, W] images")
        if not isinstance(ins[0][0], int):
            raise OpError("E025", "layernorm2d needs a concrete channel count",
                          label="channels are symbolic")
        return ins[0]

    def params(self, a, ins, out):
        if not a.elementwise_affine:
            return 0
        return ins[0][0] * (2 if a.bias else 1)

    def window(self, a, ins):
        return unit_windows(ins)  # across channels only

    def saved(self, a, ins, out, inplace):
        # its (permuted) input, and a mean and an inverse std per pixel
        return Saved(inputs=(0,), extra=(Extra(D.times(D.product(ins[0][1:]), 2), "stats"),))

    def init_params(self, a):
        if not a.elementwise_affine:
            return ()
        return ("weight", "bias") if a.bias else ("weight",)

    def torch_module(self, a, ins):
        return f"LayerNorm2d({ins[0][0]}{_options(a, 1e-5)})"

    def torch_helpers(self, a):
        return {"LayerNorm2d": LAYER_NORM_2D}

    def label(self, a, ins):
        return "layernorm2d"
