"""6. Bounded work: the slowest specs the default limits admit, and the first ones they refuse.

    python benchmarks/bench_limits.py [--quick] [--reps N] [--render JSON]

Each case is a spec written to a temporary directory and checked by a fresh
``archlang check`` process with the default limits, timed from outside (wall time, median
of N runs). Targets: a spec under the default limits is checked in under 2 s; one over them
is a located error within 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import md_table, save, venv_bin

NET = "network n {{\n    input x: {shape}\n{body}\n    output y\n}}\n"


def cases() -> list[tuple[str, str, int]]:
    """(what, spec text, expected exit code)."""
    def net(body: str, shape: str = "[16, 8, 8]") -> str:
        return NET.format(shape=shape, body=body)

    unrolled = "    " + "relu; " * 16_600  # 99.6 kB: as many layers as 100 kB of text holds
    loop = ("    for i in range({n}) {{\n        conv2d(16, 3, stride=1, padding=1, dilation=1, "
            "groups=1, bias=false)\n        relu\n    }}")
    doubling = "\n".join(
        f"block B{k}(n) {{ {f'B{k + 1}(n * 2 + {k})' if k < 19 else 'relu'}; "
        f"{f'B{k + 1}(n * 2 + {k})' if k < 19 else 'relu'} }}" for k in range(20))
    return [
        ("under: 16,600 layers written out (99.6 kB, one line)", net(unrolled, "[4]"), 0),
        ("under: 49,998 layers from a loop (conv2d with every option, relu)",
         net(loop.format(n=24_999)), 0),
        ("over: 50,002 layers from a loop", net(loop.format(n=25_001)), 1),
        ("over: 10**30 layers from six nested loops",
         net("".join("    " * k + f"    for v{k} in range(100000) {{\n" for k in range(6))
             + "            relu\n" + "".join("    " * (5 - k) + "    }\n" for k in range(6)),
             "[4]"), 1),
        ("over: a loop bound growing with the outer loop (no layer built)",
         net("    for i in range(20000) {\n        for j in range(i) { let a = j * 2 }\n    }\n"
             "    relu", "[4]"), 1),
        ("over: sum(range(100000)) in a loop of 100,000",
         net("    for i in range(100000) { let a = sum(range(100000)) }\n    relu", "[4]"), 1),
        ("over: blocks doubling with distinct arguments (2**20 layers)",
         doubling + "\n" + net("    B0(1)", "[4]"), 1),
        ("over: a 1 MB spec (a usage error: exit 2)", net("    " + "relu; " * 166_000, "[4]"), 2),
    ]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2 runs per case")
    ap.add_argument("--render", metavar="JSON", help="print the table of a saved run")
    args = ap.parse_args(argv)
    if args.render:
        import json

        print(json.loads(Path(args.render).read_text(encoding="utf-8"))["markdown"])
        return {}
    if args.quick:
        args.reps = 2
    exe = venv_bin("archlang")
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (what, text, expected) in enumerate(cases()):
            path = Path(tmp) / f"case{k}.arch"
            path.write_text(text, encoding="utf-8")
            times, first = [], ""
            for _ in range(args.reps):
                t0 = time.perf_counter()
                proc = subprocess.run([exe, "check", str(path)], capture_output=True, text=True,
                                      check=False)
                times.append(time.perf_counter() - t0)
                if proc.returncode != expected:
                    sys.exit(f"{what}: exit {proc.returncode}, expected {expected}\n"
                             f"{proc.stderr[-2000:]}")
                first = (proc.stdout or proc.stderr).splitlines()[0][:90]
            median = statistics.median(times)
            target = 2.0 if expected == 0 else 1.0
            results.append({"case": what, "bytes": len(text), "median_s": median,
                            "min_s": min(times), "max_s": max(times), "target_s": target,
                            "met": median < target, "first_line": first})
            rows.append([what, f"{len(text):,}",
                         f"{min(times):.2f} / **{median:.2f}** / {max(times):.2f} s",
                         f"< {target:.0f} s",
                         "met" if median < target else "**missed**", f"`{first}`"])
    table = md_table(["case (default limits)", "bytes", "wall, min / median / max",
                      "target", "", "first line of the answer"], rows)
    print(table)
    data = {"reps": args.reps, "results": results, "markdown": table}
    save("limits", data)
    return data


if __name__ == "__main__":
    main()
