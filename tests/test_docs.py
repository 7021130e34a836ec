"""Every ```arch example in the docs and the README is a valid spec (and compiles)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import archlang
from archlang.program import load_program
from archlang.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def examples():
    for path in DOCS:
        if not path.exists():
            continue
        text = path.read_text()
        for k, m in enumerate(re.finditer(r"```arch\n(.*?)```", text, re.S)):
            if "network" in m.group(1) and "# E:" not in m.group(1):  # error examples
                # are checked against their goldens by tests/test_errors.py
                yield pytest.param(m.group(1), id=f"{path.name}-{k}")


@pytest.mark.parametrize("spec", list(examples()))
def test_doc_example_checks(spec):
    prog = load_program(spec, Limits())
    assert prog.networks, "example defines no network"
    for name in prog.networks:
        result = archlang.check(spec, name)
        assert result.params >= 0
        assert result.outputs


@pytest.mark.parametrize("spec", list(examples()))
def test_doc_example_compiles(spec):
    torch = pytest.importorskip("torch")
    prog = load_program(spec, Limits())
    for name in prog.networks:
        result = archlang.check(spec, name)
        if any(not isinstance(d, int) for n in result.graph.inputs.values()
               for d in result.graph.nodes[n].shape):
            continue
        model = archlang.load(spec, name).eval()
        inputs = [torch.randn(2, *result.graph.nodes[n].shape) for n in result.graph.inputs.values()]
        with torch.no_grad():
            out = model(*inputs)
        first = out if isinstance(out, torch.Tensor) else out[0]
        name0 = next(iter(result.outputs))
        assert tuple(first.shape) == (2, *result.outputs[name0])


def test_ops_doc_is_current():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_ops_doc.py"), "--check"],
                          cwd=ROOT)
    assert proc.returncode == 0, "docs/ops.md is stale: run python scripts/gen_ops_doc.py"


def test_readme_verdicts_are_real():
    from click.testing import CliRunner

    from archlang.cli import main

    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        lines = block.splitlines()
        for k, line in enumerate(lines):
            if line.startswith("$ archlang check "):
                args = line[len("$ archlang "):].split()
                result = CliRunner().invoke(main, args)
                assert result.exit_code == 0, result.output
                assert result.stdout.strip() == lines[k + 1].strip()
