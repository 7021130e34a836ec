"""The zoo inside the package: listing, `zoo:NAME` everywhere a spec is taken, `zoo show`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import archlang
from archlang import models
from archlang.cli import main
from archlang.limits import Limits
from archlang.program import load_program

ROOT = Path(__file__).resolve().parent.parent


def test_zoo_is_the_specs_directory():
    """One copy: a clone's specs/ is the package's zoo."""
    assert (ROOT / "specs").resolve() == models.zoo_dir().resolve()


def test_listing_finds_exactly_the_parsed_networks():
    parsed = set()
    for path in models.zoo_dir().glob("*.arch"):
        parsed |= set(load_program(str(path), Limits()).networks)
    assert set(models.list_models()) == parsed
    assert len(parsed) >= 30 and "resnet50" in parsed and "googlenet" in parsed


def test_zoo_names_work_like_paths():
    by_name = archlang.check("zoo:resnet50")
    by_path = archlang.check(str(ROOT / "specs" / "resnet.arch"), "resnet50")
    assert by_name.params == by_path.params == 25_557_032
    assert archlang.check("zoo:resnet50", "resnet50").macs == by_path.macs
    with pytest.raises(archlang.ArchError) as err:
        archlang.check("zoo:resnet5")
    assert err.value.codes == ["E060"] and "resnet50" in err.value.render()


def test_zoo_load():
    torch = pytest.importorskip("torch")
    model = archlang.load("zoo:nin_cifar10").eval()
    with torch.no_grad():
        assert tuple(model(torch.randn(2, 3, 32, 32)).shape) == (2, 10)


def test_cli_zoo_list_and_show():
    runner = CliRunner()
    listed = runner.invoke(main, ["zoo", "list", "--format", "json"], catch_exceptions=False)
    assert listed.exit_code == 0
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert list(rows) == models.list_models()
    assert rows["resnet50"]["params"] == 25_557_032
    assert rows["resnet50"]["inputs"] == {"image": "3 x 224 x 224"}
    table = runner.invoke(main, ["zoo", "list"], catch_exceptions=False).stdout
    assert "resnet50" in table and "25,557,032" in table
    shown = runner.invoke(main, ["zoo", "show", "resnet50"], catch_exceptions=False)
    assert shown.exit_code == 0
    assert shown.stdout == (ROOT / "specs" / "resnet.arch").read_text()


def test_shown_spec_is_a_start(tmp_path):
    """What `zoo show` prints checks as it is, from anywhere."""
    text = CliRunner().invoke(main, ["zoo", "show", "googlenet"]).stdout
    mine = tmp_path / "mine.arch"
    mine.write_text(text)
    assert archlang.check(str(mine), "googlenet").params == 13_004_888


def test_fuzzer_runs_without_a_clone(tmp_path, monkeypatch, capsys):
    """`python -m archlang.fuzz` is in the wheel: it seeds from the packaged zoo."""
    from archlang import fuzz

    monkeypatch.chdir(tmp_path)
    assert fuzz.corpus_dirs(tmp_path) == [models.zoo_dir()]
    assert fuzz.main(["--seconds", "1", "--seed", "3"]) == 0
    assert " cases, 0 failures" in capsys.readouterr().out
