"""The inference build (archlang/inference.py): it loads the training build's state_dict
unchanged and computes what the training build computes in eval mode."""

from __future__ import annotations

import pytest
import torch
from conftest import concrete_shape

import archlang
from archlang.inference import inference_graph

ZOO = archlang.list_models()


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Running statistics and affine weights away from their initial values, so that a
    fold that forgot one of them shows."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                if m.weight is not None:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                    m.bias.copy_(torch.rand(m.bias.shape, generator=gen) - 0.5)
    return model.eval()


def small_inputs(name: str) -> dict:
    """``inputs=`` for a zoo network: its image at 64 x 64 (else 96, 128) where the spec
    allows one, so that the deep networks take seconds, not minutes; else nothing (the spec's
    own sizes). Both builds are made at that size: a layer's shape may depend on it."""
    graph = archlang.check(f"zoo:{name}").graph
    shapes = [graph.nodes[i].shape for i in graph.inputs.values()]
    if len(shapes) == 1 and not all(isinstance(d, int) for d in shapes[0]):
        return {"inputs": concrete_shape(graph, shapes[0])}  # a symbolic size: from 64
    if len(shapes) == 1 and len(shapes[0]) == 3 and shapes[0][0] == 3 and shapes[0][1] > 64:
        for size in (64, 96, 128):
            try:
                archlang.check(f"zoo:{name}", inputs=(3, size, size))
            except archlang.ArchError:
                continue
            return {"inputs": (3, size, size)}
    return {}


def inputs_of(name: str, small: dict, batch: int = 2) -> list[torch.Tensor]:
    graph = archlang.check(f"zoo:{name}", **small).graph
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(batch, *graph.nodes[i].shape, generator=gen)
            for i in graph.inputs.values()]


def tensors(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("name", ZOO)
def test_inference_build_equals_eval_mode(name):
    small = small_inputs(name)
    torch.manual_seed(0)
    reference = randomised(archlang.load(f"zoo:{name}", **small))
    build = archlang.load(f"zoo:{name}", inference=True, **small)
    build.load_state_dict(reference.state_dict())  # strict: every key used, none missing
    build.eval()
    xs = inputs_of(name, small)
    with torch.no_grad():
        wants, gots = tensors(reference(*xs)), tensors(build(*xs))
    assert len(gots) == len(wants)
    for got, want in zip(gots, wants):
        assert got.shape == want.shape
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())


@pytest.mark.parametrize("spec", [
    "network n {\n input x: [4, 8]\n linear(4)\n batchnorm\n output y\n}",  # not folded
    "network n {\n input x: [8]\n linear(4)\n batchnorm\n output y\n}",      # folded
])
def test_batchnorm_folds_only_over_the_layers_channels(spec):
    """After linear on [L, F] BatchNorm1d normalises L, not linear's output features."""
    reference = randomised(archlang.load(spec))
    build = archlang.load(spec, inference=True)
    build.load_state_dict(reference.state_dict())
    build.eval()
    x = torch.randn(3, *archlang.check(spec).graph.nodes[0].shape)
    with torch.no_grad():
        assert torch.allclose(build(x), reference(x), rtol=1e-5, atol=1e-6)
    folded = inference_graph(archlang.check(spec).graph)[1].folds
    assert len(folded) == (0 if "[4, 8]" in spec else 1)


def test_torchvision_checkpoint_loads_into_inference_build():
    torchvision = pytest.importorskip("torchvision")
    tv = torchvision.models.resnet18().eval()
    randomised(tv)
    build = archlang.load("zoo:resnet18", inference=True).eval()
    build.load_state_dict(tv.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        want, got = tv(x), build(x)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())


def test_own_state_dict_round_trips():
    build = archlang.load("zoo:googlenet", inference=True).eval()
    build.load_state_dict(randomised(archlang.load("zoo:googlenet")).state_dict())
    again = archlang.load("zoo:googlenet", inference=True).eval()
    again.load_state_dict(build.state_dict())  # already folded: loads as it is
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(again(x), build(x))


def test_what_the_build_removes():
    graph, build = inference_graph(archlang.check("zoo:googlenet").graph)
    assert build.dropped == ["aux1.", "aux2."]
    assert len(build.folds) == 57 and build.channels_last
    assert [o.name for o in graph.outputs] == ["logits"]
    assert not any(n.impl.foldable_norm or n.impl.eval_identity for n in graph.nodes)
    source = archlang.compile_source("zoo:googlenet", inference=True)
    assert "nn.BatchNorm" not in source
    assert "Dropout" not in source and "self.training" not in source


def test_summary_shows_the_reduced_build():
    from click.testing import CliRunner

    from archlang.cli import main

    full = CliRunner().invoke(main, ["summary", "zoo:resnet50", "--format", "json"])
    inf = CliRunner().invoke(main, ["summary", "zoo:resnet50", "--format", "json",
                                    "--inference"])
    assert full.exit_code == inf.exit_code == 0
    import json

    full, inf = json.loads(full.stdout), json.loads(inf.stdout)
    # 53 BatchNorms fold away (2 params each per channel; 20 convs had no bias: +1 each)
    assert inf["params"] == full["params"] - 53_120 + 26_560
    assert inf["buffers"] == 0 < full["buffers"]
    assert inf["activations_bytes"] < full["activations_bytes"]
