"""The docs and the README cannot lie.

- Every ```arch example is a valid spec (and compiles).
- Every ```console block runs: each `$ ` line is a shell command (`archlang` is this
  checkout's CLI), and the lines after it are its output (stdout and stderr together).
- Every ```python block runs; a block written as a doctest (`>>>` prompts) must print what
  it shows.

The conventions are in docs/testing.md.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import archlang
from archlang.limits import Limits
from archlang.program import load_program

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def examples():
    for path in DOCS:
        if not path.exists():
            continue
        text = path.read_text()
        for k, m in enumerate(re.finditer(r"```arch\n(.*?)```", text, re.DOTALL)):
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
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_ops_doc.py"), "--check"],
                          cwd=ROOT, check=False)
    assert proc.returncode == 0, "docs/ops.md is stale: run python scripts/gen_ops_doc.py"


# --- Runnable blocks ----------------------------------------------------------------------

FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$",
                   re.DOTALL | re.MULTILINE)
ELISION = "..."   # a line of just this, in expected console output: any lines, or none

# Blocks that do not run or do not print what they show yet, each marked as an expected
# failure (strict: once the block is right, the entry must go). Key: (file name, a piece of
# text of the block); value: why.
OPT_OUT: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Block:
    path: Path
    index: int      # among all the fenced blocks of its file
    lang: str
    line: int       # line number of the block's first content line
    body: str

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def doc_blocks(lang: str) -> list[Block]:
    blocks = []
    for path in DOCS:
        if not path.exists():
            continue
        text = path.read_text()
        for k, m in enumerate(FENCE.finditer(text)):
            if m.group("lang") == lang:
                line = text.count("\n", 0, m.start("body")) + 1
                blocks.append(Block(path, k, lang, line, m.group("body")))
    return blocks


#: docs whose console blocks after the first are slow: the tour runs dozens of summaries
#: and sweeps (tests/test_tour.py checks its numbers in the fast run)
SLOW_AFTER_FIRST = ("tour.md",)


def block_params(lang: str):
    seen: set[str] = set()
    for block in doc_blocks(lang):
        reasons = [why for (name, piece), why in OPT_OUT.items()
                   if name == block.path.name and piece in block.body]
        marks = [pytest.mark.xfail(reason=reasons[0], strict=True)] if reasons else []
        if lang == "console" and block.path.name in SLOW_AFTER_FIRST:
            if block.path.name in seen:
                marks.append(pytest.mark.slow)
            seen.add(block.path.name)
        yield pytest.param(block, id=block.id, marks=marks)


def test_opt_outs_name_real_blocks():
    for name, piece in OPT_OUT:
        assert any(b.path.name == name and piece in b.body
                   for lang in ("console", "python") for b in doc_blocks(lang)), \
            f"OPT_OUT entry {(name, piece)} matches no block: remove it"


@pytest.fixture
def repo_root_unchanged(monkeypatch):
    """Run in the repo root, and fail if the block leaves new files there (out/ is for that)."""
    monkeypatch.chdir(ROOT)
    before = set(os.listdir(ROOT))
    yield
    new = set(os.listdir(ROOT)) - before - {"out", "__pycache__", ".pytest_cache", ".hypothesis"}
    for name in new:
        shutil.rmtree(ROOT / name) if (ROOT / name).is_dir() else (ROOT / name).unlink()
    assert not new, f"the block wrote {sorted(new)} into the repository root; write into out/"


def _needs_dot(text: str) -> bool:
    return bool(re.search(r"-o \S+\.(svg|png|pdf)\b|\.render\(|\.pipe\(", text))


def _skip_unless_available(text: str) -> None:
    if _needs_dot(text) and shutil.which("dot") is None:
        pytest.skip("needs Graphviz's dot")
    if re.search(r"\bimport torch\b|\btorch\.|archlang\.load", text):
        pytest.importorskip("torch")


# Console blocks.

def console_commands(body: str) -> list[tuple[str, str]]:
    """(command, expected output) for each `$ ` line of a console block."""
    chunks = re.split(r"^(?=\$ )", body, flags=re.MULTILINE)
    assert not chunks[0], f"a console block starts with a `$ ` command, not {chunks[0]!r}"
    return [(c.partition("\n")[0][2:], c.partition("\n")[2]) for c in chunks[1:]]


@pytest.fixture(scope="session")
def cli_path(tmp_path_factory) -> str:
    """PATH whose `archlang` is this checkout's CLI, run by the test's interpreter."""
    bin_dir = tmp_path_factory.mktemp("bin")
    script = bin_dir / "archlang"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m archlang "$@"\n')
    script.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def run_console(command: str, path: str) -> str:
    env = {**os.environ, "PATH": path, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
           "TERM": "dumb", "PYTHONPATH": str(ROOT)}
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    # 0: ok; 1: errors in a spec (a block may show them); anything else is a failure
    assert proc.returncode in (0, 1), f"$ {command}\nexit status {proc.returncode}\n{proc.stdout}"
    return proc.stdout


def output_matches(expected: str, actual: str) -> bool:
    pattern = "".join(r"(?:.*\n)*?" if line == ELISION else re.escape(line) + r"\n"
                      for line in expected.splitlines())
    return re.fullmatch(pattern, actual) is not None


def _rewrite_block(block: Block, body: str) -> None:
    text = block.path.read_text()
    m = list(FENCE.finditer(text))[block.index]
    block.path.write_text(text[:m.start("body")] + body + text[m.end("body"):])


@pytest.mark.parametrize("block", list(block_params("console")))
def test_console_block(block, cli_path, repo_root_unchanged, update_goldens):
    _skip_unless_available(block.body)
    failures, rewritten = [], ""
    for command, expected in console_commands(block.body):
        actual = run_console(command, cli_path)
        matches = output_matches(expected, actual)
        rewritten += f"$ {command}\n" + (expected if matches else actual)
        if not matches:
            failures.append(f"$ {command}\n--- shown\n{expected}--- printed\n{actual}")
    if update_goldens and failures:
        _rewrite_block(block, rewritten)
        return
    assert not failures, f"{block.id} shows stale output (pytest --update-goldens " \
        "rewrites it):\n" + "\n".join(failures)


# Python blocks.

def run_python(block: Block) -> str:
    """Run a block in a fresh namespace; a doctest's report of failures, or ''."""
    globs = {"__name__": "__doc__"}
    if re.search(r"^\s*>>> ", block.body, re.MULTILINE):
        test = doctest.DocTestParser().get_doctest(block.body, globs, block.id,
                                                   str(block.path), block.line - 1)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        report: list[str] = []
        runner.run(test, out=report.append)
        return "".join(report)
    # a script: padded so that tracebacks give the line in the markdown file
    code = compile("\n" * (block.line - 1) + block.body, str(block.path), "exec")
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, globs)  # noqa: S102 - our own docs
    return ""


@pytest.mark.parametrize("block", list(block_params("python")))
def test_python_block(block, repo_root_unchanged):
    _skip_unless_available(block.body)
    report = run_python(block)
    assert not report, f"{block.id} does not print what it shows:\n{report}"


def test_output_matching():
    assert output_matches("a\nb\n", "a\nb\n")
    assert not output_matches("a\nb\n", "a\nb \n")
    assert output_matches("a\n...\nz\n", "a\nz\n")
    assert output_matches("a\n...\nz\n", "a\nb\nc\nz\n")
    assert not output_matches("a\n...\nz\n", "a\nb\n")
    assert output_matches("", "")
    assert not output_matches("", "x\n")
