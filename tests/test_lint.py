"""The repository's Python passes `ruff check` with the configuration in pyproject.toml."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: every folder of the repository that holds Python
FOLDERS = ("archlang", "tests", "benchmarks", "scripts", "editors", "examples")


def _ruff() -> list[str]:
    """The ruff of the environment running the tests (the test extra's), else one on PATH."""
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed")
    return [exe]


def test_ruff_check_is_clean():
    ruff = _ruff()
    proc = subprocess.run([*ruff, "check", "--no-cache", "--output-format", "concise", *FOLDERS],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        version = subprocess.run([*ruff, "--version"], capture_output=True, text=True,
                                 check=False).stdout.strip()
        pytest.fail(f"{version}: ruff check {' '.join(FOLDERS)} (`ruff check --fix` mends "
                    f"some):\n{proc.stdout}{proc.stderr}", pytrace=False)
