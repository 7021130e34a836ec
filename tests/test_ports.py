"""Blocks with several inputs and outputs (docs/language.md, "Blocks with several inputs and
outputs"): what the checker infers, the code they compile to, and PyTorch as the oracle.

examples/pyramid.arch (a feature pyramid on a small backbone) is the running example: its
backbone block returns three maps, its top-down block takes two. Its generated code is a
golden; it passes ruff and torch.compile(fullgraph=True), and a feature pyramid written by
hand in torch, with the same state_dict, computes the same outputs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import golden_path

import archlang
from archlang.diagnostics import ArchError

ROOT = Path(__file__).resolve().parent.parent
PYRAMID = "examples/pyramid.arch"


def golden_files() -> set[Path]:
    """The goldens this file's tests compare with."""
    return {golden_path(PYRAMID, "pyramid", "py")}


@pytest.fixture(autouse=True)
def _root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is faster than a pool that waits on a busy machine."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_static_shapes_of_several_outputs():
    result = archlang.check(PYRAMID, inputs=(3, 37, 45))
    assert result.outputs == {"p2": (32, 19, 23), "p3": (32, 10, 12), "p4": (32, 5, 6)}
    backbone = next(s for s in result.graph.scopes if s.path == ("backbone",))
    assert [name for name, _ in backbone.outs] == ["c2", "c3", "c4"]
    assert result.graph.out_shapes(backbone) == [
        ("c2", (16, 19, 23)), ("c3", (32, 10, 12)), ("c4", (64, 5, 6))]
    down3 = next(s for s in result.graph.scopes if s.path == ("down3",))
    assert [name for name, _ in down3.ins] == ["coarse", "feature"]


def test_the_chain_value_is_the_first_input():
    """`m4 -> down3: TopDown(c3, out)` and `TopDown(m3, c2, out)` bind the same way."""
    g = archlang.check(PYRAMID, inputs=(3, 32, 32)).graph
    top = next(n for n in g.nodes if n.name == "top")
    down3 = next(s for s in g.scopes if s.path == ("down3",))
    down2 = next(s for s in g.scopes if s.path == ("down2",))
    assert down3.ins[0] == ("coarse", top.id)
    assert down2.ins[0] == ("coarse", down3.output)


SPEC = """
block Pair(w) {
    input a, b
    left = a -> conv2d(w, 1) -> batchnorm
    right = b -> conv2d(w, 1)
    output s = add(left, right)
    output d = right -> relu
}

block Tail {
    input x
    output y = x                  # an input given back
    output z = x -> relu
}

network n {
    input x: [4, 8, 8]
    input x2: [4, 8, 8]
    p, q = pair: Pair(x, x2, 8)
    p2, q2 = pair2: Pair(p, q, w=8)
    y1, z1 = tail: Tail(p2)
    use Pair(q2, y1, 8)           # inlined: its outputs `s` and `d` become names here
    output s
    output d
    output z1
    training output aux = p2 -> global_avgpool -> flatten -> linear(3)
}
"""


def test_use_binds_the_outputs_as_names():
    result = archlang.check(SPEC)
    assert set(result.outputs) == {"s", "d", "z1", "aux"}
    names = {n.name for n in result.graph.nodes}
    assert {"pair.0", "pair2.2", "3", "5"} <= names  # `use` numbers its layers in `n`


@pytest.mark.parametrize("spec", [PYRAMID, SPEC], ids=["pyramid", "pairs"])
def test_generated_module_computes_what_the_reference_build_does(spec):
    """The soundness property (archlang/soundness.py): the module loads, runs eval and
    training at the smallest input with the checked shapes and parameter count, and equals
    the build that runs nothing in place (outputs, gradients, batch-norm statistics)."""
    pytest.importorskip("torch")
    from archlang.soundness import check_property

    text = (ROOT / spec).read_text() if spec.endswith(".arch") else spec
    outcome = check_property(text)
    assert outcome.accepted and outcome.problem is None, outcome.problem


def test_generated_code_golden(golden):
    golden(PYRAMID, "pyramid", "py", archlang.compile_source(PYRAMID))


def _ruff() -> list[str]:
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(exe).exists():
        pytest.skip("ruff is not installed")
    return [exe]


@pytest.mark.parametrize("spec", [PYRAMID, SPEC], ids=["pyramid", "pairs"])
def test_generated_code_passes_ruff(tmp_path, spec):
    (tmp_path / "model.py").write_text(archlang.compile_source(spec))
    env = {**os.environ, "RUFF_NO_CACHE": "true"}
    for args in (["check", "--no-cache", "--isolated"], ["format", "--check", "--isolated"]):
        proc = subprocess.run([*_ruff(), *args, "model.py"], cwd=tmp_path, check=False,
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 0, f"ruff {' '.join(args)}:\n{proc.stdout}{proc.stderr}"


def hand_written_pyramid():
    """The same feature pyramid written directly in torch, with the spec's layer names."""
    import torch.nn.functional as F
    from torch import nn

    def stage(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU())

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.stage1, self.stage2, self.stage3 = stage(3, 16), stage(16, 32), stage(32, 64)

        def forward(self, x):
            c2 = self.stage1(x)
            c3 = self.stage2(c2)
            return c2, c3, self.stage3(c3)

    class TopDown(nn.Module):
        def __init__(self, cin):
            super().__init__()
            self.lateral = nn.Conv2d(cin, 32, 1)

        def forward(self, coarse, feature):
            lateral = self.lateral(feature)
            return lateral + F.interpolate(coarse, size=lateral.shape[-2:], mode="nearest")

    class Pyramid(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = Backbone()
            self.top = nn.Conv2d(64, 32, 1)
            self.down3, self.down2 = TopDown(32), TopDown(16)
            self.smooth2, self.smooth3, self.smooth4 = (nn.Conv2d(32, 32, 3, padding=1)
                                                        for _ in range(3))

        def forward(self, x):
            c2, c3, c4 = self.backbone(x)
            m4 = self.top(c4)
            m3 = self.down3(m4, c3)
            m2 = self.down2(m3, c2)
            return self.smooth2(m2), self.smooth3(m3), self.smooth4(m4)

    return Pyramid()


def test_pyramid_equals_a_hand_written_torch_pyramid():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = hand_written_pyramid()
    ours = archlang.load(PYRAMID)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert sum(p.numel() for p in ours.parameters()) == archlang.check(PYRAMID).params
    x = torch.randn(2, 3, 37, 45)  # odd sizes: each level is resized to the next one's
    static = archlang.check(PYRAMID, inputs=(3, 37, 45)).outputs
    for mode in ("eval", "train"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        a, b = ours(x), theirs(x)
        assert a._fields == ("p2", "p3", "p4")
        for name, mine, other in zip(a._fields, a, b):
            assert tuple(mine.shape) == (2, *static[name])
            torch.testing.assert_close(mine, other)


def test_pyramid_under_torch_compile_fullgraph():
    torch = pytest.importorskip("torch")
    model = archlang.load(PYRAMID).eval()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.randn(1, 3, 40, 36)
    with torch.no_grad():
        for mine, other in zip(compiled(x), model(x)):
            torch.testing.assert_close(mine, other)


def test_inference_build_of_blocks_with_several_outputs():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    trained = archlang.load(SPEC).eval()
    fast = archlang.load(SPEC, inference=True)
    fast.load_state_dict(trained.state_dict())
    x, x2 = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        for mine, other in zip(fast(x, x2), trained(x, x2)):
            torch.testing.assert_close(mine, other)


def test_language_server_hints_every_output():
    from archlang.lsp import analyse, inlay_hints

    text = (ROOT / PYRAMID).read_text()
    hints = {h.position.line: h.label for h in inlay_hints(analyse(text))}
    line = text[:text.index("c2, c3, c4 = backbone")].count("\n")
    assert hints[line].startswith("-> c2: 16 x 32 x 32, c3: 32 x 16 x 16, c4: 64 x 8 x 8")


def test_summary_lists_every_output():
    from click.testing import CliRunner

    from archlang.cli import main

    out = CliRunner().invoke(main, ["summary", PYRAMID, "--input", "3x64x64"]).stdout
    row = out[out.index("backbone (Backbone)"):].splitlines()[:3]
    for line, text in zip(row, ("c2: 16 x 32 x 32", "c3: 32 x 16 x 16", "c4: 64 x 8 x 8")):
        assert text in line


def test_unpacked_names_must_match_the_outputs():
    with pytest.raises(ArchError) as e:
        archlang.check(SPEC.replace("p, q = pair:", "p, q, r = pair:"))
    assert [d.code for d in e.value.diagnostics] == ["E014"]
    assert "`Pair` gives 2 outputs (s, d), 3 names bind them" in str(e.value)


def test_diagram_names_the_ports_of_a_folded_block():
    from archlang.backends.graphviz import Diagram

    dot = Diagram(archlang.check(PYRAMID).graph, depth=1).source
    assert 'out: <BR/>c2: 16 x 32 x 32<BR/>c3: 32 x 16 x 16<BR/>c4: 64 x 8 x 8' in dot
    assert "out: c2: 16 x 32 x 32, c3: 32 x 16 x 16, c4: 64 x 8 x 8\\n" in dot  # tooltip
    # backbone (s1) -> top (n10), down3 (s5), down2 (s6); top -> down3's input `coarse`
    assert 's1 -> n10 [label="c4: 64 x 8 x 8"];' in dot
    assert 's1 -> s5 [label="c3: 32 x 16 x 16"];' in dot
    assert 's1 -> s6 [label="c2: 16 x 32 x 32"];' in dot
    assert 'n10 -> s5 [label="coarse: 32 x 8 x 8"];' in dot
