"""`check` is a promise: each spec here once passed `check` and then failed to compile, load or
train. Now each either builds, runs eval forward and training forward + backward with the
checked output shapes, or is a located diagnostic."""

from __future__ import annotations

import ast

import pytest

import archlang

torch = pytest.importorskip("torch")


def builds_and_trains(spec: str, network: str | None = None) -> str:
    """Check, compile (valid Python), load, run eval and training at batch 2, backward."""
    result = archlang.check(spec, network)
    source = archlang.compile_source(spec, network)
    ast.parse(source)
    model = archlang.load(spec, network)
    xs = [torch.randn(2, *result.graph.nodes[i].shape) for i in result.graph.inputs.values()]
    for training in (False, True):
        model.train(training)
        out = model(*xs)
        names = [o.name for o in result.graph.outputs if training or not o.training]
        outs = list(out) if isinstance(out, tuple) else [out]
        if isinstance(out, tuple):
            assert list(out._fields) == names
        assert [tuple(o.shape) for o in outs] == [(2, *result.outputs[k]) for k in names]
        if training:
            sum(o.float().sum() for o in outs).backward()
    return source


BUILDS = {
    # S5: two inference outputs and a training output: eval returned a tuple missing a field
    "two_outputs_and_a_training_output": """network n {
    input x: [4]
    a = x -> linear(4)
    b = x -> linear(3)
    training output t = x -> linear(2)
    output a
    output b
}""",
    # S7: an input named like the outputs tuple shadowed it in forward
    "input_named_like_the_outputs_class": """network n {
    input NOutputs: [4]
    a = NOutputs -> linear(4)
    output a
    output b = NOutputs -> linear(2)
}""",
    # S11: names that are Python literals when capitalised
    "network_named_None": "network None {\n input x: [4]\n linear(4)\n output y\n}",
    "network_named_true": "network true {\n input x: [4]\n linear(4)\n output y\n}",
    "block_named_False": """block False() { linear(4); relu }
network n {
    input x: [4]
    b: False
    output y
}""",
}


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_builds_and_trains(name):
    builds_and_trains(BUILDS[name])


def test_no_module_attribute_can_be_a_layer_name():
    """Every attribute of the installed torch's nn.Module (public or private) is refused as a
    layer name with a located E018, so no spec name replaces one."""
    names = sorted(set(dir(torch.nn.Module)) | {"init_weights", "getattr"})
    for name in names:
        spec = f"network n {{\n    input x: [4]\n    {name}: linear(4)\n    output y\n}}\n"
        with pytest.raises(archlang.ArchError) as err:
            archlang.check(spec)
        assert [(d.code, d.span.line if d.span else None) for d in err.value.diagnostics
                ][:1] == [("E018", 3)], name


@pytest.mark.parametrize("quote", ['"', "'"])
def test_backslash_escapes_in_both_quotes(quote):
    spec = (f"network n(mode={quote}a\\\\b{quote}, q={quote}x\\{quote}y{quote}) {{\n"
            "    input x: [4]\n    linear(4)\n    output y\n}\n")
    assert archlang.check(spec).graph.params == {"mode": "a\\b", "q": f"x{quote}y"}


def test_import_name_too_long_is_located(tmp_path):
    spec = tmp_path / "long.arch"
    spec.write_text(f'import "{"a" * 300}.arch"\nnetwork n {{\n    input x: [4]\n'
                    "    linear(4)\n    output y\n}\n")
    with pytest.raises(archlang.ArchError) as err:
        archlang.check(str(spec))
    assert err.value.codes == ["E040"] and err.value.diagnostics[0].span.line == 1


def test_nul_character_in_a_string_is_data():
    """A NUL inside quotes (found by the mutation fuzzer) is a string like any other."""
    spec = 'network n(mode="a\x00b") {\n    input x: [4]\n    linear(4)\n    output y\n}\n'
    assert archlang.check(spec).graph.params == {"mode": "a\x00b"}


def test_load_refuses_attributes_of_this_torch(monkeypatch):
    """A torch newer than the checker's table may add a public nn.Module attribute: loading
    compares the layer names with dir(torch.nn.Module) of the installed torch."""
    monkeypatch.setattr(torch.nn.Module, "newer_method", lambda self: None, raising=False)
    spec = "network n {\n    input x: [4]\n    newer_method: linear(4)\n    output y\n}\n"
    assert archlang.check(spec).params == 20  # the checker's table does not know it
    with pytest.raises(archlang.ArchError) as err:
        archlang.load_class(spec)
    assert err.value.codes == ["E018"] and err.value.diagnostics[0].span.line == 3


#: The post-2016 ops composed as the modern zoo composes them: a squeeze-excitation gate
#: broadcast by `mul`, a broadcasting `add` feeding an in-place ReLU, ConvNeXt's
#: channels-last round trip (layernorm2d, permute, linear on the last dim, layernorm),
#: stochastic depth and a channel shuffle.
MODERN = {
    "se_gate_and_stochastic_depth": """network n {
    input x: [8, 6, 6]
    f = x -> conv2d(8, 3, padding=1) -> relu
    g = f -> adaptive_avgpool2d(1) -> conv2d(8, 1) -> sigmoid
    y = mul(f, g)
    z = add(y, x) -> relu
    output o = z -> stochastic_depth(0.2) -> channel_shuffle(2)
}""",
    "channels_last_round_trip": """network n {
    input x: [8, 5, 5]
    a = x -> layernorm2d(eps=1e-6) -> permute([1, 2, 0]) -> linear(16) -> gelu -> layernorm
    b = a -> linear(8) -> permute([2, 0, 1])
    output o = add(b, x)
}""",
    "broadcast_into_an_in_place_relu": """network n {
    input x: [8, 5, 5]
    g = x -> global_avgpool -> reshape([8, 1, 1])
    h = add(g, x) -> relu
    output o = mul(g, h)
}""",
}


@pytest.mark.parametrize("name", sorted(MODERN))
def test_modern_ops_keep_the_promise(name):
    """The property harness: compiles, loads, trains, and the in-place build equals the
    out-of-place reference in outputs and gradients."""
    from archlang.soundness import check_property

    outcome = check_property(MODERN[name])
    assert outcome.accepted and outcome.problem is None, outcome.problem
