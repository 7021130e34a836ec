"""The parser itself: strict grammar, no optional packages at run time, thread safety."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from archlang.source import Source
from archlang.syntax import parse as P


def test_grammar_is_strict():
    """No LALR conflict and no colliding terminals: Lark's strict mode (which needs the
    `interegular` package of the test extra) accepts the grammar as it is."""
    pytest.importorskip("interegular")
    from lark import Lark

    Lark(P._grammar(), strict=True, **P.grammar_options(P.Newlines(64)))


def test_parser_builds_without_interegular(monkeypatch):
    """A plain install has no `interegular`: the parser must still build (and parse)."""
    import builtins
    import sys

    real_import = builtins.__import__

    def no_interegular(name, *args, **kwargs):
        if name == "interegular" or name.startswith("interegular."):
            raise ImportError("No module named 'interegular'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_interegular)
    monkeypatch.delitem(sys.modules, "interegular", raising=False)
    monkeypatch.setenv("ARCHLANG_NO_CACHE", "1")
    parser, _post = P._parser(64)
    tree = parser.parse("network n {\n input x: [3]\n}\n", start="start")
    assert tree.data == "start"


def test_parses_in_threads_do_not_share_brackets():
    """Eight threads parsing at once: valid specs stay valid, broken ones report their own
    unclosed bracket (the post-lexer's bracket stack is per thread)."""
    good = Source("g.arch", "network n {\n input x: [3,\n 4, 4]\n conv2d(8, (3,\n 3))\n output y\n}\n")
    bad = Source("b.arch", "network n {\n input x: [3, 4\n}\n")
    barrier = threading.Barrier(8)

    def work(i: int):
        barrier.wait()
        results = []
        for _ in range(40):
            src = good if i % 2 else bad
            tree, diags = P.parse(src)
            results.append((i % 2, tree is not None, [d.code for d in diags]))
        return results

    with ThreadPoolExecutor(8) as pool:
        for results in pool.map(work, range(8)):
            for is_good, parsed, codes in results:
                if is_good:
                    assert parsed and codes == []
                else:
                    assert not parsed and codes == ["E002"]


# ---- the shared scanner (archlang.syntax.lexer) lexes as Lark's contextual lexer -------------

KEYWORD_CASES = [
    # keywords where the grammar expects a name, names that start with a keyword, and
    # keywords where only a keyword may stand
    "network input {\n input x: [3]\n}\n",
    "network n {\n input in: [3]\n output output\n}\n",
    "block B(training=1, inputs=2) {\n conv2d(training, inputs)\n}\n",
    "network n {\n input x: [3, 8, 8]\n networks: conv2d(4, 3)\n output y\n}\n",
    "networkx n {}\n",
    "import 'a.arch'\nimports\n",
    "network n {\n input x: [3]\n let ifx = 1 if true else 2\n output y = relu\n}\n",
    "network n {\n for i in range(3) { relu }\n for in in x {}\n}\n",
    "network n {\n training output t = relu\n trainingx output t\n}\n",
    "network n {\n residual { relu } shortcut if in.channels != 3 { conv2d(3, 1) }\n}\n",
    "network n {\n x = concat(a, b, dim=1)\n average { relu; tanh }\n concatx\n}\n",
    "network n {\n init conv.weight: 'kaiming'\n use Block(1)\n usex\n}\n",
    "network n { input x: [1e5, .5, 1_000, 0x1] }\n",
    "network n {\n let s = \"unterminated\n}\n",
    "network n {\n x = 1 ** 2 // 3 % 4 -> not true and false or 1 <= 2\n}\n",
    "network n {\n conv2d(3) \\\n -> relu  # comment\n}\n",
    "network n {\n $ \n}\n",
    "",
    "network",
    "network n { input x: [3] ; output y }",
    # numbered path segments: `1.` is INT then `.` where a path continues, FLOAT elsewhere
    "network n {\n init features.0.1.weight: zeros\n init 0.bias: ones\n let f = 1.\n}\n",
    "network n {\n init a.1.: zeros\n}\n",
    "network n {\n init a.1e5.weight: zeros\n}\n",
    "network n {\n init a.1_0.weight: zeros\n init a . 2 . bias: ones\n}\n",
    # top-level keywords as names inside a body
    "network n {\n block: conv2d(4, 3)\n network: relu\n import: relu\n x -> block\n}\n",
    "block block {\n block\n}\n",
    # chains over several lines
    "network n {\n a = x ->\n relu -> # c\n\n tanh\n b = x -> relu\n -> tanh\n}\n",
    "network n {\n output: relu\n concat: relu\n}\n",
]


def _outcome(parser, text: str):
    """What a parser makes of ``text``: every token of the tree with its positions, or the
    error with its position, token and expected terminals."""
    from lark import Token
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

    try:
        tree = parser.parse(text, start="start")
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        return ("error", type(exc).__name__, exc.pos_in_stream, exc.line, exc.column,
                None if token is None else (token.type, str(token), token.start_pos),
                sorted(getattr(exc, "expected", None) or []),
                sorted(exc.allowed) if isinstance(exc, UnexpectedCharacters) else None,
                isinstance(exc, UnexpectedToken))
    tokens = [(t.type, str(t), t.start_pos, t.end_pos, t.line, t.column, t.end_line,
               t.end_column) for t in tree.scan_values(lambda v: isinstance(v, Token))]
    return ("tree", tree, tokens)


def _corpus() -> list[str]:
    from pathlib import Path

    from archlang.fuzz import cases

    root = Path(__file__).resolve().parent.parent
    texts = []
    for pattern in ("archlang/zoo/*.arch", "specs/*.arch", "examples/**/*.arch",
                    "tests/cases/**/*.arch"):
        for path in sorted(root.glob(pattern)):
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    texts += [t for t, _ in zip((t for t, _ in cases(root, seed=3)), range(600))]
    return texts + KEYWORD_CASES


def test_shared_scanner_is_installed():
    from archlang.syntax.lexer import SharedScanLexer

    parser, _ = P._parser(64)
    ctx = parser.parser.lexer.lexer
    assert all(isinstance(lx, SharedScanLexer) for lx in ctx.lexers.values())


def test_shared_scanner_lexes_as_larks_contextual_lexer(monkeypatch):
    """Every spec of the repository, 600 mutated ones and keyword corner cases: the same
    tokens at the same positions, or the same error, as Lark's own contextual lexer."""
    from lark import Lark

    monkeypatch.setenv("ARCHLANG_NO_CACHE", "1")
    ours, _ = P._parser(64)
    larks = Lark(P._grammar(), **P.grammar_options(P.Newlines(64)))
    texts = _corpus()
    assert len(texts) > 700
    errors = 0
    for text in texts:
        expected = _outcome(larks, text)
        assert _outcome(ours, text) == expected, text
        errors += expected[0] == "error"
    assert 100 < errors < len(texts) - 100  # both valid and broken texts were compared


def test_shared_scanner_declines_other_lexers():
    from lark import Lark

    from archlang.syntax.lexer import share_root_scanner

    basic = Lark(P._grammar(), parser="lalr", lexer="basic", start=["start", "expr"])
    assert share_root_scanner(basic) is False
    flagged = Lark('start: "a"i NAME\nNAME: /[a-z]+/\n%ignore " "', parser="lalr",
                   lexer="contextual")
    assert share_root_scanner(flagged) is False
    assert flagged.parse("A bc").children[-1] == "bc"


def test_shared_scanner_defers_to_a_keyword_the_root_folds_into_a_name():
    """A state without NAME lists the keyword ``iff`` itself, ahead of ``R``; the root scanner
    has folded ``iff`` into NAME (which fails here) and finds ``R``: the state's own order
    must win (archlang's grammar never meets this case, a general grammar can)."""
    from lark import Lark

    from archlang.syntax.lexer import share_root_scanner

    grammar = 'start: "iff" ":" | R "!" | "x" NAME\nR: /if/\nNAME: /[a-z]+(?![a-z:])/\n%ignore " "'
    plain = Lark(grammar, parser="lalr", lexer="contextual")
    ours = Lark(grammar, parser="lalr", lexer="contextual")
    assert share_root_scanner(ours) is True
    for text in ("iff:", "if!", "x abc", "iff!", "x iff"):
        assert _outcome(ours, text) == _outcome(plain, text), text
    assert _outcome(ours, "iff:")[0] == "tree"


# ---- node offsets (archlang.syntax.positions) as Lark's PropagatePositions sets them ---------


def _offsets(parser, text: str):
    """Every node of the tree with its start and end offsets (None when it has none), or the
    error."""
    from lark.exceptions import UnexpectedInput

    try:
        tree = parser.parse(text, start="start")
    except UnexpectedInput as exc:
        return ("error", type(exc).__name__, exc.pos_in_stream)
    return ("tree", tree, [(t.data, None if t.meta.empty else (t.meta.start_pos, t.meta.end_pos))
                           for t in tree.iter_subtrees()])


def test_offsets_are_installed():
    from archlang.syntax.positions import Offsets

    parser, _ = P._parser(64)
    assert sum(isinstance(cb, Offsets) for cb in parser._callbacks.values()) > 50


def _same_offsets_as_lark(texts: list[str], monkeypatch) -> None:
    from lark import Lark

    monkeypatch.setenv("ARCHLANG_NO_CACHE", "1")
    ours, _ = P._parser(64)
    larks = Lark(P._grammar(), **P.grammar_options(P.Newlines(64)))
    trees = 0
    for text in texts:
        expected = _offsets(larks, text)
        assert _offsets(ours, text) == expected, text
        trees += expected[0] == "tree"
    assert trees > len(texts) // 2


def test_offsets_are_larks_on_the_zoo(monkeypatch):
    """The zoo's specs and keyword corner cases: the same tree, every node with the same start
    and end offsets, as Lark's own position propagation."""
    from pathlib import Path

    zoo = Path(P.__file__).resolve().parent.parent / "zoo"
    texts = [path.read_text(encoding="utf-8") for path in sorted(zoo.glob("*.arch"))]
    assert len(texts) > 15
    _same_offsets_as_lark(texts + KEYWORD_CASES, monkeypatch)


def test_offsets_are_larks(monkeypatch):
    """The same on every spec of the repository and 600 mutated ones."""
    texts = _corpus()
    assert len(texts) > 700
    _same_offsets_as_lark(texts, monkeypatch)


def test_offsets_decline_a_parser_without_positions():
    from lark import Lark

    from archlang.syntax.positions import offsets_only

    options = {**P.grammar_options(P.Newlines(64)), "propagate_positions": False}
    plain = Lark(P._grammar(), **options)
    assert offsets_only(plain) is False
    tree = plain.parse("network n {\n input x: [3]\n}\n", start="start")
    assert tree.meta.empty
