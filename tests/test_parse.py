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
    parser, post = P._parser(64)
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
