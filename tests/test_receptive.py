"""Receptive fields against PyTorch: the input pixels a unit's gradient reaches.

For every zoo network of at most 60M parameters with an image input, the module archlang
generates is put in eval mode with every weight positive (batchnorm the identity, biases
positive), so nothing cancels and no ReLU is off on a positive input; each max pool is
replaced by the average pool of the same window, because a max pool's gradient reaches only
its argmax, not the window the unit can see. The extent of the input pixels with a non-zero
gradient of a layer's centre unit must equal archlang's field, clipped to the pixels that
reach the layer at all (the input, less the last rows a stride drops).
"""

from __future__ import annotations

import pytest
from conftest import zoo_results

import archlang
from archlang.analysis.receptive import Axis, fields

torch = pytest.importorskip("torch")
nn = torch.nn


def image_networks():
    """Zoo networks up to 60M parameters with a layer to probe (not the VAEs, which flatten
    their input first, nor the DCGAN generator, whose input is 1x1, nor the dense-prediction
    networks, whose input size is symbolic)."""
    out = []
    for name, r in zoo_results().items():
        (node,) = r.graph.inputs.values()
        shape = r.graph.nodes[node].shape
        if r.params <= 60e6 and len(shape) == 3 and isinstance(shape[1], int) and \
                shape[1] > 1 and \
                layers_to_probe(r, fields(r.graph)):
            out.append(name)
    return out


def positive(model) -> None:
    """Weights positive, batchnorm the identity, max pools averaged (see the docstring)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.reset_running_stats()
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                # about 1 in total per unit, so that nothing saturates (a sigmoid's gradient)
                m.weight.uniform_(0.5, 1.0).div_(m.weight[0].numel())
                if m.bias is not None:
                    m.bias.fill_(0.1)
            for child_name, child in m.named_children():
                if isinstance(child, nn.MaxPool2d):
                    assert child.dilation in (1, (1, 1))
                    setattr(m, child_name, nn.AvgPool2d(child.kernel_size, child.stride,
                                                        child.padding, child.ceil_mode))


def layers_to_probe(result, f):
    """Each top-level module with a spatial output and a bounded field (layer name, node);
    functional calls (an unnamed ReLU) have no module to hook."""
    g = result.graph
    out = []
    for kind, i in g.scopes[0].items:
        if kind == "scope" and g.scopes[i].output is None:
            continue  # a block with several outputs
        node = g.nodes[i] if kind == "node" else g.nodes[g.scopes[i].output]
        name = node.name if kind == "node" else ".".join(g.scopes[i].path)
        if node.is_input or not f[node.id] or node.training_only or \
                (kind == "node" and not node.impl.stateful):
            continue
        out.append((name, node))
    return out


NETWORKS = image_networks()
#: the cases a plain `pytest` runs; every network runs with `pytest -m ''` (SLOW)
FAST = ("nin_cifar10", "resnet18")


@pytest.mark.parametrize("name", FAST)
def test_receptive_field_of_small_networks(name):
    test_receptive_field_matches_gradient(name)


@pytest.mark.parametrize("name", NETWORKS)
def test_receptive_field_matches_gradient(name):
    result = archlang.check(f"zoo:{name}")
    f = fields(result.graph)
    (node,) = result.graph.inputs.values()
    c, h, w = result.graph.nodes[node].shape
    model = archlang.load(f"zoo:{name}").eval().double()
    positive(model)
    captured = {}
    probes = layers_to_probe(result, f)
    assert probes
    for layer, _ in probes:
        model.get_submodule(layer).register_forward_hook(
            lambda mod, args, out, layer=layer: captured.__setitem__(layer, out))
    x = torch.rand(1, c, h, w, dtype=torch.float64).add_(0.5).requires_grad_()
    model(x)
    for layer, node in probes:
        out = captured[layer]
        oh, ow = out.shape[-2:]
        unit = out[0, :, (oh - 1) // 2, (ow - 1) // 2].sum()  # every channel at the centre
        fy, fx = f[node.id]
        # the pixels that reach the layer at all: a stride may drop the input's last rows
        reach_y, reach_x = extent(out[0].sum(), x)
        seen_y, seen_x = extent(unit, x)
        assert seen_y == clip(fy.seen((oh - 1) // 2, h), reach_y), layer
        assert seen_x == clip(fx.seen((ow - 1) // 2, w), reach_x), layer


def extent(value, x):
    """(first, last) row and column of the input where ``value``'s gradient is non-zero."""
    (grad,) = torch.autograd.grad(value, x, retain_graph=True)
    mass = grad[0].abs().sum(0)
    rows, cols = mass.sum(1).nonzero().flatten(), mass.sum(0).nonzero().flatten()
    return ((rows.min().item(), rows.max().item()), (cols.min().item(), cols.max().item()))


def clip(span, reach):
    return max(span[0], reach[0]), min(span[1], reach[1])


def test_the_fields_of_resnet50():
    # Araujo et al. (Distill 2019), Table 1: ResNet-50's last conv layer sees 483 pixels...
    # the figure there counts the field of torchvision's resnet_v1_50; archlang's own:
    r = archlang.check("zoo:resnet50")
    fl = r.receptive_fields()
    assert fl["conv1"][0] == Axis(7, 2, -3)
    assert fl["maxpool"][0] == Axis(11, 4, -5)
    assert fl["avgpool"] is not None and fl["fc"] is None


def test_symbolic_input_has_concrete_fields():
    spec = "network n {\n input x: [3, H, W]\n conv2d(8, 3, padding=1)\n" \
           " maxpool2d(2, ceil_mode=true)\n conv2d(8, 3, dilation=2)\n global_avgpool\n" \
           " output y\n}"
    fl = archlang.check(spec).receptive_fields()
    assert [str(v[0]) if v else v for v in fl.values()] == \
        ["3 /1 @0", "4 /2 @0.5", "12 /2 @4.5", None]


def test_merges_take_the_union():
    spec = "network n {\n input x: [3, 16, 16]\n a = x -> conv2d(4, 5, padding=2)\n" \
           " b = x -> conv2d(4, 1)\n y = concat(a, b)\n output y\n}"
    fl = archlang.check(spec).receptive_fields()
    *_, a, b, y = fl.values()
    assert y == a != b
