"""``interpolate(x, like)``: an image resized to the height and width of another.

Dense prediction resizes features to another tensor's size, whatever the input size: a
feature pyramid adds each coarser map, upsampled to the next finer one's size (Lin et al.,
arXiv 1612.03144, Fig. 3; torchvision's FeaturePyramidNetwork), and a segmentation head's
logits are resized to the image's size (torchvision's FCN, DeepLabV3, LR-ASPP). The size is
read from the second tensor when the module runs, so the output follows a symbolic input
size exactly: ``F.interpolate(x, size=like.shape[-2:])``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.base import Attrs, Op, OpError, Saved, lit


class InterpolateAttrs(Attrs):
    mode: Literal["nearest", "bilinear"] = "nearest"
    align_corners: bool | None = None

    @model_validator(mode="after")
    def _valid(self):
        if self.align_corners is not None and self.mode != "bilinear":
            raise ValueError("`align_corners` applies only to mode=\"bilinear\" (PyTorch "
                             "rejects it, even false, with \"nearest\")")
        return self


class Interpolate(Op):
    name = "interpolate"
    attrs = InterpolateAttrs
    family = "pool"
    inputs = (2, 2)
    has_module = False
    inplace_safe_producer = True
    doc = ("`interpolate(x, like)`: the [C, H, W] image x resized to the height and width of "
           "the image `like` (F.interpolate with like's size); mode \"nearest\" or "
           "\"bilinear\".")

    def shape(self, a, ins):
        if len(ins) != 2:
            raise OpError("E014", f"interpolate takes two inputs (x, like), got {len(ins)}",
                          label="write interpolate(x, like)")
        for shape, what in zip(ins, ("x", "like")):
            if len(shape) != 3:
                raise OpError("E023", f"interpolate needs [C, H, W] images, `{what}` is "
                              f"{D.fmt_shape(shape)}", label="not an image",
                              help=["interpolate resizes an image to another image's height "
                                    "and width"])
        (c, _, _), (_, h, w) = ins
        return (c, h, w)

    def saved(self, a, ins, out, inplace):
        return Saved()  # its backward needs only sizes

    def torch_module(self, a, ins):
        raise NotImplementedError("interpolate is emitted as F.interpolate")

    def _kw(self, a) -> str:
        parts = [] if a.mode == "nearest" else [f"mode={lit(a.mode)}"]
        if a.align_corners is not None:
            parts.append(f"align_corners={a.align_corners!r}")
        return "".join(f", {p}" for p in parts)

    def torch_call(self, a, args, ins, inplace):
        x, like = args
        return f"F.interpolate({x}, size={like}.shape[-2:]{self._kw(a)})"

    def label(self, a, ins):
        return "interpolate" + (", bilinear" if a.mode == "bilinear" else "")
