"""`archlang diff`: layers aligned by name and structure, deltas per block and in total, as a
table, JSON and the union graph (goldens for the three zoo pairs of issue #17)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import golden_path

from archlang.analysis.diff import ADDED, CHANGED, REMOVED, RENAMED, diff
from archlang.api import check
from archlang.backends.diff import render
from archlang.cli import main

ROOT = Path(__file__).resolve().parent.parent

#: (spec, network A, network B): the pairs with goldens
PAIRS = [("specs/resnet.arch", "resnet50", "resnet50_v1"),
         ("specs/vgg.arch", "vgg16", "vgg16_bn"),
         ("specs/googlenet.arch", "googlenet", "googlenet_caffe")]
KINDS = {"text": "diff.txt", "json": "diff.json", "dot": "diff.dot"}


def golden_files() -> set[Path]:
    return {golden_path(spec, f"{a}-vs-{b}", kind) for spec, a, b in PAIRS
            for kind in KINDS.values()}


def _diff(spec: str, a: str, b: str, **params_b):
    return diff(check(ROOT / spec, a), check(ROOT / spec, b, **params_b))


@pytest.mark.parametrize("fmt", list(KINDS))
@pytest.mark.parametrize("spec,a,b", PAIRS, ids=[f"{a}-vs-{b}" for _, a, b in PAIRS])
def test_diff_goldens(spec, a, b, fmt, golden):
    text = render(_diff(spec, a, b), (spec, spec), fmt)
    golden(spec, f"{a}-vs-{b}", KINDS[fmt], text)


def test_cli_prints_the_golden_table(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["diff", "zoo:resnet50", "zoo:resnet50_v1"])
    assert result.exit_code == 0, result.output
    expected = golden_path("specs/resnet.arch", "resnet50-vs-resnet50_v1", "diff.txt") \
        .read_text(encoding="utf-8").replace("--- specs/resnet.arch:", "--- zoo:resnet50:") \
        .replace("+++ specs/resnet.arch:", "+++ zoo:resnet50_v1:")
    assert result.output == expected


def test_resnet_v1_moves_the_stride_to_the_first_1x1():
    d = _diff("specs/resnet.arch", "resnet50", "resnet50_v1")
    changed = {e.name: {c.what: (c.a, c.b) for c in e.changes}
               for e in d.layers() if e.status != "same"}
    assert set(changed) == {f"layer{k}.0.{x}" for k in (2, 3, 4)
                            for x in ("conv1", "bn1", "2", "conv2")}
    assert changed["layer2.0.conv1"]["stride"] == (1, 2)
    assert changed["layer2.0.conv2"]["stride"] == (2, 1)
    assert changed["layer2.0.conv1"]["out"] == ((128, 56, 56), (128, 28, 28))
    ta, tb = check("zoo:resnet50").totals, check("zoo:resnet50_v1").totals
    layer_macs = sum(e.macs[1] - e.macs[0] for e in d.layers())
    assert layer_macs == tb.macs - ta.macs < 0
    assert d.root.params == (ta.params, tb.params)


def test_vgg_bn_renumbers_features_without_changing_them():
    d = _diff("specs/vgg.arch", "vgg16", "vgg16_bn")
    counts = d.counts()
    assert counts[ADDED] == 13 and counts[REMOVED] == 0 and counts[CHANGED] == 0
    renamed = {e.a_name: e.b_name for e in d.layers() if e.status == RENAMED}
    assert renamed["features.2"] == "features.3"  # the second conv, after a new batch norm
    assert renamed["features.30"] == "features.43"  # the last max pool
    added = [e.b_name for e in d.layers() if e.status == ADDED]
    assert added[:3] == ["features.1", "features.4", "features.8"]


def test_googlenet_caffe_aligns_branches_of_other_blocks():
    d = _diff("specs/googlenet.arch", "googlenet", "googlenet_caffe")
    by_b = {e.b_name: e for e in d.layers() if e.b is not None}
    conv5 = by_b["inception3a.branch3.1.conv"]  # BasicConv 3x3 against ConvRelu 5x5
    assert conv5.status == CHANGED and conv5.a_name == "inception3a.branch3.1.conv"
    assert {c.what: (c.a, c.b) for c in conv5.changes}["kernel_size"] == (3, 5)
    assert by_b["norm1"].status == ADDED
    removed = [e.a_name for e in d.layers() if e.status == REMOVED]
    assert "conv1.bn" in removed and all(n.endswith("bn") or ".bn" in n or n.startswith("aux")
                                         for n in removed)


def test_set_variant_and_identical_networks():
    d = _diff("specs/resnet.arch", "resnet18", "resnet18", num_classes=10)
    assert [(e.name, e.status) for e in d.layers() if e.status != "same"] == \
        [("fc", CHANGED)]
    same = diff(check("zoo:nin_cifar10"), check("zoo:nin_cifar10"))
    assert set(same.counts().values()) - {0} == {same.counts()["same"]}
    text = render(same, ("a", "b"))
    assert "Layers: no differences;" in text


def test_moved_named_layer_is_paired():
    a = check("network n {\n input x: [3, 8, 8]\n p: conv2d(4, 3)\n q: relu\n output y\n}")
    b = check("network n {\n input x: [3, 8, 8]\n q: relu\n p: conv2d(4, 3)\n output y\n}")
    d = diff(a, b)
    moved = [e for e in d.layers() if e.moved]
    assert len(moved) == 1 and moved[0].status == CHANGED
    assert d.counts()[ADDED] == d.counts()[REMOVED] == 0


def test_cli_options_and_errors(tmp_path, monkeypatch):
    runner = CliRunner()
    r = runner.invoke(main, ["diff", "specs/vgg.arch", "--network-a", "vgg11",
                             "--network-b", "vgg11_bn", "--format", "json"],
                      catch_exceptions=False)
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert (data["a"]["network"], data["b"]["network"]) == ("vgg11", "vgg11_bn")
    # eight batch norms, each with a weight and a bias per channel of cfg A
    assert data["totals"]["params"]["delta"] == 2 * (64 + 128 + 2 * 256 + 4 * 512)
    assert data["counts"]["added"] == 8
    r = runner.invoke(main, ["diff", "zoo:resnet18", "--set-b", "num_classes=10",
                             "--color", "always"])
    assert r.exit_code == 0 and "\x1b[" in r.output
    r = runner.invoke(main, ["diff", "zoo:resnet18", "zoo:no_such_net"])
    assert r.exit_code == 2 and "no network `no_such_net`" in r.output
    r = runner.invoke(main, ["diff", "zoo:resnet18", "--format", "dot", "-o",
                             str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "unknown file type" in r.output
    r = runner.invoke(main, ["diff", "zoo:resnet18", "zoo:resnet34", "--format", "dot", "-o",
                             str(tmp_path / "d.dot")])
    assert r.exit_code == 0 and (tmp_path / "d.dot").read_text().startswith("// archlang diff")
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot`
    r = runner.invoke(main, ["diff", "zoo:resnet18", "zoo:resnet34", "--format", "svg"])
    assert r.exit_code == 2 and "install Graphviz" in r.output


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_svg_renders(tmp_path):
    import xml.etree.ElementTree as ET

    r = CliRunner().invoke(main, ["diff", "zoo:resnet50", "zoo:resnet50_v1", "--format", "svg",
                                  "-o", str(tmp_path / "d.svg")])
    assert r.exit_code == 0, r.output
    root = ET.parse(tmp_path / "d.svg").getroot()
    assert root.tag.endswith("svg")


def test_computed_floats_read_as_people_write_them(tmp_path):
    """0.1 * 0.75 is 0.07500000000000001 in floating point; the diff and the layer type show
    0.075, and the generated code keeps the exact value."""
    from click.testing import CliRunner

    from archlang.cli import main

    spec = tmp_path / "d.arch"
    spec.write_text("network a(p=0.1) {\n    input x: [3, 8, 8]\n    conv2d(4, 3)\n"
                    "    dropout(p * 0.75)\n    flatten\n    linear(2)\n    output y\n}\n")
    out = CliRunner().invoke(main, ["diff", str(spec), "--set-b", "p=0.2"]).output
    assert "~ 1 (dropout 0.15)   p: 0.075 → 0.15" in out, out
    assert "0.0750000" not in out and "0.1500000" not in out
