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
