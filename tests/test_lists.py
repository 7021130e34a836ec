"""Lists of modules and unnumbered items (docs/language.md, "Lists of modules: items named
where they are applied" and "Layers without a number"): what the checker names, the code
they compile to, and PyTorch as the oracle.

`convs.{i}: ...` adds item i to the list `convs` of its scope wherever it is applied, so two
lists may interleave as timm's Res2Net interleaves `convs` and `bns`; the generated module
registers each list as an nn.ModuleList (an nn.ModuleDict where the inference build folded
some items away) and calls `self.convs[i]`. `_: relu` applies a layer that takes no name and
no number, so the numbered items around it keep torch's indices.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import archlang

#: a Res2Net-like split: two lists whose items interleave, one reopened after the loop; an
#: MLP whose ReLUs take no number (DETR's MLP: an nn.ModuleList of linears, F.relu between)
SPEC = """
block Split(width, n=3) {
    conv1: conv2d(width * n, 1, bias=false)
    bn1: batchnorm
    relu
    narrow(0, 0, width)
    for i in range(n - 1) {
        convs.{i}: conv2d(width, 3, padding=1, bias=false)
        bns.{i}: batchnorm
        _: relu
    }
    convs.{n - 1}: conv2d(width, 1)
}

network split(width=4) {
    input x: [8, 6, 6]
    block: Split(width)
    flatten
    head: [linear(16), _: relu, linear(16), _: relu, linear(3)]
    output y
}
"""


@pytest.fixture(autouse=True)
def _one_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_names_of_list_items_and_unnumbered_items():
    g = archlang.check(SPEC).graph
    names = [n.name for n in g.nodes if not n.implicit and not n.is_input]
    assert names[:9] == ["block.conv1", "block.bn1", "block.2", "block.3",
                         "block.convs.0", "block.bns.0", "block.convs.1", "block.bns.1",
                         "block.convs.2"]
    assert "block.convs.2" in names
    # `_: relu` takes no number: the head's linears are 0, 1, 2 as in an nn.ModuleList
    assert [n for n in names if n.startswith("head.")] == ["head.0", "head.1", "head.2"]


def reference():
    """The same network written in torch, with timm's and DETR's layouts."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Split(nn.Module):
        def __init__(self, width, n=3):
            super().__init__()
            self.width = width
            self.conv1 = nn.Conv2d(8, width * n, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width * n)
            self.convs = nn.ModuleList([
                *(nn.Conv2d(width, width, 3, padding=1, bias=False) for _ in range(n - 1)),
                nn.Conv2d(width, width, 1)])
            self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(n - 1))

        def forward(self, x):
            y = torch.narrow(F.relu(self.bn1(self.conv1(x))), 1, 0, self.width)
            for conv, bn in zip(self.convs, self.bns):
                y = F.relu(bn(conv(y)))
            return self.convs[-1](y)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Split(4)
            self.head = nn.ModuleList([nn.Linear(144, 16), nn.Linear(16, 16), nn.Linear(16, 3)])

        def forward(self, x):
            x = self.block(x).flatten(1)
            for layer in self.head[:-1]:
                x = F.relu(layer(x))
            return self.head[-1](x)

    return Net()


def test_equals_a_hand_written_torch_module():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = reference()
    ours = archlang.load(SPEC)
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, 8, 6, 6)
    for mode in ("eval", "train"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


def test_generated_code():
    source = archlang.compile_source(SPEC)
    assert "self.convs = nn.ModuleList(" in source
    assert "self.bns = nn.ModuleList([nn.BatchNorm2d(4), nn.BatchNorm2d(4)])" in source
    assert "x = self.convs[0](x)" in source and "x = self.bns[1](x)" in source
    # the head's linears, numbered 0, 1, 2 around functional ReLUs: an nn.ModuleList
    assert "class Head(nn.ModuleList):" in source and "x = self[2](x)" in source
    assert "super().__init__([nn.Linear(144, 16), nn.Linear(16, 16), nn.Linear(16, 3)])" \
        in source


def _ruff() -> list[str]:
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(exe).exists():
        pytest.skip("ruff is not installed")
    return [exe]


def test_generated_code_passes_ruff(tmp_path):
    (tmp_path / "model.py").write_text(archlang.compile_source(SPEC))
    env = {**os.environ, "RUFF_NO_CACHE": "true"}
    for args in (["check", "--no-cache", "--isolated"], ["format", "--check", "--isolated"]):
        proc = subprocess.run([*_ruff(), *args, "model.py"], cwd=tmp_path, check=False,
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 0, f"ruff {' '.join(args)}:\n{proc.stdout}{proc.stderr}"


def test_torch_compile_fullgraph():
    torch = pytest.importorskip("torch")
    model = archlang.load(SPEC).eval()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


#: one BN of a list folds (its conv feeds only it), the other does not: the inference build
#: keeps `bns.1` alone, so its list is an nn.ModuleDict with the training build's key
PARTLY_FOLDED = """
network folded {
    input x: [4, 5, 5]
    a = x -> convs.0: conv2d(4, 3, padding=1) -> bns.0: batchnorm
    b = a -> convs.1: conv2d(4, 3, padding=1)
    c = b -> bns.1: batchnorm
    output y = add(b, c)
}
"""


def test_inference_build_keeps_the_names_of_a_partly_folded_list():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    trained = archlang.load(PARTLY_FOLDED)
    with torch.no_grad():
        for m in trained.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    trained.eval()
    source = archlang.compile_source(PARTLY_FOLDED, inference=True)
    assert 'self.bns = nn.ModuleDict({"1": nn.BatchNorm2d(4)})' in source
    assert 'self.bns["1"](' in source
    fast = archlang.load(PARTLY_FOLDED, inference=True).eval()
    fast.load_state_dict(trained.state_dict())
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), trained(x))


def test_lists_of_blocks_and_groups():
    """A list's items may be block instances and groups: an nn.ModuleList of modules."""
    torch = pytest.importorskip("torch")
    spec = """
block Unit(c) {
    conv: conv2d(c, 3, padding=1)
    relu
}

network stages {
    input x: [3, 8, 8]
    for i in range(2) {
        stages.{i}: Unit(4 * (i + 1))
        heads.{i}: [conv2d(2, 1), relu]
    }
    output y
}
"""
    model = archlang.load(spec)
    assert [k for k in model.state_dict()] == [
        "stages.0.conv.weight", "stages.0.conv.bias", "stages.1.conv.weight",
        "stages.1.conv.bias", "heads.0.0.weight", "heads.0.0.bias", "heads.1.0.weight",
        "heads.1.0.bias"]
    assert isinstance(model.stages, torch.nn.ModuleList)
    assert tuple(model(torch.randn(1, 3, 8, 8)).shape) == (1, 2, 8, 8)


def test_summary_and_language_server():
    from archlang.lsp import analyse, definition, references, symbols

    r = archlang.check(SPEC)
    assert r.shape("block.convs.1") == (4, 6, 6)
    text = SPEC
    a = analyse(text)
    at = text.index("bns.{i}")
    spans = [(s, e) for _, s, e in references(a, at)]
    assert [text[s:e] for s, e in spans] == ["bns"]
    first = text.index("convs.{i}")
    later = text.index("convs.{n - 1}")
    assert [(s, e) for _, s, e in definition(a, later + 1)] == [(first, first + 5)]
    block = next(s for s in symbols(a) if s.name == "Split")
    assert [(c.name, c.detail) for c in block.children if c.detail == "list"] == [
        ("convs", "list"), ("bns", "list"), ("convs", "list")]


def test_init_targets_a_list_or_one_item():
    """`init convs.weight` reaches every item of the list, `init bns.1.bias` one item."""
    torch = pytest.importorskip("torch")
    spec = SPEC.replace("    convs.{n - 1}: conv2d(width, 1)\n",
                        "    convs.{n - 1}: conv2d(width, 1)\n"
                        "    init convs.weight: zeros\n    init bns.1.bias: ones\n")
    model = archlang.load(spec)
    assert all(not conv.weight.any() for conv in model.block.convs)
    assert torch.equal(model.block.bns[1].bias, torch.ones(4))
    assert not model.block.bns[0].bias.any()


def test_list_with_a_computed_name():
    """A list named `stage1-a` (a computed name with `-`) is registered with add_module and
    read with getattr, a call the generated-code allow-list admits."""
    torch = pytest.importorskip("torch")
    from archlang.codecheck import unsafe_code

    spec = """
network n {
    input x: [4, 6, 6]
    for i in range(2) {
        stage{1}-a.{i}: conv2d(4, 1)
        relu
    }
    output y
}
"""
    source = archlang.compile_source(spec)
    assert 'x = getattr(self, "stage1-a")[1](x)' in source
    assert unsafe_code(source) is None
    model = archlang.load(spec)
    assert list(model.state_dict())[:2] == ["stage1-a.0.weight", "stage1-a.0.bias"]
    assert tuple(model(torch.randn(1, 4, 6, 6)).shape) == (1, 4, 6, 6)
