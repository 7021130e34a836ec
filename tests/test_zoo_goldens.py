"""Every zoo network: golden summary table and generated code, clean under ruff, and a real
forward pass whose output shapes and parameter count are the static checker's.

Goldens live in tests/goldens/SPEC/NAME.summary.txt (`archlang summary SPEC --network NAME
--depth 2`) and tests/goldens/SPEC/NAME.py (`archlang.compile_source`), SPEC being the spec
file's stem; rewrite them with `pytest --update-goldens` and review the diff. A missing golden
fails.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import golden_path

import archlang
from archlang.cli import main

ROOT = Path(__file__).resolve().parent.parent

# network -> spec file.
ZOO = {
    "alexnet": "specs/alexnet.arch",
    "alexnet_caffe": "specs/alexnet.arch",
    **{name: "specs/vgg.arch" for name in (
        "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
        "vgg_a_lrn", "vgg_c")},
    "nin_cifar10": "specs/nin.arch",
    "googlenet": "specs/googlenet.arch",
    "googlenet_caffe": "specs/googlenet.arch",
    **{name: "specs/resnet.arch" for name in (
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "resnet50_v1", "resnet101_v1", "resnet152_v1", "resnext50_32x4d", "resnext101_32x8d",
        "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2")},
    "squeezenet1_0": "specs/squeezenet.arch",
    "squeezenet1_1": "specs/squeezenet.arch",
    "mobilenet_v2": "specs/mobilenet.arch",
    "mobilenet_v3_small": "specs/mobilenet.arch",
    "mobilenet_v3_large": "specs/mobilenet.arch",
    **{f"efficientnet_b{i}": "specs/efficientnet.arch" for i in range(8)},
    **{f"efficientnet_v2_{size}": "specs/efficientnet.arch" for size in "sml"},
    **{f"shufflenet_v2_{w}": "specs/shufflenet.arch"
       for w in ("x0_5", "x1_0", "x1_5", "x2_0")},
    "inception_v3": "specs/inception.arch",
    "mnasnet0_5": "specs/mnasnet.arch",
    "mnasnet0_75": "specs/mnasnet.arch",
    "mnasnet1_0": "specs/mnasnet.arch",
    "mnasnet1_3": "specs/mnasnet.arch",
    "densenet121": "specs/densenet.arch",
    "densenet161": "specs/densenet.arch",
    "densenet169": "specs/densenet.arch",
    "densenet201": "specs/densenet.arch",
    **{name: "specs/segmentation.arch" for name in (
        "fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
        "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")},
    "resnet_fpn_backbone": "specs/detection.arch",
    "unet": "specs/unet.arch",
    "unet_padded": "specs/unet.arch",
    **{name: "specs/res2net.arch" for name in (
        "res2net50_26w_4s", "res2net50_48w_2s", "res2net50_26w_6s", "res2net50_26w_8s",
        "res2net50_14w_8s", "res2net101_26w_4s")},
}
# The networks without a torchvision twin, run here at their declared input size (which
# alexnet_caffe, googlenet_caffe and nin_cifar10 need anyway: a fixed-size pool or flatten
# feeds their classifier). The twins run forward, in eval and training mode, against
# torchvision in tests/test_zoo_twins.py, where their output shapes and parameter and buffer
# counts are checked against the static checker's as here; building each model costs
# seconds (VGG: 133M parameters to initialise), so they are not built a second time here.
FORWARD = {
    "alexnet_caffe": 227,
    "vgg_a_lrn": 224,
    "vgg_c": 224,
    "nin_cifar10": 32,
    "googlenet_caffe": 224,
    "resnet50_v1": 224,
    "resnet101_v1": 224,
    "resnet152_v1": 224,
}
# The networks of these classic-CNN spec files are exactly ZOO's: one added to them must
# be added here.
SPECS = sorted(set(ZOO.values()))


@pytest.fixture(autouse=True)
def _root(monkeypatch):
    monkeypatch.chdir(ROOT)


def golden_files() -> set[Path]:
    """The goldens this file's tests compare with."""
    return {golden_path(ZOO[name], name, kind) for name in ZOO for kind in ("summary.txt", "py")}


def test_zoo_list_is_complete():
    from archlang.limits import Limits
    from archlang.program import load_program

    found = {net for spec in SPECS for net in load_program(ROOT / spec, Limits()).networks}
    assert found == set(ZOO)
    assert len(ZOO) == 72


# Networks with a symbolic input size: their summary golden is at this size (their
# weights' evaluation size), where every count is a number.
SUMMARY_INPUT = {
    **{name: "3x520x520" for name, spec in ZOO.items() if spec == "specs/segmentation.arch"},
    "resnet_fpn_backbone": "3x800x800",
    "unet": "1x572x572",
    "unet_padded": "1x512x512",
}


@pytest.mark.parametrize("name", list(ZOO))
def test_summary_golden(name, golden):
    size = ["--input", SUMMARY_INPUT[name]] if name in SUMMARY_INPUT else []
    result = CliRunner().invoke(main, ["summary", ZOO[name], "--network", name,
                                       "--depth", "2", *size], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    golden(ZOO[name], name, "summary.txt", result.stdout)


@pytest.mark.parametrize("name", list(ZOO))
def test_generated_code_golden(name, golden):
    golden(ZOO[name], name, "py", archlang.compile_source(ZOO[name], name))


def _ruff() -> list[str]:
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(exe).exists():
        pytest.skip("ruff is not installed")
    return [exe]


#: Networks whose generated code ruff format would still change (a strict xfail each, so a
#: fix shows up): none since long children of an exploded call or list are split too.
RUFF_FORMAT_DEFECTS: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(reason=RUFF_FORMAT_DEFECTS[name], strict=True))
    if name in RUFF_FORMAT_DEFECTS else name
    for name in ZOO])
def test_generated_code_passes_ruff(ruff_reports, name):
    reports = ruff_reports(name)
    assert not reports, "\n".join(reports)


@pytest.fixture(scope="module")
def ruff_reports(tmp_path_factory):
    """Every zoo network's generated source, checked by `ruff check` and `ruff format
    --check` in one run each (two processes, not two per network): name → ruff's lines
    about that file, compiled and checked on first use."""
    where = tmp_path_factory.mktemp("ruff")
    reports: dict[str, list[str]] = {}

    def of(name: str) -> list[str]:
        if not reports:
            for other, spec in ZOO.items():
                (where / f"{other}.py").write_text(archlang.compile_source(spec, other))
            env = {**os.environ, "RUFF_NO_CACHE": "true"}
            for args in (["check", "--no-cache", "--isolated", "--output-format", "concise"],
                         ["format", "--check", "--isolated"]):
                proc = subprocess.run([*_ruff(), *args, *(f"{n}.py" for n in ZOO)], cwd=where,
                                      check=False, capture_output=True, text=True, env=env)
                assert proc.returncode in (0, 1), proc.stderr
                for line in (proc.stdout + proc.stderr).splitlines():
                    for other in ZOO:
                        if f"{other}.py" in line.replace(":", " ").split():
                            reports.setdefault(other, []).append(f"ruff {args[0]}: {line}")
            reports.setdefault("", [])  # ran
        return reports.get(name, [])

    return of


@pytest.mark.parametrize("name", list(FORWARD))
def test_forward_matches_static(name):
    torch = pytest.importorskip("torch")
    spec, size = ZOO[name], FORWARD[name]
    static = archlang.check(spec, name)
    assert static.graph.nodes[next(iter(static.graph.inputs.values()))].shape == (3, size, size)
    torch.manual_seed(0)
    model = archlang.load(spec, name)
    try:
        assert sum(p.numel() for p in model.parameters()) == static.params
        assert sum(b.numel() for b in model.buffers()) == static.totals.buffers
        first = next(iter(static.outputs))
        model.eval()
        with torch.inference_mode():
            out = model(torch.randn(1, 3, size, size))
        assert isinstance(out, torch.Tensor)
        assert tuple(out.shape) == (1, *static.outputs[first])
        assert torch.isfinite(out).all()
        if static.totals.training_outputs:
            # Training mode returns every output, in the declared order, at the static shapes.
            model.train()
            with torch.no_grad():
                outs = model(torch.randn(1, 3, size, size))
            assert outs._fields == tuple(static.outputs)
            for key, value in static.outputs.items():
                assert tuple(getattr(outs, key).shape) == (1, *value), key
    finally:
        del model
        gc.collect()
