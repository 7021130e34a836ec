"""Res2Net (specs/res2net.arch) against a Res2Net written in plain torch the way timm builds
it (timm/models/res2net.py: Bottle2neck on timm's ResNet; timm is not a dependency).

timm keeps each block's 3x3 convs and BNs in two nn.ModuleLists, `convs` and `bns`, that its
forward applies in turn; the spec names each item where it is applied (`convs.0`, `bns.0`,
`convs.1`, ...), so the generated module holds the same two lists and timm's state_dict loads
into it with strict=True. Then both compute the same outputs in eval and training mode, the
same gradients and the same BatchNorm statistics, bit for bit.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import archlang

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "res2net.arch"
#: (layers, base_width, scale) of timm's builders
VARIANTS = {"res2net50_26w_4s": ([3, 4, 6, 3], 26, 4), "res2net50_48w_2s": ([3, 4, 6, 3], 48, 2),
            "res2net50_26w_6s": ([3, 4, 6, 3], 26, 6), "res2net50_26w_8s": ([3, 4, 6, 3], 26, 8),
            "res2net50_14w_8s": ([3, 4, 6, 3], 14, 8),
            "res2net101_26w_4s": ([3, 4, 23, 3], 26, 4)}
#: parameters at 1000 classes, those of the reference below (timm's model cards round them:
#: 25.70M, 25.29M, 37.05M, 48.40M, 25.06M, 45.21M), and MACs at 224 x 224
COUNTS = {"res2net50_26w_4s": (25_699_120, 4_255_166_464),
          "res2net50_48w_2s": (25_287_304, 4_159_832_064),
          "res2net50_26w_6s": (37_051_448, 6_295_523_328),
          "res2net50_26w_8s": (48_403_776, 8_335_880_192),
          "res2net50_14w_8s": (25_059_816, 4_178_898_944),
          "res2net101_26w_4s": (45_206_688, 8_066_974_464)}


@pytest.mark.parametrize("name", list(COUNTS))
def test_static_counts(name):
    r = archlang.check(SPEC, name)
    assert (r.params, r.macs, r.outputs) == (*COUNTS[name], {"logits": (1000,)})


def test_counts_are_the_references():
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        for name, args in VARIANTS.items():
            assert sum(p.numel() for p in reference(*args).parameters()) == COUNTS[name][0]


def test_lists_keep_timms_names():
    """Each block's two lists are registered as nn.ModuleList, in timm's order."""
    source = archlang.compile_source(str(SPEC), "res2net50_26w_4s")
    assert "self.convs = nn.ModuleList(" in source and "self.bns = nn.ModuleList(" in source
    assert "sp = self.convs[0](sp)" in source and "self.bns[2](" in source


def reference(layers, base_width, scale, num_classes=1000):
    """Res2Net as timm writes it: ResNet's stem, stages of Bottle2neck, average pool, fc."""
    from torch import nn

    class Bottle2neck(nn.Module):
        def __init__(self, inplanes, planes, stride, downsample):
            super().__init__()
            width = int(math.floor(planes * (base_width / 64.0)))  # noqa: RUF046 - timm's line
            self.width = width
            self.is_first = stride > 1 or downsample is not None
            self.conv1 = nn.Conv2d(inplanes, width * scale, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width * scale)
            self.convs = nn.ModuleList(
                nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
                for _ in range(scale - 1))
            self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(scale - 1))
            self.pool = nn.AvgPool2d(3, stride=stride, padding=1) if self.is_first else None
            self.conv3 = nn.Conv2d(width * scale, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            import torch

            out = self.relu(self.bn1(self.conv1(x)))
            parts = torch.split(out, self.width, 1)
            outs, sp = [], parts[0]
            for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
                sp = parts[i] if i == 0 or self.is_first else sp + parts[i]
                sp = self.relu(bn(conv(sp)))
                outs.append(sp)
            outs.append(self.pool(parts[-1]) if self.pool is not None else parts[-1])
            out = self.bn3(self.conv3(torch.cat(outs, 1)))
            out += x if self.downsample is None else self.downsample(x)
            return self.relu(out)

    class Res2Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.act1 = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            inplanes = 64
            for k, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
                stage = []
                for i in range(blocks):
                    stride = 2 if k > 0 and i == 0 else 1
                    down = None
                    if stride != 1 or inplanes != planes * 4:
                        down = nn.Sequential(
                            nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                            nn.BatchNorm2d(planes * 4))
                    stage.append(Bottle2neck(inplanes, planes, stride, down))
                    inplanes = planes * 4
                self.add_module(f"layer{k + 1}", nn.Sequential(*stage))
            self.global_pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, num_classes)

        def forward(self, x):
            x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.global_pool(x).flatten(1))

    return Res2Net()


def twins(name: str, num_classes: int = 1000):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = reference(*VARIANTS[name], num_classes=num_classes)
    with torch.no_grad():  # BN statistics and affine that are not the identity
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for t in (m.weight, m.bias, m.running_mean):
                    t.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    ours = archlang.load(str(SPEC), name, num_classes=num_classes)
    assert list(ours.state_dict()) == list(theirs.state_dict())  # timm's keys, in its order
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return torch, ours, theirs


@pytest.mark.parametrize("name", list(VARIANTS))
def test_twin(name):
    """Strict load, then equal outputs (eval and train), gradients and BN statistics."""
    torch, ours, theirs = twins(name, num_classes=10)
    static = archlang.check(SPEC, name, num_classes=10)
    assert sum(p.numel() for p in ours.parameters()) == static.params \
        == sum(p.numel() for p in theirs.parameters())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours.eval()(x), theirs.eval()(x))
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = ours.train()(xa), theirs.train()(xb)
    assert torch.equal(a, b)
    a.square().sum().backward()
    b.square().sum().backward()
    assert torch.equal(xa.grad, xb.grad)
    grads = dict(theirs.named_parameters())
    for key, p in ours.named_parameters():
        assert torch.equal(p.grad, grads[key].grad), key
    state = theirs.state_dict()
    for key, t in ours.state_dict().items():  # the running statistics trained alike
        assert torch.equal(t, state[key]), key


def test_torch_compile_fullgraph():
    torch, ours, _ = twins("res2net50_26w_4s", num_classes=10)
    ours.eval()
    torch._dynamo.reset()
    compiled = torch.compile(ours, fullgraph=True, backend="aot_eager")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), ours(x))
