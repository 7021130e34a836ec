"""The inference build against torchvision eager on this CPU: throughput of one forward at
batch 1 and 8, for resnet50, googlenet and vgg16.

    python benchmarks/bench_inference.py                  # every row (minutes on 2 cores)
    python benchmarks/bench_inference.py --models resnet50 --batches 8 --rounds 5
    python benchmarks/bench_inference.py --compile --onnx  # add torch.compile and ONNX Runtime

Rows, all with torchvision's weights (the inference build loads its state_dict): torchvision
eager (eval, ``torch.inference_mode``), archlang's inference build (``archlang.load(...,
inference=True)``: BatchNorm folded, channels_last), with ``--compile`` both of them under
``torch.compile`` (the same setting on both sides), with ``--onnx`` ONNX Runtime (CPU provider)
on ``archlang export``'s model. The variants run interleaved, round after round, so a noisy
neighbour slows all of them alike; min and median per variant are reported, and the ratio is
torchvision eager's median over the variant's. Writes JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: matters on a shared CPU

import torch
from models import ROOT, SPECS, torchvision_model

import archlang


def variants(name: str, batch: int, args) -> dict:
    """name -> a function running one forward of ``batch`` images."""
    torch.manual_seed(0)
    tv = torchvision_model(name).eval()
    build = archlang.load(str(ROOT / SPECS[name]), network=name, inference=True).eval()
    build.load_state_dict(tv.state_dict())
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        want, got = tv(x), build(x)
        err = ((got - want).abs().max() / want.abs().max()).item()
    assert err < 1e-4, f"{name}: the inference build differs from torchvision ({err:.1e})"
    out = {"torchvision eager": tv, "archlang inference": build}
    if args.compile:
        out["torchvision compiled"] = torch.compile(tv)
        out["archlang inference compiled"] = torch.compile(build)
    runs = {label: (lambda m=m: m(x)) for label, m in out.items()}
    if args.onnx:
        import onnxruntime as ort

        path = Path(tempfile.mkdtemp()) / f"{name}.onnx"
        archlang.export_onnx(str(ROOT / SPECS[name]), path, network=name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x.numpy()}
        runs["onnxruntime"] = lambda: session.run(None, feed)
    return runs


def measure(runs: dict, rounds: int, warmup: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {label: [] for label in runs}
    with torch.inference_mode():
        for run in runs.values():
            for _ in range(warmup):
                run()
        for _ in range(rounds):
            for label, run in runs.items():  # interleaved
                start = time.perf_counter()
                run()
                times[label].append(time.perf_counter() - start)
    return times


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["resnet50", "googlenet", "vgg16"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--onnx", action="store_true")
    p.add_argument("--out")
    args = p.parse_args(argv)
    rows = []
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    print("| model | batch | variant | min ms | median ms | images/s | vs torchvision eager |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        for batch in args.batches:
            times = measure(variants(name, batch, args), args.rounds, args.warmup)
            base = statistics.median(times["torchvision eager"])
            for label, ts in times.items():
                med = statistics.median(ts)
                row = {"model": name, "batch": batch, "variant": label, "min_ms": min(ts) * 1e3,
                       "median_ms": med * 1e3, "images_per_s": batch / med,
                       "ratio": base / med}
                rows.append(row)
                print(f"| {name} | {batch} | {label} | {row['min_ms']:.1f} | "
                      f"{row['median_ms']:.1f} | {row['images_per_s']:.1f} | "
                      f"{row['ratio']:.2f}x |", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
