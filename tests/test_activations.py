"""The activations of post-2016 CNNs (relu6, hardtanh, hardswish, hardsigmoid, silu, mish):
in place where torchvision writes them in place, exact against the out-of-place build, and
found by near-miss suggestions. Each op's values against torch are in test_ops_oracle.py."""

from __future__ import annotations

import pytest

import archlang
from archlang.diagnostics import ArchError
from archlang.ops.registry import OPS

torch = pytest.importorskip("torch")

from archlang.backends.pytorch import Generator
from archlang.loader import _module_from_source

#: op -> the torch module archlang writes after a conv2d/batchnorm (whose output is dead)
AFTER_BN = {
    "relu6": "nn.ReLU6(inplace=True)",
    "hardtanh(0, 6)": "nn.Hardtanh(min_val=0.0, max_val=6.0, inplace=True)",
    "hardswish": "nn.Hardswish(inplace=True)",
    "silu": "nn.SiLU(inplace=True)",
    "mish": "nn.Mish(inplace=True)",
    # torchvision's squeeze-excitation gate is nn.Hardsigmoid(), never in place
    "hardsigmoid": "nn.Hardsigmoid()",
}


def spec(act: str) -> str:
    return f"""network n {{
    input x: [3, 8, 8]
    stem: [conv2d(8, 3, padding=1, bias=false), batchnorm, {act}]
    conv: conv2d(8, 1)
    act: {act}
    fc: [global_avgpool, flatten, linear(4)]
    output y
}}"""


def build(text: str, inplace: bool):
    graph = archlang.check(text).graph
    gen = Generator(graph, inplace)
    source = gen.generate()
    return getattr(_module_from_source(source, graph.network), gen.class_name), source


@pytest.mark.parametrize("act", sorted(AFTER_BN))
def test_module_as_torchvision_writes_it(act):
    source = archlang.compile_source(spec(act))
    want = AFTER_BN[act]
    # in a numbered Sequential (Conv2dNormActivation) and as a labelled layer
    flat = " ".join(source.split()).replace("( ", "(").replace(", )", ")")
    assert f"nn.BatchNorm2d(8), {want})" in flat, source
    assert f"self.act = {want}" in source, source


@pytest.mark.parametrize("act", sorted(AFTER_BN))
def test_in_place_equals_out_of_place(act):
    """Outputs and gradients of the in-place build equal the all-out-of-place build's,
    bit for bit (autograd keeps what each in-place backward needs)."""
    Fast, _source = build(spec(act), True)
    Ref, ref_source = build(spec(act), False)
    assert "inplace=True" not in ref_source
    torch.manual_seed(0)
    fast, ref = Fast(), Ref()
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(2, 3, 8, 8) * 4  # reach the flat parts of the hard functions
    for mode in (False, True):
        fast.train(mode)
        ref.train(mode)
        a, b = fast(x.clone()), ref(x.clone())
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    a.square().sum().backward()
    b.square().sum().backward()
    for (name, p), q in zip(fast.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0, msg=name)


def test_not_in_place_on_a_live_value():
    """A value read again later (a squeeze-excitation input) is never overwritten."""
    text = """network n {
    input x: [4, 6, 6]
    h = x -> conv2d(4, 1)
    g = h -> hardswish -> conv2d(4, 1)
    output s = add(h, g)
}"""
    source = archlang.compile_source(text)
    assert "out = F.hardswish(h)  #" in source, source  # not in place, not into `h`


def test_torch_inplace_argument_is_refused():
    text = "network n { input x: [3]; relu6(inplace=true); output y }"
    with pytest.raises(ArchError) as e:
        archlang.check(text)
    assert e.value.codes == ["E011"]


def test_hardtanh_needs_max_above_min():
    with pytest.raises(ArchError) as e:
        archlang.check("network n { input x: [3]; hardtanh(1, 0.5); output y }")
    assert e.value.codes == ["E016"]
    assert "must be greater than `min_val`" in str(e.value)


@pytest.mark.parametrize("typo,want", [("hardswsh", "hardswish"), ("hard_swish", "hardswish"),
                                       ("relu_6", "relu6"), ("hardsigmod", "hardsigmoid"),
                                       ("mesh", "mish")])
def test_near_misses_suggest_the_op(typo, want):
    with pytest.raises(ArchError) as e:
        archlang.check(f"network n {{ input x: [3]; {typo}; output y }}")
    (diag,) = e.value.diagnostics
    assert diag.code == "E010"
    assert diag.help[0].startswith(f"did you mean `{want}`"), diag.help


def test_family_and_names():
    for name in ("relu6", "hardtanh", "hardswish", "hardsigmoid", "silu", "mish"):
        assert OPS[name].family == "act"
