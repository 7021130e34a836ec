"""4. Scaling of the checker: generated specs of 1,000, 10,000 and 100,000 layers.

    python benchmarks/bench_scaling.py [--quick] [--reps N]

Variants (the layer count is the number of expanded op nodes, the input not counted):
  - ``loop``: one ``for`` loop of ``conv2d(16, 3, padding=1)`` + ``relu`` (2 layers a turn);
  - ``blocks``: a ``for`` loop of instances of a residual block
    (conv + batchnorm + add + relu: 4 layers an instance);
  - ``unrolled``: every layer written out on its own line (no loop), so the parser sees
    the whole network; 100,000 layers is a 2.7 MB file and needs ``--max-bytes``.
Each check is one fresh process, ``archlang check FILE --max-nodes 200000``, timed by
``/usr/bin/time -v`` (wall time, peak RSS); sizes alternate within each round. A 1-layer
spec gives the fixed cost (interpreter, imports). ``_check_stages.py`` then splits one
process per variant and size into stages, and profiles the 10,000-layer check.
Targets: 100k over 10k at most 12x; 100,000 layers checked in under 10 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import (
    BENCH,
    fmt_mib,
    fmt_spread,
    md_table,
    measure_process,
    run_json,
    save,
    stats,
    venv_bin,
    verdict,
)

SIZES = [1_000, 10_000, 100_000]
RATIO_TARGET = 12.0
TIME_TARGET = 10.0
MAX_NODES = 200_000
PER_TURN = {"loop": 2, "blocks": 4, "unrolled": 2}


def spec_text(variant: str, layers: int) -> str:
    n = layers // PER_TURN[variant]
    if variant == "loop":
        return (f"network deep(n={n}) {{\n    input image: [16, 8, 8]\n"
                f"    for i in range(n) {{\n        conv2d(16, 3, padding=1)\n        relu\n"
                f"    }}\n    output y\n}}\n")
    if variant == "blocks":
        return ("block Unit(c) {\n    residual {\n"
                "        conv: conv2d(c, 3, padding=1, bias=false)\n"
                "        bn: batchnorm\n    }\n    relu\n}\n\n"
                f"network blocks(n={n}) {{\n    input image: [16, 8, 8]\n"
                "    for i in range(n) {\n        Unit(16)\n    }\n    output y\n}\n")
    if variant == "unrolled":
        lines = ["network flat {", "    input image: [16, 8, 8]"]
        for i in range(n):
            lines.append(f"    c{i}: conv2d(16, 3, padding=1)")
            lines.append(f"    r{i}: relu")
        lines += ["    output y", "}", ""]
        return "\n".join(lines)
    raise ValueError(variant)


def check_cmd(path: Path, size: int) -> list[str]:
    cmd = [venv_bin("archlang"), "check", str(path), "--max-nodes", str(MAX_NODES)]
    if path.stat().st_size > 1_000_000:
        cmd += ["--max-bytes", str(4 * path.stat().st_size)]
    return cmd


def bench_variant(variant: str, sizes: list[int], reps: int, tmp: Path, big_reps: int,
                  profile_size: int | None) -> dict:
    files = {}
    for size in sizes:
        p = tmp / f"{variant}_{size}.arch"
        p.write_text(spec_text(variant, size), encoding="utf-8")
        files[size] = p
    base = tmp / "one_layer.arch"
    base.write_text(spec_text("loop", 2).replace("range(n)", "range(1)"), encoding="utf-8")
    samples: dict = {s: [] for s in sizes}
    samples["fixed"] = []
    keys = ["fixed", *sizes]
    for i in range(reps):
        order = keys[i % len(keys):] + keys[:i % len(keys)]
        for k in order:
            if k == "fixed":
                samples[k].append(measure_process(check_cmd(base, 1)))
                continue
            # the slowest checks (the unrolled 100k file) run fewer times
            if k == 100_000 and variant == "unrolled" and i >= big_reps:
                continue
            samples[k].append(measure_process(check_cmd(files[k], k)))
        print(f"  scaling {variant} round {i + 1}/{reps}: " + ", ".join(
            f"{k}: {samples[k][-1]['wall_s']:.2f} s" for k in keys if samples[k]),
            file=sys.stderr)
    out: dict = {"variant": variant,
                 "file_bytes": {str(s): files[s].stat().st_size for s in sizes}}
    for k in keys:
        out[str(k)] = {"wall_s": stats([x["wall_s"] for x in samples[k]]),
                       "cpu_s": stats([x["cpu_s"] for x in samples[k]]),
                       "peak_rss_bytes": stats([x["peak_rss_bytes"] for x in samples[k]])}
    fixed = out["fixed"]["wall_s"]["median"]
    for s in sizes:
        w = out[str(s)]["wall_s"]["median"]
        out[str(s)]["us_per_layer_above_fixed"] = 1e6 * (w - fixed) / s
    if 10_000 in sizes and 100_000 in sizes:
        w10 = out["10000"]["wall_s"]["median"]
        w100 = out["100000"]["wall_s"]["median"]
        out["ratio_100k_10k"] = w100 / w10
        out["ratio_100k_10k_above_fixed"] = (w100 - fixed) / (w10 - fixed)
        out["ratio_target_met"] = out["ratio_100k_10k"] <= RATIO_TARGET
        out["time_target_met"] = w100 < TIME_TARGET
    # stages, in one more fresh process per size
    out["stages"] = {}
    for s in sizes:
        cmd = [sys.executable, str(BENCH / "_check_stages.py"), str(files[s]),
               "--max-nodes", str(MAX_NODES)]
        if files[s].stat().st_size > 1_000_000:
            cmd += ["--max-bytes", str(4 * files[s].stat().st_size)]
        out["stages"][str(s)] = run_json(cmd, timeout=3600)
        out[str(s)]["nodes"] = out["stages"][str(s)]["nodes"] - 1  # the input is a node
        if s == profile_size:  # a separate run: the profiler slows everything down
            out["profile"] = run_json([*cmd, "--profile", "15"],
                                      timeout=3600).get("profile_top")
    return out


WORK_STAGES = ("load program (parse + lower + checks)", "expand + shape check", "totals")


def work_s(r: dict, size) -> float:
    """The checker's own work in the stages process: load program + expand + totals."""
    st = r["stages"][str(size)]["stages_s"]
    return sum(st[k] for k in WORK_STAGES)


def table(results: list[dict], sizes: list[int]) -> str:
    rows = []
    for r in results:
        for s in sizes:
            x = r[str(s)]
            w = work_s(r, s)
            rows.append([r["variant"], f"{x['nodes']:,}", f"{r['file_bytes'][str(s)]:,}",
                         fmt_spread(x["wall_s"]), fmt_mib(x["peak_rss_bytes"]["median"]),
                         f"{w:.2f} s ({1e6 * w / s:.0f} µs a layer)", str(x["wall_s"]["n"])])
        f = r["fixed"]
        rows.append([r["variant"], "1 (fixed cost)", "", fmt_spread(f["wall_s"]),
                     fmt_mib(f["peak_rss_bytes"]["median"]), "", str(f["wall_s"]["n"])])
    out = md_table(["variant", "layers (expanded op nodes)", "file bytes",
                    "`archlang check`, wall time, median [p25–p75]", "peak RSS",
                    "the checker's own work (one in-process split)", "runs"], rows)
    if 10_000 in sizes and 100_000 in sizes:
        out += "\n\n" + md_table(
            ["variant", "100k / 10k, whole process", "100k / 10k, the checker's own work",
             f"≤ {RATIO_TARGET:g}x", f"100k in < {TIME_TARGET:g} s"],
            [[r["variant"], f"{r['ratio_100k_10k']:.2f}x",
              f"{work_s(r, 100_000) / work_s(r, 10_000):.2f}x",
              verdict(r["ratio_target_met"]), verdict(r["time_target_met"])]
             for r in results])
    # stages of the largest size
    big = str(max(sizes))
    stage_keys = list(results[0]["stages"][big]["stages_s"])
    out += f"\n\nStages of one {int(big):,}-layer check (seconds; in brackets the part spent " \
           "in Python's cyclic GC):\n\n"
    out += md_table(["stage", *[r["variant"] for r in results]],
                    [[k, *[f"{r['stages'][big]['stages_s'].get(k, 0):.2f} "
                          f"[{r['stages'][big]['gc_s'].get(k, 0):.2f}]" for r in results]]
                     for k in stage_keys])
    for r in results:
        if r.get("profile"):
            out += (f"\n\nProfile of the 10,000-layer `{r['variant']}` check (cProfile, own "
                    "time; parse + lower + expand): ")
            out += "; ".join(f"`{p['where']}` {p['own_s']:.2f} s ({p['calls']:,} calls)"
                             for p in r["profile"][:6])
    return out


def render(path: str) -> str:
    """The tables again from a saved scaling.json."""
    import json

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    sizes = [int(k) for k in data["results"][0]["file_bytes"]]
    return table(data["results"], sizes)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 round; 1k and 10k only")
    ap.add_argument("--reps", type=int, help="rounds (default 3, quick 1)")
    ap.add_argument("--variants", default="loop,blocks,unrolled")
    ap.add_argument("--out", help="results directory (default benchmarks/results)")
    ap.add_argument("--render", metavar="JSON", help="print the tables of a saved run")
    args = ap.parse_args(argv)
    if args.render:
        print(render(args.render))
        return {}
    reps = args.reps or (1 if args.quick else 3)
    sizes = SIZES[:2] if args.quick else SIZES
    results = []
    with tempfile.TemporaryDirectory(prefix="archlang-scaling-") as tmp:
        for variant in args.variants.split(","):
            results.append(bench_variant(variant, sizes, reps, Path(tmp), big_reps=2,
                                         profile_size=10_000))
    data = {"quick": args.quick, "max_nodes": MAX_NODES, "results": results,
            "markdown": table(results, sizes)}
    path = save("scaling", data, args.out)
    print(data["markdown"])
    print(f"\n(results: {path})", file=sys.stderr)
    return data


if __name__ == "__main__":
    main()
