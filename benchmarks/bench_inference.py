"""8. The inference build against torchvision eager on this CPU: time of one forward at
batch 1 and 8, for resnet50, googlenet, vgg16, mobilenet_v2 and efficientnet_b0.

    python benchmarks/bench_inference.py                  # the eager rows (minutes on 2 cores)
    python benchmarks/bench_inference.py --models resnet50 --batches 8 --compile --onnx
    python benchmarks/bench_inference.py --layout         # + torchvision in channels_last

Variants, all with torchvision's weights (the inference build loads its state_dict):

- ``torchvision eager``: eval mode, ``torch.inference_mode``, the default layout;
- ``archlang inference``: ``archlang.load(..., inference=True)`` (BatchNorm folded,
  channels_last, docs/deploy.md);
- with ``--layout``, ``torchvision channels_last``: torchvision's model and input converted
  to channels_last, nothing folded (what the layout alone is worth);
- with ``--compile``, ``torchvision compiled`` and ``archlang inference compiled``: both
  under the same ``torch.compile`` setting (``--compile-backend``, ``--compile-mode``). The
  first call compiles; it is timed on its own (``compile_s``) and left out of the samples.
  Inductor's cache goes to a fresh directory unless TORCHINDUCTOR_CACHE_DIR is set, so the
  compile time is a cold one;
- with ``--onnx``, ``onnxruntime``: ONNX Runtime's CPU provider on ``archlang export``'s
  model (torchvision's weights), as many intra-op threads as torch uses and, like torch
  here (OMP_WAIT_POLICY=PASSIVE), threads that do not spin while waiting (``--ort-spin``
  lets them).

The outputs of every variant are compared with torchvision's first (1e-4 relative). The
variants then run interleaved, round after round, in an order reversed every other round,
so a noisy neighbour slows all of them alike; min and median per variant are reported, and
the ratios are torchvision eager's median over the variant's (also per round: torchvision's
time over the variant's in the same round, median and quartiles) and, for a compiled
variant, torchvision compiled's median over its own. The load average is recorded before and after each row.
``--out PATH`` writes the samples as JSON with the machine's facts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: matters on a shared CPU

import torch
from common import machine, quantile, versions
from models import ROOT, SPECS, torchvision_model

import archlang

MODELS = ["resnet50", "googlenet", "vgg16", "mobilenet_v2", "efficientnet_b0"]
BASE = "torchvision eager"
#: a compiled variant is also compared with its twin under the same setting
SAME_SETTING = {"archlang inference compiled": "torchvision compiled"}


def relative_error(got, want) -> float:
    got, want = torch.as_tensor(got), torch.as_tensor(want)
    return ((got - want).abs().max() / want.abs().max()).item()


def variants(name: str, batch: int, args) -> tuple[dict, dict]:
    """(label -> a function running one forward of ``batch`` images, label -> seconds its
    first call took where that call compiles)."""
    torch.manual_seed(0)
    tv = torchvision_model(name).eval()
    build = archlang.load(str(ROOT / SPECS[name]), network=name, inference=True).eval()
    build.load_state_dict(tv.state_dict())
    x = torch.randn(batch, 3, args.image, args.image)
    models = {BASE: (tv, x), "archlang inference": (build, x)}
    if args.layout:
        tv_cl = torchvision_model(name).eval().to(memory_format=torch.channels_last)
        tv_cl.load_state_dict(tv.state_dict())
        models["torchvision channels_last"] = (tv_cl,
                                               x.contiguous(memory_format=torch.channels_last))
    first: dict[str, float] = {}
    if args.compile:
        import torch._dynamo as dynamo

        dynamo.reset()
        for label, m in (("torchvision compiled", tv), ("archlang inference compiled", build)):
            models[label] = (torch.compile(m, backend=args.compile_backend,
                                           mode=args.compile_mode), x)
    runs = {label: (lambda m=m, x=x_: m(x)) for label, (m, x_) in models.items()}
    with torch.inference_mode():
        want = tv(x)
        for label, run in runs.items():
            start = time.perf_counter()
            got = run()
            if "compiled" in label:
                first[label] = time.perf_counter() - start
            err = relative_error(got, want)
            assert err < 1e-4, f"{name}: {label} differs from torchvision eager ({err:.1e})"
    if args.onnx:
        runs["onnxruntime"] = onnx_runner(name, tv, x, args, want)
    return runs, first


def onnx_runner(name: str, tv, x, args, want):
    import onnxruntime as ort

    path = Path(tempfile.mkdtemp()) / f"{name}.onnx"
    archlang.export_onnx(str(ROOT / SPECS[name]), path, network=name,
                         state_dict=tv.state_dict(), inputs=tuple(x.shape[1:]))
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    if not args.ort_spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    err = relative_error(session.run(None, feed)[0], want)
    assert err < 1e-4, f"{name}: ONNX Runtime differs from torchvision eager ({err:.1e})"
    return lambda: session.run(None, feed)


def measure(runs: dict, rounds: int, warmup: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {label: [] for label in runs}
    labels = list(runs)
    with torch.inference_mode():
        for run in runs.values():
            for _ in range(warmup):
                run()
        for r in range(rounds):
            for label in (labels if r % 2 == 0 else labels[::-1]):  # interleaved
                start = time.perf_counter()
                runs[label]()
                times[label].append(time.perf_counter() - start)
    return times


def rows_of(name: str, batch: int, times: dict, first: dict, load: list) -> list[dict]:
    base = statistics.median(times[BASE])
    rows = []
    for label, ts in times.items():
        med = statistics.median(ts)
        twin = SAME_SETTING.get(label)
        paired = [b / t for b, t in zip(times[BASE], ts)]  # the same round's two runs
        rows.append({"model": name, "batch": batch, "variant": label,
                     "min_ms": min(ts) * 1e3, "median_ms": med * 1e3,
                     "images_per_s": batch / med, "ratio": base / med,
                     "ratio_per_round": [quantile(paired, q) for q in (0.25, 0.5, 0.75)],
                     "ratio_same_setting": statistics.median(times[twin]) / med if twin
                     else None,
                     "compile_s": first.get(label), "loadavg": load,
                     "samples_ms": [t * 1e3 for t in ts]})
    return rows


def markdown_row(r: dict) -> str:
    same = f"{r['ratio_same_setting']:.2f}x" if r["ratio_same_setting"] else ""
    comp = f"{r['compile_s']:.0f} s" if r["compile_s"] is not None else ""
    p25, p50, p75 = r["ratio_per_round"]
    return (f"| {r['model']} | {r['batch']} | {r['variant']} | {r['min_ms']:.1f} | "
            f"{r['median_ms']:.1f} | {r['images_per_s']:.1f} | {r['ratio']:.2f}x | "
            f"{p50:.2f}x [{p25:.2f}-{p75:.2f}] | {same} | {comp} | "
            f"{r['loadavg'][0][0]:.1f} / {r['loadavg'][1][0]:.1f} |")


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    p.add_argument("--image", type=int, default=224, help="image size (default 224)")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--layout", action="store_true", help="add torchvision in channels_last")
    p.add_argument("--compile", action="store_true", help="add both under torch.compile")
    p.add_argument("--compile-backend", default="inductor")
    p.add_argument("--compile-mode", default=None, help="torch.compile's mode (default: none)")
    p.add_argument("--onnx", action="store_true", help="add ONNX Runtime (CPU provider)")
    p.add_argument("--ort-spin", action="store_true",
                   help="let ONNX Runtime's threads spin while they wait (its default)")
    p.add_argument("--out", help="write the rows and samples as JSON here")
    args = p.parse_args(argv)
    if args.compile:
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="inductor-"))
    facts = machine()
    print(f"{facts['cpu']}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"load average at start {facts['loadavg_at_start']}")
    print("| model | batch | variant | min ms | median ms | images/s | vs torchvision eager "
          "| per round, median [quartiles] | vs torchvision, same setting | compile "
          "| load 1-min before / after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows: list[dict] = []
    for name in args.models:
        for batch in args.batches:
            load = [os.getloadavg()]
            runs, first = variants(name, batch, args)
            times = measure(runs, args.rounds, args.warmup)
            load.append(os.getloadavg())
            for row in rows_of(name, batch, times, first, load):
                rows.append(row)
                print(markdown_row(row), flush=True)
    if args.out:
        data = {"benchmark": "inference", "machine": facts, "versions": versions(),
                "args": vars(args), "threads": torch.get_num_threads(),
                "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")},
                "time": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
