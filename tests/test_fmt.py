"""archlang fmt: goldens for every construct (tests/cases/fmt/<case>.arch -> <case>.expected),
idempotence, the repository's specs kept formatted, meaning preserved (the check and the
compiled source are the same before and after), and a fuzz test over mutated specs."""

from __future__ import annotations

import itertools
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Golden
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archlang
from archlang.fmt import FormatterBug, format_text
from archlang.limits import Limits
from archlang.program import load_program
from archlang.source import Source
from archlang.syntax.parse import _cached, parse

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases"
FMT_CASES = sorted((CASES / "fmt").glob("*.arch"))
SPECS = sorted({*ROOT.joinpath("archlang", "zoo").glob("*.arch"),
                *ROOT.joinpath("examples").rglob("*.arch"),
                *ROOT.joinpath("tests", "plugins").glob("*.arch")})
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def doc_blocks():
    for path in DOCS:
        for k, m in enumerate(re.finditer(r"```arch\n(.*?)```", path.read_text(), re.DOTALL)):
            yield pytest.param(m.group(1), id=f"{path.name}-{k}")


@pytest.mark.parametrize("case", FMT_CASES, ids=lambda p: p.stem)
def test_fmt_golden(case, update_goldens):
    out, diags = format_text(case.read_text(encoding="utf-8"), case.name)
    assert diags == [] and out is not None
    Golden(update_goldens, root=CASES)("fmt", case.stem, "expected", out)
    assert format_text(out)[0] == out, "formatting is not idempotent"


def test_fmt_cases_cover_every_construct():
    """Every rule and alias of the grammar that builds a tree appears in some case."""
    parser, _ = _cached(64)
    built = {str(r.alias or r.origin.name) for r in parser.rules}
    built = {n for n in built if not n.startswith(("_", "__"))}
    seen: set[str] = set()
    for case in FMT_CASES:
        tree, _ = parse(Source(case.name, case.read_text(encoding="utf-8")))
        seen |= {str(t.data) for t in tree.iter_subtrees()}
    # pass-through rules (`?expr`, `?atom`...) never build a tree of their own
    inlined = {n for n in built if n not in seen and n in {
        "expr", "ternary", "or_test", "and_test", "not_test", "comparison", "arith", "term",
        "factor", "power", "postfix", "atom", "else_part", "label"}}
    assert built - seen - inlined == set()


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_repo_spec_is_formatted(path):
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path))[0] == text, f"run: archlang fmt {path.relative_to(ROOT)}"


@pytest.mark.parametrize("block", list(doc_blocks()))
def test_doc_block_is_formatted(block):
    out, diags = format_text(block)
    if out is None:  # an example of a syntax error (docs/diagnostics.md): reported, kept
        assert diags
        return
    assert out == block


def scramble(text: str, rng: random.Random) -> str:
    """The same tokens on the same lines, with other indentation and spacing; lines with a
    comment after code keep their layout (its column is the user's)."""
    seen: list = []
    tree, _ = parse(Source("s.arch", text), seen=seen)
    assert tree is not None
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    out = []
    for n, line in enumerate(lines):
        code = line.split("#", 1)[0] if '"' not in line and "'" not in line else line
        if "#" in line and code.strip() or not line.strip():
            out.append(line)
            continue
        toks = [t for t in seen if starts[n] <= t.start_pos < starts[n + 1] and t.type != "_NL"]
        if not toks:
            out.append(" " * rng.randrange(8) + line.strip())
            continue
        pieces = [" " * rng.randrange(8)]
        for a, b in itertools.pairwise(toks):
            pieces.append(a.value)
            gap = text[a.end_pos:b.start_pos]
            loose = a.value in ",()[]{}:;" or b.value in ",()[]{}:;"
            pieces.append(rng.choice([gap, gap + " ", " " if gap else gap]
                                     + (["", " "] if loose else [])))
        pieces.append(toks[-1].value)
        rest = line[toks[-1].end_pos - starts[n]:]
        out.append("".join(pieces) + rest.rstrip() + " " * rng.randrange(2))
    return "\n".join(out)


def _meaning(path: Path) -> list:
    """What a spec means: every network's check (shapes, counts) and compiled source."""
    program = load_program(path, Limits())
    found = []
    for name in program.networks:
        try:
            result = archlang.check(path, name)
        except archlang.ArchError as e:
            found.append((name, [d.code for d in e.diagnostics]))
            continue
        source = archlang.compile_source(path, name).replace(str(path.parent), "<dir>")
        found.append((name, str(result.params), str(result.macs), str(result.outputs), source))
    return found


@pytest.mark.parametrize("path", [p for p in SPECS if "plugins" not in p.parts],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_scrambled_spec_formats_back_and_means_the_same(path, tmp_path):
    """A spec with its indentation and spacing scrambled (lines kept, so line numbers in the
    generated code stay) formats back to the repository's text, and its check and compiled
    source equal the formatted one's."""
    text = path.read_text(encoding="utf-8")
    messy = scramble(text, random.Random(path.name))
    assert messy != text
    out, diags = format_text(messy, path.name)
    assert out == text, diags
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        shutil.copytree(path.parent, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (a / path.name).write_text(messy, encoding="utf-8")
    (b / path.name).write_text(out, encoding="utf-8")
    assert _meaning(a / path.name) == _meaning(b / path.name)


@pytest.mark.parametrize("case", FMT_CASES, ids=lambda p: p.stem)
def test_formatting_a_case_keeps_its_meaning(case, tmp_path):
    """Layout that formatting changes a lot (`;` split into lines): the same check and the
    same compiled source, but for the spec's line numbers in docstrings."""
    text = case.read_text(encoding="utf-8")
    if "import" in text:
        pytest.skip("imports zoo files: its meaning is checked on the zoo itself")
    before, after = tmp_path / "before" / case.name, tmp_path / "after" / case.name
    for p, t in ((before, text), (after, format_text(text)[0])):
        p.parent.mkdir()
        p.write_text(t, encoding="utf-8")

    def unnumbered(path):
        return [tuple(re.sub(r"\.arch:\d+", ".arch:N", x) if isinstance(x, str) else x
                      for x in row) for row in _meaning(path)]

    assert unnumbered(before) == unnumbered(after)


def test_syntax_error_is_reported_not_formatted():
    out, diags = format_text("network n {\n  input x: [3\n}\n", "bad.arch")
    assert out is None and [d.code for d in diags] == ["E002"]


SEEDS = [p.read_text(encoding="utf-8") for p in SPECS + FMT_CASES]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fuzz_mutated_specs_format_without_raising(data):
    """Mutated specs (characters deleted, inserted or swapped; lines joined, split or
    reindented) either format idempotently or come back as diagnostics; never an exception,
    never a :class:`FormatterBug`."""
    text = data.draw(st.sampled_from(SEEDS))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["delete", "insert", "newline", "join", "indent",
                                        "semicolon"]))
        if op == "delete":
            text = text[:i] + text[i + data.draw(st.integers(1, 5)):]
        elif op == "insert":
            text = text[:i] + data.draw(st.sampled_from(
                [" ", "\t", "(", ")", "[", "]", "{", "}", ",", "->", "=", "#c", "-", "**", ".",
                 "\\\n", "'", "1", "x", "if ", "\n\n"])) + text[i:]
        elif op == "newline":
            text = text[:i] + "\n" + text[i:]
        elif op == "join":
            j = text.find("\n", i)
            text = text if j < 0 else text[:j] + " " + text[j + 1:]
        elif op == "indent":
            j = text.rfind("\n", 0, i) + 1
            text = text[:j] + " " * data.draw(st.integers(0, 9)) + text[j:]
        else:
            j = text.find("\n", i)
            text = text if j < 0 else text[:j] + ";" + text[j + 1:]
    try:
        out, diags = format_text(text, "fuzz.arch")
    except FormatterBug as e:  # pragma: no cover - shown with the input that caused it
        raise AssertionError(f"{e}\n--- input ---\n{text}") from None
    if out is None:
        assert diags
    else:
        assert format_text(out)[0] == out


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "archlang", "fmt", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, check=False)


def test_cli_check_diff_and_write(tmp_path):
    messy = tmp_path / "messy.arch"
    messy.write_text("network n{input x:[3]; output x}\n")
    clean = tmp_path / "clean.arch"
    clean.write_text("network n {\n    input x: [3]\n    output x\n}\n")
    r = run_cli("--check", str(tmp_path))
    assert (r.returncode, r.stderr) == (1, f"would reformat {messy}\n")
    r = run_cli("--diff", str(messy))
    assert r.returncode == 0 and "+    input x: [3]" in r.stdout
    assert messy.read_text() == "network n{input x:[3]; output x}\n"
    r = run_cli(str(messy), str(clean))
    assert (r.returncode, r.stderr) == (0, f"reformatted {messy}\n")
    assert messy.read_text() == clean.read_text()
    assert run_cli("--check", str(tmp_path)).returncode == 0
    r = run_cli("-", stdin="network n{input x:[3]; output x}")
    assert r.stdout == clean.read_text()


def test_cli_errors(tmp_path):
    bad = tmp_path / "bad.arch"
    bad.write_text("network n {\n")
    r = run_cli(str(bad))
    assert r.returncode == 1 and "error[E003]" in r.stderr
    assert bad.read_text() == "network n {\n"
    r = run_cli(str(tmp_path / "missing.arch"))
    assert r.returncode == 2 and r.stderr.startswith("error: no such file or directory")
