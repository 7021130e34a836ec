"""Ops of modern residual blocks: ``stochastic_depth`` (drops a residual branch per sample in
training, Huang et al. 2016, arXiv:1603.09382; torchvision.ops.StochasticDepth)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from archlang.ops.base import Attrs, Extra, Op, Saved, lit, unit_windows

#: torchvision.ops.StochasticDepth, drawing its noise exactly as torchvision does (same RNG
#: calls in the same order); calls rooted at torch only (archlang/codecheck.py).
STOCHASTIC_DEPTH = '''\
class StochasticDepth(nn.Module):
    """Drops the whole input of each sample ("row") or of the batch ("batch") with
    probability p in training, scaling the rest by 1 / (1 - p) (torchvision's
    StochasticDepth)."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise = noise / survival
        return x * noise
'''


class StochasticDepthAttrs(Attrs):
    p: float
    mode: Literal["row", "batch"] = "row"

    @model_validator(mode="after")
    def _valid(self):
        if not 0 <= self.p <= 1:
            raise ValueError(f"`p` must be in [0, 1], got {self.p}")
        return self


class StochasticDepth(Op):
    name = "stochastic_depth"
    aliases = ("drop_path",)
    attrs = StochasticDepthAttrs
    positional = ("p", "mode")
    family = "reg"
    # always emitted as its module (it reads self.training); it holds no parameters
    stateful = True
    doc = ("Stochastic depth: in training, zeroes a residual branch per sample (`mode=\"row\"`) "
           "or for the whole batch with probability p, scaling the rest by 1/(1-p); the "
           "identity in eval mode (torchvision.ops.StochasticDepth).")

    def window(self, a, ins):
        return unit_windows(ins)

    def saved(self, a, ins, out, inplace):
        # `x * noise` keeps the noise: one value per sample ("row") or per batch
        return Saved(extra=(Extra(1, per_sample=a.mode == "row"),))

    def torch_module(self, a, ins):
        return f"StochasticDepth({a.p!r}, {lit(a.mode)})"

    def torch_helpers(self, a):
        return {"StochasticDepth": STOCHASTIC_DEPTH}

    def label(self, a, ins):
        return f"stochastic_depth {a.p:g}"
