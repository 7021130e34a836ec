"""The zoo's dense-prediction networks are torchvision's: same state_dict, same outputs.

specs/segmentation.arch (FCN, DeepLabV3, LR-ASPP) and specs/detection.arch (the ResNet-50
FPN backbone of Faster R-CNN) call the zoo's ResNet and MobileNetV3 backbones as blocks with
several outputs. For each network the randomly initialised torchvision model (its batch-norm
statistics and frozen norms randomised too, so that they matter) loads into the archlang
module with strict=True; then, at an input size none of the strides divides (each resize
is to another tensor's size), the outputs agree in eval mode and, under the same seed, in
training mode (dropout masks included), the auxiliary classifier's output being a training
output; so do the gradients of every parameter torchvision trains and the batch-norm
statistics after the training step. The static checker's output shapes and parameter and
buffer counts are the module's. On one thread each pair takes a second or two.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import archlang

ROOT = Path(__file__).resolve().parent.parent

# network -> (spec, torchvision's parameter count: its weights' `num_params`)
TWINS = {
    "resnet_fpn_backbone": ("specs/detection.arch", 26_799_296),
    "fcn_resnet50": ("specs/segmentation.arch", 35_322_218),
    "fcn_resnet101": ("specs/segmentation.arch", 54_314_346),
    "deeplabv3_resnet50": ("specs/segmentation.arch", 42_004_074),
    "deeplabv3_resnet101": ("specs/segmentation.arch", 60_996_202),
    "deeplabv3_mobilenet_v3_large": ("specs/segmentation.arch", 11_029_328),
    "lraspp_mobilenet_v3_large": ("specs/segmentation.arch", 3_221_538),
}
H, W = 67, 45  # odd: stride 8 gives 9 x 6, 16 gives 5 x 3, 64 gives 2 x 1


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is faster than a pool that waits on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torchvision_model(name: str) -> torch.nn.Module:
    if name == "resnet_fpn_backbone":
        from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

        return resnet_fpn_backbone(backbone_name="resnet50", weights=None)
    builder = getattr(torchvision.models.segmentation, name)
    aux = {} if name.startswith("lraspp") else {"aux_loss": True}
    return builder(weights=None, weights_backbone=None, **aux)


def outputs_of(name: str, out) -> dict:
    """torchvision's outputs under archlang's names."""
    if name == "resnet_fpn_backbone":  # keys 0 ... 3 and pool
        return {"p2": out["0"], "p3": out["1"], "p4": out["2"], "p5": out["3"],
                "pool": out["pool"]}
    return dict(out)


@pytest.fixture
def pair(name, monkeypatch):
    """(archlang module, torchvision module) with torchvision's weights; freed afterwards."""
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    theirs = torchvision_model(name)
    with torch.no_grad():  # running statistics (and frozen affines) of a trained network
        for key, value in theirs.named_buffers():
            if key.endswith(("running_mean", "bias")):
                value.copy_(torch.randn_like(value) * 0.1)
            elif key.endswith(("running_var", "weight")):
                value.copy_(torch.rand_like(value) + 0.5)
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
def test_dense_twin(name, pair):
    ours, theirs = pair
    spec, published = TWINS[name]
    static = archlang.check(spec, name, inputs=(3, H, W))
    assert sum(p.numel() for p in ours.parameters()) == static.params == published
    assert sum(b.numel() for b in ours.buffers()) == static.totals.buffers
    torch.manual_seed(1)
    x = torch.randn(2, 3, H, W)

    ours.eval()
    theirs.eval()
    with torch.no_grad():
        a, b = run_both(ours, theirs, x, seed=2)
    b = outputs_of(name, b)
    inference = [k for k in static.outputs if k not in static.totals.training_outputs]
    mine = {inference[0]: a} if isinstance(a, torch.Tensor) else a._asdict()
    assert list(mine) == inference
    for key, value in mine.items():
        assert tuple(value.shape) == (2, *static.outputs[key]), key
        torch.testing.assert_close(value, b[key], msg=key)

    ours.train()
    theirs.train()
    a, b = run_both(ours, theirs, x, seed=3)
    b = outputs_of(name, b)
    mine = {next(iter(static.outputs)): a} if isinstance(a, torch.Tensor) else a._asdict()
    assert list(mine) == list(static.outputs) == list(b)  # the aux output in training
    for key, value in mine.items():
        assert tuple(value.shape) == (2, *static.outputs[key]), key
        torch.testing.assert_close(value, b[key], msg=key)
    # The same loss (a fixed random weighting of every output) gives the same gradients.
    torch.manual_seed(5)
    weights = {key: torch.randn_like(value) for key, value in mine.items()}
    sum((mine[k] * w).sum() for k, w in weights.items()).backward()
    sum((b[k] * w).sum() for k, w in weights.items()).backward()
    ours_params = dict(ours.named_parameters())
    for key, value in theirs.named_parameters():
        if value.requires_grad:  # the FPN backbone freezes its stem and layer1
            torch.testing.assert_close(ours_params[key].grad, value.grad, msg=key)
    # Batch norm's running statistics moved identically.
    ours_buffers = dict(ours.named_buffers())
    for key, value in theirs.named_buffers():
        torch.testing.assert_close(ours_buffers[key], value, msg=key)
