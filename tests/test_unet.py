"""U-Net (specs/unet.arch) as the paper draws it (Ronneberger, Fischer, Brox, arXiv
1505.04597, Fig. 1), and the same network written by hand in torch.

The static checks need no torch: Fig. 1's sizes at its 572 x 572 tile, the crops the
checker derives for the skip connections, the smallest input of the unpadded U-Net (at a
symbolic size) and the padded variant's input constraint. Then a
U-Net written directly in torch, with the spec's layer names, loads into archlang's module
(strict) and computes the same outputs and gradients, for both variants; a narrow one
(`base=8`), so that the test takes a second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archlang

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "unet.arch"


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is faster than a pool that waits on a busy machine."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shapes(result, names) -> dict:
    return {name: result.shape(name) for name in names}


def test_the_papers_figure():
    r = archlang.check(SPEC, "unet", inputs=(1, 572, 572))
    assert r.outputs == {"logits": (2, 388, 388)}
    assert r.params == 31_030_658
    # the contracting path: 572 -> 570 -> 568, pooled 284 -> 282 -> 280, ... 32 -> 30 -> 28
    assert shapes(r, ["down1.0", "down1", "down2", "down3", "down4", "bottom.0", "bottom"]) == {
        "down1.0": (64, 570, 570), "down1": (64, 568, 568), "down2": (128, 280, 280),
        "down3": (256, 136, 136), "down4": (512, 64, 64), "bottom.0": (1024, 30, 30),
        "bottom": (1024, 28, 28)}
    # the expansive path: up-conv to 56, copy and crop 64 -> 56, 54 -> 52; ... 392 -> 388
    assert shapes(r, ["up4.up", "up4.1", "up4", "up3", "up2.up", "up2", "up1"]) == {
        "up4.up": (512, 56, 56), "up4.1": (512, 56, 56), "up4": (512, 52, 52),
        "up3": (256, 100, 100), "up2.up": (128, 200, 200), "up2": (128, 196, 196),
        "up1": (64, 388, 388)}


def test_the_crops_are_derived():
    """Each skip is cropped at its centre by half the difference of the sizes, the same at
    every input size: 4, 16, 40 and 88 pixels, written as slices in the generated code."""
    for inputs in (None, (1, 572, 572)):
        g = archlang.check(SPEC, "unet", inputs=inputs).graph
        crops = [n for n in g.nodes if n.op == "crop"]
        labels = [n.impl.label(n.attrs, [g.nodes[i].shape for i in n.inputs]) for n in crops]
        assert labels == ["crop at 4, 4", "crop at 16, 16", "crop at 40, 40", "crop at 88, 88"]
    source = archlang.compile_source(SPEC, "unet")
    assert "skip[:, :, 88:-88, 88:-88]" in source and "skip[:, :, 4:-4, 4:-4]" in source


def test_smallest_input_of_the_unpadded_unet():
    """Every crop must meet sizes a constant apart, so each 2x2 pool must see an even size
    (the paper's tiling condition): H % 16 == 12, from 188 (4 x 4 out); 572 is one."""
    r = archlang.check(SPEC, "unet")
    assert str(r.outputs["logits"]) == "(2, H-184, W-184)"
    assert r.totals.constraints == {"H": "H >= 185 and H % 16 == 12",
                                    "W": "W >= 185 and W % 16 == 12"}
    assert r.totals.smallest_input == {"H": 188, "W": 188}
    assert archlang.check(SPEC, "unet", H=188, W=188).outputs["logits"] == (2, 4, 4)
    with pytest.raises(archlang.ArchError):
        archlang.check(SPEC, "unet", H=187, W=188)
    # A size off the tiling runs too, with other margins (a pool drops a row): a concrete
    # size is checked as it is, a symbolic one under the tiling condition, which a module
    # built for the symbolic spec then needs.
    r = archlang.check(SPEC, "unet", H=190, W=188)
    labels = [n.impl.label(n.attrs, [r.graph.nodes[i].shape for i in n.inputs])
              for n in r.graph.nodes if n.op == "crop"]
    assert labels == ["crop at 4, 4", "crop at 16, 16", "crop at 40, 40", "crop at 89, 88"]
    assert r.outputs["logits"] == (2, 4, 4)


def test_padded_variant_derives_its_input_constraint():
    """With padded convolutions the output keeps the input's size, which the four pools must
    divide for the skips to meet the upsampled maps: the checker derives it."""
    r = archlang.check(SPEC, "unet_padded")
    assert str(r.outputs["logits"]) == "(2, H, W)"
    assert r.totals.constraints == {"H": "H >= 16 and H divisible by 16",
                                    "W": "W >= 16 and W divisible by 16"}
    assert r.params == 31_030_658
    # 72 is not: 72 / 8 = 9 beside 2 * (72 // 16) = 8 at the last concat
    with pytest.raises(archlang.ArchError) as err:
        archlang.check(SPEC, "unet_padded", inputs=(1, 72, 64))
    assert err.value.codes == ["E021"] and "concat inputs differ in height: 9 vs 8" in \
        str(err.value)


def hand_written_unet(base: int, padding: int, num_classes: int = 2):
    """U-Net written directly in torch, with the spec's layer names."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def double_conv(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=padding), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, padding=padding), nn.ReLU())

    class Up(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
            self.conv = double_conv(2 * cout, cout)

        def forward(self, x, skip):
            up = self.up(x)
            top = (skip.shape[-2] - up.shape[-2]) // 2
            left = (skip.shape[-1] - up.shape[-1]) // 2
            skip = skip[..., top:top + up.shape[-2], left:left + up.shape[-1]]
            return self.conv(torch.cat([skip, up], dim=1))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = [base * 2**k for k in range(5)]
            self.down1, self.down2 = double_conv(1, w[0]), double_conv(w[0], w[1])
            self.down3, self.down4 = double_conv(w[1], w[2]), double_conv(w[2], w[3])
            self.bottom = double_conv(w[3], w[4])
            self.up4, self.up3 = Up(w[4], w[3]), Up(w[3], w[2])
            self.up2, self.up1 = Up(w[2], w[1]), Up(w[1], w[0])
            self.head = nn.Conv2d(w[0], num_classes, 1)

        def forward(self, x):
            d1 = self.down1(x)
            d2 = self.down2(F.max_pool2d(d1, 2))
            d3 = self.down3(F.max_pool2d(d2, 2))
            d4 = self.down4(F.max_pool2d(d3, 2))
            bottom = self.bottom(F.max_pool2d(d4, 2))
            return self.head(self.up1(self.up2(self.up3(self.up4(bottom, d4), d3), d2), d1))

    return UNet()


@pytest.mark.parametrize("network, size", [("unet", 188), ("unet_padded", 48)])
def test_equals_a_hand_written_torch_unet(network, size):
    """The unpadded U-Net at its smallest input, 188 x 188 (4 x 4 out); the padded one at
    48 x 80."""
    torch = pytest.importorskip("torch")
    padding = 0 if network == "unet" else 1
    width = size if network == "unet" else 80
    torch.manual_seed(0)
    theirs = hand_written_unet(base=8, padding=padding)
    ours = archlang.load(SPEC, network, base=8)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    static = archlang.check(SPEC, network, H=size, W=width, base=8)
    assert sum(p.numel() for p in ours.parameters()) == static.params
    x = torch.randn(2, 1, size, width)
    a, b = ours(x), theirs(x)
    assert tuple(a.shape) == (2, *static.outputs["logits"])
    torch.testing.assert_close(a, b)
    weight = torch.randn_like(a)
    (a * weight).sum().backward()
    (b * weight).sum().backward()
    mine = dict(ours.named_parameters())
    for key, value in theirs.named_parameters():
        torch.testing.assert_close(mine[key].grad, value.grad, msg=key)
