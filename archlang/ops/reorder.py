"""Reordering ops: ``permute`` (per-sample dims; torchvision.ops.misc.Permute) and
``channel_shuffle`` (ShuffleNet, arXiv:1707.01083). The batch dimension is never moved."""

from __future__ import annotations

from pydantic import model_validator

from archlang.analysis import dims as D
from archlang.ops.base import Attrs, Op, OpError, Saved, require_rank, unit_windows

#: torchvision.ops.misc.Permute: a module, so that it takes its place (and its number) in an
#: nn.Sequential as in torchvision's ConvNeXt block.
PERMUTE = '''\
class Permute(nn.Module):
    """Reorders the dims of a tensor (torchvision.ops.misc.Permute)."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)
'''


class PermuteAttrs(Attrs):
    dims: tuple[int, ...]

    @model_validator(mode="after")
    def _valid(self):
        if sorted(self.dims) != list(range(len(self.dims))):
            raise ValueError(f"`dims` must order 0..{len(self.dims) - 1} once each (the batch "
                             f"is not written), got {list(self.dims)}")
        return self


class Permute(Op):
    name = "permute"
    attrs = PermuteAttrs
    positional = ("dims",)
    family = "shape"
    view = True
    doc = ("Reorders the per-sample dims (the batch stays first): permute([1, 2, 0]) turns "
           "[C, H, W] into [H, W, C] (torch.permute; torchvision's Permute module).")

    def shape(self, a, ins):
        if len(a.dims) != len(ins[0]):
            torch_style = len(a.dims) == len(ins[0]) + 1 and a.dims[0] == 0
            fix = [f"dims exclude the batch: write permute({[d - 1 for d in a.dims[1:]]})"] \
                if torch_style else []
            raise OpError("E023", f"permute({list(a.dims)}) orders {len(a.dims)} dims, the "
                          f"input has {len(ins[0])} ({D.fmt_shape(ins[0])})",
                          label=f"input is {D.fmt_shape(ins[0])}", arg="dims", help=fix)
        return tuple(ins[0][d] for d in a.dims)

    def saved(self, a, ins, out, inplace):
        return Saved()

    def _order(self, a) -> str:
        return ", ".join(str(d) for d in (0, *(d + 1 for d in a.dims)))

    def torch_module(self, a, ins):
        return f"Permute([{self._order(a)}])"

    def torch_call(self, a, args, ins, inplace):
        return f"torch.permute({args[0]}, ({self._order(a)}))"

    def torch_helpers(self, a):
        return {"Permute": PERMUTE}

    def label(self, a, ins):
        return f"permute {list(a.dims)}"


class ChannelShuffleAttrs(Attrs):
    groups: int

    @model_validator(mode="after")
    def _valid(self):
        if self.groups < 1:
            raise ValueError(f"`groups` must be positive, got {self.groups}")
        return self


class ChannelShuffle(Op):
    name = "channel_shuffle"
    attrs = ChannelShuffleAttrs
    positional = ("groups",)
    family = "shape"
    doc = ("Interleaves the channels of `groups` groups (ShuffleNet): [C, H, W] keeps its "
           "shape; C must divide by groups (torch.nn.ChannelShuffle).")

    def shape(self, a, ins):
        require_rank(ins, (3,), "channel_shuffle", "channel_shuffle works on [C, H, W] images")
        c = ins[0][0]
        if not isinstance(c, int) or c % a.groups:
            raise OpError("E024", f"groups={a.groups} does not divide the channels ({c})",
                          label="groups here", arg="groups",
                          help=["choose groups that divide the channel count"])
        return ins[0]

    def window(self, a, ins):
        return unit_windows(ins)

    def saved(self, a, ins, out, inplace):
        return Saved()

    def torch_module(self, a, ins):
        return f"nn.ChannelShuffle({a.groups})"

    def torch_call(self, a, args, ins, inplace):
        return f"F.channel_shuffle({args[0]}, {a.groups})"

    def label(self, a, ins):
        return f"channel_shuffle {a.groups}"
