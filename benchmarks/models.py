"""The model pairs the run-time benchmarks compare: torchvision's and archlang's, with the
same weights. Imports torch, torchvision and archlang only (nothing else)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = {"resnet50": "specs/resnet.arch", "googlenet": "specs/googlenet.arch",
         "resnet152": "specs/resnet.arch", "vgg16": "specs/vgg.arch",
         "mobilenet_v2": "specs/mobilenet.arch", "efficientnet_b0": "specs/efficientnet.arch"}
#: loss weights of the training outputs, in the order both models return them
AUX_WEIGHTS = {"googlenet": (1.0, 0.3, 0.3)}


def torchvision_model(name: str):
    import torchvision

    if name == "googlenet":
        return torchvision.models.googlenet(aux_logits=True, init_weights=True)
    return getattr(torchvision.models, name)()


def archlang_model(name: str):
    import archlang

    return archlang.load(str(ROOT / SPECS[name]), network=name)


def pair(name: str, seed: int = 0):
    """(torchvision model, archlang model) with identical weights and buffers."""
    import torch

    torch.manual_seed(seed)
    tv = torchvision_model(name)
    al = archlang_model(name)
    al.load_state_dict(tv.state_dict(), strict=True)
    return tv, al


def build(name: str, impl: str):
    return torchvision_model(name) if impl == "torchvision" else archlang_model(name)


def outputs(out) -> tuple:
    """A model's outputs as a tuple of tensors (training-mode GoogLeNet returns three)."""
    if isinstance(out, tuple):
        return tuple(out)
    return (out,)


def loss_fn(name: str, out, target):
    import torch.nn.functional as F

    outs = outputs(out)
    weights = AUX_WEIGHTS.get(name, (1.0,))[:len(outs)]
    return sum(w * F.cross_entropy(o.float(), target) for w, o in zip(weights, outs))


def max_abs_diff(a, b) -> float:
    return max(float((x.detach().float() - y.detach().float()).abs().max()) for x, y in
               zip(outputs(a), outputs(b)))
