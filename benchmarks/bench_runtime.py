"""3. Run time on the CPU: archlang's module against torchvision's, same weights.

    python benchmarks/bench_runtime.py [--quick] [--reps N]

For resnet50 and googlenet at 224x224, with torch.set_num_threads(2):
  - inference: forward at batch 1 (eval mode, no_grad);
  - training: forward + backward at batch 8 (train mode, cross-entropy; GoogLeNet adds its
    two auxiliary losses with weight 0.3, as both models return them in training).
Both models live in one process with identical weights (``load_state_dict``); their outputs
are compared first. Steps alternate between the two (ABBA order), after warm-up; the
headline is the median of the per-pair ratios. Peak memory is measured per model in a fresh
process by ``_runtime_memory.py`` (the rise of resident memory during one step).
Targets: time ratio <= 1.03; peak memory equal (within 2 %; lower counts as met).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH,
    fmt_mib,
    fmt_ratio,
    fmt_spread,
    md_table,
    paired_ratio,
    run_json,
    save,
    stats,
    verdict,
)

TIME_TARGET = 1.03
MEMORY_TOLERANCE = 0.02
MODELS = ["resnet50", "googlenet"]
MODES = {"forward, batch 1": ("eval", 1), "forward + backward, batch 8": ("train", 8)}


def bench_pair(name: str, reps: dict[str, int], warmup: int) -> dict:
    import torch
    from models import loss_fn, max_abs_diff, pair

    tv, al = pair(name)
    out: dict = {"model": name}
    # outputs agree (eval, and train: same batch statistics, no dropout randomness issue
    # because the comparison runs with the same seed for both)
    x = torch.randn(2, 3, 224, 224)
    tv.eval()
    al.eval()
    with torch.no_grad():
        out["max_abs_diff_eval"] = max_abs_diff(tv(x), al(x))
    tv.train()
    al.train()
    torch.manual_seed(1)
    a = tv(x)
    torch.manual_seed(1)
    b = al(x)
    out["max_abs_diff_train"] = max_abs_diff(a, b)
    del a, b
    for label, (mode, batch) in MODES.items():
        x = torch.randn(batch, 3, 224, 224)
        y = torch.randint(0, 1000, (batch,))
        models = {"torchvision": tv, "archlang": al}
        for m in models.values():
            m.train(mode == "train")
            m.zero_grad(set_to_none=True)

        def step(m, mode=mode, x=x, y=y):
            if mode == "train":
                m.zero_grad(set_to_none=True)
                t0 = time.perf_counter()
                loss_fn(name, m(x), y).backward()
                return time.perf_counter() - t0
            with torch.no_grad():
                t0 = time.perf_counter()
                m(x)
                return time.perf_counter() - t0

        for _ in range(warmup):
            for m in models.values():
                step(m)
        samples = {k: [] for k in models}
        for i in range(reps[mode]):
            order = ["torchvision", "archlang"] if i % 2 == 0 else ["archlang", "torchvision"]
            for k in order:
                samples[k].append(step(models[k]))
        res = {k: stats(v) for k, v in samples.items()}
        res["ratio"] = paired_ratio(samples["archlang"], samples["torchvision"])
        res["target_met"] = res["ratio"]["median"] <= TIME_TARGET
        res["raw"] = samples
        out[label] = res
        for m in models.values():
            m.zero_grad(set_to_none=True)
    return out


def memory(name: str, steps: int) -> dict:
    env = {"MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "2"}
    out = {}
    for label, (mode, batch) in MODES.items():
        res = {}
        for impl in ("torchvision", "archlang"):
            res[impl] = run_json([sys.executable, str(BENCH / "_runtime_memory.py"), name, impl,
                                  mode, str(batch), str(steps)], env=env)
        tvb = res["torchvision"]["peak_delta_bytes"]
        alb = res["archlang"]["peak_delta_bytes"]
        res["ratio"] = alb / tvb if tvb else float("nan")
        # equal within 2 %, or lower: the aim is no regression against torchvision
        res["target_met"] = res["ratio"] <= 1 + MEMORY_TOLERANCE
        res["lower"] = res["ratio"] < 1 - MEMORY_TOLERANCE
        out[label] = res
    return out


def table(results: list[dict]) -> str:
    rows = []
    for r in results:
        for label in MODES:
            x = r[label]
            m = r["memory"][label]
            ra = x["ratio"]
            rows.append([
                r["model"], label,
                fmt_spread(x["torchvision"]), fmt_spread(x["archlang"]),
                f"**{fmt_ratio(ra['median'])}** [{fmt_ratio(ra['p25'])}–{fmt_ratio(ra['p75'])}]",
                verdict(x["target_met"]),
                fmt_mib(m["torchvision"]["peak_delta_bytes"]),
                fmt_mib(m["archlang"]["peak_delta_bytes"]),
                f"{m['ratio']:.3f}",
                verdict(m["target_met"]) + (" (archlang lower)" if m.get("lower") else ""),
                str(x["torchvision"]["n"])])
    out = md_table(["model", "step", "torchvision, median [p25–p75]",
                    "archlang, median [p25–p75]",
                    "ratio archlang / torchvision, median of pairs [p25–p75]",
                    f"≤ {TIME_TARGET}", "peak memory of a step, torchvision",
                    "archlang", "memory ratio", "≤ 1.02", "pairs"], rows)
    out += "\n\nOutputs agree (same weights): " + "; ".join(
        f"{r['model']}: max abs diff {r['max_abs_diff_eval']:.2e} (eval), "
        f"{r['max_abs_diff_train']:.2e} (train)" for r in results)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repetitions")
    ap.add_argument("--reps", type=int, help="pairs per measurement (default: 60 forward, "
                                              "20 training; quick 6 and 3)")
    ap.add_argument("--models", help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--out", help="results directory (default benchmarks/results)")
    ap.add_argument("--render", metavar="JSON", help="print the tables of a saved run")
    args = ap.parse_args(argv)
    if args.render:
        import json

        print(table(json.loads(Path(args.render).read_text(encoding="utf-8"))["results"]))
        return {}
    import torch

    torch.set_num_threads(2)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    if args.reps:
        reps = {"eval": args.reps, "train": args.reps}
    else:
        reps = {"eval": 6, "train": 3} if args.quick else {"eval": 60, "train": 20}
    models = args.models.split(",") if args.models else MODELS
    results = []
    for name in models:
        print(f"  runtime: {name}", file=sys.stderr)
        r = bench_pair(name, reps, warmup=1 if args.quick else 3)
        r["memory"] = memory(name, steps=2 if args.quick else 3)
        results.append(r)
    data = {"quick": args.quick, "threads": 2, "results": results, "markdown": table(results)}
    path = save("runtime", data, args.out)
    print(data["markdown"])
    print(f"\n(results: {path})", file=sys.stderr)
    return data


if __name__ == "__main__":
    main()
