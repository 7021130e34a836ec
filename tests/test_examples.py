"""The example scripts run (shortened)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_digits_learns():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    train_digits = _load("train_digits")
    acc = train_digits.train(ROOT / "examples" / "digits.arch", epochs=4, quiet=True)
    assert acc > 0.85
