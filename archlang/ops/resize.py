"""``interpolate(x, like)`` and ``crop(x, like)``: an image brought to another's height and
width, by resizing it or by cutting out its centre.

Dense prediction resizes features to another tensor's size, whatever the input size: a
feature pyramid adds each coarser map, upsampled to the next finer one's size (Lin et al.,
arXiv 1612.03144, Fig. 3; torchvision's FeaturePyramidNetwork), and a segmentation head's
logits are resized to the image's size (torchvision's FCN, DeepLabV3, LR-ASPP). The size is
read from the second tensor when the module runs, so the output follows a symbolic input
size exactly: ``F.interpolate(x, size=like.shape[-2:])``.

U-Net (Ronneberger, Fischer, Brox, arXiv 1505.04597, Fig. 1) uses unpadded convolutions, so
a map of the contracting path is larger than the upsampled one it is concatenated with: it
is cropped to the centre ("copy and crop"). The checker derives the crop from the two sizes
and the generated code slices with those numbers (``skip[:, :, 4:60, 4:60]``).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.base import Attrs, NoAttrs, Op, OpError, Saved, lit


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
        _images("interpolate", ins)
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


def _images(name: str, ins) -> None:
    if len(ins) != 2:
        raise OpError("E014", f"{name} takes two inputs (x, like), got {len(ins)}",
                      label=f"write {name}(x, like)")
    for shape, what in zip(ins, ("x", "like")):
        if len(shape) != 3:
            raise OpError("E023", f"{name} needs [C, H, W] images, `{what}` is "
                          f"{D.fmt_shape(shape)}", label="not an image",
                          help=[f"{name} brings an image to another image's height and width"])


def difference(x: D.Dim, y: D.Dim) -> int | None:
    """``x - y`` when it is the same number at every input size (``None`` otherwise):
    ``floor((a*X+b)/m) - floor((a*X+c)/m)`` is ``(b - c)/m`` whenever ``m`` divides it."""
    if isinstance(x, int) and isinstance(y, int):
        return x - y
    if isinstance(x, int) or isinstance(y, int) or x.name != y.name or x.a * y.m != y.a * x.m:
        return None
    m = math.lcm(x.m, y.m)
    diff = x.b * (m // x.m) - y.b * (m // y.m)
    return diff // m if diff % m == 0 else None


class Crop(Op):
    name = "crop"
    attrs = NoAttrs
    family = "shape"
    inputs = (2, 2)
    has_module = False
    view = True
    doc = ("`crop(x, like)`: the centre of the [C, H, W] image x, of the height and width of the "
           "image `like` (U-Net's copy and crop); the margins are derived from the sizes, which "
           "must differ by a constant.")

    def shape(self, a, ins):
        _images("crop", ins)
        (c, h, w), (_, lh, lw) = ins
        for size, want, axis in ((h, lh, "height"), (w, lw, "width")):
            margin = difference(size, want)
            if margin is None:
                raise OpError("E025", f"crop of the {axis} {size} to {want}: the margin depends "
                              "on the input size", label="size is symbolic here",
                              help=[("give a concrete input size with --input, or pad the "
                                     "convolutions so that the sizes agree")])
            if margin < 0:
                raise OpError("E021", f"crop to a larger {axis}: {D.fmt_shape(ins[0])} to "
                              f"{want}", label="`like` is larger than x",
                              help=["crop the larger map to the smaller one's size"])
        return (c, lh, lw)

    def saved(self, a, ins, out, inplace):
        return Saved()  # its backward needs only sizes

    def torch_module(self, a, ins):
        raise NotImplementedError("crop is emitted as a slice")

    @staticmethod
    def margins(ins) -> list[tuple[int, int]]:
        """(top, bottom) and (left, right): the centre, the extra pixel at the end."""
        (_, h, w), (_, lh, lw) = ins
        out = []
        for size, want in ((h, lh), (w, lw)):
            margin = difference(size, want)
            out.append((margin // 2, margin - margin // 2))
        return out

    def torch_call(self, a, args, ins, inplace):
        margins = self.margins(ins)
        if all(end == 0 for _, end in margins):
            return args[0]
        axes = [":" if end == 0 else f"{start or ''}:{-end}" for start, end in margins]
        return f"{args[0]}[:, :, {', '.join(axes)}]"

    def label(self, a, ins):
        (top, _), (left, _) = self.margins(ins)
        return f"crop at {top}, {left}" if (top, left) != (0, 0) else "crop"
