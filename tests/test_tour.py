"""docs/tour.md tells the truth: its commands print what it quotes, its numbers are archlang's.

- Every ```console block is run by tests/test_docs.py like every doc's: the lines after each
  `$ archlang ...` line must be its output exactly. `pytest --update-goldens` rewrites those
  outputs (review the diff: the prose may then need new numbers, which the tests here check).
  Here every command of the tour must be an `archlang` command.
- Every number in the prose (outside code) that has a thousands separator, a decimal point or
  three digits or more must occur in the output of a command of the same `## ` section, or be
  one of the DERIVED numbers below, which are recomputed here from archlang's own answers.
  Other claims of the prose are asserted in test_prose_claims.
- Every ```arch block is text from specs/ or examples/tour/, and the blocks that
  examples/tour/ copies from specs/ are verbatim copies.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

import archlang
from archlang.cli import main
from archlang.limits import Limits
from archlang.program import load_program

ROOT = Path(__file__).resolve().parent.parent
TOUR = ROOT / "docs" / "tour.md"
TOUR_SPECS = ROOT / "examples" / "tour"

CONSOLE = re.compile(r"```console\n(.*?)```", re.DOTALL)
FENCE = re.compile(r"```.*?```", re.DOTALL)
# Prose numbers to check: 1,234 or 12.5 or 742 (three digits or more), but not the 1.5 of
# "v1.5", digits inside a name like conv5x5, an issue number (vision#906), a section number
# ("section 3.2"), an arXiv id or a year.
NUMBER = re.compile(r"""
    (?<![\w.\#]) (?<!\d,) (?<!section\ ) (?<!arXiv\ ) (?!(?:19|20)\d\d\b)
    (\d{1,3}(?:,\d{3})+ | \d+\.\d+ | \d{3,})
    (?!\w|[.,]\d)
""", re.VERBOSE)
# Code in the prose (`Inception(64, 96, 128, ...)`) is spec text, not archlang's output.
INLINE_CODE = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    return INLINE_CODE.sub("", FENCE.sub("", text))


@pytest.fixture(autouse=True)
def _root(monkeypatch):
    monkeypatch.chdir(ROOT)


def run(command: str) -> str:
    result = CliRunner().invoke(main, shlex.split(command), catch_exceptions=False)
    assert result.exit_code == 0, f"$ archlang {command}\n{result.output}"
    return result.output


def commands(block: str) -> list[tuple[str, str]]:
    """(command after `$ archlang `, quoted output) for each command of a console block."""
    out = []
    for chunk in re.split(r"^(?=\$ )", block, flags=re.MULTILINE):
        if not chunk:
            continue
        first, _, rest = chunk.partition("\n")
        assert first.startswith("$ archlang "), f"not an archlang command: {first!r}"
        out.append((first[len("$ archlang "):], rest))
    return out


def sections() -> list[tuple[str, str]]:
    """(heading, text) per `## ` section of the tour."""
    parts = re.split(r"^(?=## )", TOUR.read_text(), flags=re.MULTILINE)
    return [(p.splitlines()[0], p) for p in parts]


def tour_commands() -> list[str]:
    return [cmd for m in CONSOLE.finditer(TOUR.read_text()) for cmd, _ in commands(m.group(1))]


def test_tour_runs_archlang_commands():
    assert len(CONSOLE.findall(TOUR.read_text())) >= 7
    assert tour_commands()


def _params(spec: str, net: str, **kw) -> int:
    return archlang.check(spec, net, **kw).params


def _macs(spec: str, net: str, **kw) -> int:
    return archlang.check(spec, net, **kw).macs


def _totals(spec: str, net: str, **kw):
    return archlang.check(spec, net, **kw).totals


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.1f}"


K, R, G, V, N = ("examples/tour/kernels.arch", "examples/tour/resnet_blocks.arch",
                 "specs/googlenet.arch", "specs/vgg.arch", "specs/resnet.arch")
RED, GAP = "examples/tour/reduce.arch", "examples/tour/gap.arch"
SEP, EFF, MOB = ("examples/tour/separable.arch", "examples/tour/efficientnet.arch",
                 "specs/mobilenet.arch")
B0, CNX, REG = "specs/efficientnet.arch", "specs/convnext.arch", "specs/regnet.arch"
SEG, DET, UNET = "specs/segmentation.arch", "specs/detection.arch", "specs/unet.arch"
AT_520 = (3, 520, 520)   # torchvision's evaluation size of its segmentation weights


def _layers(spec: str, net: str) -> list[dict]:
    """Every row of the summary's layer tree, as `archlang summary --format json` gives it."""
    return json.loads(run(f"summary {spec} --network {net} --depth 99 --format json"))["layers"]


@functools.cache
def _macs_by_layer(spec: str, net: str, size: str) -> dict[str, int]:
    rows = json.loads(run(f"summary {spec} --network {net} --input {size} --depth 99 "
                          "--format json"))["layers"]
    return {r["name"]: r["macs"] for r in rows}


def _layer_macs(spec: str, net: str, name: str, size: str = "3x520x520") -> int:
    """MACs of one row of the summary's layer tree at an input size."""
    return _macs_by_layer(spec, net, size)[name]


def _share(part: int, whole: int, digits: int = 1) -> str:
    return f"{100 * part / whole:.{digits}f}"


def _se(spec: str, net: str) -> tuple[int, int]:
    """Params and MACs of a network's squeeze-excitation blocks, together."""
    rows = [r for r in _layers(spec, net) if r["type"] == "SqueezeExcitation"]
    return sum(r["params"] for r in rows), sum(r["macs"] for r in rows)


def _scaled(**kw) -> tuple[str, str]:
    """Params and MACs of B0 scaled by the tour's `efficientnet`, as multiples of B0's."""
    base, scaled = archlang.check(EFF, "efficientnet"), archlang.check(EFF, "efficientnet", **kw)
    return _ratio(scaled.params, base.params), _ratio(scaled.macs, base.macs)

# Numbers the prose derives from archlang's answers (differences, ratios), recomputed.
DERIVED = {
    # section 2: the 1x1 reduction cuts the 5x5 branch's MACs about tenfold
    "9.7": lambda: _ratio(_macs(RED, "branch5x5"), _macs(RED, "branch5x5_reduced")),
    # section 4: the GAP head against VGG-16's fully connected one
    "9.1": lambda: _ratio(_params(V, "vgg16"), _params(GAP, "vgg16_gap")),
    # section 5: v1 against v1.5, one block and the whole network
    "77,070,336": lambda: f"{_macs(R, 'layer2_0_v1_5') - _macs(R, 'layer2_0_v1'):,}",
    "231,211,008": lambda: f"{_macs(N, 'resnet50') - _macs(N, 'resnet50_v1'):,}",
    # section 6: what the two auxiliary heads cost
    "6,379,984": lambda: f"{_params(G, 'googlenet') - _params(G, 'googlenet', aux_logits=False):,}",
    "8,372,224": lambda: f"{_totals(G, 'googlenet').macs_train - _macs(G, 'googlenet'):,}",
    # section 7: what batch norm adds to VGG-11
    "5,504": lambda: f"{_params(V, 'vgg11_bn') - _params(V, 'vgg11'):,}",
    # section 8: a 3x3 conv against a depthwise-separable one
    "8.4": lambda: _ratio(_params(SEP, "conv3x3"), _params(SEP, "separable")),
    # section 9: ResNet-50's MACs against MobileNetV2's
    "13.6": lambda: _ratio(_macs(N, "resnet50"), _macs(MOB, "mobilenet_v2")),
    # section 10: what squeeze-excitation costs in one MBConv block, and in all of B0's
    "16.1": lambda: _share(_se(EFF, "mbconv")[0], _params(EFF, "mbconv")),
    "0.02": lambda: _share(_se(EFF, "mbconv")[1], _macs(EFF, "mbconv"), 2),
    "12.0": lambda: _share(_se(B0, "efficientnet_b0")[0], _params(B0, "efficientnet_b0")),
    "0.16": lambda: _share(_se(B0, "efficientnet_b0")[1], _macs(B0, "efficientnet_b0"), 2),
    # section 11: B0 scaled in one dimension, and in all three (B7)
    "3.4": lambda: _scaled(width=2.0)[0],
    "3.8": lambda: _scaled(width=2.0)[1],
    "3.3": lambda: _scaled(depth=3.1)[0],
    "3.5": lambda: _scaled(depth=3.1)[1],
    "7.3": lambda: _scaled(size=600)[1],
    "12.5": lambda: _scaled(width=2.0, depth=3.1, size=600)[0],
    "97.8": lambda: _scaled(width=2.0, depth=3.1, size=600)[1],
    # section 12: B0's drop probability grows by stochastic_depth_prob / blocks per block
    "0.0125": lambda: str(archlang.check(B0, "efficientnet_b0").graph.params["stochastic_depth_prob"]
                          / len([r for r in _layers(B0, "efficientnet_b0")
                                 if r["type"] == "MBConv"])),
    # section 14: what an upsampling by two would give P4 at 800 x 1333, beside P3's 167
    "168": lambda: str(2 * archlang.check(DET, "resnet_fpn_backbone", inputs=(3, 800, 1333))
                       .outputs["p4"][2]),
    # section 15: the dilated backbone against the classifier at 520 x 520 (its layer4, and
    # the whole backbone against the whole classifier); LR-ASPP against DeepLabV3-ResNet-50
    "13.3": lambda: _ratio(_layer_macs(SEG, "deeplabv3_resnet50", "backbone.layer4"),
                           _layer_macs(N, "resnet50", "layer4")),
    "4.5": lambda: _ratio(_layer_macs(SEG, "deeplabv3_resnet50", "backbone"),
                          _macs(N, "resnet50", inputs=AT_520)),
    "80.9": lambda: _ratio(_macs(SEG, "deeplabv3_resnet50", inputs=AT_520),
                           _macs(SEG, "lraspp_mobilenet_v3_large", inputs=AT_520)),
}


@pytest.mark.parametrize("number", list(DERIVED))
def test_derived_numbers_are_recomputed(number):
    assert DERIVED[number]() == number
    assert number in NUMBER.findall(prose(TOUR.read_text())), \
        f"{number} is no longer quoted in docs/tour.md: remove it from DERIVED"


def _section_id(heading: str) -> str:
    m = re.match(r"## (\d+)\.", heading)
    return f"section{m.group(1)}" if m else "introduction"


@pytest.mark.parametrize("heading", [h for h, _ in sections()], ids=_section_id)
def test_prose_numbers_are_printed_by_archlang(heading):
    text = dict(sections())[heading]
    outputs = "".join(run(cmd) for m in CONSOLE.finditer(text)
                      for cmd, _ in commands(m.group(1)))
    printed = set(NUMBER.findall(outputs))
    failures = [number for number in NUMBER.findall(prose(text))
                if number not in printed and number not in DERIVED]
    assert not failures, f"numbers in the prose of docs/tour.md's {heading!r} that archlang " \
        f"does not print in the same section: {failures}"


def test_prose_claims():
    # section 1: 25 against 18 weights per channel pair, exactly, and MACs in the same ratio
    assert (_params(K, "conv5x5"), _params(K, "conv3x3_twice")) == (64 * 64 * 25, 64 * 64 * 18)
    assert _macs(K, "conv5x5") * 18 == _macs(K, "conv3x3_twice") * 25
    # section 5: v1 and v1.5 have the same parameters; in ResNet-50 the first blocks of
    # layer2, layer3 and layer4 each differ by the same MACs as the block of the tour
    assert _params(R, "layer2_0_v1") == _params(R, "layer2_0_v1_5")
    assert _params(N, "resnet50") == _params(N, "resnet50_v1")
    block = _macs(R, "layer2_0_v1_5") - _macs(R, "layer2_0_v1")
    stages = {}
    for net in ("resnet50", "resnet50_v1"):
        rows = json.loads(run(f"summary {N} --network {net} --depth 1 --format json"))["layers"]
        stages[net] = {r["name"]: r["macs"] for r in rows if r["name"].startswith("layer")}
    assert {k: stages["resnet50"][k] - stages["resnet50_v1"][k] for k in stages["resnet50"]} \
        == {"layer1": 0, "layer2": block, "layer3": block, "layer4": block}
    # section 6: the aux heads are almost half of the training parameters
    aux = _params(G, "googlenet") - _params(G, "googlenet", aux_logits=False)
    assert 0.45 < aux / _params(G, "googlenet") < 0.5


def test_prose_claims_after_resnet():
    # section 8: 128 * 128 * 9 weights against 128 * 9 + 128 * 128, MACs in the same ratio
    assert (_params(SEP, "conv3x3"), _params(SEP, "separable")) \
        == (128 * 128 * 9, 128 * 9 + 128 * 128)
    assert _macs(SEP, "conv3x3") * _params(SEP, "separable") \
        == _macs(SEP, "separable") * _params(SEP, "conv3x3")
    # section 9: the block expands 24 channels six times; MobileNetV2 has about a seventh of
    # ResNet-50's parameters
    shapes = {r["name"]: r["shape"] for r in _layers(
        "examples/tour/inverted_residual.arch", "inverted_residual")}
    assert shapes["block.conv.0.0"] == [6 * 24, 56, 56] and shapes["block.add"] == [24, 56, 56]
    assert 6.5 < _params(N, "resnet50") / _params(MOB, "mobilenet_v2") < 7.5
    # section 10: B0 has sixteen blocks, each with a squeeze-excitation
    b0 = _layers(B0, "efficientnet_b0")
    blocks = [r["name"] for r in b0 if r["type"] == "MBConv"]
    assert len(blocks) == len([r for r in b0 if r["type"] == "SqueezeExcitation"]) == 16
    # section 11: the last row of the sweep is efficientnet_b7; the input size alone leaves
    # the parameters as they are
    corner = archlang.check(EFF, "efficientnet", width=2.0, depth=3.1, size=600)
    assert (corner.params, corner.macs) == (_params(B0, "efficientnet_b7"),
                                            _macs(B0, "efficientnet_b7"))
    assert _params(EFF, "efficientnet", size=600) == _params(EFF, "efficientnet")
    # section 12: nine of the sixteen blocks have a stochastic depth, block k's with
    # probability 0.2 * k / 16, and the last has none
    graph = archlang.check(B0, "efficientnet_b0").graph
    drops = {".".join(n.path[:-1]): n.attrs.p for n in graph.nodes if n.op == "stochastic_depth"}
    assert len(drops) == 9 and blocks[-1] not in drops
    assert drops == {name: 0.2 * blocks.index(name) / 16 for name in drops}
    assert (drops["features.2.1"], drops["features.6.3"]) == pytest.approx((0.025, 0.175))
    # section 13: the third of convnext_tiny's stages holds 9 of its 18 blocks; the stages
    # of regnet_x_400mf hold 1, 2, 7 and 12 blocks of 32, 64, 160 and 400 channels
    cn = [r["name"] for r in _layers(CNX, "convnext_tiny") if r["type"] == "CNBlock"]
    assert len(cn) == 18 and len([n for n in cn if n.startswith("features.5.")]) == 9
    rows = _layers(REG, "regnet_x_400mf")
    stages = [r for r in rows if r["depth"] == 2 and r["name"].startswith("trunk_output.")]
    assert [(len([b for b in rows if b["type"] == "ResBottleneckBlock"
                  and b["name"].startswith(s["name"] + ".")]), s["shape"][0])
            for s in stages] == [(1, 32), (2, 64), (7, 160), (12, 400)]


def test_prose_claims_dense_prediction():
    # section 14: the frozen norms' scale, shift, mean and variance are four buffers per
    # channel, and all of the network's buffers
    fpn = archlang.check(DET, "resnet_fpn_backbone", inputs=(3, 224, 224))
    frozen = [n for n in fpn.graph.nodes if n.op == "frozen_batchnorm"]
    assert frozen and fpn.totals.buffers == 4 * sum(n.shape[0] for n in frozen)
    assert [fpn.outputs[k] for k in ("p2", "pool")] == [(256, 56, 56), (256, 4, 4)]
    # section 15: the dilated backbone has ResNet-50's weights less fc's; at any size the
    # output has the input's; LR-ASPP does five times fewer MACs than DeepLabV3 on the same
    # backbone
    rows = {r["name"]: r for r in _layers(N, "resnet50")}
    deeplab = {r["name"]: r for r in _layers(SEG, "deeplabv3_resnet50")}
    assert deeplab["backbone"]["params"] == _params(N, "resnet50") - rows["fc"]["params"]
    assert str(archlang.check(SEG, "deeplabv3_resnet50").outputs["out"]) == "(21, H, W)"
    ratio = (_macs(SEG, "deeplabv3_mobilenet_v3_large", inputs=AT_520)
             / _macs(SEG, "lraspp_mobilenet_v3_large", inputs=AT_520))
    assert 4.95 < ratio < 5.05
    # section 16: the crops are 4, 16, 40 and 88 at 572, at 188 and at a symbolic size, where
    # the deepest skip is (H-60)//8 high and the upsampled bottom (H-124)//8; 572 is
    # 35 x 16 + 12; half the width has about a quarter of the parameters; padding changes no
    # parameter
    for inputs in ((1, 572, 572), (1, 188, 188), None):
        g = archlang.check(UNET, "unet", inputs=inputs).graph
        crops = [n for n in g.nodes if n.op == "crop"]
        assert [n.impl.label(n.attrs, [g.nodes[i].shape for i in n.inputs]) for n in crops] \
            == [f"crop at {m}, {m}" for m in (4, 16, 40, 88)]
    unet = archlang.check(UNET, "unet")
    assert [str(unet.shape(name)[1]) for name in ("down4", "up4.up")] \
        == ["(H-60)//8", "(H-124)//8"]
    assert 572 == 35 * 16 + 12
    assert 3.9 < _params(UNET, "unet") / _params(UNET, "unet", base=32) < 4.1
    assert _params(UNET, "unet_padded") == _params(UNET, "unet")
    assert str(archlang.check(UNET, "unet_padded").outputs["logits"]) == "(2, H, W)"


def _spec_files() -> dict[Path, str]:
    files = [*sorted((ROOT / "specs").glob("*.arch")), *sorted(TOUR_SPECS.glob("*.arch"))]
    return {p: p.read_text() for p in files}


def test_arch_blocks_are_spec_text():
    files = _spec_files()
    blocks = re.findall(r"```arch\n(.*?)```", TOUR.read_text(), re.DOTALL)
    assert blocks
    for block in blocks:
        assert any(block in text for text in files.values()), \
            f"this ```arch block is in no file of specs/ or examples/tour/:\n{block}"
        # tests/test_docs.py checks and compiles every block that mentions `network`, so
        # such a block must be a whole network
        if re.search(r"\bnetwork\b", block):
            for name in load_program(block, Limits()).networks:
                assert archlang.check(block, name).outputs


def _top_level_blocks(text: str) -> list[tuple[str, str]]:
    """(name, text from `block` to its closing brace) for each block of a file."""
    return [(m.group(1), m.group(0))
            for m in re.finditer(r"^block (\w+)\b.*?^}\n", text, re.DOTALL | re.MULTILINE)]


def test_tour_specs_copy_the_zoo_verbatim():
    zoo: dict[str, set[str]] = {}
    for path in sorted((ROOT / "specs").glob("*.arch")):
        for name, body in _top_level_blocks(path.read_text()):
            zoo.setdefault(name, set()).add(body)
    copies = 0
    for path in sorted(TOUR_SPECS.glob("*.arch")):
        for name, body in _top_level_blocks(path.read_text()):
            assert name in zoo, f"{path.name}: block {name} is not a copy of a zoo block"
            assert body in zoo[name], f"{path.name}: block {name} differs from the zoo's"
            copies += 1
    assert copies >= 4


def test_every_tour_spec_is_used():
    used = " ".join(tour_commands())
    for path in sorted(TOUR_SPECS.glob("*.arch")):
        assert f"examples/tour/{path.name}" in used, f"{path.name} is not run by docs/tour.md"
