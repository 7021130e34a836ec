"""1. Static summary against traced summary: whole-process wall time and peak memory.

    python benchmarks/bench_summary.py [--quick] [--reps N]

For each model, runs alternate (in a rotating order) between
  - ``archlang summary SPEC --network NAME`` with the Lark parser cache warm,
  - the same with ``ARCHLANG_NO_CACHE=1`` (the parser is built from the grammar), and
  - ``torchinfo.summary(torchvision.models.NAME(), (1, 3, 224, 224))`` in a script, and
  - a Python process that imports click, lark, pydantic and rich and stops: the fastest
    any CLI built on them can be (the ceiling of the speed-up),
each a fresh process measured by ``/usr/bin/time -v``. Then a few fresh processes of
``_summary_stages.py`` say where archlang's time goes.
Targets: archlang (warm) at least 20x faster than torchinfo, and under a fifth of its memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from common import (
    BENCH,
    NO_BYTECODE_ENV,
    fmt_mib,
    fmt_speedup,
    fmt_spread,
    fmt_time,
    md_table,
    measure_process,
    paired_ratio,
    run_json,
    save,
    stats,
    venv_bin,
    verdict,
)

MODELS = [("resnet152", "specs/resnet.arch"), ("googlenet", "specs/googlenet.arch"),
          ("vgg16", "specs/vgg.arch")]
SPEED_TARGET = 20.0
MEMORY_TARGET = 5.0


def commands(model: str, spec: str) -> dict[str, tuple[list[str], dict]]:
    archlang = [venv_bin("archlang"), "summary", spec, "--network", model]
    return {
        # an unchanged spec: the summary is replayed (archlang/cache.py)
        "archlang": (archlang, {}),
        # computed from scratch, as after an edit (the built parser's cache warm)
        "archlang_fresh": ([*archlang, "--no-cache"], {}),
        "archlang_nocache": (archlang, {"ARCHLANG_NO_CACHE": "1"}),
        "archlang_nopyc": ([*archlang, "--no-cache"], NO_BYTECODE_ENV),
        "torchinfo": ([sys.executable, str(BENCH / "_torchinfo_summary.py"), model], {}),
        # the ceiling: a process that imports the libraries the CLI is built on, and stops
        "floor": ([sys.executable, "-c", FLOOR], {}),
    }


#: what every ``archlang summary`` process imports before doing any work of its own
FLOOR = "import click, lark, pydantic.main, rich.console, rich.table"


def bench_model(model: str, spec: str, reps: int, stage_reps: int) -> dict:
    cmds = commands(model, spec)
    # warm the parser cache and the OS file cache once, unmeasured
    for cmd, env in cmds.values():
        measure_process(cmd, env)
    samples: dict[str, list[dict]] = {k: [] for k in cmds}
    keys = list(cmds)
    for i in range(reps):
        order = keys[i % len(keys):] + keys[:i % len(keys)]
        for k in order:
            cmd, env = cmds[k]
            samples[k].append(measure_process(cmd, env))
        print(f"  {model} rep {i + 1}/{reps}: " + ", ".join(
            f"{k} {samples[k][-1]['wall_s']:.2f} s" for k in keys), file=sys.stderr)
    out: dict = {"model": model, "spec": spec, "reps": reps,
                 "commands": {k: " ".join([*(f"{a}={b or ''}" for a, b in env.items()), *cmd])
                              for k, (cmd, env) in cmds.items()}}
    for k, xs in samples.items():
        out[k] = {"wall_s": stats([x["wall_s"] for x in xs]),
                  "cpu_s": stats([x["cpu_s"] for x in xs]),
                  "peak_rss_bytes": stats([x["peak_rss_bytes"] for x in xs]),
                  "raw": xs}
    ti = [x["wall_s"] for x in samples["torchinfo"]]
    for k in ("archlang", "archlang_fresh", "archlang_nocache", "archlang_nopyc", "floor"):
        al = [x["wall_s"] for x in samples[k]]
        # speed-up per interleaved pair: torchinfo / archlang
        out[k]["speedup"] = paired_ratio(ti, al)
        out[k]["cpu_speedup"] = paired_ratio([x["cpu_s"] for x in samples["torchinfo"]],
                                             [x["cpu_s"] for x in samples[k]])
        out[k]["memory_ratio"] = (statistics.median(x["peak_rss_bytes"]
                                                    for x in samples["torchinfo"])
                                  / statistics.median(x["peak_rss_bytes"] for x in samples[k]))
    # where archlang's time goes, in fresh processes
    stages = [run_json([sys.executable, str(BENCH / "_summary_stages.py"), spec, model])
              for _ in range(stage_reps)]
    out["archlang_stages_s"] = {k: statistics.median(s[k] for s in stages) for k in stages[0]}
    imports = [run_json([sys.executable, str(BENCH / "_import_breakdown.py"), "-m", "archlang",
                         "summary", spec, "--network", model, "--no-cache"])
               for _ in range(stage_reps)]
    out["archlang_import_s"] = {k: statistics.median(i.get(k, 0.0) for i in imports)
                                for k in imports[0]}
    sp = out["archlang"]["speedup"]["median"]
    out["speed_target_met"] = sp >= SPEED_TARGET
    out["memory_target_met"] = out["archlang"]["memory_ratio"] >= MEMORY_TARGET
    return out


def table(results: list[dict]) -> str:
    rows = []
    for r in results:
        for k, label in (("archlang", "archlang, the spec unchanged (replayed)"),
                         ("archlang_fresh", "archlang --no-cache (from scratch; parser cache warm)"),
                         ("archlang_nocache", "archlang, ARCHLANG_NO_CACHE=1 (no caches)"),
                         ("archlang_nopyc", "archlang --no-cache, PYTHONDONTWRITEBYTECODE=1"),
                         ("floor", "_ceiling: Python importing click, lark, pydantic, rich_"),
                         ("torchinfo", "torchinfo + torchvision")):
            x = r[k]
            if k == "torchinfo":
                speed = cpu_speed = mem = "1"
            else:
                sp = x["speedup"]
                speed = (f"**{fmt_speedup(sp['median'])}x** "
                         f"[{fmt_speedup(sp['p25'])}–{fmt_speedup(sp['p75'])}]")
                cpu_speed = f"{fmt_speedup(x['cpu_speedup']['median'])}x"
                mem = f"{x['memory_ratio']:.1f}x less"
            rows.append([r["model"], label, fmt_spread(x["wall_s"]), speed,
                         fmt_time(x["cpu_s"]["median"]), cpu_speed,
                         fmt_mib(x["peak_rss_bytes"]["median"]), mem])
    out = md_table(["model", "command", "wall time, median [p25–p75]",
                    "wall speed-up vs torchinfo, median [p25–p75 of pairs]",
                    "CPU time (user+sys), median", "CPU-time speed-up", "peak RSS, median",
                    "memory"], rows)
    out += "\n\n" + md_table(
        ["model", f"speed ≥ {SPEED_TARGET:g}x (warm cache)", f"memory ≤ 1/{MEMORY_TARGET:g}",
         "runs"],
        [[r["model"], verdict(r["speed_target_met"]), verdict(r["memory_target_met"]),
          str(r["reps"])] for r in results])
    # stage breakdown
    keys = list(results[0]["archlang_stages_s"])
    out += "\n\nWhere one `archlang summary` process spends its time (median of fresh " \
           "processes, warm parser cache):\n\n"
    out += md_table(["stage", *[r["model"] for r in results]],
                    [[k, *[fmt_time_ms(r["archlang_stages_s"][k]) for r in results]]
                     for k in keys])
    # import time by the package that caused it
    owners: list[str] = []
    for r in results:
        for k in r["archlang_import_s"]:
            if k not in owners:
                owners.append(k)
    groups = {}
    for k in owners:
        g = IMPORT_GROUPS.get(k, k)
        groups.setdefault(g, []).append(k)
    out += "\n\nImport time of one `archlang summary` process by the package that caused it " \
           "(`python -X importtime`; a module's own time, standard-library modules counted " \
           "under the package that imported them):\n\n"
    rows = []
    for g, members in groups.items():
        vals = [sum(r["archlang_import_s"].get(m, 0.0) for m in members) for r in results]
        if max(vals) >= 0.002:
            rows.append([g, *[fmt_time_ms(v) for v in vals]])
    rows.append(["total", *[fmt_time_ms(sum(r["archlang_import_s"].values())) for r in results]])
    out += md_table(["package", *[r["model"] for r in results]], rows)
    return out


IMPORT_GROUPS = {
    "pydantic": "pydantic (+ pydantic_core, annotated_types, typing_inspection, "
                "typing_extensions)",
    "pydantic_core": "pydantic (+ pydantic_core, annotated_types, typing_inspection, "
                     "typing_extensions)",
    "annotated_types": "pydantic (+ pydantic_core, annotated_types, typing_inspection, "
                       "typing_extensions)",
    "typing_inspection": "pydantic (+ pydantic_core, annotated_types, typing_inspection, "
                         "typing_extensions)",
    "typing_extensions": "pydantic (+ pydantic_core, annotated_types, typing_inspection, "
                         "typing_extensions)",
    "lark": "lark (+ interegular, regex)",
    "interegular": "lark (+ interegular, regex)",
    "regex": "lark (+ interegular, regex)",
    "archlang": "archlang's own modules (incl. building its pydantic and dataclass classes)",
    "python": "python startup and stdlib",
}


def fmt_time_ms(s: float) -> str:
    return f"{s * 1e3:.0f} ms"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 runs per command, 1 model")
    ap.add_argument("--reps", type=int, help="runs per command (default 7, quick 2)")
    ap.add_argument("--models", help="comma-separated subset of resnet152,googlenet,vgg16")
    ap.add_argument("--out", help="results directory (default benchmarks/results)")
    ap.add_argument("--render", metavar="JSON", help="print the tables of a saved run")
    args = ap.parse_args(argv)
    if args.render:
        print(table(json.loads(Path(args.render).read_text(encoding="utf-8"))["results"]))
        return {}
    reps = args.reps or (2 if args.quick else 7)
    models = MODELS
    if args.models:
        models = [m for m in MODELS if m[0] in args.models.split(",")]
    elif args.quick:
        models = MODELS[1:2]
    results = []
    for model, spec in models:
        results.append(bench_model(model, spec, reps, stage_reps=2 if args.quick else 5))
    data = {"quick": args.quick, "results": results, "markdown": table(results)}
    path = save("summary", data, args.out)
    print(data["markdown"])
    print(f"\n(results: {path})", file=sys.stderr)
    return data


if __name__ == "__main__":
    main()
