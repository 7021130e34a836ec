"""The Pygments lexer: no error token on any spec of the repository or any ```arch block of
the docs; each kind of token gets its class; `pygmentize -l arch` finds it by entry point."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pygments = pytest.importorskip("pygments", reason="pygments is in the editor and test extras")

from pygments import lex
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, String

from archlang.highlight import ArchLexer

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted({*ROOT.joinpath("archlang", "zoo").glob("*.arch"),
                *ROOT.joinpath("examples").rglob("*.arch"),
                *ROOT.joinpath("tests", "plugins").glob("*.arch"),
                *ROOT.joinpath("tests", "cases").rglob("*.arch")})


def texts():
    for path in SPECS:
        yield pytest.param(path.read_bytes().decode("utf-8", "replace"),
                           id=str(path.relative_to(ROOT)))
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for k, m in enumerate(re.finditer(r"```arch\n(.*?)```", doc.read_text(), re.DOTALL)):
            yield pytest.param(m.group(1), id=f"{doc.name}-{k}")


def test_there_are_specs():
    assert len(SPECS) > 100


@pytest.mark.parametrize("text", list(texts()))
def test_no_error_tokens(text):
    errors = [(i, v) for i, t, v in ArchLexer().get_tokens_unprocessed(text)
              if t in Error and "E001" not in text and "E004" not in text]
    assert errors == []


def test_token_classes():
    text = ('import "alexnet.arch"\n'
            "block Conv(out, k=3) {  # a comment\n"
            "    conv: conv2d(out, k, padding=k // 2, bias=false)\n"
            "    let s = 1.5e-3 * 'x'\n"
            "    MyBlock(2)\n"
            "}\n")
    toks = [(t, v) for t, v in lex(text, ArchLexer()) if v.strip()]
    kinds = {v: t for t, v in toks}
    assert kinds["import"] in Keyword and kinds["block"] in Keyword and kinds["let"] in Keyword
    assert kinds['"alexnet.arch"'] in String and kinds["'x'"] in String
    assert kinds["# a comment"] in Comment
    assert kinds["3"] in Number.Integer and kinds["1.5e-3"] in Number.Float
    assert kinds["conv2d"] is Name.Builtin  # an op of the registry
    assert kinds["MyBlock"] is Name and kinds["Conv"] is Name.Class
    assert kinds["conv"] is Name.Label and kinds["false"] in Keyword.Constant


def test_list_items_and_unnumbered_labels():
    """`convs` of `convs.{i}:` and `bns.0:` is a label like `conv:`, and so is `_`."""
    text = "    convs.{i}: conv2d(8, 3)\n    bns.0: batchnorm\n    _: relu\n"
    toks = [(t, v) for t, v in lex(text, ArchLexer()) if v.strip()]
    labels = [v for t, v in toks if t is Name.Label]
    assert labels == ["convs", "bns", "_"]
    assert "0" in [v for t, v in toks if t in Number.Integer]


def test_registered_for_pygments():
    assert any(ep.value == "archlang.highlight:ArchLexer"
               for ep in entry_points(group="pygments.lexers"))
    assert isinstance(get_lexer_by_name("arch"), ArchLexer)
    assert isinstance(get_lexer_for_filename("resnet.arch"), ArchLexer)


VSCODE = ROOT / "editors" / "vscode"


def test_textmate_grammar_is_up_to_date():
    """The TextMate grammar's op names are the registry's (python editors/vscode/make_grammar.py
    rewrites it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_grammar", VSCODE / "make_grammar.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (VSCODE / "syntaxes" / "arch.tmLanguage.json").read_text(encoding="utf-8") \
        == module.text(), "run: python editors/vscode/make_grammar.py"


def test_textmate_grammar_scopes_every_spec():
    """editors/vscode/test/grammar.test.js under node, with vscode-textmate."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the TextMate grammar test runs under node)")
    if not (VSCODE / "node_modules" / "vscode-textmate").is_dir() or \
            not (VSCODE / "node_modules" / "vscode-oniguruma").is_dir():
        pytest.skip("editors/vscode/node_modules is missing: run `npm ci` in editors/vscode "
                    "(scripts/setup.sh does where npm is installed)")
    r = subprocess.run([node, "test/grammar.test.js"], cwd=VSCODE, capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok: ")
