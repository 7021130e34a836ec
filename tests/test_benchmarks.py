"""The GPU benchmark script runs (as a CPU smoke run) and prints its tables.

Only that it works is checked here; its numbers are never asserted (see BENCHMARKS.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_script_cpu_quick(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    out = tmp_path / "gpu_cpu.json"
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu", "--quick",
         "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert "| model | batch 2 | torchvision img/s | archlang img/s |" in text
    for model in ("resnet50", "googlenet"):
        assert f"| {model} | training, eager |" in text
        assert f"| {model} | training, compiled |" in text
        assert f"| {model} | inference, eager |" in text
    assert "batch-1 latency" in text
    data = json.loads(out.read_text())
    assert [r["model"] for r in data["results"]] == ["resnet50", "googlenet"]
    assert all(r["agreement"]["ok"] for r in data["results"])
