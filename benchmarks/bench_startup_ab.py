"""1b. Before and after: a check and a summary from scratch, for two copies of archlang.

    python benchmarks/bench_startup_ab.py BEFORE AFTER [--reps N] [--stage-reps N]

BEFORE and AFTER are directories that hold an ``archlang`` package (a second checkout:
``git worktree add /tmp/before COMMIT``). Each command is the venv's ``archlang`` console
script with that directory first on ``PYTHONPATH`` (``python -m archlang`` would import the
package of the working directory instead), bytecode cached: ``check`` and ``summary`` of
resnet152 with ``--no-cache``, and the floor, ``python -c "import lark, pydantic, click"``,
in a rotating order. Wall time by the clock, CPU time (user + system) from ``os.wait4``, in
microseconds (``/usr/bin/time`` gives 10 ms). Differences and ratios are taken pair by pair.

Then ``_startup_stages.py`` in fresh processes with AFTER: where its check spends its time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import BENCH, ROOT, merged_env, run_json, save, venv_bin

SPEC, NETWORK = "specs/resnet.arch", "resnet152"


def measure(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def commands(before: Path, after: Path) -> dict[str, tuple[list[str], dict]]:
    out = {}
    for which, where in (("before", before), ("after", after)):
        env = merged_env({"PYTHONPATH": str(where)})
        for command in ("check", "summary"):
            out[f"{command} {which}"] = (
                [venv_bin("archlang"), command, SPEC, "--network", NETWORK, "--no-cache"], env)
    out["floor"] = ([sys.executable, "-c", "import lark, pydantic, click"], merged_env({}))
    return out


def mmm(xs: list[float]) -> dict:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}


def run(before: Path, after: Path, reps: int, stage_reps: int) -> dict:
    cmds = commands(before, after)
    for cmd, env in cmds.values():  # warm the caches (parser, bytecode, OS files), unmeasured
        measure(cmd, env)
    keys = list(cmds)
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in keys}
    load = [os.getloadavg()]
    for i in range(reps):
        for k in keys[i % len(keys):] + keys[:i % len(keys)]:
            samples[k].append(measure(*cmds[k]))
    load.append(os.getloadavg())
    out: dict = {"before": str(before), "after": str(after), "reps": reps,
                 "loadavg_start_end": load, "commands": {}}
    for k, xs in samples.items():
        row = {"wall_s": mmm([w for w, _ in xs]), "cpu_s": mmm([c for _, c in xs])}
        if k.startswith("check"):
            row["wall_to_floor"] = mmm([a[0] / b[0] for a, b in zip(xs, samples["floor"])])
            row["cpu_to_floor"] = mmm([a[1] / b[1] for a, b in zip(xs, samples["floor"])])
        out["commands"][k] = row
    for command in ("check", "summary"):
        pairs = list(zip(samples[f"{command} before"], samples[f"{command} after"]))
        out[f"{command} saved"] = {"wall_s": mmm([b[0] - a[0] for b, a in pairs]),
                                   "cpu_s": mmm([b[1] - a[1] for b, a in pairs])}
    env = merged_env({"PYTHONPATH": str(after)})
    runs = [run_json([sys.executable, str(BENCH / "_startup_stages.py"), SPEC, NETWORK], env)
            for _ in range(stage_reps)]
    out["stages_ms"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return out


HEADER = "| command | wall ms, min / median / max | CPU ms, min / median / max | wall / floor |"


def ms(st: dict) -> str:
    return f"{st['min'] * 1e3:.1f} / **{st['median'] * 1e3:.1f}** / {st['max'] * 1e3:.1f}"


def report(r: dict) -> str:
    load = r["loadavg_start_end"]
    lines = [f"{r['reps']} rounds, load average {load[0][0]:.2f} → {load[1][0]:.2f}", "",
             HEADER, "|---|---|---|---|"]
    for k, row in r["commands"].items():
        ratio = row.get("wall_to_floor")
        lines.append(f"| {k} | {ms(row['wall_s'])} | {ms(row['cpu_s'])} | "
                     + (f"{ratio['min']:.2f} / **{ratio['median']:.2f}** / {ratio['max']:.2f}"
                        if ratio else "") + " |")
    for command in ("check", "summary"):
        saved = r[f"{command} saved"]
        lines.append(f"\n{command}: before − after, per pair, median "
                     f"{saved['wall_s']['median'] * 1e3:.1f} ms wall, "
                     f"{saved['cpu_s']['median'] * 1e3:.1f} ms CPU")
    lines += ["", "| stage (after) | ms, median |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in r["stages_ms"].items()]
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--stage-reps", type=int, default=5)
    ap.add_argument("--out", help="results directory (default benchmarks/results)")
    args = ap.parse_args(argv)
    for where in (args.before, args.after):
        if not (where / "archlang" / "__init__.py").is_file():
            ap.error(f"{where} holds no archlang package")
    data = run(args.before.resolve(), args.after.resolve(), args.reps, args.stage_reps)
    data["markdown"] = report(data)
    path = save("startup_ab", data, args.out)
    print(data["markdown"])
    print(f"\n(results: {path})", file=sys.stderr)
    return data


if __name__ == "__main__":
    main()
