"""A learnable tensor: ``parameter([dims], fill=...)``, an ``nn.Parameter`` the module holds.

ConvNeXt's layer scale (Liu et al., "A ConvNet for the 2020s", arXiv 2201.03545, section
2.6, after CaiT's LayerScale, arXiv 2103.17239) multiplies each channel of a block's branch
by a learned factor: torchvision holds it as ``self.layer_scale = nn.Parameter(torch.ones(dim,
1, 1) * layer_scale)``, so its ``state_dict`` key is the layer's own name, without
``.weight``. A spec declares it as a layer of its own and reads it by its label:

    layer_scale: parameter([dim, 1, 1], fill=1e-6)
    mul(layer_scale, branch)

The tensor has no batch dimension: its shape is written exactly as torch holds it, and it
broadcasts against a batch of ``[dim, H, W]`` samples as torch broadcasts it. It is
therefore read only by the element-wise merges that broadcast (``mul``, ``add``), never
by a layer that treats the first dimension as the batch (graph/verify.py says so, E030).
"""

from __future__ import annotations

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.base import Attrs, Op, Saved, lit


class ParameterAttrs(Attrs):
    shape: int | tuple[int, ...]
    fill: float = 0.0

    @model_validator(mode="after")
    def _valid(self):
        dims = self.dims()
        if not dims:
            raise ValueError("`shape` needs at least one dim")
        for d in dims:
            if d < 1:
                raise ValueError(f"`shape` dims must be positive, got {d}")
        return self

    def dims(self) -> tuple[int, ...]:
        return (self.shape,) if isinstance(self.shape, int) else self.shape


class Parameter(Op):
    name = "parameter"
    attrs = ParameterAttrs
    positional = ("shape",)
    family = "tensor"
    inputs = (0, 0)
    stateful = True
    held = True
    doc = ("A learnable tensor of the given shape (no batch dimension), every element "
           "`fill` at first: an nn.Parameter named by its label, read by `mul` or `add` "
           "(ConvNeXt's layer scale: `layer_scale: parameter([dim, 1, 1], fill=1e-6)`, then "
           "`mul(layer_scale, branch)`).")

    def shape(self, a, ins):
        return a.dims()

    def params(self, a, ins, out):
        return D.product(a.dims())

    def saved(self, a, ins, out, inplace):
        return Saved()  # a parameter, kept by the module, not an activation

    def window(self, a, ins):
        return ()

    def torch_module(self, a, ins):
        size = lit(a.dims())
        if a.fill == 0.0:
            return f"nn.Parameter(torch.zeros({size}))"
        if a.fill == 1.0:
            return f"nn.Parameter(torch.ones({size}))"
        return f"nn.Parameter(torch.full({size}, {a.fill!r}))"

    def label(self, a, ins):
        return "parameter " + "x".join(str(d) for d in a.dims())
