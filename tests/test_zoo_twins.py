"""Every zoo network with a torchvision twin is that twin: same state_dict, same outputs.

This is also the forward-pass check of these networks against the static checker (output
shapes, parameter and buffer counts at the size each runs at); tests/test_zoo_goldens.py does
it for the zoo networks without a twin.

For each twin the randomly initialised torchvision model's state_dict loads into the archlang
module with strict=True; the outputs then agree in eval mode and, under the same seed, in
training mode (dropout masks included, which holds only if the modules run in the same order),
and so do the gradients of every parameter after one backward pass in training mode.
Each test builds its pair, uses it and frees it, so at most one pair (VGG-19: 2 x 143M
parameters) is alive at a time.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import archlang

ROOT = Path(__file__).resolve().parent.parent

# network -> (spec, input height = width). Small inputs keep the file fast: AlexNet needs
# at least 63x63, VGG's adaptive 7x7 pool accepts 32x32. ResNet and GoogLeNet run at 64x64,
# so that batch norm in training mode still sees several values per channel in the last stage.
TWINS = {
    "alexnet": ("specs/alexnet.arch", 63),
    "vgg11": ("specs/vgg.arch", 32),
    "vgg13": ("specs/vgg.arch", 32),
    "vgg16": ("specs/vgg.arch", 32),
    "vgg19": ("specs/vgg.arch", 32),
    "vgg11_bn": ("specs/vgg.arch", 32),
    "vgg13_bn": ("specs/vgg.arch", 32),
    "vgg16_bn": ("specs/vgg.arch", 32),
    "vgg19_bn": ("specs/vgg.arch", 32),
    "resnet18": ("specs/resnet.arch", 64),
    "resnet34": ("specs/resnet.arch", 64),
    "resnet50": ("specs/resnet.arch", 64),
    "resnet101": ("specs/resnet.arch", 64),
    "resnet152": ("specs/resnet.arch", 64),
    "googlenet": ("specs/googlenet.arch", 64),
    "resnext50_32x4d": ("specs/resnet.arch", 64),
    "resnext101_32x8d": ("specs/resnet.arch", 64),
    "resnext101_64x4d": ("specs/resnet.arch", 64),
    "wide_resnet50_2": ("specs/resnet.arch", 64),
    "wide_resnet101_2": ("specs/resnet.arch", 64),
    "squeezenet1_0": ("specs/squeezenet.arch", 21),
    "squeezenet1_1": ("specs/squeezenet.arch", 17),
    "mobilenet_v2": ("specs/mobilenet.arch", 32),
    "mobilenet_v3_small": ("specs/mobilenet.arch", 32),
    "mobilenet_v3_large": ("specs/mobilenet.arch", 32),
    **{f"efficientnet_b{i}": ("specs/efficientnet.arch", 32) for i in range(8)},
    # 33 x 33: EfficientNetV2's smallest input (its weights' `min_size`)
    **{f"efficientnet_v2_{size}": ("specs/efficientnet.arch", 33) for size in "sml"},
    **{f"shufflenet_v2_{w}": ("specs/shufflenet.arch", 32)
       for w in ("x0_5", "x1_0", "x1_5", "x2_0")},
    "mnasnet0_5": ("specs/mnasnet.arch", 32),
    "mnasnet0_75": ("specs/mnasnet.arch", 32),
    "mnasnet1_0": ("specs/mnasnet.arch", 32),
    "mnasnet1_3": ("specs/mnasnet.arch", 32),
    "densenet121": ("specs/densenet.arch", 32),
    "densenet161": ("specs/densenet.arch", 32),
    "densenet169": ("specs/densenet.arch", 32),
    "densenet201": ("specs/densenet.arch", 32),
    # ConvNeXt downsamples by 32: 32 x 32 leaves one position in the last stage
    **{f"convnext_{size}": ("specs/convnext.arch", 32)
       for size in ("tiny", "small", "base", "large")},
    # RegNet downsamples by 32 too. regnet_y_128gf (645M parameters) is checked statically
    # only (tests/test_zoo_static.py): a pair and its gradients would take 10 GB.
    **{f"regnet_{kind}_{size}": ("specs/regnet.arch", 32)
       for kind, sizes in (("x", ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")),
                           ("y", ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")))
       for size in sizes},
    # Inception v3's auxiliary head needs the 17 x 17 grid of a 299 x 299 input in training;
    # test_inception_v3_smallest_input runs it at 75 x 75 without the head.
    "inception_v3": ("specs/inception.arch", 299),
}


def torchvision_model(name: str) -> torch.nn.Module:
    if name == "googlenet":
        return torchvision.models.googlenet(aux_logits=True, init_weights=True)
    if name == "inception_v3":
        return torchvision.models.inception_v3(init_weights=True)
    return getattr(torchvision.models, name)()


@pytest.fixture
def pair(name, monkeypatch):
    """(archlang module, torchvision module) with torchvision's weights; freed afterwards."""
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    theirs = torchvision_model(name)
    ours = archlang.load(TWINS[name][0], name)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    models = [ours, theirs]
    yield models
    models.clear()
    del ours, theirs
    gc.collect()


def run_both(ours, theirs, x, seed):
    torch.manual_seed(seed)
    a = ours(x)
    torch.manual_seed(seed)
    b = theirs(x)
    return a, b


@pytest.mark.parametrize("name", list(TWINS))
def test_twin_outputs_equal(name, pair):
    ours, theirs = pair
    spec, size = TWINS[name]
    # The static checker's answers at the size the test runs at.
    static = archlang.check(spec, name, inputs=(3, size, size))
    assert sum(p.numel() for p in ours.parameters()) == static.params
    assert sum(b.numel() for b in ours.buffers()) == static.totals.buffers
    torch.manual_seed(1)
    x = torch.randn(2, 3, size, size)

    ours.eval()
    theirs.eval()
    with torch.no_grad():
        a, b = run_both(ours, theirs, x, seed=2)
    assert isinstance(a, torch.Tensor)
    assert tuple(a.shape) == (2, *static.outputs["logits"])
    torch.testing.assert_close(a, b)

    ours.train()
    theirs.train()
    a, b = run_both(ours, theirs, x, seed=3)
    if name == "googlenet":
        assert a._fields == ("logits", "aux2", "aux1") == tuple(static.outputs)
        for key, value in static.outputs.items():
            assert tuple(getattr(a, key).shape) == (2, *value), key
        torch.testing.assert_close(a.logits, b.logits)
        torch.testing.assert_close(a.aux1, b.aux_logits1)
        torch.testing.assert_close(a.aux2, b.aux_logits2)
    elif name == "inception_v3":
        assert a._fields == ("logits", "aux") == tuple(static.outputs)
        torch.testing.assert_close(a.logits, b.logits)
        torch.testing.assert_close(a.aux, b.aux_logits)
    else:
        assert isinstance(a, torch.Tensor)
        torch.testing.assert_close(a, b)
    # The same loss (a fixed random weighting of every output) gives the same gradients.
    torch.manual_seed(5)
    outs_a, outs_b = ([a], [b]) if isinstance(a, torch.Tensor) else (list(a), list(b))
    weights = [torch.randn_like(out) for out in outs_a]
    sum((out * w).sum() for out, w in zip(outs_a, weights)).backward()
    sum((out * w).sum() for out, w in zip(outs_b, weights)).backward()
    ours_params = dict(ours.named_parameters())
    for key, value in theirs.named_parameters():
        torch.testing.assert_close(ours_params[key].grad, value.grad, msg=key)
    # Where there is dropout, another seed gives another output: the masks compared above
    # were really drawn.
    if name.startswith(("vgg", "alexnet", "squeezenet", "mobilenet_v3", "efficientnet",
                        "inception")):
        with torch.no_grad():
            c, _ = run_both(ours, theirs, x, seed=4)
        first = (lambda out: out if isinstance(out, torch.Tensor) else out[0])
        assert not torch.equal(first(a), first(c))
    # Stochastic depth drops with torchvision's probabilities (growing with the block's
    # index): each of ours is the module of that name in torchvision (which also builds one,
    # unused, in the blocks without a shortcut).
    theirs_modules = dict(theirs.named_modules())
    for key, module in ours.named_modules():
        if type(module).__name__ == "StochasticDepth":
            assert (module.p, module.mode) == (theirs_modules[key].p, theirs_modules[key].mode)
    # Batch norm's running statistics moved identically.
    ours_buffers = dict(ours.named_buffers())
    for key, value in theirs.named_buffers():
        torch.testing.assert_close(ours_buffers[key], value, msg=key)


def test_inception_v3_smallest_input(monkeypatch):
    """torchvision's smallest input for Inception v3, 75 x 75 (its weights' `min_size`), is too
    small for the auxiliary head (which only training computes); without the head the
    network is the twin of torchvision's at that size, in eval and training mode."""
    monkeypatch.chdir(ROOT)
    with pytest.raises(archlang.ArchError) as err:
        archlang.check("specs/inception.arch", "inception_v3", inputs=(3, 75, 75))
    assert err.value.codes[0] == "E022"  # the aux head's 5x5 pool on a 3x3 grid
    static = archlang.check("specs/inception.arch", "inception_v3", inputs=(3, 75, 75),
                            aux_logits=False)
    torch.manual_seed(0)
    theirs = torchvision.models.inception_v3(aux_logits=False, init_weights=True)
    ours = archlang.load("specs/inception.arch", "inception_v3", aux_logits=False)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert sum(p.numel() for p in ours.parameters()) == static.params == 23_834_568
    x = torch.randn(2, 3, 75, 75)
    for mode in (False, True):
        ours.train(mode)
        theirs.train(mode)
        with torch.no_grad():
            a, b = run_both(ours, theirs, x, seed=2)
        assert tuple(a.shape) == (2, *static.outputs["logits"])
        torch.testing.assert_close(a, b)
