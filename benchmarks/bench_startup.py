"""1. Start-up: ``archlang check`` against a process that only imports its libraries.

    python benchmarks/bench_startup.py [--quick] [--reps N] [--summary-reps N]

Fresh processes, each measured by ``/usr/bin/time -v``, in a rotating order:
  - ``archlang check specs/resnet.arch --network resnet152``, the spec unchanged since its
    last check: the verdict is replayed (archlang/cache.py),
  - the same with ``--no-cache``: a check from scratch, as after an edit (bytecode cached),
  - that without bytecode caches (``PYTHONDONTWRITEBYTECODE=1``),
  - the floor: ``python -c "import lark, pydantic, click"``, the libraries ``check`` needs.
The ratio is taken pair by pair (each archlang run against the floor run next to it);
min, median and max are reported. Target: check / floor ≤ 1.3, reported for the replay and
for the check from scratch.

Then ``archlang summary`` (table, parser cache warm) against torchinfo's summary of
torchvision's ResNet-152, alternating (the commands of ``bench_summary.py``). Target: ≥ 20x.
Last, where the check's import time goes (``python -X importtime``, by package).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from bench_summary import commands as summary_commands
from common import (
    BENCH,
    NO_BYTECODE_ENV,
    fmt_mib,
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

SPEC, NETWORK = "specs/resnet.arch", "resnet152"
RATIO_TARGET = 1.3
SPEED_TARGET = 20.0
#: the libraries ``archlang check`` imports, and nothing else
FLOOR = "import lark, pydantic, click"


def check_commands() -> dict[str, tuple[list[str], dict]]:
    check = [venv_bin("archlang"), "check", SPEC, "--network", NETWORK]
    return {
        "check": (check, {}),
        "check_fresh": ([*check, "--no-cache"], {}),
        "check_nopyc": ([*check, "--no-cache"], NO_BYTECODE_ENV),
        "floor": ([sys.executable, "-c", FLOOR], {}),
    }


def interleaved(cmds: dict[str, tuple[list[str], dict]], reps: int, label: str
                ) -> dict[str, list[dict]]:
    for cmd, env in cmds.values():  # warm the caches (parser, bytecode, OS files), unmeasured
        measure_process(cmd, env)
    keys = list(cmds)
    samples: dict[str, list[dict]] = {k: [] for k in keys}
    for i in range(reps):
        order = keys[i % len(keys):] + keys[:i % len(keys)]
        for k in order:
            cmd, env = cmds[k]
            samples[k].append(measure_process(cmd, env))
        print(f"  {label} rep {i + 1}/{reps}: " + ", ".join(
            f"{k} {samples[k][-1]['wall_s'] * 1e3:.0f} ms" for k in keys), file=sys.stderr)
    return samples


def summarise(samples: dict[str, list[dict]]) -> dict:
    return {k: {"wall_s": stats([x["wall_s"] for x in xs]),
                "cpu_s": stats([x["cpu_s"] for x in xs]),
                "peak_rss_bytes": stats([x["peak_rss_bytes"] for x in xs]),
                "raw": xs} for k, xs in samples.items()}


def run(reps: int, summary_reps: int, import_reps: int) -> dict:
    cmds = check_commands()
    out: dict = {"spec": SPEC, "network": NETWORK, "reps": reps, "floor": FLOOR,
                 "commands": {k: " ".join([*(f"{a}={b or ''}" for a, b in env.items()), *cmd])
                              for k, (cmd, env) in cmds.items()}}
    samples = interleaved(cmds, reps, "check")
    out["check"] = summarise(samples)
    floor = samples["floor"]
    for k in ("check", "check_fresh", "check_nopyc"):
        out["check"][k]["ratio_to_floor"] = paired_ratio(
            [x["wall_s"] for x in samples[k]], [x["wall_s"] for x in floor])
        out["check"][k]["cpu_ratio_to_floor"] = paired_ratio(
            [x["cpu_s"] for x in samples[k]], [x["cpu_s"] for x in floor])
    out["ratio_target_met"] = out["check"]["check"]["ratio_to_floor"]["median"] <= RATIO_TARGET
    out["fresh_ratio_target_met"] = \
        out["check"]["check_fresh"]["ratio_to_floor"]["median"] <= RATIO_TARGET

    scmds = {k: v for k, v in summary_commands(NETWORK, SPEC).items()
             if k in ("archlang", "archlang_fresh", "torchinfo")}
    out["summary_reps"] = summary_reps
    out["summary_commands"] = {k: " ".join(cmd) for k, (cmd, _) in scmds.items()}
    ssamples = interleaved(scmds, summary_reps, "summary")
    out["summary"] = summarise(ssamples)
    for k in ("archlang", "archlang_fresh"):
        out["summary"][k]["speedup"] = paired_ratio(
            [x["wall_s"] for x in ssamples["torchinfo"]], [x["wall_s"] for x in ssamples[k]])
    out["speed_target_met"] = out["summary"]["archlang"]["speedup"]["median"] >= SPEED_TARGET
    out["fresh_speed_target_met"] = \
        out["summary"]["archlang_fresh"]["speedup"]["median"] >= SPEED_TARGET

    imports = {}
    for key, argv in (("check", ["-m", "archlang", "check", SPEC, "--network", NETWORK,
                                 "--no-cache"]),
                      ("floor", ["-c", FLOOR])):
        runs = [run_json([sys.executable, str(BENCH / "_import_breakdown.py"), *argv])
                for _ in range(import_reps)]
        owners = list(dict.fromkeys(k for r in runs for k in r))
        imports[key] = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in owners}
    out["import_s"] = imports
    return out


def fmt_mmm(st: dict, fmt=fmt_time) -> str:
    return f"{fmt(st['min'])} / **{fmt(st['median'])}** / {fmt(st['max'])}"


def fmt_r(x: float) -> str:
    return f"{x:.2f}"


def table(r: dict) -> str:
    c = r["check"]
    labels = {"check": f"`archlang check {SPEC} --network {NETWORK}`, unchanged (replayed)",
              "check_fresh": "the same with `--no-cache` (checked from scratch)",
              "check_nopyc": "that, PYTHONDONTWRITEBYTECODE=1",
              "floor": f"floor: `python -c \"{FLOOR}\"`"}
    rows = []
    for k, label in labels.items():
        x = c[k]
        ratio = "1"
        if k != "floor":
            q = x["ratio_to_floor"]
            ratio = f"{fmt_r(q['min'])} / **{fmt_r(q['median'])}** / {fmt_r(q['max'])}"
        rows.append([label, fmt_mmm(x["wall_s"]), fmt_time(x["cpu_s"]["median"]),
                     fmt_mib(x["peak_rss_bytes"]["median"]), ratio])
    out = md_table(["command", "wall time, min / median / max",
                    "CPU time (user+sys), median", "peak RSS, median",
                    "wall time / floor, per pair: min / median / max"], rows)
    s = r["summary"]
    rows = []
    for k, label in (("archlang", (f"`archlang summary {SPEC} --network {NETWORK}`, unchanged "
                                   "(replayed)")),
                     ("archlang_fresh", "the same with `--no-cache` (from scratch)"),
                     ("torchinfo", "torchinfo + torchvision")):
        x = s[k]
        sp = "1"
        if k != "torchinfo":
            q = x["speedup"]
            sp = f"{q['min']:.1f} / **{q['median']:.1f}x** / {q['max']:.1f}"
        rows.append([label, fmt_mmm(x["wall_s"]), fmt_mib(x["peak_rss_bytes"]["median"]), sp])
    out += "\n\n" + md_table(["command", "wall time, min / median / max", "peak RSS, median",
                              "speed-up vs torchinfo, per pair: min / median / max"], rows)
    out += "\n\n" + md_table(
        ["target", "measured (median)", "met", "runs"],
        [[f"check / floor ≤ {RATIO_TARGET:g}, an unchanged spec (replayed)",
          fmt_r(c["check"]["ratio_to_floor"]["median"]), verdict(r["ratio_target_met"]),
          str(r["reps"])],
         [f"check / floor ≤ {RATIO_TARGET:g}, from scratch (`--no-cache`)",
          fmt_r(c["check_fresh"]["ratio_to_floor"]["median"]),
          verdict(r["fresh_ratio_target_met"]), str(r["reps"])],
         [f"summary ≥ {SPEED_TARGET:g}x faster than torchinfo, an unchanged spec (replayed)",
          f"{s['archlang']['speedup']['median']:.1f}x", verdict(r["speed_target_met"]),
          str(r["summary_reps"])],
         [f"summary ≥ {SPEED_TARGET:g}x faster than torchinfo, from scratch (`--no-cache`)",
          f"{s['archlang_fresh']['speedup']['median']:.1f}x",
          verdict(r["fresh_speed_target_met"]), str(r["summary_reps"])]])
    imp = r["import_s"]
    owners = list(dict.fromkeys([*imp["check"], *imp["floor"]]))
    rows = [[k, *(f"{imp[s].get(k, 0.0) * 1e3:.0f} ms" for s in ("check", "floor"))]
            for k in owners if max(imp["check"].get(k, 0.0), imp["floor"].get(k, 0.0)) >= 0.001]
    rows.append(["total", *(f"{sum(imp[s].values()) * 1e3:.0f} ms" for s in ("check", "floor"))])
    out += "\n\nImport time of a check from scratch by the package that caused it " \
           "(`python -X importtime`, median of " \
           "fresh processes; standard-library modules counted under the package that " \
           "imported them):\n\n" + md_table(["package", "archlang check", "floor"], rows)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few runs of each command")
    ap.add_argument("--reps", type=int, help="check/floor runs per command (default 21)")
    ap.add_argument("--summary-reps", type=int,
                    help="summary/torchinfo runs per command (default 7)")
    ap.add_argument("--out", help="results directory (default benchmarks/results)")
    ap.add_argument("--render", metavar="JSON", help="print the tables of a saved run")
    args = ap.parse_args(argv)
    if args.render:
        print(table(json.loads(Path(args.render).read_text(encoding="utf-8"))))
        return {}
    reps = args.reps or (5 if args.quick else 21)
    summary_reps = args.summary_reps or (2 if args.quick else 7)
    data = run(reps, summary_reps, import_reps=2 if args.quick else 5)
    data["markdown"] = table(data)
    path = save("startup", data, args.out)
    print(data["markdown"])
    print(f"\n(results: {path})", file=sys.stderr)
    return data


if __name__ == "__main__":
    main()
