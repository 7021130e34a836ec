"""Python objects a person prints: results, errors, shapes, CSV numbers."""

from __future__ import annotations

import csv
import io

import pytest

import archlang
from archlang.backends.summary import render

SYMBOLIC = "network n {\n input x: [3, H, W]\n conv2d(8, 3, stride=2)\n output y\n}\n"


def test_check_result_prints_a_few_lines():
    result = archlang.check("specs/resnet.arch", network="resnet50")
    assert repr(result) == str(result) == (
        "<CheckResult network='resnet50'\n"
        "  params=25,557,032 MACs=4,089,184,256\n"
        "  output logits: 1000>")


def test_training_outputs_are_marked():
    text = repr(archlang.check("specs/googlenet.arch", network="googlenet"))
    assert "output aux1: 1000 (training)" in text and len(text.splitlines()) == 5


def test_arch_error_starts_with_its_location():
    with pytest.raises(archlang.ArchError) as err:
        archlang.check("network n {\n input x: [3, 8, 8]\n con2d(4, 3)\n output y\n}\n")
    assert str(err.value) == "<string>:3:2: error[E010]: unknown layer `con2d`"
    # diagnostics print their location, never the whole source
    assert len(repr(err.value.diagnostics[0])) < 400


def test_unknown_layer_suggests_near_names():
    result = archlang.check("specs/resnet.arch", network="resnet50")
    assert result.shape("layer1.0.conv1") == (64, 56, 56)
    with pytest.raises(KeyError) as err:
        result.shape("layer1.0.conv")
    assert str(err.value) == ("network `resnet50` has no layer `layer1.0.conv`; did you mean "
                              "`layer1.0.conv3` or `layer1.0.conv2` or `layer1.0.conv1`?")


def test_symbolic_shapes_print_as_the_spec_writes_them():
    result = archlang.check(SYMBOLIC)
    assert repr(result.shape("0")) == "(8, (H-1)//2, (W-1)//2)"
    assert repr(result.macs) == "216*((H-1)//2)*((W-1)//2)"


def test_csv_numbers_are_plain_integers():
    result = archlang.check("specs/resnet.arch", network="resnet18")
    rows = list(csv.DictReader(io.StringIO(render(result, depth=1, format="csv"))))
    conv1 = next(r for r in rows if r["name"] == "conv1")
    assert conv1["macs"] == "118013952" and conv1["params"] == "9408"


@pytest.mark.parametrize("args,kwargs,needle", [
    ((123,), {}, "the spec must be a path"),
    ((b"specs/nin.arch",), {}, "the spec must be a path"),
    (("specs/nin.arch", 5), {}, "network must be"),
    (("specs/nin.arch",), {"inputs": "3x32x32"}, "inputs must be"),
    (("specs/nin.arch",), {"inputs": {1: (3, 32, 32)}}, "keys of inputs"),
    (("specs/nin.arch",), {"limits": 5}, "limits must be"),
])
def test_wrong_argument_types_say_what_is_expected(args, kwargs, needle):
    with pytest.raises(TypeError, match=needle):
        archlang.check(*args, **kwargs)


def test_load_without_torch_names_the_extra(monkeypatch):
    """A plain install has no torch: load says what to install (CI also runs this for real
    in a venv without torch, scripts/wheel_smoke.sh)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    for load in (archlang.load, archlang.load_class):
        with pytest.raises(ModuleNotFoundError, match=r"pip install 'archlang\[torch\]'"):
            load("zoo:nin_cifar10")
