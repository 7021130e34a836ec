"""The ops: each one class holding its attributes, shape rule, counts, emission and label.

Nothing here imports torch: an op writes PyTorch source as text, so ``archlang check``
stays as fast with the plugin installed. The oracle's torch references import it when
they are built.
"""

from __future__ import annotations

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.base import Attrs, Op, OpError, check_positive, require_concrete, require_rank
from archlang.plugins import OracleExample


class PixelShuffleAttrs(Attrs):
    upscale_factor: int

    @model_validator(mode="after")
    def _valid(self):
        check_positive("upscale_factor", self.upscale_factor)
        return self


class PixelShuffle(Op):
    """Sub-pixel convolution's rearrangement (Shi et al. 2016, arXiv:1609.05158)."""

    name = "pixel_shuffle"
    attrs = PixelShuffleAttrs
    positional = ("upscale_factor",)
    family = "shape"
    doc = "Rearranges [C*r*r, H, W] into [C, H*r, W*r] (torch.nn.PixelShuffle)."

    def shape(self, a, ins):
        require_rank(ins, (3,), "pixel_shuffle", "pixel_shuffle works on [C, H, W] images")
        c, h, w = ins[0]
        r = a.upscale_factor
        c = require_concrete(c, "pixel_shuffle's channel count")
        if c % (r * r):
            raise OpError("E024", f"pixel_shuffle({r}) needs channels divisible by {r * r} "
                          f"(upscale_factor squared), got {c}", label=f"{c} channels here",
                          arg="upscale_factor",
                          help=[f"give the layer before it a multiple of {r * r} channels"])
        try:
            return (c // (r * r), D.mul(h, r), D.mul(w, r))
        except D.NotAffine:
            raise OpError("E025", f"pixel_shuffle of the size {D.fmt_shape(ins[0])} is not "
                          "affine in the input", label="size is symbolic here",
                          help=["give a concrete input size with --input"]) from None

    def torch_module(self, a, ins):
        return f"nn.PixelShuffle({a.upscale_factor})"

    def torch_call(self, a, args, ins, inplace):
        # a layer without a label is emitted as this call in forward, with no module
        return f"F.pixel_shuffle({args[0]}, {a.upscale_factor})"

    def label(self, a, ins):
        return f"pixel_shuffle x{a.upscale_factor}"

    def oracle_examples(self):
        def ref(r):
            def make():
                from torch import nn

                return nn.PixelShuffle(r)
            return make

        return [
            OracleExample([("x", (8, 3, 5))], "pixel_shuffle(2)", ref(2)),
            OracleExample([("x", (18, 2, 2))], "pixel_shuffle(upscale_factor=3)", ref(3)),
            # 12 channels are not a multiple of 9: archlang rejects it, and torch must too
            OracleExample([("x", (12, 4, 4))], "pixel_shuffle(3)", ref(3)),
        ]


class LayerNorm2dAttrs(Attrs):
    eps: float = 1e-5
    elementwise_affine: bool = True

    @model_validator(mode="after")
    def _valid(self):
        if not self.eps > 0:
            raise ValueError(f"`eps` must be positive, got {self.eps}")
        return self


#: Written once into a generated file that uses layer_norm2d: torchvision's LayerNorm2d
#: (torchvision/models/convnext.py), so a torchvision state_dict loads into it. Every call is
#: rooted at torch or F, so the file passes archlang's allow-list (archlang.codecheck).
LAYER_NORM_2D = '''\
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an N x C x H x W tensor (torchvision's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.permute(x, (0, 2, 3, 1))
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return torch.permute(x, (0, 3, 1, 2))
'''


class LayerNorm2d(Op):
    """Layer normalisation over the channels of each pixel (ConvNeXt, arXiv:2201.03545)."""

    name = "layer_norm2d"
    attrs = LayerNorm2dAttrs
    positional = ("eps",)
    family = "norm"
    stateful = True
    optional_params = ("weight", "bias")
    doc = "LayerNorm over the channels of [C, H, W] (torchvision's LayerNorm2d)."

    def shape(self, a, ins):
        require_rank(ins, (3,), "layer_norm2d", "layer_norm2d works on [C, H, W] images")
        require_concrete(ins[0][0], "layer_norm2d's channel count")
        return ins[0]

    def params(self, a, ins, out):
        return 2 * ins[0][0] if a.elementwise_affine else 0

    def init_params(self, a):
        return ("weight", "bias") if a.elementwise_affine else ()

    def torch_module(self, a, ins):
        extra = "" if a.eps == 1e-5 else f", eps={a.eps!r}"
        if not a.elementwise_affine:
            extra += ", elementwise_affine=False"
        return f"LayerNorm2d({ins[0][0]}{extra})"

    def torch_helpers(self, a):
        return {"LayerNorm2d": LAYER_NORM_2D}

    def label(self, a, ins):
        return "layer_norm2d"

    def oracle_examples(self):
        def ref(channels, **kw):
            def make():
                # built independently of the helper above: permute, nn.LayerNorm, permute
                from torch import nn

                norm = nn.LayerNorm(channels, **kw)

                class Reference(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.norm = norm

                    def forward(self, x):
                        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

                return Reference()
            return make

        return [
            OracleExample([("x", (6, 5, 7))], "layer_norm2d", ref(6)),
            OracleExample([("x", (4, 3, 3))], "layer_norm2d(1e-6)", ref(4, eps=1e-6)),
            OracleExample([("x", (3, 2, 2))], "layer_norm2d(elementwise_affine=false)",
                          ref(3, elementwise_affine=False)),
        ]


__all__ = ["LayerNorm2d", "PixelShuffle"]
