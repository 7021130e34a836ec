"""Syntax for long networks: numbered segments in layer paths (`init classifier.1.weight`),
chains continued on the next line, `block`/`network` as layer names, and the diagnostic for
a reserved word where a name should be."""

from __future__ import annotations

import pytest

import archlang
from archlang.diagnostics import ArchError
from archlang.source import Source
from archlang.syntax import parse as P
from archlang.syntax.lower import lower

NUMBERED = """network n {
    input x: [3, 8, 8]
    features: [conv2d(4, 3), relu, [conv2d(4, 1), batchnorm]]
    flatten
    classifier: [dropout(0.5), linear(10)]
    output y
    init classifier.1.weight: zeros
    init classifier.1.bias: constant(0.5)
    init features.0.bias: ones
    init features.2.1.weight: constant(2.0)
}"""


def init_targets(text: str) -> list[list[str]]:
    tree, diags = P.parse(Source("t.arch", text))
    assert not diags, diags
    file, diags = lower(tree, Source("t.arch", text))
    assert file is not None, diags
    stmts = file.networks[0].body.stmts
    return [s.target for s in stmts if type(s).__name__ == "InitStmt"]


def test_numbered_path_segments_parse():
    assert init_targets(NUMBERED) == [["classifier", "1", "weight"], ["classifier", "1", "bias"],
                                      ["features", "0", "bias"],
                                      ["features", "2", "1", "weight"]]
    # as torch.nn.Sequential numbers them: 01 and 0_1 are layer 1
    text = "network n {\n init a.01.weight: zeros\n init a.1_0.bias: ones\n}\n"
    assert init_targets(text) == [["a", "1", "weight"], ["a", "10", "bias"]]


def test_numbered_path_segments_initialise_the_layer():
    torch = pytest.importorskip("torch")
    res = archlang.check(NUMBERED)
    inits = {".".join(n.path): dict(n.init) for n in res.graph.nodes if n.init}
    assert set(inits) == {"classifier.1", "features.0", "features.2.1"}
    model = archlang.load(NUMBERED)
    sd = model.state_dict()
    assert torch.equal(sd["classifier.1.weight"], torch.zeros(10, 144))
    assert torch.equal(sd["classifier.1.bias"], torch.full((10,), 0.5))
    assert torch.equal(sd["features.0.bias"], torch.ones(4))
    assert torch.equal(sd["features.2.1.weight"], torch.full((4,), 2.0))


def test_numbered_path_that_matches_nothing():
    text = NUMBERED.replace("classifier.1.weight", "classifier.3.weight")
    with pytest.raises(ArchError) as e:
        archlang.check(text)
    assert e.value.codes == ["E012"]
    assert "`classifier.3`" in str(e.value)


def test_floats_are_still_floats():
    text = "network n {\n input x: [4]\n dropout(0.) -> dropout(.5)\n output y\n}\n"
    assert [n.attrs.p for n in archlang.check(text).graph.nodes if n.op == "dropout"] == [0.0, 0.5]


ONE_LINE = """network n {
    input x: [3, 8, 8]
    a = x -> conv2d(4, 3) -> relu -> conv2d(4, 1)
    b = x -> conv2d(4, 3) -> batchnorm -> relu
    output y = add(a, b) -> relu
}"""

SPLIT = """network n {
    input x: [3, 8, 8]
    a = x ->
        conv2d(4, 3) ->    # a comment after the arrow
        relu ->

        conv2d(4, 1)
    b = x -> conv2d(4, 3)
          -> batchnorm
          # a comment line between
          -> relu
    output y = add(a, b)
        -> relu
}"""


def test_chains_continue_on_the_next_line():
    one, split = archlang.check(ONE_LINE), archlang.check(SPLIT)
    assert split.outputs == one.outputs
    assert [(n.op, n.path) for n in split.graph.nodes] == [(n.op, n.path) for n in one.graph.nodes]
    assert archlang.compile_source(SPLIT).split("class N", 1)[1] == \
        archlang.compile_source(ONE_LINE).split("class N", 1)[1]


def test_a_line_starting_with_an_arrow_needs_a_chain_above():
    # a statement ends before the `->` line only when nothing precedes it
    text = "network n {\n    input x: [4]\n\n    -> relu\n    output y\n}\n"
    with pytest.raises(ArchError) as e:
        archlang.check(text)
    assert e.value.codes == ["E002"]


def test_a_chain_cannot_end_with_an_arrow():
    text = "network n {\n    input x: [4]\n    relu ->\n}\n"
    with pytest.raises(ArchError) as e:
        archlang.check(text)
    assert e.value.codes == ["E002"]


def test_block_and_network_name_layers():
    text = """block MBConv(out) {
    block: [conv2d(out, 1, bias=false), batchnorm, hardswish]
}

network n {
    input x: [3, 8, 8]
    network: conv2d(4, 3)
    features: [MBConv(8), MBConv(8)]
    output y
}"""
    res = archlang.check(text)
    paths = {".".join(n.path) for n in res.graph.nodes}
    assert {"network", "features.0.block.0", "features.1.block.2"} <= paths
    if pytest.importorskip("torch"):
        keys = set(archlang.load(text).state_dict())
        assert "features.0.block.1.running_mean" in keys and "network.weight" in keys


STATEMENT_WORDS = ["input", "output", "training", "let", "for", "if", "init", "use", "concat",
                   "average", "residual"]


@pytest.mark.parametrize("word", STATEMENT_WORDS)
@pytest.mark.parametrize("form", ["{w}: conv2d(4, 1)", "{w} = x -> relu"])
def test_reserved_word_starting_a_statement_says_so(word, form):
    text = f"network n {{\n    input x: [3, 8, 8]\n    {form.format(w=word)}\n    output y\n}}\n"
    with pytest.raises(ArchError) as e:
        archlang.check(text)
    (diag,) = e.value.diagnostics
    assert diag.code == "E018", diag
    what = "a layer" if ":" in form else "a value"
    assert diag.message == f"`{word}` cannot name {what}: it is a reserved word"
    assert diag.help == [f"rename it, e.g. `{word}_`"]
    assert str(diag.span).endswith(":3:5")


@pytest.mark.parametrize("word", ["concat", "average", "residual"])
@pytest.mark.parametrize("form", ["[relu, {w}: conv2d(4, 1)]", "x -> relu -> {w}: relu"])
def test_reserved_word_inside_a_chain_says_so(word, form):
    text = f"network n {{\n    input x: [3, 8, 8]\n    {form.format(w=word)}\n    output y\n}}\n"
    with pytest.raises(ArchError) as e:
        archlang.check(text)
    (diag,) = e.value.diagnostics
    assert diag.code == "E018" and "reserved word" in diag.message, diag


def test_statement_words_name_layers_inside_a_chain():
    """Where no statement can start, only `concat`, `average` and `residual` are keywords."""
    text = "network n {\n    input x: [3]\n    [relu, input: relu, use: tanh] -> init: relu\n" \
           "    output y\n}\n"
    paths = {".".join(n.path) for n in archlang.check(text).graph.nodes}
    assert {"0.input", "0.use", "init"} <= paths


def test_reserved_words_are_the_grammars_keywords():
    """RESERVED_WORDS lists every keyword of the grammar but the three of the top level."""
    import re

    words = set(re.findall(r'"([a-z]+)"', P._grammar())) | {"training"}
    assert set(P.RESERVED_WORDS) == words - {"block", "network", "import"}


def test_python_colon_after_else_is_not_called_reserved():
    text = "network n {\n    input x: [3]\n    if true { relu } else: { relu }\n    output y\n}\n"
    with pytest.raises(ArchError) as e:
        archlang.check(text)
    assert e.value.codes == ["E002"]
