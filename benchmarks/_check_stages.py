"""Where ``archlang check`` spends its time on one spec (run in a fresh process).

    python benchmarks/_check_stages.py FILE.arch [--profile N] [--max-nodes N] [--max-bytes N]

Stages: import archlang, parser build, parse (Lark), lower (Lark tree -> pydantic AST),
expand + shape check, totals; plus the time spent in Python's cyclic garbage collector
during each (gc.callbacks). Loading and expanding run with the collector paused, as in
``archlang.api.run``. With ``--profile N``, the N functions with the most own time
over parse + lower + expand (cProfile), as ``file:function``. ``--gc-off`` disables the
collector after the imports (to size a fix). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import resource
import time

GC = {"time": 0.0, "t0": 0.0, "collections": 0}


def _expand(prog, limits, network=None):
    """The checker's passes after loading (archlang.api.PASSES[1:]) on a loaded program."""
    from archlang.api import PASSES, run_passes
    from archlang.graph.state import Options, Run

    state = run_passes(Run(prog.main.name, Options(network), limits, prog=prog), PASSES[1:])
    return state.graph, state.rep.diagnostics


def _gc_callback(phase, info):
    if phase == "start":
        GC["t0"] = time.perf_counter()
    else:
        GC["time"] += time.perf_counter() - GC["t0"]
        GC["collections"] += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("--profile", type=int, default=0)
    ap.add_argument("--max-nodes", type=int, default=200_000)
    ap.add_argument("--max-bytes", type=int, default=None)
    ap.add_argument("--gc-off", action="store_true",
                    help="disable the cyclic GC after the imports (what-if for a fix)")
    args = ap.parse_args()
    stages: dict[str, float] = {}
    gc_stages: dict[str, float] = {}
    gc.callbacks.append(_gc_callback)

    def stage(name, f):
        g0 = GC["time"]
        t0 = time.perf_counter()
        r = f()
        stages[name] = time.perf_counter() - t0
        gc_stages[name] = GC["time"] - g0
        return r

    def imports():
        import archlang  # noqa: F401

    stage("import archlang", imports)
    from archlang.analysis.report import totals
    from archlang.limits import Limits
    from archlang.program import load_program
    from archlang.syntax import parse as P

    if args.gc_off:
        gc.disable()
    kw = {"max_nodes": args.max_nodes}
    if args.max_bytes:
        kw["max_bytes"] = args.max_bytes
    limits = Limits(**kw)
    stage("build the parser", lambda: P._cached(limits.max_depth))
    from archlang import program

    # time the program loader's own calls to the parser and the lowering (no second parse)
    def timed(name, f):
        def wrapper(*a, **k):
            g0 = GC["time"]
            t0 = time.perf_counter()
            r = f(*a, **k)
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - t0
            gc_stages[name] = gc_stages.get(name, 0.0) + GC["time"] - g0
            return r
        return wrapper

    program.parse = timed("parse (Lark)", program.parse)
    program.lower = timed("lower (tree -> AST)", program.lower)
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    # as archlang.api.run does: the cyclic GC paused while loading and expanding
    with program.no_cyclic_gc():
        prog = stage("load program (parse + lower + checks)",
                     lambda: load_program(args.spec, limits))
        graph, _ = stage("expand + shape check",
                         lambda: _expand(prog, limits))
    if prof:
        prof.disable()
    stage("totals", lambda: totals(graph))
    out = {"stages_s": stages, "gc_s": gc_stages, "gc_collections": GC["collections"],
           "nodes": len(graph.nodes),
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if prof:
        st = pstats.Stats(prof)
        rows = []
        for (file, line, func), (cc, nc, tt, ct, _) in st.stats.items():
            short = file.split("site-packages/")[-1].split("/work/main/")[-1]
            rows.append({"where": f"{short}:{line}:{func}", "own_s": tt, "cum_s": ct,
                         "calls": nc})
        rows.sort(key=lambda r: -r["own_s"])
        out["profile_top"] = rows[:args.profile]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
