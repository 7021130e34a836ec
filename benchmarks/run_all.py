"""Run every benchmark: results as JSON in benchmarks/results/, tables as markdown.

    python benchmarks/run_all.py [--quick] [--only summary,startup,build,runtime,scaling,limits,gpu]

Each benchmark runs in its own process, one after the other (never in parallel: they
measure time). ``gpu`` runs ``gpu.py`` when CUDA is available and is skipped otherwise.
The full run takes about an hour on a 2-core machine; ``--quick`` a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS, machine, md_table, versions

BENCHMARKS = {
    "summary": ("bench_summary.py", "1. Static summary vs torchinfo (whole process)"),
    "startup": ("bench_startup.py", "1. Start-up: archlang check vs importing its libraries"),
    "build": ("bench_build.py", "2. Build time: archlang.load vs the torchvision constructor"),
    "runtime": ("bench_runtime.py", "3. Run time on the CPU"),
    "scaling": ("bench_scaling.py", "4. Scaling of the checker"),
    "limits": ("bench_limits.py", "6. Bounded work under the default limits"),
    "gpu": ("gpu.py", "5. GPU"),
}


def cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repetitions, smaller sizes")
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(BENCHMARKS))
    ap.add_argument("--out", default=str(RESULTS), help="results directory")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {"machine": machine(), "versions": versions()}
    print("## Machine\n")
    m = info["machine"]
    print(md_table(["CPU", "cores", "RAM", "python", "torch", "torchvision", "torchinfo",
                    "archlang"],
                   [[m["cpu"], m["cores"], f"{(m['ram_bytes'] or 0) / 2**30:.1f} GiB",
                     *[info["versions"].get(k) for k in ("python", "torch", "torchvision",
                                                         "torchinfo", "archlang")]]]))
    print(f"\nOMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; load average at start "
          f"{m['loadavg_at_start']}")
    failed = []
    timings = {}
    for name in names:
        script, title = BENCHMARKS[name]
        cmd = [sys.executable, str(HERE / script)]
        if name == "gpu":
            if not cuda_available():
                print(f"\n## {title}\n\nskipped: no CUDA device here. Run "
                      f"`python benchmarks/gpu.py` on a GPU machine.")
                continue
            cmd += ["--out", str(out_dir / "gpu.json")]
        else:
            cmd += ["--out", str(out_dir)]
        if args.quick:
            cmd.append("--quick")
        print(f"\n## {title}\n\n`{' '.join(['python', 'benchmarks/' + script, *cmd[2:]])}`\n",
              flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, check=False, cwd=HERE.parent, stdout=subprocess.PIPE, text=True)
        timings[name] = time.perf_counter() - t0
        print(proc.stdout, flush=True)
        if proc.returncode != 0:
            failed.append(name)
            print(f"**{name} failed with exit code {proc.returncode}**")
    info["benchmark_wall_s"] = timings
    info["failed"] = failed
    info["quick"] = args.quick
    (out_dir / "run_all.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"\n(results in {out_dir}; " + ", ".join(f"{k} {v:.0f} s" for k, v in
                                                   timings.items()) + ")")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
