"""The PyTorch backend against torchvision: same state_dict keys, same outputs, compilable."""

from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import archlang
from archlang.backends.pytorch import generate

ROOT = Path(__file__).resolve().parent.parent

TWINS = {
    "resnet50": ("specs/resnet.arch", lambda: torchvision.models.resnet50()),
    "googlenet": ("specs/googlenet.arch",
                  lambda: torchvision.models.googlenet(aux_logits=True, init_weights=True)),
}


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def pairs():
    """(archlang model, torchvision model) per network, sharing the torchvision weights."""
    os.chdir(ROOT)
    torch.manual_seed(0)
    out = {}
    for name, (spec, make) in TWINS.items():
        ours = archlang.load(spec, name)
        theirs = make()
        ours.load_state_dict(theirs.state_dict(), strict=True)
        out[name] = (ours, theirs)
    return out


@pytest.mark.parametrize("name", list(TWINS))
def test_same_parameter_names_and_counts(pairs, name):
    ours, theirs = pairs[name]
    assert set(ours.state_dict()) == set(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == value.shape, key
    static = archlang.check(TWINS[name][0], name)
    assert sum(p.numel() for p in ours.parameters()) == static.params
    assert sum(b.numel() for b in ours.buffers()) == static.totals.buffers


def test_modules_registered_in_execution_order(pairs):
    ours, _ = pairs["googlenet"]
    assert list(ours._modules)[:11] == [
        "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b",
        "maxpool3", "inception4a", "aux1", "inception4b"]


@pytest.mark.parametrize("name", list(TWINS))
def test_eval_outputs_equal_torchvision(pairs, name):
    ours, theirs = pairs[name]
    ours.eval()
    theirs.eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert isinstance(a, torch.Tensor)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_googlenet_training_outputs_equal_torchvision(pairs):
    ours, theirs = pairs["googlenet"]
    ours.train()
    theirs.train()
    x = torch.randn(2, 3, 96, 96)
    torch.manual_seed(7)
    a = ours(x)
    torch.manual_seed(7)
    b = theirs(x)
    assert a._fields == ("logits", "aux2", "aux1")
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(a.aux1, b.aux_logits1)
    torch.testing.assert_close(a.aux2, b.aux_logits2)
    ours.eval()
    theirs.eval()


def test_resnet_training_step_matches(pairs):
    ours, theirs = pairs["resnet50"]
    ours.train()
    theirs.train()
    x = torch.randn(2, 3, 64, 64)
    a, b = ours(x), theirs(x)
    torch.testing.assert_close(a, b)
    a.sum().backward()
    b.sum().backward()
    torch.testing.assert_close(ours.conv1.weight.grad, theirs.conv1.weight.grad, rtol=1e-4,
                               atol=1e-5)
    ours.zero_grad(set_to_none=True)
    theirs.zero_grad(set_to_none=True)
    ours.eval()
    theirs.eval()


def _ruff() -> list[str]:
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(exe).exists():
        pytest.skip("ruff is not installed")
    return [exe]


@pytest.mark.parametrize("name", list(TWINS))
def test_generated_source_passes_ruff(tmp_path, name):
    (tmp_path / "model.py").write_text(archlang.compile_source(TWINS[name][0], name))
    env = {**os.environ, "RUFF_NO_CACHE": "true"}
    check = subprocess.run([*_ruff(), "check", "--no-cache", "--isolated", "model.py"],
                           cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run([*_ruff(), "format", "--check", "--isolated", "model.py"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_load_shows_its_source_in_inspect_and_tracebacks():
    cls = archlang.load_class("specs/resnet.arch", "resnet18")
    assert "def forward(self, x: torch.Tensor)" in inspect.getsource(cls)
    model = cls()
    try:
        model(torch.randn(1, 4, 32, 32))  # wrong channel count: fails inside generated code
    except RuntimeError:
        text = traceback.format_exc()
    else:  # pragma: no cover
        pytest.fail("expected a RuntimeError")
    assert "x = self.conv1(x)" in text


def test_compiled_file_imports_as_a_module(tmp_path):
    out = tmp_path / "resnet18_model.py"
    result = subprocess.run([sys.executable, "-m", "archlang", "compile", "specs/resnet.arch",
                             "--network", "resnet18", "-o", str(out)], capture_output=True,
                            text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    spec = importlib.util.spec_from_file_location("resnet18_model", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Resnet18().eval()
    ref = archlang.load("specs/resnet.arch", "resnet18").eval()
    ref.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))


def test_generated_code_is_deterministic():
    spec = ROOT / "specs" / "googlenet.arch"
    a = generate(archlang.check(spec, "googlenet").graph)
    b = generate(archlang.check(spec, "googlenet").graph)
    assert a == b


def test_every_parameter_exists_after_construction():
    model = archlang.load("specs/googlenet.arch", "googlenet")
    assert not any(isinstance(p, torch.nn.parameter.UninitializedParameter)
                   for p in model.parameters())
    n_before = len(list(model.parameters()))
    model.train()
    model(torch.randn(2, 3, 64, 64))
    assert len(list(model.parameters())) == n_before


def test_spec_init_matches_torchvision_statistics():
    torch.manual_seed(0)
    model = archlang.load("specs/resnet.arch", "resnet50", zero_init_residual=True)
    assert torch.count_nonzero(model.layer1[0].bn3.weight) == 0
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)
    w = model.conv1.weight
    fan_out = w.shape[0] * w.shape[2] * w.shape[3]
    assert abs(w.std().item() - (2.0 / fan_out) ** 0.5) < 0.1 * (2.0 / fan_out) ** 0.5


@pytest.mark.parametrize("name", list(TWINS))
def test_torch_compile_fullgraph(pairs, name):
    ours, _ = pairs[name]
    ours.eval()
    torch._dynamo.reset()
    compiled = torch.compile(ours, fullgraph=True, backend="aot_eager")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), ours(x))


@pytest.mark.parametrize("name", list(TWINS))
def test_torch_export(pairs, name):
    ours, _ = pairs[name]
    ours.eval()
    exported = torch.export.export(ours, (torch.randn(1, 3, 64, 64),))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), ours(x))


LIB = "block Head(n) {\n  linear(n)\n}\n"
MAIN = ('import "lib/head.arch"\n\nnetwork net(classes=10) {\n  input x: [3, 8, 8]\n'
        '  flatten\n  Head(classes)\n  output y\n}\n')


def _count_checks(monkeypatch) -> list:
    import archlang.api

    calls = []
    real = archlang.api.check

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(archlang.api, "check", counting)
    return calls


def test_load_class_is_memoised_until_a_file_changes(tmp_path, monkeypatch):
    from archlang.loader import load_class

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "head.arch").write_text(LIB)
    (tmp_path / "main.arch").write_text(MAIN)
    monkeypatch.chdir(tmp_path)
    calls = _count_checks(monkeypatch)
    first = load_class("main.arch")
    assert load_class("main.arch") is first and len(calls) == 1
    # other parameters are another class
    assert sum(p.numel() for p in load_class("main.arch", classes=5)().parameters()) == 965
    assert len(calls) == 2
    # an edited import is seen (same size, so nothing but the bytes tells)
    (tmp_path / "lib" / "head.arch").write_text(LIB.replace("linear(n)", "linear(7)"))
    edited = load_class("main.arch")
    assert edited is not first and len(calls) == 3
    assert sum(p.numel() for p in edited().parameters()) == 192 * 7 + 7
    # a deleted import is an error again, not a stale class
    (tmp_path / "lib" / "head.arch").unlink()
    with pytest.raises(archlang.ArchError, match="E040"):
        load_class("main.arch")


def test_load_class_memo_follows_symlinks_and_the_working_directory(tmp_path, monkeypatch):
    from archlang.loader import load_class

    for name, n in (("a", 3), ("b", 4)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "head.arch").write_text(LIB.replace("linear(n)", f"linear({n})"))
    (tmp_path / "lib").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "main.arch").write_text(MAIN)
    monkeypatch.chdir(tmp_path)
    outs = lambda cls: [m.out_features for m in cls().modules()
                        if isinstance(m, torch.nn.Linear)]
    assert outs(load_class("main.arch")) == [3]
    (tmp_path / "lib").unlink()
    (tmp_path / "lib").symlink_to(tmp_path / "b", target_is_directory=True)
    assert outs(load_class("main.arch")) == [4]
    # the same relative path from another directory is another spec
    other = tmp_path / "other"
    (other / "lib").mkdir(parents=True)
    (other / "lib" / "head.arch").write_text(LIB.replace("linear(n)", "linear(5)"))
    (other / "main.arch").write_text(MAIN)
    monkeypatch.chdir(other)
    assert outs(load_class("main.arch")) == [5]


def test_load_class_memo_is_bounded(tmp_path, monkeypatch):
    from archlang import loader as pytorch

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "head.arch").write_text(LIB)
    (tmp_path / "main.arch").write_text(MAIN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pytorch, "_MAX_CLASSES", 2)
    classes = [pytorch.load_class("main.arch", classes=n) for n in (2, 3, 4)]
    assert len(pytorch._CLASSES) <= 2
    assert pytorch.load_class("main.arch", classes=4) is classes[-1]  # most recent kept
