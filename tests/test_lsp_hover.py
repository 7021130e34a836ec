"""Hover on names that are not calls: a layer's label, a residual's shortcut, a value."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("lsprotocol")
from archlang.lsp import analyse, hover

ROOT = Path(__file__).resolve().parent.parent


def hovered(path: str, before: str, network: str | None = None) -> str | None:
    """The hover at the first character of ``before`` in ``path``."""
    text = (ROOT / path).read_text()
    a = analyse(text, ROOT / path)
    assert not [d for d in a.diagnostics if d.severity == "error"]
    return hover(a, text.index(before) + 1)


def test_a_label_inside_a_residual_is_its_layer_not_the_residual_sum():
    # BasicBlock's `conv1:` sits inside `residual { }`, whose sum spans the whole body
    text = hovered("specs/resnet.arch", "conv1: conv2d(planes, 3")
    assert text.startswith("**conv2d**")
    assert "| `layer1.0.conv1` | 64 x 56 x 56 | 36,864 |" in text
    assert hovered("specs/resnet.arch", "bn1: batchnorm").startswith("**batchnorm**")
    # a label outside any call: the layer, not nothing
    assert hovered("specs/resnet.arch", "fc: linear").startswith("**linear**")


def test_a_list_item_label_lists_every_item():
    text = hovered("specs/res2net.arch", "convs.{i}: conv2d")
    assert text.startswith("**conv2d**")
    rows = [line for line in text.splitlines() if line.startswith("| `layer1.0.convs.")]
    assert [r.split("`")[1] for r in rows] == [
        "layer1.0.convs.0", "layer1.0.convs.1", "layer1.0.convs.2"]


def test_a_shortcut_name_shows_its_projection():
    text = hovered("specs/resnet.arch", "downsample if")
    assert text.startswith("**downsample** (shortcut")
    assert "| `layer2.0.downsample.0` | 128 x 28 x 28 | 8,192 | 6,422,528 |" in text
    assert "| `layer2.0.downsample.1` | 128 x 28 x 28 | 256 | 0 |" in text
    assert "layer1.0.downsample" not in text  # resnet18's first stage keeps the identity


def test_a_value_inside_a_residual_is_the_value():
    text = hovered("specs/res2net.arch", "spx = relu")
    assert text.startswith("`spx`: 104 x 56 x 56 | 208 x 56 x 56 | 208 x 28 x 28 | ")
    assert text.count(" | ") == 6  # seven distinct shapes over the four stages
    groups = hovered("specs/res2net.arch", "groups = groups + [sp]")
    assert groups.startswith("`groups`: list of 0: [] | list of 1: [26 x 56 x 56] | ")


def test_a_group_label_is_the_group_and_a_shortcut_block_is_listed(tmp_path):
    spec = tmp_path / "groups.arch"
    spec.write_text("""block ConvBN(out, stride=1) {
    conv: conv2d(out, 1, stride=stride, bias=false)
    bn: batchnorm
}
block Basic(planes, stride=1) {
    residual {
        conv1: conv2d(planes, 3, stride=stride, padding=1, bias=false)
    } shortcut downsample if stride != 1 or in.channels != planes {
        ConvBN(planes, stride=stride)
    }
    relu
}
network res {
    input x: [64, 56, 56]
    layer1: [Basic(64), Basic(128, stride=2)]
    features: {
        for width in [64, 128] {
            conv2d(width, 3, padding=1)
        }
    }
    output y
}
""")
    text = spec.read_text()
    a = analyse(text, spec)
    group = hover(a, text.index("layer1:") + 1)
    assert group.startswith("**layer1** (group)")
    assert "| `layer1` | 128 x 28 x 28 | " in group
    assert hover(a, text.index("features:") + 1).startswith("**features** (group)")
    shortcut = hover(a, text.index("downsample") + 1)
    assert "| `layer1.1.downsample.0` | 128 x 28 x 28 | 8,448 |" in shortcut


def test_a_long_list_shows_its_first_items():
    text = """network n {
    input x: [4, 8, 8]
    many = []
    for i in range(40) {
        y = x -> conv2d(4, 1)
        many = many + [y]
    }
    output z = concat(many)
}"""
    a = analyse(text)
    shown = hover(a, text.index("many = []") + 1)
    # the first bindings and the last, its first items only
    assert shown.startswith("`many`: list of 0: [] | list of 1: [4 x 8 x 8] | ")
    last = shown.split(" | ")[-1]
    assert last.startswith("list of 40: [4 x 8 x 8, ") and last.endswith(", …]")
    assert last.count("4 x 8 x 8") == 12


def test_a_network_with_errors_hovers_without_its_totals():
    """A partial graph (a symbolic network whose check failed part-way) has no totals to
    show; the hover shows the signature (it raised KeyError)."""
    text = (ROOT / "examples/fpn.arch").read_text().replace(" c2 = maps[0]\n    output", "", 1)
    a = analyse(text, ROOT / "examples/fpn.arch")
    assert any(d.severity == "error" for d in a.diagnostics)
    shown = hover(a, text.index("network fpn") + 9)
    assert shown.startswith("**fpn** (network)") and "params" not in shown
