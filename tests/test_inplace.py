"""In place only by dataflow: a build with in-place ops computes exactly what the all-out-of-place
build of the same network computes, forward and backward, and never trips autograd.

Each spec here once passed `check` and then returned a wrong value or failed in training,
because an op ran in place on a tensor that something else still needed.
"""

from __future__ import annotations

import pytest

import archlang
from archlang.backends.pytorch import Generator
from archlang.loader import _module_from_source

torch = pytest.importorskip("torch")


def build(spec: str, network: str | None, inplace: bool):
    graph = archlang.check(spec, network).graph
    gen = Generator(graph, inplace)
    source = gen.generate()
    return getattr(_module_from_source(source, graph.network), gen.class_name), source, graph


def flat(out):
    return list(out) if isinstance(out, tuple) else [out]


def same_as_out_of_place(spec: str, network: str | None = None, batch: int = 2) -> str:
    """Eval outputs, training outputs and parameter gradients equal the reference's."""
    Fast, source, graph = build(spec, network, True)
    Ref, _, _ = build(spec, network, False)
    torch.manual_seed(0)
    fast = Fast()
    ref = Ref()
    ref.load_state_dict(fast.state_dict())
    shapes = [graph.nodes[i].shape for i in graph.inputs.values()]
    xs = [torch.randn(batch, *s) for s in shapes]
    for mode in ("eval", "train"):
        fast.train(mode == "train")
        ref.train(mode == "train")
        torch.manual_seed(1)
        a = flat(fast(*[x.clone() for x in xs]))
        torch.manual_seed(1)
        b = flat(ref(*[x.clone() for x in xs]))
        assert len(a) == len(b)
        for p, q in zip(a, b):
            torch.testing.assert_close(p, q, rtol=0, atol=0)
        if mode == "train":
            sum(t.float().square().sum() for t in a).backward()
            sum(t.float().square().sum() for t in b).backward()
            for (name, p), q in zip(fast.named_parameters(), ref.parameters()):
                torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0, msg=name)
    return source


CASES = {
    # S1: a labelled ReLU overwrote another output
    "relu_of_an_output": """network n {
    input x: [4]
    h: linear(4)
    a: relu
    output h
    output a
}""",
    # S2: an in-place add overwrote a live view of its first input
    "add_over_a_view": """network n {
    input x: [4]
    a = x -> linear(4)
    v = a -> narrow(0, 0, 4)
    p = x -> linear(4)
    s = add(a, p)
    output s
    output v
}""",
    "add_over_flatten": """network n {
    input x: [2, 3, 3]
    a = x -> conv2d(2, 1)
    v = a -> flatten
    p = x -> conv2d(2, 1)
    s = add(a, p)
    output s
    output v
}""",
    "add_over_identity": """network n {
    input x: [4]
    a = x -> linear(4)
    v = a -> identity
    p = x -> linear(4)
    s = add(a, p)
    output s
    output v
}""",
    # S3: an in-place add on a tensor saved for another op's backward
    "add_over_saved_input": """network n {
    input x: [4]
    a = x -> linear(4)
    p = a -> linear(4)
    s = add(a, p)
    output s
}""",
    "named_conv_bn_relu_conv": """network n {
    input x: [3, 6, 6]
    c = x -> conv2d(4, 3, padding=1)
    b = c -> batchnorm
    r = b -> relu
    d = r -> conv2d(4, 3, padding=1)
    s = add(b, d)
    output s
}""",
    # (an in-place add of three values: tests/test_property.py FINDINGS)
    # S4: leaky_relu with a negative slope cannot run in place under autograd
    "negative_leaky_relu": """network n {
    input x: [4]
    linear(4)
    leaky_relu(-0.5)
    linear(2)
    output y
}""",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_inplace_by_dataflow(name):
    same_as_out_of_place(CASES[name])


def test_inplace_still_used_where_safe():
    """The rule keeps torchvision's in-place ReLU after BN and `out += identity`."""
    source = same_as_out_of_place("specs/resnet.arch", "resnet18", batch=1)
    assert "F.relu(out, inplace=True)" in source and "out += x" in source


ZOO = ["alexnet", "nin_cifar10", "googlenet", "resnet18", "resnet50", "vgg11_bn",
       "dcgan_generator", "dcgan_discriminator", "vae_digits", "resnet18_34"]


@pytest.mark.slow
@pytest.mark.parametrize("network", ZOO)
def test_zoo_equals_out_of_place_build(network):
    same_as_out_of_place(f"zoo:{network}", batch=2)
