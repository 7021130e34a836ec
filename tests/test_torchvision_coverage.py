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

#: CNN builders without a twin yet, and why (none: every one has its twin).
MISSING: dict[str, str] = {}


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
    assert (len(builders), len(twins), len(MISSING)) == (68, 68, 0)
