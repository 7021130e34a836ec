"""``frozen_batchnorm``: batch normalisation whose statistics and affine are fixed.

Detection backbones are trained from ImageNet weights with batches too small for batch
statistics, so torchvision freezes their norms (torchvision.ops.FrozenBatchNorm2d, the default
``norm_layer`` of ``resnet_fpn_backbone``): weight, bias, running mean and running variance are
buffers, never updated, and training computes what eval computes. The generated module
defines the same class, computing the same expression in the same order, so a torchvision
backbone's state_dict loads and its outputs agree exactly.
"""

from __future__ import annotations

from pydantic import model_validator

from archlang.ops.base import Attrs, Extra, Op, Saved, require_concrete, require_rank, unit_windows

HELPER = '''
class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine (torchvision.ops.FrozenBatchNorm2d)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.reshape(1, -1, 1, 1)
        b = self.bias.reshape(1, -1, 1, 1)
        rv = self.running_var.reshape(1, -1, 1, 1)
        rm = self.running_mean.reshape(1, -1, 1, 1)
        scale = w * (rv + self.eps).rsqrt()
        bias = b - rm * scale
        return x * scale + bias
'''


class FrozenBatchNormAttrs(Attrs):
    eps: float = 1e-5

    @model_validator(mode="after")
    def _valid(self):
        if not self.eps > 0:
            raise ValueError(f"`eps` must be positive, got {self.eps}")
        return self


class FrozenBatchNorm(Op):
    name = "frozen_batchnorm"
    attrs = FrozenBatchNormAttrs
    positional = ("eps",)
    family = "norm"
    stateful = True
    inplace_safe_producer = True
    doc = ("Batch normalisation with fixed statistics and affine on [C, H, W] "
           "(torchvision.ops.FrozenBatchNorm2d, in detection backbones): weight, bias, running "
           "mean and variance are buffers; training computes what eval does.")

    def shape(self, a, ins):
        require_rank(ins, (3,), "frozen_batchnorm", "frozen_batchnorm works on [C, H, W] images")
        require_concrete(ins[0][0], "frozen_batchnorm's channel count")
        return ins[0]

    def window(self, a, ins):
        return unit_windows(ins)

    def saved(self, a, ins, out, inplace):
        # x * scale + bias: the product keeps the per-channel scale for x's gradient
        return Saved(extra=(Extra(ins[0][0], "stats", per_sample=False),))

    def buffers(self, a, ins, out):
        return 4 * ins[0][0]

    def torch_module(self, a, ins):
        eps = f", eps={a.eps!r}" if a.eps != 1e-5 else ""
        return f"FrozenBatchNorm2d({ins[0][0]}{eps})"

    def torch_helpers(self, a):
        return {"FrozenBatchNorm2d": HELPER}

    def label(self, a, ins):
        return "frozen batchnorm"
