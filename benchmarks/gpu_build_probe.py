"""5. Where the inference build's eager time goes on a GPU, against torchvision.

    python benchmarks/gpu_build_probe.py resnet50        # or mobilenet_v2
    DEV=cpu B=2 python benchmarks/gpu_build_probe.py resnet50   # a smoke run on the CPU

Inference at batch ``B`` (default 256), channels_last, ``cudnn.benchmark``, five models with
torchvision's weights, in alternating rounds:
  - ``tv``: torchvision in eval mode, bf16 autocast (as in gpu.py);
  - ``build``: archlang's inference build (BatchNorm folded into the convolution's bias);
  - ``tv_fx_fused``: torchvision with BatchNorm folded by ``torch.fx.experimental.optimization.
    fuse``, which is what the build does, done to torchvision's own module;
  - ``build_bf16``, ``tv_bf16``: both converted to bfloat16, no autocast.
Then ``torch.profiler``'s kernel table for three forwards of ``tv``, ``build`` and
``tv_fx_fused``. Prints images per second (median of 4 rounds of 20 batches) and the tables.
"""

from __future__ import annotations

import copy
import os
import statistics
import sys
import time

import torch
import torchvision
from torch.fx.experimental.optimization import fuse
from torch.profiler import ProfilerActivity, profile

import archlang

SPECS = {"resnet50": "zoo:resnet50", "mobilenet_v2": "zoo:mobilenet_v2"}


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main() -> None:
    torch.backends.cudnn.benchmark = True
    dev = os.environ.get("DEV", "cuda")
    name = sys.argv[1] if len(sys.argv) > 1 else "resnet50"
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)().eval()
    build = archlang.load(SPECS[name], inference=True)
    build.load_state_dict(tv.state_dict())
    models = {"tv": tv, "build": build.eval(), "tv_fx_fused": fuse(tv)}  # fuse: a copy
    for m in models.values():
        m.to(dev).to(memory_format=torch.channels_last)
    models["build_bf16"] = copy.deepcopy(build).to(torch.bfloat16)
    models["tv_bf16"] = copy.deepcopy(tv).to(torch.bfloat16)
    x = torch.randn(int(os.environ.get("B", "256")), 3, 224, 224, device=dev)
    x = x.contiguous(memory_format=torch.channels_last)
    xb = x.to(torch.bfloat16)

    def step(key):
        m = models[key]
        if key.endswith("bf16"):
            def f():
                with torch.no_grad():
                    m(xb)
        else:
            def f():
                with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16):
                    m(x)
        return f

    steps = {k: step(k) for k in models}
    for s in steps.values():
        for _ in range(5):
            s()
    rates: dict[str, list[float]] = {k: [] for k in steps}
    for r in range(4):
        for k in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
            sync()
            t = time.perf_counter()
            for _ in range(20):
                steps[k]()
            sync()
            rates[k].append(x.shape[0] * 20 / (time.perf_counter() - t))
    for k, v in rates.items():
        print(f"{name} {k:12s} {statistics.median(v):10,.0f} img/s  {[round(a) for a in v]}")
    for k in ("tv", "build", "tv_fx_fused"):
        with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as p:
            for _ in range(3):
                steps[k]()
            sync()
        print(f"==== {name} {k}")
        print(p.key_averages().table(sort_by="cuda_time_total", row_limit=14,
                                     max_name_column_width=70))


if __name__ == "__main__":
    main()
