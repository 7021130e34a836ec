"""2. Build time: ``archlang.load`` against the torchvision constructor, in one process.

    python benchmarks/bench_build.py [--quick] [--reps N] [--malloc default,mmap]

For resnet50, vgg16 and googlenet (torchvision's ``googlenet(aux_logits=True,
init_weights=True)``; the spec has the same init), interleaved in alternating order:
  - ``torchvision.models.NAME()``;
  - ``archlang.load(spec, network=NAME)`` as a user calls it: after the first call the
    class is memoised (a hit re-reads and hashes the spec's files), timed in its two parts,
    ``load_class`` and the constructor;
  - ``archlang.load`` with the memo and the generated modules cleared first, so the check,
    generation, compile() and exec of the source are all paid, as in a fresh process;
  - the generated class alone (constructor parity, nothing of archlang's own work).
The first call of each (imports, pydantic schemas, the parser) is reported separately.
Each set runs in its own process, once with glibc's default malloc and once with
``MALLOC_MMAP_THRESHOLD_=65536`` (see BENCHMARKS.md: in a tight loop the default
allocator lets a constructor reuse the previous model's pages, and anything allocated in
between, such as archlang's check, breaks that reuse). Then archlang.load is split into its
stages (check = parse + lower + expand + totals, source generation, compile + exec, the
constructor) and the check is profiled.
Target: median ratio archlang.load / torchvision <= 1.10.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time

from common import (
    ROOT,
    fmt_ratio,
    fmt_spread,
    fmt_time,
    md_table,
    paired_ratio,
    run_json,
    save,
    stats,
    verdict,
)

TARGET = 1.10
MODELS = ["resnet50", "vgg16", "googlenet"]
SPECS = {"resnet50": "specs/resnet.arch", "vgg16": "specs/vgg.arch",
         "googlenet": "specs/googlenet.arch"}


def _expand(prog, limits, network=None):
    """The checker's passes after loading (archlang.api.PASSES[1:]) on a loaded program."""
    from archlang.api import PASSES, run_passes
    from archlang.graph.state import Options, Run

    state = run_passes(Run(prog.main.name, Options(network), limits, prog=prog), PASSES[1:])
    return state.graph, state.rep.diagnostics


def torchvision_builder(name: str):
    import torchvision

    if name == "googlenet":
        return lambda: torchvision.models.googlenet(aux_logits=True, init_weights=True)
    return getattr(torchvision.models, name)


def clear_generated() -> None:
    """Forget every generated class: archlang.load's memo, the generated modules and their
    lines in linecache."""
    from archlang import loader

    loader.forget_generated()


def timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def timed2(f) -> tuple[float, float]:
    """Wall time and this process's CPU time (all threads) of one call."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0, time.process_time() - c0


def stage_times(name: str) -> dict[str, float]:
    """One archlang.load split into its stages (the module cache cleared)."""
    from archlang import loader
    from archlang.analysis.report import totals
    from archlang.backends import pytorch as P
    from archlang.limits import Limits
    from archlang.program import load_program

    spec = str(ROOT / SPECS[name])
    clear_generated()
    out = {}
    t0 = time.perf_counter()
    limits = Limits()
    prog = load_program(spec, limits)
    t1 = time.perf_counter()
    graph, _ = _expand(prog, limits, name)
    t2 = time.perf_counter()
    totals(graph)
    t3 = time.perf_counter()
    source, cls_name = P.generate_named(graph)
    t4 = time.perf_counter()
    cls = loader._class_from_source(source, graph.network, cls_name)
    t5 = time.perf_counter()
    cls()
    t6 = time.perf_counter()
    out["check: parse + lower"] = t1 - t0
    out["check: expand + shapes"] = t2 - t1
    out["check: totals"] = t3 - t2
    out["generate source"] = t4 - t3
    out["compile() + exec"] = t5 - t4
    out["construct (nn.Module __init__ + init)"] = t6 - t5
    out["total"] = t6 - t0
    return out


def profile_check(name: str, top: int = 12) -> str:
    """cProfile of archlang.check for one network (warm), top functions by own time."""
    import archlang

    spec = str(ROOT / SPECS[name])
    archlang.check(spec, network=name)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(3):
        archlang.check(spec, network=name)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def bench_model(name: str, reps: int) -> dict:
    import torch

    import archlang

    spec = str(ROOT / SPECS[name])
    tv = torchvision_builder(name)

    split: dict[str, list[float]] = {"load_class": [], "construct": []}

    def load():
        # exactly archlang.load (= load_class(...)()), timed in its two parts
        t0 = time.perf_counter()
        cls = archlang.load_class(spec, network=name)
        t1 = time.perf_counter()
        model = cls()
        split["load_class"].append(t1 - t0)
        split["construct"].append(time.perf_counter() - t1)
        return model

    def load_fresh():
        clear_generated()
        return archlang.load(spec, network=name)

    first = {"torchvision": timed(tv), "archlang.load": timed(load_fresh)}
    cached_cls = archlang.load_class(spec, network=name)
    funcs = {"torchvision": tv, "archlang.load": load, "archlang.load, fresh module": load_fresh,
             "generated class alone": cached_cls}
    keys = list(funcs)
    samples: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    for i in range(reps):
        order = keys if i % 2 == 0 else keys[::-1]
        for k in order:
            torch.manual_seed(0)
            wall, c = timed2(funcs[k])
            samples[k].append(wall)
            cpu[k].append(c)
    out = {"model": name, "reps": reps, "first_call_s": first,
           **{k: stats(v) for k, v in samples.items()},
           "cpu_s": {k: stats(v) for k, v in cpu.items()}}
    out["ratio"] = paired_ratio(samples["archlang.load"], samples["torchvision"])
    out["ratio_fresh"] = paired_ratio(samples["archlang.load, fresh module"],
                                      samples["torchvision"])
    out["ratio_class"] = paired_ratio(samples["generated class alone"], samples["torchvision"])
    out["load_split_s"] = {k: stats(v) for k, v in split.items()}
    out["cpu_ratio"] = {k: paired_ratio(cpu[k], cpu["torchvision"])["median"]
                        for k in keys}
    out["target_met"] = out["ratio"]["median"] <= TARGET
    out["target_met_fresh"] = out["ratio_fresh"]["median"] <= TARGET
    stage_samples = [stage_times(name) for _ in range(max(3, reps // 2))]
    out["stages_s"] = {k: statistics.median(s[k] for s in stage_samples)
                       for k in stage_samples[0]}
    out["raw"] = samples
    return out


ALLOCATORS = {
    "default": {},
    # every block of 64 KiB or more from mmap, returned on free: each build faults in its
    # weights afresh, as the one build of a fresh process does
    "mmap": {"MALLOC_MMAP_THRESHOLD_": "65536"},
}


def table(runs: dict[str, list[dict]]) -> str:
    rows = []
    for alloc, results in runs.items():
        for r in results:
            rows.append([r["model"], alloc, "torchvision constructor",
                         fmt_spread(r["torchvision"]), "1", "", "1",
                         fmt_time(r["first_call_s"]["torchvision"])])
            for k, rk, mk in (("archlang.load", "ratio", "target_met"),
                              ("archlang.load, fresh module", "ratio_fresh", "target_met_fresh"),
                              ("generated class alone", "ratio_class", None)):
                ra = r[rk]
                label = {"archlang.load": "`archlang.load` (the class memoised by the first "
                                           "call)",
                         "archlang.load, fresh module": "`archlang.load` with nothing memoised "
                                                        "(check, generate, compile, exec)",
                         "generated class alone": "the generated class, constructed (no "
                                                  "check, no generation)"}[k]
                if k not in r:  # a run from before the memo
                    continue
                rows.append([r["model"], alloc, label, fmt_spread(r[k]),
                             (f"**{fmt_ratio(ra['median'])}** "
                              f"[{fmt_ratio(ra['p25'])}–{fmt_ratio(ra['p75'])}]"),
                             verdict(r[mk]) if mk else "",
                             fmt_ratio(r["cpu_ratio"][k]),
                             fmt_time(r["first_call_s"]["archlang.load"])
                             if rk == "ratio" else ""])
    out = md_table(["model", "malloc", "build", "wall time, median [p25–p75]",
                    "ratio to torchvision, median of pairs [p25–p75]", f"≤ {TARGET}",
                    "CPU-time ratio", "first call in the process"], rows)
    split_rows = []
    for alloc, results in runs.items():
        for r in results:
            sp = r["load_split_s"]
            split_rows.append([r["model"], alloc, fmt_time(r["torchvision"]["median"]),
                               fmt_time(r["generated class alone"]["median"]),
                               fmt_time(sp["load_class"]["median"]),
                               fmt_time(sp["construct"]["median"])])
    out += ("\n\n`archlang.load` = `load_class` (a memo hit: re-hash the spec's files) followed "
            "by the constructor, each part timed inside the same calls (medians):\n\n")
    out += md_table(["model", "malloc", "torchvision constructor",
                     "generated class constructed alone", "load_class part",
                     "constructor part, right after load_class"], split_rows)
    results = runs["default"]
    keys = list(results[0]["stages_s"])
    out += ("\n\n`archlang.load` with nothing memoised, by stage (median; default malloc):"
            "\n\n")
    out += md_table(["stage", *[r["model"] for r in results]],
                    [[k, *[fmt_time(r["stages_s"][k]) for r in results]] for k in keys])
    over = []
    for r in results:
        st = r["stages_s"]
        extra = st["total"] - st["construct (nn.Module __init__ + init)"]
        over.append([r["model"], fmt_time(extra),
                     f"{100 * extra / r['torchvision']['median']:.1f} %"])
    out += "\n\n" + md_table(["model", "archlang's own work (all but the constructor)",
                              "as a share of the torchvision constructor"], over)
    return out


def child(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    reps = args.reps or (3 if args.quick else 21)
    models = args.models.split(",") if args.models else MODELS
    results = []
    for name in models:
        print(f"  build: {name} (malloc {os.environ.get('MALLOC_MMAP_THRESHOLD_', 'default')})",
              file=sys.stderr)
        results.append(bench_model(name, reps))
    return {"results": results, "profile_check_resnet50": profile_check("resnet50")}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repetitions")
    ap.add_argument("--reps", type=int, help="repetitions per build (default 21, quick 3)")
    ap.add_argument("--models", help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--malloc", default="default,mmap",
                    help="allocator settings to run under: default, mmap (each in a process)")
    ap.add_argument("--out", help="results directory (default benchmarks/results)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--render", metavar="JSON", help="print the tables of a saved run")
    args = ap.parse_args(argv)
    if args.render:
        from pathlib import Path

        print(table(json.loads(Path(args.render).read_text(encoding="utf-8"))["runs"]))
        return {}
    if args.child:
        print(json.dumps(child(args)))
        return {}
    runs, profiles = {}, {}
    for alloc in args.malloc.split(","):
        cmd = [sys.executable, __file__, "--child", "--threads", str(args.threads)]
        for flag, value in (("--reps", args.reps), ("--models", args.models)):
            if value:
                cmd += [flag, str(value)]
        if args.quick:
            cmd.append("--quick")
        res = run_json(cmd, env=ALLOCATORS[alloc], timeout=7200)
        runs[alloc] = res["results"]
        profiles[alloc] = res["profile_check_resnet50"]
    data = {"quick": args.quick, "threads": args.threads, "runs": runs,
            "profile_check_resnet50": profiles.get("default"), "markdown": table(runs)}
    path = save("build", data, args.out)
    print(data["markdown"])
    print(f"\n(results: {path})", file=sys.stderr)
    return data


if __name__ == "__main__":
    main()
