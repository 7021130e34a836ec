"""The golden files: one layout (tests/goldens/README.md), one comparator (the ``golden``
fixture of tests/conftest.py), and no golden that no test reads."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from conftest import GOLDENS, Golden, golden_path

#: The test files that compare with goldens; each has ``golden_files()``, the set it uses.
MODULES = ["test_cli_usage", "test_diagram", "test_diff", "test_generative", "test_ports",
           "test_summary", "test_sweep", "test_value_lists", "test_zoo_goldens"]


def test_every_golden_is_used():
    pytest.importorskip("torch")  # test_generative needs it
    used: set[Path] = set()
    for name in MODULES:
        used |= importlib.import_module(name).golden_files()
    present = {p for p in GOLDENS.rglob("*") if p.is_file() and p != GOLDENS / "README.md"}
    stale = sorted(str(p.relative_to(GOLDENS)) for p in present - used)
    missing = sorted(str(p.relative_to(GOLDENS)) for p in used - present)
    assert not stale, f"goldens no test uses (delete them or add their test): {stale}"
    assert not missing, f"goldens missing (pytest --update-goldens writes them): {missing}"


def test_golden_path():
    assert golden_path("specs/googlenet.arch", "googlenet", "depth1.dot") \
        == GOLDENS / "googlenet" / "googlenet.depth1.dot"
    assert golden_path("examples/ensemble.arch", "wide_shallow", "summary.json") \
        == GOLDENS / "ensemble" / "wide_shallow.summary.json"
    assert golden_path("broken", "zero_size", "depth1.dot") \
        == GOLDENS / "broken" / "zero_size.depth1.dot"


def test_missing_golden_fails(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="missing golden"):
        Golden(update=False, root=tmp_path)("specs/nin.arch", "no_such", "dot", "x")


def test_different_text_fails_with_a_diff(tmp_path):
    (tmp_path / "nin").mkdir()
    (tmp_path / "nin" / "net.py").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"(?s)differs.*-b\n\+c"):
        Golden(update=False, root=tmp_path)("specs/nin.arch", "net", "py", "a\nc\n")
    Golden(update=False, root=tmp_path)("specs/nin.arch", "net", "py", "a\nb\n")


def test_update_rewrites(tmp_path):
    Golden(update=True, root=tmp_path)("specs/nin.arch", "net", "summary.txt", "new\n")
    assert (tmp_path / "nin" / "net.summary.txt").read_text(encoding="utf-8") == "new\n"
    Golden(update=False, root=tmp_path)("specs/nin.arch", "net", "summary.txt", "new\n")
