"""The deployment benchmarks run: ``benchmarks/gpu.py --dry-run`` goes through every model and
every row on the CPU at tiny sizes, and ``benchmarks/bench_inference.py`` through every
variant. Only that they work, and that their outputs agree where they check it, is asserted:
never their timings (BENCHMARKS.md, sections 5 and 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
GPU_MODELS = ["resnet50", "googlenet", "vgg16", "mobilenet_v2", "efficientnet_b0"]
GPU_ROWS = ["training, eager", "training, compiled", "inference, eager", "inference, compiled",
            "inference, archlang's inference build", "inference build, both compiled"]


def run_script(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_gpu_script_dry_run_has_every_row(tmp_path):
    pytest.importorskip("torchvision")
    out = tmp_path / "gpu_dry.json"
    text = run_script(str(BENCH / "gpu.py"), "--dry-run", "--out", str(out)).stdout
    for model in GPU_MODELS:
        for row in GPU_ROWS:
            assert f"| {model} | {row} |" in text
        assert f"| {model} | archlang |" in text  # batch-1 latency, against the training build
        assert f"| {model} | inference build |" in text
    data = json.loads(out.read_text())
    assert data["args"]["dtype"] == "bf16" and data["args"]["compile"] == "all"
    assert [r["model"] for r in data["results"]] == GPU_MODELS
    assert all(r["agreement"]["ok"] and r["agreement_build"]["ok"] for r in data["results"])


def test_bench_inference_runs_every_variant(tmp_path):
    pytest.importorskip("torchvision")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = tmp_path / "inference.json"
    run_script(str(BENCH / "bench_inference.py"), "--models", "mobilenet_v2", "--batches", "2",
               "--image", "32", "--rounds", "1", "--warmup", "0", "--layout", "--compile",
               "--compile-backend", "eager", "--onnx", "--out", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert [r["variant"] for r in rows] == [
        "torchvision eager", "archlang inference", "torchvision channels_last",
        "torchvision compiled", "archlang inference compiled", "onnxruntime"]
    compiled = rows[4]
    assert compiled["ratio_same_setting"] is not None and compiled["compile_s"] is not None
