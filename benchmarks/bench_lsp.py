"""7. The language server: re-checking resnet.arch after an edit, in process.

    python benchmarks/bench_lsp.py [--quick] [--reps N]

What ``archlang lsp`` does on each ``didChange`` of ``specs/resnet.arch``, timed in one warm
process (``archlang.lsp``, no JSON-RPC): the buffer is checked from its text (parse, lower,
expand, solve, verify, inits: ``archlang.lsp.analyse``), then its diagnostics and its inlay
hints are built. Each run edits the text first (a default argument changes, so every run
checks a text the previous run did not), for the file's first network (resnet18, what the
server shows without a setting) and for resnet50 and resnet152 chosen by the setting.
Median and quartiles over the runs, after warm-up runs. Target (issue #15): the re-check
of resnet.arch ≤ 50 ms median on this machine.
"""

from __future__ import annotations

import argparse
import gc
import time

from common import ROOT, fmt_spread, md_table, save, stats, verdict

SPEC = ROOT / "specs" / "resnet.arch"
TARGET = 0.050
NETWORKS = (None, "resnet50", "resnet152")


def measure(network: str | None, reps: int, warmup: int = 3) -> dict:
    from archlang.lsp import Settings, analyse, inlay_hints, lsp_diagnostics

    text = SPEC.read_text(encoding="utf-8")
    stem = "zero_init_residual=false) {"
    assert stem in text
    settings = Settings(network)
    check, answer, name = [], [], None
    for i in range(warmup + reps):
        edited = text.replace(stem, f"zero_init_residual={'true' if i % 2 else 'false'}) {{")
        gc.collect()
        t0 = time.perf_counter()
        a = analyse(edited, SPEC, settings)
        t1 = time.perf_counter()
        diags, hints = lsp_diagnostics(a), inlay_hints(a)
        t2 = time.perf_counter()
        assert a.graph is not None and not diags and hints, (network, a.crash)
        name = a.network
        if i >= warmup:
            check.append(t1 - t0)
            answer.append(t2 - t0)
    return {"network": name, "layers": len(a.graph.nodes), "check": stats(check),
            "check_samples": check, "with_answers": stats(answer), "answer_samples": answer}


def table(rows: list[dict]) -> str:
    out = []
    for r in rows:
        ok = r["check"]["median"] <= TARGET
        out.append([f"`{r['network']}`" + (" (first network)" if r["default"] else ""),
                    str(r["layers"]), fmt_spread(r["check"]), fmt_spread(r["with_answers"]),
                    verdict(ok)])
    return md_table(["network", "layers", "re-check", "re-check + diagnostics + hints",
                     "≤ 50 ms"], out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 runs per network")
    ap.add_argument("--reps", type=int, default=None, help="runs per network (default 40)")
    ap.add_argument("--render", help="print the table of a saved run")
    args = ap.parse_args()
    if args.render:
        import json
        from pathlib import Path

        print(table(json.loads(Path(args.render).read_text())["rows"]))
        return
    reps = args.reps or (10 if args.quick else 40)
    rows = []
    for network in NETWORKS:
        r = measure(network, reps)
        r["default"] = network is None
        rows.append(r)
    import os

    path = save("lsp", {"reps": reps, "rows": rows, "load_average": os.getloadavg()})
    print(table(rows))
    print(f"\nraw samples: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
