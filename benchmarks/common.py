"""Shared helpers for the benchmarks: statistics, subprocess measurement, machine facts.

Nothing here imports archlang or torch at module level, so every benchmark can measure a
fresh process's own imports.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# OpenMP threads that spin while they wait are catastrophic on a shared machine: with
# another busy process on one of 2 cores, a 2-thread ResNet-50 forward took 3.9 s instead of
# 0.27 s, and torchinfo's summary of ResNet-152 22 s instead of 11.7 s. Passive waiting
# costs nothing measurable on a quiet machine. Set before torch (libgomp) is loaded; every
# subprocess inherits it. Override by setting OMP_WAIT_POLICY yourself.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Bytecode caches. An environment with PYTHONDONTWRITEBYTECODE=1 (this project's machines
# set it) has no .pyc files for the editable archlang, so every process compiles archlang
# from source (~70 ms), while torch & co. were byte-compiled at install time. Measure
# archlang as an installed package runs: bytecode cached, in a private prefix (nothing is
# written into the repository). bench_summary also measures the uncached case.
# (the caller's setting is kept for the results, also in child processes)
os.environ.setdefault("ARCHLANG_BENCH_CALLER_DONTWRITEBYTECODE",
                      os.environ.get("PYTHONDONTWRITEBYTECODE", ""))
ORIGINAL_DONTWRITEBYTECODE = os.environ["ARCHLANG_BENCH_CALLER_DONTWRITEBYTECODE"] or None
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# (in the user's own cache directory, never a shared temp directory: a planted .pyc there
# would run as this user)
PYCACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "archlang-bench" \
    / "pycache"
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))
#: the environment of a process without bytecode caches for archlang (as this machine runs)
NO_BYTECODE_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": None}

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
TIME_BIN = "/usr/bin/time"


# ---- statistics ---------------------------------------------------------------------------

def quantile(xs: list[float], q: float) -> float:
    """Linear-interpolated quantile (q in [0, 1]) of a non-empty list."""
    s = sorted(xs)
    if len(s) == 1:
        return s[0]
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def stats(xs: list[float]) -> dict:
    """Median, quartiles, extremes and count of a sample."""
    return {
        "median": statistics.median(xs),
        "p25": quantile(xs, 0.25),
        "p75": quantile(xs, 0.75),
        "min": min(xs),
        "max": max(xs),
        "n": len(xs),
    }


def paired_ratio(num: list[float], den: list[float]) -> dict:
    """Per-pair ratios of interleaved samples (num[i] / den[i]) summarised like ``stats``,
    plus the ratio of the medians."""
    ratios = [a / b for a, b in zip(num, den) if b > 0]
    out = stats(ratios)
    out["ratio_of_medians"] = statistics.median(num) / statistics.median(den)
    return out


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def fmt_spread(st: dict, fmt=fmt_time) -> str:
    """``median [p25–p75]``."""
    return f"{fmt(st['median'])} [{fmt(st['p25'])}–{fmt(st['p75'])}]"


def fmt_mib(b: float) -> str:
    return f"{b / 2**20:,.1f} MiB"


def fmt_ratio(r: float) -> str:
    return f"{r:.3f}" if r < 10 else f"{r:.1f}"


def fmt_speedup(r: float) -> str:
    return f"{r:.1f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# ---- subprocesses ---------------------------------------------------------------------------

def venv_bin(name: str) -> str:
    """An executable next to this interpreter (the venv's ``archlang``), else on PATH."""
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(name)
    return found


def merged_env(env: dict | None) -> dict:
    """os.environ updated by ``env``; a value of None removes the variable."""
    out = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def measure_process(cmd: list[str], env: dict | None = None, cwd: Path = ROOT,
                    timeout: float = 600) -> dict:
    """Run ``cmd`` once: wall time (perf_counter around the run), CPU time (user + system)
    and peak RSS in bytes.

    Peak RSS comes from ``/usr/bin/time -v`` when it exists, else from ``os.wait4`` (the
    child's own rusage; ru_maxrss is in KiB on Linux). Output is discarded; a non-zero
    exit raises with the child's stderr.
    """
    full_env = merged_env(env)
    use_time = os.path.exists(TIME_BIN)
    argv = [TIME_BIN, "-v", *cmd] if use_time else list(cmd)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    if use_time:
        _, err = proc.communicate(timeout=timeout)
        wall = time.perf_counter() - t0
        rc = proc.returncode
        text = err.decode(errors="replace")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        rss = int(m.group(1)) * 1024 if m else float("nan")
        mu = re.search(r"User time \(seconds\): ([\d.]+)", text)
        mk = re.search(r"System time \(seconds\): ([\d.]+)", text)
        cpu = float(mu.group(1)) + float(mk.group(1)) if mu and mk else float("nan")
        ms = re.search(r"Exit status: (\d+)", text)
        if ms:
            rc = int(ms.group(1))
    else:  # pragma: no cover - depends on the machine
        err = b""
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
        text = proc.stderr.read().decode(errors="replace")
        rss = ru.ru_maxrss * 1024
        cpu = ru.ru_utime + ru.ru_stime
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {rc}:\n{text[-3000:]}")
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": rss}


def run_json(cmd: list[str], env: dict | None = None, timeout: float = 1200) -> dict:
    """Run a helper that prints one JSON object on its last stdout line."""
    full_env = merged_env(env)
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- machine ------------------------------------------------------------------------------

def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_bytes": mem,
            "platform": platform.platform(), "loadavg_at_start": load}


def versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("torch", "torchvision", "torchinfo", "archlang", "lark", "pydantic", "rich"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        out["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                           capture_output=True, text=True,
                                           check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "archlang", "specs"], cwd=ROOT,
                               capture_output=True, text=True, check=False).stdout
        out["archlang_or_specs_modified"] = [line[3:] for line in dirty.splitlines()]
    except OSError:
        pass
    return out


def save(name: str, data: dict, out_dir: Path | None = None) -> Path:
    out_dir = Path(out_dir or RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    env = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS",
                                          "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONDONTWRITEBYTECODE in the calling environment"] = ORIGINAL_DONTWRITEBYTECODE
    data = {"benchmark": name, "machine": machine(), "versions": versions(), "env": env,
            "time": time.strftime("%Y-%m-%d %H:%M:%S"), **data}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
