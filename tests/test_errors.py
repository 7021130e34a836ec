"""The golden error-case suite: every diagnostic code, located exactly and rendered stably.

Each top-level ``tests/cases/errors/*.arch`` file is one realistic mistake (files under
``lib/`` are only imported by the cases). A case marks every diagnostic it expects:

* ``# E: E012`` at the end of the line the diagnostic's span starts on (several codes
  separated by spaces);
* ``# E-nospan: E060`` for a diagnostic without a span;
* ``# E-in: lib/back.arch:2 E042`` for a diagnostic located in another file (the path is
  relative to ``tests/cases/errors``).

Full-line comments also configure the check:

* ``# network: NAME`` chooses the network (default: none chosen);
* ``# set: num_classes=10, H=0`` passes parameters (Python literal values);
* ``# limits: max_bytes=100`` overrides fields of :class:`archlang.limits.Limits`;
* ``# inputs: image=(3, 64, 64)`` overrides input shapes;
* ``# expect-text: did you mean `false`?`` requires a substring of the rendered output.

The rendered output of each case is compared with ``NAME.err`` next to it; run
``pytest tests/test_errors.py --update-goldens`` to rewrite the goldens after reviewing
the change. A missing golden fails.
"""

from __future__ import annotations

import ast
import json
import re
import traceback
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from archlang.api import check
from archlang.diagnostics import CODES, ArchError
from archlang.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "tests" / "cases" / "errors"
DOCS = ROOT / "docs" / "diagnostics.md"

INLINE = re.compile(r"#\s*E:\s*((?:E\d{3}\b\s*)+)")
DIRECTIVE = re.compile(
    r"^\s*#\s*(network|set|limits|inputs|E-nospan|E-in|expect-text):\s*(.*?)\s*$")
ELSEWHERE = re.compile(r"^(\S+):(\d+)\s+((?:E\d{3}\b\s*)+)$")

Key = tuple[str, int, str]  # (file relative to CASES_DIR, or "" without a span; line; code)


@dataclass
class Case:
    name: str
    path: Path
    rel: str  # the path given to check(), relative to ROOT (stable rendered file names)
    network: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, tuple[int, ...]] | None = None
    expected: Counter = field(default_factory=Counter)
    expect_text: list[str] = field(default_factory=list)

    @property
    def golden(self) -> Path:
        return self.path.with_suffix(".err")

    @property
    def codes(self) -> set[str]:
        return {code for _, _, code in self.expected}


def _kwargs(text: str, where: str) -> dict[str, Any]:
    """``a=1, b=(3, 4)`` → a dict of Python literals."""
    call = ast.parse(f"f({text})", mode="eval").body
    assert isinstance(call, ast.Call) and not call.args, f"{where}: expected k=v pairs"
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}


def case_paths() -> list[Path]:
    """Only top-level files are cases; ``lib/`` holds files the cases import."""
    return sorted(CASES_DIR.glob("*.arch"))


@cache
def load_case(path: Path) -> Case:
    # Some cases are deliberately not UTF-8; annotations are ASCII either way.
    text = path.read_bytes().decode("utf-8", errors="replace")
    case = Case(path.stem, path, path.relative_to(ROOT).as_posix())
    here = path.relative_to(CASES_DIR).as_posix()
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{path.name}:{number}"
        m = DIRECTIVE.match(line)
        if m:
            key, value = m.groups()
            if key == "network":
                case.network = value
            elif key == "set":
                case.params.update(_kwargs(value, where))
            elif key == "limits":
                case.limits.update(_kwargs(value, where))
            elif key == "inputs":
                case.inputs = {k: tuple(v) for k, v in _kwargs(value, where).items()}
            elif key == "E-nospan":
                case.expected.update(("", 0, code) for code in value.split())
            elif key == "E-in":
                other = ELSEWHERE.match(value)
                assert other, f"{where}: write `# E-in: lib/FILE.arch:LINE E0xx`"
                file, line_no, codes = other.groups()
                case.expected.update((file, int(line_no), c) for c in codes.split())
            elif key == "expect-text":
                case.expect_text.append(value)
            continue
        m = INLINE.search(line)
        if m:
            case.expected.update((here, number, code) for code in m.group(1).split())
    return case


CASES = [load_case(p) for p in case_paths()]
IDS = [c.name for c in CASES]


@dataclass
class Outcome:
    error: ArchError | None = None
    exception: str | None = None  # a traceback: anything raised other than ArchError

    @property
    def diagnostics(self):
        return self.error.diagnostics if self.error is not None else []


_outcomes: dict[str, Outcome] = {}


def run_case(case: Case) -> Outcome:
    """Check a case once (cwd must be ROOT so file names render relative to it)."""
    assert Path.cwd().resolve() == ROOT, "run_case needs the repository root as cwd"
    if case.name in _outcomes:
        return _outcomes[case.name]
    limits = Limits(**case.limits) if case.limits else None
    try:
        check(case.rel, case.network, inputs=case.inputs, limits=limits, **case.params)
        outcome = Outcome()
    except ArchError as exc:
        outcome = Outcome(error=exc)
    except Exception:  # noqa: BLE001 - any other exception is a bug the tests report
        outcome = Outcome(exception=traceback.format_exc())
    _outcomes[case.name] = outcome
    return outcome


def key_of(diagnostic) -> Key:
    if diagnostic.span is None:
        return ("", 0, diagnostic.code)
    name = Path(diagnostic.span.source.name)
    try:
        file = (ROOT / name).resolve().relative_to(CASES_DIR).as_posix()
    except ValueError:
        file = name.as_posix()
    return (file, diagnostic.span.line, diagnostic.code)


def _show(keys) -> str:
    return ", ".join(f"{f or '<no span>'}{':' + str(n) if f else ''} {c}"
                     for (f, n, c) in sorted(keys)) or "nothing"


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


# ---- one test per case ---------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_error_case(case: Case, at_root, update_goldens):
    outcome = run_case(case)
    if outcome.exception is not None:
        pytest.fail(f"{case.rel} raised a Python exception instead of ArchError:\n"
                    f"{outcome.exception}")
    if outcome.error is None:
        pytest.fail(f"{case.rel} passed the check; expected {_show(case.expected)}")
    rendered = outcome.error.render() + "\n"
    if update_goldens:
        case.golden.write_text(rendered, encoding="utf-8")
    actual = Counter(key_of(d) for d in outcome.diagnostics)
    missing, unexpected = case.expected - actual, actual - case.expected
    assert not missing and not unexpected, (
        f"{case.rel}: diagnostics differ from the annotations\n"
        f"  missing:    {_show(missing.elements())}\n"
        f"  unexpected: {_show(unexpected.elements())}\n\n{rendered}")
    for text in case.expect_text:
        assert text in rendered, f"{case.rel}: expected {text!r} in the output:\n\n{rendered}"
    if not case.golden.exists():
        pytest.fail(f"missing golden {case.golden.relative_to(ROOT)}; review the output and run "
                    f"pytest --update-goldens:\n\n{rendered}")
    assert rendered == case.golden.read_text(encoding="utf-8"), (
        f"{case.rel}: output differs from {case.golden.name} (pytest --update-goldens "
        "rewrites it)")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_only_arch_errors(case: Case, at_root):
    """No spec, however wrong, makes the checker raise anything but ArchError."""
    outcome = run_case(case)
    assert outcome.exception is None, outcome.exception
    assert outcome.error is not None, f"{case.rel} passed the check"
    assert outcome.diagnostics, f"{case.rel}: ArchError without diagnostics"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_json_locations(case: Case, at_root):
    """Every located diagnostic's JSON points at a real position of a real file."""
    outcome = run_case(case)
    if outcome.error is None:
        pytest.skip("no ArchError (test_only_arch_errors reports it)")
    for d in outcome.diagnostics:
        data = json.loads(json.dumps(d.to_json()))
        assert data["code"] == d.code and data["code"] in CODES, data
        assert data["message"], data
        if d.span is None:
            assert "file" not in data and "line" not in data, data
            continue
        src = d.span.source
        assert data["file"] == src.name
        assert (ROOT / data["file"]).is_file(), f"{data['file']} is not a file under the root"
        for line_key, col_key in (("line", "column"), ("end_line", "end_column")):
            line, col = data[line_key], data[col_key]
            assert 1 <= line <= src.line_count, (d.code, line_key, line)
            assert 1 <= col <= len(src.line_text(line)) + 1, (d.code, col_key, line, col)
        assert (data["line"], data["column"]) <= (data["end_line"], data["end_column"]), data


# ---- the suite as a whole --------------------------------------------------------------


def test_cases_exist():
    assert len(CASES) >= 70, f"only {len(CASES)} error cases"
    assert all(c.path.parent == CASES_DIR for c in CASES)  # lib/ files are never cases


def test_every_case_expects_something():
    empty = [c.name for c in CASES if not c.expected]
    assert not empty, f"cases without `# E:` annotations: {empty}"


def test_annotations_use_known_codes():
    unknown = {c.name: sorted(c.codes - set(CODES)) for c in CASES if c.codes - set(CODES)}
    assert not unknown, f"codes not in archlang.diagnostics.CODES: {unknown}"


def test_every_code_has_a_golden_case():
    covered = {code for c in CASES if c.golden.exists() for code in c.codes}
    missing = sorted(set(CODES) - covered)
    assert not missing, f"codes without a golden error case: {', '.join(missing)}"


def test_no_stray_goldens():
    names = {c.name for c in CASES}
    stray = sorted(p.name for p in CASES_DIR.glob("*.err") if p.stem not in names)
    assert not stray, f"goldens without a case: {stray}"


# ---- docs/diagnostics.md --------------------------------------------------------------


def _doc_text() -> str:
    return DOCS.read_text(encoding="utf-8")


def test_docs_have_every_code():
    headings = re.findall(r"^#{1,6}\s+(E\d{3})\b", _doc_text(), flags=re.MULTILINE)
    missing = sorted(set(CODES) - set(headings))
    assert not missing, f"docs/diagnostics.md has no heading for: {', '.join(missing)}"


def test_docs_outputs_are_real():
    """Each rendered output quoted in the docs is (part of) a golden, so it cannot go stale."""
    goldens = [p.read_text(encoding="utf-8") for p in CASES_DIR.glob("*.err")]
    blocks = re.findall(r"```text\n(.*?)```", _doc_text(), flags=re.DOTALL)
    stale = [b.splitlines()[0] for b in blocks
             if b.startswith("error[") and not any(b in g for g in goldens)]
    assert not stale, f"docs/diagnostics.md outputs not found in any golden: {stale}"
