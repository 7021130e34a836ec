"""`archlang sweep`: a grid of --set values, a table and JSON of params, MACs, memory and the
smallest input per point (goldens), and the plots (rendered, parsed as SVG, series by id)."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import golden_path

from archlang.analysis.sweep import grid, split_values
from archlang.api import check
from archlang.cli import main

ROOT = Path(__file__).resolve().parent.parent

#: (spec, golden name, arguments after the spec)
CASES = [
    ("specs/dcgan.arch", "dcgan_generator-ngf-nz",
     ["--network", "dcgan_generator", "--set", "ngf=16,32,64,128", "--set", "nz=50,100"]),
    ("examples/symbolic.arch", "fcn-num_classes-H",
     ["--set", "num_classes=10,1000", "--set", "H=29,61,125"]),
    ("specs/resnet.arch", "resnet50-stages", ["--network", "resnet50", "--stages"]),
]
KINDS = {"table": "sweep.txt", "json": "sweep.json"}


def golden_files() -> set[Path]:
    return {golden_path(spec, name, kind) for spec, name, _ in CASES for kind in KINDS.values()}


def _run(*args):
    return CliRunner().invoke(main, ["sweep", *args], catch_exceptions=False)


@pytest.mark.parametrize("fmt", list(KINDS))
@pytest.mark.parametrize("spec,name,args", CASES, ids=[c[1] for c in CASES])
def test_sweep_goldens(spec, name, args, fmt, golden, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = _run(spec, *args, "--format", fmt)
    assert r.exit_code == 0, r.output
    golden(spec, name, KINDS[fmt], r.output)


def test_points_equal_single_checks(monkeypatch):
    monkeypatch.chdir(ROOT)
    data = json.loads(_run("zoo:dcgan_generator", "--set", "ngf=16,64", "--set", "nz=100",
                           "--format", "json").output)
    assert [p["values"] for p in data["points"]] == [{"ngf": "16", "nz": "100"},
                                                     {"ngf": "64", "nz": "100"}]
    for p in data["points"]:
        t = check("zoo:dcgan_generator", ngf=int(p["values"]["ngf"])).totals
        assert (p["params"], p["macs"]) == (t.params, t.macs)
        assert p["activations_bytes"] == 4 * t.activations


def test_symbolic_point_has_smallest_input(monkeypatch):
    monkeypatch.chdir(ROOT)
    data = json.loads(_run("examples/symbolic.arch", "--set", "H=29", "--format", "json").output)
    (p,) = data["points"]
    assert p["smallest_input"] == {"W": 13}
    assert p["constraints"] == {"W": "W >= 13 and W % 8 in {5, 6}"}
    assert "W" in p["macs"]  # a polynomial in W, as text


def test_grid_and_values():
    assert split_values("[2, 2],[3, 4]") == ["[2, 2]", "[3, 4]"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]
    assert grid(("a=1,2", "b=3")) == [("a=1", "b=3"), ("a=2", "b=3")]
    assert grid(("a=1", "a=5,6")) == [("a=5",), ("a=6",)]


def test_errors(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    r = _run("examples/symbolic.arch", "--set", "H=29,30,31")
    assert r.exit_code == 1
    assert "[1] H=31: error[E021]" in r.output
    assert _run("zoo:resnet18", "--set", "nope=1,2").exit_code == 2
    r = _run("zoo:resnet18", "--stages", "--set", "num_classes=1,2")
    assert r.exit_code == 2 and "give each --set a single value" in r.output
    r = _run("zoo:resnet18", "--set", "num_classes=1,2", "-o", str(tmp_path / "p.txt"))
    assert r.exit_code == 2 and "unknown file type" in r.output


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    r = _run("zoo:resnet18", "--set", "num_classes=1,2", "-o", str(tmp_path / "p.svg"))
    assert r.exit_code == 2
    assert "archlang[plot]" in r.output and not (tmp_path / "p.svg").exists()


def _ids(path: Path) -> set[str]:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return {e.get("id") for e in root.iter() if e.get("id")}


def test_sweep_plot(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(ROOT)
    out = tmp_path / "grid.svg"
    r = _run("zoo:dcgan_generator", "--set", "ngf=16,32,64,128", "--set", "nz=50,100",
             "-o", str(out))
    assert r.exit_code == 0, r.output
    ids = _ids(out)
    for metric in ("params", "macs", "activations_bytes"):
        assert {f"{metric}:nz=50", f"{metric}:nz=100"} <= ids
    text = out.read_text(encoding="utf-8")
    assert "nz=100" in text  # the legend


def test_stages_plot(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(ROOT)
    out = tmp_path / "stages.svg"
    r = _run("zoo:resnet50", "--stages", "-o", str(out))
    assert r.exit_code == 0, r.output
    ids = _ids(out)
    for stage in ("conv1", "layer1", "layer2", "layer3", "layer4", "fc"):
        assert {f"params:{stage}", f"macs:{stage}"} <= ids
    assert "params:maxpool" not in ids  # no params, no MACs: no bar
