"""Ops from outside archlang (docs/plugins.md).

The test plugin ``tests/plugins/archlang_vision_ops`` (``pixel_shuffle`` and ``layer_norm2d``)
is installed with pip into a temporary directory, offline, and used from fresh processes
with that directory on PYTHONPATH: found through its entry points, then once more from its
source through ``--plugin`` / ``archlang.use_plugin``. Every command works with its ops, the
generated file runs without archlang and agrees with a plain torch build of the same
layers, and the op oracle checks the ops through their own cases. Broken installed plugins
are warnings naming the plugin and its distribution; a spec never loads code.

Nothing is registered in this test process: plugins are used in subprocesses only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import archlang
from archlang.codecheck import unsafe_code
from archlang.ops.base import Op
from archlang.ops.registry import register

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "plugins" / "archlang_vision_ops"
MODULE = "archlang_vision_ops.plugin"  # the explicit plugin module

#: Both plugin ops; pixel_shuffle unlabelled (emitted as F.pixel_shuffle) and labelled (a
#: registered nn.PixelShuffle).
SPEC = PLUGIN.parent / "sr.arch"
VERDICT = "ok: sr: 924 params, 138,240 MACs; y: 3 x 32 x 32"

#: Run in a fresh process: the generated file (run alone, without archlang), then
#: archlang.load, both against a torch build of the same layers with the same weights;
#: before that, eight threads ask the registry for the plugin's op at once.
COMPARE = """
import runpy, sys, threading
import torch
from torch import nn

generated, spec, module = sys.argv[1:4]
ns = runpy.run_path(generated)
assert not [m for m in sys.modules if m.startswith("archlang")], "it imports archlang"


class LayerNorm2d(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.LayerNorm(c)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def reference():
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), LayerNorm2d(16), nn.PixelShuffle(2),
                         nn.Conv2d(4, 12, 3, padding=1), nn.PixelShuffle(2))


def same(model):
    torch.manual_seed(0)
    ref = reference()
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-1, 1)  # LayerNorm's weight and bias are not 1 and 0
        ours = list(model.parameters())
        assert [p.shape for p in ours] == [p.shape for p in ref.parameters()]
        for a, b in zip(ours, ref.parameters()):
            a.copy_(b)
        x = torch.randn(2, 3, 8, 8)
        out = model.eval()(x)
        assert out.shape == (2, 3, 32, 32), out.shape
        torch.testing.assert_close(out, ref.eval()(x))


same(ns["Sr"]())
print("generated file ok")

import archlang
from archlang.ops.registry import lookup

if module != "-":
    archlang.use_plugin(module)
found, barrier = [], threading.Barrier(8)


def ask():
    barrier.wait()
    found.append(lookup("pixel_shuffle"))


threads = [threading.Thread(target=ask) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert len(found) == 8 and found[0] is not None and all(op is found[0] for op in found)
same(archlang.load(spec))
print("archlang.load ok")
"""


def env_with(path: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ARCHLANG_DEBUG", "PYTHONPATH")}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    return env


def archlang_cli(env, *args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlang", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The test plugin installed by pip into a fresh directory (offline, no build isolation,
    built from a copy so that nothing is written into the repository)."""
    base = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(PLUGIN, base / "src", ignore=shutil.ignore_patterns("__pycache__"))
    target = base / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--disable-pip-version-check", "--target", str(target),
         str(source)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


def run_all_commands(tmp_path: Path, env: dict[str, str], extra: list[str],
                     module: str) -> None:
    spec = SPEC
    check = archlang_cli(env, "check", str(spec), *extra)
    assert (check.returncode, check.stdout.strip(), check.stderr) == (0, VERDICT, ""), check

    summary = archlang_cli(env, "summary", str(spec), "--format", "json", *extra)
    assert summary.returncode == 0, summary.stderr
    layers = json.loads(summary.stdout)["layers"]
    assert [(r["name"], r["type"], r["shape"], r["params"]) for r in layers] == [
        ("0", "conv2d 3x3, 16", [16, 8, 8], 448), ("1", "layer_norm2d", [16, 8, 8], 32),
        ("2", "pixel_shuffle x2", [4, 16, 16], 0), ("3", "conv2d 3x3, 12", [12, 16, 16], 444),
        ("up", "pixel_shuffle x2", [3, 32, 32], 0)], layers

    diagram = archlang_cli(env, "diagram", str(spec), *extra)
    assert diagram.returncode == 0, diagram.stderr
    assert diagram.stdout.count("pixel_shuffle x2") >= 2 and "layer_norm2d" in diagram.stdout

    generated = tmp_path / "sr.py"
    compiled = archlang_cli(env, "compile", str(spec), "-o", str(generated), *extra)
    assert compiled.returncode == 0, compiled.stderr
    source = generated.read_text()
    assert "class LayerNorm2d(nn.LayerNorm):" in source and "archlang_vision_ops" not in source
    assert "F.pixel_shuffle(x, 2)" in source and "nn.PixelShuffle(2)" in source
    assert unsafe_code(source) is None

    # the generated file alone: no plugin, no archlang on the path
    proc = subprocess.run([sys.executable, "-c", COMPARE, str(generated), str(spec), module],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split("\n")[:2] == ["generated file ok", "archlang.load ok"]


def test_installed_plugin_through_entry_points(installed, tmp_path):
    run_all_commands(tmp_path, env_with(installed), [], "-")


def test_explicit_plugin_option():
    """The plugin's source on the path, not installed: its ops exist only with --plugin."""
    env = env_with(PLUGIN)
    spec = SPEC
    without = archlang_cli(env, "check", str(spec))
    assert without.returncode == 1 and "error[E010]: unknown layer `layer_norm2d`" in \
        without.stderr, without.stderr
    with_option = archlang_cli(env, "check", str(spec), "--plugin", MODULE)
    assert (with_option.returncode, with_option.stdout.strip(), with_option.stderr) == \
        (0, VERDICT, ""), with_option


def test_explicit_plugin_all_commands(tmp_path):
    run_all_commands(tmp_path, env_with(PLUGIN), ["--plugin", MODULE], MODULE)


def test_oracle_checks_plugin_ops(installed):
    """tests/test_ops_oracle.py with the plugin installed: its ops' own cases go through the
    same oracle, and the registry's completeness tests cover them."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_ops_oracle.py", "-q", "-p",
         "no:cacheprovider", "-k", "pixel_shuffle or layer_norm2d or every_op"],
        cwd=ROOT, env=env_with(installed), capture_output=True, text=True, timeout=300,
        check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # 6 own cases, 2 completeness checks, every op with a strategy or cases and a valid one
    assert re.search(r"\b10 passed\b", proc.stdout) and "skipped" not in proc.stdout, \
        proc.stdout[-2000:]
    assert "test_op_own_examples[pixel_shuffle-2]" not in proc.stdout  # no failure listed


def test_plugin_op_not_installed_is_unknown():
    with pytest.raises(archlang.ArchError) as exc:
        archlang.check(SPEC)
    assert exc.value.codes == ["E010", "E010", "E010"]
    assert [d.message for d in exc.value.diagnostics] == [
        "unknown layer `layer_norm2d`", "unknown layer `pixel_shuffle`",
        "unknown layer `pixel_shuffle`"]


def test_broken_installed_plugins_are_warnings(tmp_path):
    """Each broken entry point is one warning line naming the plugin and its distribution;
    the others still work, and a built-in op keeps its meaning."""
    dist = tmp_path / "broken_ops-0.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-ops\nVersion: 0.2\n")
    (dist / "entry_points.txt").write_text(
        "[archlang.ops]\n"
        "relu = broken_ops:Relu\n"             # a built-in's name
        "missing = broken_ops.nothere:Missing\n"  # does not import
        "notop = broken_ops:NOT_AN_OP\n"       # not an Op subclass
        "elsewhere = broken_ops:Relu\n"        # not the op's name
        "double = broken_ops:Double\n")        # works
    (tmp_path / "broken_ops").mkdir()
    (tmp_path / "broken_ops" / "__init__.py").write_text(
        "from archlang.ops.base import Op\n\n\n"
        "class Relu(Op):\n    name = 'relu'\n    doc = 'not the real relu'\n\n\n"
        "class Double(Op):\n    name = 'double'\n    doc = 'x + x'\n\n"
        "    def torch_call(self, a, args, ins, inplace):\n        return f'{args[0]} * 2'\n\n\n"
        "NOT_AN_OP = 3\n")
    spec = tmp_path / "n.arch"
    spec.write_text("network n {\n    input x: [4]\n    linear(2)\n    relu\n    double\n"
                    "    output y\n}\n")
    proc = archlang_cli(env_with(tmp_path), "check", str(spec))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok: n: 10 params, 8 MACs; y: 2"
    lines = proc.stderr.splitlines()
    where = "from distribution `broken-ops 0.2` is skipped"
    assert lines == [
        (f"warning: plugin `elsewhere` (broken_ops:Relu) {where}: its op is named `relu`; an "
         "entry point must have the name of its op"),
        (f"warning: plugin `missing` (broken_ops.nothere:Missing) {where}: importing it "
         "failed: ModuleNotFoundError: No module named 'broken_ops.nothere'"),
        (f"warning: plugin `notop` (broken_ops:NOT_AN_OP) {where}: it names a value of type "
         "`int`, not an archlang Op subclass"),
        (f"warning: plugin `relu` (broken_ops:Relu) {where}: op name `relu` is already taken "
         "by the built-in op `relu`"),
    ], proc.stderr


def test_bad_plugin_option_is_a_usage_error(tmp_path):
    spec = tmp_path / "n.arch"
    spec.write_text("network n {\n    input x: [4]\n    relu\n    output y\n}\n")
    env = env_with(PLUGIN)
    cases = {
        "nosuch_module": "--plugin nosuch_module: no module named `nosuch_module`; install "
                         "the package that provides it, or add its directory to PYTHONPATH",
        "x/plugin.py": "--plugin x/plugin.py: `x/plugin.py` is not a module name (a plugin is "
                       "given by its dotted module name, never by a file path)",
        "archlang_vision_ops": "--plugin archlang_vision_ops: module `archlang_vision_ops` "
                               "registered no op; a plugin module calls "
                               "archlang.register_op(...) for each op when it is imported",
    }
    for module, message in cases.items():
        proc = archlang_cli(env, "check", str(spec), "--plugin", module)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", f"error: {message}\n")


def test_register_refuses_what_it_cannot_add():
    class Relu(Op):
        name = "relu"
        doc = "not the real relu"

    class Nameless(Op):
        doc = "no name"

    with pytest.raises(ValueError, match=r"op name `relu` is already taken by the built-in op"):
        register(Relu)
    with pytest.raises(TypeError, match="not a subclass"):
        register(int)
    with pytest.raises(TypeError, match="no `name`"):
        register(Nameless)

    class Callless(Op):
        name = "callless"
        doc = "stateless, with a module but no functional form"

        def torch_module(self, a, ins):
            return "nn.Identity()"

    with pytest.raises(TypeError, match="stateless and has no `torch_call`"):
        register(Callless)  # its unnamed uses would have no code to emit
    with pytest.raises(archlang.PluginError, match="not a module name"):
        archlang.use_plugin("../plugin.py")


SCAN_PROBE = """
import sys
import archlang
from archlang import plugins

scans = []
original = plugins.load_installed
plugins.load_installed = lambda: (scans.append(1), original())[1]
for name in ("resnet152", "googlenet", "densenet121", "efficientnet_b0", "inception_v3"):
    archlang.check(f"zoo:{name}")
print("scans before a plugin op:", len(scans))
spec = sys.argv[1]
archlang.check(spec)
print("after:", len(scans) > 0)
"""


def test_a_spec_without_plugin_ops_never_scans_the_installed_packages(installed):
    """Start-up: only a name that no built-in op, block or network has loads the installed
    plugins; the zoo's specs (blocks named Bottleneck, inits naming layers) never do."""
    spec = SPEC.read_text()
    proc = subprocess.run([sys.executable, "-c", SCAN_PROBE, spec], cwd=ROOT,
                          env=env_with(installed), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:2] == ["scans before a plugin op: 0", "after: True"]


def test_a_block_comes_before_an_installed_op_of_its_name(installed):
    """A spec's own block named like a plugin op is that block: installing a package never
    changes what a spec that defines its own names means."""
    spec = """block pixel_shuffle(c) { conv2d(c, 1) }
network n {
    input x: [8, 4, 4]
    pixel_shuffle(3)
    output y
}"""
    probe = ("import sys, archlang\nr = archlang.check(sys.argv[1])\n"
             "print(r.outputs['y'], r.params)")
    proc = subprocess.run([sys.executable, "-c", probe, spec], cwd=ROOT,
                          env=env_with(installed), capture_output=True, text=True,
                          timeout=120, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, "(3, 4, 4) 27"), proc.stderr
