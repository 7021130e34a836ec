"""Values as data (docs/language.md, "Loops that carry values, lists of values"): what a
loop's body binds is read by its next iteration and after it, lists of named values are built,
joined, grown in loops and indexed wherever a named value goes, and n-ary merges take a whole
list. Every statement walker agrees (the expander, the size estimate, the language server,
the soundness generator).

examples/fpn.arch (a feature pyramid whose top-down pathway is a loop over the backbone's
maps in reverse) is the running example: a feature pyramid written by hand in torch, with the
same state_dict keys, computes the same outputs in eval and train, and so does
torchvision.ops.FeaturePyramidNetwork with its weights renamed; its generated code is a
golden that passes ruff and torch.compile(fullgraph=True).
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
FPN = "examples/fpn.arch"


def golden_files() -> set[Path]:
    """The goldens this file's tests compare with."""
    return {golden_path(FPN, "fpn", "py")}


@pytest.fixture(autouse=True)
def _root(monkeypatch):
    monkeypatch.chdir(ROOT)


def codes(spec: str, **params) -> list[str]:
    with pytest.raises(ArchError) as e:
        archlang.check(spec, **params)
    return [d.code for d in e.value.diagnostics]


def nodes_of(result, op: str) -> list:
    return [n for n in result.graph.nodes if n.op == op]


# ---- the syntax --------------------------------------------------------------------------


def test_elements_and_joins_lower_to_their_nodes():
    from archlang.limits import Limits
    from archlang.program import load_program
    from archlang.syntax import ast as A

    text = """network n {
    input x: [3, 8, 8]
    levels = [[x], []]
    feats = levels[0] + [x] - [ x ]
    output y = levels[0][ len(feats) - 2 ] -> relu
}"""
    stmts = load_program(text, Limits()).networks["n"].body.stmts
    bind, join, out = stmts[1:]
    (link,) = bind.chain.links
    assert isinstance(link.item, A.Seq) and [type(x.item) for x in link.item.links] == [A.Seq, A.Seq]
    assert [(j.op, j.chain.span.text) for j in join.joins] == [("+", "[x]"), ("-", "[ x ]")]
    head = out.chain.links[0].item
    assert isinstance(head, A.Indexed) and head.span.text == "levels[0][ len(feats) - 2 ]"
    outer = head.value
    assert outer.span.text == head.span.text and outer.index.span.text == "len(feats) - 2"
    assert outer.obj.span.text == "levels[0]" and outer.obj.obj.id == "levels"
    assert codes(text) == ["E015"]  # `-` does not join lists


# ---- loops carry values ------------------------------------------------------------------


def test_a_loop_carries_a_value_across_iterations_and_out():
    result = archlang.check("""network n {
    input x: [3, 64, 64]
    y = x
    for i in range(3) { y = y -> conv2d(8 * (i + 1), 3, stride=2, padding=1) -> relu }
    output out = y
}""")
    assert result.outputs == {"out": (24, 8, 8)}
    convs = nodes_of(result, "conv2d")
    assert [n.shape for n in convs] == [(8, 32, 32), (16, 16, 16), (24, 8, 8)]
    assert [result.graph.nodes[n.inputs[0]].shape[0] for n in convs] == [3, 8, 16]
    assert result.params == (3 * 9 + 1) * 8 + (8 * 9 + 1) * 16 + (16 * 9 + 1) * 24


def test_what_a_loop_binds_is_seen_by_the_next_iteration_and_after_it():
    result = archlang.check("""network n {
    input x: [4, 8, 8]
    let total = 0
    for w in [8, 16] {
        let total = total + w
        h = x -> head{w}: conv2d(total, 1)
    }
    output a = h
    output b = head8 -> conv2d(total, 1)
}""")
    assert result.outputs == {"a": (24, 8, 8), "b": (24, 8, 8)}


def test_the_loop_variable_is_the_loops_own():
    spec = """network n {
    input x: [4, 8, 8]
    let i = 7
    for i in range(2) { x = x -> conv2d(4, 1) }
    output y = x -> conv2d(i, 1)
}"""
    assert archlang.check(spec).outputs == {"y": (7, 8, 8)}  # the outer `i` is back
    assert codes(spec.replace("    let i = 7\n", "")) == ["E012"]  # no `i` after the loop


def test_a_group_keeps_what_its_loop_binds():
    assert codes("""network n {
    input x: [4, 8, 8]
    g: { for k in range(2) { z = conv2d(4, 1) } }
    output y = z -> relu
}""") == ["E012"]


def test_an_unknown_condition_and_a_long_loop_keep_the_estimate_an_estimate():
    """A loop longer than the estimate samples (8 iterations) grows a list it reads after."""
    result = archlang.check("""network n {
    input x: [4, 8, 8]
    feats = []
    for i in range(12) {
        x = x -> conv2d(4, 1)
        feats = feats + [x]
    }
    output y = concat(feats)
}""")
    assert result.outputs == {"y": (48, 8, 8)}


# ---- lists of values ---------------------------------------------------------------------

PARTS = """network n {
    input x: [4, 16, 16]
    a = x -> conv2d(8, 1)
    b = x -> conv2d(16, 3, stride=2, padding=1)
    c = b -> conv2d(32, 3, stride=2, padding=1)
"""


def test_list_literals_joins_and_indices():
    result = archlang.check(PARTS + """    feats = [a, b]
    feats = feats + [c]
    more = [c] + feats + []
    levels = [feats, more]
    output first = feats[0] -> relu
    output last = feats[-1]
    output deep = levels[1][len(more) - 1] -> relu
    output wide = more[0] -> conv2d(len(levels) * len(feats), 1)
}""")
    assert result.outputs == {"first": (8, 16, 16), "last": (32, 4, 4), "deep": (32, 4, 4),
                              "wide": (6, 4, 4)}


def test_a_list_grown_in_a_loop_is_read_in_reverse():
    result = archlang.check("""network n {
    input x: [3, 32, 32]
    feats = []
    for i in range(3) {
        x = x -> conv2d(8, 3, stride=2, padding=1)
        feats = feats + [x]
    }
    top = feats[-1]
    for i in range(len(feats) - 2, -1, -1) {
        up = top -> upsample(2)
        top = add(feats[i], up)
    }
    output y = top
}""")
    assert result.outputs == {"y": (8, 16, 16)}
    adds = nodes_of(result, "add")
    assert [n.shape for n in adds] == [(8, 8, 8), (8, 16, 16)]


def test_brackets_of_layers_stay_a_group_and_the_current_value_stays():
    result = archlang.check("""network n {
    input x: [4, 8, 8]
    g = [conv2d(8, 1), relu]
    feats = [g, x]
    conv2d(2, 1)
    output y
}""")
    assert result.outputs == {"y": (2, 8, 8)}
    conv = nodes_of(result, "conv2d")[-1]
    assert result.graph.nodes[conv.inputs[0]].op == "relu"  # `feats = ...` left g current


def test_n_ary_merges_take_a_whole_list():
    result = archlang.check(PARTS + """    r = b -> relu
    p = b -> conv2d(16, 1)
    same = [b, r, p]
    f = a -> flatten
    flat = [f, f]
    output s = add(same)
    output m = mul(same)
    output avg = mean(same)
    output cat = concat(same)
    output cat2 = concat(same, b, [])
    output rows = concat(flat, dim=0)
    output c
}""")
    o = result.outputs
    assert (o["s"], o["m"], o["avg"], o["cat"], o["cat2"]) == \
        ((16, 8, 8), (16, 8, 8), (16, 8, 8), (48, 8, 8), (64, 8, 8))
    assert o["rows"] == (2 * 8 * 16 * 16,)
    assert len(nodes_of(result, "add")[0].inputs) == 3


def test_a_merge_of_an_empty_list_has_too_few_inputs():
    assert codes("""network n {
    input x: [3, 8, 8]
    feats = []
    output y = concat(feats)
}""") == ["E014"]


def test_several_outputs_bound_to_one_name_are_a_list():
    result = archlang.check("""block Two {
    input x
    output low = x -> conv2d(8, 1)
    output high = x -> conv2d(16, 3, stride=2, padding=1)
}

network n {
    input x: [4, 16, 16]
    feats = two: Two()
    output n2 = feats[1] -> conv2d(len(feats), 1)
    output n1 = feats[0]
}""")
    assert result.outputs == {"n2": (2, 8, 8), "n1": (8, 16, 16)}


def test_elements_go_to_blocks_loops_and_comprehensions():
    result = archlang.check("""block Merge {
    input low, high
    up = interpolate(high, low)
    add(low, up)
}

network n {
    input x: [4, 16, 16]
    a = x -> conv2d(8, 1)
    b = a -> conv2d(8, 3, stride=2, padding=1)
    feats = [a, b]
    m = Merge(feats[0], high=feats[1])
    m2 = feats[0] -> Merge(feats[-1])
    total = m
    for f in feats {
        g = f -> global_avgpool -> upsample(16)
        total = concat(total, g)
    }
    let picked = [feats[i] for i in range(len(feats)) if i != 1]
    output y = add(m, m2)
    output z = total
    output w = concat(picked)
}""")
    assert result.outputs == {"y": (8, 16, 16), "z": (24, 16, 16), "w": (8, 16, 16)}


def test_an_error_in_a_list_is_reported_once():
    """What a failed statement bound is poisoned: its list, its elements, their merges."""
    assert codes(PARTS + """    d = c -> no_such_layer
    feats = [a, d]
    feats = feats + [c]
    e = feats[1] -> relu
    g = concat(feats)
    output y = feats[len(feats) - 2] -> conv2d(len(feats), 1)
    output e
    output g
}""") == ["E010"]


# ---- the size estimate agrees --------------------------------------------------------------


def test_the_size_estimate_counts_a_loop_over_a_lists_length():
    """The estimate knows `len(feats)`, so it rejects the expansion before any layer is made
    (its message is the estimate's, at the loop)."""
    from archlang.limits import Limits

    spec = """network n {
    input x: [4, 8, 8]
    feats = [x, x, x, x, x, x]
    for i in range(len(feats)) {
        for j in range(100) { identity }
    }
    output y
}"""
    assert archlang.check(spec).graph.nodes[-1].op == "identity"
    with pytest.raises(ArchError) as e:
        archlang.check(spec, limits=Limits(max_nodes=500))
    (d,) = e.value.diagnostics
    assert d.code == "E050" and d.message.startswith("this expands to more than 500 layers")


def test_the_estimate_and_the_expansion_count_the_same_layers():
    from archlang.diagnostics import Reporter
    from archlang.graph.size import estimate
    from archlang.graph.values import Env
    from archlang.limits import Limits
    from archlang.program import load_program

    prog = load_program(ROOT / FPN, Limits())
    result = archlang.check(FPN)
    env = Env({k: v for k, v in result.graph.params.items()}, None)
    sized = estimate(prog, prog.networks["fpn"], env, Limits(), Reporter())
    assert sized == len(result.graph.nodes)


# ---- the language server ---------------------------------------------------------------------


def test_the_language_server_reads_lists_and_loops():
    pytest.importorskip("lsprotocol")
    from archlang.lsp import LEGEND, analyse, definition, hover, semantic_tokens

    text = (ROOT / FPN).read_text()
    a = analyse(text, ROOT / FPN)
    assert a.diagnostics == []
    use = text.index("feats[i] ->")
    bind = text.index("feats = body")
    assert definition(a, use + 1) == [(a.source, bind, bind + len("feats"))]
    last = text.index("last = add")
    # every value the name takes, the loop's three included
    assert hover(a, last + 1) == "`last`: 32 x (H+31)//32 x (W+31)//32 | " \
        "32 x (H+15)//16 x (W+15)//16 | 32 x (H+7)//8 x (W+7)//8 | 32 x (H+3)//4 x (W+3)//4"
    # a list: its values' shapes, one list per binding
    assert hover(a, use + 1) == "`feats`: list of 4: [8 x (H+3)//4 x (W+3)//4, " \
        "16 x (H+7)//8 x (W+7)//8, 32 x (H+15)//16 x (W+15)//16, 64 x (H+31)//32 x (W+31)//32]"
    grown = hover(a, text.index("results = [p] +") + 1)
    assert grown.startswith("`results`: list of 1: [32 x (H+31)//32 x (W+31)//32] | list of 2: ")
    data = semantic_tokens(a)
    lines, kinds, line = text.split("\n"), {}, 0
    char = 0
    for k in range(0, len(data), 5):
        dline, dchar, length, kind, _ = data[k:k + 5]
        line += dline
        char = char + dchar if dline == 0 else dchar
        kinds[lines[line][char:char + length], line] = LEGEND.token_types[kind]
    at = text[:use].count("\n")
    assert kinds["feats", at] == "variable" and kinds["i", at] == "variable"
    join = text[:text.index("results = [p] + results")].count("\n")
    assert kinds["results", join] == "variable" and kinds["p", join] == "variable"


# ---- PyTorch: the example against torch ---------------------------------------------------------


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: a pool only waits on a busy machine
    yield torch
    torch.set_num_threads(threads)


def hand_written_fpn(width: int = 8, out: int = 32):
    """examples/fpn.arch written directly in torch, with the spec's layer names."""
    import torch.nn.functional as F
    from torch import nn

    def stage(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU())

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = stage(3, width)
            self.layer1, self.layer2, self.layer3, self.layer4 = (
                stage(width * 2 ** max(i - 1, 0), width * 2 ** i) for i in range(4))

        def forward(self, x):
            x = self.stem(x)
            maps = []
            for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
                x = layer(x)
                maps.append(x)
            return maps

    class Pyramid(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = Backbone()
            for i in range(3, -1, -1):
                self.add_module(f"inner_block{i}", nn.Conv2d(width * 2 ** i, out, 1))
                self.add_module(f"layer_block{i}", nn.Conv2d(out, out, 3, padding=1))

        def forward(self, x):
            feats = self.body(x)
            last = self.inner_block3(feats[3])
            results = [self.layer_block3(last)]
            for i in range(2, -1, -1):
                lateral = getattr(self, f"inner_block{i}")(feats[i])
                last = lateral + F.interpolate(last, size=lateral.shape[-2:], mode="nearest")
                results.insert(0, getattr(self, f"layer_block{i}")(last))
            return results

    return Pyramid()


def test_fpn_equals_a_hand_written_torch_fpn(torch):
    torch.manual_seed(0)
    theirs = hand_written_fpn()
    ours = archlang.load(FPN)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert sum(p.numel() for p in ours.parameters()) == archlang.check(FPN).params
    x = torch.randn(2, 3, 70, 90)  # sizes that no stride divides: every level is resized
    static = archlang.check(FPN, inputs=(3, 70, 90)).outputs
    for mode in ("eval", "train"):
        ours.train(mode == "train")
        theirs.train(mode == "train")
        a, b = ours(x), theirs(x)
        assert a._fields == ("p2", "p3", "p4", "p5")
        for name, mine, other in zip(a._fields, a, b):
            assert tuple(mine.shape) == (2, *static[name])
            torch.testing.assert_close(mine, other, rtol=0, atol=0)
        for (key, mine), other in zip(ours.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(mine, other), key  # the batch-norm statistics too


def test_fpn_equals_torchvisions_feature_pyramid_network(torch):
    """torchvision.ops.FeaturePyramidNetwork on the same backbone maps, its weights loaded
    into the spec's layers (`inner_blocks.3.0.weight` is `inner_block3.weight`)."""
    ops = pytest.importorskip("torchvision.ops")
    from collections import OrderedDict

    torch.manual_seed(0)
    theirs = ops.FeaturePyramidNetwork([8, 16, 32, 64], 32).eval()
    ours = archlang.load(FPN).eval()
    renamed = {key.replace("_blocks.", "_block").replace(".0.", "."): value
               for key, value in theirs.state_dict().items()}
    missing, unexpected = ours.load_state_dict(renamed, strict=False)
    assert unexpected == [] and all(key.startswith("body.") for key in missing)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        maps = OrderedDict(zip("0123", ours.body(x)))
        expected = theirs(maps)
        got = ours(x)
    for mine, other in zip(got, expected.values()):
        torch.testing.assert_close(mine, other, rtol=0, atol=0)


def test_fpn_generated_code_golden(golden):
    golden(FPN, "fpn", "py", archlang.compile_source(FPN))


def test_fpn_generated_code_passes_ruff(tmp_path):
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(exe).exists():
        pytest.skip("ruff is not installed")
    (tmp_path / "model.py").write_text(archlang.compile_source(FPN))
    env = {**os.environ, "RUFF_NO_CACHE": "true"}
    for args in (["check", "--no-cache", "--isolated"], ["format", "--check", "--isolated"]):
        proc = subprocess.run([exe, *args, "model.py"], cwd=tmp_path, check=False,
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 0, f"ruff {' '.join(args)}:\n{proc.stdout}{proc.stderr}"


def test_fpn_under_torch_compile_fullgraph(torch):
    model = archlang.load(FPN).eval()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        for mine, other in zip(compiled(x), model(x)):
            torch.testing.assert_close(mine, other)


def test_the_soundness_generator_writes_loops_that_carry_values_and_lists():
    """tests/test_property.py's fast sample (seeds 0 to 199) holds each form."""
    import re

    from archlang.soundness import generate

    texts = [generate(seed)[0] for seed in range(200)]
    forms = {
        "carried": r"\n( +)(\w+) = \2 -> .*\n(?:\1.*\n)*?\1(?:let )?(\w+) = \3 \+ \[\2\]",
        "prepended": r"(\w+) = \[\w+\] \+ \1\n",
        "whole list": r"(?:concat|add|mean)\(\w+\)\n",
        "indexed": r"\w+\[-?\d+\], \w+\[-1\]",
        "reversed": r"for \w+ in range\((?:len\(\w+\)|\d+) - 2, -1, -1\)",
    }
    for form, pattern in forms.items():
        assert sum(bool(re.search(pattern, t)) for t in texts) >= 5, form


@pytest.mark.parametrize("spec", [FPN, """network n {
    input x: [4, 8, 8]
    a = x -> conv2d(8, 1)
    feats = [a]
    for i in range(2) {
        a = a -> conv2d(8, 3, padding=1) -> relu
        side = a -> conv2d(8, 1)
        feats = feats + [a, side]
    }
    output s = add(feats)
    output t = feats[-2] -> relu
}"""], ids=["fpn", "carried"])
def test_the_soundness_property_holds(torch, spec):
    """The module runs eval and training with the checked shapes and equals the build that
    runs nothing in place (archlang/soundness.py)."""
    from archlang.soundness import check_property

    text = (ROOT / spec).read_text() if spec.endswith(".arch") else spec
    outcome = check_property(text)
    assert outcome.accepted and outcome.problem is None, outcome.problem
