"""Symbolic input sizes: shapes as expressions, constraints, checked against torch."""

from __future__ import annotations

from pathlib import Path

import pytest

import archlang
from archlang.analysis import dims as D
from archlang.analysis.dims import Sym

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "symbolic.arch"


def test_shapes_are_expressions():
    r = archlang.check(SPEC)
    assert str(r.shape("stem")[1]) == "(H-5)//2"
    assert str(r.shape("merged")[2]) == "(W-5)//8"
    assert r.outputs["logits"] == (10,)
    assert not isinstance(r.macs, int)
    assert r.totals.smallest_input == {"H": 13, "W": 13}
    assert r.totals.constraints["H"] == "H >= 13 and H % 8 in {5, 6}"


def test_concrete_sizes_agree_with_the_constraint():
    r = archlang.check(SPEC)
    c = r.graph.constraints["H"]
    for size in range(1, 60):
        ok = c.admits(size)
        try:
            archlang.check(SPEC, inputs=(3, size, size))
        except archlang.ArchError:
            assert not ok, size
        else:
            assert ok, size


def test_symbolic_macs_equal_concrete_macs():
    r = archlang.check(SPEC)
    for size in (13, 21, 29, 61, 101, 229):
        concrete = archlang.check(SPEC, inputs=(3, size, size + 8))
        assert D.count_at(r.macs, {"H": size, "W": size + 8}) == concrete.macs


@pytest.mark.parametrize("k,s,p,ceil", [(3, 2, 1, False), (3, 2, 0, True), (2, 2, 0, True),
                                        (5, 3, 2, False), (7, 2, 3, False), (3, 1, 1, True)])
def test_window_rule_matches_integers(k, s, p, ceil):
    spec = f"""network n {{
        input x: [1, H, W]
        maxpool2d({k}, stride={s}, padding={p}, ceil_mode={'true' if ceil else 'false'})
        output y
    }}"""
    r = archlang.check(spec)
    h = r.outputs["y"][1]
    for size in range(r.totals.smallest_input["H"], 80):
        concrete = archlang.check(spec, inputs=(1, size, size)).outputs["y"][1]
        assert (h.at(size) if isinstance(h, Sym) else h) == concrete


def test_torch_agrees_at_several_sizes():
    torch = pytest.importorskip("torch")
    model = archlang.load(SPEC).eval()
    r = archlang.check(SPEC)
    c = r.graph.constraints["H"]
    checked = 0
    for size in range(1, 70):
        x = torch.randn(1, 3, size, size)
        if c.admits(size):
            with torch.no_grad():
                assert tuple(model(x).shape) == (1, 10)
            checked += 1
        else:
            with pytest.raises(RuntimeError):
                model(x)
    assert checked >= 10
    # every intermediate shape at a concrete size equals the symbolic expression there
    size = 45
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=name: seen.__setitem__(n, o.shape))
             for name, m in model.named_modules() if name]
    with torch.no_grad():
        model(torch.randn(1, 3, size, size + 8))
    for h in hooks:
        h.remove()
    env = {"H": size, "W": size + 8}
    for name, shape in seen.items():
        static = r.shape(name)
        assert tuple(shape[1:]) == tuple(D.evaluate(d, env) for d in static), name
