"""5. archlang against torchvision on a GPU: training and inference throughput, latency,
peak memory, agreement of outputs, and the share of the card's peak bf16 FLOP/s.

    python benchmarks/gpu.py                       # an H100/H200: every model, every row
    python benchmarks/gpu.py --models resnet50,googlenet    # a part of the table
    python benchmarks/gpu.py --dry-run             # every model and row on the CPU, tiny sizes
    python benchmarks/gpu.py --device cpu --quick  # a smoke run on the CPU in seconds

For resnet50, googlenet, vgg16, mobilenet_v2 and efficientnet_b0, a torchvision model and
archlang's with the same weights (``load_state_dict``), channels_last, bf16 autocast,
``cudnn.benchmark``:
  - outputs agree (fp32, eval, TF32 off), the inference build's too;
  - training step (SGD with momentum, cross-entropy; GoogLeNet adds 0.3 x each auxiliary
    loss) at batch 256, eager and ``torch.compile(fullgraph=True)``;
  - inference at batch 256, eager and compiled;
  - batch-1 latency (eager);
  - archlang's inference build (BatchNorm folded, channels_last; docs/deploy.md) against
    torchvision in eval mode: batch 256 eager and, with ``--compile all``, both under
    ``torch.compile``, and batch-1 latency eager;
  - peak memory of a training step and of an inference batch (max_memory_allocated);
  - the fraction of peak: a training image costs 3 x 2 x MACs (forward, and twice that
    backward), an inference image 2 x MACs, with the MACs from archlang's static check.
The two implementations alternate in rounds; medians are reported. Needs only torch,
torchvision and archlang. Writes JSON (``--out``, again after each row, so an interrupted
run keeps the rows it finished) and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: matters on a shared CPU

import torch
from models import ROOT, SPECS, loss_fn, max_abs_diff, outputs, pair

MODELS = ["resnet50", "googlenet", "vgg16", "mobilenet_v2", "efficientnet_b0"]
QUICK_MODELS = ["resnet50", "googlenet"]
IMPLS = ["torchvision", "archlang"]
#: dense bf16 peak, TFLOP/s, by a substring of the device name (first match wins)
PEAKS = [("H100 PCIe", 756.0), ("H100", 989.4), ("H200", 989.4), ("A100", 312.0)]


def md_table(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


class Bench:
    def __init__(self, args, checkpoint=lambda: None):
        self.args = args
        #: called after each row, so that an interrupted run keeps the rows it finished
        self.checkpoint = checkpoint
        self.dev = torch.device(args.device)
        self.cuda = self.dev.type == "cuda"
        self.dtype = {"bf16": torch.bfloat16, "fp32": None}[args.dtype]

    # -- plumbing -------------------------------------------------------------------------
    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def autocast(self):
        if self.dtype is None:
            return torch.autocast(self.dev.type, enabled=False)
        return torch.autocast(self.dev.type, dtype=self.dtype)

    def batch(self, n: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 3, self.args.image, self.args.image, generator=g)
        y = torch.randint(0, 1000, (n,), generator=g)
        x = x.to(self.dev).contiguous(memory_format=torch.channels_last)
        return x, y.to(self.dev)

    def timed(self, f, iters: int) -> float:
        """Seconds per iteration of ``f`` over ``iters`` calls (synchronised at the ends)."""
        self.sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            f()
        self.sync()
        return (time.perf_counter() - t0) / iters

    def alternate(self, steps: dict, iters: int, rounds: int) -> dict[str, list[float]]:
        """Seconds per iteration, per implementation and round, in alternating order."""
        out = {k: [] for k in steps}
        keys = list(steps)
        for r in range(rounds):
            for k in (keys if r % 2 == 0 else keys[::-1]):
                out[k].append(self.timed(steps[k], iters))
        return out

    # -- steps ----------------------------------------------------------------------------
    def train_step(self, name, model, opt, x, y):
        def step():
            with self.autocast():
                loss = loss_fn(name, model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    def infer_step(self, model, x):
        def step():
            with torch.no_grad(), self.autocast():
                model(x)
        return step

    # -- one model ------------------------------------------------------------------------
    def run_model(self, name: str, res: dict) -> dict:
        """Fills ``res`` row by row (``self.checkpoint()`` after each)."""
        import archlang

        a = self.args
        res["model"] = name
        check = archlang.check(str(ROOT / SPECS[name]), network=name,
                               inputs=(3, a.image, a.image))
        res["macs_inference"] = int(check.totals.macs)
        res["macs_training"] = int(check.totals.macs_train)
        tv, al = pair(name)
        models = {"torchvision": tv, "archlang": al}
        for m in models.values():
            m.to(self.dev).to(memory_format=torch.channels_last)
        res["agreement"] = self.agreement(models)
        self.checkpoint()
        # the weights before the training steps move them (tiny batches can make them
        # diverge); on the CPU, so that the memory rows do not count them
        initial = {k: v.detach().to("cpu", copy=True) for k, v in tv.state_dict().items()}
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        bs, it, rounds = a.batch, a.iters, a.rounds
        x, y = self.batch(bs)
        opts = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
                for k, m in models.items()}

        # eager training
        for m in models.values():
            m.train()
        steps = {k: self.train_step(name, models[k], opts[k], x, y) for k in IMPLS}
        for s in steps.values():
            for _ in range(a.warmup):
                s()
        res["train_eager"] = self.summarise(self.alternate(steps, it, rounds), bs)
        res["memory_train"] = {k: self.peak_memory(steps[k]) for k in IMPLS}
        self.checkpoint()

        # eager inference at the large batch, then batch-1 latency
        for m in models.values():
            m.eval()
        steps = {k: self.infer_step(models[k], x) for k in IMPLS}
        for s in steps.values():
            for _ in range(a.warmup):
                s()
        res["infer_eager"] = self.summarise(self.alternate(steps, it, rounds), bs)
        res["memory_infer"] = {k: self.peak_memory(steps[k]) for k in IMPLS}
        self.checkpoint()
        x1, _ = self.batch(1, seed=1)
        steps = {k: self.infer_step(models[k], x1) for k in IMPLS}
        for s in steps.values():
            for _ in range(a.warmup):
                s()
        lat = self.alternate(steps, a.latency_iters, rounds)
        res["latency_b1_ms"] = {k: statistics.median(v) * 1e3 for k, v in lat.items()}
        res["latency_b1_ms"]["ratio"] = (res["latency_b1_ms"]["archlang"]
                                         / res["latency_b1_ms"]["torchvision"])
        self.checkpoint()

        if a.compile != "none":
            self.compiled(name, models, opts, x, y, res)
        self.inference_build(name, tv, initial, x, res)
        del models, opts, tv, al
        if self.cuda:
            torch.cuda.empty_cache()
        return res

    def compiled(self, name, models, opts, x, y, out: dict) -> dict:
        a = self.args
        bs = a.batch
        out["compile_backend"] = a.compile_backend
        import torch._dynamo

        torch._dynamo.reset()
        cmodels = {k: torch.compile(m, fullgraph=True, backend=a.compile_backend)
                   for k, m in models.items()}
        # training: the first call compiles (fullgraph=True: one graph or an error)
        for m in models.values():
            m.train()
        steps = {k: self.train_step(name, cmodels[k], opts[k], x, y) for k in IMPLS}
        first = {}
        for k in IMPLS:
            first[k] = self.timed(steps[k], 1)
            for _ in range(max(a.warmup - 1, 1)):
                steps[k]()
        out["train_compiled"] = self.summarise(self.alternate(steps, a.iters, a.rounds), bs)
        out["train_compiled"]["first_call_s"] = first
        self.checkpoint()
        if a.compile == "train":
            return out
        # inference (eval mode recompiles: training is a guard)
        for m in models.values():
            m.eval()
        steps = {k: self.infer_step(cmodels[k], x) for k in IMPLS}
        first = {}
        for k in IMPLS:
            first[k] = self.timed(steps[k], 1)
            for _ in range(max(a.warmup - 1, 1)):
                steps[k]()
        out["infer_compiled"] = self.summarise(self.alternate(steps, a.iters, a.rounds), bs)
        out["infer_compiled"]["first_call_s"] = first
        self.checkpoint()
        return out

    def inference_build(self, name: str, tv, weights: dict, x, out: dict) -> dict:
        """torchvision (eval, channels_last like every row here) against archlang's
        inference build (BatchNorm folded, channels_last; docs/deploy.md), both with
        torchvision's initial ``weights``: eager and, with --compile all, both under
        torch.compile, and batch-1 latency."""
        import archlang

        a = self.args
        tv.load_state_dict(weights)
        build = archlang.load(str(ROOT / SPECS[name]), network=name, inference=True)
        build.load_state_dict(weights)
        models = {"torchvision": tv.eval(), "archlang": build.to(self.dev).eval()}
        out["agreement_build"] = self.agreement(models, training=False)
        x1, _ = self.batch(1, seed=1)
        steps = {k: self.infer_step(models[k], x1) for k in IMPLS}
        for s in steps.values():
            for _ in range(a.warmup):
                s()
        lat = self.alternate(steps, a.latency_iters, a.rounds)
        out["latency_b1_build_ms"] = {k: statistics.median(v) * 1e3 for k, v in lat.items()}
        out["latency_b1_build_ms"]["ratio"] = (out["latency_b1_build_ms"]["archlang"]
                                               / out["latency_b1_build_ms"]["torchvision"])
        self.checkpoint()
        runs = [("infer_build", models)]
        if a.compile == "all":
            runs.append(("infer_build_compiled",
                         {k: torch.compile(m, backend=a.compile_backend)
                          for k, m in models.items()}))
        for key, ms in runs:
            steps = {k: self.infer_step(ms[k], x) for k in IMPLS}
            for s in steps.values():
                for _ in range(a.warmup):
                    s()
            out[key] = self.summarise(self.alternate(steps, a.iters, a.rounds), a.batch)
            self.checkpoint()
        return out

    def summarise(self, secs: dict[str, list[float]], batch: int) -> dict:
        out = {}
        for k, v in secs.items():
            out[k] = {"img_per_s": batch / statistics.median(v),
                      "img_per_s_rounds": [batch / s for s in v]}
        out["ratio"] = out["archlang"]["img_per_s"] / out["torchvision"]["img_per_s"]
        return out

    def peak_memory(self, step) -> dict:
        if not self.cuda:
            return {"peak_bytes": None, "above_baseline_bytes": None}
        self.sync()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        self.sync()
        peak = torch.cuda.max_memory_allocated()
        return {"peak_bytes": peak, "above_baseline_bytes": peak - base}

    def agreement(self, models, training: bool = True) -> dict:
        """fp32 eval outputs of the two models on the same input (TF32 off); with
        ``training``, also the number of outputs in training mode."""
        prev = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
                torch.backends.cudnn.benchmark)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
        try:
            x, _ = self.batch(4, seed=2)
            outs = {}
            with torch.no_grad():
                for k, m in models.items():
                    m.eval()
                    outs[k] = m(x)
            diff = max_abs_diff(outs["torchvision"], outs["archlang"])
            scale = max(float(o.abs().max()) for o in outputs(outs["torchvision"]))
            # training mode returns the same structure (GoogLeNet: logits, aux2, aux1)
            n_tv = n_al = len(outputs(outs["torchvision"]))
            if training:
                for m in models.values():
                    m.train()
                with torch.no_grad():
                    n_tv = len(outputs(models["torchvision"](x)))
                    n_al = len(outputs(models["archlang"](x)))
        finally:
            (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.benchmark) = prev
        ok = diff <= 1e-4 * max(scale, 1.0) and n_tv == n_al
        for m in models.values():
            m.eval()
        return {"max_abs_diff_fp32": diff, "output_scale": scale,
                "training_outputs": [n_tv, n_al], "ok": ok}


def peak_tflops(args, device_name: str) -> float | None:
    if args.peak_tflops:
        return args.peak_tflops
    for key, value in PEAKS:
        if key in device_name:
            return value
    return None


def fmt_mib(b) -> str:
    return "n/a" if b is None else f"{b / 2**20:,.0f} MiB"


def mem_cell(m: dict) -> str:
    tv, al = m["torchvision"], m["archlang"]
    if tv["peak_bytes"] is None:
        return "n/a (CPU)"
    return (f"{fmt_mib(tv['peak_bytes'])} / {fmt_mib(al['peak_bytes'])} "
            f"(+{fmt_mib(tv['above_baseline_bytes'])} / +{fmt_mib(al['above_baseline_bytes'])}"
            f"; ratio {al['peak_bytes'] / tv['peak_bytes']:.3f})")


def tables(data: dict) -> str:
    peak = data["peak_tflops"]
    rows = []
    for r in data["results"]:
        kinds = [("train_eager", "training, eager", "macs_training", 3),
                 ("train_compiled", "training, compiled", "macs_training", 3),
                 ("infer_eager", "inference, eager", "macs_inference", 1),
                 ("infer_compiled", "inference, compiled", "macs_inference", 1),
                 ("infer_build", "inference, archlang's inference build", "macs_inference",
                  1),
                 ("infer_build_compiled", "inference build, both compiled", "macs_inference",
                  1)]
        for key, label, macs_key, mult in kinds:
            if key not in r:
                continue
            x = r[key]
            mfu = []
            for k in IMPLS:
                flops = x[k]["img_per_s"] * mult * 2 * r[macs_key]
                mfu.append(f"{100 * flops / (peak * 1e12):.1f} %" if peak else "n/a")
            first = x.get("first_call_s")
            rows.append([r["model"], label, f"{x['torchvision']['img_per_s']:,.1f}",
                         f"{x['archlang']['img_per_s']:,.1f}", f"{x['ratio']:.3f}",
                         " / ".join(mfu),
                         " / ".join(f"{first[k]:.1f} s" for k in IMPLS) if first else ""])
    out = md_table(["model", f"batch {data['args']['batch']}", "torchvision img/s",
                    "archlang img/s", "ratio", "share of peak (tv / archlang)",
                    "first call (tv / archlang)"], rows)
    rows = []
    for r in data["results"]:
        mt, mi = r.get("memory_train"), r.get("memory_infer")
        for label, lat, ag in (("archlang", r.get("latency_b1_ms"), r.get("agreement")),
                               ("inference build", r.get("latency_b1_build_ms"),
                                r.get("agreement_build"))):
            if lat is None or ag is None or mt is None or mi is None:
                continue  # a run interrupted before this row
            rows.append([r["model"], label, f"{lat['torchvision']:.2f} ms",
                         f"{lat['archlang']:.2f} ms", f"{lat['ratio']:.3f}",
                         mem_cell(mt) if label == "archlang" else "",
                         mem_cell(mi) if label == "archlang" else "",
                         f"{ag['max_abs_diff_fp32']:.1e} ({'ok' if ag['ok'] else 'MISMATCH'})"])
    out += "\n\n" + md_table(["model", "against torchvision", "batch-1 latency, torchvision",
                              "archlang", "ratio",
                              ("training step: peak memory, tv / archlang (above the "
                               "weights and optimizer state)"),
                              ("inference batch: peak memory, tv / archlang (above the "
                               "weights)"),
                              "outputs: max abs diff, fp32"], rows)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--quick", action="store_true",
                    help="tiny batches and images, few iterations (a smoke test of "
                         f"{' and '.join(QUICK_MODELS)})")
    ap.add_argument("--dry-run", action="store_true",
                    help="every model and every row on the CPU at tiny sizes: --device cpu "
                         "--quick --dtype bf16 --compile all --compile-backend eager, all "
                         "models")
    ap.add_argument("--models", help=f"comma-separated (default {','.join(MODELS)}; "
                                     f"quick: {','.join(QUICK_MODELS)})")
    ap.add_argument("--batch", type=int, help="default 256 (quick: 2)")
    ap.add_argument("--image", type=int, help="image size (default 224; quick 64)")
    ap.add_argument("--iters", type=int, help="steps per round (default 20; quick 1)")
    ap.add_argument("--rounds", type=int, help="alternating rounds (default 5; quick 2)")
    ap.add_argument("--latency-iters", type=int, help="batch-1 calls per round (default 100)")
    ap.add_argument("--warmup", type=int, help="warm-up steps (default 5; quick 1)")
    ap.add_argument("--dtype", choices=["bf16", "fp32"],
                    help="autocast dtype (default bf16 on cuda, fp32 on cpu)")
    ap.add_argument("--compile", choices=["all", "train", "none"],
                    help="which steps to run under torch.compile(fullgraph=True) too "
                         "(default all; quick: train, to stay within seconds)")
    ap.add_argument("--compile-backend",
                    help="torch.compile backend (default inductor; eager on cpu --quick, "
                         "which still checks that fullgraph=True captures one graph)")
    ap.add_argument("--peak-tflops", type=float,
                    help="the card's dense bf16 peak (default by name: H100 SXM/H200 989.4)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads on cpu")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/gpu.json, or "
                                  "gpu_cpu.json on the CPU)")
    a = ap.parse_args(argv)
    if a.dry_run:
        a.device, a.quick = "cpu", True
        a.dtype, a.compile = a.dtype or "bf16", a.compile or "all"
        a.models = a.models or ",".join(MODELS)
    q = a.quick
    a.models = a.models or ",".join(QUICK_MODELS if q else MODELS)
    a.batch = a.batch or (2 if q else 256)
    a.image = a.image or (64 if q else 224)
    a.iters = a.iters or (1 if q else 20)
    a.rounds = a.rounds or (2 if q else 5)
    a.latency_iters = a.latency_iters or (2 if q else 100)
    a.warmup = a.warmup if a.warmup is not None else (1 if q else 5)
    cpu = a.device == "cpu"
    a.dtype = a.dtype or ("fp32" if cpu else "bf16")
    a.compile = a.compile or ("train" if q else "all")
    a.compile_backend = a.compile_backend or ("eager" if cpu and q else "inductor")
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: no CUDA device (use --device cpu --quick for a smoke run)",
              file=sys.stderr)
        return 2
    if cpu:
        torch.set_num_threads(a.threads)
    else:
        torch.set_float32_matmul_precision("high")
    device_name = torch.cuda.get_device_name(a.device) if not cpu else platform.processor() \
        or platform.machine()
    import torchvision

    import archlang

    peak = None if cpu else peak_tflops(a, device_name)
    bench = Bench(a)
    t0 = time.perf_counter()
    results = []
    data = {"device": device_name, "peak_tflops": peak, "args": vars(a),
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "torchvision": torchvision.__version__,
                         "archlang": archlang.__version__,
                         "cuda": torch.version.cuda,
                         "cudnn": torch.backends.cudnn.version() if not cpu else None},
            "results": results}
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / (
        "gpu_cpu.json" if cpu else "gpu.json")
    out.parent.mkdir(parents=True, exist_ok=True)

    def save():
        data["wall_s"] = time.perf_counter() - t0
        data["markdown"] = tables(data)
        out.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        if results:
            print(f"  gpu.py: {data['wall_s']:.0f} s: {results[-1].get('model')}: "
                  f"{', '.join(results[-1])}", file=sys.stderr)

    bench.checkpoint = save
    for name in a.models.split(","):
        print(f"  gpu.py: {name} on {device_name}", file=sys.stderr)
        results.append({})
        bench.run_model(name, results[-1])
        save()
    print(f"device: {device_name}; peak bf16: {peak or 'n/a'} TFLOP/s; "
          f"{data['wall_s']:.0f} s")
    print(data["markdown"])
    ok = all(r["agreement"]["ok"] and r["agreement_build"]["ok"] for r in results)
    if not ok:
        print("error: outputs disagree", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
