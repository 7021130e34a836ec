"""Ensembles: networks used as layers, averaged by `average { }`."""

from __future__ import annotations

from pathlib import Path

import pytest

import archlang
from archlang.diagnostics import ArchError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ensemble.arch"


def test_static_counts_add_up():
    whole = archlang.check(EXAMPLE, "ensemble")
    a = archlang.check(EXAMPLE, "narrow_deep")
    b = archlang.check(EXAMPLE, "wide_shallow")
    assert whole.params == a.params + b.params
    assert whole.macs == a.macs + b.macs
    assert whole.outputs == {"logits": (10,)}
    assert whole.shape("deep.fc") == (10,)


def test_ensemble_output_is_the_mean_of_its_members():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ensemble = archlang.load(EXAMPLE, "ensemble").eval()
    deep = archlang.load(EXAMPLE, "narrow_deep").eval()
    wide = archlang.load(EXAMPLE, "wide_shallow").eval()
    state = ensemble.state_dict()
    deep.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("deep.")})
    wide.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("wide.")})
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ensemble(x), (deep(x) + wide(x)) / 2)


def test_torchvision_members_load_their_checkpoints():
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    r18, r34 = tv.models.resnet18().eval(), tv.models.resnet34().eval()
    ensemble = archlang.load(ROOT / "specs" / "ensembles.arch", "resnet18_34").eval()
    state = {f"resnet18.{k}": v for k, v in r18.state_dict().items()}
    state.update({f"resnet34.{k}": v for k, v in r34.state_dict().items()})
    ensemble.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ensemble(x), (r18(x) + r34(x)) / 2)


def test_alexnet_pair_is_twice_alexnet():
    pair = archlang.check(ROOT / "specs" / "ensembles.arch", "alexnet_x2")
    assert pair.params == 2 * 61_100_840
    assert pair.macs == 2 * 714_188_480


SPEC = """
network a(n=10) {{
    input x: [3, 16, 16]
    global_avgpool; flatten
    fc: linear(n)
    output y
}}
network b {{
    input x: [{shape}]
    global_avgpool; flatten
    fc: linear(10)
    output y
}}
network e {{
    input x: [3, 16, 16]
    average {{
        m1: a({n})
        m2: b
    }}
    output y
}}
"""


def test_members_must_agree_in_output_shape():
    with pytest.raises(ArchError) as info:
        archlang.check(SPEC.format(n=12, shape="3, 16, 16"), "e")
    assert info.value.codes == ["E020"]


def test_member_input_shape_is_checked():
    with pytest.raises(ArchError) as info:
        archlang.check(SPEC.format(n=10, shape="3, 32, 32"), "e")
    assert info.value.codes == ["E021"]
    assert "expects input [3, 32, 32]" in info.value.render()


def test_recursive_networks_are_rejected():
    spec = "network r {\n input x: [3]\n r\n output y\n}\n"
    with pytest.raises(ArchError) as info:
        archlang.check(spec)
    assert info.value.codes == ["E055"]
