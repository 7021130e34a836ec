"""The op registry: every op, by name and alias. Adding an op means adding it here."""

from __future__ import annotations

from archlang.ops.activation import ELU, GELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, \
    LogSoftmax, Mish, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Tanh
from archlang.ops.base import Op
from archlang.ops.conv import Conv2d
from archlang.ops.generative import ConvTranspose2d, Sample, Upsample
from archlang.ops.linear import Linear
from archlang.ops.norm import LRN, BatchNorm
from archlang.ops.pool import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, GlobalAvgPool, \
    MaxPool2d
from archlang.ops.shape_ops import Narrow, Reshape
from archlang.ops.structure import Add, Concat, Dropout, Flatten, Identity, Mean

OPS: dict[str, Op] = {}
ALIASES: dict[str, str] = {}

for _cls in (Conv2d, ConvTranspose2d, Upsample, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
             AdaptiveMaxPool2d, GlobalAvgPool, Linear, BatchNorm, LRN, Dropout, ReLU, LeakyReLU,
             ReLU6, Hardtanh, ELU, GELU, SiLU, Hardswish, Hardsigmoid, Mish, Sigmoid, Tanh,
             Softmax, LogSoftmax, Flatten, Reshape, Narrow, Concat, Add, Mean, Identity, Sample):
    _op = _cls()
    OPS[_op.name] = _op
    for _alias in _cls.aliases:
        ALIASES[_alias] = _op.name


def lookup(name: str) -> Op | None:
    return OPS.get(ALIASES.get(name, name))


def all_names() -> list[str]:
    return sorted([*OPS, *ALIASES])
