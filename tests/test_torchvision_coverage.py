"""Every convolutional classification builder of torchvision has an exact twin in the zoo,
except the ones listed below with the reason the language cannot write them yet. The test
fails on a builder that is neither (a new torchvision release) and on a listed one that now
has a twin (the list must shrink with the zoo)."""

from __future__ import annotations

import pytest

import archlang

models = pytest.importorskip("torchvision.models")

#: Transformers, not CNNs (#14 covers the CNN builders).
TRANSFORMERS = ("vit_", "swin_", "maxvit_")

#: CNN builders without a twin yet, and why.
MISSING = {
    **{name: "torchvision names RegNet's blocks `block1-0`, not an identifier; its widths "
       "need log and round"
       for name in ("regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf",
                    "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf", "regnet_y_400mf",
                    "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf",
                    "regnet_y_16gf", "regnet_y_32gf", "regnet_y_128gf")},
    **{name: "ConvNeXt's layer_scale is a learnable tensor a spec cannot declare yet"
       for name in ("convnext_tiny", "convnext_small", "convnext_base", "convnext_large")},
}


def cnn_builders() -> list[str]:
    return [name for name in models.list_models(module=models)
            if not name.startswith(TRANSFORMERS)]


def test_every_torchvision_cnn_has_a_twin_or_a_reason():
    zoo = set(archlang.list_models())
    without = [name for name in cnn_builders() if name not in zoo and name not in MISSING]
    assert without == [], f"torchvision CNN builders with neither a twin nor a reason: {without}"


def test_the_missing_list_is_current():
    zoo = set(archlang.list_models())
    builders = set(cnn_builders())
    assert [name for name in MISSING if name in zoo] == [], "twinned now: drop from MISSING"
    assert [name for name in MISSING if name not in builders] == []


def test_coverage_figures():
    builders = cnn_builders()
    twins = [name for name in builders if name in set(archlang.list_models())]
    assert (len(builders), len(twins), len(MISSING)) == (68, 49, 19)
