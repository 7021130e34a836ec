"""`archlang summary` and `check`: golden outputs, the JSON contract, no torch import.

Goldens live in tests/goldens/SPEC/NETWORK.summary.{txt,json,csv}, SPEC being the spec file's
stem; ``pytest --update-goldens`` rewrites them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import golden_path

from archlang.cli import main
from archlang.limits import Limits
from archlang.program import load_program

ROOT = Path(__file__).resolve().parent.parent
FORMATS = {"table": "summary.txt", "json": "summary.json", "csv": "summary.csv"}  # fmt -> kind


def example_networks():
    for path in sorted((ROOT / "examples").glob("*.arch")):
        for net in load_program(path, Limits()).networks:
            yield pytest.param(f"examples/{path.name}", net, id=f"{path.stem}-{net}")
    yield pytest.param("specs/resnet.arch", "resnet50", id="resnet50")
    yield pytest.param("specs/googlenet.arch", "googlenet", id="googlenet")


@pytest.fixture(autouse=True)
def _root(monkeypatch):
    monkeypatch.chdir(ROOT)


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def golden_files() -> set[Path]:
    """The goldens this file's tests compare with."""
    return {golden_path(*p.values, kind) for p in example_networks() for kind in FORMATS.values()}


@pytest.mark.parametrize("spec,network", list(example_networks()))
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_summary_golden(spec, network, fmt, golden):
    code, out, err = run_cli("summary", spec, "--network", network, "--format", fmt)
    assert code == 0, err
    golden(spec, network, FORMATS[fmt], out)


def summary_json(spec: str, network: str, *extra: str) -> dict:
    code, out, err = run_cli("summary", spec, "--network", network, "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_resnet50_numbers():
    data = summary_json("specs/resnet.arch", "resnet50")
    assert data["params"] == 25_557_032
    assert data["macs"] == 4_089_184_256
    assert data["flops"] == 2 * 4_089_184_256
    assert data["outputs"] == {"logits": [1000]}
    for key in ("network", "params_inference", "buffers", "macs_train", "layers",
                "activations_bytes", "peak_inference_bytes"):
        assert key in data


def test_googlenet_numbers():
    data = summary_json("specs/googlenet.arch", "googlenet")
    assert data["params"] == 13_004_888
    assert data["params_inference"] == 6_624_904
    assert data["macs"] == 1_498_376_192
    assert data["macs_train"] == 1_506_748_416
    assert data["training_outputs"] == ["aux2", "aux1"]
    assert data["buffers"] > 0
    no_aux = summary_json("specs/googlenet.arch", "googlenet", "--set", "aux_logits=false")
    assert no_aux["params"] == 6_624_904


def test_layers_follow_depth():
    shallow = summary_json("specs/resnet.arch", "resnet50", "--depth", "1")["layers"]
    deep = summary_json("specs/resnet.arch", "resnet50", "--depth", "3")["layers"]
    assert [r["name"] for r in shallow][:5] == ["conv1", "bn1", "2", "maxpool", "layer1"]
    assert max(r["depth"] for r in shallow) == 1
    assert max(r["depth"] for r in deep) == 3
    assert "layer1.0.conv1" in [r["name"] for r in deep]
    layer1 = next(r for r in shallow if r["name"] == "layer1")
    assert layer1["params"] == sum(r["params"] for r in deep
                                   if r["name"].startswith("layer1.0.") and r["depth"] == 3) + \
        sum(r["params"] for r in deep if r["name"] in ("layer1.1", "layer1.2"))


def test_check_verdict_and_exit_codes(tmp_path):
    code, out, _ = run_cli("check", "specs/resnet.arch", "--network", "resnet50")
    assert code == 0
    assert out.strip() == "ok: resnet50: 25,557,032 params, 4,089,184,256 MACs; logits: 1000"
    bad = tmp_path / "bad.arch"
    bad.write_text("network n {\n  input x: [3, 8, 8]\n  con2d(4, 3)\n  output y\n}\n")
    code, out, err = run_cli("check", str(bad))
    assert code == 1
    assert "did you mean `conv2d`" in err
    code, out, _ = run_cli("check", str(bad), "--format", "json")
    assert code == 1
    diag = json.loads(out)["diagnostics"][0]
    assert (diag["code"], diag["line"], diag["column"]) == ("E010", 3, 3)


def test_single_network_needs_no_flag():
    code, out, _ = run_cli("check", "examples/vgg16.arch")
    assert code == 0 and out.startswith("ok: vgg16:")


def test_set_and_input_options():
    data = summary_json("specs/resnet.arch", "resnet18", "--set", "num_classes=10",
                        "--input", "3x64x64")
    assert data["outputs"] == {"logits": [10]}
    assert data["inputs"] == {"image": [3, 64, 64]}
    code, _, err = run_cli("check", "specs/resnet.arch", "-n", "resnet18", "--set", "nope=1")
    assert code == 2 and "E061" in err  # a usage error


def test_torch_is_never_imported_by_check_summary_or_diagram():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from archlang.cli import main\n"
        "import archlang\n"
        "archlang.check('specs/googlenet.arch', 'googlenet')\n"
        "for args in (['check', 'specs/resnet.arch', '-n', 'resnet50'],\n"
        "             ['summary', 'specs/googlenet.arch', '-n', 'googlenet', '--format', 'json'],\n"
        "             ['summary', 'examples/symbolic.arch'],\n"
        "             ['diagram', 'specs/resnet.arch', '-n', 'resnet18']):\n"
        "    r = CliRunner().invoke(main, args)\n"
        "    assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_internal_errors_exit_3(monkeypatch):
    from archlang import cli

    def boom(*a, **k):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(cli, "checked", boom)
    result = CliRunner().invoke(main, ["check", "examples/vgg16.arch"])
    assert result.exit_code == 3
    assert "internal error" in result.stderr
    assert "Traceback" not in result.stderr
